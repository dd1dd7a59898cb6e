//! Schedules: cron, destination, next and last ticks with the states of
//! the last tick's messages, with pause and resume.

use askama::Template;
use axum::extract::{Path, Query, State};
use ferry_core::wire::Schedule;
use ferry_store::Store;
use http::HeaderMap;

use super::queues::pause_or_resume;
use crate::api::segment;
use crate::format;
use crate::page::{self, Chrome, PageResult};
use crate::session::Operator;
use crate::{Console, now_ms};

const ACTIVE: &str = "/console/schedules";

struct Row {
    id: String,
    /// Where its pause and resume forms post.
    base: String,
    cron: String,
    destination: String,
    paused: bool,
    next: String,
    last: String,
    /// (message id, state) of the last tick's messages.
    last_states: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "schedules.html")]
struct SchedulesPage {
    chrome: Chrome,
    rows: Vec<Row>,
}

pub(crate) async fn page<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    axum::extract::Query(q): Query<crate::page::NoticeQuery>,
) -> PageResult {
    let schedules: Vec<Schedule> = console
        .inner
        .api
        .get(&operator.tenant, "/v2/schedules")
        .await?;
    let now = now_ms();
    let rows = schedules
        .into_iter()
        .map(|s| Row {
            next: s
                .next_schedule_time
                .filter(|_| !s.is_paused)
                .map(|t| format!("{} ({})", format::time(t), format::relative(t, now)))
                .unwrap_or_default(),
            last: s.last_schedule_time.map(format::time).unwrap_or_default(),
            last_states: s.last_schedule_states.into_iter().collect(),
            base: format!("/console/schedules/{}", segment(&s.schedule_id)),
            id: s.schedule_id,
            cron: s.cron,
            destination: s.destination,
            paused: s.is_paused,
        })
        .collect();
    Ok(page::render(&SchedulesPage {
        chrome: Chrome::new(&operator, ACTIVE).with_notice(q.notice),
        rows,
    }))
}

pub(crate) async fn act<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Path((id, action)): Path<(String, String)>,
) -> PageResult {
    let notice = pause_or_resume(&action)?;
    let uri = format!("/v2/schedules/{}/{action}", segment(&id));
    console
        .inner
        .api
        .post(&operator.tenant, &uri, HeaderMap::new())
        .await?;
    tracing::info!(tenant = %operator.tenant, schedule.id = %id, action, "console: schedule changed");
    Ok(page::done(ACTIVE, notice))
}

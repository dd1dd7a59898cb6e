//! Queues: lag, parallelism and state, with pause and resume.

use askama::Template;
use axum::extract::{Path, Query, State};
use ferry_core::wire::Queue;
use ferry_store::Store;
use http::HeaderMap;

use crate::Console;
use crate::api::segment;
use crate::format;
use crate::page::{self, Chrome, Failure, Notice, NoticeQuery, PageResult};
use crate::session::Operator;

const ACTIVE: &str = "/console/queues";

struct Row {
    name: String,
    /// Where its pause and resume forms post.
    base: String,
    parallelism: u32,
    lag: u64,
    paused: bool,
    updated: String,
}

#[derive(Template)]
#[template(path = "queues.html")]
struct QueuesPage {
    chrome: Chrome,
    rows: Vec<Row>,
}

pub(crate) async fn page<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let queues: Vec<Queue> = console
        .inner
        .api
        .get(&operator.tenant, "/v2/queues")
        .await?;
    let rows = queues
        .into_iter()
        .map(|q| Row {
            updated: format::time(q.updated_at),
            base: format!("/console/queues/{}", segment(&q.name)),
            name: q.name,
            parallelism: q.parallelism,
            lag: q.lag,
            paused: q.paused,
        })
        .collect();
    Ok(page::render(&QueuesPage {
        chrome: Chrome::new(&operator, ACTIVE).with_notice(q.notice),
        rows,
    }))
}

/// Pause and resume: what the API calls them, and what the page says after.
pub(crate) fn pause_or_resume(action: &str) -> Result<Notice, Failure> {
    match action {
        "pause" => Ok(Notice::Paused),
        "resume" => Ok(Notice::Resumed),
        other => Err(Failure::not_found(format!("no action {other:?}"))),
    }
}

pub(crate) async fn act<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Path((name, action)): Path<(String, String)>,
) -> PageResult {
    let notice = pause_or_resume(&action)?;
    let uri = format!("/v2/queues/{}/{action}", segment(&name));
    console
        .inner
        .api
        .post(&operator.tenant, &uri, HeaderMap::new())
        .await?;
    tracing::info!(tenant = %operator.tenant, queue = %name, action, "console: queue changed");
    Ok(page::done(ACTIVE, notice))
}

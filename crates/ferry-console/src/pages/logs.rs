//! The log: the tenant's event log with the API's filters, newest first,
//! and the rows newer than a time for the live follow.

use askama::Template;
use axum::extract::{Query, State};
use ferry_core::wire::LogList;
use ferry_store::Store;
use serde::Deserialize;

use super::LogRow;
use crate::Console;
use crate::api;
use crate::page::{self, Chrome, Notice, PageResult};
use crate::session::Operator;

const ACTIVE: &str = "/console/logs";
const PAGE: &str = "50";
/// The most new rows one poll of the live follow returns.
const FOLLOW_PAGE: &str = "100";

/// The filters of `GET /v2/events` the page offers.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Filters {
    state: String,
    message_id: String,
    url: String,
    queue: String,
    group: String,
    schedule: String,
    label: String,
    flow_key: String,
}

impl Filters {
    fn pairs(&self) -> [(&'static str, &str); 8] {
        [
            ("state", &self.state),
            ("messageId", &self.message_id),
            ("url", &self.url),
            ("queueName", &self.queue),
            ("topicName", &self.group),
            ("scheduleId", &self.schedule),
            ("label", &self.label),
            ("flowControlKey", &self.flow_key),
        ]
    }

    fn own_query(&self) -> String {
        api::query([
            ("state", self.state.as_str()),
            ("message_id", &self.message_id),
            ("url", &self.url),
            ("queue", &self.queue),
            ("group", &self.group),
            ("schedule", &self.schedule),
            ("label", &self.label),
            ("flow_key", &self.flow_key),
        ])
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LogQuery {
    #[serde(flatten)]
    filters: Filters,
    cursor: String,
    /// Live follow: only lines at or after this Unix ms.
    after: String,
    notice: Option<Notice>,
}

/// The states the filter offers, as QStash names them.
const STATES: [&str; 7] = [
    "CREATED",
    "DELIVERED",
    "ERROR",
    "RETRY",
    "FAILED",
    "CANCELED",
    "IN_PROGRESS",
];

#[derive(Template)]
#[template(path = "logs.html")]
struct LogsPage {
    chrome: Chrome,
    filters: Filters,
    states: [&'static str; 7],
    rows: Vec<LogRow>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "log_rows.html")]
struct Rows {
    rows: Vec<LogRow>,
}

pub(crate) async fn page<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Query(q): Query<LogQuery>,
) -> PageResult {
    let extra = [("count", PAGE), ("cursor", q.cursor.as_str())];
    let uri = format!(
        "/v2/events?{}",
        api::query(q.filters.pairs().into_iter().chain(extra))
    );
    let page: LogList = console.inner.api.get(&operator.tenant, &uri).await?;
    let next = api::next_page(&q.filters.own_query(), page.cursor);
    Ok(page::render(&LogsPage {
        chrome: Chrome::new(&operator, ACTIVE).with_notice(q.notice),
        filters: q.filters,
        states: STATES,
        rows: page.events.iter().map(LogRow::of).collect(),
        next,
    }))
}

/// `GET /console/logs/rows?after=<ms>&<filters>`: the lines from `after`
/// on, newest first, as table rows (the live follow adds those it does not
/// show yet).
pub(crate) async fn rows<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Query(q): Query<LogQuery>,
) -> PageResult {
    let extra = [
        ("count", FOLLOW_PAGE),
        ("order", "earliestFirst"),
        ("fromDate", q.after.as_str()),
    ];
    let uri = format!(
        "/v2/events?{}",
        api::query(q.filters.pairs().into_iter().chain(extra))
    );
    let page: LogList = console.inner.api.get(&operator.tenant, &uri).await?;
    let rows = page.events.iter().rev().map(LogRow::of).collect();
    Ok(page::render(&Rows { rows }))
}

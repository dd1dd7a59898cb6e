//! Dead letters: the filtered list, one dead letter with its last response
//! and attempt history, retry (with header overrides) and delete, and the
//! same for every dead letter a filter matches, after a count and a
//! confirmation.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use ferry_core::wire::{Deleted, DlqList, DlqMessage, DlqRetryResponse};
use ferry_store::Store;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;

use super::{MessageView, download, history};
use crate::Console;
use crate::api::{self, segment};
use crate::format::{self, BodyView};
use crate::page::{self, Chrome, Failure, Notice, PageResult};
use crate::session::Operator;

const ACTIVE: &str = "/console/dlq";
/// Dead letters per page of the list.
const PAGE: &str = "25";
/// Dead letters per API call of a bulk action.
const BULK_PAGE: usize = 100;
/// A bulk confirmation counts at most this many matches.
const COUNT_LIMIT: usize = 10_000;

/// The filters of `GET /v2/dlq`, as the page's form and links carry them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Filters {
    url: String,
    queue: String,
    group: String,
    schedule: String,
    label: String,
    status: String,
    flow_key: String,
    caller_ip: String,
    message_id: String,
}

impl Filters {
    /// The API's names for the filters set.
    fn pairs(&self) -> [(&'static str, &str); 9] {
        [
            ("url", &self.url),
            ("queueName", &self.queue),
            ("topicName", &self.group),
            ("scheduleId", &self.schedule),
            ("label", &self.label),
            ("responseStatus", &self.status),
            ("flowControlKey", &self.flow_key),
            ("callerIp", &self.caller_ip),
            ("messageId", &self.message_id),
        ]
    }

    /// The page's names for the filters set, for links and hidden fields.
    fn own_pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("url", self.url.as_str()),
            ("queue", &self.queue),
            ("group", &self.group),
            ("schedule", &self.schedule),
            ("label", &self.label),
            ("status", &self.status),
            ("flow_key", &self.flow_key),
            ("caller_ip", &self.caller_ip),
            ("message_id", &self.message_id),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect()
    }

    fn is_empty(&self) -> bool {
        self.own_pairs().is_empty()
    }

    /// The API query of these filters with `extra` pairs.
    fn api_query<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> String {
        api::query(self.pairs().into_iter().chain(extra.iter().copied()))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ListQuery {
    #[serde(flatten)]
    filters: Filters,
    cursor: String,
    notice: Option<Notice>,
}

struct Row {
    dlq_id: String,
    url: String,
    status: u16,
    created: String,
    labels: String,
    queue: String,
}

#[derive(Template)]
#[template(path = "dlq_list.html")]
struct ListPage {
    chrome: Chrome,
    filters: Filters,
    rows: Vec<Row>,
    next: Option<String>,
    filter_query: String,
}

pub(crate) async fn list<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let uri = format!(
        "/v2/dlq?{}",
        q.filters.api_query(&[
            ("count", PAGE),
            ("order", "latestFirst"),
            ("cursor", &q.cursor)
        ])
    );
    let page: DlqList = console.inner.api.get(&operator.tenant, &uri).await?;
    let filter_query = api::query(q.filters.own_pairs());
    let next = api::next_page(&filter_query, page.cursor);
    let rows = page
        .messages
        .iter()
        .map(|m| Row {
            dlq_id: m.dlq_id.clone(),
            url: m.message.url.clone(),
            status: m.response_status,
            created: format::time(m.message.created_at),
            labels: m.message.labels.join(", "),
            queue: m.message.queue_name.clone().unwrap_or_default(),
        })
        .collect();
    Ok(page::render(&ListPage {
        chrome: Chrome::new(&operator, ACTIVE).with_notice(q.notice),
        filters: q.filters,
        rows,
        next,
        filter_query,
    }))
}

#[derive(Template)]
#[template(path = "dlq_detail.html")]
struct DetailPage {
    chrome: Chrome,
    dlq_id: String,
    msg: MessageView,
    status: u16,
    response_headers: Vec<(String, String)>,
    response: BodyView,
}

async fn dead_letter<S: Store>(
    console: &Console<S>,
    operator: &Operator,
    id: &str,
) -> Result<DlqMessage, Failure> {
    let uri = format!("/v2/dlq/{}", segment(id));
    console.inner.api.get(&operator.tenant, &uri).await
}

pub(crate) async fn detail<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Path(id): Path<String>,
) -> PageResult {
    let dead = dead_letter(&console, &operator, &id).await?;
    let log = history(
        &console.inner.api,
        &operator.tenant,
        &dead.message.message_id,
    )
    .await?;
    let body_link = format!("/console/dlq/{}/body", segment(&dead.dlq_id));
    Ok(page::render(&DetailPage {
        chrome: Chrome::new(&operator, ACTIVE),
        msg: MessageView::of(&dead.message, body_link, &log),
        status: dead.response_status,
        response_headers: format::headers(dead.response_header.as_ref()),
        response: BodyView::of(
            dead.response_body.as_deref(),
            dead.response_body_base64.as_deref(),
        ),
        dlq_id: dead.dlq_id,
    }))
}

pub(crate) async fn body<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Path(id): Path<String>,
) -> PageResult {
    let dead = dead_letter(&console, &operator, &id).await?;
    let bytes = format::body_bytes(
        dead.message.body.as_deref(),
        dead.message.body_base64.as_deref(),
    );
    Ok(download(&dead.dlq_id, bytes))
}

#[derive(Deserialize)]
pub(crate) struct RetryForm {
    /// Publish headers that replace the dead letter's settings, one
    /// `Name: value` per line.
    #[serde(default)]
    headers: String,
}

/// Header lines as a header map; a line that is not `Name: value` with a
/// valid name and value is an error naming it.
fn override_headers(text: &str) -> Result<HeaderMap, Failure> {
    let mut headers = HeaderMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let invalid = || {
            Failure::new(
                StatusCode::BAD_REQUEST,
                format!("header line {line:?} is not `Name: value`"),
            )
        };
        let (name, value) = line.split_once(':').ok_or_else(invalid)?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| invalid())?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| invalid())?;
        headers.append(name, value);
    }
    Ok(headers)
}

pub(crate) async fn retry<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<RetryForm>,
) -> PageResult {
    let headers = override_headers(&form.headers)?;
    let uri = format!("/v2/dlq/retry/{}", segment(&id));
    let answer = console
        .inner
        .api
        .post(&operator.tenant, &uri, headers)
        .await?;
    let retried: ferry_core::wire::PublishResponse = serde_json::from_slice(&answer)
        .map_err(|_| Failure::new(StatusCode::BAD_GATEWAY, "unexpected answer to the retry"))?;
    tracing::info!(tenant = %operator.tenant, dlq.id = %id, msg.id = %retried.message_id, "console: dead letter retried");
    let logs = format!(
        "/console/logs?{}",
        api::query([("message_id", retried.message_id.as_str())])
    );
    Ok(page::done(&logs, Notice::Retried))
}

pub(crate) async fn delete<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Path(id): Path<String>,
) -> PageResult {
    let uri = format!("/v2/dlq/{}", segment(&id));
    console.inner.api.delete(&operator.tenant, &uri).await?;
    tracing::info!(tenant = %operator.tenant, dlq.id = %id, "console: dead letter deleted");
    Ok(page::done(ACTIVE, Notice::Deleted))
}

/// Which bulk action a confirmation is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BulkAction {
    #[default]
    Retry,
    Delete,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct BulkQuery {
    #[serde(flatten)]
    filters: Filters,
    action: BulkAction,
    /// How many the operator confirmed: the action stops there, so dead
    /// letters that arrive meanwhile (a retry that fails again) are not
    /// chased.
    expected: usize,
}

#[derive(Template)]
#[template(path = "dlq_bulk.html")]
struct BulkPage {
    chrome: Chrome,
    retry: bool,
    count: usize,
    /// More matched than were counted.
    more: bool,
    unfiltered: bool,
    hidden: Vec<(&'static str, String)>,
}

/// Counts the dead letters the filters match, up to [`COUNT_LIMIT`].
async fn count_matching<S: Store>(
    console: &Console<S>,
    operator: &Operator,
    filters: &Filters,
) -> Result<(usize, bool), Failure> {
    let mut count = 0;
    let mut cursor = String::new();
    loop {
        let page_size = BULK_PAGE.to_string();
        let q = filters.api_query(&[("count", &page_size), ("cursor", &cursor)]);
        let page: DlqList = console
            .inner
            .api
            .get(&operator.tenant, &format!("/v2/dlq?{q}"))
            .await?;
        count += page.messages.len();
        match page.cursor {
            Some(next) if count < COUNT_LIMIT => cursor = next,
            Some(_) => return Ok((count, true)),
            None => return Ok((count, false)),
        }
    }
}

pub(crate) async fn bulk_confirm<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Query(q): Query<BulkQuery>,
) -> PageResult {
    let (count, more) = count_matching(&console, &operator, &q.filters).await?;
    let hidden = q
        .filters
        .own_pairs()
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
    Ok(page::render(&BulkPage {
        chrome: Chrome::new(&operator, ACTIVE),
        retry: q.action == BulkAction::Retry,
        count,
        more,
        unfiltered: q.filters.is_empty(),
        hidden,
    }))
}

/// Retries or deletes every dead letter the filters match, a page per API
/// call, following the cursor each call returns until there is none.
pub(crate) async fn bulk<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Form(q): Form<BulkQuery>,
) -> PageResult {
    let api = &console.inner.api;
    let mut cursor = String::new();
    let mut done = 0;
    while done < q.expected {
        let count = (q.expected - done).min(BULK_PAGE).to_string();
        let query = q
            .filters
            .api_query(&[("count", &count), ("cursor", &cursor)]);
        let next = match q.action {
            BulkAction::Retry => {
                let answer = api
                    .post(
                        &operator.tenant,
                        &format!("/v2/dlq/retry?{query}"),
                        HeaderMap::new(),
                    )
                    .await?;
                let page: DlqRetryResponse = parse(&answer)?;
                done += page.responses.len();
                page.cursor
            }
            BulkAction::Delete => {
                let answer = api
                    .delete(&operator.tenant, &format!("/v2/dlq?{query}"))
                    .await?;
                let page: Deleted = parse(&answer)?;
                done += usize::try_from(page.deleted).unwrap_or(usize::MAX);
                page.cursor
            }
        };
        match next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    tracing::info!(tenant = %operator.tenant, action = ?q.action, count = done, "console: bulk action on dead letters");
    let notice = match q.action {
        BulkAction::Retry => Notice::BulkRetried,
        BulkAction::Delete => Notice::BulkDeleted,
    };
    Ok(page::done(ACTIVE, notice))
}

fn parse<T: serde::de::DeserializeOwned>(answer: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(answer).map_err(|_| {
        Failure::new(
            StatusCode::BAD_GATEWAY,
            "the API answered in an unexpected shape",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_lines_become_headers_and_bad_lines_are_named() {
        let headers =
            override_headers("Upstash-Retries: 5\n\n  Upstash-Forward-X: a:b  \n").unwrap();
        assert_eq!(headers["upstash-retries"], "5");
        assert_eq!(headers["upstash-forward-x"], "a:b");
        let failure = override_headers("no colon here").unwrap_err();
        assert!(format!("{failure:?}").contains("no colon here"));
    }
}

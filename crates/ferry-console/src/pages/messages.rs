//! Pending messages: the first ones the tenant's places hold (delayed,
//! waiting in a queue or behind a flow-control key, ready or in flight),
//! one message with its history, and cancel. The API has no list of
//! pending messages, so the list comes from the store's walk
//! ([`Store::pending_messages`]); everything else goes through the API.

use askama::Template;
use axum::extract::{Path, Query, State};
use ferry_core::wire::Message;
use ferry_store::{MessageFilter, Place, Store};
use http::StatusCode;
use serde::Deserialize;

use super::{LogRow, MessageView, download, history};
use crate::api::segment;
use crate::format;
use crate::page::{self, Chrome, Failure, Notice, PageResult};
use crate::session::Operator;
use crate::{Console, now_ms};

const ACTIVE: &str = "/console/messages";
/// The most messages the list shows; filters narrow it.
const LIMIT: usize = 100;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ListQuery {
    url: String,
    queue: String,
    group: String,
    schedule: String,
    label: String,
    flow_key: String,
    notice: Option<Notice>,
}

fn values(value: &str) -> Vec<String> {
    let value = value.trim();
    if value.is_empty() {
        Vec::new()
    } else {
        vec![value.to_owned()]
    }
}

impl ListQuery {
    fn filter(&self) -> MessageFilter {
        MessageFilter {
            url: values(&self.url),
            topic_name: values(&self.group),
            queue_name: values(&self.queue),
            schedule_id: values(&self.schedule),
            label: values(&self.label),
            flow_control_key: values(&self.flow_key),
            ..MessageFilter::default()
        }
    }
}

struct Row {
    id: String,
    url: String,
    place: String,
    created: String,
    not_before: String,
    retried: u32,
}

#[derive(Template)]
#[template(path = "messages.html")]
struct ListPage {
    chrome: Chrome,
    q: ListQuery,
    rows: Vec<Row>,
    limit: usize,
}

fn place(place: &Place) -> String {
    match place {
        Place::Delayed => "delayed".to_owned(),
        Place::Waiting(queue) => format!("waiting in queue {queue}"),
        Place::FlowWaiting(key) => format!("waiting behind key {key}"),
        Place::Ready => "ready or in flight".to_owned(),
    }
}

pub(crate) async fn list<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let pending = console
        .inner
        .store
        .pending_messages(&operator.tenant, &q.filter(), LIMIT)
        .await
        .map_err(|e| Failure::store(&e))?;
    let now = now_ms();
    let rows = pending
        .iter()
        .map(|m| Row {
            id: m.id.to_string(),
            url: m.spec.url.clone(),
            place: place(&m.place),
            created: format::time(m.spec.created_at),
            not_before: if m.spec.not_before > now {
                format::relative(m.spec.not_before, now)
            } else {
                String::new()
            },
            retried: m.retried,
        })
        .collect();
    Ok(page::render(&ListPage {
        chrome: Chrome::new(&operator, ACTIVE).with_notice(q.notice),
        q,
        rows,
        limit: LIMIT,
    }))
}

#[derive(Template)]
#[template(path = "message_detail.html")]
struct DetailPage {
    chrome: Chrome,
    id: String,
    /// `None` when the message is no longer pending (delivered, dead,
    /// cancelled): only its history is shown.
    msg: Option<MessageView>,
    history: Vec<LogRow>,
}

async fn pending<S: Store>(
    console: &Console<S>,
    operator: &Operator,
    id: &str,
) -> Result<Option<Message>, Failure> {
    let uri = format!("/v2/messages/{}", segment(id));
    match console.inner.api.get(&operator.tenant, &uri).await {
        Ok(message) => Ok(Some(message)),
        Err(failure) if failure.status() == StatusCode::NOT_FOUND => Ok(None),
        Err(failure) => Err(failure),
    }
}

pub(crate) async fn detail<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Path(id): Path<String>,
) -> PageResult {
    let message = pending(&console, &operator, &id).await?;
    let log = history(&console.inner.api, &operator.tenant, &id).await?;
    if message.is_none() && log.events.is_empty() {
        return Err(Failure::not_found(format!("message {id} not found")));
    }
    let body_link = format!("/console/messages/{}/body", segment(&id));
    Ok(page::render(&DetailPage {
        chrome: Chrome::new(&operator, ACTIVE),
        msg: message.map(|m| MessageView::of(&m, body_link, &log)),
        history: log.events.iter().map(LogRow::of).collect(),
        id,
    }))
}

pub(crate) async fn body<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Path(id): Path<String>,
) -> PageResult {
    let message = pending(&console, &operator, &id)
        .await?
        .ok_or_else(|| Failure::not_found(format!("message {id} is not pending")))?;
    let bytes = format::body_bytes(message.body.as_deref(), message.body_base64.as_deref());
    Ok(download(&message.message_id, bytes))
}

pub(crate) async fn cancel<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Path(id): Path<String>,
) -> PageResult {
    let uri = format!("/v2/messages/{}", segment(&id));
    console.inner.api.delete(&operator.tenant, &uri).await?;
    tracing::info!(tenant = %operator.tenant, msg.id = %id, "console: message cancelled");
    Ok(page::done(ACTIVE, Notice::Cancelled))
}

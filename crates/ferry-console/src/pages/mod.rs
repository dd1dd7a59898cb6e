//! One module per page, and the views they share: a message with its
//! headers, body and attempt history, and a line of the log.

use axum::response::{IntoResponse, Response};
use ferry_core::ids::TenantId;
use ferry_core::wire::{LogEvent, LogList, Message};
use http::header;

use crate::api::{self, Api};
use crate::format::{self, BodyView};
use crate::page::Failure;

pub(crate) mod dlq;
pub(crate) mod flows;
pub(crate) mod groups;
pub(crate) mod keys;
pub(crate) mod logs;
pub(crate) mod messages;
pub(crate) mod overview;
pub(crate) mod queues;
pub(crate) mod schedules;

/// A line of the log as a table row.
pub(crate) struct LogRow {
    /// Unix ms, for the live follow to ask for newer lines.
    pub(crate) time_ms: u64,
    pub(crate) time: String,
    pub(crate) message_id: String,
    pub(crate) state: String,
    /// The badge class of the state.
    pub(crate) tone: &'static str,
    pub(crate) url: String,
    pub(crate) status: String,
    pub(crate) error: String,
    pub(crate) next: String,
    /// Tells rows apart when the live follow merges new ones.
    pub(crate) key: String,
}

impl LogRow {
    pub(crate) fn of(e: &LogEvent) -> Self {
        let tone = match e.state.as_str() {
            "DELIVERED" => "ok",
            "FAILED" | "ERROR" => "bad",
            "RETRY" => "warn",
            _ => "",
        };
        Self {
            time_ms: e.time,
            time: format::time(e.time),
            message_id: e.message_id.clone(),
            state: e.state.clone(),
            tone,
            url: e.url.clone(),
            status: e.response_status.map(|s| s.to_string()).unwrap_or_default(),
            error: e.error.clone().unwrap_or_default(),
            next: e.next_delivery_time.map(format::time).unwrap_or_default(),
            key: format!("{}-{}-{}", e.time, e.message_id, e.state),
        }
    }
}

/// A message as the detail pages show it.
pub(crate) struct MessageView {
    pub(crate) id: String,
    pub(crate) url: String,
    pub(crate) method: String,
    pub(crate) created: String,
    pub(crate) not_before: String,
    pub(crate) max_retries: u32,
    pub(crate) labels: String,
    pub(crate) queue: String,
    pub(crate) topic: String,
    pub(crate) schedule: String,
    pub(crate) flow_key: String,
    pub(crate) callback: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: BodyView,
    /// Where the whole body can be downloaded.
    pub(crate) body_link: String,
    /// Every logged state change, oldest first.
    pub(crate) history: Vec<LogRow>,
}

impl MessageView {
    pub(crate) fn of(m: &Message, body_link: String, history: &LogList) -> Self {
        Self {
            id: m.message_id.clone(),
            url: m.url.clone(),
            method: m.method.clone(),
            created: format::time(m.created_at),
            not_before: format::time(m.not_before),
            max_retries: m.max_retries,
            labels: m.labels.join(", "),
            queue: m.queue_name.clone().unwrap_or_default(),
            topic: m.topic_name.clone().unwrap_or_default(),
            schedule: m.schedule_id.clone().unwrap_or_default(),
            flow_key: m.flow_control_key.clone().unwrap_or_default(),
            callback: m.callback.clone().unwrap_or_default(),
            headers: format::headers(m.header.as_ref()),
            body: BodyView::of(m.body.as_deref(), m.body_base64.as_deref()),
            body_link,
            history: history.events.iter().map(LogRow::of).collect(),
        }
    }
}

/// The log lines of one message, oldest first.
pub(crate) async fn history(
    api: &Api,
    tenant: &TenantId,
    message_id: &str,
) -> Result<LogList, Failure> {
    let q = api::query([
        ("messageId", message_id),
        ("order", "earliestFirst"),
        ("count", "1000"),
    ]);
    api.get(tenant, &format!("/v2/events?{q}")).await
}

/// A body as a download: never rendered by the browser.
pub(crate) fn download(name: &str, bytes: Vec<u8>) -> Response {
    let disposition = format!(
        "attachment; filename=\"{}.bin\"",
        name.replace(['"', '\\'], "")
    );
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

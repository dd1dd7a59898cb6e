//! The per-tenant event log: one line per state change of a message, the
//! source of `GET /v2/events` (QStash's "logs").
//!
//! A line holds the message id, its new state and an [`EventDetail`] (the
//! destination and, for attempts, the response). Its time is the log
//! stream's entry id. Lines of one tenant are spread over the partitions'
//! logs and paged through as one with `paging`.
//!
//! A log is bounded by length and by age, both enforced in the step that
//! writes a line, so no background sweeper is needed. The age is measured
//! back from the line being written (in Redis, from its entry id, which is
//! Redis's clock, the same clock every line's time comes from): a
//! partition's log that gets no new lines keeps its old ones until it does.

use ferry_core::ids::MessageId;
use ferry_core::message::MessageSpec;
use serde::{Deserialize, Serialize};

use crate::paging::{self, Entry, EntryPos, Order, PageRequest, Source, matches_any};
use crate::{LastResponse, Result};

/// States a log line records, spelled as QStash spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventState {
    Created,
    Delivered,
    Error,
    Retry,
    Failed,
    Canceled,
}

impl EventState {
    pub const ALL: [EventState; 6] = [
        Self::Created,
        Self::Delivered,
        Self::Error,
        Self::Retry,
        Self::Failed,
        Self::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Delivered => "DELIVERED",
            Self::Error => "ERROR",
            Self::Retry => "RETRY",
            Self::Failed => "FAILED",
            Self::Canceled => "CANCELED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// What a log line says about its message beyond the state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDetail {
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub method: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_ip: Option<String>,
    /// The queue the message was enqueued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_name: Option<String>,
    /// The URL group the message was published to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,
    /// The name of the URL-group endpoint the message goes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_name: Option<String>,
    /// The schedule that produced the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_control_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unix ms of the next attempt, on `RETRY` lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_delivery_time: Option<u64>,
}

impl EventDetail {
    /// The detail every line of this message carries.
    pub fn of(spec: &MessageSpec) -> Self {
        Self {
            url: spec.url.clone(),
            method: spec.method.clone(),
            labels: spec.labels.clone(),
            caller_ip: spec.caller_ip.clone(),
            queue_name: spec.queue.clone(),
            topic_name: spec.topic.as_ref().map(|t| t.name.clone()),
            endpoint_name: spec.topic.as_ref().and_then(|t| t.endpoint.clone()),
            schedule_id: spec.schedule_id.clone(),
            flow_control_key: spec.flow_control.as_ref().map(|f| f.key.clone()),
            ..Self::default()
        }
    }

    /// The same detail with an attempt's response.
    pub fn with_response(mut self, response: &LastResponse) -> Self {
        self.response_status = response.status;
        self.error.clone_from(&response.error);
        self
    }

    pub(crate) fn to_json(&self) -> String {
        // Strings and numbers only: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub(crate) fn from_json(json: &[u8]) -> Self {
        serde_json::from_slice(json).unwrap_or_default()
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    /// Unix ms.
    pub time: u64,
    pub message_id: MessageId,
    pub state: EventState,
    pub detail: EventDetail,
}

/// Filters of `GET /v2/events`: a line matches when, for every filter that
/// has values, it matches at least one of them.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub states: Vec<EventState>,
    pub message_ids: Vec<String>,
    pub urls: Vec<String>,
    pub labels: Vec<String>,
    pub caller_ips: Vec<String>,
    pub hosts: Vec<String>,
    pub paths: Vec<String>,
    pub queue_names: Vec<String>,
    pub topic_names: Vec<String>,
    pub endpoint_names: Vec<String>,
    pub schedule_ids: Vec<String>,
    pub flow_control_keys: Vec<String>,
    /// Unix ms, inclusive bounds.
    pub from_date: Option<u64>,
    pub to_date: Option<u64>,
    /// Set when a filter can match no line at all (a `state` filter naming
    /// only states this relay never logs).
    pub unmatched: bool,
}

impl EventFilter {
    pub fn matches(&self, e: &LoggedEvent) -> bool {
        let url = url::Url::parse(&e.detail.url).ok();
        let host = url.as_ref().and_then(|u| u.host_str().map(str::to_owned));
        let path = url.as_ref().map(|u| u.path().to_owned());
        !self.unmatched
            && matches_any(&self.states, |s| *s == e.state)
            && matches_any(&self.message_ids, |v| v == e.message_id.as_str())
            && matches_any(&self.urls, |v| *v == e.detail.url)
            && matches_any(&self.labels, |v| e.detail.labels.contains(v))
            && matches_any(&self.caller_ips, |v| Some(v) == e.detail.caller_ip.as_ref())
            && matches_any(&self.hosts, |v| Some(v) == host.as_ref())
            && matches_any(&self.paths, |v| Some(v) == path.as_ref())
            && matches_any(&self.queue_names, |v| {
                Some(v) == e.detail.queue_name.as_ref()
            })
            && matches_any(&self.topic_names, |v| {
                Some(v) == e.detail.topic_name.as_ref()
            })
            && matches_any(&self.endpoint_names, |v| {
                Some(v) == e.detail.endpoint_name.as_ref()
            })
            && matches_any(&self.schedule_ids, |v| {
                Some(v) == e.detail.schedule_id.as_ref()
            })
            && matches_any(&self.flow_control_keys, |v| {
                Some(v) == e.detail.flow_control_key.as_ref()
            })
            && self.from_date.is_none_or(|from| e.time >= from)
            && self.to_date.is_none_or(|to| e.time <= to)
    }
}

#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub cursor: Option<String>,
    pub count: usize,
    pub order: Order,
    pub filter: EventFilter,
}

#[derive(Debug, Clone, Default)]
pub struct EventPage {
    pub events: Vec<LoggedEvent>,
    /// Absent when there is nothing more to read.
    pub cursor: Option<String>,
}

/// A log stream entry, with its line.
pub(crate) type EventEntry = Entry<LoggedEvent>;

/// One page of log lines from `source` over `partitions`.
pub(crate) async fn page<S: Source<Item = LoggedEvent>>(
    source: &S,
    partitions: u16,
    query: &EventQuery,
) -> Result<EventPage> {
    // Stream ids are times, so a date bound on the side the page starts
    // from tells where to begin reading.
    let seek = match query.order {
        Order::EarliestFirst => query.filter.from_date.map(|ms| EntryPos { ms, seq: 0 }),
        Order::LatestFirst => query
            .filter
            .to_date
            .map(|ms| EntryPos { ms, seq: u64::MAX }),
    };
    let request = PageRequest {
        cursor: query.cursor.as_deref(),
        count: query.count,
        order: query.order,
        seek,
    };
    let (events, cursor) =
        paging::page(source, partitions, request, |e| query.filter.matches(e)).await?;
    Ok(EventPage { events, cursor })
}

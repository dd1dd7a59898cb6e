//! The JSON bodies of the QStash v2 REST API, shared by the gateway (which
//! serialises them) and the SDK (which parses them), so that the two sides
//! cannot drift apart.
//!
//! Keys are camelCase on the wire. Optional fields are left out when unset and
//! default when missing, so that older or newer peers still parse. The keys
//! that the official Python SDK indexes without a fallback (spec §2, "Keys
//! whose absence crashes the SDKs") are plain, non-optional fields: a value
//! cannot be built without them and parsing fails loudly when they are absent.
//!
//! Timestamps are Unix milliseconds unless a field says otherwise.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};

/// A header map as the API reports it: canonical header name to every value.
pub type HeaderMap = BTreeMap<String, Vec<String>>;

/// The answer to a publish, enqueue or batch item, and to each retried dead
/// letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishResponse {
    pub message_id: String,
    /// The URL the message goes to (an endpoint's, for a URL group). The
    /// JS SDK's type declares it for a publish to a URL; QStash's API
    /// documentation lists it only for URL groups, and a dead letter's
    /// retry is answered without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `true` when an earlier message had the same deduplication id and this
    /// one was not stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deduplicated: Option<bool>,
}

/// A stored message, as `GET /v2/messages/{id}` reports it (spec §9.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub message_id: String,
    /// The destination URL.
    pub url: String,
    /// The URL group the message was published to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,
    /// The name of the URL-group endpoint this copy goes to, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_name: Option<String>,
    /// The Upstash-hosted API a message was published to; Ferry has none,
    /// but parsing keeps whatever a peer sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_name: Option<String>,
    /// The HTTP method used for delivery.
    pub method: String,
    /// Headers delivered with the message, the `Upstash-Forward-` prefix
    /// already stripped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderMap>,
    /// The body when it is valid UTF-8 (see [`body_fields`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The body in standard base64 when it is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
    /// Retries after the first attempt, so at most `max_retries + 1` attempts.
    pub max_retries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay_expression: Option<String>,
    /// Earliest delivery time.
    pub not_before: u64,
    pub created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_callback: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_header: Option<HeaderMap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_callback_header: Option<HeaderMap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<String>,
    /// The publisher's IP address, on the wire under both `callerIP` (read by
    /// the Python SDK) and `callerIp` (the JavaScript SDK's spelling).
    #[serde(flatten, with = "caller_ip_keys")]
    pub caller_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_control_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
    /// The flow-control rate period in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    /// Every label of the message. On the wire this is `labels`, plus the
    /// deprecated single `label` holding the first one.
    #[serde(flatten, with = "label_keys")]
    pub labels: Vec<String>,
}

/// A dead letter: the message as it was plus the last response the
/// destination gave (spec §9.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqMessage {
    #[serde(flatten)]
    pub message: Message,
    pub dlq_id: String,
    /// The HTTP status of the last attempt.
    pub response_status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_header: Option<HeaderMap>,
    /// The last response body when it is valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// The last response body in standard base64 when it is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body_base64: Option<String>,
}

/// One page of `GET /v2/dlq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DlqList {
    #[serde(default)]
    pub messages: Vec<DlqMessage>,
    /// Where the next page starts; absent on the last page.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub cursor: Option<String>,
}

/// The tenant's signing keys (`GET /v2/keys`, `POST /v2/keys/rotate`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeys {
    pub current: String,
    pub next: String,
}

impl std::fmt::Debug for SigningKeys {
    /// Keys are secrets, so a stray debug log must not reveal them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("current", &"<redacted>")
            .field("next", &"<redacted>")
            .finish()
    }
}

/// How many messages a cancel request stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancelled {
    pub cancelled: u64,
}

/// How many dead letters a bulk delete removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    pub deleted: u64,
    /// Where a filtered delete should continue; absent when it is complete.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub cursor: Option<String>,
}

/// The new messages created by `POST /v2/dlq/retry`, one per dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DlqRetryResponse {
    #[serde(default)]
    pub responses: Vec<PublishResponse>,
    /// Where a filtered retry should continue; absent when it is complete.
    /// Upstash sends `""` for that, which parses as `None` here.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub cursor: Option<String>,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// The JSON-body form of bulk cancel (the Python SDK's `cancel_many`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageIds {
    #[serde(default)]
    pub message_ids: Vec<String>,
}

/// The JSON-body form of a bulk DLQ request: `{"dlqIds": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqIds {
    #[serde(default)]
    pub dlq_ids: Vec<String>,
}

/// Splits a body into the `(body, bodyBase64)` pair of the wire format: valid
/// UTF-8 (including the empty body) goes into `body`, anything else into
/// `bodyBase64` with the standard base64 alphabet.
pub fn body_fields(bytes: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Some(text.to_owned()), None),
        Err(_) => (
            None,
            Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        ),
    }
}

/// Reads an optional cursor, treating `""` like an absent one, because a
/// client that loops "while there is a cursor" would otherwise never stop.
fn empty_as_none<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let cursor = Option::<String>::deserialize(deserializer)?;
    Ok(cursor.filter(|cursor| !cursor.is_empty()))
}

/// A URL group (topic) and its endpoints (spec §9.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlGroup {
    pub name: String,
    pub created_at: u64,
    pub updated_at: u64,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

/// One endpoint of a URL group; in a removal request either key may name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The body of the endpoint upsert and removal routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

/// A queue (spec §9.5). The Python SDK requires every field, so `paused`
/// is always present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Queue {
    pub name: String,
    pub parallelism: u32,
    pub created_at: u64,
    pub updated_at: u64,
    /// Messages waiting to be delivered.
    pub lag: u64,
    pub paused: bool,
}

/// A flow-control key, as `GET /v2/flowControl/{key}` reports it (spec
/// §9.6). Every field is always present: the JavaScript SDK's tests check
/// their types. Periods are in seconds, as is `ratePeriodStart`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowControlInfo {
    pub flow_control_key: String,
    pub wait_list_size: u64,
    pub parallelism_max: u32,
    pub parallelism_count: u32,
    pub rate_max: u32,
    pub rate_count: u32,
    pub rate_period: u64,
    pub rate_period_start: u64,
    pub is_paused: bool,
    pub is_pinned_parallelism: bool,
    pub is_pinned_rate: bool,
}

/// `GET /v2/globalParallelism`: attempts in flight across the relay, and
/// the tenant-wide bound on them (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobalParallelism {
    pub parallelism_max: u64,
    pub parallelism_count: u64,
}

/// The body of `POST /v2/queues`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueUpsert {
    pub queue_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
}

/// A schedule, as `GET /v2/schedules` and `GET /v2/schedules/{id}` report it
/// (spec §9.4). Times are Unix milliseconds; `delay` and `timeout` are
/// seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    pub schedule_id: String,
    pub cron: String,
    pub destination: String,
    pub created_at: u64,
    pub method: String,
    pub retries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderMap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_callback: Option<String>,
    /// Headers sent with the callback of each tick's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_header: Option<HeaderMap>,
    /// Headers sent with the failure callback of each tick's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_callback_header: Option<HeaderMap>,
    /// The creator's IP address, under both `callerIP` and `callerIp` (the
    /// spelling QStash's schedule shape uses), as on [`Message`].
    #[serde(flatten, with = "caller_ip_keys")]
    pub caller_ip: Option<String>,
    pub is_paused: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<u64>,
    /// The outcome of each message the last tick created, by message id:
    /// `SUCCESS`, `IN_PROGRESS` or `FAIL`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub last_schedule_states: BTreeMap<String, String>,
    /// The queue each tick's message is enqueued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_control_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
    /// The flow-control rate period in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
}

/// The answer to creating a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleCreated {
    pub schedule_id: String,
}

/// One line of the event log (spec §9.3), as `GET /v2/events` reports it.
/// `time`, `messageId`, `state` and `url` are required by the Python SDK;
/// `state` uses QStash's spelling (`CANCELED`, one L).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEvent {
    pub time: u64,
    pub message_id: String,
    pub state: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_delivery_time: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    #[serde(flatten, with = "caller_ip_keys")]
    pub caller_ip: Option<String>,
    /// The queue the message was enqueued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_control_key: Option<String>,
    #[serde(flatten, with = "label_keys")]
    pub labels: Vec<String>,
}

/// A page of the event log. Both SDKs read `events`; `GET /v2/logs` also
/// carries the same lines under `logs`, the key its OpenAPI text names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogList {
    #[serde(default)]
    pub events: Vec<LogEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<Vec<LogEvent>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub cursor: Option<String>,
}

/// Writes the caller IP under both spellings the SDKs read, and accepts
/// either spelling when parsing.
mod caller_ip_keys {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct CallerIpKeys<T> {
        #[serde(rename = "callerIP", default, skip_serializing_if = "Option::is_none")]
        upper: Option<T>,
        #[serde(rename = "callerIp", default, skip_serializing_if = "Option::is_none")]
        camel: Option<T>,
    }

    pub(super) fn serialize<S: Serializer>(
        caller_ip: &Option<String>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        CallerIpKeys {
            upper: caller_ip.as_deref(),
            camel: caller_ip.as_deref(),
        }
        .serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        let keys = CallerIpKeys::<String>::deserialize(deserializer)?;
        Ok(keys.upper.or(keys.camel))
    }
}

/// Writes labels as `labels` plus the deprecated `label` (the first one), and
/// accepts a peer that sends only `label`.
mod label_keys {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct LabelKeys<L, A> {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<L>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        labels: Option<A>,
    }

    pub(super) fn serialize<S: Serializer>(
        labels: &[String],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        LabelKeys {
            label: labels.first(),
            labels: (!labels.is_empty()).then_some(labels),
        }
        .serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<String>, D::Error> {
        let keys = LabelKeys::<String, Vec<String>>::deserialize(deserializer)?;
        Ok(keys
            .labels
            .unwrap_or_else(|| keys.label.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests;
mod workflows;

pub use workflows::{WorkflowInvoker, WorkflowRunList, WorkflowRunLog};

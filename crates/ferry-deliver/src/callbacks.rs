//! Callback and failure-callback messages (QStash §8): a new message to the
//! callback URL whose JSON body describes the attempt. They are created in
//! the same atomic step that records the attempt's outcome.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use ferry_core::ids::MessageId;
use ferry_core::message::CallbackSpec;
use ferry_core::signing::body_hash;
use ferry_store::{LastResponse, NewMessage, StoredMessage};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CallbackBody<'a> {
    status: u16,
    header: BTreeMap<&'a str, Vec<&'a str>>,
    /// Base64 of the destination's response body (the kept excerpt).
    body: String,
    retried: u32,
    max_retries: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    dlq_id: Option<String>,
    source_message_id: &'a str,
    url: &'a str,
    method: &'a str,
    source_header: BTreeMap<&'a str, Vec<&'a str>>,
    source_body: String,
    not_before: u64,
    created_at: u64,
    #[serde(rename = "callerIP", skip_serializing_if = "Option::is_none")]
    caller_ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    topic_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule_id: Option<&'a str>,
    /// For a message of a workflow run: the run and its creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    workflow_run_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workflow_created_at: Option<u64>,
}

fn header_map(pairs: &[(String, String)]) -> BTreeMap<&str, Vec<&str>> {
    let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in pairs {
        map.entry(name.as_str()).or_default().push(value.as_str());
    }
    map
}

/// Which callback to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// After every attempt.
    Callback,
    /// Once, when the message is dead-lettered.
    Failure,
}

/// The callback message of `kind` for an attempt of `msg`, if the message
/// asked for one. `retried` is the `Upstash-Retried` of the attempt.
pub(crate) fn build(
    msg: &StoredMessage,
    kind: Kind,
    response: &LastResponse,
    retried: u32,
    now_ms: u64,
) -> Option<NewMessage> {
    let callback: &CallbackSpec = match kind {
        Kind::Callback => msg.spec.callback.as_ref()?,
        Kind::Failure => msg.spec.failure_callback.as_ref()?,
    };
    let payload = CallbackBody {
        status: response.status.unwrap_or(0),
        header: header_map(&response.headers),
        body: STANDARD.encode(&response.body),
        retried,
        max_retries: msg.spec.retries,
        dlq_id: (kind == Kind::Failure).then(|| msg.dlq_id().to_string()),
        source_message_id: msg.id.as_str(),
        url: &msg.spec.url,
        method: &msg.spec.method,
        source_header: header_map(&msg.spec.headers),
        source_body: STANDARD.encode(source_body(msg)),
        not_before: msg.spec.not_before,
        created_at: msg.spec.created_at,
        caller_ip: msg.spec.caller_ip.as_deref(),
        topic_name: msg.spec.topic.as_ref().map(|t| t.name.as_str()),
        endpoint_name: msg.spec.topic.as_ref().and_then(|t| t.endpoint.as_deref()),
        schedule_id: msg.spec.schedule_id.as_deref(),
        workflow_run_id: msg.spec.workflow.as_ref().map(|w| w.run_id.as_str()),
        workflow_created_at: msg.spec.workflow.as_ref().map(|w| w.run_created_at),
    };
    // Serialising plain strings and numbers cannot fail.
    let body = Bytes::from(serde_json::to_vec(&payload).unwrap_or_default());
    let id = MessageId::generate(msg.id.partition());
    let spec = msg
        .spec
        .for_callback(callback, &msg.id, body_hash(&body), now_ms);
    Some(NewMessage { id, spec, body })
}

/// The body a callback describes as the source's: a workflow step's is
/// the run's initial payload (what the SDKs read as `requestPayload`), not
/// the step list it was delivered with.
fn source_body(msg: &StoredMessage) -> std::borrow::Cow<'_, [u8]> {
    let initial = msg
        .spec
        .workflow
        .as_ref()
        .filter(|w| w.delivers_step_list())
        .and_then(|_| ferry_core::workflow::initial_payload(&msg.body));
    match initial {
        Some(payload) => std::borrow::Cow::Owned(payload),
        None => std::borrow::Cow::Borrowed(&msg.body),
    }
}

/// Whether a callback is sent only once the message's outcome is final: a
/// workflow's `context.call` request, whose callback continues the run (the
/// SDK would otherwise run its step once per failed attempt).
pub(crate) fn final_only(msg: &StoredMessage) -> bool {
    msg.spec
        .workflow
        .as_ref()
        .is_some_and(|w| w.call_type == ferry_core::workflow::CallType::ToCallback)
}

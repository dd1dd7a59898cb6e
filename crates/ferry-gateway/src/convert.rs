//! Stored messages in the JSON shapes of QStash §9.1 and §9.2, with the
//! fields the publisher asked to redact shown only as their digest.

use ferry_core::message::{CallbackSpec, Redact};
use ferry_core::wire::{self, HeaderMap};
use ferry_store::StoredMessage;

pub(crate) fn header_map(pairs: &[(String, String)]) -> Option<HeaderMap> {
    if pairs.is_empty() {
        return None;
    }
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.entry(name.clone()).or_default().push(value.clone());
    }
    Some(map)
}

/// A callback's `(url, headers)` as the message and schedule shapes show them.
pub(crate) fn callback_fields(cb: Option<&CallbackSpec>) -> (Option<String>, Option<HeaderMap>) {
    match cb {
        Some(cb) => (Some(cb.url.clone()), header_map(&cb.headers)),
        None => (None, None),
    }
}

/// The message's headers as the API shows them.
fn shown_headers(m: &StoredMessage) -> Vec<(String, String)> {
    let Some(redact) = &m.spec.redact else {
        return m.spec.headers.clone();
    };
    m.spec
        .headers
        .iter()
        .map(|(name, value)| {
            let shown = if redact.hides_header(name) {
                Redact::mask(value.as_bytes())
            } else {
                value.clone()
            };
            (name.clone(), shown)
        })
        .collect()
}

/// The message's body as the API shows it: `(body, bodyBase64)`.
fn shown_body(m: &StoredMessage) -> (Option<String>, Option<String>) {
    match &m.spec.redact {
        Some(redact) if redact.body => (Some(Redact::mask(&m.body)), None),
        _ => wire::body_fields(&m.body),
    }
}

pub(crate) fn message(m: &StoredMessage) -> wire::Message {
    let (body, body_base64) = shown_body(m);
    let (callback, callback_header) = callback_fields(m.spec.callback.as_ref());
    let (failure_callback, failure_callback_header) =
        callback_fields(m.spec.failure_callback.as_ref());
    let flow = m.spec.flow_control.as_ref();
    wire::Message {
        message_id: m.id.to_string(),
        url: m.spec.url.clone(),
        topic_name: m.spec.topic.as_ref().map(|t| t.name.clone()),
        endpoint_name: m.spec.topic.as_ref().and_then(|t| t.endpoint.clone()),
        api: None,
        queue_name: m.spec.queue.clone(),
        method: m.spec.method.clone(),
        header: header_map(&shown_headers(m)),
        body,
        body_base64,
        max_retries: m.spec.retries,
        retry_delay_expression: m.spec.retry_delay.as_ref().map(|e| e.as_str().to_owned()),
        not_before: m.spec.not_before,
        created_at: m.spec.created_at,
        callback,
        failure_callback,
        callback_header,
        failure_callback_header,
        schedule_id: m.spec.schedule_id.clone(),
        caller_ip: m.spec.caller_ip.clone(),
        flow_control_key: flow.map(|f| f.key.clone()),
        parallelism: flow.and_then(|f| f.parallelism),
        rate: flow.and_then(|f| f.rate),
        period: flow.map(|f| f.period_ms / 1000),
        labels: m.spec.labels.clone(),
    }
}

pub(crate) fn dlq_message(m: &StoredMessage) -> wire::DlqMessage {
    let last = m.last.clone().unwrap_or_default();
    let (response_body, response_body_base64) = if last.body.is_empty() {
        (None, None)
    } else {
        wire::body_fields(&last.body)
    };
    wire::DlqMessage {
        message: message(m),
        dlq_id: m.dlq_id().to_string(),
        response_status: last.status.unwrap_or(0),
        response_header: header_map(&last.headers),
        // When no response arrived (connection refused, timeout, refused
        // address), the reason is the most useful thing to show here.
        response_body: response_body.or(last.error),
        response_body_base64,
    }
}

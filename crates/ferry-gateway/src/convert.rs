//! Stored messages in the JSON shapes of QStash §9.1 and §9.2.

use ferry_core::message::CallbackSpec;
use ferry_core::wire::{self, HeaderMap};
use ferry_store::StoredMessage;

fn header_map(pairs: &[(String, String)]) -> Option<HeaderMap> {
    if pairs.is_empty() {
        return None;
    }
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.entry(name.clone()).or_default().push(value.clone());
    }
    Some(map)
}

fn callback_fields(cb: Option<&CallbackSpec>) -> (Option<String>, Option<HeaderMap>) {
    match cb {
        Some(cb) => (Some(cb.url.clone()), header_map(&cb.headers)),
        None => (None, None),
    }
}

pub(crate) fn message(m: &StoredMessage) -> wire::Message {
    let (body, body_base64) = wire::body_fields(&m.body);
    let (callback, callback_header) = callback_fields(m.spec.callback.as_ref());
    let (failure_callback, failure_callback_header) =
        callback_fields(m.spec.failure_callback.as_ref());
    wire::Message {
        message_id: m.id.to_string(),
        url: m.spec.url.clone(),
        topic_name: m.spec.topic.as_ref().map(|t| t.name.clone()),
        endpoint_name: m.spec.topic.as_ref().and_then(|t| t.endpoint.clone()),
        api: None,
        queue_name: None,
        method: m.spec.method.clone(),
        header: header_map(&m.spec.headers),
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
        schedule_id: None,
        caller_ip: m.spec.caller_ip.clone(),
        flow_control_key: None,
        parallelism: None,
        rate: None,
        period: None,
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

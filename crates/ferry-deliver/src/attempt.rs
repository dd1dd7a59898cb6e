//! One delivery attempt: build the signed request of QStash §5, send it,
//! and classify what came back (§7.1).

use std::time::Duration;

use ferry_core::duration::parse_retry_after;
use ferry_core::message::canonical_header_name;
use ferry_core::signing;
use ferry_store::{KeyPair, LastResponse, StoredMessage};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::client::{read_capped, refused_by_policy};
use crate::{Shared, now_ms};

pub(crate) const HEADER_MESSAGE_ID: &str = "upstash-message-id";
pub(crate) const HEADER_RETRIED: &str = "upstash-retried";
pub(crate) const HEADER_SIGNATURE: &str = "upstash-signature";
pub(crate) const HEADER_CALLER_IP: &str = "upstash-caller-ip";
pub(crate) const HEADER_TOPIC_NAME: &str = "upstash-topic-name";
pub(crate) const HEADER_SCHEDULE_ID: &str = "upstash-schedule-id";
pub(crate) const USER_AGENT: &str = "Upstash-QStash";
const HEADER_NON_RETRYABLE: &str = "upstash-nonretryable-error";
/// The status with which a destination says "never retry this" (with the
/// header above set to `true`).
const STATUS_NON_RETRYABLE: u16 = 489;
/// Response headers that set the next retry time, in order of preference.
const RETRY_AFTER_HEADERS: [&str; 4] = [
    "retry-after",
    "x-ratelimit-reset",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
];

/// How an attempt ended, before the retry policy is applied.
#[derive(Debug)]
pub(crate) enum Verdict {
    Success,
    /// Failed; may be retried. `retry_after` comes from the response.
    Failed {
        retry_after: Option<Duration>,
    },
    /// The destination asked not to retry, or the address policy refused it.
    Final,
}

#[derive(Debug)]
pub(crate) struct AttemptResult {
    pub(crate) verdict: Verdict,
    pub(crate) response: LastResponse,
}

/// One attempt of `msg` at `url` (its destination, parsed once by the caller).
pub(crate) async fn attempt<S>(
    shared: &Shared<S>,
    msg: &StoredMessage,
    url: &url::Url,
    keys: &KeyPair,
) -> AttemptResult {
    // IP literals never reach the client's resolver, so they are checked here.
    if let Err(refused) = shared.policy.check_url(url) {
        return final_error(refused.to_string());
    }
    let request = match build_request(shared, msg, url, keys) {
        Ok(request) => request,
        Err(reason) => return final_error(reason),
    };
    match request.send().await {
        Ok(resp) => classify(shared, resp, response_cap(shared, msg)).await,
        Err(e) => match refused_by_policy(&e) {
            Some(reason) => final_error(reason),
            None => AttemptResult {
                verdict: Verdict::Failed { retry_after: None },
                response: LastResponse {
                    error: Some(describe_send_error(&e, msg, shared)),
                    ..LastResponse::default()
                },
            },
        },
    }
}

/// An attempt that must not be retried, with the reason shown in the DLQ.
pub(crate) fn final_error(reason: String) -> AttemptResult {
    AttemptResult {
        verdict: Verdict::Final,
        response: LastResponse {
            error: Some(reason),
            ..LastResponse::default()
        },
    }
}

fn build_request<S>(
    shared: &Shared<S>,
    msg: &StoredMessage,
    url: &url::Url,
    keys: &KeyPair,
) -> Result<reqwest::RequestBuilder, String> {
    let spec = &msg.spec;
    let method = reqwest::Method::from_bytes(spec.method.as_bytes())
        .map_err(|_| format!("invalid method {:?}", spec.method))?;
    let mut headers = HeaderMap::with_capacity(spec.headers.len() + 5);
    for (name, value) in &spec.headers {
        // Names and values were validated when the message was published.
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let value =
            HeaderValue::from_str(value).map_err(|_| format!("invalid value of header {name}"))?;
        headers.append(name, value);
    }
    let now_s = now_ms() / 1000;
    let signature = signing::sign(
        &keys.current,
        &spec.url,
        &spec.body_hash,
        now_s,
        shared.cfg.signature_backdate.as_secs(),
    );
    let fixed = [
        (HEADER_MESSAGE_ID, msg.id.to_string()),
        (HEADER_RETRIED, msg.retried.to_string()),
        (HEADER_SIGNATURE, signature),
    ];
    for (name, value) in fixed {
        let value =
            HeaderValue::from_str(&value).map_err(|_| format!("invalid value of header {name}"))?;
        headers.insert(HeaderName::from_static(name), value);
    }
    if let Some(topic) = spec
        .topic
        .as_ref()
        .and_then(|t| HeaderValue::from_str(&t.name).ok())
    {
        headers.insert(HeaderName::from_static(HEADER_TOPIC_NAME), topic);
    }
    if let Some(schedule) = spec
        .schedule_id
        .as_deref()
        .and_then(|id| HeaderValue::from_str(id).ok())
    {
        headers.insert(HeaderName::from_static(HEADER_SCHEDULE_ID), schedule);
    }
    if let Some(ip) = spec
        .caller_ip
        .as_deref()
        .and_then(|ip| HeaderValue::from_str(ip).ok())
    {
        headers.insert(HeaderName::from_static(HEADER_CALLER_IP), ip);
    }
    headers.insert(
        http::header::USER_AGENT,
        HeaderValue::from_static(USER_AGENT),
    );
    Ok(shared
        .client
        .request(method, url.clone())
        .headers(headers)
        .timeout(attempt_timeout(shared, msg))
        .body(msg.body.clone()))
}

pub(crate) fn attempt_timeout<S>(shared: &Shared<S>, msg: &StoredMessage) -> Duration {
    msg.spec
        .timeout()
        .unwrap_or(shared.cfg.default_timeout)
        .min(shared.cfg.max_timeout)
}

fn describe_send_error<S>(e: &reqwest::Error, msg: &StoredMessage, shared: &Shared<S>) -> String {
    if e.is_timeout() {
        return format!("attempt timed out after {:?}", attempt_timeout(shared, msg));
    }
    // The source chain carries the useful part (connection refused, DNS).
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// How much of the response body is read: for a message with a callback
/// or a failure callback, the whole body up to the size of a message, which
/// the callback carries; for any other, the excerpt a dead letter keeps.
fn response_cap<S>(shared: &Shared<S>, msg: &StoredMessage) -> usize {
    let spec = &msg.spec;
    if spec.callback.is_some() || spec.failure_callback.is_some() {
        shared
            .cfg
            .callback_response_max
            .max(shared.cfg.response_excerpt)
    } else {
        shared.cfg.response_excerpt
    }
}

async fn classify<S>(shared: &Shared<S>, resp: reqwest::Response, cap: usize) -> AttemptResult {
    let status = resp.status().as_u16();
    let headers = response_headers(resp.headers());
    let non_retryable = status == STATUS_NON_RETRYABLE
        && resp
            .headers()
            .get(HEADER_NON_RETRYABLE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    let retry_after = retry_after(resp.headers(), shared.cfg.retry_after_cap);
    // The body is read (up to `cap`, never more) even on success so the
    // connection can go back to the pool, and callbacks can carry it.
    let (body, error) = match read_capped(resp, cap).await {
        Ok((body, truncated)) => {
            if truncated && cap > shared.cfg.response_excerpt {
                tracing::warn!(
                    limit = cap,
                    "response larger than a message; its callback carries the first bytes only"
                );
            }
            (body, None)
        }
        Err(e) => (
            bytes::Bytes::new(),
            Some(format!("reading the response body: {e}")),
        ),
    };
    let verdict = if (200..300).contains(&status) {
        Verdict::Success
    } else if non_retryable {
        Verdict::Final
    } else {
        Verdict::Failed { retry_after }
    };
    AttemptResult {
        verdict,
        response: LastResponse {
            status: Some(status),
            headers,
            body,
            error,
        },
    }
}

fn response_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some((canonical_header_name(name.as_str()), value.to_owned()))
        })
        .collect()
}

/// The delay a failed response asked for, if any header parses and it is
/// within `cap` (a longer one falls back to the normal backoff).
fn retry_after(headers: &HeaderMap, cap: Duration) -> Option<Duration> {
    let now = now_ms();
    RETRY_AFTER_HEADERS
        .iter()
        .filter_map(|name| headers.get(*name)?.to_str().ok())
        .find_map(|value| parse_retry_after(value, now))
        .filter(|delay| *delay <= cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_the_first_parsable_header_within_the_cap() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("6m5s"));
        let cap = Duration::from_secs(86_400);
        assert_eq!(retry_after(&headers, cap), Some(Duration::from_secs(365)));
        headers.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers, cap), Some(Duration::from_secs(7)));
        headers.insert("retry-after", HeaderValue::from_static("172800"));
        assert_eq!(retry_after(&headers, cap), None);
    }
}

//! The stored form of a message: everything the deliverer needs to make each
//! attempt, decided once at publish time.
//!
//! A `MessageSpec` is immutable after publish; the store keeps it beside the
//! body and a few mutable fields (attempt count, last response). Callbacks
//! are not special at delivery time: after an attempt the deliverer turns a
//! `CallbackSpec` into a new `MessageSpec` with `for_callback`, and that
//! message is delivered, retried and dead-lettered like any other.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::flow::FlowControl;
use crate::ids::{MessageId, TenantId};
use crate::retry::{MAX_RETRY_DELAY, RetryDelayExpr, default_backoff};
use crate::workflow::WorkflowRef;

/// What a publish asked for, in the form the deliverer consumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageSpec {
    pub tenant: TenantId,
    /// The exact URL called and signed as `sub`.
    pub url: String,
    pub method: String,
    /// Headers delivered with each attempt (forwarded ones and `Content-Type`),
    /// with canonical names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// Retries after the first attempt; at most `1 + retries` attempts.
    pub retries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<RetryDelayExpr>,
    /// Per-attempt timeout; `None` means the deliverer's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_callback: Option<CallbackSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_id: Option<String>,
    /// Unix milliseconds.
    pub created_at: u64,
    /// Unix milliseconds before which no attempt is made.
    pub not_before: u64,
    /// Padded base64url SHA-256 of the body, computed once at publish so
    /// every attempt's fresh signature reuses it.
    pub body_hash: String,
    /// Set on callback and failure-callback messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_message_id: Option<MessageId>,
    /// Set on the copies a publish to a URL group fans out to its endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicRef>,
    /// What the API must not show of this message (deliveries carry it all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redact: Option<Redact>,
    /// Set on the messages a schedule produces: that schedule's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<String>,
    /// Set on messages enqueued to a queue: that queue's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The flow-control key and limits the message was published with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_control: Option<FlowControl>,
    /// Set on the messages of an Upstash Workflow run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowRef>,
}

/// Fields of a message the API shows only as `REDACTED:<sha256 hex>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redact {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub body: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_headers: bool,
    /// Canonical names of single headers to hide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
}

impl Redact {
    pub fn hides_header(&self, name: &str) -> bool {
        self.all_headers || self.headers.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    /// How a hidden value is shown: its SHA-256, so equal values can still
    /// be recognised without being revealed.
    pub fn mask(value: &[u8]) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(value);
        let mut out = String::with_capacity(9 + 64);
        out.push_str("REDACTED:");
        for byte in digest {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }
}

/// Which URL group, and which of its endpoints, a message was sent through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl MessageSpec {
    /// How long to wait before the retry that follows `retried` earlier
    /// retries (0 before the first retry). A custom expression that fails to
    /// evaluate falls back to the default backoff rather than stalling the
    /// message; the expression was validated at publish, so this is rare.
    /// A larger result than [`MAX_RETRY_DELAY`] waits that long, so every
    /// retry happens (or the message is dead-lettered) within the delay a
    /// publish may ask for.
    pub fn retry_delay_after(&self, retried: u32) -> Duration {
        self.retry_delay
            .as_ref()
            .and_then(|expr| expr.delay(retried).ok())
            .map_or_else(|| default_backoff(retried), |d| d.min(MAX_RETRY_DELAY))
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_ms.map(Duration::from_millis)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The message that carries a callback about an attempt of `self`.
    /// Its retries default to the source message's, as QStash documents.
    pub fn for_callback(
        &self,
        callback: &CallbackSpec,
        source_id: &MessageId,
        body_hash: String,
        now_ms: u64,
    ) -> MessageSpec {
        let mut headers = callback.headers.clone();
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
        }
        MessageSpec {
            tenant: self.tenant.clone(),
            url: callback.url.clone(),
            method: callback.method.clone(),
            headers,
            retries: callback.retries.unwrap_or(self.retries),
            retry_delay: callback.retry_delay.clone(),
            timeout_ms: callback.timeout_ms,
            callback: None,
            failure_callback: None,
            labels: self.labels.clone(),
            caller_ip: self.caller_ip.clone(),
            dedup_id: None,
            created_at: now_ms,
            not_before: now_ms.saturating_add(callback.delay_ms.unwrap_or(0)),
            body_hash,
            source_message_id: Some(source_id.clone()),
            topic: None,
            redact: None,
            schedule_id: None,
            queue: None,
            // A callback is Ferry's own notice to the publisher, not a
            // delivery of the key's traffic; its key's limits do not apply.
            flow_control: None,
            workflow: callback.workflow.clone(),
        }
    }
}

/// Where and how to publish the callback message for an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackSpec {
    pub url: String,
    pub method: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<RetryDelayExpr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// The run the callback message belongs to (a workflow's call result or
    /// failure callback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowRef>,
}

/// Go-style canonical header name (`x-custom-id` → `X-Custom-Id`), the form
/// QStash uses in its JSON header maps.
pub fn canonical_header_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

#[cfg(test)]
mod tests;

//! Upstash Workflow runs: the part of the model the store and the deliverer
//! share.
//!
//! A workflow app keeps no state of its own between requests: every delivery
//! of a step carries the run's step list, the JSON array of raw steps
//! `{"messageId","body","callType"}` (`body` base64) the app replays to find
//! where it is. The relay keeps that list per run and appends one raw step
//! per message of the run when the message is published; a delivery's body
//! is the list *up to and including the delivered message's own entry*
//! (never the whole current list: parallel branches would all see the last
//! one's plan). Entry 0 is the run's initial payload.
//!
//! The entries are built here, once, when a message is published, so the
//! store only appends and slices opaque strings.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::ids::MessageId;
use crate::message::CallbackSpec;
use crate::retry::RetryDelayExpr;

/// The longest run id accepted. The SDKs put run ids into URL paths without
/// encoding them, so they are also restricted to URL-safe characters.
pub const MAX_RUN_ID_LEN: usize = 128;

/// How a message takes part in its run (`Upstash-Workflow-CallType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CallType {
    /// A step of the run (the default): delivered with the step-list prefix.
    Step,
    /// A `context.call` request to a third party: delivered with its own
    /// body; its final failure does not fail the run.
    ToCallback,
    /// The result of a `context.call`, delivered back to the app.
    FromCallback,
    /// The run's failure callback.
    FailureCall,
}

impl CallType {
    /// Parses the header value, case-insensitively.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "step" => Some(Self::Step),
            "tocallback" => Some(Self::ToCallback),
            "fromcallback" => Some(Self::FromCallback),
            "failurecall" => Some(Self::FailureCall),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Step => "step",
            Self::ToCallback => "toCallback",
            Self::FromCallback => "fromCallback",
            Self::FailureCall => "failureCall",
        }
    }
}

/// The run a message belongs to, kept in its spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowRef {
    pub run_id: String,
    pub call_type: CallType,
    /// When the run was created, Unix ms (`Upstash-Workflow-CreatedAt`).
    pub run_created_at: u64,
    /// Set on the message that answers a `waitForEvent` whose timeout
    /// passed: the event waited for. Such a message is stored when the
    /// wait is registered, due at its deadline, and joins the step list
    /// only if the waiter is still there when it is claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_event: Option<String>,
}

impl WorkflowRef {
    /// Whether a delivery carries the step-list prefix instead of the body
    /// that was published.
    pub fn delivers_step_list(&self) -> bool {
        self.call_type == CallType::Step
    }
}

/// What the trigger configured for the whole run: it applies to every later
/// message of the run that does not set its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<RetryDelayExpr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_callback: Option<CallbackSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// Checks a run id: 1 to [`MAX_RUN_ID_LEN`] characters of `A-Z a-z 0-9 _ -`.
pub fn validate_run_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_RUN_ID_LEN {
        return Err(format!(
            "workflow run id must have 1 to {MAX_RUN_ID_LEN} characters"
        ));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "invalid workflow run id {id:?}: use letters, digits, '_' and '-'"
        ));
    }
    Ok(())
}

/// The longest event id accepted by `waitForEvent` and `notify`.
pub const MAX_EVENT_ID_LEN: usize = 256;

/// Checks an event id: 1 to [`MAX_EVENT_ID_LEN`] characters of
/// `A-Z a-z 0-9 _ - . : @ ~`. The SDKs put event ids into URL paths
/// without encoding them, so nothing else survives the trip anyway.
pub fn validate_event_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_EVENT_ID_LEN {
        return Err(format!(
            "event id must have 1 to {MAX_EVENT_ID_LEN} characters"
        ));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.:@~".contains(&b))
    {
        return Err(format!(
            "invalid event id {id:?}: use letters, digits and _ - . : @ ~"
        ));
    }
    Ok(())
}

/// The raw step a message adds to its run's list.
pub fn raw_step(id: &MessageId, body: &[u8], call_type: CallType) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct RawStep<'a> {
        message_id: &'a str,
        body: String,
        call_type: &'static str,
    }
    let step = RawStep {
        message_id: id.as_str(),
        body: STANDARD.encode(body),
        call_type: call_type.as_str(),
    };
    // A struct of strings always serialises.
    serde_json::to_string(&step).unwrap_or_default()
}

/// Standard base64 with padding, as raw steps and wait results carry bodies.
pub fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The message id a raw step names, if it is one this module built.
pub fn raw_step_message_id(entry: &str) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Id {
        message_id: String,
    }
    serde_json::from_str::<Id>(entry).ok().map(|s| s.message_id)
}

/// The body of a step delivery: the raw steps as a compact JSON array, byte
/// for byte what a JS parse-and-stringify round trip gives back.
pub fn step_list<S: AsRef<str>>(entries: &[S]) -> Vec<u8> {
    let len = entries.iter().map(|e| e.as_ref().len() + 1).sum::<usize>() + 2;
    let mut out = Vec::with_capacity(len);
    out.push(b'[');
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(entry.as_ref().as_bytes());
    }
    out.push(b']');
    out
}

/// The run's initial payload, decoded from a step-list body (entry 0).
pub fn initial_payload(step_list: &[u8]) -> Option<Vec<u8>> {
    #[derive(Deserialize)]
    struct Entry {
        body: String,
    }
    let entries: Vec<Entry> = serde_json::from_slice(step_list).ok()?;
    STANDARD.decode(entries.first()?.body.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Partition;

    #[test]
    fn raw_steps_are_compact_json_with_base64_bodies() {
        let id = MessageId::generate(Partition(3));
        let entry = raw_step(&id, br#"{"n":1}"#, CallType::Step);
        assert_eq!(
            entry,
            format!(r#"{{"messageId":"{id}","body":"eyJuIjoxfQ==","callType":"step"}}"#)
        );
        assert_eq!(raw_step_message_id(&entry).as_deref(), Some(id.as_str()));
        let empty = raw_step(&id, b"", CallType::ToCallback);
        assert!(empty.contains(r#""body":"","callType":"toCallback""#));
        let list = step_list(&[entry.clone(), empty]);
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&list).unwrap();
        assert_eq!(parsed.len(), 2);
        assert!(!list.contains(&b' ') && !list.contains(&b'\n'), "compact");
        assert_eq!(initial_payload(&list).unwrap(), br#"{"n":1}"#);
        assert_eq!(step_list::<String>(&[]), b"[]");
    }

    #[test]
    fn run_ids_are_url_safe_and_bounded() {
        assert!(validate_run_id("wfr_oBxp4-Z_9").is_ok());
        assert!(validate_run_id("").is_err());
        assert!(validate_run_id("a/b").is_err());
        assert!(validate_run_id("a b").is_err());
        assert!(validate_run_id(&"x".repeat(MAX_RUN_ID_LEN + 1)).is_err());
    }

    #[test]
    fn call_types_parse_case_insensitively() {
        assert_eq!(CallType::parse("toCallback"), Some(CallType::ToCallback));
        assert_eq!(CallType::parse("FAILURECALL"), Some(CallType::FailureCall));
        assert_eq!(CallType::parse("nope"), None);
        assert_eq!(
            serde_json::to_string(&CallType::FromCallback).unwrap(),
            r#""fromCallback""#
        );
    }
}

//! Flow control (QStash v2 §4.1, §7.4): a publisher names a key and limits
//! how many of that key's deliveries may be in flight (`parallelism`) and how
//! many may start per period (`rate`). The limits apply per key, across every
//! destination and every deliverer.
//!
//! This module only parses and validates what a publish asks for; the store
//! keeps each key's counters and waiting messages, and enforces the limits
//! where messages become deliverable.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::parse_duration;

/// The longest rate period QStash allows.
pub const MAX_PERIOD: Duration = Duration::from_secs(7 * 24 * 3600);
/// The rate period when a publish names none.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(1);
/// The longest flow-control key accepted.
pub const MAX_KEY_LEN: usize = 256;

/// The flow-control settings a message was published with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowControl {
    pub key: String,
    /// Most deliveries of the key in flight at once; `None` for no bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    /// Most deliveries of the key started per period; `None` for no bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
    pub period_ms: u64,
}

/// Why a flow-control header was rejected; the text goes to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FlowControlError(String);

fn bad(msg: impl Into<String>) -> FlowControlError {
    FlowControlError(msg.into())
}

/// Checks a flow-control key: 1 to 256 visible ASCII characters, without
/// the characters that would make it awkward in a URL path (`/ ? # %`).
pub fn validate_key(key: &str) -> Result<(), FlowControlError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(bad(format!(
            "flow control key must be 1 to {MAX_KEY_LEN} characters long"
        )));
    }
    if let Some(c) = key
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '/' | '?' | '#' | '%'))
    {
        return Err(bad(format!(
            "flow control key {key:?} contains {c:?}; use visible ASCII characters other than / ? # %"
        )));
    }
    Ok(())
}

/// Parses `Upstash-Flow-Control-Key` and `-Value`
/// (`parallelism=<n>, rate=<n>, period=<duration>`, separated by commas with
/// optional spaces). Neither header means no flow control; one without the
/// other, or a value that sets neither `parallelism` nor `rate`, is an error.
pub fn parse(
    key: Option<&str>,
    value: Option<&str>,
) -> Result<Option<FlowControl>, FlowControlError> {
    let (key, value) = match (key, value) {
        (None, None) => return Ok(None),
        (Some(key), Some(value)) => (key.trim(), value),
        (Some(_), None) => {
            return Err(bad(
                "Upstash-Flow-Control-Key needs Upstash-Flow-Control-Value (e.g. \"parallelism=2, rate=10, period=1s\")",
            ));
        }
        (None, Some(_)) => {
            return Err(bad(
                "Upstash-Flow-Control-Value needs Upstash-Flow-Control-Key",
            ));
        }
    };
    validate_key(key)?;
    let mut flow = FlowControl {
        key: key.to_owned(),
        parallelism: None,
        rate: None,
        period_ms: DEFAULT_PERIOD.as_millis() as u64,
    };
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, setting) = part.split_once('=').ok_or_else(|| {
            bad(format!(
                "invalid Upstash-Flow-Control-Value part {part:?}: expected name=value"
            ))
        })?;
        let setting = setting.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "parallelism" => flow.parallelism = Some(positive(setting, "parallelism")?),
            // `ratePerSecond` is the older spelling of `rate`.
            "rate" | "ratepersecond" => flow.rate = Some(positive(setting, "rate")?),
            "period" => flow.period_ms = period_ms(setting)?,
            other => {
                return Err(bad(format!(
                    "unknown Upstash-Flow-Control-Value setting {other:?}: use parallelism, rate or period"
                )));
            }
        }
    }
    if flow.parallelism.is_none() && flow.rate.is_none() {
        return Err(bad(
            "Upstash-Flow-Control-Value must set parallelism or rate",
        ));
    }
    Ok(Some(flow))
}

fn positive(value: &str, name: &str) -> Result<u32, FlowControlError> {
    match value.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(bad(format!(
            "invalid flow control {name} {value:?}: expected a whole number of at least 1"
        ))),
    }
}

/// A rate period: a QStash duration, at least 1 s and at most a week.
pub fn period_ms(value: &str) -> Result<u64, FlowControlError> {
    let period =
        parse_duration(value).map_err(|e| bad(format!("invalid flow control period: {e}")))?;
    if period < Duration::from_secs(1) || period > MAX_PERIOD {
        return Err(bad(format!(
            "flow control period {value} must be between 1s and 7d"
        )));
    }
    Ok(period.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(value: &str) -> FlowControl {
        parse(Some("k"), Some(value)).unwrap().unwrap()
    }

    fn err(key: Option<&str>, value: Option<&str>) -> String {
        parse(key, value).unwrap_err().to_string()
    }

    #[test]
    fn parses_the_sdk_and_curl_spellings() {
        let sdk = ok("parallelism=2, rate=10, period=5s");
        assert_eq!(sdk.parallelism, Some(2));
        assert_eq!(sdk.rate, Some(10));
        assert_eq!(sdk.period_ms, 5_000);
        assert_eq!(
            ok("parallelism=3,rate=4"),
            FlowControl {
                key: "k".into(),
                parallelism: Some(3),
                rate: Some(4),
                period_ms: 1_000,
            }
        );
        assert_eq!(ok("ratePerSecond=7").rate, Some(7));
        assert_eq!(ok("rate=1, period=1d").period_ms, 86_400_000);
        assert_eq!(ok("rate=1, period=60").period_ms, 60_000);
    }

    #[test]
    fn no_headers_is_no_flow_control() {
        assert_eq!(parse(None, None).unwrap(), None);
    }

    #[test]
    fn rejects_what_cannot_be_enforced() {
        assert!(err(Some("k"), None).contains("needs Upstash-Flow-Control-Value"));
        assert!(err(None, Some("rate=1")).contains("needs Upstash-Flow-Control-Key"));
        assert!(err(Some("k"), Some("period=1s")).contains("must set parallelism or rate"));
        assert!(err(Some("k"), Some("rate=0")).contains("at least 1"));
        assert!(err(Some("k"), Some("parallelism=-1")).contains("at least 1"));
        assert!(err(Some("k"), Some("burst=3")).contains("unknown"));
        assert!(err(Some("k"), Some("rate")).contains("name=value"));
        assert!(err(Some("k"), Some("rate=1, period=8d")).contains("between 1s and 7d"));
        assert!(err(Some("k"), Some("rate=1, period=500ms")).contains("between 1s and 7d"));
        assert!(err(Some(""), Some("rate=1")).contains("1 to 256"));
        assert!(err(Some("a/b"), Some("rate=1")).contains("'/'"));
        assert!(err(Some(&"x".repeat(257)), Some("rate=1")).contains("1 to 256"));
    }
}

//! The configuration as written: the shape of `config.default.toml`, with
//! durations, addresses, digests and keys still as text.
//!
//! Keeping this separate from the typed [`Config`](super::Config) means the
//! file format can be read by serde alone, while every conversion and its
//! error message (naming the key) lives in one place, `convert.rs`. Unknown
//! keys are rejected so a misspelt key cannot silently leave a default in
//! effect.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::LogFormat;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) redis: RawRedis,
    pub(super) gateway: RawGateway,
    pub(super) deliver: RawDeliver,
    pub(super) retention: RawRetention,
    pub(super) log: RawLog,
    pub(super) console: RawConsole,
    pub(super) tenants: Vec<RawTenant>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsole {
    pub(super) enabled: bool,
    pub(super) session_ttl: Text,
    pub(super) secure_cookie: bool,
    pub(super) session_secret: Text,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRedis {
    pub(super) url: Text,
    pub(super) prefix: Text,
    /// Wider than the final `u16` so an out-of-range value gets our message
    /// with the allowed range rather than a generic overflow.
    pub(super) partitions: u64,
    pub(super) command_timeout: Text,
    pub(super) cluster_nodes: Vec<Text>,
    pub(super) wait_replicas: u32,
    pub(super) wait_timeout: Text,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGateway {
    pub(super) listen: Text,
    pub(super) max_body_bytes: usize,
    pub(super) max_headers: usize,
    pub(super) max_header_bytes: usize,
    pub(super) header_read_timeout: Text,
    pub(super) idle_timeout: Text,
    pub(super) max_connections: usize,
    pub(super) request_timeout: Text,
    pub(super) max_concurrent_requests: usize,
    pub(super) max_batch_bytes: usize,
    pub(super) metrics_listen: Text,
    pub(super) shutdown_grace: Text,
    pub(super) max_backlog: u64,
    pub(super) max_backlog_per_tenant: u64,
    pub(super) dedup_window: Text,
    pub(super) allow_second_cron: bool,
    pub(super) workflow_max_run_bytes: u64,
    pub(super) limits: RawLimits,
}

/// Publish limits; the attempt timeout limit is `deliver.max_timeout`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub(super) default_retries: u32,
    pub(super) max_retries: u32,
    pub(super) max_delay: Text,
    pub(super) max_forward_headers: usize,
    pub(super) max_dedup_id_len: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDeliver {
    pub(super) max_in_flight: usize,
    pub(super) max_in_flight_per_host: usize,
    pub(super) batch_size: usize,
    pub(super) read_block: Text,
    pub(super) default_timeout: Text,
    pub(super) max_timeout: Text,
    pub(super) connect_timeout: Text,
    pub(super) lease_ttl: Text,
    pub(super) reclaim_interval: Text,
    pub(super) lane_max_wait: Text,
    pub(super) promote_interval: Text,
    pub(super) schedule_interval: Text,
    pub(super) response_excerpt: usize,
    pub(super) retry_after_cap: Text,
    pub(super) signature_backdate: Text,
    pub(super) shutdown_grace: Text,
    pub(super) allow_networks: Vec<Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    pub(super) dlq: Text,
    pub(super) events_max_len: u64,
    pub(super) events_max_age: Text,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) format: LogFormat,
    pub(super) filter: Text,
}

/// A tenant as written. The token lists default to empty so a tenant can
/// use either kind alone; having none at all is caught by `convert.rs` with
/// an explanation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTenant {
    pub(super) name: Text,
    #[serde(default)]
    pub(super) token_sha256: Vec<Text>,
    #[serde(default)]
    pub(super) tokens: Vec<Text>,
    #[serde(default)]
    pub(super) initial_signing_keys: Option<RawKeyPair>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeyPair {
    pub(super) current: Text,
    pub(super) next: Text,
}

/// A string that may have been written as a number or a boolean.
///
/// Tokens, names and prefixes can look numeric (`12345`); a TOML file may
/// write them unquoted, and values inside an environment list are parsed,
/// so such a value reaches us as a number. It is taken back as text here
/// instead of failing with "expected a string".
pub(super) struct Text(pub(super) String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor).map(Text)
    }
}

struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
        Ok(value.to_owned())
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<String, E> {
        Ok(value)
    }

    fn visit_char<E: de::Error>(self, value: char) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<String, E> {
        Ok(value.to_string())
    }

    // Kept apart from `visit_f64` because widening an `f32` prints digits
    // the writer never typed (1.1 would become 1.100000023841858).
    fn visit_f32<E: de::Error>(self, value: f32) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<String, E> {
        Ok(value.to_string())
    }
}

//! Configuration of the `ferry` binary: where each setting comes from, and
//! the checks that run before anything starts.
//!
//! Settings are layered, later layers winning key by key:
//! 1. `config.default.toml`, compiled in, which holds every key and documents
//!    it;
//! 2. the file given with `--config`, if any;
//! 3. environment variables `FERRY_<SECTION>__<KEY>`, such as
//!    `FERRY_REDIS__URL` or `FERRY_DELIVER__MAX_IN_FLIGHT`.
//!
//! The merged layers are read into a raw form shaped like the file (durations,
//! addresses, digests and keys still as text) and converted once into
//! [`Config`], whose fields have their final types. A value that cannot be
//! converted is an error naming its key, and rules that span several keys
//! (a default attempt timeout within the maximum, tokens that map to
//! exactly one tenant) are errors too: a process never starts with settings
//! that cannot work.
//!
//! Loading is a function of its inputs. The environment arrives as pairs and
//! is never read or changed here, so tests need no process-wide state.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use ferry_core::ids::TenantId;
use ferry_core::publish::Limits;
use ferry_core::signing::SigningKey;
use ferry_deliver::DeliverConfig;
use ferry_gateway::Tokens;
use ferry_store::RedisConfig;
use figment::Figment;
use figment::providers::{Data, Format as _, Toml};
use serde::Deserialize;

mod convert;
mod env;
mod raw;
mod redact;
mod token;

#[cfg(test)]
mod tests;

/// The built-in defaults: every key, each with a comment.
const DEFAULTS: &str = include_str!("../config.default.toml");

/// Everything the `ferry` processes need, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub redis: RedisSettings,
    pub gateway: GatewaySettings,
    pub deliver: DeliverConfig,
    pub retention: RetentionSettings,
    pub log: LogSettings,
    pub console: ConsoleSettings,
    /// Never empty, and every tenant has at least one token.
    pub tenants: Vec<TenantSettings>,
}

/// Where messages are stored.
#[derive(Clone)]
pub struct RedisSettings {
    /// May carry a password; `Debug` prints it redacted.
    pub url: String,
    /// Namespace of every key.
    pub prefix: String,
    /// Between 1 and [`ferry_core::ids::MAX_PARTITIONS`].
    pub partitions: u16,
    /// Timeout of every non-blocking command.
    pub command_timeout: Duration,
    /// Seed nodes of a Redis Cluster; empty for standalone Redis at `url`.
    /// May carry passwords; `Debug` prints only their number.
    pub cluster_nodes: Vec<String>,
    /// Replicas that must hold a publish before it is confirmed.
    pub wait_replicas: u32,
    pub wait_timeout: Duration,
}

/// The HTTP API's address, limits and admission control.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub max_headers: usize,
    pub max_header_bytes: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub request_timeout: Duration,
    pub max_concurrent_requests: usize,
    pub max_batch_bytes: usize,
    /// Where `/metrics` is served on its own; `None`: on `listen`.
    pub metrics_listen: Option<SocketAddr>,
    pub shutdown_grace: Duration,
    /// `limits.max_timeout` is `deliver.max_timeout`: one key sets both, so
    /// the gateway never accepts a timeout the deliverer would cut short.
    pub limits: Limits,
    /// Messages waiting over all partitions before publishing is refused;
    /// 0 means unbounded.
    pub max_backlog: u64,
    /// Messages of one tenant waiting over all partitions before its
    /// publishing is refused; 0 means unbounded.
    pub max_backlog_per_tenant: u64,
    pub dedup_window: Duration,
    /// Testing aid: accept a leading seconds field in `Upstash-Cron`.
    pub allow_second_cron: bool,
    /// Largest step list of an Upstash Workflow run; a message that would
    /// grow it beyond gets 412.
    pub workflow_max_run_bytes: u64,
}

/// How long finished work is kept for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Age after which dead letters are deleted.
    pub dlq: Duration,
    /// Approximate events kept per tenant; 0 keeps none.
    pub events_max_len: u64,
    /// Age after which events are deleted; zero keeps them whatever their age.
    pub events_max_age: Duration,
}

/// The operators' web console at `/console` on the gateway's address.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    pub enabled: bool,
    /// How long a console login lasts.
    pub session_ttl: Duration,
    /// Mark the session cookie `Secure` on every response (it is anyway on
    /// requests that arrive with `X-Forwarded-Proto: https`).
    pub secure_cookie: bool,
    /// Signs session cookies; `None`: a random one per process.
    pub session_secret: Option<ferry_console::SessionSecret>,
}

/// What the processes log and in which format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive, already checked to parse.
    pub filter: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// One tenant and the tokens that act as it.
///
/// Plaintext tokens from the file (`tokens = [...]`) are hashed at load and
/// appear here only as digests, beside the ones configured as digests.
#[derive(Clone)]
pub struct TenantSettings {
    pub name: TenantId,
    /// SHA-256 digests of the accepted tokens; never empty, and no digest
    /// belongs to two tenants.
    pub token_sha256: Vec<[u8; 32]>,
    /// `(current, next)`, stored for the tenant if it has no keys yet.
    pub initial_signing_keys: Option<(SigningKey, SigningKey)>,
}

/// Loads the configuration: the built-in defaults, then `config_file` if
/// given, then the `FERRY_*` variables among `env` (pass
/// `std::env::vars()`; other variables are ignored).
pub fn load(config_file: Option<&Path>, env: &[(String, String)]) -> anyhow::Result<Config> {
    let Some(path) = config_file else {
        return load_layers(None, env).context("loading configuration");
    };
    let context = || format!("loading configuration from {}", path.display());
    // Opened here first only for a plain error message when the file is
    // missing or unreadable; figment reads it and names it in key errors.
    std::fs::File::open(path)
        .context("opening the file")
        .with_context(context)?;
    load_layers(Some(Toml::file_exact(path)), env).with_context(context)
}

/// The public QStash development credentials: the token and signing keys
/// that the official SDKs use in dev mode (`QSTASH_DEV=true`). They are
/// published, so they only ever guard a local development relay.
pub mod dev_credentials {
    pub const TOKEN: &str =
        "eyJVc2VySUQiOiJkZWZhdWx0VXNlciIsIlBhc3N3b3JkIjoiZGVmYXVsdFBhc3N3b3JkIn0=";
    pub const CURRENT_SIGNING_KEY: &str = "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r";
    pub const NEXT_SIGNING_KEY: &str = "sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs";
}

/// The configuration of `ferry dev`: the defaults with the gateway on
/// `127.0.0.1:<port>`, one tenant with the public development credentials,
/// loopback destinations allowed (they are refused everywhere else) and the
/// console on.
/// `FERRY_*` variables among `env` still apply on top.
pub fn dev(
    port: u16,
    redis_url: Option<&str>,
    cluster_nodes: &[String],
    env: &[(String, String)],
) -> anyhow::Result<Config> {
    let redis = match (redis_url, cluster_nodes) {
        (_, [_, ..]) => format!("[redis]\ncluster_nodes = {cluster_nodes:?}\n"),
        (Some(url), []) => format!("[redis]\nurl = {url:?}\n"),
        (None, []) => String::new(),
    };
    let overlay = format!(
        r#"{redis}
[gateway]
listen = "127.0.0.1:{port}"

[deliver]
allow_networks = ["127.0.0.0/8", "::1/128"]

[console]
enabled = true

[[tenants]]
name = "default"
tokens = ["{token}"]
initial_signing_keys = {{ current = "{current}", next = "{next}" }}
"#,
        token = dev_credentials::TOKEN,
        current = dev_credentials::CURRENT_SIGNING_KEY,
        next = dev_credentials::NEXT_SIGNING_KEY,
    );
    load_layers(Some(Toml::string(&overlay)), env).context("building the development configuration")
}

/// A new random API token and its SHA-256 in hex, for `token_sha256`.
///
/// The token is `ferry_` followed by 40 URL-safe characters (240 random
/// bits), so it can be pasted into headers, URLs and shells unquoted.
pub fn generate_token() -> (String, String) {
    let token = token::random_token();
    let digest_hex = token::to_hex(&Tokens::digest(&token));
    (token, digest_hex)
}

impl Config {
    /// The store's settings; the backlog bounds are split evenly over the
    /// partitions, rounding up so the total is never below the configured
    /// one.
    pub fn redis_config(&self) -> RedisConfig {
        RedisConfig {
            url: self.redis.url.clone(),
            cluster_nodes: self.redis.cluster_nodes.clone(),
            wait_replicas: self.redis.wait_replicas,
            wait_timeout: self.redis.wait_timeout,
            prefix: self.redis.prefix.clone(),
            partitions: self.redis.partitions,
            command_timeout: self.redis.command_timeout,
            max_backlog_per_partition: self.per_partition(self.gateway.max_backlog),
            max_tenant_backlog_per_partition: self
                .per_partition(self.gateway.max_backlog_per_tenant),
            dedup_window: self.gateway.dedup_window,
            dlq_retention: self.retention.dlq,
            events_max_len: self.retention.events_max_len,
            events_max_age: self.retention.events_max_age,
        }
    }

    /// A bound over all partitions, as each partition applies it.
    fn per_partition(&self, bound: u64) -> u64 {
        bound.div_ceil(u64::from(self.redis.partitions))
    }
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &convert::redacted_url(&self.url))
            .field("prefix", &self.prefix)
            .field("partitions", &self.partitions)
            .field("command_timeout", &self.command_timeout)
            .field("cluster_nodes", &self.cluster_nodes.len())
            .field("wait_replicas", &self.wait_replicas)
            .field("wait_timeout", &self.wait_timeout)
            .finish()
    }
}

impl fmt::Debug for TenantSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Digests are not secrets, but they are long and say nothing useful
        // in a log; their number is what an operator checks.
        f.debug_struct("TenantSettings")
            .field("name", &self.name)
            .field("n_tokens", &self.token_sha256.len())
            .field("initial_signing_keys", &self.initial_signing_keys)
            .finish()
    }
}

/// Merges the layers and converts the result; `file` is a parameter so
/// tests can pass file contents without touching the file system.
fn load_layers(file: Option<Data<Toml>>, env: &[(String, String)]) -> anyhow::Result<Config> {
    let mut figment = Figment::from(Toml::string(DEFAULTS));
    if let Some(file) = file {
        figment = figment.merge(file);
    }
    figment = figment.merge(env::EnvLayer::new(env));
    // Lossy extraction reads numbers written as strings (all environment
    // values are strings) into numeric fields; the opposite direction is
    // handled by `raw::Text`.
    let raw: raw::RawConfig = figment.extract_lossy().map_err(redact::figment_error)?;
    convert::config(raw)
}

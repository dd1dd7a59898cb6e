//! From the configuration as written to the typed [`Config`]: every
//! conversion, and every rule that spans several keys.
//!
//! Each error names its key (`deliver.lease_ttl`,
//! `tenants[1].tokens[0]`) and the rejected value unless that value may be a
//! secret, because the operator reading it may not know which layer (file or
//! environment) set it. The first problem found stops loading.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, ensure};
use ferry_core::duration::parse_duration;
use ferry_core::ids::{MAX_PARTITIONS, TenantId};
use ferry_core::publish::Limits;
use ferry_core::signing::SigningKey;
use ferry_deliver::DeliverConfig;
use ferry_gateway::Tokens;
use ipnet::IpNet;
use tracing_subscriber::EnvFilter;
use url::Url;

use crate::config::raw::{
    RawConfig, RawConsole, RawDeliver, RawGateway, RawKeyPair, RawLimits, RawLog, RawRedis,
    RawRetention, RawTenant, Text,
};
use crate::config::token::{self, DIGEST_HEX_LEN};
use crate::config::{
    Config, ConsoleSettings, GatewaySettings, LogSettings, RedisSettings, RetentionSettings,
    TenantSettings,
};

/// URL schemes the Redis client understands.
const REDIS_SCHEMES: [&str; 4] = ["redis", "rediss", "unix", "redis+unix"];

/// How to fix a tenant without tokens; part of several error messages.
const NO_TOKEN_HELP: &str = "run `ferry tokens new` and put the digest it prints in \
     token_sha256 (give the token itself to your publishers)";

/// Shown in place of a password, or of a URL that cannot be parsed and so
/// cannot be redacted selectively.
const REDACTED: &str = "redacted";

pub(super) fn config(raw: RawConfig) -> Result<Config> {
    let redis = redis(raw.redis)?;
    let deliver = deliver(raw.deliver, raw.gateway.max_body_bytes)?;
    let gateway = gateway(raw.gateway, deliver.max_timeout)?;
    Ok(Config {
        redis,
        gateway,
        deliver,
        retention: retention(raw.retention)?,
        log: log(raw.log)?,
        console: console(raw.console)?,
        tenants: tenants(raw.tenants)?,
    })
}

/// `url` with its password replaced, for `Debug` output and messages.
pub(super) fn redacted_url(url: &str) -> String {
    Url::parse(url).map_or_else(|_| format!("[{REDACTED}]"), redacted)
}

fn redacted(mut url: Url) -> String {
    if url.password().is_some() && url.set_password(Some(REDACTED)).is_err() {
        return format!("[{REDACTED}]");
    }
    url.into()
}

/// Names the keys of one section of the file in conversion errors.
#[derive(Clone, Copy)]
struct Section(&'static str);

impl Section {
    fn key(self, field: &str) -> String {
        format!("{}.{field}", self.0)
    }

    fn duration(self, field: &str, text: &Text) -> Result<Duration> {
        parse_duration(&text.0).with_context(|| self.key(field))
    }

    /// For timeouts and intervals, where zero would stop the work they pace
    /// (Redis even reads a zero block time as "wait forever").
    fn nonzero_duration(self, field: &str, text: &Text) -> Result<Duration> {
        let duration = self.duration(field, text)?;
        ensure!(
            !duration.is_zero(),
            "{}: must be longer than zero, found {:?}",
            self.key(field),
            text.0
        );
        Ok(duration)
    }

    fn at_least_one(self, field: &str, value: usize) -> Result<usize> {
        ensure!(
            value >= 1,
            "{}: must be at least 1, found 0",
            self.key(field)
        );
        Ok(value)
    }
}

fn redis(raw: RawRedis) -> Result<RedisSettings> {
    let section = Section("redis");
    check_redis_url("redis.url", &raw.url.0)?;
    let cluster_nodes: Vec<String> = raw.cluster_nodes.into_iter().map(|n| n.0).collect();
    for node in &cluster_nodes {
        check_redis_url("redis.cluster_nodes", node)?;
    }
    Ok(RedisSettings {
        url: raw.url.0,
        prefix: key_prefix(raw.prefix.0)?,
        partitions: partitions(raw.partitions, !cluster_nodes.is_empty())?,
        command_timeout: section.nonzero_duration("command_timeout", &raw.command_timeout)?,
        cluster_nodes,
        wait_replicas: raw.wait_replicas,
        wait_timeout: section.nonzero_duration("wait_timeout", &raw.wait_timeout)?,
    })
}

fn check_redis_url(key: &str, url: &str) -> Result<()> {
    // The URL may hold a password, so messages show it redacted, and not at
    // all when it does not parse.
    let parsed = Url::parse(url).map_err(|e| anyhow!("{key}: not a valid URL ({e})"))?;
    ensure!(
        REDIS_SCHEMES.contains(&parsed.scheme()),
        "{key}: unsupported scheme {:?} in {} (use one of {})",
        parsed.scheme(),
        redacted(parsed.clone()),
        REDIS_SCHEMES.join(", ")
    );
    Ok(())
}

fn key_prefix(prefix: String) -> Result<String> {
    let valid = !prefix.is_empty()
        && !prefix
            .chars()
            .any(|c| matches!(c, '{' | '}') || c.is_whitespace() || c.is_control());
    // Braces would form a Redis Cluster hash tag and put every partition in
    // one slot.
    ensure!(
        valid,
        "redis.prefix: invalid prefix {prefix:?}: use a non-empty name without braces or whitespace"
    );
    Ok(prefix)
}

/// Partitions when `redis.partitions` is 0 and Ferry runs on a cluster:
/// with the balanced hash tags, 16 spread 5/6/5 over 3 primaries and evenly
/// over 2, 4, 8 or 16.
const CLUSTER_PARTITIONS: u16 = 16;

/// The partition count; 0 picks 1 on standalone Redis and
/// [`CLUSTER_PARTITIONS`] on a cluster.
fn partitions(value: u64, cluster: bool) -> Result<u16> {
    if value == 0 {
        return Ok(if cluster { CLUSTER_PARTITIONS } else { 1 });
    }
    u16::try_from(value)
        .ok()
        .filter(|n| (1..=MAX_PARTITIONS).contains(n))
        .ok_or_else(|| {
            anyhow!(
                "redis.partitions: {value} is out of range (use 0 for the default, or 1 to {MAX_PARTITIONS})"
            )
        })
}

fn gateway(raw: RawGateway, max_timeout: Duration) -> Result<GatewaySettings> {
    let section = Section("gateway");
    Ok(GatewaySettings {
        listen: listen_address("gateway.listen", &raw.listen.0)?,
        max_body_bytes: section.at_least_one("max_body_bytes", raw.max_body_bytes)?,
        max_headers: section.at_least_one("max_headers", raw.max_headers)?,
        max_header_bytes: section.at_least_one("max_header_bytes", raw.max_header_bytes)?,
        header_read_timeout: section
            .nonzero_duration("header_read_timeout", &raw.header_read_timeout)?,
        idle_timeout: section.nonzero_duration("idle_timeout", &raw.idle_timeout)?,
        max_connections: section.at_least_one("max_connections", raw.max_connections)?,
        request_timeout: section.nonzero_duration("request_timeout", &raw.request_timeout)?,
        max_concurrent_requests: section
            .at_least_one("max_concurrent_requests", raw.max_concurrent_requests)?,
        max_batch_bytes: section.at_least_one("max_batch_bytes", raw.max_batch_bytes)?,
        metrics_listen: metrics_address(&raw.metrics_listen.0)?,
        shutdown_grace: section.duration("shutdown_grace", &raw.shutdown_grace)?,
        limits: limits(raw.limits, max_timeout)?,
        max_backlog: raw.max_backlog,
        max_backlog_per_tenant: raw.max_backlog_per_tenant,
        dedup_window: section.duration("dedup_window", &raw.dedup_window)?,
        allow_second_cron: raw.allow_second_cron,
        workflow_max_run_bytes: raw.workflow_max_run_bytes,
    })
}

fn listen_address(key: &str, text: &str) -> Result<SocketAddr> {
    text.parse().with_context(|| {
        format!(
            "{key}: invalid address {text:?} (write an IP address and a port, e.g. 0.0.0.0:8080)"
        )
    })
}

/// Empty: `/metrics` stays on the API's address.
fn metrics_address(text: &str) -> Result<Option<SocketAddr>> {
    if text.is_empty() {
        return Ok(None);
    }
    listen_address("gateway.metrics_listen", text).map(Some)
}

/// The gateway's publish limits; the timeout limit is the deliverer's, so a
/// publish cannot ask for an attempt longer than reclaim allows.
fn limits(raw: RawLimits, max_timeout: Duration) -> Result<Limits> {
    ensure!(
        raw.default_retries <= raw.max_retries,
        "gateway.limits.default_retries ({}) exceeds gateway.limits.max_retries ({})",
        raw.default_retries,
        raw.max_retries
    );
    Ok(Limits {
        default_retries: raw.default_retries,
        max_retries: raw.max_retries,
        max_delay: Section("gateway.limits").duration("max_delay", &raw.max_delay)?,
        max_timeout,
        max_forward_headers: raw.max_forward_headers,
        max_dedup_id_len: raw.max_dedup_id_len,
    })
}

/// `max_body_bytes` is the gateway's message size limit, which bounds what
/// a callback carries of a destination's response.
fn deliver(raw: RawDeliver, max_body_bytes: usize) -> Result<DeliverConfig> {
    let section = Section("deliver");
    let deliver = DeliverConfig {
        max_in_flight: raw.max_in_flight,
        max_in_flight_per_host: raw.max_in_flight_per_host,
        batch_size: raw.batch_size,
        read_block: section.nonzero_duration("read_block", &raw.read_block)?,
        default_timeout: section.nonzero_duration("default_timeout", &raw.default_timeout)?,
        max_timeout: section.nonzero_duration("max_timeout", &raw.max_timeout)?,
        connect_timeout: section.nonzero_duration("connect_timeout", &raw.connect_timeout)?,
        lease_ttl: section.nonzero_duration("lease_ttl", &raw.lease_ttl)?,
        reclaim_interval: section.nonzero_duration("reclaim_interval", &raw.reclaim_interval)?,
        lane_max_wait: section.nonzero_duration("lane_max_wait", &raw.lane_max_wait)?,
        promote_interval: section.nonzero_duration("promote_interval", &raw.promote_interval)?,
        schedule_interval: section.nonzero_duration("schedule_interval", &raw.schedule_interval)?,
        response_excerpt: raw.response_excerpt,
        callback_response_max: max_body_bytes,
        retry_after_cap: section.duration("retry_after_cap", &raw.retry_after_cap)?,
        signature_backdate: section.duration("signature_backdate", &raw.signature_backdate)?,
        shutdown_grace: section.duration("shutdown_grace", &raw.shutdown_grace)?,
        allow_networks: raw
            .allow_networks
            .iter()
            .enumerate()
            .map(|(idx, text)| network(&format!("deliver.allow_networks[{idx}]"), &text.0))
            .collect::<Result<_>>()?,
    };
    // The deliverer's own rules name the field; the section completes the key.
    deliver.validate().context("deliver")?;
    Ok(deliver)
}

/// A CIDR, or a bare address meaning just that address (/32 or /128).
fn network(key: &str, text: &str) -> Result<IpNet> {
    if let Ok(address) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(address));
    }
    let network: IpNet = text.parse().with_context(|| {
        format!("{key}: invalid network {text:?} (write a CIDR such as 10.0.0.0/8, or one address)")
    })?;
    // Host bits are dropped so the value reads as the network it covers.
    Ok(network.trunc())
}

fn retention(raw: RawRetention) -> Result<RetentionSettings> {
    let section = Section("retention");
    Ok(RetentionSettings {
        dlq: section.nonzero_duration("dlq", &raw.dlq)?,
        events_max_len: raw.events_max_len,
        // Zero is meaningful here: no age bound.
        events_max_age: section.duration("events_max_age", &raw.events_max_age)?,
    })
}

fn console(raw: RawConsole) -> Result<ConsoleSettings> {
    let section = Section("console");
    let secret = raw.session_secret.0;
    let session_secret = if secret.is_empty() {
        None
    } else {
        Some(
            ferry_console::SessionSecret::from_text(&secret)
                .with_context(|| section.key("session_secret"))?,
        )
    };
    Ok(ConsoleSettings {
        enabled: raw.enabled,
        session_ttl: section.nonzero_duration("session_ttl", &raw.session_ttl)?,
        secure_cookie: raw.secure_cookie,
        session_secret,
    })
}

fn log(raw: RawLog) -> Result<LogSettings> {
    let filter = raw.filter.0;
    EnvFilter::try_new(&filter)
        .with_context(|| format!("log.filter: invalid filter {filter:?}"))?;
    Ok(LogSettings {
        format: raw.format,
        filter,
    })
}

fn tenants(raw: Vec<RawTenant>) -> Result<Vec<TenantSettings>> {
    ensure!(
        !raw.is_empty(),
        "tenants: none is configured; add a [[tenants]] entry with a name and a token: {NO_TOKEN_HELP}"
    );
    let mut names = HashMap::new();
    let mut owners = HashMap::new();
    raw.into_iter()
        .enumerate()
        .map(|(idx, raw)| {
            let key = format!("tenants[{idx}]");
            let tenant = tenant(&key, raw, &mut owners)?;
            if let Some(first) = names.insert(tenant.name.clone(), key.clone()) {
                return Err(anyhow!(
                    "{key}.name: tenant {:?} is already defined by {first}",
                    tenant.name.as_str()
                ));
            }
            Ok(tenant)
        })
        .collect()
}

/// Converts one tenant; `owners` maps every digest seen so far to the key
/// that configured it, so a token can belong to one tenant only.
fn tenant(
    key: &str,
    raw: RawTenant,
    owners: &mut HashMap<[u8; 32], String>,
) -> Result<TenantSettings> {
    let name = TenantId::new(&raw.name.0).with_context(|| format!("{key}.name"))?;
    let mut token_sha256 = Vec::with_capacity(raw.token_sha256.len() + raw.tokens.len());
    for (idx, hex) in raw.token_sha256.iter().enumerate() {
        let digest_key = format!("{key}.token_sha256[{idx}]");
        let digest = parse_digest(&digest_key, &hex.0)?;
        claim(owners, digest, digest_key)?;
        token_sha256.push(digest);
    }
    for (idx, token) in raw.tokens.iter().enumerate() {
        let token_key = format!("{key}.tokens[{idx}]");
        ensure!(!token.0.is_empty(), "{token_key}: the token is empty");
        let digest = Tokens::digest(&token.0);
        claim(owners, digest, token_key)?;
        token_sha256.push(digest);
    }
    ensure!(
        !token_sha256.is_empty(),
        "{key}: tenant {:?} has no token: {NO_TOKEN_HELP}",
        name.as_str()
    );
    let initial_signing_keys = raw
        .initial_signing_keys
        .map(|pair| signing_keys(key, pair))
        .transpose()?;
    Ok(TenantSettings {
        name,
        token_sha256,
        initial_signing_keys,
    })
}

fn parse_digest(key: &str, hex: &str) -> Result<[u8; 32]> {
    // The value is not shown: a plaintext token pasted here by mistake would
    // otherwise end up in logs.
    token::parse_digest(hex).ok_or_else(|| {
        anyhow!(
            "{key}: not a SHA-256 digest (expected {DIGEST_HEX_LEN} hex digits, found {} characters); \
             plaintext tokens belong in `tokens`, and `ferry tokens new` prints a token with its digest",
            hex.chars().count()
        )
    })
}

/// Records that `key` configured `digest`, failing if another key did.
fn claim(owners: &mut HashMap<[u8; 32], String>, digest: [u8; 32], key: String) -> Result<()> {
    match owners.entry(digest) {
        Entry::Occupied(first) => Err(anyhow!(
            "{key}: the same token as {}; a token must belong to exactly one tenant, once",
            first.get()
        )),
        Entry::Vacant(slot) => {
            slot.insert(key);
            Ok(())
        }
    }
}

fn signing_keys(tenant_key: &str, raw: RawKeyPair) -> Result<(SigningKey, SigningKey)> {
    // Key errors give the length only, never the key.
    let key = |field: &str, text: Text| {
        SigningKey::new(text.0)
            .with_context(|| format!("{tenant_key}.initial_signing_keys.{field}"))
    };
    Ok((key("current", raw.current)?, key("next", raw.next)?))
}

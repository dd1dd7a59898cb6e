//! What a Redis server did, read from its own counters, so `ferry bench` can
//! state Ferry's cost on the Redis side (commands and CPU per message) and,
//! on a cluster, how evenly keys and work spread over the primaries.
//!
//! Everything here is a read of `INFO` or a `SCAN` count; nothing is
//! written. A sample is taken per primary before and after a run and the
//! caller works with the differences. The counters cover every client of the
//! server, so the figures are Ferry's only on a Redis nothing else uses while
//! the run lasts.

use std::time::Duration;

use redis::Client;
use redis::aio::MultiplexedConnection;

use crate::Result;
use crate::baseline::{self, escape_glob};

#[cfg(test)]
mod tests;

/// Keys counted per `SCAN` call.
const SCAN_COUNT: usize = 1000;

/// The cumulative counters of one server at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerSample {
    /// `total_commands_processed`: every command run, including those a
    /// script runs.
    pub commands: u64,
    /// Calls of `EVAL`, `EVALSHA`, `FCALL` and their read-only forms.
    pub script_calls: u64,
    /// CPU time of the server process (`used_cpu_user + used_cpu_sys`), in
    /// microseconds: command execution, networking and persistence alike.
    pub cpu_us: u64,
}

impl ServerSample {
    /// The counters' growth from `earlier` to `self`.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            commands: self.commands.saturating_sub(earlier.commands),
            script_calls: self.script_calls.saturating_sub(earlier.script_calls),
            cpu_us: self.cpu_us.saturating_sub(earlier.cpu_us),
        }
    }
}

/// The primaries to measure, as URLs: the one server of a standalone Redis,
/// or every primary that serves slots in the cluster that the first
/// reachable of `nodes` belongs to (each URL is the given node's, with the
/// primary's host and port, so credentials carry over).
pub async fn primaries(nodes: &[String], cluster: bool, timeout: Duration) -> Result<Vec<String>> {
    if !cluster {
        return Ok(nodes.to_vec());
    }
    let mut last_error = None;
    for node in nodes {
        match cluster_nodes(node, timeout).await {
            Ok(text) => return Ok(primary_urls(node, &text)),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "no cluster node given",
        ))
        .into()
    }))
}

/// The counters of the server at `url` now.
pub async fn sample(url: &str, timeout: Duration) -> Result<ServerSample> {
    let mut conn = connect(url, timeout).await?;
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .arg("cpu")
        .arg("commandstats")
        .query_async(&mut conn)
        .await?;
    Ok(parse_info(&info))
}

/// How many keys under `namespace:` the server at `url` holds.
pub async fn count_keys(url: &str, namespace: &str, timeout: Duration) -> Result<u64> {
    let mut conn = connect(url, timeout).await?;
    let pattern = format!("{}:*", escape_glob(namespace));
    let (mut cursor, mut n_keys) = (0_u64, 0_u64);
    loop {
        let (next, keys): (u64, Vec<redis::Value>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(&mut conn)
            .await?;
        n_keys += keys.len() as u64;
        if next == 0 {
            return Ok(n_keys);
        }
        cursor = next;
    }
}

async fn cluster_nodes(url: &str, timeout: Duration) -> Result<String> {
    let mut conn = connect(url, timeout).await?;
    Ok(redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut conn)
        .await?)
}

async fn connect(url: &str, timeout: Duration) -> Result<MultiplexedConnection> {
    baseline::connect(&Client::open(url)?, timeout, timeout).await
}

/// The URLs of the primaries in a `CLUSTER NODES` answer that serve slots
/// and are not marked failed, built on `template` (scheme, credentials,
/// database).
fn primary_urls(template: &str, cluster_nodes: &str) -> Vec<String> {
    let mut urls: Vec<String> = cluster_nodes
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields.get(2)?;
            let is_live_primary = flags.split(',').any(|f| f == "master")
                && !flags.split(',').any(|f| f == "fail" || f == "fail?");
            // Fields 8 and on are the slot ranges the node serves.
            (is_live_primary && fields.len() > 8).then_some(*fields.get(1)?)
        })
        .filter_map(|address| node_url(template, address))
        .collect();
    urls.sort();
    urls
}

/// `template` pointed at `address` (`host:port@bus-port[,hostname]`).
fn node_url(template: &str, address: &str) -> Option<String> {
    let host_port = address.split(['@', ',']).next()?;
    let (host, port) = host_port.rsplit_once(':')?;
    let mut url = url::Url::parse(template).ok()?;
    url.set_host(Some(host)).ok()?;
    url.set_port(Some(port.parse().ok()?)).ok()?;
    Some(url.into())
}

/// The counters in an `INFO stats cpu commandstats` answer; a missing field
/// counts as zero.
fn parse_info(info: &str) -> ServerSample {
    let mut sample = ServerSample::default();
    let mut cpu_s = 0.0;
    for line in info.lines() {
        let Some((name, value)) = line.trim_end().split_once(':') else {
            continue;
        };
        match name {
            "total_commands_processed" => sample.commands = value.parse().unwrap_or(0),
            "used_cpu_user" | "used_cpu_sys" => cpu_s += value.parse::<f64>().unwrap_or(0.0),
            _ if is_script_command(name) => sample.script_calls += calls(value),
            _ => {}
        }
    }
    sample.cpu_us = (cpu_s * 1e6).round() as u64;
    sample
}

fn is_script_command(stat: &str) -> bool {
    matches!(
        stat,
        "cmdstat_eval"
            | "cmdstat_evalsha"
            | "cmdstat_eval_ro"
            | "cmdstat_evalsha_ro"
            | "cmdstat_fcall"
            | "cmdstat_fcall_ro"
    )
}

/// The `calls=` figure of a commandstats value.
fn calls(value: &str) -> u64 {
    value
        .split(',')
        .find_map(|field| field.strip_prefix("calls="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

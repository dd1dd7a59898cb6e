//! The Redis side of a spawned Ferry's run: commands and Redis CPU per
//! message, and on a cluster how keys and commands spread over the
//! primaries.
//!
//! Each primary's counters (`INFO stats`, `cpu`, `commandstats`) are read
//! when the load starts and after the drain; the differences are the run's.
//! The keys of the run's namespace are counted per primary when publishing
//! ends, when the most messages are stored. The counters are the whole
//! server's, so the figures are Ferry's only on a Redis nothing else uses
//! meanwhile; the benchmark's own reads add a few commands per primary.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use ferry_store::server_stats::{self, ServerSample};
use serde::Serialize;

use super::spawn::SpawnRedis;

#[cfg(test)]
mod tests;

/// Timeout of each read of a primary's counters.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A primary's share is "even" within this fraction of a fair share.
const EVEN_TOLERANCE: f64 = 0.2;

/// Reads the counters of the primaries a spawned Ferry runs on.
pub(super) struct RedisMeter {
    primaries: Vec<String>,
    namespace: String,
}

/// The counters of every primary at one moment, in the meter's order.
pub(super) struct Samples(Vec<ServerSample>);

/// The Redis figures of one run.
#[derive(Debug, Clone, Serialize)]
pub(super) struct RedisReport {
    /// Commands Redis ran per message, those run inside scripts included.
    pub(super) commands_per_msg: Option<f64>,
    /// Script calls (`EVALSHA` and kin) per message.
    pub(super) scripts_per_msg: Option<f64>,
    /// CPU time of the Redis processes per message, in microseconds.
    pub(super) redis_cpu_us_per_msg: Option<f64>,
    pub(super) primaries: Vec<PrimaryReport>,
    /// With more than one primary: whether each holds a fair share of the
    /// keys, within ±20 %.
    pub(super) keys_even: Option<bool>,
    /// With more than one primary: whether each ran a fair share of the
    /// commands, within ±20 %.
    pub(super) commands_even: Option<bool>,
}

/// One primary's part of the run.
#[derive(Debug, Clone, Serialize)]
pub(super) struct PrimaryReport {
    /// `host:port`, never the URL, which may hold a password.
    pub(super) node: String,
    /// Keys of the run at the end of publishing.
    pub(super) keys: u64,
    pub(super) key_share: Option<f64>,
    pub(super) commands: u64,
    pub(super) command_share: Option<f64>,
    pub(super) cpu_s: f64,
}

impl RedisMeter {
    /// Finds the primaries of `target`.
    pub(super) async fn new(target: &SpawnRedis, namespace: &str) -> anyhow::Result<Self> {
        let (nodes, cluster) = match target {
            SpawnRedis::Standalone(url) => (std::slice::from_ref(url), false),
            SpawnRedis::Cluster(nodes) => (nodes.as_slice(), true),
        };
        let primaries = server_stats::primaries(nodes, cluster, READ_TIMEOUT)
            .await
            .context("finding the Redis primaries to measure")?;
        Ok(Self {
            primaries,
            namespace: namespace.to_owned(),
        })
    }

    /// The URLs of the primaries measured.
    pub(super) fn primaries(&self) -> &[String] {
        &self.primaries
    }

    /// Every primary's counters now.
    pub(super) async fn sample(&self) -> anyhow::Result<Samples> {
        let mut samples = Vec::with_capacity(self.primaries.len());
        for url in &self.primaries {
            let sample = server_stats::sample(url, READ_TIMEOUT)
                .await
                .with_context(|| format!("reading INFO of {}", node_name(url)))?;
            samples.push(sample);
        }
        Ok(Samples(samples))
    }

    /// Every primary's count of the run's keys now.
    pub(super) async fn keys(&self) -> anyhow::Result<Vec<u64>> {
        let mut counts = Vec::with_capacity(self.primaries.len());
        for url in &self.primaries {
            let n = server_stats::count_keys(url, &self.namespace, READ_TIMEOUT)
                .await
                .with_context(|| format!("counting the keys on {}", node_name(url)))?;
            counts.push(n);
        }
        Ok(counts)
    }

    /// The figures of a run that processed `n_messages` between `start`
    /// and `end`.
    pub(super) fn report(
        &self,
        start: &Samples,
        end: &Samples,
        keys: &[u64],
        n_messages: u64,
    ) -> RedisReport {
        let deltas: Vec<ServerSample> = end
            .0
            .iter()
            .zip(&start.0)
            .map(|(end, start)| end.since(start))
            .collect();
        let total = |field: fn(&ServerSample) -> u64| deltas.iter().map(field).sum::<u64>();
        let per_msg = |n: u64| (n_messages > 0).then(|| n as f64 / n_messages as f64);
        let (all_keys, all_commands) = (keys.iter().sum::<u64>(), total(|d| d.commands));
        let primaries: Vec<PrimaryReport> = self
            .primaries
            .iter()
            .zip(&deltas)
            .zip(keys)
            .map(|((url, delta), &n_keys)| PrimaryReport {
                node: node_name(url),
                keys: n_keys,
                key_share: share(n_keys, all_keys),
                commands: delta.commands,
                command_share: share(delta.commands, all_commands),
                cpu_s: delta.cpu_us as f64 / 1e6,
            })
            .collect();
        RedisReport {
            commands_per_msg: per_msg(all_commands),
            scripts_per_msg: per_msg(total(|d| d.script_calls)),
            redis_cpu_us_per_msg: per_msg(total(|d| d.cpu_us)),
            keys_even: even(primaries.iter().map(|p| p.key_share)),
            commands_even: even(primaries.iter().map(|p| p.command_share)),
            primaries,
        }
    }
}

impl RedisReport {
    /// The lines the table report prints under the main table.
    pub(super) fn to_table(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "\nredis: {} commands/msg ({} scripts/msg, commands inside scripts included), {} µs redis cpu/msg",
            show(self.commands_per_msg, 1),
            show(self.scripts_per_msg, 2),
            show(self.redis_cpu_us_per_msg, 1),
        );
        if self.primaries.len() < 2 {
            return text;
        }
        for p in &self.primaries {
            let _ = writeln!(
                text,
                "  primary {}: {} keys ({}), {} commands ({}), {:.2} cpu-s",
                p.node,
                p.keys,
                percent(p.key_share),
                p.commands,
                percent(p.command_share),
                p.cpu_s,
            );
        }
        let _ = writeln!(
            text,
            "  spread: keys {}, commands {} (even = every primary within ±20 % of a fair share)",
            verdict(self.keys_even),
            verdict(self.commands_even),
        );
        text
    }
}

/// `part` as a fraction of `whole`.
fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Whether every share is within [`EVEN_TOLERANCE`] of a fair share; `None`
/// with fewer than two shares or one that is unknown.
fn even(shares: impl ExactSizeIterator<Item = Option<f64>>) -> Option<bool> {
    let n = shares.len();
    if n < 2 {
        return None;
    }
    let fair = 1.0 / n as f64;
    let shares: Option<Vec<f64>> = shares.collect();
    Some(
        shares?
            .iter()
            .all(|share| (share - fair).abs() <= EVEN_TOLERANCE * fair),
    )
}

/// `host:port` of a Redis URL, without credentials.
fn node_name(url: &str) -> String {
    let host_port = |url: url::Url| -> Option<String> {
        Some(format!(
            "{}:{}",
            url.host_str()?,
            url.port().unwrap_or(6379)
        ))
    };
    url::Url::parse(url)
        .ok()
        .and_then(host_port)
        .unwrap_or_else(|| "(unparsable URL)".to_owned())
}

fn show(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{:.1} %", v * 100.0))
}

fn verdict(even: Option<bool>) -> &'static str {
    match even {
        Some(true) => "even",
        Some(false) => "UNEVEN",
        None => "-",
    }
}

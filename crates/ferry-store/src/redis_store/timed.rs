//! Redis command latency: every non-blocking command goes through
//! [`TimedConnection`], which times it into a histogram labelled by command
//! (and, for `EVALSHA`, by the script's name), for `/metrics`.
//!
//! Blocking reads (`XREADGROUP … BLOCK`) use the readers' own connections
//! and are not timed: their duration is the wait for work, not Redis's.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use redis::aio::ConnectionLike;
use redis::{Arg, Cmd, Pipeline, RedisFuture, Value};

use super::connection::Conn;
use crate::scripts;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabel {
    command: String,
    /// The script an `EVALSHA` ran; empty for other commands.
    script: &'static str,
}

type Latencies = Family<CommandLabel, Histogram, fn() -> Histogram>;

/// The latency histograms of one store, shared by its clones.
#[derive(Debug, Clone)]
pub(crate) struct RedisMetrics {
    latency: Latencies,
}

fn histogram() -> Histogram {
    // 50 µs to about 1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

impl Default for RedisMetrics {
    fn default() -> Self {
        Self {
            latency: Family::new_with_constructor(histogram),
        }
    }
}

impl RedisMetrics {
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "ferry_redis_command_duration_seconds",
            "Redis command latency seen by Ferry, by command (PIPELINE for a pipeline) and script",
            self.latency.clone(),
        );
    }

    fn observe(&self, label: CommandLabel, started: Instant) {
        self.latency
            .get_or_create(&label)
            .observe(started.elapsed().as_secs_f64());
    }
}

/// A connection that times each command it carries.
#[derive(Clone)]
pub(crate) struct TimedConnection {
    pub(crate) inner: Conn,
    pub(crate) metrics: RedisMetrics,
}

/// The label of one command: its name, and the script an `EVALSHA` runs.
fn label(cmd: &Cmd) -> CommandLabel {
    let mut args = cmd.args_iter().filter_map(|arg| match arg {
        Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let command = args
        .next()
        .map(|name| String::from_utf8_lossy(name).to_ascii_uppercase())
        .unwrap_or_default();
    let script = if command == "EVALSHA" {
        args.next()
            .and_then(|sha| std::str::from_utf8(sha).ok())
            .and_then(scripts::name_of)
            .unwrap_or("unknown")
    } else {
        ""
    };
    CommandLabel { command, script }
}

impl ConnectionLike for TimedConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let started = Instant::now();
            let reply = self.inner.req_packed_command(cmd).await;
            self.metrics.observe(label(cmd), started);
            reply
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let started = Instant::now();
            let reply = self
                .inner
                .req_packed_commands(pipeline, offset, count)
                .await;
            let label = CommandLabel {
                command: "PIPELINE".to_owned(),
                script: "",
            };
            self.metrics.observe(label, started);
            reply
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

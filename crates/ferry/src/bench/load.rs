//! The load generator: publishes numbered messages over a pooled HTTP/1
//! client, either closed loop (a fixed number of publishers, each waiting for
//! its answer) or open loop (a fixed rate, whatever the answers do).
//!
//! Open-loop latency is measured from the time each publish was *scheduled*,
//! not from when it was sent, so a slow relay cannot hide its delays by
//! slowing the generator down (coordinated omission). The schedule runs on
//! its own thread with absolute deadlines, and every publish is a task of
//! its own, so one slow answer never delays the next send. Outstanding
//! publishes are bounded; a slot due while the bound is reached is skipped
//! and counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

use super::body;

#[cfg(test)]
mod tests;

/// The longest a publish may take before it counts as failed.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Characters of a failure kept for the report.
const MAX_FAILURE_CHARS: usize = 200;

/// The origin of every time in a run, shared by the generator and the sink
/// so end-to-end latency is a difference of two readings of one monotonic
/// clock.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    origin: Instant,
}

impl Clock {
    pub(super) fn start() -> Self {
        Self {
            origin: Instant::now(),
        }
    }

    /// Microseconds since the origin.
    pub(super) fn now_us(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// Hands out sequence numbers 0, 1, 2, … ; the sink uses [`Sequencer::issued`]
/// to recognise numbers that were never sent.
#[derive(Debug, Clone, Default)]
pub(super) struct Sequencer(Arc<AtomicU64>);

impl Sequencer {
    pub(super) fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn issued(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// How publishes are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Schedule {
    /// This many publishers, each sending its next message when the previous
    /// one is answered.
    Closed { concurrency: usize },
    /// This many messages per second; at most `max_outstanding` unanswered.
    Open { rate: f64, max_outstanding: usize },
}

/// What to send and for how long.
#[derive(Debug, Clone, Copy)]
pub(super) struct LoadSpec {
    pub(super) schedule: Schedule,
    pub(super) body_size: usize,
    pub(super) duration: Duration,
}

/// Where publishes go: one publish URL per destination host and, for
/// Ferry, the API token.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// Never empty.
    urls: Vec<Url>,
    token: Option<String>,
}

impl Target {
    /// Publishes to `url` alone.
    pub(super) fn single(url: Url, token: Option<String>) -> Self {
        Self {
            urls: vec![url],
            token,
        }
    }

    /// Spreads publishes over `urls`, one per destination host, in turn.
    pub(super) fn spread(urls: Vec<Url>, token: Option<String>) -> anyhow::Result<Self> {
        anyhow::ensure!(!urls.is_empty(), "no destination to publish to");
        Ok(Self { urls, token })
    }

    /// Where message `seq` is published: host `1 + seq % N` of the `N`,
    /// so every host gets an even share in any stretch of the run.
    pub(super) fn url_for(&self, seq: u64) -> &Url {
        let n_hosts = self.urls.len() as u64;
        // The remainder is below the length of `urls`, which is a `usize`.
        &self.urls[(seq % n_hosts) as usize]
    }
}

/// Live counts for the progress line.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) sent: AtomicU64,
    pub(super) accepted: AtomicU64,
    pub(super) failed: AtomicU64,
}

/// Everything the generator observed.
#[derive(Debug, Default)]
pub(super) struct Published {
    /// Sequence numbers whose publish was answered 2xx.
    pub(super) accepted: Vec<u64>,
    /// Latency of each accepted publish.
    pub(super) latencies_us: Vec<u64>,
    pub(super) n_failed: u64,
    /// Open-loop slots skipped because `max_outstanding` was reached.
    pub(super) n_skipped: u64,
    /// The first failure, to tell a misconfiguration from overload.
    pub(super) first_failure: Option<String>,
    /// When the first publish was due and when the last one was answered.
    pub(super) started_us: u64,
    pub(super) finished_us: u64,
}

/// Sends messages to `target` according to `spec` and returns what
/// happened to each.
pub(super) async fn run(
    spec: &LoadSpec,
    target: &Target,
    clock: Clock,
    seqs: Sequencer,
    counters: Arc<Counters>,
) -> anyhow::Result<Published> {
    let publisher = Arc::new(Publisher {
        client: client(target, spec.schedule)?,
        target: target.clone(),
        body_size: spec.body_size,
        clock,
        seqs,
        counters,
        log: Mutex::default(),
    });
    let started_us = clock.now_us();
    let end_us =
        started_us.saturating_add(u64::try_from(spec.duration.as_micros()).unwrap_or(u64::MAX));
    let tracker = TaskTracker::new();
    let n_skipped = match spec.schedule {
        Schedule::Closed { concurrency } => {
            for _ in 0..concurrency {
                tracker.spawn(publisher.clone().closed_loop(end_us));
            }
            0
        }
        Schedule::Open {
            rate,
            max_outstanding,
        } => {
            let open = OpenLoop {
                publisher: publisher.clone(),
                tracker: tracker.clone(),
                runtime: tokio::runtime::Handle::current(),
                interval_ns: 1e9 / rate,
                max_outstanding,
                abandoned: CancellationToken::new(),
            };
            open.run_on_its_thread(started_us, end_us).await?
        }
    };
    tracker.close();
    tracker.wait().await;
    let log = std::mem::take(&mut *publisher.log.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(Published {
        n_skipped,
        started_us,
        finished_us: clock.now_us(),
        ..log
    })
}

/// One shared HTTP/1 client with a connection per concurrent publish, the
/// token as a default header (not rebuilt per request), and no proxy: the
/// benchmark measures loopback, not whatever `HTTP_PROXY` points at.
fn client(target: &Target, schedule: Schedule) -> anyhow::Result<reqwest::Client> {
    let mut headers = HeaderMap::new();
    if let Some(token) = &target.token {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the token cannot be sent in an HTTP header")?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    let connections = match schedule {
        Schedule::Closed { concurrency } => concurrency,
        Schedule::Open {
            max_outstanding, ..
        } => max_outstanding,
    };
    reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .default_headers(headers)
        .pool_max_idle_per_host(connections)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(PUBLISH_TIMEOUT)
        .build()
        .context("building the HTTP client")
}

/// State shared by every publish of a run.
struct Publisher {
    client: reqwest::Client,
    target: Target,
    body_size: usize,
    clock: Clock,
    seqs: Sequencer,
    counters: Arc<Counters>,
    /// Appended to once per answer; uncontended next to an HTTP round trip.
    log: Mutex<Published>,
}

impl Publisher {
    async fn closed_loop(self: Arc<Self>, end_us: u64) {
        loop {
            let now = self.clock.now_us();
            if now >= end_us {
                return;
            }
            self.publish_one(now).await;
        }
    }

    /// Publishes the next message, timing it from `due_us`: the scheduled
    /// time in open loop, the moment of sending in closed loop.
    async fn publish_one(&self, due_us: u64) {
        let seq = self.seqs.next();
        let request = self
            .client
            .post(self.target.url_for(seq).clone())
            .body(body::encode(seq, due_us, self.body_size));
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
        let outcome = send(request).await;
        let latency_us = self.clock.now_us().saturating_sub(due_us);
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(()) => {
                self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                log.accepted.push(seq);
                log.latencies_us.push(latency_us);
            }
            Err(failure) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                log.n_failed += 1;
                log.first_failure.get_or_insert(failure);
            }
        }
    }
}

/// Sends the request and reads the answer to its end, so the connection
/// goes back to the pool; a non-2xx status or a transport error is the
/// failure's description.
async fn send(request: reqwest::RequestBuilder) -> Result<(), String> {
    let response = request.send().await.map_err(|e| describe(&e))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| describe(&e))?;
    if status.is_success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&body);
    Err(shorten(&format!("{status}: {}", text.trim())))
}

/// The error with its causes, which hold the useful part (connection
/// refused, timed out).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    shorten(&text)
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_FAILURE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The open-loop schedule, run on a thread of its own: `std::thread::sleep`
/// wakes within tens of microseconds, where the async timer rounds to whole
/// milliseconds and would bunch sends together.
struct OpenLoop {
    publisher: Arc<Publisher>,
    tracker: TaskTracker,
    runtime: tokio::runtime::Handle,
    interval_ns: f64,
    max_outstanding: usize,
    /// Fired when the run is abandoned before the schedule ends.
    abandoned: CancellationToken,
}

impl OpenLoop {
    /// Runs the schedule on a blocking-pool thread; returns how many slots
    /// were skipped.
    async fn run_on_its_thread(self, started_us: u64, end_us: u64) -> anyhow::Result<u64> {
        // Dropping this future (Ctrl-C) stops the thread at its next slot.
        let _abandon_on_drop = self.abandoned.clone().drop_guard();
        tokio::task::spawn_blocking(move || self.run(started_us, end_us))
            .await
            .context("the open-loop schedule stopped")
    }

    /// Starts one publish per slot from `started_us` until `end_us`; returns
    /// how many slots were skipped. Deadlines are absolute, so a late wake
    /// is followed by the sends it delayed, not by a slower schedule.
    fn run(&self, started_us: u64, end_us: u64) -> u64 {
        let clock = self.publisher.clock;
        let mut n_skipped = 0;
        for slot in 0_u64.. {
            let due_us = started_us + (slot as f64 * self.interval_ns / 1000.0) as u64;
            if due_us >= end_us || self.abandoned.is_cancelled() {
                break;
            }
            let now = clock.now_us();
            if due_us > now {
                std::thread::sleep(Duration::from_micros(due_us - now));
            }
            if self.tracker.len() >= self.max_outstanding {
                n_skipped += 1;
                continue;
            }
            let publisher = self.publisher.clone();
            self.tracker.spawn_on(
                async move { publisher.publish_one(due_us).await },
                &self.runtime,
            );
        }
        n_skipped
    }
}

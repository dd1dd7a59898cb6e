//! The loopback destination of every benchmark message. It checks each
//! delivery's `Upstash-Signature` with the tenant's keys (as a real handler
//! would), records which sequence number arrived, when and at which host,
//! and answers `200`, optionally after a delay that lets tests build a
//! backlog.
//!
//! It can pose as several destination hosts, so a relay that schedules per
//! host is measured with more than one: host `k` is `127.0.0.k`, every one
//! on the same port. Linux routes all of 127.0.0.0/8 to the loopback
//! interface, so no alias has to be configured.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use ferry_sdk::Receiver;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::body;
use super::http;
use super::load::{Clock, Sequencer};

#[cfg(test)]
mod tests;

/// The header a signed delivery carries.
const SIGNATURE_HEADER: &str = "upstash-signature";
/// The path deliveries are published to.
const PATH: &str = "/ingest";
/// How often a drain checks for the messages still missing.
const DRAIN_POLL: Duration = Duration::from_millis(50);

/// Arrivals so far, by sequence number.
#[derive(Debug)]
pub(super) struct Arrivals {
    /// `counts[seq]`: how many times `seq` arrived.
    pub(super) counts: Vec<u32>,
    /// End-to-end latency of each first arrival.
    pub(super) e2e_us: Vec<u64>,
    /// Bodies the benchmark did not send (unreadable, or a sequence number
    /// never issued).
    pub(super) n_unexpected: u64,
    /// When the latest first arrival came, on the run's clock.
    pub(super) last_first_arrival_us: Option<u64>,
    /// `per_host[k - 1]`: first arrivals at host `127.0.0.k`.
    pub(super) per_host: Vec<u64>,
}

impl Arrivals {
    fn new(n_hosts: usize) -> Self {
        Self {
            counts: Vec::new(),
            e2e_us: Vec::new(),
            n_unexpected: 0,
            last_first_arrival_us: None,
            per_host: vec![0; n_hosts],
        }
    }
}

/// The sink server; dropping it stops it.
pub(super) struct Sink {
    state: Arc<State>,
    _shutdown: DropGuard,
}

struct State {
    /// `None` for the baseline, whose deliveries are not signed.
    receiver: Option<Receiver>,
    /// `urls[k - 1]`: the URL of host `127.0.0.k`, which its deliveries
    /// are signed for.
    urls: Vec<String>,
    delay: Duration,
    clock: Clock,
    seqs: Sequencer,
    arrivals: Mutex<Arrivals>,
    n_unique: AtomicU64,
    n_signature_failures: AtomicU64,
}

/// How a drain ended.
#[derive(Debug, Clone, Copy)]
pub(super) struct Drain {
    /// Every accepted message arrived before the limit.
    pub(super) complete: bool,
    pub(super) elapsed: Duration,
}

impl Sink {
    /// Starts the sink on hosts `127.0.0.1` to `127.0.0.<n_hosts>`, at a
    /// port the OS picks.
    pub(super) async fn start(
        clock: Clock,
        seqs: Sequencer,
        receiver: Option<Receiver>,
        delay: Duration,
        n_hosts: u8,
    ) -> anyhow::Result<Self> {
        let listeners = bind_hosts(n_hosts, 0).await?;
        let urls = listeners
            .iter()
            .map(|listener| {
                let addr = listener
                    .local_addr()
                    .context("reading the sink's address")?;
                Ok(format!("http://{addr}{PATH}"))
            })
            .collect::<anyhow::Result<_>>()?;
        let state = Arc::new(State {
            receiver,
            urls,
            delay,
            clock,
            seqs,
            arrivals: Mutex::new(Arrivals::new(listeners.len())),
            n_unique: AtomicU64::new(0),
            n_signature_failures: AtomicU64::new(0),
        });
        let shutdown = CancellationToken::new();
        for (host, listener) in listeners.into_iter().enumerate() {
            let handler_state = state.clone();
            tokio::spawn(http::serve(listener, shutdown.clone(), move |request| {
                handle(handler_state.clone(), host, request)
            }));
        }
        Ok(Self {
            state,
            _shutdown: shutdown.drop_guard(),
        })
    }

    /// The destination URL of each host, `127.0.0.1` first.
    pub(super) fn urls(&self) -> &[String] {
        &self.state.urls
    }

    /// The URL of `127.0.0.1`, the host every sink has.
    pub(super) fn first_url(&self) -> &str {
        &self.state.urls[0]
    }

    /// Sequence numbers that arrived at least once.
    pub(super) fn n_unique(&self) -> u64 {
        self.state.n_unique.load(Ordering::Relaxed)
    }

    pub(super) fn n_signature_failures(&self) -> u64 {
        self.state.n_signature_failures.load(Ordering::Relaxed)
    }

    /// Waits until every `accepted` sequence number has arrived, or `limit`
    /// has passed.
    pub(super) async fn drain(&self, accepted: &[u64], limit: Duration) -> Drain {
        let started = tokio::time::Instant::now();
        let mut missing = accepted.to_vec();
        loop {
            {
                let arrivals = self.lock();
                missing.retain(|&seq| arrival_count(&arrivals.counts, seq) == 0);
            }
            let elapsed = started.elapsed();
            if missing.is_empty() || elapsed >= limit {
                return Drain {
                    complete: missing.is_empty(),
                    elapsed,
                };
            }
            tokio::time::sleep(DRAIN_POLL.min(limit - elapsed)).await;
        }
    }

    /// Everything recorded so far, leaving the sink empty.
    pub(super) fn take_arrivals(&self) -> Arrivals {
        let empty = Arrivals::new(self.state.urls.len());
        std::mem::replace(&mut *self.lock(), empty)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arrivals> {
        // A poisoned lock means a request task panicked between two plain
        // field updates; the counts stay usable.
        self.state
            .arrivals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// One listener per host, all on `port` (the OS picks it when 0, on
/// `127.0.0.1`, and the other hosts take the same).
async fn bind_hosts(n_hosts: u8, port: u16) -> anyhow::Result<Vec<TcpListener>> {
    let first = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .with_context(|| format!("binding the sink to 127.0.0.1:{port}"))?;
    let port = first
        .local_addr()
        .context("reading the sink's address")?
        .port();
    let mut listeners = vec![first];
    for ip in host_ips(n_hosts).skip(1) {
        let listener = TcpListener::bind((ip, port)).await.with_context(|| {
            format!(
                "binding the sink to {ip}:{port} (every sink host needs the port \
                 127.0.0.1 got; run again for another)"
            )
        })?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// `127.0.0.1` to `127.0.0.<n_hosts>`.
fn host_ips(n_hosts: u8) -> impl Iterator<Item = Ipv4Addr> {
    (1..=n_hosts).map(|k| Ipv4Addr::new(127, 0, 0, k))
}

fn arrival_count(counts: &[u32], seq: u64) -> u32 {
    usize::try_from(seq)
        .ok()
        .and_then(|idx| counts.get(idx).copied())
        .unwrap_or(0)
}

/// A delivery to host `127.0.0.<host + 1>`.
async fn handle(
    state: Arc<State>,
    host: usize,
    request: Request<Incoming>,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let signature = request.headers().get(SIGNATURE_HEADER).cloned();
    let Ok(collected) = request.into_body().collect().await else {
        return http::respond(StatusCode::BAD_REQUEST, "unreadable body");
    };
    // Arrival is taken before verifying: checking the signature is the
    // receiver's work, not the relay's latency.
    let arrival_us = state.clock.now_us();
    let body = collected.to_bytes();
    if let Some(receiver) = &state.receiver {
        let verified = signature
            .as_ref()
            .and_then(|value| value.to_str().ok())
            .is_some_and(|signature| {
                receiver
                    .verify(signature, &body, Some(&state.urls[host]))
                    .is_ok()
            });
        if !verified {
            state.n_signature_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
    state.record(host, &body, arrival_us);
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    // A failed signature is still answered 200: a retry would only blur the
    // loss and duplicate counts, and the failure is reported either way.
    http::respond(StatusCode::OK, bytes::Bytes::new())
}

impl State {
    fn record(&self, host: usize, body: &[u8], arrival_us: u64) {
        // Only issued sequence numbers index the table, so a stray body
        // cannot make it grow beyond what the generator sent.
        let decoded = body::decode(body)
            .filter(|&(seq, _)| seq < self.seqs.issued())
            .and_then(|(seq, send_us)| Some((usize::try_from(seq).ok()?, send_us)));
        let mut arrivals = self.arrivals.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((idx, send_us)) = decoded else {
            arrivals.n_unexpected += 1;
            return;
        };
        if idx >= arrivals.counts.len() {
            arrivals.counts.resize(idx + 1, 0);
        }
        arrivals.counts[idx] += 1;
        if arrivals.counts[idx] == 1 {
            arrivals.e2e_us.push(arrival_us.saturating_sub(send_us));
            // Arrival times are read before the lock, so they can come in
            // slightly out of order.
            arrivals.last_first_arrival_us = arrivals.last_first_arrival_us.max(Some(arrival_us));
            arrivals.per_host[host] += 1;
            self.n_unique.fetch_add(1, Ordering::Relaxed);
        }
    }
}

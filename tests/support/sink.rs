//! A scriptable HTTP server on loopback that stands in for a delivery target.
//!
//! Tests tell it how to answer (fail twice, hang, redirect, answer late) and
//! then assert on what it received, so delivery behaviour is checked over a
//! real socket. Every wait is bounded, so a missing delivery fails the test in
//! seconds instead of hanging it.

mod recorded;
mod reply;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

pub use recorded::Recorded;
pub use reply::Reply;

/// How long `next_request` waits before failing the test.
const NEXT_REQUEST_LIMIT: Duration = Duration::from_secs(10);
/// Pause after a failed `accept`, so a persistent error such as running out
/// of file descriptors does not spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// The sink server. Dropping it stops the server and closes every
/// connection, including those held open by [`Reply::hang`].
pub struct TestSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// How many recorded requests `next_request` has already returned.
    n_taken: usize,
    /// Cancels the accept loop and every connection task when the sink drops.
    _shutdown: DropGuard,
}

/// State shared between the test and the connection tasks.
struct Shared {
    script: Mutex<Script>,
    /// Every request in arrival order; the channel wakes tests waiting for
    /// requests.
    log: watch::Sender<Vec<Recorded>>,
}

/// The replies still to hand out, consumed in request arrival order.
#[derive(Default)]
struct Script {
    /// Replies by path: the first rule whose fragment the request path
    /// contains answers, before any one-shot or default reply.
    by_path: Vec<(String, Reply)>,
    /// One-shot replies, used before `default`.
    queued: VecDeque<Reply>,
    default: Reply,
}

impl TestSink {
    /// Starts the sink on `127.0.0.1` with a port the OS picks. It answers
    /// `200` with an empty body until scripted otherwise.
    pub async fn start() -> TestSink {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap_or_else(|error| panic!("binding the test sink: {error}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|error| panic!("reading the test sink address: {error}"));
        let shared = Arc::new(Shared {
            script: Mutex::default(),
            log: watch::Sender::new(Vec::new()),
        });
        let shutdown = CancellationToken::new();
        tokio::spawn(accept_loop(listener, shared.clone(), shutdown.clone()));
        TestSink {
            addr,
            shared,
            n_taken: 0,
            _shutdown: shutdown.drop_guard(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>`; `path` should start with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sets the reply used once the one-shot replies are exhausted.
    pub fn respond(&self, reply: Reply) {
        self.shared.script().default = reply;
    }

    /// Answers every request whose path contains `fragment` with `reply`,
    /// whatever else is scripted (checked in the order rules were added).
    pub fn respond_to_paths_containing(&self, fragment: &str, reply: Reply) {
        self.shared
            .script()
            .by_path
            .push((fragment.to_owned(), reply));
    }

    /// Queues `n` one-shot copies of `reply`, used before the default reply
    /// and after any replies queued earlier.
    pub fn respond_next(&self, n: usize, reply: Reply) {
        self.shared
            .script()
            .queued
            .extend(std::iter::repeat_n(reply, n));
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log.borrow().clone()
    }

    pub fn n_requests(&self) -> usize {
        self.shared.log.borrow().len()
    }

    /// How many requests arrived for `path`, ignoring the query string.
    pub fn n_requests_to(&self, path: &str) -> usize {
        let log = self.shared.log.borrow();
        log.iter()
            .filter(|recorded| recorded.uri.path() == path)
            .count()
    }

    /// The oldest request not yet returned by this method, waiting for one
    /// if needed. Panics after 10 s.
    pub async fn next_request(&mut self) -> Recorded {
        let idx = self.n_taken;
        if let Err(n_arrived) = self.wait_for_len(idx + 1, NEXT_REQUEST_LIMIT).await {
            panic!(
                "no new request reached the sink within {NEXT_REQUEST_LIMIT:?} \
                 ({n_arrived} arrived, all already returned by next_request)"
            );
        }
        self.n_taken += 1;
        self.shared.log.borrow()[idx].clone()
    }

    /// Waits until at least `n` requests have arrived in total and returns
    /// all of them. Panics after `timeout`.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        if let Err(n_arrived) = self.wait_for_len(n, timeout).await {
            panic!("expected {n} requests at the sink within {timeout:?}, but {n_arrived} arrived");
        }
        self.requests()
    }

    /// Panics if any request arrives during the next `dur`.
    pub async fn assert_quiet(&self, dur: Duration) {
        let n_before = self.n_requests();
        if self.wait_for_len(n_before + 1, dur).await.is_ok() {
            let log = self.shared.log.borrow();
            let intruder = &log[n_before];
            panic!(
                "expected no request for {dur:?}, but {} {} arrived",
                intruder.method, intruder.uri
            );
        }
    }

    /// Waits until the log holds `n` requests; on timeout, returns how many
    /// it does hold.
    async fn wait_for_len(&self, n: usize, limit: Duration) -> Result<(), usize> {
        let mut log = self.shared.log.subscribe();
        match tokio::time::timeout(limit, log.wait_for(|log| log.len() >= n)).await {
            Ok(changed) => {
                // `self.shared` owns the sender, so the channel is open for as
                // long as `self` exists.
                changed.expect("the sink's log channel closed while the sink exists");
                Ok(())
            }
            Err(_elapsed) => Err(self.n_requests()),
        }
    }
}

impl Shared {
    fn script(&self) -> MutexGuard<'_, Script> {
        // A panic while holding the lock cannot leave a `Script` half-updated
        // (every update is a single assignment or extend), so poisoning is
        // safe to ignore.
        self.script.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn handle(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, hyper::Error> {
        let at = Instant::now();
        let (parts, body) = request.into_parts();
        let body = body.collect().await?.to_bytes();
        let reply = self.record(Recorded {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
            at,
        });
        Ok(reply.perform().await)
    }

    /// Logs the request and picks its reply under one lock, so the n-th
    /// recorded request is the one that got the n-th scripted reply.
    fn record(&self, recorded: Recorded) -> Reply {
        let mut script = self.script();
        let by_path = script
            .by_path
            .iter()
            .find(|(fragment, _)| recorded.uri.path().contains(fragment.as_str()))
            .map(|(_, reply)| reply.clone());
        self.log.send_modify(|log| log.push(recorded));
        by_path.unwrap_or_else(|| {
            script
                .queued
                .pop_front()
                .unwrap_or_else(|| script.default.clone())
        })
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, shutdown: CancellationToken) {
    while let Some(accepted) = shutdown.run_until_cancelled(listener.accept()).await {
        match accepted {
            Ok((stream, _peer)) => {
                tokio::spawn(serve_connection(stream, shared.clone(), shutdown.clone()));
            }
            Err(_transient) => tokio::time::sleep(ACCEPT_BACKOFF).await,
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>, shutdown: CancellationToken) {
    let service = service_fn(move |request| {
        let shared = shared.clone();
        async move { shared.handle(request).await }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    // A connection error means the client went away mid-request; the test
    // observes that on the client side, so there is nothing to report here.
    let _ = shutdown.run_until_cancelled(connection).await;
}

//! The accept loop: every connection to the API (and the console beside it,
//! and the metrics listener) goes through [`accept_loop`].
//!
//! A connection costs a file descriptor and memory whether or not it sends
//! anything, so nothing a client does without a token may keep one open:
//!
//! - **Cap.** At most `max_connections` are open per listener; the loop stops
//!   accepting at the cap and resumes as connections close, so the kernel's
//!   backlog absorbs a burst instead of the process running out of
//!   descriptors.
//! - **First request.** A connection must deliver a complete request head
//!   within `header_read_timeout` of being accepted, whatever it speaks: an
//!   HTTP/1 client that sends nothing or drips its head, and an h2c client
//!   that sends only the preface, are closed alike. (hyper's own header
//!   timeout starts only once HTTP/1 bytes arrived, and h2 has none.)
//! - **Idle.** A connection with no request in progress for `idle_timeout`
//!   is closed: HTTP/1 keep-alive and h2c alike, whatever control frames
//!   (h2 PINGs) it keeps sending. A request is in progress from its head
//!   until its response body is written, so long requests are bounded by
//!   `request_timeout`, not by this.
//!
//! A connection is closed gracefully (hyper finishes the response in
//! progress; h2 sends GOAWAY) and dropped if it has not ended `CLOSE_GRACE`
//! later, or `shutdown_grace` later on shutdown.
//!
//! HTTP/1 responses to requests whose body was not read to the end (a
//! refusal before reading it) carry `Connection: close`: hyper cannot reuse
//! such a connection, and a client told so up front sends its next request
//! on a new one instead of failing on this one.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use http::{HeaderValue, Request, Version};
use http_body_util::BodyExt as _;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use crate::GatewayConfig;
use crate::hyper_errors::JsonErrors;
use crate::metrics::Connections;

/// How long a connection closed for idleness may take to say goodbye (an
/// h2 GOAWAY and its acknowledgement) before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until `shutdown` fires, then lets requests in
/// progress finish for at most `shutdown_grace`.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    app: Router,
    cfg: &GatewayConfig,
    connections: Connections,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let builder = builder(cfg);
    let timeouts = Timeouts::of(cfg);
    let errors = Arc::new(crate::hyper_errors::Answers::new(cfg));
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let tracker = TaskTracker::new();
    loop {
        let slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and similar: pause, don't spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let activity = Arc::new(Activity::new());
        let service =
            hyper::service::service_fn(connection_service(app.clone(), peer, activity.clone()));
        let io = TokioIo::new(JsonErrors::new(stream, errors.clone()));
        let conn = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let open = connections.opened();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let close = |conn: Pin<&mut _>| auto::UpgradeableConnection::graceful_shutdown(conn);
            drive(conn, close, &activity, timeouts, &shutdown).await;
            drop((open, slot));
        });
    }
    drop(listener);
    tracker.close();
    if tokio::time::timeout(cfg.shutdown_grace, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace elapsed with requests in progress");
    }
    Ok(())
}

fn builder(cfg: &GatewayConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout)
        .max_headers(hard_header_ceiling(cfg.max_headers))
        .max_buf_size(head_buffer(cfg.max_header_bytes));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(cfg.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// hyper's read buffer for a request head: `max_header_bytes`, but at
/// least hyper's minimum of 8 KiB (smaller values make it panic).
pub(crate) fn head_buffer(max_header_bytes: usize) -> usize {
    max_header_bytes.max(8192)
}

/// Headers hyper parses into arrays on the stack; configuring more makes
/// it allocate two header arrays on the heap for every request.
const HYPER_INLINE_HEADERS: usize = 100;

/// The most headers hyper parses before refusing a request outright (with
/// a 431 written by `hyper_errors`). Between `max_headers` and this, the
/// router answers itself; keeping it at hyper's inline size keeps requests
/// free of per-request header allocations.
pub(crate) fn hard_header_ceiling(max_headers: usize) -> usize {
    max_headers.max(HYPER_INLINE_HEADERS)
}

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    first_request: Duration,
    idle: Duration,
    shutdown_grace: Duration,
}

impl Timeouts {
    fn of(cfg: &GatewayConfig) -> Self {
        Self {
            first_request: cfg.header_read_timeout,
            idle: cfg.idle_timeout,
            shutdown_grace: cfg.shutdown_grace,
        }
    }
}

/// What a connection's requests are doing, shared by its service (which
/// records it) and its driver (which closes the connection when quiet).
struct Activity {
    accepted: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `accepted` when a request last started or ended.
    last_change_ms: AtomicU64,
    any_request: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Self {
            accepted: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_change_ms: AtomicU64::new(0),
            any_request: AtomicBool::new(false),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_change_ms.store(ms, Ordering::Release);
    }

    /// Counts a request as in progress until the returned guard is dropped.
    fn start(self: &Arc<Self>) -> InFlight {
        self.any_request.store(true, Ordering::Release);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        InFlight(self.clone())
    }

    /// When the connection counts as quiet if nothing changes before; `None`
    /// while a request is in progress.
    fn quiet_at(&self, timeouts: Timeouts) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let allowed = if self.any_request.load(Ordering::Acquire) {
            timeouts.idle
        } else {
            timeouts.first_request
        };
        let last = Duration::from_millis(self.last_change_ms.load(Ordering::Acquire));
        Some(self.accepted + last + allowed)
    }
}

/// A request in progress on its connection.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs one connection to its end, closing it when it stays quiet or on
/// shutdown.
/// `close` asks the connection to finish what it is doing and end.
async fn drive<C, E>(
    conn: C,
    close: impl Fn(Pin<&mut C>),
    activity: &Activity,
    timeouts: Timeouts,
    shutdown: &CancellationToken,
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut conn = std::pin::pin!(conn);
    // Set once closing began: when the connection is dropped regardless.
    let mut drop_at: Option<Instant> = None;
    loop {
        // While a request runs, look again after an idle period: it ends by
        // `request_timeout` at the latest.
        let wake = drop_at
            .or_else(|| activity.quiet_at(timeouts))
            .unwrap_or_else(|| Instant::now() + timeouts.idle);
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = shutdown.cancelled(), if drop_at.is_none() => {
                close(conn.as_mut());
                drop_at = Some(Instant::now() + timeouts.shutdown_grace);
            }
            () = tokio::time::sleep_until(wake) => {
                if drop_at.is_some() {
                    tracing::debug!("connection did not close in time; dropped");
                    return;
                }
                if activity.quiet_at(timeouts).is_some_and(|at| at <= Instant::now()) {
                    tracing::debug!("closing a quiet connection");
                    close(conn.as_mut());
                    drop_at = Some(Instant::now() + CLOSE_GRACE);
                }
            }
        }
    }
}

/// The future answering one request on a connection.
type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// Adapts the router to one connection: tags requests with the peer address
/// (the publisher's IP, reported as `callerIP`), counts them in progress
/// until their response body is written, and marks HTTP/1 responses to
/// requests whose body was left unread with `Connection: close`.
fn connection_service(
    app: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
) -> impl Fn(Request<Incoming>) -> ResponseFuture + Clone {
    move |mut request: Request<Incoming>| {
        let in_flight = activity.start();
        request.extensions_mut().insert(ConnectInfo(peer));
        let http1 = request.version() <= Version::HTTP_11;
        let (request, body_read) = watch_body(request);
        let mut app = app.clone();
        Box::pin(async move {
            // A router is always ready, so it can be called directly.
            let response = Service::<Request<Body>>::call(&mut app, request).await?;
            let (mut parts, body) = response.into_parts();
            if http1 && !body_read.load(Ordering::Acquire) {
                parts
                    .headers
                    .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            }
            // The guard lives as long as the body: hyper drops it once the
            // body is written.
            let body = body.map_frame(move |frame| {
                let _ = &in_flight;
                frame
            });
            Ok(Response::from_parts(parts, Body::new(body)))
        })
    }
}

/// The request with a body that records, in the returned flag, when it
/// has been read to its end.
fn watch_body(request: Request<Incoming>) -> (Request<Body>, Arc<AtomicBool>) {
    let (parts, incoming) = request.into_parts();
    let done = Arc::new(AtomicBool::new(hyper::body::Body::is_end_stream(&incoming)));
    let body = Watched {
        inner: incoming,
        done: done.clone(),
    };
    (Request::from_parts(parts, Body::new(body)), done)
}

/// A request body that sets `done` once it reached its end.
struct Watched {
    inner: Incoming,
    done: Arc<AtomicBool>,
}

impl hyper::body::Body for Watched {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.done.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

//! The HTTP API: QStash v2 routes over the [`ferry_store::Store`].
//!
//! **Invariant:** this is the only crate that maps API errors to HTTP
//! statuses (see `error.rs`; the console relays them and answers only its
//! own session and CSRF checks). A publish is answered with 2xx only after
//! the store confirmed the write; bad input is a 4xx naming the problem,
//! and nothing is stored for it. The gateway never calls destinations.
//!
//! [`serve_with`] serves extra routes (the console) beside the API; every
//! request is timed by route pattern and status. A request carrying an
//! [`Authenticated`] extension acts as that tenant without a token: only
//! code in this process (the console) can set one.
//!
//! Routes that take a destination (`/v2/publish/...`, `/v2/enqueue/...`)
//! read it from the raw request target: a router path parameter would
//! percent-decode it and lose its query string. The router is served from our own hyper accept loop
//! (`serve.rs`) so connection caps, header limits, timeouts and graceful shutdown stay under our
//! control, and every answer, hyper's own refusals included (`hyper_errors.rs`), has a JSON body.
//!
//! `/metrics` is served on the API's listener unless
//! [`GatewayConfig::metrics_on_api`] is off; then [`serve_metrics`] serves it
//! on a listener of its own, which can stay on a private network.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use ferry_core::publish::Limits;
use ferry_store::Store;
use http::{Request, StatusCode};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod auth;
mod batch;
mod convert;
mod dlq;
mod error;
mod events;
mod flows;
mod hyper_errors;
mod keys;
mod messages;
mod metrics;
mod placement;
mod publish;
mod query;
mod queues;
mod schedules;
mod serve;
mod topics;
mod workflow_events;
mod workflow_invoke;
mod workflow_runs;
mod workflows;

pub use auth::{Authenticated, TokenEntry, Tokens};
pub use error::ApiError;
pub use metrics::Metrics;

/// Limits and timeouts of the HTTP API.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Largest accepted message body; larger gets 413.
    pub max_body_bytes: usize,
    /// The bound on messages waiting for delivery (0: none), reported in
    /// `Burst-RateLimit-Limit` when it refuses a publish.
    pub max_backlog: u64,
    /// The bound on one tenant's messages waiting for delivery (0: none),
    /// reported the same way.
    pub max_backlog_per_tenant: u64,
    /// Bounds on publish options (retries, delay, timeout, headers).
    pub limits: Limits,
    /// Most request headers; more gets 431.
    pub max_headers: usize,
    /// Largest request head (line and headers) in bytes.
    pub max_header_bytes: usize,
    /// How long a connection may take to deliver its first request head
    /// (HTTP/1 and h2c alike), and, once bytes of a later HTTP/1 head
    /// arrived, that head.
    pub header_read_timeout: Duration,
    /// A connection without a request in progress for this long is closed.
    pub idle_timeout: Duration,
    /// Connections open at once per listener; at the cap, accepting waits.
    pub max_connections: usize,
    /// Whole-request timeout, body included; slower requests get 408.
    pub request_timeout: Duration,
    pub max_concurrent_requests: usize,
    /// Largest `/v2/batch` body; larger is refused with 413, from its
    /// `Content-Length` before reading or as soon as it is exceeded.
    pub max_batch_bytes: usize,
    /// Serve `/metrics` on the API's listener (off when it has its own).
    pub metrics_on_api: bool,
    /// How long shutdown waits for requests in progress.
    pub shutdown_grace: Duration,
    /// Testing aid: `Upstash-Cron` may have a leading seconds field.
    pub allow_second_cron: bool,
    /// Largest step list of a workflow run, in bytes; a message that would
    /// make it larger gets 412.
    pub workflow_max_run_bytes: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 10 * 1024 * 1024,
            max_backlog: 0,
            max_backlog_per_tenant: 0,
            limits: Limits::default(),
            max_headers: 64,
            max_header_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 10_000,
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 1024,
            max_batch_bytes: 16 * 1024 * 1024,
            metrics_on_api: true,
            shutdown_grace: Duration::from_secs(30),
            allow_second_cron: false,
            workflow_max_run_bytes: 16 * 1024 * 1024,
        }
    }
}

/// What every handler can reach.
pub struct AppState<S> {
    pub store: S,
    pub cfg: Arc<GatewayConfig>,
    pub tokens: Arc<Tokens>,
    pub metrics: Metrics,
    /// Rendered by `GET /metrics`; holds every component's metrics.
    pub registry: Arc<Registry>,
}

impl<S: Clone> Clone for AppState<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            cfg: self.cfg.clone(),
            tokens: self.tokens.clone(),
            metrics: self.metrics.clone(),
            registry: self.registry.clone(),
        }
    }
}

pub fn router<S: Store>(state: AppState<S>) -> Router {
    let router = Router::new()
        .route("/v2/publish/", post(publish::handle::<S>))
        .route("/v2/publish/{*destination}", post(publish::handle::<S>))
        .route("/v2/messages", delete(messages::cancel_many::<S>))
        .route(
            "/v2/messages/{id}",
            get(messages::get::<S>).delete(messages::cancel::<S>),
        )
        .route("/v2/batch", post(batch::handle::<S>))
        .route("/v2/enqueue/{*rest}", post(queues::enqueue::<S>))
        .route(
            "/v2/queues",
            get(queues::list::<S>).post(queues::upsert::<S>),
        )
        .route(
            "/v2/queues/{name}",
            get(queues::get::<S>).delete(queues::delete::<S>),
        )
        .route("/v2/queues/{name}/pause", post(queues::pause::<S>))
        .route("/v2/queues/{name}/resume", post(queues::resume::<S>))
        .route("/v2/topics", get(topics::list::<S>))
        .route(
            "/v2/topics/{name}",
            get(topics::get::<S>).delete(topics::delete::<S>),
        )
        .route(
            "/v2/topics/{name}/endpoints",
            post(topics::upsert_endpoints::<S>).delete(topics::remove_endpoints::<S>),
        )
        .route("/v2/schedules", get(schedules::list::<S>))
        .route("/v2/schedules/{*rest}", any(schedules::route::<S>))
        .route("/v2/flowControl", get(flows::list::<S>))
        .route("/v2/flowControl/{key}", get(flows::get::<S>))
        .route("/v2/flowControl/{key}/{action}", post(flows::act::<S>))
        .route("/v2/globalParallelism", get(flows::global_parallelism::<S>))
        .route("/v2/events", get(events::events::<S>))
        .route("/v2/logs", get(events::logs::<S>))
        .route("/v2/keys", get(keys::get::<S>))
        .route("/v2/keys/rotate", post(keys::rotate::<S>))
        .route("/v2/dlq", get(dlq::list::<S>).delete(dlq::delete_many::<S>))
        .route("/v2/dlq/retry", post(dlq::retry_many::<S>))
        .route("/v2/dlq/retry/{id}", post(dlq::retry::<S>))
        .route("/v2/dlq/{id}", get(dlq::get::<S>).delete(dlq::delete::<S>))
        .route(
            "/v2/workflows/runs/{id}",
            get(workflows::steps::<S>).delete(workflows::end::<S>),
        )
        .route("/v2/wait/{event}", post(workflow_events::wait::<S>))
        .route("/v2/notify/{event}", post(workflow_events::notify::<S>))
        .route(
            "/v2/notify/{run}/{event}",
            post(workflow_events::notify_run::<S>),
        )
        .route("/v2/waiters/{event}", get(workflow_events::waiters::<S>))
        .route(
            "/v2/workflows/hooks/{user}/{run}/{event}",
            any(workflow_events::hook::<S>),
        )
        .route("/v2/workflows/runs", delete(workflow_runs::cancel::<S>))
        .route("/v2/workflows/events", get(workflow_runs::logs::<S>))
        .route("/v2/workflows/logs", get(workflow_runs::logs::<S>))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready::<S>));
    let router = if state.cfg.metrics_on_api {
        router.route("/metrics", get(render_metrics::<S>))
    } else {
        router
    };
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.cfg.clone(),
            limit_headers,
        ))
        .with_state(state)
}

async fn method_not_allowed(request: Request<axum::body::Body>) -> Response {
    ApiError::Client(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response()
}

/// Answers too many headers with a JSON 431. hyper enforces a higher hard
/// ceiling itself (see `serve`), where it can only answer with an empty body.
async fn limit_headers(
    State(cfg): State<Arc<GatewayConfig>>,
    request: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    let n = request.headers().len();
    if n > cfg.max_headers {
        return ApiError::Client(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "too many request headers: {n} (at most {})",
                cfg.max_headers
            ),
        )
        .into_response();
    }
    next.run(request).await
}

/// Times a request into the request metrics, labelled by the route
/// pattern it matched (`unmatched` for none).
async fn track_request(
    State(metrics): State<Metrics>,
    request: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    metrics.observe_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn not_found(request: Request<axum::body::Body>) -> Response {
    ApiError::not_found(format!(
        "no route for {} {}",
        request.method(),
        request.uri().path()
    ))
    .into_response()
}

async fn ready<S: Store>(State(state): State<AppState<S>>) -> Response {
    match state.store.ping().await {
        Ok(()) => "ok".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: store unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unreachable").into_response()
        }
    }
}

async fn render_metrics<S: Store>(State(state): State<AppState<S>>) -> Response {
    metrics_text(&state.registry)
}

fn metrics_text(registry: &Registry) -> Response {
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, registry) {
        return ApiError::Internal(format!("encoding metrics: {e}")).into_response();
    }
    (
        [(
            http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Serves `state` on `listener` until `shutdown` fires, then lets requests
/// in progress finish for at most `shutdown_grace`.
pub async fn serve<S: Store>(
    listener: TcpListener,
    state: AppState<S>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_with(listener, state, Router::new(), shutdown).await
}

/// Serves the API with `extra` routes beside it (the console), as
/// [`serve`] does. Every request, the extra ones included, is counted in
/// the request metrics under its route pattern.
pub async fn serve_with<S: Store>(
    listener: TcpListener,
    state: AppState<S>,
    extra: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let cfg = state.cfg.clone();
    let metrics = state.metrics.clone();
    let app = router(state)
        .merge(extra)
        .layer(axum::middleware::from_fn_with_state(
            metrics.clone(),
            track_request,
        ))
        .layer(axum::middleware::from_fn_with_state(
            cfg.request_timeout,
            limit_time,
        ))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            cfg.max_concurrent_requests,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked));
    tracing::info!(addr = %listener.local_addr()?, "gateway listening");
    serve::accept_loop(listener, app, &cfg, metrics.connections("api"), shutdown).await
}

/// Serves `GET /metrics` alone on `listener`, for a gateway whose
/// [`GatewayConfig::metrics_on_api`] is off, with the API's connection
/// limits and timeouts.
pub async fn serve_metrics(
    listener: TcpListener,
    cfg: Arc<GatewayConfig>,
    metrics: Metrics,
    registry: Arc<Registry>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                async move { metrics_text(&registry) }
            }),
        )
        .fallback(not_found)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked));
    tracing::info!(addr = %listener.local_addr()?, "metrics listening");
    serve::accept_loop(
        listener,
        app,
        &cfg,
        metrics.connections("metrics"),
        shutdown,
    )
    .await
}

/// Answers a request that outlived `request_timeout` with a JSON 408.
async fn limit_time(
    State(limit): State<Duration>,
    request: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Client(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request took longer than the {}-second limit",
                limit.as_secs_f64()
            ),
        )
        .into_response(),
    }
}

/// A handler that panicked: a bug, logged and answered like any other.
fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    ApiError::Internal(format!("handler panicked: {detail}")).into_response()
}

/// Now, in the Unix milliseconds the store shares with other processes.
pub(crate) fn now_ms() -> u64 {
    ferry_core::clock::unix_ms(SystemTime::now())
}

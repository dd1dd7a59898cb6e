//! The console: web pages for the people who operate Ferry, served by the
//! gateway under `/console`.
//!
//! Pages are rendered on the server (askama templates, which escape every
//! value) and work without JavaScript; a small script embedded in the
//! binary adds confirmations, the live follow of the log and the refresh
//! of the overview. Every asset is embedded and the Content-Security-Policy
//! allows nothing from elsewhere, no inline script and no inline style.
//!
//! **Invariant:** the console changes nothing itself. Every action (retry,
//! delete, cancel, pause, pin, rotate) and every read the QStash API offers
//! is a request to the API router, sent in-process on behalf of the
//! session's tenant ([`ferry_gateway::Authenticated`]), so the console has
//! exactly the API's validation, limits and tenant isolation. It reads the
//! store directly only for what the API has no route for (the list of
//! pending messages, the backlog and the activity behind the charts), always
//! for the session's tenant. Errors of the API are shown with the API's
//! status; the console sets statuses of its own only for its session,
//! CSRF and origin checks, and for pages that do not exist.
//!
//! Operators log in with a tenant's API token. The session is a signed
//! cookie (see `session`): it names the token by its SHA-256 digest, never
//! the token itself, so removing a token from the configuration ends its
//! sessions too.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::{get, post};
use ferry_gateway::Tokens;
use ferry_store::Store;

mod activity;
mod api;
mod assets;
mod chart;
mod format;
mod page;
mod pages;
mod sampler;
mod session;

pub use sampler::{Sampler, Samples};
pub use session::SessionSecret;

/// How the console behaves; every value comes from configuration.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// How long a login lasts.
    pub session_ttl: Duration,
    /// Mark the session cookie `Secure` on every response, not only on
    /// requests that arrived over TLS (`X-Forwarded-Proto: https`).
    pub force_secure_cookie: bool,
    /// Signs session cookies; gateways behind one address need the same.
    pub session_secret: SessionSecret,
}

/// What every console handler can reach; clones share it.
pub struct Console<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Console<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<S> {
    store: S,
    api: api::Api,
    tokens: Arc<Tokens>,
    cfg: ConsoleConfig,
    samples: Samples,
    activity: activity::Activity,
}

impl<S: Store> Console<S> {
    /// A console over `store` that sends its actions to `api`, the gateway's
    /// router (`ferry_gateway::router`), and charts what `samples` holds.
    pub fn new(
        store: S,
        api: Router,
        tokens: Arc<Tokens>,
        cfg: ConsoleConfig,
        samples: Samples,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                api: api::Api::new(api),
                tokens,
                cfg,
                samples,
                activity: activity::Activity::default(),
            }),
        }
    }
}

/// The console's routes, all under `/console`, to merge beside the API
/// (`ferry_gateway::serve_with`).
pub fn router<S: Store>(console: Console<S>) -> Router {
    use pages::{dlq, flows, groups, keys, logs, messages, overview, queues, schedules};
    let operator_routes = Router::new()
        .route("/console", get(overview::page::<S>))
        .route("/console/overview/panel", get(overview::panel_only::<S>))
        .route("/console/dlq", get(dlq::list::<S>))
        .route(
            "/console/dlq/bulk",
            get(dlq::bulk_confirm::<S>).post(dlq::bulk::<S>),
        )
        .route("/console/dlq/{id}", get(dlq::detail::<S>))
        .route("/console/dlq/{id}/body", get(dlq::body::<S>))
        .route("/console/dlq/{id}/retry", post(dlq::retry::<S>))
        .route("/console/dlq/{id}/delete", post(dlq::delete::<S>))
        .route("/console/logs", get(logs::page::<S>))
        .route("/console/logs/rows", get(logs::rows::<S>))
        .route("/console/messages", get(messages::list::<S>))
        .route("/console/messages/{id}", get(messages::detail::<S>))
        .route("/console/messages/{id}/body", get(messages::body::<S>))
        .route("/console/messages/{id}/cancel", post(messages::cancel::<S>))
        .route("/console/queues", get(queues::page::<S>))
        .route("/console/queues/{name}/{action}", post(queues::act::<S>))
        .route("/console/schedules", get(schedules::page::<S>))
        .route(
            "/console/schedules/{id}/{action}",
            post(schedules::act::<S>),
        )
        .route("/console/groups", get(groups::page::<S>))
        .route("/console/flows", get(flows::page::<S>))
        .route("/console/flows/{key}/{action}", post(flows::act::<S>))
        .route("/console/keys", get(keys::page::<S>))
        .route(
            "/console/keys/rotate",
            get(keys::rotate_confirm).post(keys::rotate::<S>),
        )
        .route("/console/logout", post(session::logout::<S>))
        .route_layer(axum::middleware::from_fn_with_state(
            console.clone(),
            session::require_csrf::<S>,
        ));
    Router::new()
        .route(
            "/console/login",
            get(session::login_page).post(session::login::<S>),
        )
        .route("/console/assets/{name}", get(assets::serve))
        .merge(operator_routes)
        .route("/console/{*rest}", get(page::not_found))
        .layer(axum::middleware::from_fn(page::security_headers))
        .with_state(console)
}

/// Now, in the Unix milliseconds the store uses.
fn now_ms() -> u64 {
    ferry_core::clock::unix_ms(SystemTime::now())
}

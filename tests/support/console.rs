//! The console for a test's Ferry: the binary's own wiring, with the
//! backlog sampled every second so charts fill while a test runs.

use std::time::Duration;

use ferry_core::ids::TenantId;
use ferry_gateway::AppState;
use ferry_store::RedisStore;
use prometheus_client::registry::Registry;

use crate::ferry::{OTHER_TENANT, TENANT};

/// A sampler of both test tenants' backlog, its gauges in `registry`.
pub fn sampler(store: &RedisStore, registry: &mut Registry) -> ferry_console::Sampler<RedisStore> {
    let tenants = [TENANT, OTHER_TENANT]
        .into_iter()
        .map(|t| TenantId::new(t).expect("valid tenant name"))
        .collect();
    ferry_console::Sampler::new(store.clone(), tenants, Duration::from_secs(1), registry)
}

/// The console's routes over `state`, as `ferry serve` mounts them.
pub fn routes(state: &AppState<RedisStore>, samples: ferry_console::Samples) -> axum::Router {
    let settings = ferry::config::ConsoleSettings {
        enabled: true,
        session_ttl: Duration::from_secs(3600),
        secure_cookie: false,
        session_secret: None,
    };
    ferry::server::console_routes(&settings, state, samples)
}

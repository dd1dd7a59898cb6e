//! `ferry serve`, `ferry gateway` and `ferry deliver`: connect the store,
//! make sure every tenant has signing keys, then run the chosen roles until
//! SIGTERM/SIGINT. A gateway also samples the backlog for `/metrics` (and
//! the console's charts) and, when configured, serves the console.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferry_core::signing::SigningKey;
use ferry_gateway::{AppState, GatewayConfig, TokenEntry, Tokens};
use ferry_store::{KeyPair, RedisStore, Store};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConsoleSettings, TenantSettings};

/// How often a gateway samples the backlog.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// Which parts of Ferry this process runs.
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    pub gateway: bool,
    pub deliver: bool,
}

pub async fn run(config: Config, roles: Roles) -> anyhow::Result<()> {
    let store = RedisStore::connect(config.redis_config())
        .await
        .context("connecting to redis (check redis.url and that Redis is running)")?;
    store.claim_partition_count().await?;
    let shutdown = CancellationToken::new();
    crate::signal::cancel_on_signal(shutdown.clone());
    let mut registry = Registry::default();
    store.register_metrics(&mut registry);
    run_with_store(store, registry, &config, roles, shutdown).await
}

/// Runs the roles on any store, adding their metrics to `registry` (which
/// may hold the store's); `ferry dev` uses it with its own store.
pub async fn run_with_store<S: Store>(
    store: S,
    mut registry: Registry,
    config: &Config,
    roles: Roles,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    ensure_signing_keys(&store, &config.tenants).await?;
    let gateway_metrics = ferry_gateway::Metrics::register(&mut registry);
    let deliver_metrics = ferry_deliver::Metrics::register(&mut registry);
    let sampler = roles.gateway.then(|| {
        let tenants = config.tenants.iter().map(|t| t.name.clone()).collect();
        ferry_console::Sampler::new(store.clone(), tenants, SAMPLE_EVERY, &mut registry)
    });
    let registry = Arc::new(registry);
    let mut tasks = JoinSet::new();
    if let Some(sampler) = sampler {
        let listen = config.gateway.listen;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding the gateway to {listen} (gateway.listen)"))?;
        let state = AppState {
            store: store.clone(),
            cfg: Arc::new(gateway_config(config)),
            tokens: Arc::new(tokens(&config.tenants)),
            metrics: gateway_metrics,
            registry: registry.clone(),
        };
        if let Some(address) = config.gateway.metrics_listen {
            let listener = TcpListener::bind(address).await.with_context(|| {
                format!("binding the metrics listener to {address} (gateway.metrics_listen)")
            })?;
            let (cfg, metrics) = (state.cfg.clone(), state.metrics.clone());
            let (registry, shutdown) = (registry.clone(), shutdown.clone());
            tasks.spawn(async move {
                ferry_gateway::serve_metrics(listener, cfg, metrics, registry, shutdown)
                    .await
                    .context("metrics listener failed")
            });
        }
        let console = console_routes(&config.console, &state, sampler.samples());
        let sampling = shutdown.clone();
        tasks.spawn(async move {
            sampler.run(sampling).await;
            Ok(())
        });
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            ferry_gateway::serve_with(listener, state, console, shutdown)
                .await
                .context("gateway failed")
        });
    }
    if roles.deliver {
        let cfg = config.deliver.clone();
        let store = store.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            ferry_deliver::run(store, cfg, deliver_metrics, shutdown)
                .await
                .context("deliverer failed")
        });
    }
    // One role failing stops the others: a half-running relay is worse
    // than a restart.
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.context("a role panicked").and_then(|r| r);
        if let Err(e) = outcome {
            shutdown.cancel();
            if result.is_ok() {
                result = Err(e);
            }
        }
    }
    result
}

/// The console's routes when it is enabled, else none.
pub fn console_routes<S: Store>(
    settings: &ConsoleSettings,
    state: &AppState<S>,
    samples: ferry_console::Samples,
) -> axum::Router {
    if !settings.enabled {
        return axum::Router::new();
    }
    let cfg = ferry_console::ConsoleConfig {
        session_ttl: settings.session_ttl,
        force_secure_cookie: settings.secure_cookie,
        session_secret: settings
            .session_secret
            .clone()
            .unwrap_or_else(ferry_console::SessionSecret::random),
    };
    let console = ferry_console::Console::new(
        state.store.clone(),
        ferry_gateway::router(state.clone()),
        state.tokens.clone(),
        cfg,
        samples,
    );
    ferry_console::router(console)
}

async fn ensure_signing_keys<S: Store>(
    store: &S,
    tenants: &[TenantSettings],
) -> anyhow::Result<()> {
    for tenant in tenants {
        let initial = match &tenant.initial_signing_keys {
            Some((current, next)) => KeyPair {
                current: current.clone(),
                next: next.clone(),
            },
            None => KeyPair {
                current: SigningKey::generate(),
                next: SigningKey::generate(),
            },
        };
        store
            .ensure_signing_keys(&tenant.name, &initial)
            .await
            .with_context(|| format!("storing the signing keys of tenant {}", tenant.name))?;
    }
    Ok(())
}

fn tokens(tenants: &[TenantSettings]) -> Tokens {
    Tokens::new(
        tenants
            .iter()
            .flat_map(|t| {
                t.token_sha256.iter().map(|digest| TokenEntry {
                    digest: *digest,
                    tenant: t.name.clone(),
                })
            })
            .collect(),
    )
}

fn gateway_config(config: &Config) -> GatewayConfig {
    let g = &config.gateway;
    GatewayConfig {
        max_body_bytes: g.max_body_bytes,
        max_backlog: g.max_backlog,
        max_backlog_per_tenant: g.max_backlog_per_tenant,
        limits: g.limits.clone(),
        max_headers: g.max_headers,
        max_header_bytes: g.max_header_bytes,
        header_read_timeout: g.header_read_timeout,
        idle_timeout: g.idle_timeout,
        max_connections: g.max_connections,
        request_timeout: g.request_timeout,
        max_concurrent_requests: g.max_concurrent_requests,
        max_batch_bytes: g.max_batch_bytes,
        metrics_on_api: g.metrics_listen.is_none(),
        shutdown_grace: g.shutdown_grace,
        allow_second_cron: g.allow_second_cron,
        workflow_max_run_bytes: g.workflow_max_run_bytes,
    }
}

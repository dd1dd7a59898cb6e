//! The delivery daemon: read ready messages, sign and send each attempt,
//! and record its outcome: delivered, retry later, or dead-letter.
//!
//! **Invariant:** an entry is acknowledged only in the same atomic store
//! call that records its outcome. A crash anywhere before that leaves the
//! entry pending, and another deliverer reclaims it after
//! `reclaim_min_idle`; that is how at-least-once delivery is kept, not an
//! emergency path.
//!
//! Per partition, [`run`] starts four loops:
//! - the reader takes permits from a global semaphore *before* reading, and
//!   reads only as many entries as it holds permits, so in-flight work is
//!   bounded; each entry becomes a task on a `TaskTracker`;
//! - the promoter moves due delayed messages (delays, retry backoff) to the
//!   ready stream, sleeping until the next one is due;
//! - the scheduler fires due schedule ticks, each creating its message in
//!   the same store step that moves the schedule to its next tick, so two
//!   deliverers never fire one tick twice;
//! - the reclaimer takes over entries other deliverers left pending.
//!
//! Successful deliveries are acknowledged in batches by a per-partition
//! recorder; every other outcome is one store call. On shutdown the loops
//! stop reading, and attempts in flight get `shutdown_grace` to finish.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ferry_core::ssrf::AddressPolicy;
use ferry_store::Store;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod attempt;
mod callbacks;
pub mod client;
mod config;
mod hosts;
mod metrics;
mod recorder;
mod signing_keys;
mod worker;

pub use config::{ConfigError, DeliverConfig, RECLAIM_MARGIN};
pub use metrics::Metrics;

/// Why the deliverer could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid deliverer configuration: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Client(#[from] client::ClientError),
}

/// State shared by every loop and attempt of one deliverer.
pub(crate) struct Shared<S> {
    pub(crate) store: S,
    pub(crate) cfg: DeliverConfig,
    pub(crate) client: reqwest::Client,
    pub(crate) policy: Arc<AddressPolicy>,
    pub(crate) hosts: hosts::HostLimits,
    pub(crate) keys: signing_keys::KeyCache,
    pub(crate) metrics: Metrics,
    /// Unique per process; names this deliverer in the consumer group, and
    /// the ownership checks that fence off paused deliverers rely on it.
    pub(crate) consumer: String,
    pub(crate) tracker: TaskTracker,
    pub(crate) permits: Arc<Semaphore>,
}

/// Runs the deliverer until `shutdown` fires, then drains attempts in flight
/// for at most `cfg.shutdown_grace`.
pub async fn run<S: Store>(
    store: S,
    cfg: DeliverConfig,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    cfg.validate()?;
    let policy = Arc::new(AddressPolicy::new(cfg.allow_networks.clone()));
    let client = client::build(
        &client::ClientConfig {
            connect_timeout: cfg.connect_timeout,
            attempt_timeout: cfg.max_timeout,
            pool_idle_timeout: Duration::from_secs(60),
            pool_max_idle_per_host: cfg.max_in_flight_per_host,
            user_agent: attempt::USER_AGENT.to_owned(),
        },
        policy.clone(),
    )?;
    let shared = Arc::new(Shared {
        hosts: hosts::HostLimits::new(cfg.max_in_flight_per_host),
        keys: signing_keys::KeyCache::new(cfg.key_cache_ttl),
        metrics,
        consumer: consumer_name(),
        tracker: TaskTracker::new(),
        permits: Arc::new(Semaphore::new(cfg.max_in_flight)),
        store,
        cfg,
        client,
        policy,
    });
    tracing::info!(consumer = %shared.consumer, partitions = shared.store.partitions(), "deliverer started");
    worker::run_partitions(shared, shutdown).await;
    Ok(())
}

/// `<host>-<pid>-<random>`: readable in `XINFO CONSUMERS`, unique across
/// restarts so a new process never inherits a dead one's pending entries
/// except through reclaim.
fn consumer_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "ferry".to_owned());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..8])
}

/// Now, in the Unix milliseconds the store shares with other processes.
pub(crate) fn now_ms() -> u64 {
    ferry_core::clock::unix_ms(SystemTime::now())
}

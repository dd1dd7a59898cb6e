//! The delivery daemon: read ready messages, sign and send each attempt,
//! and record its outcome: delivered, retry later, or dead-letter.
//!
//! **Invariant:** an entry is acknowledged only in the same atomic store
//! call that records its outcome, and only while this deliverer's lease
//! lives. A crash anywhere before that leaves the entry pending; once the
//! lease expires, another deliverer takes it over. That is how
//! at-least-once delivery is kept, not an emergency path.
//!
//! The pieces:
//! - `lease`: the name this deliverer reads under and the
//!   heartbeat that keeps its lease alive. Attempts may run for hours
//!   (`max_timeout`, 2 h by default) because liveness is the lease's job, not
//!   the entries' idle time; a deliverer that dies or stops is taken over
//!   about a lease lifetime later.
//! - per partition, four loops (`worker`): the reader takes
//!   budget permits *before* reading, so this process never holds more than
//!   `max_in_flight` entries; the promoter moves due delayed messages to the
//!   ready stream; the scheduler fires due schedule ticks; the reclaimer
//!   takes over entries of deliverers whose lease expired.
//! - `lanes`: per destination, at most
//!   `max_in_flight_per_host` attempts run; the rest wait in memory, unless
//!   the destination is slow enough that waiting would tie up the budget,
//!   in which case they go back to Redis for about the time a slot needs.
//! - successful deliveries are acknowledged in batches by a per-partition
//!   recorder; every other outcome is one store call.
//!
//! On shutdown the loops stop reading, entries waiting in lanes are left,
//! attempts in flight get `shutdown_grace` to finish, and then the lease is
//! given up so other deliverers take over whatever is left at once.

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
mod lanes;
mod lease;
mod metrics;
mod recorder;
mod signing_keys;
mod worker;

pub use config::{ConfigError, DeliverConfig, MIN_LEASE_TTL};
pub use metrics::Metrics;

/// Why the deliverer could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid deliverer configuration: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Client(#[from] client::ClientError),
    #[error("cannot take a lease: {0}")]
    Lease(#[source] ferry_store::Error),
}

/// State shared by every loop and attempt of one deliverer.
pub(crate) struct Shared<S> {
    pub(crate) store: S,
    pub(crate) cfg: DeliverConfig,
    pub(crate) client: reqwest::Client,
    pub(crate) policy: Arc<AddressPolicy>,
    pub(crate) lanes: lanes::Lanes<worker::Attempt<S>>,
    pub(crate) keys: signing_keys::KeyCache,
    pub(crate) metrics: Metrics,
    pub(crate) lease: lease::Lease,
    pub(crate) tracker: TaskTracker,
    /// The budget: one permit per entry this process holds.
    pub(crate) permits: Arc<Semaphore>,
}

/// Runs the deliverer until `shutdown` fires, then drains attempts in flight
/// for at most `cfg.shutdown_grace` and gives its lease up.
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
    let lease = lease::Lease::acquire(&store, cfg.lease_ttl, cfg.heartbeat_interval())
        .await
        .map_err(Error::Lease)?;
    let shared = Arc::new(Shared {
        lanes: lanes::Lanes::new(cfg.max_in_flight_per_host, cfg.lane_max_wait),
        keys: signing_keys::KeyCache::default(),
        metrics,
        lease,
        tracker: TaskTracker::new(),
        permits: Arc::new(Semaphore::new(cfg.max_in_flight)),
        store,
        cfg,
        client,
        policy,
    });
    tracing::info!(consumer = %shared.lease.current().name, partitions = shared.store.partitions(), "deliverer started");
    // The heartbeat and the key cache outlive the loops: attempts finishing
    // during the shutdown grace still need a live lease and their keys.
    let background = CancellationToken::new();
    let heartbeat = tokio::spawn({
        let shared = shared.clone();
        let background = background.clone();
        async move {
            shared
                .lease
                .keep_alive(&shared.store, &shared.metrics, &background)
                .await;
        }
    });
    let rotations = tokio::spawn({
        let shared = shared.clone();
        let background = background.clone();
        async move {
            shared
                .keys
                .follow_rotations(&shared.store, &background)
                .await;
        }
    });
    worker::run_partitions(shared.clone(), shutdown).await;
    background.cancel();
    let _ = tokio::join!(heartbeat, rotations);
    shared.lease.release(&shared.store).await;
    tracing::info!("deliverer stopped");
    Ok(())
}

/// Now, in the Unix milliseconds the store shares with other processes.
pub(crate) fn now_ms() -> u64 {
    ferry_core::clock::unix_ms(SystemTime::now())
}

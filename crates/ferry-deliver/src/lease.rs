//! This deliverer's identity and the lease that keeps it alive in Redis.
//!
//! The consumer name under which entries are read is an [`Identity`]. It is
//! valid while its lease lives; the heartbeat renews the lease three times
//! per lifetime. When a renewal finds the lease gone (this process was
//! paused, or cut off from Redis, for longer than the lease), or no renewal
//! succeeded for a whole lifetime, the identity is dead for good: Redis
//! never revives a lease, and other deliverers take over what was read
//! under it. The deliverer then continues under a new name; work it still
//! holds under the old one is dropped, because recording its outcome would
//! be refused anyway (see the store's `leases` module).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ferry_store::Store;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Longest pause between attempts to take a new name after losing one.
const MAX_ACQUIRE_BACKOFF: Duration = Duration::from_secs(5);

/// A consumer name and whether its lease is still believed alive.
#[derive(Debug)]
pub(crate) struct Identity {
    pub(crate) name: Arc<str>,
    lost: CancellationToken,
}

impl Identity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            name: consumer_name().into(),
            lost: CancellationToken::new(),
        })
    }

    /// True once the lease is known or presumed gone.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }
}

/// The current identity, replaced when its lease is lost.
#[derive(Debug)]
pub(crate) struct Lease {
    current: RwLock<Arc<Identity>>,
    ttl: Duration,
    heartbeat: Duration,
}

impl Lease {
    /// Takes a first name and its lease.
    pub(crate) async fn acquire<S: Store>(
        store: &S,
        ttl: Duration,
        heartbeat: Duration,
    ) -> ferry_store::Result<Self> {
        let identity = Identity::new();
        store.acquire_lease(&identity.name, ttl).await?;
        Ok(Self {
            current: RwLock::new(identity),
            ttl,
            heartbeat,
        })
    }

    pub(crate) fn current(&self) -> Arc<Identity> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Renews the lease every heartbeat until `shutdown`; on loss, takes a
    /// new name (retrying until it has one or shutdown comes).
    pub(crate) async fn keep_alive<S: Store>(
        &self,
        store: &S,
        metrics: &Metrics,
        shutdown: &CancellationToken,
    ) {
        let mut last_renewed = Instant::now();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.heartbeat) => {}
            }
            let identity = self.current();
            match store.renew_lease(&identity.name, self.ttl).await {
                Ok(true) => {
                    last_renewed = Instant::now();
                    continue;
                }
                Ok(false) => {
                    tracing::warn!(consumer = %identity.name, "lease expired (this process was paused or cut off from redis); continuing under a new name, other deliverers take over what it held");
                }
                // Redis may be back before the lease runs out.
                Err(e) if last_renewed.elapsed() < self.ttl => {
                    tracing::warn!(error = %e, consumer = %identity.name, "renewing the lease failed; retrying");
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, consumer = %identity.name, "no lease renewal for a whole lease lifetime; presuming it lost and continuing under a new name");
                }
            }
            metrics.leases_lost.inc();
            identity.lost.cancel();
            if !self.replace(store, shutdown).await {
                return;
            }
            last_renewed = Instant::now();
        }
    }

    /// Takes a new name; false when shutdown came first.
    async fn replace<S: Store>(&self, store: &S, shutdown: &CancellationToken) -> bool {
        let mut backoff = Duration::from_millis(100);
        loop {
            let identity = Identity::new();
            match store.acquire_lease(&identity.name, self.ttl).await {
                Ok(()) => {
                    tracing::info!(consumer = %identity.name, "deliverer continues under a new name");
                    *self.current.write().unwrap_or_else(|e| e.into_inner()) = identity;
                    return true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take a new lease; retrying");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_ACQUIRE_BACKOFF);
        }
    }

    /// Gives the lease up, so what this deliverer still holds is taken over
    /// at once rather than when the lease would have expired.
    pub(crate) async fn release<S: Store>(&self, store: &S) {
        let identity = self.current();
        identity.lost.cancel();
        if let Err(e) = store.release_lease(&identity.name).await {
            tracing::warn!(error = %e, consumer = %identity.name, "could not give the lease up; what this deliverer held is taken over when it expires");
        }
    }
}

/// `<host>-<pid>-<random>`: readable in `XINFO CONSUMERS`, and never reused,
/// so a name whose lease was lost cannot come back.
fn consumer_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "ferry".to_owned());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..8])
}

//! The tenants' signing keys, cached so that signing an attempt costs no
//! Redis round trip, and dropped the moment any tenant's keys rotate.
//!
//! A rotation is announced by the store ([`Store::watch_key_rotations`]);
//! [`KeyCache::follow_rotations`] listens and bumps an epoch on each one.
//! Keys cached under an older epoch are read again, so the delivery after a
//! rotation is signed with the new current key from every deliverer: a
//! receiver configured with only the new pair accepts it. While the
//! subscription is down, rotations could be missed, so the cache is not
//! used at all and every attempt reads its tenant's keys.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ferry_core::ids::TenantId;
use ferry_store::{KeyPair, KeyRotations, Store};
use tokio_util::sync::CancellationToken;

/// How often a tenant without keys is reported, however many of its
/// messages are deferred meanwhile.
const MISSING_REPORT_INTERVAL: Duration = Duration::from_secs(60);
/// Longest pause before subscribing again after the subscription broke.
const MAX_RESUBSCRIBE_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    /// Bumped on every rotation and every (re)subscription.
    epoch: AtomicU64,
    /// Whether rotations are being heard; the cache is used only then.
    listening: AtomicBool,
    /// Shared, so a hit costs a reference count rather than two key copies.
    entries: RwLock<HashMap<TenantId, (Arc<KeyPair>, u64)>>,
    /// When each tenant was last reported as having no keys.
    missing_reported: Mutex<HashMap<TenantId, Instant>>,
}

impl KeyCache {
    /// The tenant's keys, or `None` when the tenant has none stored.
    pub(crate) async fn get<S: Store>(
        &self,
        store: &S,
        tenant: &TenantId,
    ) -> ferry_store::Result<Option<Arc<KeyPair>>> {
        // The epoch is taken before the read: a rotation during the read
        // leaves the entry already stale.
        let epoch = self.epoch.load(Ordering::Acquire);
        if let Some(keys) = self.fresh(tenant, epoch) {
            return Ok(Some(keys));
        }
        let Some(keys) = store.signing_keys(tenant).await? else {
            return Ok(None);
        };
        let keys = Arc::new(keys);
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.insert(tenant.clone(), (keys.clone(), epoch));
        Ok(Some(keys))
    }

    fn fresh(&self, tenant: &TenantId, epoch: u64) -> Option<Arc<KeyPair>> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (keys, cached_at) = entries.get(tenant)?;
        (*cached_at == epoch).then(|| Arc::clone(keys))
    }

    fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Listens for rotations until `shutdown`, subscribing again whenever the
    /// subscription breaks.
    pub(crate) async fn follow_rotations<S: Store>(&self, store: &S, shutdown: &CancellationToken) {
        let mut backoff = Duration::ZERO;
        loop {
            match store.watch_key_rotations().await {
                Ok(mut rotations) => {
                    backoff = Duration::ZERO;
                    // Whatever happened before the subscription is unknown.
                    self.invalidate();
                    self.listening.store(true, Ordering::Release);
                    let ended = tokio::select! {
                        () = shutdown.cancelled() => None,
                        ended = self.apply_rotations(&mut rotations) => Some(ended),
                    };
                    self.listening.store(false, Ordering::Release);
                    match ended {
                        None => return,
                        Some(e) => {
                            tracing::warn!(error = %e, "key rotation subscription broke; reading signing keys for every attempt until it is back");
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot subscribe to key rotations; reading signing keys for every attempt meanwhile");
                    backoff =
                        (backoff * 2).clamp(Duration::from_millis(100), MAX_RESUBSCRIBE_BACKOFF);
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
        }
    }

    /// Invalidates the cache on each rotation; returns why listening ended.
    async fn apply_rotations(&self, rotations: &mut impl KeyRotations) -> ferry_store::Error {
        loop {
            match rotations.changed().await {
                Ok(()) => {
                    tracing::debug!("signing keys rotated; cached keys dropped");
                    self.invalidate();
                }
                Err(e) => return e,
            }
        }
    }

    /// True the first time a tenant is found without keys, then at most once
    /// per [`MISSING_REPORT_INTERVAL`], so a wiped store logs one error per
    /// tenant rather than one per message.
    pub(crate) fn should_report_missing(&self, tenant: &TenantId) -> bool {
        let mut reported = self
            .missing_reported
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match reported.get(tenant) {
            Some(at) if at.elapsed() < MISSING_REPORT_INTERVAL => false,
            _ => {
                reported.insert(tenant.clone(), Instant::now());
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ferry_core::signing::SigningKey;
    use ferry_store::{MemoryConfig, MemoryStore};

    use super::*;

    fn store() -> MemoryStore {
        MemoryStore::new(MemoryConfig {
            partitions: 1,
            max_backlog_per_partition: 0,
            max_tenant_backlog_per_partition: 0,
            dedup_window: Duration::from_secs(60),
            dlq_retention: Duration::from_secs(60),
            events_max_len: 0,
            events_max_age: Duration::ZERO,
        })
    }

    async fn store_with_keys(tenant: &TenantId) -> (MemoryStore, KeyPair) {
        let store = store();
        let initial = KeyPair {
            current: SigningKey::generate(),
            next: SigningKey::generate(),
        };
        store.ensure_signing_keys(tenant, &initial).await.unwrap();
        (store, initial)
    }

    async fn current_key(cache: &KeyCache, store: &MemoryStore, tenant: &TenantId) -> SigningKey {
        cache
            .get(store, tenant)
            .await
            .unwrap()
            .unwrap()
            .current
            .clone()
    }

    #[tokio::test]
    async fn the_get_after_a_rotation_has_the_new_keys() {
        let tenant = TenantId::new("acme").unwrap();
        let (store, initial) = store_with_keys(&tenant).await;
        let cache = Arc::new(KeyCache::default());
        let shutdown = CancellationToken::new();
        let follower = tokio::spawn({
            let (cache, store, shutdown) = (cache.clone(), store.clone(), shutdown.clone());
            async move { cache.follow_rotations(&store, &shutdown).await }
        });
        while !cache.listening.load(Ordering::Acquire) {
            tokio::task::yield_now().await;
        }
        assert_eq!(current_key(&cache, &store, &tenant).await, initial.current);

        let epoch = cache.epoch.load(Ordering::Acquire);
        store
            .rotate_signing_keys(&tenant, &SigningKey::generate())
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), async {
            while cache.epoch.load(Ordering::Acquire) == epoch {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the rotation is heard");
        assert_eq!(current_key(&cache, &store, &tenant).await, initial.next);
        shutdown.cancel();
        follower.await.unwrap();
    }

    #[tokio::test]
    async fn keys_are_read_every_time_while_rotations_are_not_heard() {
        let tenant = TenantId::new("acme").unwrap();
        let (store, initial) = store_with_keys(&tenant).await;
        let cache = KeyCache::default();
        assert_eq!(current_key(&cache, &store, &tenant).await, initial.current);
        store
            .rotate_signing_keys(&tenant, &SigningKey::generate())
            .await
            .unwrap();
        assert_eq!(current_key(&cache, &store, &tenant).await, initial.next);
    }

    #[test]
    fn a_tenant_without_keys_is_reported_once_per_interval() {
        let cache = KeyCache::default();
        let a = TenantId::new("a").unwrap();
        let b = TenantId::new("b").unwrap();
        assert!(cache.should_report_missing(&a));
        assert!(!cache.should_report_missing(&a));
        assert!(
            cache.should_report_missing(&b),
            "each tenant is reported on its own"
        );
    }
}

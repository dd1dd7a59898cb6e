//! A short-lived cache of tenants' signing keys, so signing an attempt costs
//! no Redis round trip. After a rotation, deliveries switch to the new
//! current key within the cache's lifetime; receivers accept both keys, so
//! the delay never produces a signature they reject.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use ferry_core::ids::TenantId;
use ferry_store::{KeyPair, Store};

/// How often a tenant without keys is reported, however many of its
/// messages are deferred meanwhile.
const MISSING_REPORT_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(crate) struct KeyCache {
    ttl: Duration,
    entries: RwLock<HashMap<TenantId, (KeyPair, Instant)>>,
    /// When each tenant was last reported as having no keys.
    missing_reported: Mutex<HashMap<TenantId, Instant>>,
}

impl KeyCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
            missing_reported: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's keys, or `None` when the tenant has none stored.
    pub(crate) async fn get<S: Store>(
        &self,
        store: &S,
        tenant: &TenantId,
    ) -> ferry_store::Result<Option<KeyPair>> {
        if let Some(keys) = self.fresh(tenant) {
            return Ok(Some(keys));
        }
        let keys = store.signing_keys(tenant).await?;
        if let Some(keys) = &keys {
            let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
            entries.insert(tenant.clone(), (keys.clone(), Instant::now()));
        }
        Ok(keys)
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

    fn fresh(&self, tenant: &TenantId) -> Option<KeyPair> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (keys, at) = entries.get(tenant)?;
        (at.elapsed() < self.ttl).then(|| keys.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_without_keys_is_reported_once_per_interval() {
        let cache = KeyCache::new(Duration::from_secs(1));
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

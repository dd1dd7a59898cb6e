//! A short-lived cache of tenants' signing keys, so signing an attempt costs
//! no Redis round trip. After a rotation, deliveries switch to the new
//! current key within the cache's lifetime; receivers accept both keys, so
//! the delay never produces a signature they reject.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use ferry_core::ids::TenantId;
use ferry_store::{KeyPair, Store};

#[derive(Debug)]
pub(crate) struct KeyCache {
    ttl: Duration,
    entries: RwLock<HashMap<TenantId, (KeyPair, Instant)>>,
}

impl KeyCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
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

    fn fresh(&self, tenant: &TenantId) -> Option<KeyPair> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (keys, at) = entries.get(tenant)?;
        (at.elapsed() < self.ttl).then(|| keys.clone())
    }
}

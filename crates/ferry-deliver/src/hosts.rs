//! Per-destination-host concurrency limits.
//!
//! A host at its limit does not make attempts wait (which would hold global
//! slots and stall every other destination); the attempt is deferred instead
//! and tried again shortly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Above this many tracked hosts, idle ones are forgotten.
const PRUNE_ABOVE: usize = 4_096;

#[derive(Debug)]
pub(crate) struct HostLimits {
    per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl HostLimits {
    pub(crate) fn new(per_host: usize) -> Self {
        Self {
            per_host,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for `host`, or `None` when it already has `per_host` attempts.
    pub(crate) fn try_acquire(&self, host: &str) -> Option<OwnedSemaphorePermit> {
        let semaphore = {
            // A poisoned lock only means another task panicked while holding
            // it; the map itself is still consistent.
            let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
            if hosts.len() > PRUNE_ABOVE {
                hosts.retain(|_, s| Arc::strong_count(s) > 1);
            }
            hosts
                .entry(host.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        semaphore.try_acquire_owned().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saturated_host_does_not_affect_others() {
        let limits = HostLimits::new(2);
        let a1 = limits.try_acquire("a");
        let a2 = limits.try_acquire("a");
        assert!(a1.is_some() && a2.is_some());
        assert!(limits.try_acquire("a").is_none());
        assert!(limits.try_acquire("b").is_some());
        drop(a1);
        assert!(limits.try_acquire("a").is_some());
    }
}

//! Deduplication keys of one partition: which message was first published
//! under a tenant's deduplication id, remembered for the dedup window.
//!
//! Expiry is checked lazily against the publishing message's own time, and
//! keys are swept in the order they were set, so memory stays bounded by the
//! number of keys set within one window.

use std::collections::{HashMap, VecDeque};

use ferry_core::ids::{MessageId, TenantId};

type Key = (TenantId, String);

#[derive(Debug)]
struct Original {
    id: MessageId,
    expires_at: u64,
}

#[derive(Debug, Default)]
pub(super) struct DedupKeys {
    live: HashMap<Key, Original>,
    /// Every key in the order it was set, with the expiry it was set with. A
    /// key set again after expiring appears twice; only the entry whose
    /// expiry still matches removes it.
    set_order: VecDeque<(u64, Key)>,
}

impl DedupKeys {
    /// Remembers `id` under the key unless a live key exists; returns the
    /// message first published under it in that case (`SET … NX GET PX`).
    pub(super) fn claim(
        &mut self,
        tenant: &TenantId,
        dedup: &str,
        id: &MessageId,
        now_ms: u64,
        window_ms: u64,
    ) -> Option<MessageId> {
        self.sweep(now_ms);
        let key = (tenant.clone(), dedup.to_owned());
        if let Some(original) = self.live.get(&key).filter(|o| o.expires_at > now_ms) {
            return Some(original.id.clone());
        }
        let expires_at = now_ms.saturating_add(window_ms);
        self.set_order.push_back((expires_at, key.clone()));
        self.live.insert(
            key,
            Original {
                id: id.clone(),
                expires_at,
            },
        );
        None
    }

    fn sweep(&mut self, now_ms: u64) {
        while let Some((expires_at, key)) = self.set_order.pop_front_if(|(at, _)| *at <= now_ms) {
            if self
                .live
                .get(&key)
                .is_some_and(|o| o.expires_at == expires_at)
            {
                self.live.remove(&key);
            }
        }
    }
}

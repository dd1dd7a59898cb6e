//! Bulk cancel in the in-process store: the walk of the Redis backend
//! (see `pending`), places and order alike, done in one step under the lock.

use ferry_core::ids::{MessageId, Partition, TenantId};

use super::State;
use crate::MessageFilter;
use crate::pending::{Place, places};

impl State {
    pub(in crate::memory) fn cancel_matching(
        &mut self,
        tenant: &TenantId,
        filter: &MessageFilter,
        now_ms: u64,
    ) -> usize {
        let mut cancelled = 0;
        for p in (0..self.cfg.partitions).map(Partition) {
            let queues = self
                .queues
                .iter()
                .filter(|((t, _), q)| t == tenant && q.partition() == p)
                .map(|((_, name), _)| name.clone())
                .collect();
            let flows = self.flow_keys_in(tenant, p);
            for place in places(queues, flows) {
                for id in self.place_ids(p, tenant, &place) {
                    let matched = self.live(&id, now_ms).is_some_and(|r| {
                        &r.tenant == tenant && r.dead.is_none() && filter.matches(&r.spec)
                    });
                    if matched && self.cancel(tenant, &id, now_ms) {
                        cancelled += 1;
                    }
                }
            }
        }
        cancelled
    }

    /// The ids waiting in `place` of partition `p`, in the order Redis
    /// reads them.
    fn place_ids(&mut self, p: Partition, tenant: &TenantId, place: &Place) -> Vec<MessageId> {
        match place {
            Place::Delayed => self.partition(p).delayed.ids(),
            Place::Waiting(name) => self
                .queues
                .get(&(tenant.clone(), name.clone()))
                .map(|q| q.waiting_ids())
                .unwrap_or_default(),
            Place::FlowWaiting(key) => self.flow_waiting_ids(tenant, key),
            Place::Ready => self.partition(p).ready.ids(),
        }
    }
}

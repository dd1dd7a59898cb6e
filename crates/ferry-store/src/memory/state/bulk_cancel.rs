//! Bulk cancel in the in-process store: the walk of the Redis backend
//! (see `pending`), places and order alike, done in one step under the lock.
//! Listing pending messages is the same walk collecting the matches.

use ferry_core::ids::{MessageId, Partition, TenantId};

use super::State;
use crate::MessageFilter;
use crate::pending::{Action, Budget, PendingMessage, Place, places};

impl State {
    pub(in crate::memory) fn cancel_matching(
        &mut self,
        tenant: &TenantId,
        filter: &MessageFilter,
        now_ms: u64,
    ) -> usize {
        let mut action = Action::Cancel;
        self.walk(tenant, filter, Budget::new(None), &mut action, now_ms)
    }

    pub(in crate::memory) fn pending_messages(
        &mut self,
        tenant: &TenantId,
        filter: &MessageFilter,
        limit: usize,
        now_ms: u64,
    ) -> Vec<PendingMessage> {
        let mut action = Action::Collect(Vec::new());
        self.walk(
            tenant,
            filter,
            Budget::new(Some(limit)),
            &mut action,
            now_ms,
        );
        match action {
            Action::Collect(found) => found,
            Action::Cancel => Vec::new(),
        }
    }

    /// Visits the tenant's places partition by partition until the budget
    /// is spent, acting on each match; returns how many it acted on.
    fn walk(
        &mut self,
        tenant: &TenantId,
        filter: &MessageFilter,
        mut budget: Budget,
        action: &mut Action,
        now_ms: u64,
    ) -> usize {
        let mut matched = 0;
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
                    if budget.exhausted() {
                        return matched;
                    }
                    if self.act(tenant, filter, &id, &place, action, now_ms) {
                        matched += 1;
                        budget.spend();
                    }
                }
            }
        }
        matched
    }

    /// Acts on `id` if it is a pending message of `tenant` that `filter`
    /// matches; false when it is not, or was not cancelled.
    fn act(
        &mut self,
        tenant: &TenantId,
        filter: &MessageFilter,
        id: &MessageId,
        place: &Place,
        action: &mut Action,
        now_ms: u64,
    ) -> bool {
        let Some(record) = self
            .live(id, now_ms)
            .filter(|r| &r.tenant == tenant && r.dead.is_none() && filter.matches(&r.spec))
        else {
            return false;
        };
        match action {
            Action::Cancel => self.cancel(tenant, id, now_ms),
            Action::Collect(found) => {
                found.push(PendingMessage {
                    id: id.clone(),
                    spec: record.spec.clone(),
                    retried: record.retried,
                    place: place.clone(),
                });
                true
            }
        }
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

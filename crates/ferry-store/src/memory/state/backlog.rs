//! The backlog sample of the in-process store: the lengths the Redis
//! backend reads (see the `backlog` module), taken under the lock.

use ferry_core::ids::{Partition, TenantId};

use super::State;
use crate::backlog::{Backlog, PartitionBacklog, TenantBacklog};

/// A length as the backlog reports it.
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl State {
    pub(in crate::memory) fn backlog(&mut self, tenants: &[TenantId]) -> Backlog {
        let partitions: Vec<Partition> = (0..self.cfg.partitions).map(Partition).collect();
        let shared = partitions
            .iter()
            .map(|&p| {
                let state = self.partition(p);
                let in_flight = state.ready.pending_len();
                PartitionBacklog {
                    partition: p,
                    ready: count(state.ready.len() - in_flight),
                    in_flight: count(in_flight),
                    delayed: count(state.delayed.len()),
                }
            })
            .collect();
        let mut kept = Vec::new();
        for tenant in tenants {
            for &p in &partitions {
                kept.push(TenantBacklog {
                    tenant: tenant.clone(),
                    partition: p,
                    waiting: count(self.waiting_in(tenant, p)),
                    dead: count(self.partition(p).dlq.get(tenant).map_or(0, |dlq| dlq.len())),
                });
            }
        }
        Backlog {
            partitions: shared,
            tenants: kept,
        }
    }

    /// Messages of `tenant` waiting in its queues and behind its
    /// flow-control keys held in partition `p`.
    fn waiting_in(&self, tenant: &TenantId, p: Partition) -> usize {
        let queued: usize = self
            .queues
            .iter()
            .filter(|((t, _), q)| t == tenant && q.partition() == p)
            .map(|(_, q)| q.waiting_ids().len())
            .sum();
        let behind_keys: usize = self
            .flow_keys_in(tenant, p)
            .iter()
            .map(|key| self.flow_waiting_ids(tenant, key).len())
            .sum();
        queued + behind_keys
    }
}

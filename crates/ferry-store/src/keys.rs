//! Redis key names: built here and nowhere else (see the crate doc's table).
//!
//! Every key of partition `n` carries one hash tag, so a script touching
//! them runs in one Redis Cluster slot. On standalone Redis the tag is
//! `{p<n>}`. On a cluster the slot decides which primary holds the
//! partition, and the slots of `{p0}`, `{p1}`, `{p2}` happen to fall on two
//! of three primaries; so there the tag is `{p<n>.<k>}`, with the smallest
//! `k` that puts partition `n` into its own stretch of the slot range (see
//! [`balanced_tag`]). The stretches depend on `n` alone, so adding
//! partitions never moves an existing one.

use std::sync::Arc;

use ferry_core::ids::{MAX_PARTITIONS, MessageId, Partition, TenantId};

use crate::FlowSlot;

/// The consumer group every deliverer reads the ready streams with.
pub(crate) const GROUP: &str = "ferry-deliver";
const VERSION: &str = "v1";

/// Number of slots in a Redis Cluster.
const SLOTS: u16 = 16_384;
/// Partitions below this get a stretch of `SLOTS / BALANCED` slots of their
/// own; higher ones keep `{p<n>}`, whose slots are spread well enough.
const BALANCED: u16 = 128;

#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
    /// The hash tag of each partition, `{p<n>}` or `{p<n>.<k>}`.
    tags: Arc<[String]>,
}

impl Keys {
    /// Keys for standalone Redis: partition `n` is tagged `{p<n>}`.
    pub(crate) fn new(prefix: &str) -> Self {
        Self::with_tags(prefix, |p| format!("p{p}"))
    }

    /// Keys for Redis Cluster: partitions spread evenly over the slot range.
    pub(crate) fn balanced(prefix: &str) -> Self {
        Self::with_tags(prefix, balanced_tag)
    }

    /// Tags for every partition a message id can name, not only the
    /// configured ones, so messages of a partition count since lowered are
    /// still found.
    fn with_tags(prefix: &str, tag: impl Fn(u16) -> String) -> Self {
        Self {
            prefix: prefix.to_owned(),
            tags: (0..MAX_PARTITIONS).map(tag).collect(),
        }
    }

    fn partition(&self, p: Partition) -> String {
        let tag = self.tags.get(usize::from(p.0));
        match tag {
            Some(tag) => format!("{}:{VERSION}:{{{tag}}}", self.prefix),
            None => format!("{}:{VERSION}:{{p{}}}", self.prefix, p.0),
        }
    }

    pub(crate) fn ready(&self, p: Partition) -> String {
        format!("{}:ready", self.partition(p))
    }

    pub(crate) fn delayed(&self, p: Partition) -> String {
        format!("{}:delayed", self.partition(p))
    }

    /// The partition's backlog counts: pending messages per tenant, and of
    /// all tenants under `*`.
    pub(crate) fn backlog(&self, p: Partition) -> String {
        format!("{}:backlog", self.partition(p))
    }

    pub(crate) fn msg(&self, id: &MessageId) -> String {
        format!("{}:msg:{id}", self.partition(id.partition()))
    }

    pub(crate) fn dedup(&self, p: Partition, tenant: &TenantId, dedup: &str) -> String {
        format!("{}:dedup:{tenant}:{dedup}", self.partition(p))
    }

    pub(crate) fn dlq(&self, p: Partition, tenant: &TenantId) -> String {
        format!("{}:dlq:{tenant}", self.partition(p))
    }

    pub(crate) fn events(&self, p: Partition, tenant: &TenantId) -> String {
        format!("{}:events:{tenant}", self.partition(p))
    }

    pub(crate) fn workflow_run(&self, p: Partition, tenant: &TenantId, run_id: &str) -> String {
        format!("{}:wf:{tenant}:{run_id}", self.partition(p))
    }

    pub(crate) fn workflow_steps(&self, p: Partition, tenant: &TenantId, run_id: &str) -> String {
        format!("{}:wfsteps:{tenant}:{run_id}", self.partition(p))
    }

    pub(crate) fn workflow_waiters(&self, p: Partition, tenant: &TenantId, run_id: &str) -> String {
        format!("{}:wfwait:{tenant}:{run_id}", self.partition(p))
    }

    pub(crate) fn workflow_waiting(&self, p: Partition, tenant: &TenantId) -> String {
        format!("{}:wfwaiting:{tenant}", self.partition(p))
    }

    pub(crate) fn workflow_lookback(
        &self,
        p: Partition,
        tenant: &TenantId,
        run_id: &str,
    ) -> String {
        format!("{}:wflook:{tenant}:{run_id}", self.partition(p))
    }

    /// The tenant's run index in partition `p` (see `run_index`).
    pub(crate) fn workflow_index(&self, p: Partition, tenant: &TenantId) -> String {
        format!("{}:wfruns:{tenant}", self.partition(p))
    }

    pub(crate) fn schedule(&self, p: Partition, tenant: &TenantId, id: &str) -> String {
        format!("{}:schedule:{tenant}:{id}", self.partition(p))
    }

    pub(crate) fn schedules_due(&self, p: Partition) -> String {
        format!("{}:schedules:due", self.partition(p))
    }

    pub(crate) fn queue(&self, p: Partition, tenant: &TenantId, name: &str) -> String {
        format!("{}:queue:{tenant}:{name}", self.partition(p))
    }

    pub(crate) fn queue_waiting(&self, p: Partition, tenant: &TenantId, name: &str) -> String {
        format!("{}:waiting:{tenant}:{name}", self.partition(p))
    }

    /// The hash of a flow-control key; `slot` is `<tenant>:<key>`.
    pub(crate) fn flow(&self, p: Partition, slot: &FlowSlot) -> String {
        format!("{}:flow:{}", self.partition(p), slot.as_str())
    }

    pub(crate) fn flow_waiting(&self, p: Partition, slot: &FlowSlot) -> String {
        format!("{}:flowwait:{}", self.partition(p), slot.as_str())
    }

    pub(crate) fn flow_wake(&self, p: Partition) -> String {
        format!("{}:flows:wake", self.partition(p))
    }

    /// A deliverer's lease in one partition (see the `leases` module).
    pub(crate) fn lease(&self, p: Partition, consumer: &str) -> String {
        format!("{}:lease:{consumer}", self.partition(p))
    }

    /// The partition count the installation was started with.
    pub(crate) fn partition_count(&self) -> String {
        format!("{}:{VERSION}:partitions", self.prefix)
    }

    /// The channel on which key rotations are announced.
    pub(crate) fn key_rotations(&self) -> String {
        format!("{}:{VERSION}:keys-rotated", self.prefix)
    }

    /// Keys of one tenant (not of a partition) share the tag `{t:<tenant>}`.
    fn tenant(&self, tenant: &TenantId) -> String {
        format!("{}:{VERSION}:{{t:{tenant}}}", self.prefix)
    }

    pub(crate) fn groups(&self, tenant: &TenantId) -> String {
        format!("{}:groups", self.tenant(tenant))
    }

    pub(crate) fn group(&self, tenant: &TenantId, name: &str) -> String {
        format!("{}:group:{name}", self.tenant(tenant))
    }

    pub(crate) fn schedule_index(&self, tenant: &TenantId) -> String {
        format!("{}:schedules", self.tenant(tenant))
    }

    pub(crate) fn queue_index(&self, tenant: &TenantId) -> String {
        format!("{}:queues", self.tenant(tenant))
    }

    pub(crate) fn flow_index(&self, tenant: &TenantId) -> String {
        format!("{}:flows", self.tenant(tenant))
    }

    /// The tenant's home partition (see the crate doc, "Placement").
    pub(crate) fn home(&self, tenant: &TenantId) -> String {
        format!("{}:home", self.tenant(tenant))
    }

    pub(crate) fn signing(&self, tenant: &TenantId) -> String {
        format!("{}:{VERSION}:tenant:{tenant}:keys", self.prefix)
    }
}

/// The cluster hash tag of partition `n`: `p<n>.<k>` with the smallest `k`
/// whose slot lies in stretch `reverse_bits(n)` of `BALANCED` equal
/// stretches. Reversing the bits spreads the first partitions as far apart
/// as possible (0, ½, ¼, ¾, ⅛ …), so any count of partitions covers the
/// slot range, and so the primaries, evenly; a power of two is exact for a
/// power-of-two number of primaries and within one partition otherwise.
pub(crate) fn balanced_tag(n: u16) -> String {
    if n >= BALANCED {
        return format!("p{n}");
    }
    let width = SLOTS / BALANCED;
    let stretch = n.reverse_bits() >> (u16::BITS - BALANCED.trailing_zeros());
    (0u32..)
        .map(|k| format!("p{n}.{k}"))
        .find(|tag| slot_of(tag) / width == stretch)
        .unwrap_or_else(|| format!("p{n}"))
}

/// The Redis Cluster slot of a hash tag's text: CRC-16/XMODEM modulo the
/// slot count, as `CLUSTER KEYSLOT` computes it.
pub(crate) fn slot_of(tag: &str) -> u16 {
    let mut crc: u16 = 0;
    for byte in tag.bytes() {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            };
        }
    }
    crc % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_a_partition_share_one_hash_tag() {
        let keys = Keys::new("ferry");
        let tenant = TenantId::new("acme").unwrap();
        let id = MessageId::generate(Partition(3));
        let p = id.partition();
        let all = [
            keys.ready(p),
            keys.delayed(p),
            keys.backlog(p),
            keys.msg(&id),
            keys.dedup(p, &tenant, "d:1"),
            keys.dlq(p, &tenant),
            keys.events(p, &tenant),
            keys.schedule(p, &tenant, "nightly"),
            keys.schedules_due(p),
            keys.queue(p, &tenant, "q"),
            keys.queue_waiting(p, &tenant, "q"),
            keys.flow(p, &FlowSlot::of(&tenant, "k")),
            keys.flow_waiting(p, &FlowSlot::of(&tenant, "k")),
            keys.flow_wake(p),
            keys.lease(p, "host-1-abcd"),
        ];
        for key in &all {
            assert!(key.starts_with("ferry:v1:{p3}:"), "{key}");
        }
        assert_eq!(keys.ready(p), "ferry:v1:{p3}:ready");
        assert_eq!(keys.signing(&tenant), "ferry:v1:tenant:acme:keys");
    }

    #[test]
    fn slots_are_those_redis_computes() {
        // The CRC-16 check value, and `CLUSTER KEYSLOT` of two tags.
        assert_eq!(slot_of("123456789"), 0x31c3);
        assert_eq!(slot_of("p0"), 15_882);
        assert_eq!(slot_of("p3"), 3_689);
    }

    #[test]
    fn balanced_partitions_spread_evenly_over_three_primaries() {
        // `redis-cli --cluster create` gives 3 primaries these slot ranges.
        let primary = |slot: u16| match slot {
            0..=5460 => 0,
            5461..=10922 => 1,
            _ => 2,
        };
        for partitions in [16u16, 32, 64] {
            let mut per_primary = [0u16; 3];
            for n in 0..partitions {
                per_primary[primary(slot_of(&balanced_tag(n)))] += 1;
            }
            let mean = f64::from(partitions) / 3.0;
            for count in per_primary {
                assert!(
                    (f64::from(count) - mean).abs() <= mean * 0.2,
                    "{partitions} partitions: {per_primary:?}"
                );
            }
        }
    }

    #[test]
    fn balanced_tags_are_distinct_stable_and_name_their_partition() {
        let tags: Vec<String> = (0..BALANCED + 2).map(balanced_tag).collect();
        let distinct: std::collections::HashSet<_> = tags.iter().collect();
        assert_eq!(distinct.len(), tags.len());
        assert!(tags[5].starts_with("p5."), "{}", tags[5]);
        assert_eq!(tags[usize::from(BALANCED)], format!("p{BALANCED}"));
        let keys = Keys::balanced("ferry");
        assert_eq!(
            keys.ready(Partition(1)),
            format!("ferry:v1:{{{}}}:ready", balanced_tag(1))
        );
        // The stretches: 0 → first, 1 → middle.
        assert!(slot_of(&balanced_tag(0)) < SLOTS / BALANCED);
        assert_eq!(slot_of(&balanced_tag(1)) / (SLOTS / BALANCED), BALANCED / 2);
    }
}

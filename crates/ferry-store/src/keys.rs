//! Redis key names: built here and nowhere else (see the crate doc's table).

use ferry_core::ids::{MessageId, Partition, TenantId};

use crate::FlowSlot;

/// The consumer group every deliverer reads the ready streams with.
pub(crate) const GROUP: &str = "ferry-deliver";
const VERSION: &str = "v1";

#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    fn partition(&self, p: Partition) -> String {
        format!("{}:{VERSION}:{{p{}}}", self.prefix, p.0)
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
}

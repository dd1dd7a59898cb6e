//! How much work waits, for operators: the backlog metrics on `/metrics`
//! and the console's charts sample it every few seconds.
//!
//! The ready stream and the delayed set of a partition are shared by every
//! tenant and say nothing about whose messages they hold without reading
//! each message, so they are counted per partition only. What is kept per
//! tenant (the waiting lists of its queues and flow-control keys, and its
//! dead letters) is counted per tenant and partition. Every count is a
//! length read (`XLEN`, `ZCARD`, `LLEN`, the `XPENDING` summary): sampling
//! costs a few commands per partition and tenant, whatever the backlog.

use ferry_core::ids::{Partition, TenantId};

/// One sample of the backlog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlog {
    /// One per partition, in partition order.
    pub partitions: Vec<PartitionBacklog>,
    /// One per tenant asked about and partition, tenant by tenant.
    pub tenants: Vec<TenantBacklog>,
}

/// The shared places of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionBacklog {
    pub partition: Partition,
    /// Ready entries no deliverer has read yet.
    pub ready: u64,
    /// Ready entries read and not yet recorded: attempts in flight.
    pub in_flight: u64,
    /// Messages waiting for their delay or retry backoff to pass.
    pub delayed: u64,
}

/// What one tenant keeps in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantBacklog {
    pub tenant: TenantId,
    pub partition: Partition,
    /// Messages waiting in the tenant's queues and behind its flow-control
    /// keys for admission to the ready stream.
    pub waiting: u64,
    /// Dead letters.
    pub dead: u64,
}

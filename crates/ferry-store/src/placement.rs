//! Which partition holds what a message shares with others: its queue, its
//! flow-control key (see the crate doc, "Placement").
//!
//! A message enqueued with a flow-control key must pass both its queue's and
//! its key's admission, and every step that admits or frees a slot is one
//! single-slot script. So the queue and the key must live in one partition,
//! whatever queues and keys a tenant combines: every queue and every
//! flow-control key of a tenant lives in the tenant's home partition.

use ferry_core::ids::{Partition, TenantId};

/// The home partition of `tenant` among `partitions`: a stable hash of its
/// name, so every process picks the same one. The Redis backend records the
/// home it chose, so a later change of the partition count does not
/// separate a tenant's new queues and keys from its existing ones.
pub(crate) fn home_partition(tenant: &TenantId, partitions: u16) -> Partition {
    spread(tenant.as_str(), partitions)
}

/// A stable FNV-1a hash of `text`, modulo `partitions`.
pub(crate) fn spread(text: &str, partitions: u16) -> Partition {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let n = hash % u32::from(partitions.max(1));
    // `n` is below a `u16` modulus, so it fits.
    Partition(u16::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_home_is_stable_in_range_and_spreads_tenants() {
        let acme = TenantId::new("acme").unwrap();
        assert_eq!(home_partition(&acme, 8), home_partition(&acme, 8));
        assert!(home_partition(&acme, 8).0 < 8);
        assert_eq!(home_partition(&acme, 1), Partition(0));
        let homes: std::collections::HashSet<_> = (0..64)
            .map(|i| home_partition(&TenantId::new(&format!("t{i}")).unwrap(), 8))
            .collect();
        assert!(homes.len() > 4, "{homes:?}");
    }
}

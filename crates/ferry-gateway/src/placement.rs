//! The partition a new message is created in. A message shares state with
//! others through its queue, its flow-control key and its deduplication
//! id, and each of those lives in one partition that the message must be
//! created in, so that every step on it stays a single-slot script.

use std::sync::atomic::{AtomicU16, Ordering};

use ferry_core::ids::{Partition, TenantId};
use ferry_store::Store;
use http::StatusCode;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// Where a message enqueued to `queue`, published with `flow_key` or
/// deduplicated by `dedup_key` (in that order of precedence) is created.
pub(crate) async fn partition_for<S: Store>(
    state: &AppState<S>,
    tenant: &TenantId,
    queue: Option<&str>,
    flow_key: Option<&str>,
    dedup_key: Option<&str>,
) -> ApiResult<Partition> {
    Ok(match (queue, flow_key, dedup_key) {
        // A queue's messages live in its partition, with all its state.
        (Some(queue), Some(key), _) => shared_home(state, tenant, queue, key).await?,
        (Some(queue), None, _) => state.store.queue_home(tenant, queue).await?,
        // So do a flow-control key's.
        (None, Some(key), _) => state.store.flow_home(tenant, key).await?,
        // Duplicates must meet in one partition, where their key lives.
        (None, None, Some(key)) => partition_of(key, state.store.partitions()),
        (None, None, None) => next_partition(state.store.partitions()),
    })
}

/// The partition of a queue whose messages carry a flow-control key: the
/// store keeps a tenant's queues and keys in one partition, but a queue or
/// key placed elsewhere by an earlier Ferry keeps its partition, and cannot
/// be combined with one in another.
pub(crate) async fn shared_home<S: Store>(
    state: &AppState<S>,
    tenant: &TenantId,
    queue: &str,
    key: &str,
) -> ApiResult<Partition> {
    let queue_home = state.store.queue_home(tenant, queue).await?;
    let key_home = state.store.flow_home(tenant, key).await?;
    if queue_home != key_home {
        return Err(ApiError::Client(
            StatusCode::CONFLICT,
            format!(
                "queue {queue:?} (partition {}) and flow-control key {key:?} (partition {}) were placed apart by an earlier version of Ferry, so one message cannot use both",
                queue_home.0, key_home.0
            ),
        ));
    }
    Ok(queue_home)
}

fn partition_of(key: &str, partitions: u16) -> Partition {
    let digest = Sha256::digest(key.as_bytes());
    let n = u16::from_be_bytes([digest[0], digest[1]]);
    Partition(n % partitions.max(1))
}

/// Spreads messages without a routing key evenly over the partitions.
fn next_partition(partitions: u16) -> Partition {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    Partition(NEXT.fetch_add(1, Ordering::Relaxed) % partitions.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_keys_route_to_a_stable_partition() {
        assert_eq!(partition_of("k", 8), partition_of("k", 8));
        assert!(partition_of("k", 8).0 < 8);
        assert_eq!(partition_of("k", 1), Partition(0));
    }
}

//! Batched recording of successful deliveries: one store call acknowledges
//! every success that arrived while the previous call was running. Each
//! attempt waits for its batch to be recorded, so "done" always means
//! "recorded", and in-flight permits also bound unrecorded work.

use std::time::Duration;

use ferry_core::ids::Partition;
use ferry_store::{DeliveredEntry, Store};
use tokio::sync::{mpsc, oneshot};

/// Most successes recorded in one call.
const MAX_BATCH: usize = 256;
/// Pauses between tries when the store fails; after the last one the
/// entries stay pending and are reclaimed later (delivered again).
const BACKOFF: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(2),
];

pub(crate) type Ack = (DeliveredEntry, oneshot::Sender<bool>);

pub(crate) async fn run<S: Store>(store: S, partition: Partition, mut rx: mpsc::Receiver<Ack>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (entries, waiters): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        let recorded = record_with_retries(&store, partition, &entries).await;
        for waiter in waiters {
            // The attempt may have been abandoned at shutdown; nobody to tell.
            let _ = waiter.send(recorded);
        }
    }
}

async fn record_with_retries<S: Store>(
    store: &S,
    partition: Partition,
    entries: &[DeliveredEntry],
) -> bool {
    for pause in BACKOFF.iter().copied().chain([Duration::ZERO]) {
        match store.record_delivered(partition, entries).await {
            Ok(_) => return true,
            Err(e) if pause.is_zero() => {
                tracing::error!(error = %e, n = entries.len(), "could not record deliveries; they stay pending and will be delivered again after reclaim");
            }
            Err(e) => {
                tracing::warn!(error = %e, n = entries.len(), "recording deliveries failed; retrying");
                tokio::time::sleep(pause).await;
            }
        }
    }
    false
}

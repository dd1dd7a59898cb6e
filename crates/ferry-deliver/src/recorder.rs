//! Batched recording of successful deliveries: one store call acknowledges
//! every success that arrived while the previous call was running. Each
//! attempt waits for its batch to be recorded, so "done" always means
//! "recorded", and the deliverer's budget also bounds unrecorded work.

use std::sync::Arc;
use std::time::Duration;

use ferry_core::ids::Partition;
use ferry_store::{DeliveredEntry, Store};
use tokio::sync::{mpsc, oneshot};

/// Most successes recorded in one call.
const MAX_BATCH: usize = 256;
/// Pauses between tries when the store fails. After the last one the
/// entries stay pending under this deliverer, which finds them again among
/// its own lost entries and delivers them once more.
const BACKOFF: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(2),
];

/// A success to record, the consumer that attempted it, and who waits.
pub(crate) struct Ack {
    pub(crate) delivered: DeliveredEntry,
    pub(crate) consumer: Arc<str>,
    pub(crate) done: oneshot::Sender<()>,
}

pub(crate) async fn run<S: Store>(store: S, partition: Partition, mut rx: mpsc::Receiver<Ack>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Almost always one consumer; after a lost lease, two.
        while let Some(first) = batch.first() {
            let consumer = first.consumer.clone();
            let (mine, rest): (Vec<Ack>, Vec<Ack>) =
                batch.drain(..).partition(|a| a.consumer == consumer);
            batch = rest;
            record(&store, partition, &consumer, mine).await;
        }
    }
}

async fn record<S: Store>(store: &S, partition: Partition, consumer: &str, acks: Vec<Ack>) {
    let (entries, waiters): (Vec<_>, Vec<_>) =
        acks.into_iter().map(|a| (a.delivered, a.done)).unzip();
    for pause in BACKOFF.iter().copied().chain([Duration::ZERO]) {
        match store.record_delivered(partition, consumer, &entries).await {
            Ok(Some(_)) => break,
            Ok(None) => {
                tracing::warn!(
                    consumer,
                    n = entries.len(),
                    "deliveries not recorded: this deliverer's lease was lost; the deliverer that took the entries over delivers them again"
                );
                break;
            }
            Err(e) if pause.is_zero() => {
                tracing::error!(error = %e, n = entries.len(), "could not record deliveries; they stay pending and will be delivered again");
            }
            Err(e) => {
                tracing::warn!(error = %e, n = entries.len(), "recording deliveries failed; retrying");
                tokio::time::sleep(pause).await;
            }
        }
    }
    for waiter in waiters {
        // The attempt may have been abandoned at shutdown; nobody to tell.
        let _ = waiter.send(());
    }
}

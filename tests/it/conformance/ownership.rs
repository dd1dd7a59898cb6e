//! Who may act on a ready entry: reclaim after a consumer went quiet, the
//! ownership check on outcomes, cancellation under a reader's feet, and
//! discarding entries whose message is gone.

use std::time::Duration;

use ferry_core::ids::Partition;
use ferry_store::{DeliveredEntry, Outcome, Recorded, Store};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{
    dead_letter, delayed, ids, message, now_ms, outcome, publish, read, read_one, record_done,
    response, tenant,
};

const MIN_IDLE: Duration = Duration::from_millis(50);
/// Comfortably past `MIN_IDLE`, so idle time measured by Redis counts it too.
const PAST_MIN_IDLE: Duration = Duration::from_millis(120);

pub(crate) async fn reclaimed_entry_belongs_to_its_new_consumer(backend: &impl Backend) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let msg = message(&acme, 0, "slow consumer");
    publish(&store, &msg).await;
    let by_x = read_one(&store, 0, "x", &msg.id).await;
    assert!(
        store
            .reclaim(Partition(0), "y", MIN_IDLE, 10)
            .await
            .unwrap()
            .is_empty(),
        "not idle long enough yet"
    );

    tokio::time::sleep(PAST_MIN_IDLE).await;
    let by_y = store
        .reclaim(Partition(0), "y", MIN_IDLE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&by_y), [&msg.id]);
    assert_eq!(by_y[0].entry, by_x.entry, "the same entry changes hands");
    assert_eq!(by_y[0].message.as_ref().map(|m| &m.body), Some(&msg.body));

    let late = outcome(&by_x, &acme, Outcome::Delivered);
    assert_eq!(
        store.record(Partition(0), "x", &late).await.unwrap(),
        Recorded::NotOwner
    );
    assert!(
        store.message(&acme, &msg.id).await.unwrap().is_some(),
        "x changed nothing"
    );
    record_done(&store, "y", &outcome(&by_y[0], &acme, Outcome::Delivered)).await;
    assert!(store.message(&acme, &msg.id).await.unwrap().is_none());
    assert_eq!(
        store.record(Partition(0), "x", &late).await.unwrap(),
        Recorded::Gone
    );
}

pub(crate) async fn reclaim_takes_at_most_count_oldest_first(backend: &impl Backend) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let messages: Vec<_> = ["a", "b", "c"].map(|body| message(&acme, 0, body)).into();
    for msg in &messages {
        publish(&store, msg).await;
    }
    assert_eq!(read(&store, 0, "x", 10).await.len(), 3);
    tokio::time::sleep(PAST_MIN_IDLE).await;

    let first_two = store.reclaim(Partition(0), "y", MIN_IDLE, 2).await.unwrap();
    assert_eq!(ids(&first_two), [&messages[0].id, &messages[1].id]);
    let rest = store
        .reclaim(Partition(0), "z", MIN_IDLE, 10)
        .await
        .unwrap();
    assert_eq!(
        ids(&rest),
        [&messages[2].id],
        "claiming restarts the idle time"
    );
}

pub(crate) async fn batched_success_is_final_whoever_holds_the_entry(backend: &impl Backend) {
    // A delivery that succeeded cannot be undone, so the batch records it
    // even after the entry was reclaimed; the new holder then finds it gone.
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let msg = message(&acme, 0, "delivered late");
    publish(&store, &msg).await;
    let by_x = read_one(&store, 0, "x", &msg.id).await;
    let by_y = store
        .reclaim(Partition(0), "y", Duration::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(ids(&by_y), [&msg.id]);

    let batch = [DeliveredEntry {
        entry: by_x.entry.clone(),
        message_id: msg.id.clone(),
        tenant: acme.clone(),
        detail: ferry_store::EventDetail::default(),
        queue: None,
    }];
    assert_eq!(
        store.record_delivered(Partition(0), &batch).await.unwrap(),
        1
    );
    assert!(store.message(&acme, &msg.id).await.unwrap().is_none());
    let by_y = outcome(&by_y[0], &acme, Outcome::Delivered);
    assert_eq!(
        store.record(Partition(0), "y", &by_y).await.unwrap(),
        Recorded::Gone
    );
}

pub(crate) async fn cancel_forgets_pending_messages_only(backend: &impl Backend) {
    let store = backend
        .open(Settings {
            partitions: 2,
            ..Settings::default()
        })
        .await;
    let acme = tenant("acme");
    let ready = message(&acme, 0, "ready");
    let due = now_ms() + 60_000;
    let waiting = delayed(&acme, 0, "delayed", due);
    publish(&store, &ready).await;
    publish(&store, &waiting).await;

    assert!(store.cancel(&acme, &ready.id, now_ms()).await.unwrap());
    assert!(store.message(&acme, &ready.id).await.unwrap().is_none());
    assert!(
        !store.cancel(&acme, &ready.id, now_ms()).await.unwrap(),
        "cancelled once only"
    );
    // The ready entry outlives its message; a reader gets it without one.
    let orphan = read(&store, 0, "x", 10).await;
    assert_eq!(ids(&orphan), [&ready.id]);
    assert!(orphan[0].message.is_none());

    assert!(store.cancel(&acme, &waiting.id, now_ms()).await.unwrap());
    assert_eq!(
        store.promote_due(Partition(0), due, 10).await.unwrap(),
        (0, None),
        "unscheduled"
    );

    let (dead, _) = dead_letter(&store, &acme, 1, response(500)).await;
    assert!(
        !store.cancel(&acme, &dead.id, now_ms()).await.unwrap(),
        "a dead letter is not pending"
    );
    assert!(
        store
            .dlq_get(&acme, &dead.id.dlq_id())
            .await
            .unwrap()
            .is_some()
    );
}

pub(crate) async fn outcome_of_a_cancelled_message_is_gone(backend: &impl Backend) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let msg = message(&acme, 0, "cancelled in flight");
    publish(&store, &msg).await;
    let claimed = read_one(&store, 0, "x", &msg.id).await;
    assert!(store.cancel(&acme, &msg.id, now_ms()).await.unwrap());

    let retry = Outcome::Retry {
        due_ms: now_ms(),
        retried: 1,
        response: response(503),
    };
    let record = outcome(&claimed, &acme, retry);
    assert_eq!(
        store.record(Partition(0), "x", &record).await.unwrap(),
        Recorded::Gone
    );
    assert_eq!(
        store
            .promote_due(Partition(0), u64::MAX / 2, 10)
            .await
            .unwrap(),
        (0, None),
        "no retry was scheduled"
    );
    assert!(store.message(&acme, &msg.id).await.unwrap().is_none());
    assert_eq!(
        store.record(Partition(0), "x", &record).await.unwrap(),
        Recorded::Gone
    );
}

pub(crate) async fn discarded_entry_is_no_longer_pending(backend: &impl Backend) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let msg = message(&acme, 0, "orphan");
    publish(&store, &msg).await;
    assert!(store.cancel(&acme, &msg.id, now_ms()).await.unwrap());
    let orphan = read_one(&store, 0, "x", &msg.id).await;
    let reclaimed = store
        .reclaim(Partition(0), "y", Duration::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(ids(&reclaimed), [&msg.id], "pending until discarded");

    store
        .discard(Partition(0), &orphan.entry, None, now_ms())
        .await
        .unwrap();
    assert!(
        store
            .reclaim(Partition(0), "z", Duration::ZERO, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let record = outcome(&reclaimed[0], &acme, Outcome::Delivered);
    assert_eq!(
        store.record(Partition(0), "y", &record).await.unwrap(),
        Recorded::Gone
    );
    assert!(read(&store, 0, "x", 10).await.is_empty());
}

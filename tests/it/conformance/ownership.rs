//! Who may act on a ready entry: leases decide when a deliverer's entries
//! are taken over (never while it lives, at once when it gives the lease
//! up), fencing refuses the outcomes of a deliverer whose lease is gone, a
//! live deliverer finds again what it lost track of, cancellation happens
//! under a reader's feet, and entries whose message is gone are discarded.

use std::time::Duration;

use ferry_core::ids::Partition;
use ferry_store::{DeliveredEntry, Error, Outcome, Reader, Recorded, Store};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{
    LONG_LEASE, dead_letter, delayed, ids, message, now_ms, outcome, publish, read, read_one,
    record_done, response, tenant, within,
};

/// A lease short enough to outlive in a test.
const SHORT_LEASE: Duration = Duration::from_millis(300);
/// Comfortably past `SHORT_LEASE`, as Redis measures expiry too.
const PAST_SHORT_LEASE: Duration = Duration::from_millis(450);

/// Reads as `consumer` under a short lease, then lets the lease expire.
async fn read_then_die<S: Store>(
    store: &S,
    consumer: &str,
    count: usize,
) -> Vec<ferry_store::Claimed> {
    within(store.acquire_lease(consumer, SHORT_LEASE))
        .await
        .unwrap();
    let mut reader = within(store.reader(Partition(0), consumer)).await.unwrap();
    let claimed = within(reader.read(count, Duration::from_millis(50)))
        .await
        .unwrap();
    tokio::time::sleep(PAST_SHORT_LEASE).await;
    claimed
}

async fn reclaim<S: Store>(store: &S, consumer: &str, count: usize) -> Vec<ferry_store::Claimed> {
    within(store.acquire_lease(consumer, LONG_LEASE))
        .await
        .unwrap();
    within(store.reclaim(Partition(0), consumer, count))
        .await
        .unwrap()
}

pub(crate) async fn a_dead_deliverers_entries_are_taken_over<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let msg = message(&acme, 0, "its deliverer died");
    publish(&store, &msg).await;
    let by_x = read_then_die(&store, "x", 10).await.remove(0);

    let by_y = reclaim(&store, "y", 10).await;
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
    assert!(
        reclaim(&store, "z", 10).await.is_empty(),
        "a live holder's entries are never taken"
    );
}

pub(crate) async fn a_live_deliverer_keeps_its_entries_however_long<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let msg = message(&acme, 0, "slow attempt");
    publish(&store, &msg).await;
    // Renewed four times per lifetime, so a slow machine still renews in
    // time; the attempt outlives four lifetimes.
    let lease = Duration::from_secs(1);
    within(store.acquire_lease("x", lease)).await.unwrap();
    let mut reader = within(store.reader(Partition(0), "x")).await.unwrap();
    let by_x = within(reader.read(1, Duration::from_millis(50)))
        .await
        .unwrap()
        .remove(0);

    for _ in 0..16 {
        tokio::time::sleep(lease / 4).await;
        assert!(store.renew_lease("x", lease).await.unwrap());
        assert!(reclaim(&store, "y", 10).await.is_empty());
    }
    record_done(&store, "x", &outcome(&by_x, &acme, Outcome::Delivered)).await;
    assert!(store.message(&acme, &msg.id).await.unwrap().is_none());
}

pub(crate) async fn an_expired_lease_is_never_renewed_and_records_nothing<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let msg = message(&acme, 0, "fenced");
    publish(&store, &msg).await;
    let by_x = read_then_die(&store, "x", 10).await.remove(0);

    assert!(
        !store.renew_lease("x", SHORT_LEASE).await.unwrap(),
        "a lost lease stays lost"
    );
    let batch = [DeliveredEntry {
        entry: by_x.entry.clone(),
        message_id: msg.id.clone(),
        tenant: acme.clone(),
        detail: ferry_store::EventDetail::default(),
        queue: None,
    }];
    assert_eq!(
        store
            .record_delivered(Partition(0), "x", &batch)
            .await
            .unwrap(),
        None,
        "even a success is not recorded without a lease"
    );
    let retry = Outcome::Retry {
        due_ms: now_ms(),
        retried: 1,
        response: response(500),
    };
    assert_eq!(
        store
            .record(Partition(0), "x", &outcome(&by_x, &acme, retry))
            .await
            .unwrap(),
        Recorded::NotOwner
    );
    assert!(matches!(
        store.reclaim(Partition(0), "x", 10).await,
        Err(Error::NoLease(_))
    ));
    assert!(store.message(&acme, &msg.id).await.unwrap().is_some());
    let by_y = reclaim(&store, "y", 10).await;
    assert_eq!(ids(&by_y), [&msg.id], "still pending, for a live deliverer");
}

pub(crate) async fn a_released_lease_frees_its_entries_at_once<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let msg = message(&acme, 0, "shut down");
    publish(&store, &msg).await;
    read_one(&store, 0, "x", &msg.id).await;
    assert!(reclaim(&store, "y", 10).await.is_empty());

    store.release_lease("x").await.unwrap();
    assert_eq!(ids(&reclaim(&store, "y", 10).await), [&msg.id]);
}

pub(crate) async fn reclaim_takes_at_most_count_oldest_first<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let messages: Vec<_> = ["a", "b", "c"].map(|body| message(&acme, 0, body)).into();
    for msg in &messages {
        publish(&store, msg).await;
    }
    assert_eq!(read_then_die(&store, "x", 10).await.len(), 3);

    let first_two = reclaim(&store, "y", 2).await;
    assert_eq!(ids(&first_two), [&messages[0].id, &messages[1].id]);
    let rest = reclaim(&store, "z", 10).await;
    assert_eq!(
        ids(&rest),
        [&messages[2].id],
        "the live claimer keeps what it took"
    );
}

pub(crate) async fn lost_entries_of_a_live_deliverer_are_found_again<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let kept = message(&acme, 0, "being attempted");
    let lost = message(&acme, 0, "lost track of");
    publish(&store, &kept).await;
    publish(&store, &lost).await;
    let claimed = read(&store, 0, "x", 10).await;
    assert_eq!(ids(&claimed), [&kept.id, &lost.id]);
    let held_entry = claimed[0].entry.clone();
    let held = |entry: &str| entry == held_entry;
    let min_idle = Duration::from_millis(100);

    let too_early = within(store.recover_own(Partition(0), "x", min_idle, 10, &held))
        .await
        .unwrap();
    assert!(too_early.is_empty(), "not pending for min_idle yet");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let found = within(store.recover_own(Partition(0), "x", min_idle, 10, &held))
        .await
        .unwrap();
    assert_eq!(ids(&found), [&lost.id], "only what no job holds");
    assert_eq!(found[0].entry, claimed[1].entry);
    let again = within(store.recover_own(Partition(0), "x", min_idle, 10, &held))
        .await
        .unwrap();
    assert!(again.is_empty(), "finding it again restarts its idle time");
    assert!(
        reclaim(&store, "y", 10).await.is_empty(),
        "another deliverer never takes them"
    );
}

pub(crate) async fn cancel_forgets_pending_messages_only<B: Backend>(backend: &B) {
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

pub(crate) async fn outcome_of_a_cancelled_message_is_gone<B: Backend>(backend: &B) {
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

pub(crate) async fn discarded_entry_is_no_longer_pending<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let msg = message(&acme, 0, "orphan");
    publish(&store, &msg).await;
    assert!(store.cancel(&acme, &msg.id, now_ms()).await.unwrap());
    read_one(&store, 0, "x", &msg.id).await;
    store.release_lease("x").await.unwrap();
    let reclaimed = reclaim(&store, "y", 10).await;
    assert_eq!(ids(&reclaimed), [&msg.id], "pending until discarded");

    store
        .discard(Partition(0), &reclaimed[0].entry, None, now_ms())
        .await
        .unwrap();
    store.release_lease("y").await.unwrap();
    assert!(reclaim(&store, "z", 10).await.is_empty());
    let record = outcome(&reclaimed[0], &acme, Outcome::Delivered);
    assert_eq!(
        store.record(Partition(0), "z", &record).await.unwrap(),
        Recorded::Gone
    );
    assert!(read(&store, 0, "x", 10).await.is_empty());
}

//! The life of a message from publish to its last outcome: reads, batched
//! and single deliveries, delays and promotion, retries, deferrals,
//! callbacks and blocking reads.

use std::time::Duration;

use ferry_core::ids::{MessageId, Partition};
use ferry_store::{DeliveredEntry, LastResponse, Outcome, Reader, Recorded, Store};
use tokio::time::Instant;

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{
    delayed, ids, message, now_ms, outcome, publish, read, read_one, record_done, response, tenant,
    within,
};

pub(crate) async fn published_message_is_read_then_delivered(backend: &impl Backend) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let msg = message(&acme, 0, "hello");
    publish(&store, &msg).await;

    let stored = store
        .message(&acme, &msg.id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        (stored.spec, stored.body),
        (msg.spec.clone(), msg.body.clone())
    );
    let claimed = read_one(&store, 0, "x", &msg.id).await;
    let delivered = claimed
        .message
        .clone()
        .expect("the claimed entry carries its message");
    assert_eq!(delivered.id, msg.id);
    assert_eq!(delivered.spec, msg.spec);
    assert_eq!(delivered.body, msg.body);
    assert_eq!(
        (delivered.retried, delivered.last, delivered.dead_at),
        (0, None, None)
    );
    assert!(
        read(&store, 0, "y", 10).await.is_empty(),
        "an entry is read once"
    );

    record_done(&store, "x", &outcome(&claimed, &acme, Outcome::Delivered)).await;
    assert!(store.message(&acme, &msg.id).await.unwrap().is_none());
    let again = store
        .record(
            Partition(0),
            "x",
            &outcome(&claimed, &acme, Outcome::Delivered),
        )
        .await
        .unwrap();
    assert_eq!(again, Recorded::Gone);
    assert!(read(&store, 0, "x", 10).await.is_empty());
}

pub(crate) async fn delivered_batch_acknowledges_each_pending_entry_once(backend: &impl Backend) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let messages: Vec<_> = ["a", "b", "c"].map(|body| message(&acme, 0, body)).into();
    for msg in &messages {
        publish(&store, msg).await;
    }
    let claimed = read(&store, 0, "x", 10).await;
    let expected: Vec<&MessageId> = messages.iter().map(|m| &m.id).collect();
    assert_eq!(ids(&claimed), expected, "entries come in publish order");

    let batch: Vec<DeliveredEntry> = claimed
        .iter()
        .map(|c| DeliveredEntry {
            entry: c.entry.clone(),
            message_id: c.message_id.clone(),
            tenant: acme.clone(),
            detail: ferry_store::EventDetail::default(),
            queue: None,
        })
        .collect();
    assert_eq!(
        store
            .record_delivered(Partition(0), "x", &batch)
            .await
            .unwrap(),
        Some(3)
    );
    for msg in &messages {
        assert!(
            store.message(&acme, &msg.id).await.unwrap().is_none(),
            "{} delivered",
            msg.id
        );
    }
    assert_eq!(
        store
            .record_delivered(Partition(0), "x", &batch)
            .await
            .unwrap(),
        Some(0)
    );
    assert_eq!(
        store
            .record_delivered(Partition(0), "x", &[])
            .await
            .unwrap(),
        Some(0)
    );
}

pub(crate) async fn delayed_message_is_ready_only_once_promoted(backend: &impl Backend) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let due = now_ms() + 60_000;
    let first = delayed(&acme, 0, "first", due);
    let second = delayed(&acme, 0, "second", due + 5_000);
    publish(&store, &first).await;
    publish(&store, &second).await;
    assert!(
        read(&store, 0, "x", 10).await.is_empty(),
        "not readable before promotion"
    );

    assert_eq!(
        store.promote_due(Partition(0), due - 1, 10).await.unwrap(),
        (0, Some(due))
    );
    assert!(read(&store, 0, "x", 10).await.is_empty());
    assert_eq!(
        store
            .promote_due(Partition(0), due + 5_000, 1)
            .await
            .unwrap(),
        (1, Some(due + 5_000)),
        "a batch of one moves only the earliest"
    );
    read_one(&store, 0, "x", &first.id).await;
    assert_eq!(
        store
            .promote_due(Partition(0), due + 5_000, 10)
            .await
            .unwrap(),
        (1, None)
    );
    let claimed = read_one(&store, 0, "x", &second.id).await;
    assert_eq!(
        claimed.message.expect("stored").spec.not_before,
        due + 5_000
    );
}

pub(crate) async fn retry_keeps_the_response_and_schedules_the_next_attempt(
    backend: &impl Backend,
) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let msg = message(&acme, 0, "flaky");
    publish(&store, &msg).await;
    let first = read_one(&store, 0, "x", &msg.id).await;

    let due = now_ms() + 30_000;
    let retry = Outcome::Retry {
        due_ms: due,
        retried: 1,
        response: response(503),
    };
    record_done(&store, "x", &outcome(&first, &acme, retry)).await;
    let stored = store
        .message(&acme, &msg.id)
        .await
        .unwrap()
        .expect("still pending");
    assert_eq!(
        (stored.retried, stored.last, stored.dead_at),
        (1, Some(response(503)), None)
    );
    assert!(
        read(&store, 0, "x", 10).await.is_empty(),
        "waits for its backoff"
    );

    assert_eq!(
        store.promote_due(Partition(0), due, 10).await.unwrap(),
        (1, None)
    );
    let second = read_one(&store, 0, "x", &msg.id).await;
    assert_ne!(second.entry, first.entry, "each attempt has its own entry");
    let attempt = second.message.clone().expect("stored");
    assert_eq!((attempt.retried, attempt.last), (1, Some(response(503))));

    // A failure without a response keeps only the reason.
    let timed_out = LastResponse {
        error: Some("timed out after 10s".into()),
        ..LastResponse::default()
    };
    let retry = Outcome::Retry {
        due_ms: due,
        retried: 2,
        response: timed_out.clone(),
    };
    record_done(&store, "x", &outcome(&second, &acme, retry)).await;
    let stored = store
        .message(&acme, &msg.id)
        .await
        .unwrap()
        .expect("still pending");
    assert_eq!((stored.retried, stored.last), (2, Some(timed_out)));
}

pub(crate) async fn deferred_message_returns_unchanged_when_due(backend: &impl Backend) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let msg = message(&acme, 0, "busy destination");
    publish(&store, &msg).await;
    let claimed = read_one(&store, 0, "x", &msg.id).await;

    let due = now_ms() + 1_000;
    record_done(
        &store,
        "x",
        &outcome(&claimed, &acme, Outcome::Defer { due_ms: due }),
    )
    .await;
    let stored = store
        .message(&acme, &msg.id)
        .await
        .unwrap()
        .expect("still pending");
    assert_eq!((stored.retried, stored.last), (0, None));
    assert!(read(&store, 0, "x", 10).await.is_empty());
    assert_eq!(
        store.promote_due(Partition(0), due, 10).await.unwrap(),
        (1, None)
    );
    read_one(&store, 0, "x", &msg.id).await;
}

pub(crate) async fn outcome_creates_its_callback_messages(backend: &impl Backend) {
    let store = backend
        .open(Settings {
            partitions: 2,
            ..Settings::default()
        })
        .await;
    let acme = tenant("acme");
    let msg = message(&acme, 1, "with callback");
    publish(&store, &msg).await;
    let claimed = read_one(&store, 1, "x", &msg.id).await;

    let callback = message(&acme, 1, "callback body");
    let delayed_callback = delayed(&acme, 1, "later callback", now_ms() + 60_000);
    let mut record = outcome(&claimed, &acme, Outcome::Delivered);
    record.new_messages = vec![callback.clone(), delayed_callback.clone()];
    record_done(&store, "x", &record).await;

    assert!(store.message(&acme, &msg.id).await.unwrap().is_none());
    let created = read_one(&store, 1, "x", &callback.id)
        .await
        .message
        .expect("stored");
    assert_eq!((created.spec, created.body), (callback.spec, callback.body));
    let later = store.message(&acme, &delayed_callback.id).await.unwrap();
    assert_eq!(later.map(|m| m.body), Some(delayed_callback.body));
}

pub(crate) async fn partitions_are_read_separately(backend: &impl Backend) {
    let store = backend
        .open(Settings {
            partitions: 2,
            ..Settings::default()
        })
        .await;
    assert_eq!(store.partitions(), 2);
    let acme = tenant("acme");
    let in_p0 = message(&acme, 0, "zero");
    let in_p1 = message(&acme, 1, "one");
    publish(&store, &in_p0).await;
    publish(&store, &in_p1).await;

    read_one(&store, 1, "x", &in_p1.id).await;
    read_one(&store, 0, "x", &in_p0.id).await;
}

pub(crate) async fn blocked_read_wakes_on_publish_and_on_promotion(backend: &impl Backend) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    // Longer than `within` allows for a step.
    let block = Duration::from_secs(30);
    let mut reader = store.reader(Partition(0), "x").await.unwrap();

    let started = Instant::now();
    let empty = reader.read(10, Duration::from_millis(200)).await.unwrap();
    assert!(empty.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "waited {:?}",
        started.elapsed()
    );

    let waiting = tokio::spawn(async move {
        let claimed = reader.read(10, block).await.unwrap();
        (reader, claimed)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let msg = message(&acme, 0, "wake up");
    publish(&store, &msg).await;
    // `within` gives up long before the block ends, so passing means woken.
    let (mut reader, claimed) = within(waiting).await.unwrap();
    assert_eq!(ids(&claimed), [&msg.id]);

    let due = now_ms() + 60_000;
    let later = delayed(&acme, 0, "later", due);
    publish(&store, &later).await;
    let waiting = tokio::spawn(async move { reader.read(10, block).await.unwrap() });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        store.promote_due(Partition(0), due, 10).await.unwrap(),
        (1, None)
    );
    let claimed = within(waiting).await.unwrap();
    assert_eq!(ids(&claimed), [&later.id]);
}

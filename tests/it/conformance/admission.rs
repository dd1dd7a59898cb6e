//! What publishing refuses or folds: duplicates within the dedup window and
//! messages beyond the partition's backlog bound.

use std::time::Duration;

use ferry_store::{BacklogBound, Outcome, PublishOutcome, Store};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{
    delayed, message, now_ms, outcome, publish, read, read_one, record_done, tenant,
};

pub(crate) async fn duplicate_publish_returns_the_first_id(backend: &impl Backend) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let first = message(&acme, 0, "order 1");
    let again = message(&acme, 0, "order 1, resent");
    assert_eq!(
        store.publish(&first, Some("order-1")).await.unwrap(),
        PublishOutcome::Created
    );
    assert_eq!(
        store.publish(&again, Some("order-1")).await.unwrap(),
        PublishOutcome::Duplicate(first.id.clone())
    );
    assert!(
        store.message(&acme, &again.id).await.unwrap().is_none(),
        "a duplicate is not stored"
    );
    read_one(&store, 0, "x", &first.id).await;

    // Keys are per tenant and per deduplication id.
    let other_tenant = message(&tenant("globex"), 0, "order 1");
    let other_key = message(&acme, 0, "order 2");
    assert_eq!(
        store.publish(&other_tenant, Some("order-1")).await.unwrap(),
        PublishOutcome::Created
    );
    assert_eq!(
        store.publish(&other_key, Some("order-2")).await.unwrap(),
        PublishOutcome::Created
    );
}

pub(crate) async fn dedup_key_expires_after_the_window(backend: &impl Backend) {
    let store = backend
        .open(Settings {
            dedup_window: Duration::from_millis(300),
            ..Settings::default()
        })
        .await;
    let acme = tenant("acme");
    let first = message(&acme, 0, "ping");
    assert_eq!(
        store.publish(&first, Some("ping")).await.unwrap(),
        PublishOutcome::Created
    );
    tokio::time::sleep(Duration::from_millis(450)).await;

    let later = message(&acme, 0, "ping");
    assert_eq!(
        store.publish(&later, Some("ping")).await.unwrap(),
        PublishOutcome::Created
    );
    let ready = read(&store, 0, "x", 10).await;
    assert_eq!(ready.len(), 2, "both messages are ready");
}

pub(crate) async fn backlog_bound_refuses_messages_until_one_leaves(backend: &impl Backend) {
    let store = backend
        .open(Settings {
            max_backlog: 2,
            partitions: 2,
            ..Settings::default()
        })
        .await;
    let acme = tenant("acme");
    let ready = message(&acme, 0, "ready");
    let waiting = delayed(&acme, 0, "delayed", now_ms() + 60_000);
    publish(&store, &ready).await;
    publish(&store, &waiting).await;

    let refused = message(&acme, 0, "one too many");
    assert_eq!(
        store.publish(&refused, None).await.unwrap(),
        PublishOutcome::BacklogFull(BacklogBound::Total)
    );
    assert!(
        store.message(&acme, &refused.id).await.unwrap().is_none(),
        "nothing is stored"
    );
    // An entry being attempted still counts, and a refused publish does not
    // claim its deduplication id.
    let claimed = read_one(&store, 0, "x", &ready.id).await;
    let refused_dedup = message(&acme, 0, "deduplicated");
    assert_eq!(
        store.publish(&refused_dedup, Some("k")).await.unwrap(),
        PublishOutcome::BacklogFull(BacklogBound::Total)
    );

    record_done(&store, "x", &outcome(&claimed, &acme, Outcome::Delivered)).await;
    let admitted = message(&acme, 0, "deduplicated");
    assert_eq!(
        store.publish(&admitted, Some("k")).await.unwrap(),
        PublishOutcome::Created
    );
    assert_eq!(
        store.publish(&refused, None).await.unwrap(),
        PublishOutcome::BacklogFull(BacklogBound::Total)
    );

    // The bound is per partition.
    let elsewhere = message(&acme, 1, "other partition");
    assert_eq!(
        store.publish(&elsewhere, None).await.unwrap(),
        PublishOutcome::Created
    );
}

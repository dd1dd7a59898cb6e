//! The dead-letter queue: how messages get there, what is kept about them,
//! reading, deleting and retrying them, paging across partitions, and
//! retention.

use std::time::Duration;

use bytes::Bytes;
use ferry_core::ids::{MessageId, Partition};
use ferry_store::{DlqFilter, DlqQuery, NewMessage, Order, Store};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{
    dead_letter, message, now_ms, publish, read, read_one, response, tenant,
};

fn first_page(count: usize, order: Order) -> DlqQuery {
    DlqQuery {
        cursor: None,
        count,
        order,
        filter: DlqFilter::default(),
    }
}

pub(crate) async fn dead_outcome_moves_the_message_to_the_dlq(backend: &impl Backend) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let (msg, dead_at) = dead_letter(&store, &acme, 0, response(500)).await;

    let page = store
        .dlq_page(&acme, &first_page(10, Order::EarliestFirst))
        .await
        .unwrap();
    assert!(page.cursor.is_none());
    let [listed] = page.messages.as_slice() else {
        panic!("one dead letter expected, got {:?}", page.messages);
    };
    assert_eq!(listed.id, msg.id);
    assert_eq!(listed.dlq_id(), msg.id.dlq_id());
    assert_eq!((listed.dead_at, listed.retried), (Some(dead_at), 3));
    assert_eq!(listed.last, Some(response(500)));
    assert_eq!((&listed.spec, &listed.body), (&msg.spec, &msg.body));

    let got = store
        .dlq_get(&acme, &msg.id.dlq_id())
        .await
        .unwrap()
        .expect("dead letter");
    assert_eq!(
        (got.id, got.dead_at, got.last),
        (msg.id.clone(), Some(dead_at), Some(response(500)))
    );
    let as_message = store
        .message(&acme, &msg.id)
        .await
        .unwrap()
        .expect("still visible");
    assert_eq!(as_message.dead_at, Some(dead_at));
    assert!(read(&store, 0, "x", 10).await.is_empty(), "not deliverable");
    assert_eq!(
        store
            .promote_due(Partition(0), u64::MAX / 2, 10)
            .await
            .unwrap(),
        (0, None)
    );
}

pub(crate) async fn dlq_delete_removes_a_dead_letter_once(backend: &impl Backend) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let (msg, _) = dead_letter(&store, &acme, 0, response(500)).await;
    let pending = message(&acme, 0, "not dead");
    publish(&store, &pending).await;

    assert!(store.dlq_delete(&acme, &msg.id.dlq_id()).await.unwrap());
    assert!(
        !store.dlq_delete(&acme, &msg.id.dlq_id()).await.unwrap(),
        "deleted once only"
    );
    assert!(
        store
            .dlq_get(&acme, &msg.id.dlq_id())
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.message(&acme, &msg.id).await.unwrap().is_none());
    let page = store
        .dlq_page(&acme, &first_page(10, Order::EarliestFirst))
        .await
        .unwrap();
    assert!(page.messages.is_empty());

    assert!(
        !store.dlq_delete(&acme, &pending.id.dlq_id()).await.unwrap(),
        "a pending message is not a dead letter"
    );
    assert!(store.message(&acme, &pending.id).await.unwrap().is_some());
}

pub(crate) async fn dlq_retry_replaces_the_dead_letter_with_its_body(backend: &impl Backend) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let (dead, _) = dead_letter(&store, &acme, 0, response(500)).await;
    let mut replacement = message(&acme, 0, "");
    replacement.body = Bytes::from_static(b"not used: the dead letter's body is");
    replacement.spec.body_hash = dead.spec.body_hash.clone();

    assert!(
        store
            .dlq_retry(&acme, &dead.id.dlq_id(), &replacement)
            .await
            .unwrap()
    );
    assert!(
        store
            .dlq_get(&acme, &dead.id.dlq_id())
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.message(&acme, &dead.id).await.unwrap().is_none());
    let retried = read_one(&store, 0, "x", &replacement.id)
        .await
        .message
        .expect("stored");
    assert_eq!(retried.body, dead.body);
    assert_eq!(retried.spec, replacement.spec);
    assert_eq!(
        (retried.retried, retried.last, retried.dead_at),
        (0, None, None)
    );

    let other = NewMessage {
        id: MessageId::generate(Partition(0)),
        ..replacement.clone()
    };
    assert!(
        !store
            .dlq_retry(&acme, &dead.id.dlq_id(), &other)
            .await
            .unwrap(),
        "retried once only"
    );
    assert!(store.message(&acme, &other.id).await.unwrap().is_none());
}

pub(crate) async fn dlq_pages_merge_partitions_in_both_orders(backend: &impl Backend) {
    let store = backend
        .open(Settings {
            partitions: 2,
            ..Settings::default()
        })
        .await;
    let acme = tenant("acme");
    let mut dead = Vec::new();
    for n in 0..5_u16 {
        let status = if n % 2 == 0 { 500 } else { 502 };
        let (msg, _) = dead_letter(&store, &acme, n % 2, response(status)).await;
        dead.push(msg.id);
        // Distinct milliseconds of death give both backends one order.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }

    let check = async |order: Order, filter: DlqFilter, expected_pages: &[&[usize]]| {
        let mut query = DlqQuery {
            filter,
            ..first_page(2, order)
        };
        for (idx, expected) in expected_pages.iter().enumerate() {
            let page = store.dlq_page(&acme, &query).await.unwrap();
            let got: Vec<MessageId> = page.messages.iter().map(|m| m.id.clone()).collect();
            let want: Vec<MessageId> = expected.iter().map(|n| dead[*n].clone()).collect();
            assert_eq!(got, want, "{order:?} page {idx}");
            let last_page = idx + 1 == expected_pages.len();
            assert_eq!(
                page.cursor.is_none(),
                last_page,
                "{order:?} page {idx} cursor"
            );
            query.cursor = page.cursor;
        }
    };
    check(
        Order::EarliestFirst,
        DlqFilter::default(),
        &[&[0, 1], &[2, 3], &[4]],
    )
    .await;
    check(
        Order::LatestFirst,
        DlqFilter::default(),
        &[&[4, 3], &[2, 1], &[0]],
    )
    .await;
    let only_502 = DlqFilter {
        response_status: vec![502],
        ..DlqFilter::default()
    };
    // A full page cannot know that nothing else matches: one empty page follows.
    check(Order::LatestFirst, only_502, &[&[3, 1], &[]]).await;
}

pub(crate) async fn dead_letters_expire_after_retention(backend: &impl Backend) {
    let store = backend
        .open(Settings {
            dlq_retention: Duration::from_millis(300),
            ..Settings::default()
        })
        .await;
    let acme = tenant("acme");
    let (msg, dead_at) = dead_letter(&store, &acme, 0, response(500)).await;
    assert!(
        store
            .dlq_get(&acme, &msg.id.dlq_id())
            .await
            .unwrap()
            .is_some()
    );

    let expired_at = dead_at + 300;
    tokio::time::sleep(Duration::from_millis(
        expired_at.saturating_sub(now_ms()) + 150,
    ))
    .await;
    assert!(
        store
            .dlq_get(&acme, &msg.id.dlq_id())
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.message(&acme, &msg.id).await.unwrap().is_none());
    assert!(!store.dlq_delete(&acme, &msg.id.dlq_id()).await.unwrap());
    let page = store
        .dlq_page(&acme, &first_page(10, Order::EarliestFirst))
        .await
        .unwrap();
    assert!(page.messages.is_empty(), "listed {:?}", page.messages);
}

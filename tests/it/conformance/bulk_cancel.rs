//! Bulk cancel: every pending message of the tenant that the filter
//! matches is cancelled, wherever it waits (ready, in flight, delayed, in a
//! queue), up to the limit; dead letters and other tenants' messages are
//! never touched.

use std::collections::BTreeSet;

use ferry_core::ids::{MessageId, TenantId};
use ferry_core::message::TopicRef;
use ferry_store::{MessageFilter, NewMessage, QueueSettings, Store};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{
    dead_letter, delayed, message, now_ms, publish, read, response, tenant, within,
};
use crate::conformance::queues::enqueue;

/// Far enough ahead that nothing is promoted while a case runs.
pub(crate) const HOUR_MS: u64 = 3_600_000;

/// Two partitions, so walks cross from one to the next.
pub(crate) fn settings() -> Settings {
    Settings {
        partitions: 2,
        ..Settings::default()
    }
}

async fn cancel_matching<S: Store>(store: &S, tenant: &TenantId, filter: &MessageFilter) -> usize {
    within(store.cancel_matching(tenant, filter, now_ms()))
        .await
        .unwrap()
}

/// Which of `messages` the store still has.
async fn kept<S: Store>(store: &S, messages: &[&NewMessage]) -> BTreeSet<MessageId> {
    let mut kept = BTreeSet::new();
    for m in messages {
        if within(store.message(&m.spec.tenant, &m.id))
            .await
            .unwrap()
            .is_some()
        {
            kept.insert(m.id.clone());
        }
    }
    kept
}

fn ids(messages: &[&NewMessage]) -> BTreeSet<MessageId> {
    messages.iter().map(|m| m.id.clone()).collect()
}

pub(crate) async fn bulk_cancel_reaches_every_place_a_message_waits<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let other = tenant("other");
    let (dead, _) = dead_letter(&store, &acme, 0, response(500)).await;

    let ready = message(&acme, 0, "ready");
    let in_flight = message(&acme, 1, "in flight");
    let later = delayed(&acme, 0, "delayed", now_ms() + HOUR_MS);
    for m in [&ready, &in_flight, &later] {
        publish(&store, m).await;
    }
    let claimed = read(&store, 1, "c", 10).await;
    assert_eq!(claimed.len(), 1, "the in-flight message is read");
    let admitted = enqueue(&store, &acme, "jobs", "admitted").await;
    let waiting = enqueue(&store, &acme, "jobs", "waiting").await;
    let theirs = message(&other, 0, "theirs");
    let theirs_later = delayed(&other, 1, "theirs later", now_ms() + HOUR_MS);
    publish(&store, &theirs).await;
    publish(&store, &theirs_later).await;

    let all = MessageFilter::default();
    assert_eq!(cancel_matching(&store, &acme, &all).await, 5);
    let acme_messages = [&ready, &in_flight, &later, &admitted, &waiting];
    assert!(kept(&store, &acme_messages).await.is_empty());
    assert_eq!(
        kept(&store, &[&theirs, &theirs_later]).await.len(),
        2,
        "another tenant's messages stay"
    );
    assert!(
        within(store.dlq_get(&acme, &dead.id.dlq_id()))
            .await
            .unwrap()
            .is_some(),
        "a dead letter is not pending"
    );
    let queue = within(store.queue(&acme, "jobs")).await.unwrap().unwrap();
    assert_eq!((queue.lag, queue.active), (0, 0), "the queue is empty");
    assert_eq!(cancel_matching(&store, &acme, &all).await, 0);
}

/// A delayed message of acme with `label`, to `url`.
fn labelled(acme: &TenantId, partition: u16, url: &str, label: &str) -> NewMessage {
    let mut m = delayed(acme, partition, label, now_ms() + HOUR_MS);
    m.spec.url = url.to_owned();
    m.spec.labels = vec![label.to_owned()];
    m
}

pub(crate) async fn bulk_cancel_ands_filters_and_ors_their_values<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let a = labelled(&acme, 0, "https://a.example/hooks/one", "red");
    let b = labelled(&acme, 1, "https://a.example/hooks/two", "blue");
    let c = labelled(&acme, 0, "https://b.example/hooks/one", "red");
    let mut d = labelled(&acme, 1, "https://b.example/other", "green");
    d.spec.created_at = 1_000;
    d.spec.topic = Some(TopicRef {
        name: "fanout".into(),
        endpoint: None,
    });
    d.spec.schedule_id = Some("nightly".into());
    d.spec.caller_ip = Some("198.51.100.1".into());
    for m in [&a, &b, &c, &d] {
        publish(&store, m).await;
    }
    within(store.upsert_queue(
        &acme,
        "paused",
        QueueSettings {
            parallelism: 1,
            paused: true,
        },
        now_ms(),
    ))
    .await
    .unwrap();
    let queued = enqueue(&store, &acme, "paused", "queued").await;
    let every = [&a, &b, &c, &d, &queued];

    let none_match = [
        MessageFilter {
            flow_control_key: vec!["no-such-key".into()],
            ..MessageFilter::default()
        },
        MessageFilter {
            label: vec!["red".into()],
            host: vec!["nowhere.example".into()],
            ..MessageFilter::default()
        },
        MessageFilter {
            from_date: Some(now_ms() + HOUR_MS),
            ..MessageFilter::default()
        },
    ];
    for filter in &none_match {
        assert_eq!(
            cancel_matching(&store, &acme, filter).await,
            0,
            "{filter:?}"
        );
    }
    assert_eq!(kept(&store, &every).await, ids(&every));

    let red_on_a = MessageFilter {
        label: vec!["red".into(), "green".into()],
        host: vec!["a.example".into()],
        ..MessageFilter::default()
    };
    assert_eq!(cancel_matching(&store, &acme, &red_on_a).await, 1);
    assert_eq!(kept(&store, &every).await, ids(&[&b, &c, &d, &queued]));

    let by_path = MessageFilter {
        path: vec!["/hooks/one".into(), "/hooks/two".into()],
        to_date: Some(now_ms()),
        ..MessageFilter::default()
    };
    assert_eq!(cancel_matching(&store, &acme, &by_path).await, 2);
    assert_eq!(kept(&store, &every).await, ids(&[&d, &queued]));

    let by_queue = MessageFilter {
        queue_name: vec!["paused".into()],
        ..MessageFilter::default()
    };
    assert_eq!(cancel_matching(&store, &acme, &by_queue).await, 1);
    let by_origin = MessageFilter {
        topic_name: vec!["fanout".into()],
        schedule_id: vec!["nightly".into()],
        caller_ip: vec!["198.51.100.1".into()],
        url: vec!["https://b.example/other".into()],
        to_date: Some(1_000),
        ..MessageFilter::default()
    };
    assert_eq!(cancel_matching(&store, &acme, &by_origin).await, 1);
    assert!(kept(&store, &every).await.is_empty());
}

pub(crate) async fn bulk_cancel_pages_through_long_places_in_one_call<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    // Several pages of delayed and ready messages, every other one red, so
    // pages are partly cancelled and partly kept.
    let mut messages = Vec::new();
    for i in 0..700 {
        let label = if i % 2 == 0 { "red" } else { "blue" };
        let mut m = labelled(&acme, 0, "https://a.example/", label);
        if i >= 450 {
            m.spec.not_before = 0;
        }
        publish(&store, &m).await;
        messages.push(m);
    }
    let red = MessageFilter {
        label: vec!["red".into()],
        ..MessageFilter::default()
    };
    assert_eq!(cancel_matching(&store, &acme, &red).await, 350);
    assert_eq!(cancel_matching(&store, &acme, &red).await, 0);
    let all: Vec<&NewMessage> = messages.iter().collect();
    let blue: Vec<&NewMessage> = messages
        .iter()
        .filter(|m| m.spec.labels == ["blue"])
        .collect();
    assert_eq!(kept(&store, &all).await, ids(&blue));
    let everything = MessageFilter::default();
    assert_eq!(cancel_matching(&store, &acme, &everything).await, 350);
}

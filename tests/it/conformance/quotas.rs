//! The backlog bounds per tenant and in total: every message stored and not
//! yet finished counts (ready, delayed, in flight, waiting in a queue, paused
//! or not, or under a flow-control key), each tenant against its own quota,
//! and the count goes down exactly when a message leaves (delivered,
//! dead-lettered, cancelled, or its queue deleted).

use ferry_core::flow::FlowControl;
use ferry_core::ids::{Partition, TenantId};
use ferry_store::{
    BacklogBound, DeliveredEntry, EventDetail, NewMessage, Outcome, PublishOutcome, QueueSettings,
    Store,
};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{
    dead_letter, delayed, message, now_ms, outcome, publish, read, read_one, record_done, response,
    tenant, within,
};
use crate::conformance::queues::enqueue;

/// One partition, so every message of a tenant meets the same count.
fn quota(per_tenant: u64) -> Settings {
    Settings {
        partitions: 1,
        max_tenant_backlog: per_tenant,
        ..Settings::default()
    }
}

/// Stores `msg` (enqueued when it names a queue) and returns the outcome.
async fn store_one<S: Store>(store: &S, msg: &NewMessage) -> PublishOutcome {
    let stored = if msg.spec.queue.is_some() {
        within(store.enqueue(msg, None)).await
    } else {
        within(store.publish(msg, None)).await
    };
    stored.unwrap()
}

/// Checks that `msg` is refused by `bound` and nothing of it is stored.
async fn assert_refused<S: Store>(store: &S, msg: &NewMessage, bound: BacklogBound) {
    assert_eq!(
        store_one(store, msg).await,
        PublishOutcome::BacklogFull(bound),
        "{} must be refused",
        String::from_utf8_lossy(&msg.body)
    );
    let tenant = &msg.spec.tenant;
    assert!(
        within(store.message(tenant, &msg.id))
            .await
            .unwrap()
            .is_none(),
        "a refused message is not stored"
    );
}

/// Checks that one more message of `tenant` fits, and cancels it again.
async fn assert_room<S: Store>(store: &S, tenant: &TenantId) {
    let probe = delayed(tenant, 0, "probe", now_ms() + 3_600_000);
    publish(store, &probe).await;
    assert!(
        within(store.cancel(tenant, &probe.id, now_ms()))
            .await
            .unwrap()
    );
}

fn queued(tenant: &TenantId, queue: &str, body: &str) -> NewMessage {
    let mut msg = message(tenant, 0, body);
    msg.spec.queue = Some(queue.to_owned());
    msg
}

fn flow_controlled(tenant: &TenantId, body: &str) -> NewMessage {
    let mut msg = message(tenant, 0, body);
    msg.spec.flow_control = Some(FlowControl {
        key: "one-at-a-time".into(),
        parallelism: Some(1),
        rate: None,
        period_ms: 1_000,
    });
    msg
}

pub(crate) async fn one_tenants_full_quota_leaves_the_others_room(backend: &impl Backend) {
    let store = backend
        .open(Settings {
            max_backlog: 4,
            ..quota(2)
        })
        .await;
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    publish(&store, &message(&acme, 0, "a1")).await;
    publish(&store, &delayed(&acme, 0, "a2", now_ms() + 60_000)).await;
    assert_refused(&store, &message(&acme, 0, "a3"), BacklogBound::Tenant).await;

    publish(&store, &message(&globex, 0, "g1")).await;
    publish(&store, &message(&globex, 0, "g2")).await;
    // Both tenants at their quota fill the partition's total bound too.
    let hooli = tenant("hooli");
    assert_refused(&store, &message(&hooli, 0, "h1"), BacklogBound::Total).await;
}

pub(crate) async fn waiting_in_a_paused_queue_or_under_a_flow_key_counts(backend: &impl Backend) {
    let store = backend.open(quota(2)).await;
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let paused = QueueSettings {
        parallelism: 1,
        paused: true,
    };
    within(store.upsert_queue(&acme, "later", paused, now_ms()))
        .await
        .unwrap();
    enqueue(&store, &acme, "later", "q1").await;
    enqueue(&store, &acme, "later", "q2").await;
    assert!(
        read(&store, 0, "c", 10).await.is_empty(),
        "nothing admitted"
    );
    assert_refused(&store, &queued(&acme, "later", "q3"), BacklogBound::Tenant).await;
    assert_refused(&store, &message(&acme, 0, "plain"), BacklogBound::Tenant).await;

    let first = flow_controlled(&globex, "f1");
    let second = flow_controlled(&globex, "f2");
    publish(&store, &first).await;
    publish(&store, &second).await;
    read_one(&store, 0, "c", &first.id).await;
    assert_refused(
        &store,
        &flow_controlled(&globex, "f3"),
        BacklogBound::Tenant,
    )
    .await;
}

pub(crate) async fn counts_go_down_on_delivery_dead_letter_and_cancel(backend: &impl Backend) {
    let store = backend.open(quota(1)).await;
    let acme = tenant("acme");

    // Delivered, one at a time and in a batch.
    let a = message(&acme, 0, "a");
    publish(&store, &a).await;
    assert_refused(&store, &message(&acme, 0, "b"), BacklogBound::Tenant).await;
    let claimed = read_one(&store, 0, "x", &a.id).await;
    record_done(&store, "x", &outcome(&claimed, &acme, Outcome::Delivered)).await;
    let b = message(&acme, 0, "b");
    publish(&store, &b).await;
    let claimed = read_one(&store, 0, "x", &b.id).await;
    let batch = [DeliveredEntry {
        entry: claimed.entry.clone(),
        message_id: b.id.clone(),
        tenant: acme.clone(),
        detail: ferry_store::EventDetail::default(),
        queue: None,
    }];
    let recorded = within(store.record_delivered(Partition(0), "x", &batch)).await;
    assert_eq!(recorded.unwrap(), Some(1));
    assert_room(&store, &acme).await;

    // A retry keeps its place; dead-lettered, it leaves, and retried from
    // the dead-letter queue it counts again.
    let c = message(&acme, 0, "c");
    publish(&store, &c).await;
    let claimed = read_one(&store, 0, "x", &c.id).await;
    let retry = Outcome::Retry {
        due_ms: now_ms() + 3_600_000,
        retried: 1,
        response: response(500),
    };
    record_done(&store, "x", &outcome(&claimed, &acme, retry)).await;
    assert_refused(&store, &message(&acme, 0, "d"), BacklogBound::Tenant).await;
    assert!(within(store.cancel(&acme, &c.id, now_ms())).await.unwrap());
    let (dead, _) = dead_letter(&store, &acme, 0, response(400)).await;
    assert_room(&store, &acme).await;
    let again = message(&acme, 0, "dead, retried");
    let retried = within(store.dlq_retry(&acme, &dead.id.dlq_id(), &again)).await;
    assert!(retried.unwrap());
    assert_refused(&store, &message(&acme, 0, "e"), BacklogBound::Tenant).await;

    // A callback counts from the outcome that creates it.
    let claimed = read_one(&store, 0, "x", &again.id).await;
    let callback = message(&acme, 0, "callback");
    let mut delivered = outcome(&claimed, &acme, Outcome::Delivered);
    delivered.new_messages = vec![callback.clone()];
    record_done(&store, "x", &delivered).await;
    assert_refused(&store, &message(&acme, 0, "f"), BacklogBound::Tenant).await;
    let claimed = read_one(&store, 0, "x", &callback.id).await;
    record_done(&store, "x", &outcome(&claimed, &acme, Outcome::Delivered)).await;
    assert_room(&store, &acme).await;

    // Waiting in a queue that is deleted.
    let paused = QueueSettings {
        parallelism: 1,
        paused: true,
    };
    within(store.upsert_queue(&acme, "doomed", paused, now_ms()))
        .await
        .unwrap();
    enqueue(&store, &acme, "doomed", "waits").await;
    assert_refused(&store, &message(&acme, 0, "g"), BacklogBound::Tenant).await;
    assert!(
        within(store.delete_queue(&acme, "doomed", now_ms()))
            .await
            .unwrap()
    );
    assert_room(&store, &acme).await;
}

/// A batch of deliveries of several tenants gives each its own count back,
/// once: recording the batch again releases nothing more.
pub(crate) async fn a_batch_of_deliveries_releases_each_tenants_count(backend: &impl Backend) {
    let store = backend
        .open(Settings {
            max_backlog: 3,
            ..quota(2)
        })
        .await;
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    for msg in [
        message(&acme, 0, "a1"),
        message(&globex, 0, "g1"),
        message(&acme, 0, "a2"),
    ] {
        publish(&store, &msg).await;
    }
    let claimed = read(&store, 0, "x", 10).await;
    assert_eq!(claimed.len(), 3);
    let batch: Vec<DeliveredEntry> = claimed
        .iter()
        .map(|c| DeliveredEntry {
            entry: c.entry.clone(),
            message_id: c.message_id.clone(),
            tenant: c.message.as_ref().expect("stored").spec.tenant.clone(),
            detail: EventDetail::default(),
            queue: None,
        })
        .collect();
    let recorded = within(store.record_delivered(Partition(0), "x", &batch)).await;
    assert_eq!(recorded.unwrap(), Some(3));

    // Both tenants have their whole quota back, and the partition its total.
    let refill = [
        message(&acme, 0, "a3"),
        message(&acme, 0, "a4"),
        message(&globex, 0, "g2"),
    ];
    for msg in &refill {
        publish(&store, msg).await;
    }
    assert_refused(&store, &message(&globex, 0, "g3"), BacklogBound::Total).await;
    let again = within(store.record_delivered(Partition(0), "x", &batch)).await;
    assert_eq!(again.unwrap(), Some(0), "nothing is recorded twice");
    assert_refused(&store, &message(&globex, 0, "g3"), BacklogBound::Total).await;
}

//! Queues: messages wait in FIFO order and are admitted to the ready stream
//! only while fewer than `parallelism` of them are unfinished and the queue
//! is not paused; a retry keeps its slot, a final outcome or a cancel frees it,
//! and a dead letter retried from the DLQ rejoins its queue.

use ferry_core::flow::FlowControl;
use ferry_core::ids::{MessageId, Partition, TenantId};
use ferry_store::{
    Claimed, DeliveredEntry, EventFilter, EventQuery, EventState, LastResponse, NewMessage, Order,
    Outcome, PublishOutcome, Queue, QueueSettings, Store,
};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{
    ids, message, now_ms, outcome, read, record_done, response, tenant, within,
};

/// Several partitions, so a queue's home is not trivially partition 0.
fn settings() -> Settings {
    Settings {
        partitions: 4,
        ..Settings::default()
    }
}

/// Enqueues a message with `body` to `queue`, in the queue's partition.
pub(crate) async fn enqueue<S: Store>(
    store: &S,
    tenant: &TenantId,
    queue: &str,
    body: &str,
) -> NewMessage {
    enqueue_with(store, tenant, queue, None, body).await
}

/// Enqueues a message with `body` to `queue`, under the flow-control key
/// `flow` if given, in the queue's partition.
pub(crate) async fn enqueue_with<S: Store>(
    store: &S,
    tenant: &TenantId,
    queue: &str,
    flow: Option<&FlowControl>,
    body: &str,
) -> NewMessage {
    let home = within(store.queue_home(tenant, queue)).await.unwrap();
    let mut msg = message(tenant, home.0, body);
    msg.spec.queue = Some(queue.to_owned());
    msg.spec.flow_control = flow.cloned();
    let stored = within(store.enqueue(&msg, None)).await.unwrap();
    assert_eq!(stored, PublishOutcome::Created, "enqueueing {body}");
    msg
}

/// The queue as the store shows it: (lag, active, parallelism, paused).
pub(crate) async fn shown<S: Store>(
    store: &S,
    tenant: &TenantId,
    name: &str,
) -> (u64, u32, u32, bool) {
    let q: Queue = within(store.queue(tenant, name)).await.unwrap().unwrap();
    (q.lag, q.active, q.parallelism, q.paused)
}

/// Everything newly ready in the queue's partition, read as consumer `c`.
async fn ready<S: Store>(store: &S, home: Partition) -> Vec<Claimed> {
    read(store, home.0, "c", 10).await
}

async fn deliver_batch<S: Store>(store: &S, tenant: &TenantId, claimed: &Claimed) {
    let batch = [DeliveredEntry {
        entry: claimed.entry.clone(),
        message_id: claimed.message_id.clone(),
        tenant: tenant.clone(),
        detail: ferry_store::EventDetail::default(),
        queue: claimed.message.as_ref().and_then(|m| m.spec.queue.clone()),
    }];
    let partition = claimed.message_id.partition();
    assert_eq!(
        within(store.record_delivered(partition, "c", &batch))
            .await
            .unwrap(),
        Some(1)
    );
}

fn failed() -> LastResponse {
    response(500)
}

pub(crate) async fn queue_admits_in_fifo_order_across_retry_and_finish<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let a = enqueue(&store, &acme, "orders", "a").await;
    let b = enqueue(&store, &acme, "orders", "b").await;
    let c = enqueue(&store, &acme, "orders", "c").await;
    let home = a.id.partition();
    assert_eq!(shown(&store, &acme, "orders").await, (2, 1, 1, false));

    let first = ready(&store, home).await;
    assert_eq!(ids(&first), [&a.id], "only the oldest is admitted");
    let due = now_ms();
    let retry = Outcome::Retry {
        due_ms: due,
        retried: 1,
        response: failed(),
    };
    record_done(&store, "c", &outcome(&first[0], &acme, retry)).await;
    assert!(
        ready(&store, home).await.is_empty(),
        "a retry keeps the slot"
    );
    within(store.promote_due(home, due, 10)).await.unwrap();
    let again = ready(&store, home).await;
    assert_eq!(ids(&again), [&a.id], "the retried message comes back first");

    deliver_batch(&store, &acme, &again[0]).await;
    let second = ready(&store, home).await;
    assert_eq!(ids(&second), [&b.id], "delivery admits the next one");
    let dead = Outcome::Dead {
        retried: 3,
        response: failed(),
    };
    record_done(&store, "c", &outcome(&second[0], &acme, dead)).await;
    let third = ready(&store, home).await;
    assert_eq!(ids(&third), [&c.id], "a dead letter frees its slot too");
    record_done(&store, "c", &outcome(&third[0], &acme, Outcome::Delivered)).await;
    assert_eq!(shown(&store, &acme, "orders").await, (0, 0, 1, false));
}

pub(crate) async fn parallelism_bounds_the_messages_in_flight<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let two = QueueSettings {
        parallelism: 2,
        paused: false,
    };
    within(store.upsert_queue(&acme, "wide", two, 1_000))
        .await
        .unwrap();
    let mut sent = Vec::new();
    for body in ["1", "2", "3", "4"] {
        sent.push(enqueue(&store, &acme, "wide", body).await);
    }
    let home = sent[0].id.partition();
    let first = ready(&store, home).await;
    assert_eq!(ids(&first), [&sent[0].id, &sent[1].id]);
    assert_eq!(shown(&store, &acme, "wide").await, (2, 2, 2, false));

    deliver_batch(&store, &acme, &first[0]).await;
    assert_eq!(ids(&ready(&store, home).await), [&sent[2].id]);
    let three = QueueSettings {
        parallelism: 3,
        ..two
    };
    within(store.upsert_queue(&acme, "wide", three, 2_000))
        .await
        .unwrap();
    assert_eq!(
        ids(&ready(&store, home).await),
        [&sent[3].id],
        "raising parallelism admits up to the new room"
    );
    assert_eq!(shown(&store, &acme, "wide").await, (0, 3, 3, false));
}

pub(crate) async fn paused_queue_accepts_and_admits_on_resume<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    assert!(
        !within(store.set_queue_paused(&acme, "later", true, 1_000))
            .await
            .unwrap(),
        "no such queue yet"
    );
    let paused = QueueSettings {
        parallelism: 1,
        paused: true,
    };
    within(store.upsert_queue(&acme, "later", paused, 1_000))
        .await
        .unwrap();
    let a = enqueue(&store, &acme, "later", "a").await;
    let b = enqueue(&store, &acme, "later", "b").await;
    let home = a.id.partition();
    assert!(
        ready(&store, home).await.is_empty(),
        "paused: nothing admitted"
    );
    assert_eq!(shown(&store, &acme, "later").await, (2, 0, 1, true));

    assert!(
        within(store.set_queue_paused(&acme, "later", false, 2_000))
            .await
            .unwrap()
    );
    let first = ready(&store, home).await;
    assert_eq!(ids(&first), [&a.id]);
    within(store.set_queue_paused(&acme, "later", true, 3_000))
        .await
        .unwrap();
    record_done(&store, "c", &outcome(&first[0], &acme, Outcome::Delivered)).await;
    assert!(
        ready(&store, home).await.is_empty(),
        "a finished message frees a slot that a paused queue does not fill"
    );
    within(store.set_queue_paused(&acme, "later", false, 4_000))
        .await
        .unwrap();
    assert_eq!(ids(&ready(&store, home).await), [&b.id]);
    let q = within(store.queue(&acme, "later")).await.unwrap().unwrap();
    assert_eq!((q.created_at, q.updated_at), (1_000, 4_000));
}

pub(crate) async fn cancel_and_delete_take_messages_out_of_the_queue<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let a = enqueue(&store, &acme, "jobs", "a").await;
    let b = enqueue(&store, &acme, "jobs", "b").await;
    let c = enqueue(&store, &acme, "jobs", "c").await;
    let d = enqueue(&store, &acme, "jobs", "d").await;
    let home = a.id.partition();
    assert_eq!(ids(&ready(&store, home).await), [&a.id]);

    assert!(within(store.cancel(&acme, &b.id, now_ms())).await.unwrap());
    assert_eq!(shown(&store, &acme, "jobs").await, (2, 1, 1, false));
    assert!(within(store.cancel(&acme, &a.id, now_ms())).await.unwrap());
    assert_eq!(
        ids(&ready(&store, home).await),
        [&c.id],
        "cancelling the active message admits the next waiting one"
    );

    assert!(
        within(store.delete_queue(&acme, "jobs", now_ms()))
            .await
            .unwrap()
    );
    assert!(within(store.queue(&acme, "jobs")).await.unwrap().is_none());
    assert!(
        within(store.message(&acme, &d.id)).await.unwrap().is_none(),
        "deleting the queue cancels its waiting messages"
    );
    assert!(
        within(store.message(&acme, &c.id)).await.unwrap().is_some(),
        "an admitted message finishes normally"
    );
    assert!(
        !within(store.delete_queue(&acme, "jobs", now_ms()))
            .await
            .unwrap()
    );
}

pub(crate) async fn queues_are_listed_per_tenant_by_name<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let (acme, umbrella) = (tenant("acme"), tenant("umbrella"));
    let one = QueueSettings {
        parallelism: 1,
        paused: false,
    };
    for name in ["zeta", "alpha"] {
        within(store.upsert_queue(&acme, name, one, 1_000))
            .await
            .unwrap();
    }
    enqueue(&store, &umbrella, "alpha", "theirs").await;
    let names = |queues: Vec<Queue>| queues.into_iter().map(|q| q.name).collect::<Vec<_>>();
    assert_eq!(
        names(within(store.queues(&acme)).await.unwrap()),
        ["alpha", "zeta"]
    );
    assert_eq!(
        names(within(store.queues(&umbrella)).await.unwrap()),
        ["alpha"]
    );
    assert_eq!(shown(&store, &acme, "alpha").await, (0, 0, 1, false));
    let other: MessageId = MessageId::generate(Partition(0));
    assert!(!within(store.cancel(&acme, &other, now_ms())).await.unwrap());
}

pub(crate) async fn a_retried_dead_letter_waits_in_its_queue<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let a = enqueue(&store, &acme, "orders", "a").await;
    let home = a.id.partition();
    let first = ready(&store, home).await;
    let dead = Outcome::Dead {
        retried: 3,
        response: failed(),
    };
    record_done(&store, "c", &outcome(&first[0], &acme, dead)).await;
    let b = enqueue(&store, &acme, "orders", "b").await;
    let in_flight = ready(&store, home).await;
    assert_eq!(ids(&in_flight), [&b.id]);

    let replacement = NewMessage {
        id: MessageId::generate(home),
        spec: a.spec.clone(),
        body: Default::default(),
    };
    assert!(
        within(store.dlq_retry(&acme, &a.id.dlq_id(), &replacement))
            .await
            .unwrap()
    );
    assert!(
        ready(&store, home).await.is_empty(),
        "the queue's one slot is taken: the retried message waits"
    );
    assert_eq!(shown(&store, &acme, "orders").await, (1, 1, 1, false));

    within(store.set_queue_paused(&acme, "orders", true, now_ms()))
        .await
        .unwrap();
    record_done(
        &store,
        "c",
        &outcome(&in_flight[0], &acme, Outcome::Delivered),
    )
    .await;
    assert!(
        ready(&store, home).await.is_empty(),
        "a paused queue does not admit the retried message either"
    );
    assert_eq!(shown(&store, &acme, "orders").await, (1, 0, 1, true));

    within(store.set_queue_paused(&acme, "orders", false, now_ms()))
        .await
        .unwrap();
    let admitted = ready(&store, home).await;
    assert_eq!(ids(&admitted), [&replacement.id]);
    let message = admitted[0].message.as_ref().expect("stored");
    assert_eq!(message.body, a.body, "the dead letter's body");
    assert_eq!(shown(&store, &acme, "orders").await, (0, 1, 1, false));
    record_done(
        &store,
        "c",
        &outcome(&admitted[0], &acme, Outcome::Delivered),
    )
    .await;
    assert_eq!(
        shown(&store, &acme, "orders").await,
        (0, 0, 1, false),
        "its outcome frees the slot it took"
    );

    let filter = EventFilter {
        queue_names: vec!["orders".into()],
        ..EventFilter::default()
    };
    let query = EventQuery {
        cursor: None,
        count: 100,
        order: Order::EarliestFirst,
        filter,
    };
    let page = within(store.events_page(&acme, &query)).await.unwrap();
    assert!(
        page.events
            .iter()
            .any(|e| e.message_id == replacement.id && e.state == EventState::Created),
        "the retried message's log line names its queue: {:?}",
        page.events
    );
}

/// A callback message of `source`, in its partition, carrying its queue as
/// the deliverer sets it for the callbacks of a final outcome.
fn callback_of(source: &NewMessage, body: &str) -> NewMessage {
    let mut callback = message(&source.spec.tenant, source.id.partition().0, body);
    callback.spec.source_message_id = Some(source.id.clone());
    callback.spec.queue.clone_from(&source.spec.queue);
    callback
}

pub(crate) async fn the_next_message_waits_for_the_final_callbacks<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let a = enqueue(&store, &acme, "hooks", "a").await;
    let b = enqueue(&store, &acme, "hooks", "b").await;
    let c = enqueue(&store, &acme, "hooks", "c").await;
    let home = a.id.partition();

    let first = ready(&store, home).await;
    assert_eq!(ids(&first), [&a.id]);
    let mut delivered = outcome(&first[0], &acme, Outcome::Delivered);
    delivered.new_messages = vec![callback_of(&a, "a's callback")];
    record_done(&store, "c", &delivered).await;
    let callback = ready(&store, home).await;
    assert_eq!(callback.len(), 1, "only the callback: b waits for it");
    assert_eq!(shown(&store, &acme, "hooks").await, (2, 1, 1, false));
    deliver_batch(&store, &acme, &callback[0]).await;

    let second = ready(&store, home).await;
    assert_eq!(ids(&second), [&b.id], "the callback's delivery admits b");
    let mut dead = outcome(
        &second[0],
        &acme,
        Outcome::Dead {
            retried: 0,
            response: failed(),
        },
    );
    dead.new_messages = vec![
        callback_of(&b, "callback"),
        callback_of(&b, "failure callback"),
    ];
    record_done(&store, "c", &dead).await;
    let callbacks = ready(&store, home).await;
    assert_eq!(callbacks.len(), 2, "both callbacks, and not c");
    record_done(
        &store,
        "c",
        &outcome(&callbacks[0], &acme, Outcome::Delivered),
    )
    .await;
    assert!(
        ready(&store, home).await.is_empty(),
        "c waits for the second"
    );
    assert!(
        within(store.cancel(&acme, &callbacks[1].message_id, now_ms()))
            .await
            .unwrap(),
        "a cancelled callback frees its share too"
    );
    let third = ready(&store, home).await;
    assert_eq!(ids(&third), [&c.id]);
    assert_eq!(shown(&store, &acme, "hooks").await, (0, 1, 1, false));
}

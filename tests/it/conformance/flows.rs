//! Flow control: messages published with a key wait in the key's list and
//! are admitted to the ready stream only while the key's limits allow; each
//! admitted entry holds a slot that its outcome (or discard) frees; a full
//! rate window is reopened by the wake step; the API's changes apply.
//!
//! Times are passed in, so the rate windows here are driven without waiting.

use ferry_core::flow::FlowControl;
use ferry_core::ids::{Partition, TenantId};
use ferry_store::{
    Claimed, FlowChange, FlowKey, MessageFilter, NewMessage, Outcome, PublishOutcome, Store,
};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{
    ids, message, now_ms, outcome, read, record_done, response, tenant, within,
};

fn settings() -> Settings {
    Settings {
        partitions: 4,
        ..Settings::default()
    }
}

fn limits(parallelism: Option<u32>, rate: Option<u32>) -> FlowControl {
    FlowControl {
        key: "api.example.com".into(),
        parallelism,
        rate,
        period_ms: 1_000,
    }
}

/// Publishes a message with `flow` at time `at`, in the key's partition.
async fn publish_with<S: Store>(
    store: &S,
    tenant: &TenantId,
    flow: &FlowControl,
    body: &str,
    at: u64,
) -> NewMessage {
    let home = within(store.flow_home(tenant, &flow.key)).await.unwrap();
    let mut msg = message(tenant, home.0, body);
    msg.spec.flow_control = Some(flow.clone());
    msg.spec.created_at = at;
    msg.spec.not_before = at;
    let stored = within(store.publish(&msg, None)).await.unwrap();
    assert_eq!(stored, PublishOutcome::Created, "publishing {body}");
    msg
}

async fn shown<S: Store>(store: &S, tenant: &TenantId, at: u64) -> FlowKey {
    within(store.flow(tenant, "api.example.com", at))
        .await
        .unwrap()
        .expect("the key exists")
}

async fn ready<S: Store>(store: &S, home: Partition) -> Vec<Claimed> {
    read(store, home.0, "c", 10).await
}

fn delivered(claimed: &Claimed, tenant: &TenantId, at: u64) -> ferry_store::OutcomeRecord {
    let mut record = outcome(claimed, tenant, Outcome::Delivered);
    record.now_ms = at;
    record
}

pub(crate) async fn parallelism_bounds_the_attempts_in_flight<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let t = now_ms();
    let flow = limits(Some(2), None);
    let a = publish_with(&store, &acme, &flow, "a", t).await;
    let b = publish_with(&store, &acme, &flow, "b", t).await;
    let c = publish_with(&store, &acme, &flow, "c", t).await;
    let home = a.id.partition();
    let key = shown(&store, &acme, t).await;
    assert_eq!(
        (key.waiting, key.parallelism_count, key.parallelism_max),
        (1, 2, 2)
    );

    let first = ready(&store, home).await;
    assert_eq!(ids(&first), [&a.id, &b.id], "two are admitted, in order");
    assert!(
        first.iter().all(|c| c.flow_slot.is_some()),
        "each holds a slot"
    );
    assert!(ready(&store, home).await.is_empty(), "the third waits");

    // A retry frees its slot like any other outcome: the third goes in.
    let retry = Outcome::Retry {
        due_ms: t,
        retried: 1,
        response: response(500),
    };
    let mut record = outcome(&first[1], &acme, retry);
    record.now_ms = t;
    record_done(&store, "c", &record).await;
    let next = ready(&store, home).await;
    assert_eq!(ids(&next), [&c.id]);

    // The retried message becomes ready without a slot, and must wait.
    within(store.promote_due(home, t, 10)).await.unwrap();
    let again = ready(&store, home).await;
    assert_eq!(ids(&again), [&b.id]);
    assert!(
        again[0].flow_slot.is_none(),
        "a promoted entry holds no slot"
    );
    let msg = again[0].message.as_ref().unwrap();
    let waited = within(store.flow_wait(home, "c", &again[0].entry, msg, t))
        .await
        .unwrap();
    assert_eq!(waited, ferry_store::Recorded::Done);
    assert_eq!(
        shown(&store, &acme, t).await.waiting,
        1,
        "b waits: a and c run"
    );

    record_done(&store, "c", &delivered(&first[0], &acme, t)).await;
    let admitted = ready(&store, home).await;
    assert_eq!(ids(&admitted), [&b.id], "a's slot went to b");
    assert!(admitted[0].flow_slot.is_some());
    record_done(&store, "c", &delivered(&admitted[0], &acme, t)).await;
    record_done(&store, "c", &delivered(&next[0], &acme, t)).await;
    let key = shown(&store, &acme, t).await;
    assert_eq!((key.waiting, key.parallelism_count), (0, 0));
}

pub(crate) async fn rate_admits_per_window_and_wakes_when_it_reopens<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let t = now_ms();
    let flow = limits(None, Some(2));
    let mut published = Vec::new();
    for body in ["a", "b", "c", "d", "e"] {
        published.push(publish_with(&store, &acme, &flow, body, t).await);
    }
    let home = published[0].id.partition();
    let first = ready(&store, home).await;
    assert_eq!(first.len(), 2, "a window admits `rate` attempts");
    let key = shown(&store, &acme, t).await;
    assert_eq!((key.rate_count, key.rate_max, key.waiting), (2, 2, 3));
    assert_eq!(key.rate_period_start_ms, t);

    // Finishing attempts frees parallelism, not the window.
    for claimed in &first {
        record_done(&store, "c", &delivered(claimed, &acme, t + 10)).await;
    }
    assert!(ready(&store, home).await.is_empty());
    let (woken, next) = within(store.wake_flows(home, t + 999, 10)).await.unwrap();
    assert_eq!(
        (woken, next),
        (0, Some(t + 1_000)),
        "not yet: the window ends at t+1s"
    );

    let (woken, _) = within(store.wake_flows(home, t + 1_000, 10)).await.unwrap();
    assert_eq!(woken, 1);
    let second = ready(&store, home).await;
    assert_eq!(ids(&second), [&published[2].id, &published[3].id]);
    assert_eq!(
        shown(&store, &acme, t + 1_000).await.rate_period_start_ms,
        t + 1_000
    );
    let (_, next) = within(store.wake_flows(home, t + 1_000, 10)).await.unwrap();
    assert_eq!(next, Some(t + 2_000));
}

pub(crate) async fn pause_pin_and_reset_steer_a_key<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let t = now_ms();
    let change = |c: FlowChange| {
        let store = store.clone();
        let acme = acme.clone();
        async move {
            within(store.change_flow(&acme, "api.example.com", &c, t))
                .await
                .unwrap()
        }
    };
    assert!(
        !change(FlowChange::Pause).await,
        "an unknown key cannot be paused"
    );
    assert!(
        change(FlowChange::Pin {
            parallelism: Some(1),
            rate: None,
            period_ms: None,
        })
        .await,
        "a pin creates the key"
    );
    assert!(change(FlowChange::Pause).await);

    // A paused key accepts; a pinned limit ignores the message's own.
    let a = publish_with(&store, &acme, &limits(Some(5), Some(9)), "a", t).await;
    let b = publish_with(&store, &acme, &limits(Some(5), Some(9)), "b", t).await;
    let home = a.id.partition();
    assert!(ready(&store, home).await.is_empty(), "paused");
    let key = shown(&store, &acme, t).await;
    assert!(key.paused && key.pinned_parallelism && !key.pinned_rate);
    assert_eq!((key.parallelism_max, key.rate_max, key.waiting), (1, 9, 2));

    assert!(change(FlowChange::Resume).await);
    let first = ready(&store, home).await;
    assert_eq!(ids(&first), [&a.id], "the pinned parallelism of 1 applies");

    assert!(
        change(FlowChange::Unpin {
            parallelism: true,
            rate: false,
        })
        .await
    );
    let c = publish_with(&store, &acme, &limits(Some(5), Some(9)), "c", t).await;
    let next = ready(&store, home).await;
    assert_eq!(
        ids(&next),
        [&b.id, &c.id],
        "unpinned: the message's 5 applies"
    );
    let key = shown(&store, &acme, t).await;
    assert_eq!((key.parallelism_max, key.rate_count), (5, 3));
    assert!(change(FlowChange::ResetRate).await);
    assert_eq!(shown(&store, &acme, t).await.rate_count, 0);

    let listed = within(store.flows(&acme, t)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        within(store.flows(&tenant("other"), t))
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn cancel_leaves_the_list_and_discard_frees_the_slot<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let t = now_ms();
    let flow = limits(Some(1), None);
    let a = publish_with(&store, &acme, &flow, "a", t).await;
    let b = publish_with(&store, &acme, &flow, "b", t).await;
    let c = publish_with(&store, &acme, &flow, "c", t).await;
    let home = a.id.partition();
    assert!(within(store.cancel(&acme, &b.id, t)).await.unwrap());
    assert_eq!(shown(&store, &acme, t).await.waiting, 1, "b left the list");

    // a is admitted, then cancelled before its attempt: the deliverer finds
    // it gone and discards the entry, which frees the slot for c.
    let first = ready(&store, home).await;
    assert_eq!(ids(&first), [&a.id]);
    assert!(within(store.cancel(&acme, &a.id, t)).await.unwrap());
    let gone = ready(&store, home).await;
    assert!(gone.is_empty());
    within(store.discard(home, &first[0].entry, first[0].flow_slot.as_ref(), t))
        .await
        .unwrap();
    let next = ready(&store, home).await;
    assert_eq!(ids(&next), [&c.id]);
    // A second discard of the same entry frees nothing more.
    within(store.discard(home, &first[0].entry, first[0].flow_slot.as_ref(), t))
        .await
        .unwrap();
    assert_eq!(shown(&store, &acme, t).await.parallelism_count, 1);
}

pub(crate) async fn bulk_cancel_by_key_reaches_waiting_and_admitted_messages<B: Backend>(
    backend: &B,
) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let t = now_ms();
    let flow = limits(Some(1), None);
    let a = publish_with(&store, &acme, &flow, "a", t).await;
    publish_with(&store, &acme, &flow, "b", t).await;
    publish_with(&store, &acme, &flow, "c", t).await;
    let home = a.id.partition();
    let unlimited = message(&acme, home.0, "free");
    crate::conformance::fixture::publish(&store, &unlimited).await;
    let filter = MessageFilter {
        flow_control_key: vec!["api.example.com".into()],
        ..MessageFilter::default()
    };
    let cancelled = within(store.cancel_matching(&acme, &filter, t))
        .await
        .unwrap();
    assert_eq!(cancelled, 3, "the admitted one and the two waiting");
    assert_eq!(shown(&store, &acme, t).await.waiting, 0);

    // The admitted entry is still read; discarding it frees the slot.
    let entries = ready(&store, home).await;
    assert_eq!(entries.len(), 2, "a's entry and the unlimited message");
    for entry in entries.iter().filter(|e| e.message.is_none()) {
        within(store.discard(home, &entry.entry, entry.flow_slot.as_ref(), t))
            .await
            .unwrap();
    }
    assert_eq!(shown(&store, &acme, t).await.parallelism_count, 0);
    assert!(
        entries
            .iter()
            .any(|e| e.message_id == unlimited.id && e.message.is_some()),
        "a message without the key stays"
    );
}

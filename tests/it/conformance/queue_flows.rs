//! Queues and flow-control keys together: a tenant's queues and keys share
//! its home partition, so one message can have both. It waits for its turn
//! in the queue first and holds its queue slot from then on; admitted
//! without a key slot, it moves under its key (the deliverer's `flow_wait`)
//! and waits for room there too. Its outcome frees both slots, a cancel
//! takes it out of both.

use bytes::Bytes;
use ferry_core::flow::FlowControl;
use ferry_core::ids::TenantId;
use ferry_store::{Claimed, FlowKey, Outcome, QueueSettings, Recorded, Store};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{ids, now_ms, outcome, read, record_done, tenant, within};
use crate::conformance::queues::{enqueue_with, shown};
use crate::conformance::schedules::{def, fire_tick};

/// Enough partitions that sharing one is not a coincidence.
fn settings() -> Settings {
    Settings {
        partitions: 8,
        ..Settings::default()
    }
}

fn one_at_a_time(key: &str) -> FlowControl {
    FlowControl {
        key: key.into(),
        parallelism: Some(1),
        rate: None,
        period_ms: 1_000,
    }
}

async fn key<S: Store>(store: &S, tenant: &TenantId, name: &str) -> FlowKey {
    within(store.flow(tenant, name, now_ms()))
        .await
        .unwrap()
        .expect("the key exists")
}

/// Moves each claimed entry without a key slot under its key, as the
/// deliverer does.
async fn wait_for_keys<S: Store>(store: &S, claimed: &[Claimed]) {
    for entry in claimed {
        assert!(entry.flow_slot.is_none(), "admitted by its queue only");
        let message = entry.message.as_ref().expect("stored");
        let waited = within(store.flow_wait(
            entry.message_id.partition(),
            "c",
            &entry.entry,
            message,
            now_ms(),
        ))
        .await
        .unwrap();
        assert_eq!(waited, Recorded::Done);
    }
}

pub(crate) async fn a_tenants_queues_and_flow_keys_share_its_home<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let home = within(store.queue_home(&acme, "orders")).await.unwrap();
    for queue in ["invoices", "emails", "q.7"] {
        assert_eq!(within(store.queue_home(&acme, queue)).await.unwrap(), home);
    }
    for flow_key in ["api.example.com", "tenant-42"] {
        assert_eq!(
            within(store.flow_home(&acme, flow_key)).await.unwrap(),
            home
        );
    }
    let mut homes = std::collections::HashSet::new();
    for i in 0..32 {
        let other = tenant(&format!("t{i}"));
        homes.insert(within(store.queue_home(&other, "q")).await.unwrap());
    }
    assert!(homes.len() > 1, "tenants spread over partitions: {homes:?}");
}

pub(crate) async fn a_queue_message_with_a_flow_key_waits_for_its_turn_then_for_room<B: Backend>(
    backend: &B,
) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let two = QueueSettings {
        parallelism: 2,
        paused: false,
    };
    within(store.upsert_queue(&acme, "metered", two, now_ms()))
        .await
        .unwrap();
    let flow = one_at_a_time("api");
    let a = enqueue_with(&store, &acme, "metered", Some(&flow), "a").await;
    let b = enqueue_with(&store, &acme, "metered", Some(&flow), "b").await;
    let c = enqueue_with(&store, &acme, "metered", Some(&flow), "c").await;
    let home = a.id.partition();
    assert_eq!(shown(&store, &acme, "metered").await, (1, 2, 2, false));
    let limits = key(&store, &acme, "api").await;
    assert_eq!(
        (
            limits.parallelism_max,
            limits.parallelism_count,
            limits.waiting
        ),
        (1, 0, 0),
        "enqueueing set the key's limits"
    );

    let admitted = read(&store, home.0, "c", 10).await;
    assert_eq!(ids(&admitted), [&a.id, &b.id], "the queue's two slots");
    wait_for_keys(&store, &admitted).await;
    let first = read(&store, home.0, "c", 10).await;
    assert_eq!(ids(&first), [&a.id], "the key's one slot");
    assert!(first[0].flow_slot.is_some());
    let limits = key(&store, &acme, "api").await;
    assert_eq!((limits.parallelism_count, limits.waiting), (1, 1));

    record_done(&store, "c", &outcome(&first[0], &acme, Outcome::Delivered)).await;
    let next = read(&store, home.0, "c", 10).await;
    assert_eq!(
        ids(&next),
        [&b.id, &c.id],
        "the key admits b, the queue admits c"
    );
    assert!(next[0].flow_slot.is_some() && next[1].flow_slot.is_none());
    wait_for_keys(&store, &next[1..]).await;
    assert_eq!(key(&store, &acme, "api").await.waiting, 1);

    assert!(within(store.cancel(&acme, &c.id, now_ms())).await.unwrap());
    assert_eq!(key(&store, &acme, "api").await.waiting, 0);
    assert_eq!(
        shown(&store, &acme, "metered").await,
        (0, 1, 2, false),
        "the cancel freed c's queue slot"
    );
    record_done(&store, "c", &outcome(&next[0], &acme, Outcome::Delivered)).await;
    assert_eq!(shown(&store, &acme, "metered").await, (0, 0, 2, false));
    let limits = key(&store, &acme, "api").await;
    assert_eq!((limits.parallelism_count, limits.waiting), (0, 0));
}

pub(crate) async fn a_tick_of_a_queue_with_a_flow_key_takes_both<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let mut metered = def(&acme, "metered", 1_000);
    metered.queue = Some("nightly".into());
    metered.flow_control = Some(one_at_a_time("reports"));
    within(store.upsert_schedule(&metered, &Bytes::from_static(b"m"), 5_000))
        .await
        .unwrap();
    let home = within(store.queue_home(&acme, "nightly")).await.unwrap();
    let tick = fire_tick(&store, &metered, home, 5_000).await;
    let admitted = read(&store, home.0, "c", 10).await;
    assert_eq!(ids(&admitted), [&tick], "the new queue admits the tick");
    let queue = within(store.queue(&acme, "nightly"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((queue.parallelism, queue.active), (1, 1));
    assert_eq!(key(&store, &acme, "reports").await.parallelism_max, 1);
    wait_for_keys(&store, &admitted).await;
    let under_key = read(&store, home.0, "c", 10).await;
    assert_eq!(ids(&under_key), [&tick]);
    assert!(under_key[0].flow_slot.is_some());
}

//! What operators read without changing anything: the backlog sample and
//! the list of a tenant's pending messages (the console and `/metrics`).

use ferry_core::ids::{Partition, TenantId};
use ferry_store::{
    Backlog, MessageFilter, PartitionBacklog, Place, QueueSettings, Store, TenantBacklog,
};

use crate::conformance::backend::Backend;
use crate::conformance::bulk_cancel::{HOUR_MS, settings};
use crate::conformance::fixture::{
    dead_letter, delayed, message, now_ms, publish, read, response, tenant, within,
};
use crate::conformance::queues::enqueue;

async fn pause_queue<S: Store>(store: &S, tenant: &TenantId, name: &str) {
    let paused = QueueSettings {
        parallelism: 1,
        paused: true,
    };
    within(store.upsert_queue(tenant, name, paused, now_ms()))
        .await
        .unwrap();
}

fn kept(tenant: &TenantId, partition: u16, waiting: u64, dead: u64) -> TenantBacklog {
    TenantBacklog {
        tenant: tenant.clone(),
        partition: Partition(partition),
        waiting,
        dead,
    }
}

pub(crate) async fn backlog_counts_shared_places_and_each_tenants_own<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let other = tenant("other");
    dead_letter(&store, &acme, 0, response(500)).await;
    publish(&store, &message(&acme, 1, "in flight")).await;
    assert_eq!(read(&store, 1, "c", 10).await.len(), 1);
    publish(&store, &message(&other, 1, "ready")).await;
    publish(&store, &delayed(&acme, 0, "later", now_ms() + HOUR_MS)).await;
    pause_queue(&store, &acme, "jobs").await;
    enqueue(&store, &acme, "jobs", "waits").await;
    let home = within(store.queue_home(&acme, "jobs")).await.unwrap().0;

    let sample = within(store.backlog(&[acme.clone(), other.clone()]))
        .await
        .unwrap();
    let expected = Backlog {
        partitions: vec![
            PartitionBacklog {
                partition: Partition(0),
                ready: 0,
                in_flight: 0,
                delayed: 1,
            },
            PartitionBacklog {
                partition: Partition(1),
                ready: 1,
                in_flight: 1,
                delayed: 0,
            },
        ],
        tenants: vec![
            kept(&acme, 0, u64::from(home == 0), 1),
            kept(&acme, 1, u64::from(home == 1), 0),
            kept(&other, 0, 0, 0),
            kept(&other, 1, 0, 0),
        ],
    };
    assert_eq!(sample, expected);
    let nobody = within(store.backlog(&[])).await.unwrap();
    assert!(nobody.tenants.is_empty(), "only the tenants asked about");
}

pub(crate) async fn pending_list_shows_matches_and_changes_nothing<B: Backend>(backend: &B) {
    let store = backend.open(settings()).await;
    let acme = tenant("acme");
    let other = tenant("other");
    let (dead, _) = dead_letter(&store, &acme, 0, response(500)).await;
    let later = delayed(&acme, 0, "later", now_ms() + HOUR_MS);
    let mut ready = message(&acme, 1, "ready");
    ready.spec.labels = vec!["urgent".into()];
    publish(&store, &later).await;
    publish(&store, &ready).await;
    publish(&store, &message(&other, 0, "theirs")).await;
    pause_queue(&store, &acme, "jobs").await;
    let queued = enqueue(&store, &acme, "jobs", "waits").await;

    let all = MessageFilter::default();
    let listed = within(store.pending_messages(&acme, &all, 10))
        .await
        .unwrap();
    let mut places: Vec<_> = listed
        .iter()
        .map(|m| (m.id.clone(), m.place.clone()))
        .collect();
    places.sort_by_key(|(id, _)| id.clone());
    let mut expected = vec![
        (later.id.clone(), Place::Delayed),
        (ready.id.clone(), Place::Ready),
        (queued.id.clone(), Place::Waiting("jobs".into())),
    ];
    expected.sort_by_key(|(id, _)| id.clone());
    assert_eq!(
        places, expected,
        "acme's pending messages, not its dead letter {}",
        dead.id
    );
    assert!(
        listed
            .iter()
            .all(|m| m.spec.tenant == acme && m.retried == 0)
    );

    let one = within(store.pending_messages(&acme, &all, 1))
        .await
        .unwrap();
    assert_eq!(one.len(), 1, "the limit bounds the list");
    let urgent = MessageFilter {
        label: vec!["urgent".into()],
        ..MessageFilter::default()
    };
    let matched = within(store.pending_messages(&acme, &urgent, 10))
        .await
        .unwrap();
    assert_eq!(
        matched.iter().map(|m| &m.id).collect::<Vec<_>>(),
        [&ready.id]
    );
    for m in [&later, &ready, &queued] {
        let still = within(store.message(&acme, &m.id)).await.unwrap();
        assert!(still.is_some(), "listing leaves {} pending", m.id);
    }
}

//! Schedules: stored with their body, listed per tenant, paused out of the
//! due set, and each tick fired exactly once with its message.

use bytes::Bytes;
use ferry_core::flow::FlowControl;
use ferry_core::ids::{MessageId, Partition, TenantId};
use ferry_store::{QueueSettings, ScheduleDef, Store, schedule_partition};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{URL, read, tenant, within};

pub(crate) fn def(tenant: &TenantId, id: &str, created_at: u64) -> ScheduleDef {
    ScheduleDef {
        id: id.into(),
        tenant: tenant.clone(),
        cron: "* * * * *".into(),
        created_at,
        url: URL.into(),
        method: "POST".into(),
        headers: vec![("Content-Type".into(), "text/plain".into())],
        retries: 1,
        retry_delay: None,
        timeout_ms: None,
        callback: None,
        failure_callback: None,
        labels: vec![],
        caller_ip: None,
        delay_ms: 0,
        redact: None,
        body_hash: ferry_core::signing::body_hash(b"tick"),
        url_group: None,
        queue: None,
        flow_control: None,
    }
}

/// A store of `partitions` partitions, and the tenant the cases use.
async fn open<B: Backend>(backend: &B, partitions: u16) -> (B::Store, TenantId) {
    let store = backend
        .open(Settings {
            partitions,
            ..Settings::default()
        })
        .await;
    (store, tenant("acme"))
}

pub(crate) async fn schedules_are_stored_paused_and_listed_per_tenant<B: Backend>(backend: &B) {
    let (store, acme) = open(backend, 4).await;
    let body = Bytes::from_static(b"tick");
    within(store.upsert_schedule(&def(&acme, "b", 2_000), &body, 60_000))
        .await
        .unwrap();
    within(store.upsert_schedule(&def(&acme, "a", 1_000), &body, 90_000))
        .await
        .unwrap();

    let a = within(store.schedule(&acme, "a")).await.unwrap().unwrap();
    assert_eq!(
        (a.def.created_at, a.body.clone(), a.paused),
        (1_000, body.clone(), false)
    );
    assert_eq!((a.next_due, a.last_time), (Some(90_000), None));
    let listed: Vec<String> = within(store.schedules(&acme))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.def.id)
        .collect();
    assert_eq!(listed, ["a", "b"]);
    assert!(
        within(store.schedules(&tenant("other")))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        within(store.schedule(&tenant("other"), "a"))
            .await
            .unwrap()
            .is_none()
    );

    assert!(
        within(store.set_schedule_paused(&acme, "a", true, 0))
            .await
            .unwrap()
    );
    let a = within(store.schedule(&acme, "a")).await.unwrap().unwrap();
    assert_eq!((a.paused, a.next_due), (true, None));
    let p = schedule_partition(&acme, "a", 4);
    assert!(
        within(store.due_schedules(p, u64::MAX / 2, 10))
            .await
            .unwrap()
            .iter()
            .all(|d| d.def.id != "a")
    );
    assert!(
        within(store.set_schedule_paused(&acme, "a", false, 120_000))
            .await
            .unwrap()
    );
    let a = within(store.schedule(&acme, "a")).await.unwrap().unwrap();
    assert_eq!((a.paused, a.next_due), (false, Some(120_000)));
    assert!(
        !within(store.set_schedule_paused(&acme, "nope", true, 0))
            .await
            .unwrap()
    );

    assert!(within(store.delete_schedule(&acme, "a")).await.unwrap());
    assert!(!within(store.delete_schedule(&acme, "a")).await.unwrap());
    assert!(within(store.schedule(&acme, "a")).await.unwrap().is_none());
    assert!(
        within(store.due_schedules(p, u64::MAX / 2, 10))
            .await
            .unwrap()
            .iter()
            .all(|d| d.def.id != "a")
    );
}

pub(crate) async fn a_tick_fires_once_and_creates_its_message<B: Backend>(backend: &B) {
    let (store, acme) = open(backend, 2).await;
    within(store.upsert_schedule(
        &def(&acme, "tick", 1_000),
        &Bytes::from_static(b"tick"),
        5_000,
    ))
    .await
    .unwrap();
    let p = schedule_partition(&acme, "tick", 2);
    assert!(
        within(store.due_schedules(p, 4_999, 10))
            .await
            .unwrap()
            .is_empty()
    );
    let due = within(store.due_schedules(p, 5_000, 10)).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].member.as_str(), due[0].due_ms),
        ("acme:tick", 5_000)
    );

    let first = ferry_store::NewMessage {
        id: MessageId::generate(p),
        spec: due[0].def.message_spec(due[0].due_ms, 5_000),
        body: Bytes::new(),
    };
    assert!(
        within(store.fire_schedule(
            p,
            &due[0].member,
            5_000,
            Some(65_000),
            std::slice::from_ref(&first)
        ))
        .await
        .unwrap()
    );
    // A second deliverer that read the same due tick does not fire it again.
    let second = ferry_store::NewMessage {
        id: MessageId::generate(p),
        ..first.clone()
    };
    assert!(
        !within(store.fire_schedule(p, &due[0].member, 5_000, Some(65_000), &[second]))
            .await
            .unwrap()
    );

    let claimed = read(&store, p.0, "c", 10).await;
    assert_eq!(claimed.len(), 1);
    let message = claimed[0].message.clone().unwrap();
    assert_eq!(message.id, first.id);
    assert_eq!(message.body, Bytes::from_static(b"tick"));
    assert_eq!(message.spec.schedule_id.as_deref(), Some("tick"));

    let schedule = within(store.schedule(&acme, "tick"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (schedule.next_due, schedule.last_time),
        (Some(65_000), Some(5_000))
    );
    assert_eq!(schedule.last_ids, [first.id]);
}

/// Fires the one tick of `def` due at `tick` in partition `home`; returns
/// the id of the message it created.
pub(crate) async fn fire_tick<S: Store>(
    store: &S,
    def: &ScheduleDef,
    home: Partition,
    tick: u64,
) -> MessageId {
    let due = within(store.due_schedules(home, tick, 10)).await.unwrap();
    let due = due
        .iter()
        .find(|d| d.def.id == def.id)
        .expect("the schedule is due in its queue's or key's partition");
    let message = ferry_store::NewMessage {
        id: MessageId::generate(home),
        spec: due.def.message_spec(due.due_ms, tick),
        body: Bytes::new(),
    };
    assert!(
        within(store.fire_schedule(
            home,
            &due.member,
            due.due_ms,
            Some(tick + 60_000),
            std::slice::from_ref(&message)
        ))
        .await
        .unwrap()
    );
    message.id
}

pub(crate) async fn ticks_of_queue_and_flow_schedules_wait_their_turn<B: Backend>(backend: &B) {
    let (store, acme) = open(backend, 4).await;
    let one_at_a_time = |paused| QueueSettings {
        parallelism: 1,
        paused,
    };
    within(store.upsert_queue(&acme, "nightly", one_at_a_time(true), 1_000))
        .await
        .unwrap();
    let mut queued = def(&acme, "queued", 1_000);
    queued.queue = Some("nightly".into());
    within(store.upsert_schedule(&queued, &Bytes::from_static(b"q"), 5_000))
        .await
        .unwrap();
    let home = within(store.queue_home(&acme, "nightly")).await.unwrap();
    let tick = fire_tick(&store, &queued, home, 5_000).await;
    assert!(
        read(&store, home.0, "c", 10).await.is_empty(),
        "the queue is paused"
    );
    let queue = within(store.queue(&acme, "nightly"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(queue.lag, 1);
    within(store.upsert_queue(&acme, "nightly", one_at_a_time(false), 6_000))
        .await
        .unwrap();
    let claimed = read(&store, home.0, "c", 10).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].message_id, tick);
    let message = claimed[0].message.as_ref().unwrap();
    assert_eq!(message.spec.queue.as_deref(), Some("nightly"));
    assert_eq!(message.body, Bytes::from_static(b"q"));

    let mut limited = def(&acme, "limited", 1_000);
    limited.flow_control = Some(FlowControl {
        key: "metered".into(),
        parallelism: Some(1),
        rate: None,
        period_ms: 1_000,
    });
    within(store.upsert_schedule(&limited, &Bytes::from_static(b"f"), 5_000))
        .await
        .unwrap();
    let home = within(store.flow_home(&acme, "metered")).await.unwrap();
    let first = fire_tick(&store, &limited, home, 5_000).await;
    let second = fire_tick(&store, &limited, home, 65_000).await;
    let claimed = read(&store, home.0, "c", 10).await;
    let admitted: Vec<_> = claimed.iter().filter(|c| c.message_id != tick).collect();
    assert_eq!(admitted.len(), 1, "parallelism 1 admits one tick");
    assert_eq!(admitted[0].message_id, first);
    assert!(admitted[0].flow_slot.is_some());
    let key = within(store.flow(&acme, "metered", 65_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((key.waiting, key.parallelism_max), (1, 1), "{second} waits");
}

/// The URL group `fans`, with three endpoints.
fn fans() -> ferry_store::UrlGroup {
    ferry_store::UrlGroup {
        name: "fans".into(),
        created_at: 0,
        updated_at: 0,
        endpoints: [
            "https://a.example/1",
            "https://b.example/2",
            "https://c.example/3",
        ]
        .into_iter()
        .map(|url| ferry_store::GroupEndpoint {
            url: url.into(),
            name: None,
        })
        .collect(),
    }
}

pub(crate) async fn a_tick_to_a_url_group_with_a_queue_enqueues_each_endpoint<B: Backend>(
    backend: &B,
) {
    let (store, acme) = open(backend, 4).await;
    let mut fanned = def(&acme, "fanned", 1_000);
    fanned.url = "fans".into();
    fanned.url_group = Some("fans".into());
    fanned.queue = Some("in-turn".into());
    within(store.upsert_schedule(&fanned, &Bytes::from_static(b"f"), 5_000))
        .await
        .unwrap();
    let home = within(store.queue_home(&acme, "in-turn")).await.unwrap();
    let messages = fanned.tick_messages(5_000, 5_000, Some(&fans()), home);
    assert!(
        within(store.fire_schedule(home, "acme:fanned", 5_000, Some(65_000), &messages))
            .await
            .unwrap()
    );
    let claimed = read(&store, home.0, "c", 10).await;
    assert_eq!(claimed.len(), 1, "the new queue admits one at a time");
    let spec = &claimed[0].message.as_ref().unwrap().spec;
    assert_eq!(spec.queue.as_deref(), Some("in-turn"));
    assert_eq!(spec.topic.as_ref().map(|t| t.name.as_str()), Some("fans"));
    let queue = within(store.queue(&acme, "in-turn"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (queue.lag, queue.active),
        (2, 1),
        "the other endpoints wait"
    );
}

pub(crate) async fn a_tick_to_a_url_group_creates_one_message_per_endpoint<B: Backend>(
    backend: &B,
) {
    let store = backend
        .open(Settings {
            partitions: 2,
            ..Settings::default()
        })
        .await;
    let acme = tenant("acme");
    let mut fanned = def(&acme, "fanned", 1_000);
    fanned.url = "fans".into();
    fanned.url_group = Some("fans".into());
    within(store.upsert_schedule(&fanned, &Bytes::from_static(b"f"), 5_000))
        .await
        .unwrap();
    let p = schedule_partition(&acme, "fanned", 2);
    let messages = fanned.tick_messages(5_000, 5_000, Some(&fans()), p);
    assert!(
        within(store.fire_schedule(p, "acme:fanned", 5_000, Some(65_000), &messages))
            .await
            .unwrap()
    );
    let claimed = read(&store, p.0, "c", 10).await;
    let mut urls: Vec<String> = claimed
        .iter()
        .map(|c| c.message.as_ref().unwrap().spec.url.clone())
        .collect();
    urls.sort();
    assert_eq!(
        urls,
        [
            "https://a.example/1",
            "https://b.example/2",
            "https://c.example/3"
        ]
    );
    assert!(claimed.iter().all(|c| {
        let spec = &c.message.as_ref().unwrap().spec;
        spec.topic.as_ref().map(|t| t.name.as_str()) == Some("fans")
            && spec.schedule_id.as_deref() == Some("fanned")
    }));
    let schedule = within(store.schedule(&acme, "fanned"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(schedule.last_ids.len(), 3, "every message of the last tick");

    // A tick of a group that is gone produces nothing, and keeps the ids.
    let none = fanned.tick_messages(65_000, 65_000, None, p);
    assert!(none.is_empty());
    assert!(
        within(store.fire_schedule(p, "acme:fanned", 65_000, Some(125_000), &none))
            .await
            .unwrap()
    );
    let schedule = within(store.schedule(&acme, "fanned"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (schedule.last_time, schedule.last_ids.len()),
        (Some(65_000), 3)
    );
}

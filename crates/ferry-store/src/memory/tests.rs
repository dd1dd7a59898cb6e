//! What only the in-process backend can show: its event log, expiry driven
//! by the callers' times, and blocking and idle times under paused Tokio
//! time. The behaviour both backends share is in `tests/conformance.rs`.

use bytes::Bytes;
use ferry_core::ids::{MessageId, Partition, TenantId};
use ferry_core::message::MessageSpec;

use super::*;
use crate::events::EventState;
use crate::{LastResponse, Outcome};

const HOUR_MS: u64 = 3_600_000;

fn config() -> MemoryConfig {
    MemoryConfig {
        partitions: 1,
        max_backlog_per_partition: 0,
        max_tenant_backlog_per_partition: 0,
        dedup_window: Duration::from_millis(10),
        dlq_retention: Duration::from_millis(HOUR_MS),
        events_max_len: 100,
        events_max_age: Duration::ZERO,
    }
}

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn message(created_at: u64) -> NewMessage {
    NewMessage {
        id: MessageId::generate(Partition(0)),
        spec: MessageSpec {
            tenant: tenant(),
            url: "https://example.com/hook".into(),
            method: "POST".into(),
            headers: vec![],
            retries: 3,
            retry_delay: None,
            timeout_ms: None,
            callback: None,
            failure_callback: None,
            labels: vec![],
            caller_ip: None,
            dedup_id: None,
            created_at,
            not_before: 0,
            body_hash: String::new(),
            source_message_id: None,
            schedule_id: None,
            queue: None,
            flow_control: None,
            workflow: None,
            topic: None,
            redact: None,
        },
        body: Bytes::from_static(b"hello"),
    }
}

fn outcome(claimed: &Claimed, outcome: Outcome, now_ms: u64) -> OutcomeRecord {
    OutcomeRecord {
        entry: claimed.entry.clone(),
        message_id: claimed.message_id.clone(),
        tenant: tenant(),
        outcome,
        detail: crate::EventDetail::default(),
        new_messages: vec![],
        now_ms,
        queue: None,
        flow_slot: claimed.flow_slot.clone(),
    }
}

fn failed() -> LastResponse {
    LastResponse {
        status: Some(500),
        ..LastResponse::default()
    }
}

/// A lease longer than any test runs.
const LONG_LEASE: Duration = Duration::from_secs(3600);

async fn read_one(store: &MemoryStore) -> Claimed {
    store.acquire_lease("c1", LONG_LEASE).await.unwrap();
    let mut reader = store.reader(Partition(0), "c1").await.unwrap();
    let mut claimed = reader.read(1, Duration::ZERO).await.unwrap();
    assert_eq!(claimed.len(), 1, "one ready entry expected");
    claimed.remove(0)
}

/// Publishes one message, lets it fail once and then dead-letters it.
async fn retry_then_dead_letter(store: &MemoryStore, dead_at: u64) -> MessageId {
    let msg = message(dead_at);
    store.publish(&msg, None).await.unwrap();
    let claimed = read_one(store).await;
    let retry = Outcome::Retry {
        due_ms: 0,
        retried: 1,
        response: failed(),
    };
    store
        .record(Partition(0), "c1", &outcome(&claimed, retry, dead_at))
        .await
        .unwrap();
    store.promote_due(Partition(0), dead_at, 10).await.unwrap();
    let claimed = read_one(store).await;
    let dead = Outcome::Dead {
        retried: 1,
        response: failed(),
    };
    store
        .record(Partition(0), "c1", &outcome(&claimed, dead, dead_at))
        .await
        .unwrap();
    msg.id
}

fn events(store: &MemoryStore) -> Vec<EventState> {
    store
        .state()
        .events(Partition(0), &tenant())
        .into_iter()
        .map(|(_, state, _)| state)
        .collect()
}

#[tokio::test]
async fn event_log_names_each_transition_like_the_redis_scripts() {
    let store = MemoryStore::new(config());
    retry_then_dead_letter(&store, wall_ms()).await;
    use EventState::*;
    assert_eq!(events(&store), [Created, Error, Retry, Error, Failed]);
}

#[tokio::test]
async fn event_log_keeps_only_the_latest_lines() {
    let check = async |max_len: u64, expected: &[EventState]| {
        let store = MemoryStore::new(MemoryConfig {
            events_max_len: max_len,
            ..config()
        });
        retry_then_dead_letter(&store, wall_ms()).await;
        assert_eq!(events(&store), expected, "events_max_len {max_len}");
    };
    use EventState::*;
    check(0, &[]).await;
    check(2, &[Error, Failed]).await;
    check(5, &[Created, Error, Retry, Error, Failed]).await;
}

#[tokio::test]
async fn dedup_window_is_measured_from_the_publish_times() {
    // The window is 10 ms. Each step publishes under one key at a time and
    // says whose id a duplicate would name (by step index), if any.
    let store = MemoryStore::new(config());
    let steps: [(u64, Option<usize>); 5] = [
        (0, None),
        (9, Some(0)),
        (10, None),
        (15, Some(2)),
        (20, None),
    ];
    let mut ids: Vec<MessageId> = Vec::new();
    for (at, duplicate_of) in steps {
        let msg = message(at);
        let expected = match duplicate_of {
            Some(step) => PublishOutcome::Duplicate(ids[step].clone()),
            None => PublishOutcome::Created,
        };
        assert_eq!(
            store.publish(&msg, Some("k")).await.unwrap(),
            expected,
            "publish at {at} ms"
        );
        ids.push(msg.id);
    }
}

#[tokio::test]
async fn a_later_dead_letter_drops_those_past_retention() {
    // Far in the future, so only the trim can forget the first dead letter,
    // not the lazy expiry by the wall clock.
    let first_at = wall_ms() + 100 * HOUR_MS;
    let store = MemoryStore::new(config());
    let first = retry_then_dead_letter(&store, first_at).await;
    assert!(store.message(&tenant(), &first).await.unwrap().is_some());
    let second = retry_then_dead_letter(&store, first_at + HOUR_MS + 1).await;

    assert!(store.message(&tenant(), &first).await.unwrap().is_none());
    let page = store
        .dlq_page(
            &tenant(),
            &DlqQuery {
                count: 10,
                ..DlqQuery::default()
            },
        )
        .await
        .unwrap();
    let listed: Vec<MessageId> = page.messages.into_iter().map(|m| m.id).collect();
    assert_eq!(listed, [second]);
}

#[tokio::test(start_paused = true)]
async fn read_waits_the_whole_block_when_nothing_arrives() {
    let store = MemoryStore::new(config());
    let mut reader = store.reader(Partition(0), "c1").await.unwrap();
    let started = Instant::now();
    let claimed = reader.read(5, Duration::from_secs(30)).await.unwrap();
    assert!(claimed.is_empty());
    assert_eq!(started.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn read_returns_as_soon_as_a_message_is_published() {
    let store = MemoryStore::new(config());
    let mut reader = store.reader(Partition(0), "c1").await.unwrap();
    let started = Instant::now();
    let waiting =
        tokio::spawn(async move { reader.read(5, Duration::from_secs(30)).await.unwrap() });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let msg = message(wall_ms());
    store.publish(&msg, None).await.unwrap();

    let claimed = waiting.await.unwrap();
    let ids: Vec<&MessageId> = claimed.iter().map(|c| &c.message_id).collect();
    assert_eq!(ids, [&msg.id]);
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn entries_are_taken_over_only_once_their_holders_lease_expired() {
    let store = MemoryStore::new(config());
    store.publish(&message(wall_ms()), None).await.unwrap();
    let ttl = Duration::from_secs(10);
    store.acquire_lease("c1", ttl).await.unwrap();
    let mut reader = store.reader(Partition(0), "c1").await.unwrap();
    let claimed = reader.read(1, Duration::ZERO).await.unwrap().remove(0);
    store.acquire_lease("c2", LONG_LEASE).await.unwrap();

    // Renewed in time, however long the attempt has been idle.
    tokio::time::advance(ttl - Duration::from_millis(1)).await;
    assert!(store.renew_lease("c1", ttl).await.unwrap());
    tokio::time::advance(ttl - Duration::from_millis(1)).await;
    assert!(
        store
            .reclaim(Partition(0), "c2", 10)
            .await
            .unwrap()
            .is_empty(),
        "a live holder keeps its entries"
    );

    tokio::time::advance(Duration::from_millis(1)).await;
    let taken = store.reclaim(Partition(0), "c2", 10).await.unwrap();
    let entries: Vec<&str> = taken.iter().map(|c| c.entry.as_str()).collect();
    assert_eq!(entries, [claimed.entry.as_str()]);
    assert!(
        !store.renew_lease("c1", ttl).await.unwrap(),
        "an expired lease is never renewed"
    );
    assert!(matches!(
        store.reclaim(Partition(0), "c1", 10).await,
        Err(crate::Error::NoLease(_))
    ));
}

#[tokio::test]
async fn event_log_drops_lines_older_than_the_age_at_each_write() {
    let store = MemoryStore::new(MemoryConfig {
        events_max_age: Duration::from_secs(10),
        ..config()
    });
    let t0 = wall_ms();
    let publish_at = async |created_at: u64| {
        let msg = message(created_at);
        store.publish(&msg, None).await.unwrap();
        msg.id
    };
    let first = publish_at(t0).await;
    let at_the_bound = publish_at(t0 + 5_000).await;
    let recent = publish_at(t0 + 8_000).await;
    let logged = || -> Vec<MessageId> {
        store
            .state()
            .events(Partition(0), &tenant())
            .into_iter()
            .map(|(id, _, _)| id)
            .collect()
    };
    assert_eq!(logged(), [first, at_the_bound.clone(), recent.clone()]);
    // The age is measured back from the new line: `first` is older than
    // 10 s by then, a line exactly at the bound stays (as with MINID).
    let last = publish_at(t0 + 15_000).await;
    assert_eq!(logged(), [at_the_bound, recent, last]);
}

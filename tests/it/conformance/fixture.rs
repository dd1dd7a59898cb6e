//! Messages, outcomes and short-hand steps shared by the cases.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ferry_core::ids::{MessageId, Partition, TenantId};
use ferry_core::message::MessageSpec;
use ferry_core::signing::body_hash;
use ferry_store::{
    Claimed, LastResponse, NewMessage, Outcome, OutcomeRecord, PublishOutcome, Reader, Recorded,
    Store,
};

/// Where every fixture message goes.
pub(crate) const URL: &str = "https://example.com/hook";
/// How long a read waits when a case expects nothing (or something already there).
pub(crate) const SHORT_BLOCK: Duration = Duration::from_millis(50);
/// The longest any single step may take before the case fails.
const STEP_LIMIT: Duration = Duration::from_secs(5);

pub(crate) fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

pub(crate) fn now_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since_epoch.as_millis()).unwrap()
}

/// Fails the case instead of hanging when `step` does not finish.
pub(crate) async fn within<T>(step: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP_LIMIT, step)
        .await
        .unwrap_or_else(|_| panic!("step did not finish within {STEP_LIMIT:?}"))
}

/// A message of `tenant` in `partition`, deliverable at once.
pub(crate) fn message(tenant: &TenantId, partition: u16, body: &str) -> NewMessage {
    delayed(tenant, partition, body, 0)
}

/// A message of `tenant` in `partition` that may not be attempted before `not_before`.
pub(crate) fn delayed(
    tenant: &TenantId,
    partition: u16,
    body: &str,
    not_before: u64,
) -> NewMessage {
    NewMessage {
        id: MessageId::generate(Partition(partition)),
        spec: MessageSpec {
            tenant: tenant.clone(),
            url: URL.into(),
            method: "POST".into(),
            headers: vec![("Content-Type".into(), "text/plain".into())],
            retries: 3,
            retry_delay: None,
            timeout_ms: Some(10_000),
            callback: None,
            failure_callback: None,
            labels: vec!["conformance".into()],
            caller_ip: Some("203.0.113.7".into()),
            dedup_id: None,
            created_at: now_ms(),
            not_before,
            body_hash: body_hash(body.as_bytes()),
            source_message_id: None,
            schedule_id: None,
            queue: None,
            flow_control: None,
            workflow: None,
            topic: None,
            redact: None,
        },
        body: Bytes::copy_from_slice(body.as_bytes()),
    }
}

/// A response with a status, a header and a body excerpt.
pub(crate) fn response(status: u16) -> LastResponse {
    LastResponse {
        status: Some(status),
        headers: vec![("Retry-After".into(), "30".into())],
        body: Bytes::from(format!("upstream answered {status}")),
        error: None,
    }
}

/// The outcome of the attempt on `claimed`, recorded now.
pub(crate) fn outcome(claimed: &Claimed, tenant: &TenantId, outcome: Outcome) -> OutcomeRecord {
    OutcomeRecord {
        entry: claimed.entry.clone(),
        message_id: claimed.message_id.clone(),
        tenant: tenant.clone(),
        outcome,
        detail: ferry_store::EventDetail {
            url: URL.into(),
            response_status: Some(200),
            ..ferry_store::EventDetail::default()
        },
        new_messages: vec![],
        now_ms: now_ms(),
        queue: claimed.message.as_ref().and_then(|m| m.spec.queue.clone()),
        flow_slot: claimed.flow_slot.clone(),
    }
}

pub(crate) async fn publish<S: Store>(store: &S, msg: &NewMessage) {
    let published = within(store.publish(msg, None)).await.unwrap();
    assert_eq!(published, PublishOutcome::Created, "publishing {}", msg.id);
}

/// Whatever `consumer` gets from `partition` in one read of up to `count`.
/// A lease longer than any case runs; cases about expiry take their own.
pub(crate) const LONG_LEASE: Duration = Duration::from_secs(3600);

/// Reads up to `count` ready entries of `partition` as `consumer`, which
/// takes a long lease first (as a deliverer does before it reads).
pub(crate) async fn read<S: Store>(
    store: &S,
    partition: u16,
    consumer: &str,
    count: usize,
) -> Vec<Claimed> {
    within(store.acquire_lease(consumer, LONG_LEASE))
        .await
        .unwrap();
    let mut reader = within(store.reader(Partition(partition), consumer))
        .await
        .unwrap();
    within(reader.read(count, SHORT_BLOCK)).await.unwrap()
}

/// Reads the one ready entry of `partition` and checks that it is `id`'s.
pub(crate) async fn read_one<S: Store>(
    store: &S,
    partition: u16,
    consumer: &str,
    id: &MessageId,
) -> Claimed {
    let mut claimed = read(store, partition, consumer, 10).await;
    assert_eq!(
        ids(&claimed),
        [id],
        "the one ready entry of partition {partition}"
    );
    claimed.remove(0)
}

pub(crate) fn ids(claimed: &[Claimed]) -> Vec<&MessageId> {
    claimed.iter().map(|c| &c.message_id).collect()
}

/// Records `outcome` for `claimed` as `consumer` and checks it was taken.
pub(crate) async fn record_done<S: Store>(store: &S, consumer: &str, record: &OutcomeRecord) {
    let partition = record.message_id.partition();
    let recorded = within(store.record(partition, consumer, record))
        .await
        .unwrap();
    assert_eq!(
        recorded,
        Recorded::Done,
        "recording {:?} of {}",
        record.outcome,
        record.message_id
    );
}

/// Publishes a message and dead-letters it on its first attempt with
/// `last`; returns the message and its time of death. No other message may
/// be ready in `partition`.
pub(crate) async fn dead_letter<S: Store>(
    store: &S,
    tenant: &TenantId,
    partition: u16,
    last: LastResponse,
) -> (NewMessage, u64) {
    let msg = message(tenant, partition, "dead on arrival");
    publish(store, &msg).await;
    let claimed = read_one(store, partition, "x", &msg.id).await;
    let record = outcome(
        &claimed,
        tenant,
        Outcome::Dead {
            retried: 3,
            response: last,
        },
    );
    record_done(store, "x", &record).await;
    (msg, record.now_ms)
}

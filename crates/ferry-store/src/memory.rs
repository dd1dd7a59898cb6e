//! The in-process backend of [`Store`], for `ferry dev`: everything lives in
//! this process's memory and is lost when it exits, so no Redis is needed.
//!
//! It keeps the same structures as the Redis layout in the crate doc (per
//! partition a ready stream with its pending-entries list, a delayed set,
//! deduplication keys, per-tenant dead-letter streams and event logs; the
//! message records; the tenants' signing keys and schedules) and applies every transition
//! with the same checks, so both backends pass one conformance suite.
//!
//! One `std::sync::Mutex` guards all of it. Each transition is a short
//! synchronous step under the lock, which gives the atomicity the Redis
//! backend gets from Lua; the lock is never held across an `.await`.
//! Blocking reads wait on a per-partition [`Notify`] that every append to a
//! ready stream wakes.
//!
//! Times come from the callers where the trait passes one (publish time,
//! outcome time, promotion time): dedup expiry, `dead_at`, the dead-letter
//! retention and the entry ids of both streams (kept increasing, like
//! Redis's) follow them, so dead-letter order matches `dead_at`. Where the
//! trait passes no time, dead-letter expiry is checked against the wall
//! clock, and idle times of pending entries use the Tokio clock, so
//! paused-time tests can drive blocking reads and reclaim.

use std::pin::pin;

use bytes::Bytes;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use ferry_core::ids::{DlqId, MessageId, Partition, TenantId};
use ferry_core::signing::SigningKey;
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;

use crate::dlq::{self, DlqEntry, DlqPage, DlqQuery};
use crate::events::{self, EventEntry, EventPage, EventQuery, LoggedEvent};
use crate::paging::{Order, Source, Start};
use crate::run_index::{RunPage, RunQuery};
use crate::schedules::{DueSchedule, Schedule, ScheduleDef};
use crate::waiters::{EventStored, NewWaiter, Resolution, Resolved, WaitOutcome, Waiter};
use crate::workflows::{NewRun, RunEnd, RunPublish, RunState, WorkflowRun};
use crate::{
    Backlog, Claimed, DeliveredEntry, EndpointSelection, Error, FlowChange, FlowKey, FlowSlot,
    GroupEndpoint, KeyPair, KeyRotations, MessageFilter, NewMessage, OutcomeRecord, PendingMessage,
    PublishOutcome, Queue, QueueSettings, Reader, Recorded, Result, Store, StoredMessage, UrlGroup,
};

mod dedup;
mod delayed;
mod state;
mod stream;

use state::State;

/// How a `MemoryStore` is set up; the same limits as `RedisConfig`.
#[derive(Debug, Clone)]
pub struct MemoryConfig {
    pub partitions: u16,
    /// Bound on pending messages of all tenants per partition; 0 disables it.
    pub max_backlog_per_partition: u64,
    /// Bound on one tenant's pending messages per partition; 0 disables it.
    pub max_tenant_backlog_per_partition: u64,
    pub dedup_window: Duration,
    pub dlq_retention: Duration,
    /// Length kept of each tenant's event log; 0 disables it.
    pub events_max_len: u64,
    /// Age beyond which lines of a tenant's event log are dropped, measured
    /// back from the newest line when one is written; zero keeps any age.
    pub events_max_age: Duration,
}

/// The in-process store; clones share one state.
#[derive(Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    partitions: u16,
    /// Fired on every key rotation, for [`MemoryKeyRotations`].
    rotations: broadcast::Sender<()>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The state holds message bodies, which are never logged.
        f.debug_struct("MemoryStore")
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    pub fn new(cfg: MemoryConfig) -> Self {
        Self {
            partitions: cfg.partitions,
            state: Arc::new(Mutex::new(State::new(cfg))),
            rotations: broadcast::channel(16).0,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a transition panicked, which only a bug can
        // cause. The state is still memory-safe, and a dev server that keeps
        // answering is more useful than one that fails every later call.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The wall clock in Unix milliseconds.
fn wall_ms() -> u64 {
    ferry_core::clock::unix_ms(SystemTime::now())
}

impl Store for MemoryStore {
    type Reader = MemoryReader;
    type KeyRotations = MemoryKeyRotations;

    fn partitions(&self) -> u16 {
        self.partitions
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }

    async fn publish(&self, msg: &NewMessage, dedup: Option<&str>) -> Result<PublishOutcome> {
        Ok(self.state().publish(msg, dedup))
    }

    async fn message(&self, tenant: &TenantId, id: &MessageId) -> Result<Option<StoredMessage>> {
        Ok(self.state().message(tenant, id, wall_ms()))
    }

    async fn cancel(&self, tenant: &TenantId, id: &MessageId, now_ms: u64) -> Result<bool> {
        Ok(self.state().cancel(tenant, id, now_ms))
    }

    async fn cancel_matching(
        &self,
        tenant: &TenantId,
        filter: &MessageFilter,
        now_ms: u64,
    ) -> Result<usize> {
        Ok(self.state().cancel_matching(tenant, filter, now_ms))
    }

    async fn pending_messages(
        &self,
        tenant: &TenantId,
        filter: &MessageFilter,
        limit: usize,
    ) -> Result<Vec<PendingMessage>> {
        Ok(self
            .state()
            .pending_messages(tenant, filter, limit, wall_ms()))
    }

    async fn backlog(&self, tenants: &[TenantId]) -> Result<Backlog> {
        Ok(self.state().backlog(tenants))
    }

    async fn ensure_signing_keys(&self, tenant: &TenantId, initial: &KeyPair) -> Result<KeyPair> {
        Ok(self.state().ensure_signing_keys(tenant, initial))
    }

    async fn signing_keys(&self, tenant: &TenantId) -> Result<Option<KeyPair>> {
        Ok(self.state().signing_keys(tenant))
    }

    async fn rotate_signing_keys(
        &self,
        tenant: &TenantId,
        new_next: &SigningKey,
    ) -> Result<Option<KeyPair>> {
        let rotated = self.state().rotate_signing_keys(tenant, new_next);
        if rotated.is_some() {
            // Nobody listening is fine: no deliverer caches keys then.
            let _ = self.rotations.send(());
        }
        Ok(rotated)
    }

    async fn dlq_page(&self, tenant: &TenantId, query: &DlqQuery) -> Result<DlqPage> {
        let source = TenantDlq {
            store: self,
            tenant,
        };
        dlq::page(&source, self.partitions, query).await
    }

    async fn events_page(&self, tenant: &TenantId, query: &EventQuery) -> Result<EventPage> {
        let source = TenantEvents {
            store: self,
            tenant,
        };
        events::page(&source, self.partitions, query).await
    }

    async fn dlq_get(&self, tenant: &TenantId, id: &DlqId) -> Result<Option<StoredMessage>> {
        let message = self.state().message(tenant, &id.message_id(), wall_ms());
        Ok(message.filter(|m| m.dead_at.is_some()))
    }

    async fn dlq_delete(&self, tenant: &TenantId, id: &DlqId) -> Result<bool> {
        let removed = self
            .state()
            .remove_dead_letter(tenant, &id.message_id(), wall_ms());
        Ok(removed.is_some())
    }

    async fn dlq_retry(
        &self,
        tenant: &TenantId,
        id: &DlqId,
        replacement: &NewMessage,
    ) -> Result<bool> {
        let old = id.message_id();
        debug_assert_eq!(
            old.partition(),
            replacement.id.partition(),
            "a dead-letter retry stays in its partition"
        );
        Ok(self
            .state()
            .retry_dead_letter(tenant, &old, replacement, wall_ms()))
    }

    async fn upsert_endpoints(
        &self,
        tenant: &TenantId,
        name: &str,
        endpoints: &[GroupEndpoint],
        max_endpoints: usize,
        now_ms: u64,
    ) -> Result<bool> {
        Ok(self
            .state()
            .upsert_endpoints(tenant, name, endpoints, max_endpoints, now_ms))
    }

    async fn remove_endpoints(
        &self,
        tenant: &TenantId,
        name: &str,
        selection: &EndpointSelection,
        now_ms: u64,
    ) -> Result<bool> {
        Ok(self
            .state()
            .remove_endpoints(tenant, name, selection, now_ms))
    }

    async fn url_group(&self, tenant: &TenantId, name: &str) -> Result<Option<UrlGroup>> {
        Ok(self.state().url_group(tenant, name))
    }

    async fn url_groups(&self, tenant: &TenantId) -> Result<Vec<UrlGroup>> {
        Ok(self.state().url_groups(tenant))
    }

    async fn delete_url_group(&self, tenant: &TenantId, name: &str) -> Result<bool> {
        Ok(self.state().delete_url_group(tenant, name))
    }

    async fn queue_home(&self, tenant: &TenantId, name: &str) -> Result<Partition> {
        Ok(self.state().queue_home(tenant, name))
    }

    async fn enqueue(&self, msg: &NewMessage, dedup: Option<&str>) -> Result<PublishOutcome> {
        Ok(self.state().enqueue(msg, dedup))
    }

    async fn upsert_queue(
        &self,
        tenant: &TenantId,
        name: &str,
        settings: QueueSettings,
        now_ms: u64,
    ) -> Result<()> {
        self.state().upsert_queue(tenant, name, settings, now_ms);
        Ok(())
    }

    async fn queue(&self, tenant: &TenantId, name: &str) -> Result<Option<Queue>> {
        Ok(self.state().queue(tenant, name))
    }

    async fn queues(&self, tenant: &TenantId) -> Result<Vec<Queue>> {
        Ok(self.state().queues(tenant))
    }

    async fn delete_queue(&self, tenant: &TenantId, name: &str, now_ms: u64) -> Result<bool> {
        Ok(self.state().delete_queue(tenant, name, now_ms))
    }

    async fn set_queue_paused(
        &self,
        tenant: &TenantId,
        name: &str,
        paused: bool,
        now_ms: u64,
    ) -> Result<bool> {
        Ok(self.state().set_queue_paused(tenant, name, paused, now_ms))
    }

    async fn upsert_schedule(&self, def: &ScheduleDef, body: &Bytes, next_ms: u64) -> Result<()> {
        self.state().upsert_schedule(def, body, next_ms);
        Ok(())
    }

    async fn schedule(&self, tenant: &TenantId, id: &str) -> Result<Option<Schedule>> {
        Ok(self.state().schedule(tenant, id))
    }

    async fn schedules(&self, tenant: &TenantId) -> Result<Vec<Schedule>> {
        Ok(self.state().schedules(tenant))
    }

    async fn delete_schedule(&self, tenant: &TenantId, id: &str) -> Result<bool> {
        Ok(self.state().delete_schedule(tenant, id))
    }

    async fn set_schedule_paused(
        &self,
        tenant: &TenantId,
        id: &str,
        paused: bool,
        next_ms: u64,
    ) -> Result<bool> {
        Ok(self
            .state()
            .set_schedule_paused(tenant, id, paused, next_ms))
    }

    async fn due_schedules(
        &self,
        partition: Partition,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<DueSchedule>> {
        Ok(self.state().due_schedules(partition, now_ms, limit))
    }

    async fn fire_schedule(
        &self,
        partition: Partition,
        member: &str,
        expected_due_ms: u64,
        next_due_ms: Option<u64>,
        messages: &[NewMessage],
    ) -> Result<bool> {
        Ok(self
            .state()
            .fire_schedule(partition, member, expected_due_ms, next_due_ms, messages))
    }

    async fn reader(&self, partition: Partition, consumer: &str) -> Result<MemoryReader> {
        Ok(MemoryReader {
            wakeup: self.state().wakeup(partition),
            store: self.clone(),
            partition,
            consumer: consumer.to_owned(),
        })
    }

    async fn promote_due(
        &self,
        partition: Partition,
        now_ms: u64,
        batch: usize,
    ) -> Result<(usize, Option<u64>)> {
        Ok(self.state().promote_due(partition, now_ms, batch))
    }

    async fn acquire_lease(&self, consumer: &str, ttl: Duration) -> Result<()> {
        self.state().acquire_lease(consumer, ttl, Instant::now());
        Ok(())
    }

    async fn renew_lease(&self, consumer: &str, ttl: Duration) -> Result<bool> {
        Ok(self.state().renew_lease(consumer, ttl, Instant::now()))
    }

    async fn release_lease(&self, consumer: &str) -> Result<()> {
        self.state().release_lease(consumer);
        Ok(())
    }

    async fn reclaim(
        &self,
        partition: Partition,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Claimed>> {
        self.state()
            .reclaim(partition, consumer, count, Instant::now(), wall_ms())
            .ok_or_else(|| Error::NoLease(consumer.to_owned()))
    }

    async fn recover_own<F>(
        &self,
        partition: Partition,
        consumer: &str,
        min_idle: Duration,
        count: usize,
        held: &F,
    ) -> Result<Vec<Claimed>>
    where
        F: Fn(&str) -> bool + Sync,
    {
        Ok(self.state().recover_own(
            partition,
            consumer,
            (min_idle, count),
            held,
            (Instant::now(), wall_ms()),
        ))
    }

    async fn watch_key_rotations(&self) -> Result<MemoryKeyRotations> {
        Ok(MemoryKeyRotations {
            rotations: self.rotations.subscribe(),
        })
    }

    async fn record(
        &self,
        partition: Partition,
        consumer: &str,
        record: &OutcomeRecord,
    ) -> Result<Recorded> {
        debug_assert!(
            record
                .new_messages
                .iter()
                .all(|m| m.id.partition() == partition),
            "callbacks stay in their source's partition"
        );
        Ok(self
            .state()
            .record(partition, consumer, record, Instant::now()))
    }

    async fn discard(
        &self,
        partition: Partition,
        entry: &str,
        flow_slot: Option<&FlowSlot>,
        now_ms: u64,
    ) -> Result<()> {
        self.state().discard(partition, entry, flow_slot, now_ms);
        Ok(())
    }

    async fn in_flight(&self) -> Result<u64> {
        Ok(self.state().in_flight())
    }

    async fn flow_home(&self, tenant: &TenantId, key: &str) -> Result<Partition> {
        Ok(self.state().flow_home(tenant, key))
    }

    async fn flow(&self, tenant: &TenantId, key: &str, now_ms: u64) -> Result<Option<FlowKey>> {
        Ok(self.state().flow(tenant, key, now_ms))
    }

    async fn flows(&self, tenant: &TenantId, now_ms: u64) -> Result<Vec<FlowKey>> {
        Ok(self.state().flows(tenant, now_ms))
    }

    async fn change_flow(
        &self,
        tenant: &TenantId,
        key: &str,
        change: &FlowChange,
        now_ms: u64,
    ) -> Result<bool> {
        Ok(self.state().change_flow(tenant, key, change, now_ms))
    }

    async fn flow_wait(
        &self,
        partition: Partition,
        consumer: &str,
        entry: &str,
        message: &StoredMessage,
        now_ms: u64,
    ) -> Result<Recorded> {
        Ok(self.state().flow_wait(
            partition,
            consumer,
            entry,
            &message.id,
            Instant::now(),
            now_ms,
        ))
    }

    async fn wake_flows(
        &self,
        partition: Partition,
        now_ms: u64,
        limit: usize,
    ) -> Result<(usize, Option<u64>)> {
        Ok(self.state().wake_flows(partition, now_ms, limit))
    }

    async fn record_delivered(
        &self,
        partition: Partition,
        consumer: &str,
        batch: &[DeliveredEntry],
    ) -> Result<Option<usize>> {
        Ok(self
            .state()
            .record_delivered(partition, consumer, batch, Instant::now()))
    }

    async fn workflow_publish(
        &self,
        msg: &NewMessage,
        run: Option<&NewRun>,
        max_run_bytes: u64,
    ) -> Result<RunPublish> {
        Ok(self.state().workflow_publish(msg, run, None, max_run_bytes))
    }

    async fn workflow_tell(
        &self,
        msg: &NewMessage,
        told: &str,
        max_run_bytes: u64,
    ) -> Result<RunPublish> {
        Ok(self
            .state()
            .workflow_publish(msg, None, Some(told), max_run_bytes))
    }

    async fn workflow_run(&self, tenant: &TenantId, run_id: &str) -> Result<Option<WorkflowRun>> {
        Ok(self.state().workflow_run(tenant, run_id, wall_ms()))
    }

    async fn end_workflow(
        &self,
        tenant: &TenantId,
        run_id: &str,
        end: &RunEnd,
        now_ms: u64,
    ) -> Result<Option<RunState>> {
        Ok(self.state().end_workflow(tenant, run_id, None, end, now_ms))
    }

    async fn end_workflow_generation(
        &self,
        tenant: &TenantId,
        run_id: &str,
        created_at: u64,
        end: &RunEnd,
        now_ms: u64,
    ) -> Result<Option<RunState>> {
        Ok(self
            .state()
            .end_workflow(tenant, run_id, Some(created_at), end, now_ms))
    }

    async fn workflow_runs(&self, tenant: &TenantId, query: &RunQuery) -> Result<RunPage> {
        Ok(self.state().workflow_runs(tenant, query, wall_ms()))
    }

    async fn workflow_wait(&self, wait: &NewWaiter) -> Result<WaitOutcome> {
        Ok(self.state().workflow_wait(wait))
    }

    async fn workflow_resolve(
        &self,
        resolution: &Resolution,
        max_run_bytes: u64,
    ) -> Result<Resolved> {
        Ok(self.state().workflow_resolve(resolution, max_run_bytes))
    }

    async fn workflow_store_event(
        &self,
        tenant: &TenantId,
        run_id: &str,
        event_id: &str,
        data: &Bytes,
    ) -> Result<EventStored> {
        Ok(self
            .state()
            .workflow_store_event(tenant, run_id, event_id, data, wall_ms()))
    }

    async fn workflow_waiters(&self, tenant: &TenantId, event_id: &str) -> Result<Vec<Waiter>> {
        Ok(self.state().workflow_waiters(tenant, event_id))
    }
}

/// One tenant's dead-letter streams, as a source for the page merge.
struct TenantDlq<'a> {
    store: &'a MemoryStore,
    tenant: &'a TenantId,
}

impl Source for TenantDlq<'_> {
    type Item = StoredMessage;

    async fn fetch(
        &self,
        partition: Partition,
        order: Order,
        start: Option<Start>,
        count: usize,
    ) -> Result<Vec<DlqEntry>> {
        Ok(self
            .store
            .state()
            .dlq_entries(self.tenant, partition, order, start, count, wall_ms()))
    }
}

/// Reads one partition's ready entries for one consumer.
#[derive(Debug)]
pub struct MemoryReader {
    store: MemoryStore,
    partition: Partition,
    consumer: String,
    /// The partition's wake-up signal, fired by every append to its ready
    /// stream; shared with the store for the store's whole life.
    wakeup: Arc<Notify>,
}

impl MemoryReader {
    fn read_now(&self, count: usize) -> Vec<Claimed> {
        self.store.state().read_new(
            self.partition,
            &self.consumer,
            count,
            Instant::now(),
            wall_ms(),
        )
    }
}

impl Reader for MemoryReader {
    async fn read(&mut self, count: usize, block: Duration) -> Result<Vec<Claimed>> {
        let deadline = Instant::now() + block;
        loop {
            // Register for the wake-up before looking, so an append between
            // the look and the wait is not missed.
            let mut appended = pin!(self.wakeup.notified());
            appended.as_mut().enable();
            let claimed = self.read_now(count);
            if !claimed.is_empty() || count == 0 || Instant::now() >= deadline {
                return Ok(claimed);
            }
            // Woken or timed out, the next turn looks again; after the
            // deadline it returns whatever is there.
            let _ = tokio::time::timeout_at(deadline, appended).await;
        }
    }
}

#[cfg(test)]
mod tests;

/// One tenant's event logs, as a source for the page merge.
struct TenantEvents<'a> {
    store: &'a MemoryStore,
    tenant: &'a TenantId,
}

impl Source for TenantEvents<'_> {
    type Item = LoggedEvent;

    async fn fetch(
        &self,
        partition: Partition,
        order: Order,
        start: Option<Start>,
        count: usize,
    ) -> Result<Vec<EventEntry>> {
        Ok(self
            .store
            .state()
            .event_entries(self.tenant, partition, order, start, count))
    }
}

/// Key rotations of this store, as they happen.
#[derive(Debug)]
pub struct MemoryKeyRotations {
    rotations: broadcast::Receiver<()>,
}

impl KeyRotations for MemoryKeyRotations {
    async fn changed(&mut self) -> Result<()> {
        match self.rotations.recv().await {
            // Lagging behind only means several rotations came at once.
            Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => Ok(()),
            Err(broadcast::error::RecvError::Closed) => {
                Err(Error::SubscriptionEnded("key rotations"))
            }
        }
    }
}

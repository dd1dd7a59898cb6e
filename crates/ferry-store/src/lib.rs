//! Everything Ferry keeps: messages, the ready stream and its consumer group,
//! delayed work, dead letters, deduplication, the per-tenant event log and
//! the tenants' signing keys.
//!
//! **Invariant:** this is the only crate that knows Redis key names. The
//! [`Store`] trait is the whole contract; the gateway and the deliverer are
//! generic over it, so a second, in-process backend can serve `ferry dev`.
//!
//! # Redis layout
//!
//! Every key starts with the configured prefix (default `ferry`) and the
//! layout version `v1`. Keys of one partition share the Redis Cluster hash
//! tag `{p<n>}` (on a cluster `{p<n>.<k>}`, chosen to spread partitions over
//! the primaries; see `keys`), so every script below touches a single slot.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<prefix>:v1:{p<n>}:ready` | stream, group `ferry-deliver` | one entry `m=<message id>` per deliverable message (plus `f=<tenant>:<key>` when admitted under a flow-control key); pending entries are attempts in flight. Never trimmed: entries leave only by `XACK` + `XDEL` when their outcome is recorded |
//! | `<prefix>:v1:{p<n>}:delayed` | sorted set | message ids scored by the Unix ms at which they become ready (delays and retry backoff) |
//! | `<prefix>:v1:{p<n>}:backlog` | hash | the partition's backlog counts: `<tenant>` = that tenant's pending messages (stored and not yet delivered, dead-lettered or cancelled), `*` = all tenants'; see [Backlog bounds](#backlog-bounds) |
//! | `<prefix>:v1:{p<n>}:msg:<id>` | hash | `tenant`, `spec` (JSON `MessageSpec`), `body`, `retried`, `state` (`pending` or `dead`), `b` (`1` while the message is counted in `backlog`), `q` (the queue of an enqueued message), `fc` (its flow-control key as `<tenant>:<key>`), last response `status`/`rhead`/`rbody`/`error`, and for dead letters `dlq_entry` and `dead_at`. Deleted on delivery or cancel; dead letters expire with the DLQ retention |
//! | `<prefix>:v1:{p<n>}:dedup:<tenant>:<dedup id>` | string | the id of the message first published with that deduplication id; expires after the dedup window |
//! | `<prefix>:v1:{p<n>}:dlq:<tenant>` | stream | one entry `m=<message id>` per dead letter, trimmed by age (`MINID`) to the DLQ retention |
//! | `<prefix>:v1:{p<n>}:events:<tenant>` | stream | the log: `m=<id> s=<STATE> d=<detail JSON>`, trimmed by length (approximately, `MAXLEN ~`) and by age (exactly, `XTRIM MINID` to the new line's time minus the maximum age) each time a line is added |
//! | `<prefix>:v1:{p<n>}:schedule:<tenant>:<id>` | hash | a schedule: `def` (JSON `ScheduleDef`: cron, creation time and the template of each tick's message), `body`, `paused` (`1` or `0`), and after its first tick `last_time` and `last_ids` (JSON list of the latest message ids) |
//! | `<prefix>:v1:{p<n>}:schedules:due` | sorted set | members `<tenant>:<schedule id>` scored by the Unix ms of their next tick; paused schedules are not in it |
//! | `<prefix>:v1:{p<n>}:queue:<tenant>:<name>` | hash | a queue: `parallelism`, `paused` (`1` or `0`), `active` (messages admitted to the ready stream and not yet delivered or dead-lettered), `created_at`, `updated_at` |
//! | `<prefix>:v1:{p<n>}:waiting:<tenant>:<name>` | list | ids of the queue's messages waiting for admission, oldest first |
//! | `<prefix>:v1:{p<n>}:flow:<tenant>:<key>` | hash | a flow-control key: `par`, `rate` (0 for no bound) and `period` (ms), `active` (admitted attempts not yet recorded), the rate window `wstart` (ms) and `wcount`, `paused`, the pins `pinp` and `pinr`, `created`. Expires a day after its window when idle |
//! | `<prefix>:v1:{p<n>}:flowwait:<tenant>:<key>` | list | ids of the key's messages waiting for room, oldest first |
//! | `<prefix>:v1:{p<n>}:flows:wake` | sorted set | members `<tenant>:<key>` whose full rate window holds back waiting messages, scored by the Unix ms at which it ends |
//! | `<prefix>:v1:{p<n>}:lease:<consumer>` | string | a deliverer's lease in the partition, expiring (`PX`) unless renewed; see the `leases` module |
//! | `<prefix>:v1:partitions` | string | the partition count the installation was first started with; a process configured with another refuses to start (`RedisStore::claim_partition_count`) |
//! | `<prefix>:v1:tenant:<tenant>:keys` | hash | the tenant's signing keys `current` and `next`; a rotation is announced on the channel `<prefix>:v1:keys-rotated` |
//! | `<prefix>:v1:{t:<tenant>}:groups` | set | the names of the tenant's URL groups |
//! | `<prefix>:v1:{t:<tenant>}:group:<name>` | hash | a URL group: `created_at`, `updated_at`, and `u:<endpoint url>` = endpoint name (empty for none) |
//! | `<prefix>:v1:{t:<tenant>}:schedules` | hash | the tenant's schedules: schedule id = number of the partition holding it |
//! | `<prefix>:v1:{t:<tenant>}:queues` | hash | the tenant's queues: queue name = number of the partition holding it |
//! | `<prefix>:v1:{t:<tenant>}:flows` | hash | the tenant's flow-control keys: key = number of the partition holding it; entries of expired keys are dropped when listed |
//! | `<prefix>:v1:{p<n>}:wf:<tenant>:<run id>`, `…:wfsteps:<tenant>:<run id>` | hash, list | an Upstash Workflow run and its step list, in the run's partition (see the `workflows` module) |
//! | `<prefix>:v1:{p<n>}:wfwait:<tenant>:<run id>`, `…:wfwaiting:<tenant>`, `…:wflook:<tenant>:<run id>` | hash, sorted set, hash | a run's waiters, the partition's index of them by event, and a run's lookback events (see the `waiters` module) |
//! | `<prefix>:v1:{p<n>}:wfruns:<tenant>` | sorted set | the tenant's runs created in the partition, by creation time (see the `run_index` module) |
//! | `<prefix>:v1:{t:<tenant>}:home` | string | the number of the tenant's home partition, which holds its new queues and flow-control keys (see [Placement](#placement)) |
//!
//! # Transitions
//!
//! Every transition whose outcome depends on a read is one Lua script that
//! names all its keys: publish (backlog check, dedup, store, ready or
//! delayed), promote due delayed ids, record an attempt's outcome (with a
//! check of the recording deliverer's lease and of its ownership of the
//! pending entry, so a deliverer that was paused past its lease cannot
//! schedule a second copy), reclaim a dead deliverer's entries, cancel,
//! dead-letter delete and retry, and key rotation. Successful deliveries are
//! recorded in batches, one script call per batch.
//!
//! A schedule's tick is one script too: it checks the schedule is still due
//! at the time the caller read (two deliverers may read the same due tick;
//! only one fires it), moves it to its next tick and creates the message.
//! The tenant's schedule index lives in another slot than the schedule, so
//! it cannot change in the same script: it is written before the schedule
//! on create and removed after it on delete. A crash in between leaves an
//! index entry naming no schedule, which reads skip, never a schedule that
//! reads cannot find.
//!
//! A queue lives in one partition, and so do its messages (their hash has
//! the field `q` naming it). Enqueue stores the message and appends it to
//! the queue's waiting list; it is admitted to the ready stream (`active`
//! grows) by that script, or later by the step that frees a slot: a
//! delivered or dead-lettered outcome, or a cancel. A retry keeps its slot,
//! and a final outcome with callbacks hands the slot to them (each holds a
//! share), so the next message waits for them as well.
//! Retrying a queue message's dead letter puts the new message at the end
//! of the queue's waiting list in the same script that removes the dead
//! letter, so it waits for a slot (and for a paused queue to resume) rather
//! than going straight to the ready stream.
//! Deleting a queue cancels its waiting messages; its index is kept like
//! the schedules' one.
//!
//! A flow-control key lives in one partition too, and so do the messages
//! published with it (their hash has the field `fc` naming it). Ready
//! entries admitted under a key carry `f=<tenant>:<key>`: the slot their
//! attempt holds until its outcome is recorded. `src/flows.rs` describes
//! admission, slots and the rate windows.
//!
//! A message enqueued with a flow-control key passes both: its hash names
//! the queue (`q`) and the key (`fc`), and enqueueing applies its limits to
//! the key. It waits for its turn in the queue first and takes a queue slot
//! when admitted, like any queue message. Its ready entry then holds no key
//! slot, so the deliverer moves it to the back of the key's waiting list
//! (`flow_wait`, the step that also handles a flow-controlled message that
//! became due after a delay or a retry's backoff), where it waits for room
//! under the key while keeping its queue slot. Its outcome frees both
//! slots in one script (a retry frees only the key's, and waits under the
//! key again when due); a cancel takes it off whichever list holds it and
//! frees its queue slot. A schedule with a queue and a key fires each tick
//! the same way.
//!
//! # Placement
//!
//! Admitting a message to the ready stream, and freeing its slot, must be
//! one single-slot script, which touches the queue's state and, for a
//! message enqueued with a flow-control key, the key's. Any queue of a
//! tenant may be combined with any of its keys, so every queue and every
//! flow-control key of a tenant lives in one partition: the tenant's home,
//! a stable hash of the tenant's name. Their messages, and the schedules
//! that create messages for them, are created there. Plain publishes are
//! still spread over all partitions; a tenant's queued and flow-controlled
//! traffic is not, which is the price of atomic admission, and tenants
//! spread over the partitions.
//!
//! The home is recorded under the tenant's tag (`home`) the first time a
//! queue or key needs it, so a later change of the partition count does
//! not separate the tenant's new queues and keys from its existing ones;
//! only a recorded home beyond the partition count (a partition no
//! deliverer reads) is chosen anew. A queue or key keeps the partition its
//! index names, so one placed apart by an earlier version of Ferry cannot
//! be combined with one in another partition: the gateway refuses such a
//! message with 409 rather than keep a key's state in two places.
//!
//! Bulk cancel (`DELETE /v2/messages` by filter or for everything) has no
//! index of a tenant's pending messages to read: it walks each partition's
//! delayed set, the waiting lists of the tenant's queues and flow-control
//! keys, and the ready stream a
//! page at a time and cancels each match with the cancel script (see the
//! `pending` module). The console's bounded list of pending messages is the
//! same walk, collecting matches instead of cancelling them.
//!
//! # Backlog bounds
//!
//! Publishing is refused ([`PublishOutcome::BacklogFull`]) when the
//! partition holds its bound of pending messages of all tenants, or of the
//! publishing tenant. Pending means stored and not finished: ready, delayed,
//! in flight, waiting in a queue (paused or not) or under a flow-control
//! key. A single-slot script cannot see other partitions, so the counts
//! live in each partition's `backlog` hash and the configured bounds are
//! split evenly over the partitions (the `ferry` binary does that): a
//! tenant's total stays within its quota, and a tenant whose queued or
//! flow-controlled traffic all lands in its home partition gets that
//! partition's share only.
//!
//! The scripts that create a message (publish, enqueue, flow publish, a
//! schedule's tick, callbacks, a dead letter's retry) count it and mark its
//! hash (`b`, written with its other fields); the scripts through which it
//! leaves (a delivered or dead outcome, a delivered batch, cancel, deleting
//! its queue) release it once, deleting the hash, or for a dead letter the
//! mark. A delivered batch releases its counts with one decrement per tenant. Messages stored before the counts existed carry no
//! mark and are never released, so the counts cannot drift below zero;
//! they are simply not counted until they finish. Schedule ticks, callbacks
//! and dead-letter retries are counted but never refused: they are not a
//! new publish, and refusing them would lose a tick or a callback.
//!
//! The backlog sample (`Store::backlog`) is length reads only (`XLEN`,
//! `XPENDING`, `ZCARD`, `LLEN`); see the `backlog` module.
//!
//! A message is placed in a partition when it is published and its id names
//! that partition ([`ferry_core::ids::MessageId::partition`]); callbacks and
//! dead-letter retries stay in their source's partition so they can be
//! created in the same atomic step.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use ferry_core::ids::{DlqId, MessageId, Partition, TenantId};
use ferry_core::message::MessageSpec;
use ferry_core::signing::SigningKey;

mod backlog;
pub mod baseline;
mod dlq;
pub mod events;
mod flows;
mod groups;
mod invoke;
mod keys;
mod leases;
mod memory;
mod paging;
mod pending;
mod placement;
mod queues;
mod record;
mod redis_store;
mod run_index;
mod schedules;
mod scripts;
pub mod server_stats;
mod waiters;
mod workflows;

pub use backlog::{Backlog, PartitionBacklog, TenantBacklog};
pub use dlq::{DlqFilter, DlqPage, DlqQuery};
pub use events::{EventDetail, EventFilter, EventPage, EventQuery, EventState, LoggedEvent};
pub use flows::{FlowChange, FlowKey, FlowSlot};
pub use groups::{EndpointSelection, GroupEndpoint, UrlGroup};
pub use invoke::{Invoker, end_workflow_run};
pub use memory::{MemoryConfig, MemoryKeyRotations, MemoryReader, MemoryStore};
pub use paging::{Order, valid_cursor};
pub use pending::{MessageFilter, PendingMessage, Place};
pub use queues::{Queue, QueueSettings};
pub use redis_store::{RedisConfig, RedisKeyRotations, RedisReader, RedisStore};
pub use run_index::{RunFilter, RunPage, RunQuery, parse_member as parse_run_cursor};
pub use schedules::{DueSchedule, LAST_IDS_KEPT, Schedule, ScheduleDef, schedule_partition};
pub use waiters::{
    EventStored, MAX_LOOKBACK_EVENTS, NewWaiter, Resolution, Resolved, ResolvedBy, WaitOutcome,
    Waiter,
};
pub use workflows::{
    NewRun, RUN_RETENTION, RunEnd, RunPublish, RunState, WorkflowRun, run_partition,
};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Redis could not be reached or answered with an error.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Stored data did not have the shape this version writes.
    #[error("corrupt record {key}: {reason}")]
    Corrupt { key: String, reason: String },
    /// A subscription (to key rotations) ended; what it announced since may
    /// have been missed.
    #[error("subscription ended: {0}")]
    SubscriptionEnded(&'static str),
    /// A deliverer that holds no lease tried to take over entries.
    #[error("deliverer {0} holds no lease")]
    NoLease(String),
    /// Redis is configured to evict keys, which would silently lose messages.
    #[error(
        "redis maxmemory-policy is {0:?}: Ferry needs a policy that never evicts its keys (use noeviction)"
    )]
    EvictingPolicy(String),
    /// A Redis Cluster does not serve every slot (`cluster_state` is not
    /// `ok`), so some partitions cannot be reached.
    #[error("redis cluster state is {0:?}, not \"ok\"")]
    ClusterNotOk(String),
    /// `redis.partitions` differs from the count this installation (this
    /// Redis and prefix) was started with.
    #[error(
        "redis.partitions is {configured}, but this installation was started with {recorded} \
         partitions (recorded in the key {key}). Changing the count strands the messages of \
         dropped partitions and loses track of running workflow runs and deduplication ids; \
         set redis.partitions = {recorded}, or to change it: stop publishing, wait until the \
         backlog is empty and no workflow run is active, stop every ferry process, delete {key}, \
         and start them all with the new count"
    )]
    PartitionCountChanged {
        recorded: u16,
        configured: u16,
        key: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A message about to be stored.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub spec: MessageSpec,
    pub body: Bytes,
}

/// What publishing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    Created,
    /// A message with the same deduplication id exists; this is its id.
    Duplicate(MessageId),
    /// The partition's backlog is at one of its configured bounds; nothing
    /// was stored.
    BacklogFull(BacklogBound),
}

/// Which backlog bound refused a message (see the crate doc, "Backlog
/// bounds").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BacklogBound {
    /// The messages of all tenants in the partition.
    Total,
    /// The messages of the publishing tenant in the partition.
    Tenant,
}

/// The last response (or failure) of a message's attempts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastResponse {
    /// HTTP status, or `None` when no response arrived (connect error, timeout).
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    /// The first bytes of the response body, up to the configured excerpt.
    pub body: Bytes,
    /// Why the attempt failed when there was no response, or a refusal reason.
    pub error: Option<String>,
}

/// A stored message as the API and the deliverer see it.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub id: MessageId,
    pub spec: MessageSpec,
    pub body: Bytes,
    /// Attempts retried so far: the `Upstash-Retried` value of the next attempt.
    pub retried: u32,
    pub last: Option<LastResponse>,
    /// Set when the message is in the dead-letter queue: when it got there.
    pub dead_at: Option<u64>,
}

impl StoredMessage {
    pub fn dlq_id(&self) -> DlqId {
        self.id.dlq_id()
    }
}

/// A ready-stream entry handed to this deliverer.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The stream entry id; it names the attempt when recording its outcome.
    pub entry: String,
    pub message_id: MessageId,
    /// `None` when the message was cancelled after the entry was written.
    pub message: Option<StoredMessage>,
    /// The flow-control slot the entry was admitted with; recording or
    /// discarding the entry frees it.
    pub flow_slot: Option<FlowSlot>,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Delivered,
    /// Try again at `due_ms`; `retried` is the new retry count.
    Retry {
        due_ms: u64,
        retried: u32,
        response: LastResponse,
    },
    /// No attempts left, or the destination said not to retry.
    Dead {
        retried: u32,
        response: LastResponse,
    },
    /// Not attempted (e.g. the destination is saturated); try again at `due_ms`.
    Defer {
        due_ms: u64,
    },
}

/// An outcome to record, with the messages it triggers (callbacks).
#[derive(Debug, Clone)]
pub struct OutcomeRecord {
    pub entry: String,
    pub message_id: MessageId,
    pub tenant: TenantId,
    pub outcome: Outcome,
    /// What the event log records about this outcome.
    pub detail: EventDetail,
    pub new_messages: Vec<NewMessage>,
    pub now_ms: u64,
    /// The queue the message was enqueued to (its spec's), whose slot a
    /// final outcome frees.
    pub queue: Option<String>,
    /// The flow-control slot the attempt held ([`Claimed::flow_slot`]),
    /// which any outcome frees.
    pub flow_slot: Option<FlowSlot>,
}

/// One successful delivery in a batch.
#[derive(Debug, Clone)]
pub struct DeliveredEntry {
    pub entry: String,
    pub message_id: MessageId,
    pub tenant: TenantId,
    pub detail: EventDetail,
    /// The queue the message was enqueued to, whose slot delivery frees.
    pub queue: Option<String>,
}

/// What recording an outcome did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Done,
    /// The entry was already acknowledged, or the message was cancelled.
    Gone,
    /// Another deliverer reclaimed the entry; this one must not act on it.
    NotOwner,
}

/// A tenant's signing keys: `current` signs, receivers also accept `next`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPair {
    pub current: SigningKey,
    pub next: SigningKey,
}

/// Reads ready entries for one consumer of one partition. It owns whatever
/// a blocking read needs (in Redis, a dedicated connection).
pub trait Reader: Send + 'static {
    /// Up to `count` new entries, waiting at most `block` for the first one.
    fn read(
        &mut self,
        count: usize,
        block: Duration,
    ) -> impl Future<Output = Result<Vec<Claimed>>> + Send;
}

/// Announces rotations of any tenant's signing keys, so a deliverer can keep
/// keys cached without reading them for every delivery.
pub trait KeyRotations: Send + 'static {
    /// Waits for the next rotation. An error means the subscription broke:
    /// rotations may have been missed since, so cached keys are suspect.
    fn changed(&mut self) -> impl Future<Output = Result<()>> + Send;
}

/// The storage contract shared by the gateway and the deliverer.
pub trait Store: Clone + Send + Sync + 'static {
    type Reader: Reader;
    type KeyRotations: KeyRotations;

    /// How many partitions new messages are spread over.
    fn partitions(&self) -> u16;

    /// Checks that the backend is reachable (readiness).
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;

    /// Stores a message; with `dedup`, only if no message with that
    /// deduplication key was published within the window.
    fn publish(
        &self,
        msg: &NewMessage,
        dedup: Option<&str>,
    ) -> impl Future<Output = Result<PublishOutcome>> + Send;

    /// A pending or dead-lettered message of `tenant`.
    fn message(
        &self,
        tenant: &TenantId,
        id: &MessageId,
    ) -> impl Future<Output = Result<Option<StoredMessage>>> + Send;

    /// Cancels a pending message of `tenant`; false when there is none.
    fn cancel(
        &self,
        tenant: &TenantId,
        id: &MessageId,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Cancels every pending message of `tenant` that `filter` matches;
    /// returns how many it cancelled. Each one is cancelled as by
    /// [`Store::cancel`]; the walk over the partitions is described in the
    /// `pending` module.
    fn cancel_matching(
        &self,
        tenant: &TenantId,
        filter: &MessageFilter,
        now_ms: u64,
    ) -> impl Future<Output = Result<usize>> + Send;

    /// Up to `limit` pending messages of `tenant` that `filter` matches, in
    /// the order [`Store::cancel_matching`] walks them; nothing changes.
    fn pending_messages(
        &self,
        tenant: &TenantId,
        filter: &MessageFilter,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PendingMessage>>> + Send;

    /// How much work waits: every partition's shared places, and what each
    /// of `tenants` keeps in each partition (see [`Backlog`]).
    fn backlog(&self, tenants: &[TenantId]) -> impl Future<Output = Result<Backlog>> + Send;

    /// The tenant's keys, storing `initial` first if it has none.
    fn ensure_signing_keys(
        &self,
        tenant: &TenantId,
        initial: &KeyPair,
    ) -> impl Future<Output = Result<KeyPair>> + Send;

    fn signing_keys(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<KeyPair>>> + Send;

    /// Promotes `next` to current and installs `new_next`.
    fn rotate_signing_keys(
        &self,
        tenant: &TenantId,
        new_next: &SigningKey,
    ) -> impl Future<Output = Result<Option<KeyPair>>> + Send;

    /// One page of the tenant's dead letters.
    fn dlq_page(
        &self,
        tenant: &TenantId,
        query: &DlqQuery,
    ) -> impl Future<Output = Result<DlqPage>> + Send;

    /// One page of the tenant's event log.
    fn events_page(
        &self,
        tenant: &TenantId,
        query: &EventQuery,
    ) -> impl Future<Output = Result<EventPage>> + Send;

    fn dlq_get(
        &self,
        tenant: &TenantId,
        id: &DlqId,
    ) -> impl Future<Output = Result<Option<StoredMessage>>> + Send;

    fn dlq_delete(
        &self,
        tenant: &TenantId,
        id: &DlqId,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Replaces the dead letter by `replacement` (same partition; its body is
    /// taken from the dead letter). A replacement whose spec names a queue
    /// rejoins that queue's waiting list (creating the queue with
    /// parallelism 1 if it was deleted) and is admitted like any enqueued
    /// message. False when the dead letter is gone.
    fn dlq_retry(
        &self,
        tenant: &TenantId,
        id: &DlqId,
        replacement: &NewMessage,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Adds endpoints to the tenant's URL group `name`, creating it; false,
    /// changing nothing, when the group would then have more than
    /// `max_endpoints` endpoints.
    fn upsert_endpoints(
        &self,
        tenant: &TenantId,
        name: &str,
        endpoints: &[GroupEndpoint],
        max_endpoints: usize,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Removes endpoints from a group, deleting a group left empty; false
    /// when the group does not exist.
    fn remove_endpoints(
        &self,
        tenant: &TenantId,
        name: &str,
        selection: &EndpointSelection,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool>> + Send;

    fn url_group(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> impl Future<Output = Result<Option<UrlGroup>>> + Send;

    /// The tenant's groups, ordered by name.
    fn url_groups(&self, tenant: &TenantId) -> impl Future<Output = Result<Vec<UrlGroup>>> + Send;

    fn delete_url_group(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Stores `def` with `body`, or replaces the schedule with its id
    /// (keeping its partition and last ticks); it is unpaused and next due
    /// at `next_ms`.
    fn upsert_schedule(
        &self,
        def: &ScheduleDef,
        body: &Bytes,
        next_ms: u64,
    ) -> impl Future<Output = Result<()>> + Send;

    fn schedule(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> impl Future<Output = Result<Option<Schedule>>> + Send;

    /// The tenant's schedules, oldest first.
    fn schedules(&self, tenant: &TenantId) -> impl Future<Output = Result<Vec<Schedule>>> + Send;

    /// False when there is no such schedule.
    fn delete_schedule(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Pauses a schedule, or resumes it with its next tick at `next_ms`;
    /// false when there is no such schedule.
    fn set_schedule_paused(
        &self,
        tenant: &TenantId,
        id: &str,
        paused: bool,
        next_ms: u64,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Up to `limit` schedules of `partition` due at `now_ms`, earliest first.
    fn due_schedules(
        &self,
        partition: Partition,
        now_ms: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DueSchedule>>> + Send;

    /// Fires the tick of `member` due at `expected_due_ms`: moves it to
    /// `next_due_ms` (out of the due set for `None`) and creates `messages`
    /// (one, or one per endpoint of a URL group; all in `partition`, with
    /// the same queue and flow-control key) with the schedule's body. False
    /// when the schedule is no longer due at that time (another deliverer
    /// fired it) or is gone.
    fn fire_schedule(
        &self,
        partition: Partition,
        member: &str,
        expected_due_ms: u64,
        next_due_ms: Option<u64>,
        messages: &[NewMessage],
    ) -> impl Future<Output = Result<bool>> + Send;

    /// The partition holding the tenant's queue `name`, or the one it will
    /// be created in: the tenant's home (see the crate doc, "Placement").
    /// Messages enqueued to it must be created there.
    fn queue_home(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> impl Future<Output = Result<Partition>> + Send;

    /// Stores a message enqueued to the queue its spec names (created with
    /// parallelism 1 when absent): it waits in the queue until admitted to
    /// the ready stream. A message that also names a flow-control key
    /// applies its limits to the key, and once admitted waits under the key
    /// too (see the crate doc). Deduplication and the backlog bound are as
    /// for [`Store::publish`].
    fn enqueue(
        &self,
        msg: &NewMessage,
        dedup: Option<&str>,
    ) -> impl Future<Output = Result<PublishOutcome>> + Send;

    /// Creates the queue or changes its settings, admitting waiting messages
    /// when there is new room.
    fn upsert_queue(
        &self,
        tenant: &TenantId,
        name: &str,
        settings: QueueSettings,
        now_ms: u64,
    ) -> impl Future<Output = Result<()>> + Send;

    fn queue(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> impl Future<Output = Result<Option<Queue>>> + Send;

    /// The tenant's queues, ordered by name.
    fn queues(&self, tenant: &TenantId) -> impl Future<Output = Result<Vec<Queue>>> + Send;

    /// Deletes the queue and cancels its waiting messages; false when there
    /// is no such queue.
    fn delete_queue(
        &self,
        tenant: &TenantId,
        name: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Pauses or resumes admission; false when there is no such queue.
    fn set_queue_paused(
        &self,
        tenant: &TenantId,
        name: &str,
        paused: bool,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// The partition holding the tenant's flow-control key `key`, or the
    /// one it will be created in: the tenant's home, which holds its queues
    /// as well. Messages published with it must be created there; [`Store::publish`] then applies their limits to the
    /// key (unless pinned) and makes them wait for room.
    fn flow_home(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> impl Future<Output = Result<Partition>> + Send;

    /// The tenant's flow-control key, as of `now_ms`.
    fn flow(
        &self,
        tenant: &TenantId,
        key: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<FlowKey>>> + Send;

    /// The tenant's flow-control keys, ordered by name.
    fn flows(
        &self,
        tenant: &TenantId,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<FlowKey>>> + Send;

    /// Applies `change` and admits what now has room; false when there is
    /// no such key (a pin creates it).
    fn change_flow(
        &self,
        tenant: &TenantId,
        key: &str,
        change: &FlowChange,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Moves the claimed entry of a flow-controlled message that holds no
    /// slot (it became due after a delay or a retry's backoff, or its queue
    /// admitted it) to the back of its key's waiting list, admitting what
    /// the limits allow.
    /// [`Recorded::Gone`] when the message no longer exists (the entry is
    /// acknowledged all the same).
    fn flow_wait(
        &self,
        partition: Partition,
        consumer: &str,
        entry: &str,
        message: &StoredMessage,
        now_ms: u64,
    ) -> impl Future<Output = Result<Recorded>> + Send;

    /// Admits waiting messages of the partition's keys whose rate window
    /// has reopened by `now_ms` (at most `limit` keys); returns how many
    /// keys were looked at and when the next window reopens.
    fn wake_flows(
        &self,
        partition: Partition,
        now_ms: u64,
        limit: usize,
    ) -> impl Future<Output = Result<(usize, Option<u64>)>> + Send;

    /// Attempts in flight across every deliverer: ready entries read and
    /// not yet recorded, in all partitions.
    fn in_flight(&self) -> impl Future<Output = Result<u64>> + Send;

    /// A reader for `consumer` (unique per deliverer task) on `partition`.
    fn reader(
        &self,
        partition: Partition,
        consumer: &str,
    ) -> impl Future<Output = Result<Self::Reader>> + Send;

    /// Moves due delayed messages to ready; returns how many moved and when
    /// the next one is due.
    fn promote_due(
        &self,
        partition: Partition,
        now_ms: u64,
        batch: usize,
    ) -> impl Future<Output = Result<(usize, Option<u64>)>> + Send;

    /// Registers `consumer`'s lease in every partition, valid for `ttl`
    /// (see the `leases` module). A name whose lease was lost must never be
    /// acquired again: the deliverer takes a new name instead.
    fn acquire_lease(
        &self,
        consumer: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Extends `consumer`'s lease to `ttl` from now. False when it had
    /// expired in any partition; it is then removed from all of them, so the
    /// name is dead everywhere at once.
    fn renew_lease(
        &self,
        consumer: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Gives `consumer`'s lease up, so other deliverers take over what it
    /// still holds at their next reclaim instead of after the lease expired.
    fn release_lease(&self, consumer: &str) -> impl Future<Output = Result<()>> + Send;

    /// Takes over, for `consumer` (which holds a lease), up to `count`
    /// pending entries of consumers whose lease is gone, however long they
    /// have been pending: a live deliverer's entries are never taken.
    fn reclaim(
        &self,
        partition: Partition,
        consumer: &str,
        count: usize,
    ) -> impl Future<Output = Result<Vec<Claimed>>> + Send;

    /// Hands `consumer` again up to `count` of its own entries that have
    /// been pending for at least `min_idle` and that `held` says it is not
    /// working on: work it read but lost track of (a read whose reply never
    /// arrived, an outcome that could not be recorded). Their idle time
    /// restarts.
    fn recover_own<F>(
        &self,
        partition: Partition,
        consumer: &str,
        min_idle: Duration,
        count: usize,
        held: &F,
    ) -> impl Future<Output = Result<Vec<Claimed>>> + Send
    where
        F: Fn(&str) -> bool + Sync;

    /// A subscription to key rotations (see [`KeyRotations`]).
    fn watch_key_rotations(&self) -> impl Future<Output = Result<Self::KeyRotations>> + Send;

    fn record(
        &self,
        partition: Partition,
        consumer: &str,
        record: &OutcomeRecord,
    ) -> impl Future<Output = Result<Recorded>> + Send;

    /// Acknowledges an entry whose message no longer exists (cancelled after
    /// the entry was written), freeing the flow-control slot it held.
    fn discard(
        &self,
        partition: Partition,
        entry: &str,
        flow_slot: Option<&FlowSlot>,
        now_ms: u64,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Records successful deliveries that `consumer` attempted, in one step;
    /// returns how many were still pending (the rest were handled
    /// elsewhere), or `None` when `consumer`'s lease is gone and nothing was
    /// recorded.
    fn record_delivered(
        &self,
        partition: Partition,
        consumer: &str,
        batch: &[DeliveredEntry],
    ) -> impl Future<Output = Result<Option<usize>>> + Send;

    /// Stores a message of an Upstash Workflow run (its spec names the run;
    /// its id is in the run's [`run_partition`]) and appends its raw step
    /// to the run's list, in one step: with `run`, the Init message creating
    /// the run (unless it is active); without, a later message of an active
    /// run. A step list that would grow beyond `max_run_bytes` is refused.
    /// See the `workflows` module.
    fn workflow_publish(
        &self,
        msg: &NewMessage,
        run: Option<&NewRun>,
        max_run_bytes: u64,
    ) -> impl Future<Output = Result<RunPublish>> + Send;

    /// Stores an invoked run's result as a later message of its invoking
    /// run, as [`Store::workflow_publish`] does, once per `told` token: the
    /// run records the token, and a repeat stores nothing and answers
    /// [`RunPublish::Deduplicated`]. See the `invoke` module.
    fn workflow_tell(
        &self,
        msg: &NewMessage,
        told: &str,
        max_run_bytes: u64,
    ) -> impl Future<Output = Result<RunPublish>> + Send;

    /// The tenant's run `run_id`, with its step list.
    fn workflow_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
    ) -> impl Future<Output = Result<Option<WorkflowRun>>> + Send;

    /// Ends an active run as `end` says; returns its state before (`None`
    /// when there is no such run). A run that has ended already is left
    /// as it is.
    fn end_workflow(
        &self,
        tenant: &TenantId,
        run_id: &str,
        end: &RunEnd,
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<RunState>>> + Send;

    /// Registers a wait of an active run with its timeout message, unless
    /// a lookback event for it is stored (returned instead) or the run
    /// waits for that event already. See the `waiters` module.
    fn workflow_wait(&self, wait: &NewWaiter) -> impl Future<Output = Result<WaitOutcome>> + Send;

    /// Resolves a wait: removes the waiter (deleting its timeout message)
    /// or the lookback event, and stores the step message answering it, in
    /// one step; nothing when the waiter or event is gone already.
    fn workflow_resolve(
        &self,
        resolution: &Resolution,
        max_run_bytes: u64,
    ) -> impl Future<Output = Result<Resolved>> + Send;

    /// Stores a lookback event for an active run, unless the run waits for
    /// it (that waiter is returned instead).
    fn workflow_store_event(
        &self,
        tenant: &TenantId,
        run_id: &str,
        event_id: &str,
        data: &Bytes,
    ) -> impl Future<Output = Result<EventStored>> + Send;

    /// The tenant's waiters of `event_id`, in every partition.
    fn workflow_waiters(
        &self,
        tenant: &TenantId,
        event_id: &str,
    ) -> impl Future<Output = Result<Vec<Waiter>>> + Send;
    /// [`Store::end_workflow`] for the run created at `created_at` only: a
    /// run since started under the same id is left as it is, and the
    /// answer is `None`, as for no run.
    fn end_workflow_generation(
        &self,
        tenant: &TenantId,
        run_id: &str,
        created_at: u64,
        end: &RunEnd,
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<RunState>>> + Send;

    /// A page of the tenant's runs, newest first, with their step lists
    /// (see the `run_index` module).
    fn workflow_runs(
        &self,
        tenant: &TenantId,
        query: &RunQuery,
    ) -> impl Future<Output = Result<RunPage>> + Send;
}

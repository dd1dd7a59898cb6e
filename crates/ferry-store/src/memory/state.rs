//! Everything the in-process store holds, and every transition on it.
//!
//! Each method here is one step that the Redis backend performs in one Lua
//! script (or one command), with the same checks in the same order, so the
//! two backends agree on every outcome. Methods take the current time as an
//! argument and never wait, which keeps them easy to test.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use ferry_core::ids::{MessageId, Partition, TenantId};
use ferry_core::message::MessageSpec;
use ferry_core::signing::SigningKey;
use tokio::sync::Notify;
use tokio::time::Instant;

mod backlog;
mod bulk_cancel;
mod flows;
mod leases;
mod queues;
mod run_index;
mod waiters;
mod workflows;

use super::MemoryConfig;
use super::dedup::DedupKeys;
use super::delayed::DelayedSet;
use super::stream::{Ack, DlqStream, EventLog, LogRetention, ReadyEntry, ReadyStream, millis};
use crate::dlq::DlqEntry;
use crate::events::{EventDetail, EventEntry, EventState, LoggedEvent};
use crate::flows::FlowSlot;
use crate::paging::{EntryPos, Start};
use crate::schedules::{DueSchedule, LAST_IDS_KEPT, Schedule, ScheduleDef, schedule_partition};
use crate::{
    BacklogBound, Claimed, DeliveredEntry, EndpointSelection, GroupEndpoint, KeyPair, LastResponse,
    NewMessage, Order, Outcome, OutcomeRecord, PublishOutcome, Recorded, StoredMessage, UrlGroup,
};

/// One line of a tenant's event log: message, state, detail.
pub(super) type Event = (MessageId, EventState, EventDetail);

/// A stored message (the Redis message hash).
#[derive(Debug)]
struct Record {
    /// The tenant the message was stored for; cancel and the dead-letter
    /// operations check it, as the Redis scripts check the hash's field.
    tenant: TenantId,
    spec: MessageSpec,
    body: Bytes,
    retried: u32,
    last: Option<LastResponse>,
    dead: Option<DeadLetter>,
    /// The queue holding the message when it was enqueued (the Redis hash's
    /// `q` field): its slot is freed when the message finishes.
    queue: Option<String>,
}

/// Where and when a message was dead-lettered.
#[derive(Debug, Clone, Copy)]
struct DeadLetter {
    entry: EntryPos,
    at: u64,
    /// The message is forgotten from here on (the DLQ retention).
    expires_at: u64,
}

impl Record {
    fn new(tenant: &TenantId, spec: MessageSpec, body: Bytes) -> Self {
        Self {
            tenant: tenant.clone(),
            spec,
            body,
            retried: 0,
            last: None,
            dead: None,
            queue: None,
        }
    }

    fn expired(&self, now_ms: u64) -> bool {
        self.dead.is_some_and(|d| d.expires_at <= now_ms)
    }

    fn stored(&self, id: &MessageId) -> StoredMessage {
        StoredMessage {
            id: id.clone(),
            spec: self.spec.clone(),
            body: self.body.clone(),
            retried: self.retried,
            last: self.last.clone(),
            dead_at: self.dead.map(|d| d.at),
        }
    }
}

/// Everything that belongs to one partition.
#[derive(Debug, Default)]
struct PartitionState {
    ready: ReadyStream,
    delayed: DelayedSet,
    dedup: DedupKeys,
    dlq: HashMap<TenantId, DlqStream>,
    events: HashMap<TenantId, EventLog>,
    /// Pending messages (stored, not yet delivered, dead-lettered or
    /// cancelled) per tenant, and of all tenants: the Redis `backlog` hash.
    held: HashMap<TenantId, u64>,
    held_total: u64,
}

impl PartitionState {
    fn hold(&mut self, tenant: &TenantId) {
        self.held_total += 1;
        *self.held.entry(tenant.clone()).or_default() += 1;
    }

    fn unhold(&mut self, tenant: &TenantId) {
        self.held_total = self.held_total.saturating_sub(1);
        if let Some(n) = self.held.get_mut(tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.held.remove(tenant);
            }
        }
    }

    /// Which bound, if any, refuses one more message of `tenant`.
    fn full(&self, tenant: &TenantId, max_total: u64, max_tenant: u64) -> Option<BacklogBound> {
        if max_total > 0 && self.held_total >= max_total {
            return Some(BacklogBound::Total);
        }
        let held = self.held.get(tenant).copied().unwrap_or(0);
        (max_tenant > 0 && held >= max_tenant).then_some(BacklogBound::Tenant)
    }

    /// Appends to the tenant's log within `retention`; a length of 0
    /// disables the log.
    fn log(&mut self, tenant: &TenantId, event: Event, retention: LogRetention, now_ms: u64) {
        if retention.max_len == 0 {
            return;
        }
        self.events
            .entry(tenant.clone())
            .or_default()
            .push(event, now_ms, retention);
    }
}

/// A message about to be created by a transition.
struct Creation<'a> {
    id: &'a MessageId,
    tenant: &'a TenantId,
    spec: &'a MessageSpec,
    body: Bytes,
    due_ms: u64,
    now_ms: u64,
}

#[derive(Debug)]
pub(super) struct State {
    cfg: MemoryConfig,
    /// Created on first use, so ids naming a partition beyond the configured
    /// count still work, as they do in Redis.
    partitions: HashMap<Partition, PartitionState>,
    messages: HashMap<MessageId, Record>,
    signing_keys: HashMap<TenantId, KeyPair>,
    /// Each tenant's URL groups by name.
    groups: HashMap<TenantId, BTreeMap<String, UrlGroup>>,
    /// Every schedule with the partition holding it, by tenant and id.
    schedules: HashMap<(TenantId, String), (Partition, Schedule)>,
    /// Every queue by tenant and name.
    queues: HashMap<queues::QueueKey, queues::QueueState>,
    /// Every flow-control key by tenant and name.
    flows: HashMap<flows::FlowKeyName, flows::FlowState>,
    /// The deliverers' leases.
    leases: leases::Leases,
    /// Workflow runs by tenant and run id.
    workflows: HashMap<(TenantId, String), workflows::Run>,
    /// Waiters and lookback events of workflow runs.
    waits: waiters::Waits,
}

impl State {
    pub(super) fn new(cfg: MemoryConfig) -> Self {
        Self {
            cfg,
            partitions: HashMap::new(),
            messages: HashMap::new(),
            signing_keys: HashMap::new(),
            groups: HashMap::new(),
            schedules: HashMap::new(),
            queues: HashMap::new(),
            flows: HashMap::new(),
            leases: leases::Leases::default(),
            workflows: HashMap::new(),
            waits: waiters::Waits::default(),
        }
    }

    pub(super) fn upsert_schedule(&mut self, def: &ScheduleDef, body: &Bytes, next_ms: u64) {
        let key = (def.tenant.clone(), def.id.clone());
        let partitions = self.cfg.partitions;
        let needed = self.schedule_placement(def);
        let (partition, last_time, last_ids) = match (self.schedules.remove(&key), needed) {
            (Some((p, old)), None) => (p, old.last_time, old.last_ids),
            (Some((p, old)), Some(needed)) if p == needed => (p, old.last_time, old.last_ids),
            // Moved to the partition its messages must be created in; as in
            // Redis, it starts over there.
            (_, needed) => (
                needed.unwrap_or_else(|| schedule_partition(&def.tenant, &def.id, partitions)),
                None,
                Vec::new(),
            ),
        };
        let schedule = Schedule {
            def: def.clone(),
            body: body.clone(),
            paused: false,
            next_due: Some(next_ms),
            last_time,
            last_ids,
        };
        self.schedules.insert(key, (partition, schedule));
    }

    pub(super) fn schedule(&self, tenant: &TenantId, id: &str) -> Option<Schedule> {
        self.schedules
            .get(&(tenant.clone(), id.to_owned()))
            .map(|(_, s)| s.clone())
    }

    pub(super) fn schedules(&self, tenant: &TenantId) -> Vec<Schedule> {
        let mut found: Vec<Schedule> = self
            .schedules
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, (_, s))| s.clone())
            .collect();
        found.sort_by(|a, b| (a.def.created_at, &a.def.id).cmp(&(b.def.created_at, &b.def.id)));
        found
    }

    pub(super) fn delete_schedule(&mut self, tenant: &TenantId, id: &str) -> bool {
        self.schedules
            .remove(&(tenant.clone(), id.to_owned()))
            .is_some()
    }

    pub(super) fn set_schedule_paused(
        &mut self,
        tenant: &TenantId,
        id: &str,
        paused: bool,
        next_ms: u64,
    ) -> bool {
        let Some((_, schedule)) = self.schedules.get_mut(&(tenant.clone(), id.to_owned())) else {
            return false;
        };
        schedule.paused = paused;
        schedule.next_due = (!paused).then_some(next_ms);
        true
    }

    pub(super) fn due_schedules(
        &self,
        partition: Partition,
        now_ms: u64,
        limit: usize,
    ) -> Vec<DueSchedule> {
        let mut due: Vec<DueSchedule> = self
            .schedules
            .values()
            .filter(|(p, _)| *p == partition)
            .filter_map(|(_, s)| {
                let due_ms = s.next_due.filter(|d| *d <= now_ms)?;
                Some(DueSchedule {
                    member: s.def.member(),
                    due_ms,
                    def: s.def.clone(),
                })
            })
            .collect();
        due.sort_by(|a, b| (a.due_ms, &a.member).cmp(&(b.due_ms, &b.member)));
        due.truncate(limit);
        due
    }

    pub(super) fn fire_schedule(
        &mut self,
        partition: Partition,
        member: &str,
        expected_due_ms: u64,
        next_due_ms: Option<u64>,
        messages: &[NewMessage],
    ) -> bool {
        let Some((tenant, id)) = member.split_once(':') else {
            return false;
        };
        let Ok(tenant) = TenantId::new(tenant) else {
            return false;
        };
        let Some((p, schedule)) = self.schedules.get_mut(&(tenant, id.to_owned())) else {
            return false;
        };
        if *p != partition || schedule.next_due != Some(expected_due_ms) {
            return false;
        }
        schedule.next_due = next_due_ms;
        schedule.last_time = Some(expected_due_ms);
        if !messages.is_empty() {
            schedule
                .last_ids
                .extend(messages.iter().map(|m| m.id.clone()));
            let kept = LAST_IDS_KEPT.max(messages.len());
            let excess = schedule.last_ids.len().saturating_sub(kept);
            schedule.last_ids.drain(..excess);
        }
        let body = schedule.body.clone();
        for message in messages {
            self.create_for_tick(partition, message, body.clone());
        }
        true
    }

    /// Creates one message of a tick: enqueued (with its flow-control key,
    /// if any), waiting under its flow-control key, or ready (or delayed)
    /// like a publish.
    fn create_for_tick(&mut self, partition: Partition, message: &NewMessage, body: Bytes) {
        let produced = NewMessage {
            id: message.id.clone(),
            spec: message.spec.clone(),
            body,
        };
        match (&produced.spec.queue, &produced.spec.flow_control) {
            (Some(queue), _) => self.enqueue_new(queue.clone(), &produced),
            (None, Some(flow)) => self.create_flow_controlled(&produced, flow),
            (None, None) => self.create(
                partition,
                Creation {
                    id: &produced.id,
                    tenant: &produced.spec.tenant,
                    spec: &produced.spec,
                    body: produced.body.clone(),
                    due_ms: produced.spec.not_before,
                    now_ms: produced.spec.created_at,
                },
            ),
        }
    }

    /// The partition a schedule's messages must be created in, when that is
    /// not the schedule's own choice: its queue's or flow-control key's.
    fn schedule_placement(&self, def: &ScheduleDef) -> Option<Partition> {
        match (&def.queue, &def.flow_control) {
            (Some(queue), _) => Some(self.queue_home(&def.tenant, queue)),
            (None, Some(flow)) => Some(self.flow_home(&def.tenant, &flow.key)),
            (None, None) => None,
        }
    }

    pub(super) fn upsert_endpoints(
        &mut self,
        tenant: &TenantId,
        name: &str,
        endpoints: &[GroupEndpoint],
        max_endpoints: usize,
        now_ms: u64,
    ) -> bool {
        let existing = self.url_group(tenant, name).map(|g| g.endpoints);
        let mut urls: HashSet<&str> = existing.iter().flatten().map(|e| e.url.as_str()).collect();
        urls.extend(endpoints.iter().map(|e| e.url.as_str()));
        if urls.len() > max_endpoints {
            return false;
        }
        let group = self
            .groups
            .entry(tenant.clone())
            .or_default()
            .entry(name.to_owned())
            .or_insert_with(|| UrlGroup {
                name: name.to_owned(),
                created_at: now_ms,
                updated_at: now_ms,
                endpoints: Vec::new(),
            });
        group.updated_at = now_ms;
        for endpoint in endpoints {
            group.endpoints.retain(|e| e.url != endpoint.url);
            group.endpoints.push(endpoint.clone());
        }
        group.endpoints.sort_by(|a, b| a.url.cmp(&b.url));
        true
    }

    pub(super) fn remove_endpoints(
        &mut self,
        tenant: &TenantId,
        name: &str,
        selection: &EndpointSelection,
        now_ms: u64,
    ) -> bool {
        let Some(groups) = self.groups.get_mut(tenant) else {
            return false;
        };
        let Some(group) = groups.get_mut(name) else {
            return false;
        };
        group.endpoints.retain(|e| !selection.matches(e));
        group.updated_at = now_ms;
        if group.endpoints.is_empty() {
            groups.remove(name);
        }
        true
    }

    pub(super) fn url_group(&self, tenant: &TenantId, name: &str) -> Option<UrlGroup> {
        self.groups.get(tenant)?.get(name).cloned()
    }

    pub(super) fn url_groups(&self, tenant: &TenantId) -> Vec<UrlGroup> {
        self.groups
            .get(tenant)
            .map(|groups| groups.values().cloned().collect())
            .unwrap_or_default()
    }

    pub(super) fn delete_url_group(&mut self, tenant: &TenantId, name: &str) -> bool {
        self.groups
            .get_mut(tenant)
            .is_some_and(|groups| groups.remove(name).is_some())
    }

    pub(super) fn wakeup(&mut self, partition: Partition) -> Arc<Notify> {
        self.partition(partition).ready.wakeup()
    }

    pub(super) fn publish(&mut self, msg: &NewMessage, dedup: Option<&str>) -> PublishOutcome {
        if let Some(flow) = &msg.spec.flow_control {
            return self.publish_flow_controlled(msg, flow, dedup);
        }
        if let Some(refused) = self.admission_refusal(msg, dedup) {
            return refused;
        }
        self.create_published(msg);
        PublishOutcome::Created
    }

    pub(super) fn message(
        &mut self,
        tenant: &TenantId,
        id: &MessageId,
        now_ms: u64,
    ) -> Option<StoredMessage> {
        self.live(id, now_ms)
            .filter(|r| &r.spec.tenant == tenant)
            .map(|r| r.stored(id))
    }

    pub(super) fn cancel(&mut self, tenant: &TenantId, id: &MessageId, now_ms: u64) -> bool {
        let (queue, flow) = match self.live(id, now_ms) {
            Some(r) if &r.tenant == tenant && r.dead.is_none() => (
                r.queue.clone(),
                r.spec.flow_control.as_ref().map(|f| f.key.clone()),
            ),
            _ => return false,
        };
        if let Some(name) = queue {
            self.leave_queue(&(tenant.clone(), name), id, now_ms);
        }
        if let Some(key) = flow {
            self.leave_flow(tenant, &key, id);
        }
        self.forget_cancelled(tenant, id, now_ms);
        true
    }

    /// Removes a pending message and logs its cancellation.
    fn forget_cancelled(&mut self, tenant: &TenantId, id: &MessageId, now_ms: u64) {
        let Some(record) = self.remove_pending(id) else {
            return;
        };
        let detail = EventDetail::of(&record.spec);
        let retention = self.log_retention();
        let part = self.partition(id.partition());
        part.delayed.remove(id);
        part.log(
            tenant,
            (id.clone(), EventState::Canceled, detail),
            retention,
            now_ms,
        );
    }

    pub(super) fn ensure_signing_keys(&mut self, tenant: &TenantId, initial: &KeyPair) -> KeyPair {
        self.signing_keys
            .entry(tenant.clone())
            .or_insert_with(|| initial.clone())
            .clone()
    }

    pub(super) fn signing_keys(&self, tenant: &TenantId) -> Option<KeyPair> {
        self.signing_keys.get(tenant).cloned()
    }

    pub(super) fn rotate_signing_keys(
        &mut self,
        tenant: &TenantId,
        new_next: &SigningKey,
    ) -> Option<KeyPair> {
        let keys = self.signing_keys.get_mut(tenant)?;
        keys.current = std::mem::replace(&mut keys.next, new_next.clone());
        Some(keys.clone())
    }

    /// Entries of the tenant's dead-letter stream in `partition`, each with
    /// its message when that is still a dead letter of this tenant.
    pub(super) fn dlq_entries(
        &mut self,
        tenant: &TenantId,
        partition: Partition,
        order: Order,
        start: Option<Start>,
        count: usize,
        now_ms: u64,
    ) -> Vec<DlqEntry> {
        let entries = self
            .partition(partition)
            .dlq
            .get(tenant)
            .map(|stream| stream.range(order, start, count))
            .unwrap_or_default();
        entries
            .into_iter()
            .map(|(pos, id)| {
                let message = self
                    .live(&id, now_ms)
                    .filter(|r| &r.spec.tenant == tenant && r.dead.is_some())
                    .map(|r| r.stored(&id));
                (pos, message)
            })
            .collect()
    }

    /// Lines of the tenant's event log in `partition`.
    pub(super) fn event_entries(
        &self,
        tenant: &TenantId,
        partition: Partition,
        order: Order,
        start: Option<Start>,
        count: usize,
    ) -> Vec<EventEntry> {
        self.partitions
            .get(&partition)
            .and_then(|p| p.events.get(tenant))
            .map(|log| log.range(order, start, count))
            .unwrap_or_default()
            .into_iter()
            .map(|(pos, (message_id, state, detail))| {
                let event = LoggedEvent {
                    time: pos.ms,
                    message_id,
                    state,
                    detail,
                };
                (pos, Some(event))
            })
            .collect()
    }

    /// Removes the tenant's dead letter `id`; returns its body, or `None`
    /// when there is no such dead letter.
    pub(super) fn remove_dead_letter(
        &mut self,
        tenant: &TenantId,
        id: &MessageId,
        now_ms: u64,
    ) -> Option<Bytes> {
        let dead = self
            .live(id, now_ms)
            .filter(|r| &r.tenant == tenant)
            .and_then(|r| r.dead)?;
        if let Some(stream) = self.partition(id.partition()).dlq.get_mut(tenant) {
            stream.remove(dead.entry);
        }
        self.messages.remove(id).map(|r| r.body)
    }

    /// Replaces the tenant's dead letter `old` by `replacement` with the dead
    /// letter's body, in `old`'s partition (a queue's message rejoins its
    /// queue); false when there is none.
    pub(super) fn retry_dead_letter(
        &mut self,
        tenant: &TenantId,
        old: &MessageId,
        replacement: &NewMessage,
        now_ms: u64,
    ) -> bool {
        let Some(body) = self.remove_dead_letter(tenant, old, now_ms) else {
            return false;
        };
        let spec = &replacement.spec;
        match spec.queue.clone() {
            // A queue message goes back into its queue, to wait for a slot.
            Some(name) => self.join_queue(name, &replacement.id, spec, body, spec.created_at),
            None => self.create(
                old.partition(),
                Creation {
                    id: &replacement.id,
                    tenant,
                    spec,
                    body,
                    due_ms: spec.not_before,
                    now_ms: spec.created_at,
                },
            ),
        }
        true
    }

    /// Hands up to `count` unread ready entries of `partition` to `consumer`.
    pub(super) fn read_new(
        &mut self,
        partition: Partition,
        consumer: &str,
        count: usize,
        now: Instant,
        now_ms: u64,
    ) -> Vec<Claimed> {
        let taken = self
            .partition(partition)
            .ready
            .read_new(consumer, count, now);
        self.claimed(taken, now_ms)
    }

    pub(super) fn in_flight(&self) -> u64 {
        let pending: usize = self
            .partitions
            .values()
            .map(|p| p.ready.pending_len())
            .sum();
        u64::try_from(pending).unwrap_or(u64::MAX)
    }

    pub(super) fn promote_due(
        &mut self,
        partition: Partition,
        now_ms: u64,
        batch: usize,
    ) -> (usize, Option<u64>) {
        let part = self.partition(partition);
        let due = part.delayed.take_due(now_ms, batch);
        let moved = due.len();
        for id in due {
            part.ready.append(id, now_ms);
        }
        (moved, part.delayed.next_due())
    }

    /// Records one attempt's outcome: the ownership check, the
    /// acknowledgement, the outcome itself and the callbacks it triggers.
    pub(super) fn record(
        &mut self,
        partition: Partition,
        consumer: &str,
        record: &OutcomeRecord,
        now: Instant,
    ) -> Recorded {
        match self.ack_owned(partition, &record.entry, consumer, now) {
            Ack::Done => {}
            Ack::NotPending => return Recorded::Gone,
            Ack::HeldByOther => return Recorded::NotOwner,
        }
        if let Some(slot) = &record.flow_slot {
            self.flow_release(slot, record.now_ms);
        }
        if self.live(&record.message_id, record.now_ms).is_none() {
            return Recorded::Gone;
        }
        let id = &record.message_id;
        let queue = self.messages.get(id).and_then(|r| r.queue.clone());
        match &record.outcome {
            Outcome::Defer { due_ms } => {
                // Not attempted: put back unchanged, with no log and no callbacks.
                self.partition(partition)
                    .delayed
                    .schedule(id.clone(), *due_ms);
                return Recorded::Done;
            }
            Outcome::Delivered => {
                self.remove_pending(id);
                self.log(partition, record, EventState::Delivered);
            }
            Outcome::Retry {
                due_ms,
                retried,
                response,
            } => {
                self.note_failure(partition, record, *retried, response);
                self.partition(partition)
                    .delayed
                    .schedule(id.clone(), *due_ms);
                self.log(partition, record, EventState::Retry);
            }
            Outcome::Dead { retried, response } => {
                self.note_failure(partition, record, *retried, response);
                self.dead_letter(partition, record);
                self.log(partition, record, EventState::Failed);
            }
        }
        let finished = matches!(record.outcome, Outcome::Delivered | Outcome::Dead { .. });
        let hand_over = match queue.filter(|_| finished) {
            Some(name) => {
                let key = (record.tenant.clone(), name.clone());
                self.hand_over_slot(&key, record.new_messages.len(), record.now_ms)
                    .then_some(name)
            }
            None => None,
        };
        for new in &record.new_messages {
            self.create(
                partition,
                Creation {
                    id: &new.id,
                    tenant: &record.tenant,
                    spec: &new.spec,
                    body: new.body.clone(),
                    due_ms: new.spec.not_before,
                    now_ms: record.now_ms,
                },
            );
            if let Some(message) = self.messages.get_mut(&new.id) {
                message.queue.clone_from(&hand_over);
            }
        }
        Recorded::Done
    }

    pub(super) fn discard(
        &mut self,
        partition: Partition,
        entry: &str,
        flow_slot: Option<&FlowSlot>,
        now_ms: u64,
    ) {
        match flow_slot {
            Some(slot) => self.discard_flow_slot(partition, entry, slot, now_ms),
            None => self.partition(partition).ready.discard(entry),
        }
    }

    pub(super) fn record_delivered(
        &mut self,
        partition: Partition,
        consumer: &str,
        batch: &[DeliveredEntry],
        now: Instant,
    ) -> Option<usize> {
        if !self.leases.alive(consumer, now) {
            return None;
        }
        let retention = self.log_retention();
        let wall_ms = ferry_core::clock::unix_ms(std::time::SystemTime::now());
        let mut n_recorded = 0;
        for delivered in batch {
            let part = self.partitions.entry(partition).or_default();
            if !part.ready.ack(&delivered.entry) {
                continue;
            }
            let event = (
                delivered.message_id.clone(),
                EventState::Delivered,
                delivered.detail.clone(),
            );
            part.log(&delivered.tenant, event, retention, wall_ms);
            let queue = self
                .remove_pending(&delivered.message_id)
                .and_then(|r| r.queue);
            if let Some(name) = queue {
                self.release(&(delivered.tenant.clone(), name), wall_ms);
            }
            n_recorded += 1;
        }
        Some(n_recorded)
    }

    /// Keeps a failed attempt's response and retry count, and logs it.
    fn note_failure(
        &mut self,
        partition: Partition,
        record: &OutcomeRecord,
        retried: u32,
        response: &LastResponse,
    ) {
        if let Some(message) = self.messages.get_mut(&record.message_id) {
            message.retried = retried;
            message.last = Some(as_stored(response));
        }
        self.log(partition, record, EventState::Error);
    }

    /// Moves a message to the tenant's dead-letter stream, forgetting the
    /// dead letters that outlived the retention.
    fn dead_letter(&mut self, partition: Partition, record: &OutcomeRecord) {
        let retention = self.cfg.dlq_retention;
        let now_ms = record.now_ms;
        let stream = self
            .partition(partition)
            .dlq
            .entry(record.tenant.clone())
            .or_default();
        let (entry, dropped) = stream.append(record.message_id.clone(), now_ms, retention);
        for (pos, id) in dropped {
            if self
                .messages
                .get(&id)
                .is_some_and(|r| r.dead.is_some_and(|d| d.entry == pos))
            {
                self.messages.remove(&id);
            }
        }
        let held_by = (self.messages.get(&record.message_id))
            .filter(|m| m.dead.is_none())
            .map(|m| m.tenant.clone());
        if let Some(tenant) = held_by {
            self.partition(partition).unhold(&tenant);
        }
        if let Some(message) = self.messages.get_mut(&record.message_id) {
            message.dead = Some(DeadLetter {
                entry,
                at: now_ms,
                expires_at: now_ms.saturating_add(millis(retention)),
            });
        }
    }

    fn log(&mut self, partition: Partition, record: &OutcomeRecord, state: EventState) {
        let retention = self.log_retention();
        let event = (record.message_id.clone(), state, record.detail.clone());
        self.partition(partition)
            .log(&record.tenant, event, retention, record.now_ms);
    }

    /// Stores a published message as it was asked for: due at its
    /// not-before time, as of its publish time.
    fn create_published(&mut self, msg: &NewMessage) {
        self.create(
            msg.id.partition(),
            Creation {
                id: &msg.id,
                tenant: &msg.spec.tenant,
                spec: &msg.spec,
                body: msg.body.clone(),
                due_ms: msg.spec.not_before,
                now_ms: msg.spec.created_at,
            },
        );
    }

    /// Stores a new message and makes it deliverable: ready now, or delayed
    /// until due.
    fn create(&mut self, partition: Partition, new: Creation<'_>) {
        let record = Record::new(new.tenant, new.spec.clone(), new.body);
        self.insert_pending(new.id, record);
        let retention = self.log_retention();
        let part = self.partition(partition);
        if new.due_ms > new.now_ms {
            part.delayed.schedule(new.id.clone(), new.due_ms);
        } else {
            part.ready.append(new.id.clone(), new.now_ms);
        }
        part.log(
            new.tenant,
            (
                new.id.clone(),
                EventState::Created,
                EventDetail::of(new.spec),
            ),
            retention,
            new.now_ms,
        );
    }

    /// Stores a new message, counting it in its partition's backlog.
    fn insert_pending(&mut self, id: &MessageId, record: Record) {
        self.partition(id.partition()).hold(&record.tenant);
        self.messages.insert(id.clone(), record);
    }

    /// Forgets a message that finished (delivered or cancelled), releasing
    /// its count unless it was already released as a dead letter.
    fn remove_pending(&mut self, id: &MessageId) -> Option<Record> {
        let record = self.messages.remove(id)?;
        if record.dead.is_none() {
            self.partition(id.partition()).unhold(&record.tenant);
        }
        Some(record)
    }

    /// Every path that hands entries to a deliverer (read, takeover,
    /// recovery) goes through here, so each gives step messages their
    /// step-list bodies.
    fn claimed(&mut self, taken: Vec<(EntryPos, ReadyEntry)>, now_ms: u64) -> Vec<Claimed> {
        taken
            .into_iter()
            .map(|(pos, (message_id, flow_slot))| {
                let message = self
                    .live(&message_id, now_ms)
                    .map(|r| r.stored(&message_id));
                Claimed {
                    entry: pos.render(),
                    message: message.and_then(|m| self.with_step_body(m, now_ms)),
                    message_id,
                    flow_slot,
                }
            })
            .collect()
    }

    /// The message `id` unless it is absent or a dead letter past its
    /// retention, which is forgotten here (expiry is lazy).
    fn live(&mut self, id: &MessageId, now_ms: u64) -> Option<&mut Record> {
        let (tenant, dead) = match self.messages.get(id) {
            Some(record) if record.expired(now_ms) => (record.tenant.clone(), record.dead),
            Some(_) => return self.messages.get_mut(id),
            None => return None,
        };
        self.messages.remove(id);
        if let (Some(dead), Some(stream)) =
            (dead, self.partition(id.partition()).dlq.get_mut(&tenant))
        {
            stream.remove(dead.entry);
        }
        None
    }

    fn log_retention(&self) -> LogRetention {
        LogRetention {
            max_len: usize::try_from(self.cfg.events_max_len).unwrap_or(usize::MAX),
            max_age_ms: millis(self.cfg.events_max_age),
        }
    }

    fn partition(&mut self, partition: Partition) -> &mut PartitionState {
        self.partitions.entry(partition).or_default()
    }

    #[cfg(test)]
    pub(super) fn events(&self, partition: Partition, tenant: &TenantId) -> Vec<Event> {
        self.partitions
            .get(&partition)
            .and_then(|p| p.events.get(tenant))
            .map(|log| {
                log.range(Order::EarliestFirst, None, usize::MAX)
                    .into_iter()
                    .map(|(_, event)| event)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The last response as the Redis backend reads it back: a status of 0 and
/// an empty error mean "none".
fn as_stored(response: &LastResponse) -> LastResponse {
    LastResponse {
        status: response.status.filter(|s| *s > 0),
        headers: response.headers.clone(),
        body: response.body.clone(),
        error: response.error.clone().filter(|e| !e.is_empty()),
    }
}

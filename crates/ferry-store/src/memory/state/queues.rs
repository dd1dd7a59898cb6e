//! The queue transitions of the in-process store, mirroring the queue steps
//! of the Redis scripts: enqueue, admission, slot release and settings.

use std::collections::VecDeque;

use bytes::Bytes;
use ferry_core::ids::{MessageId, Partition, TenantId};
use ferry_core::message::MessageSpec;

use super::{Record, State};
use crate::events::{EventDetail, EventState};
use crate::placement::home_partition;
use crate::queues::{Queue, QueueSettings};
use crate::{NewMessage, PublishOutcome};

/// A queue and its waiting messages (the Redis queue hash and list).
#[derive(Debug)]
pub(super) struct QueueState {
    partition: Partition,
    settings: QueueSettings,
    created_at: u64,
    updated_at: u64,
    active: u32,
    waiting: VecDeque<MessageId>,
}

impl QueueState {
    fn new(partition: Partition, now_ms: u64) -> Self {
        Self {
            partition,
            settings: QueueSettings {
                parallelism: 1,
                paused: false,
            },
            created_at: now_ms,
            updated_at: now_ms,
            active: 0,
            waiting: VecDeque::new(),
        }
    }

    pub(super) fn partition(&self) -> Partition {
        self.partition
    }

    /// The waiting messages, oldest first.
    pub(super) fn waiting_ids(&self) -> Vec<MessageId> {
        self.waiting.iter().cloned().collect()
    }

    fn shown(&self, name: &str) -> Queue {
        Queue {
            name: name.to_owned(),
            parallelism: self.settings.parallelism,
            paused: self.settings.paused,
            created_at: self.created_at,
            updated_at: self.updated_at,
            lag: u64::try_from(self.waiting.len()).unwrap_or(u64::MAX),
            active: self.active,
        }
    }

    /// Takes the waiting messages there is room for, in FIFO order.
    fn admit(&mut self) -> Vec<MessageId> {
        let mut admitted = Vec::new();
        while !self.settings.paused && self.active < self.settings.parallelism {
            let Some(id) = self.waiting.pop_front() else {
                break;
            };
            self.active += 1;
            admitted.push(id);
        }
        admitted
    }
}

pub(super) type QueueKey = (TenantId, String);

impl State {
    pub(in crate::memory) fn queue_home(&self, tenant: &TenantId, name: &str) -> Partition {
        self.queues
            .get(&(tenant.clone(), name.to_owned()))
            .map_or_else(
                || home_partition(tenant, self.cfg.partitions),
                |q| q.partition,
            )
    }

    pub(in crate::memory) fn enqueue(
        &mut self,
        msg: &NewMessage,
        dedup: Option<&str>,
    ) -> PublishOutcome {
        let Some(name) = msg.spec.queue.clone() else {
            return self.publish(msg, dedup);
        };
        if let Some(refused) = self.admission_refusal(msg, dedup) {
            return refused;
        }
        self.enqueue_new(name, msg);
        PublishOutcome::Created
    }

    /// Stores a new message of the queue `name`; one that names a
    /// flow-control key also applies its limits to the key. Once its queue
    /// admits it, the deliverer moves it under the key (`flow_wait`), as the
    /// Redis scripts' `flow_hold` describes.
    pub(super) fn enqueue_new(&mut self, name: String, msg: &NewMessage) {
        let spec = &msg.spec;
        self.join_queue(name, &msg.id, spec, msg.body.clone(), spec.created_at);
        if let Some(flow) = &spec.flow_control {
            self.hold_flow(&spec.tenant, flow);
        }
    }

    /// Stores a message of the queue `name` (created with parallelism 1 in
    /// the message's partition when absent) at the end of its waiting list,
    /// and admits what has room: an enqueue, or a queue message's dead letter
    /// retried into its queue.
    pub(super) fn join_queue(
        &mut self,
        name: String,
        id: &MessageId,
        spec: &MessageSpec,
        body: Bytes,
        now_ms: u64,
    ) {
        let p = id.partition();
        let tenant = spec.tenant.clone();
        let mut record = Record::new(&tenant, spec.clone(), body);
        record.queue = Some(name.clone());
        self.insert_pending(id, record);
        let retention = self.log_retention();
        self.partition(p).log(
            &tenant,
            (id.clone(), EventState::Created, EventDetail::of(spec)),
            retention,
            now_ms,
        );
        let key = (tenant, name);
        self.queues
            .entry(key.clone())
            .or_insert_with(|| QueueState::new(p, now_ms))
            .waiting
            .push_back(id.clone());
        self.dispatch(&key, now_ms);
    }

    pub(in crate::memory) fn upsert_queue(
        &mut self,
        tenant: &TenantId,
        name: &str,
        settings: QueueSettings,
        now_ms: u64,
    ) {
        let partition = self.queue_home(tenant, name);
        let key = (tenant.clone(), name.to_owned());
        let queue = self
            .queues
            .entry(key.clone())
            .or_insert_with(|| QueueState::new(partition, now_ms));
        queue.settings = settings;
        queue.updated_at = now_ms;
        self.dispatch(&key, now_ms);
    }

    pub(in crate::memory) fn queue(&self, tenant: &TenantId, name: &str) -> Option<Queue> {
        self.queues
            .get(&(tenant.clone(), name.to_owned()))
            .map(|q| q.shown(name))
    }

    pub(in crate::memory) fn queues(&self, tenant: &TenantId) -> Vec<Queue> {
        let mut found: Vec<Queue> = self
            .queues
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|((_, name), q)| q.shown(name))
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found
    }

    pub(in crate::memory) fn set_queue_paused(
        &mut self,
        tenant: &TenantId,
        name: &str,
        paused: bool,
        now_ms: u64,
    ) -> bool {
        let key = (tenant.clone(), name.to_owned());
        let Some(queue) = self.queues.get_mut(&key) else {
            return false;
        };
        queue.settings.paused = paused;
        queue.updated_at = now_ms;
        self.dispatch(&key, now_ms);
        true
    }

    /// Deletes the queue and cancels its waiting messages; messages already
    /// admitted finish normally.
    pub(in crate::memory) fn delete_queue(
        &mut self,
        tenant: &TenantId,
        name: &str,
        now_ms: u64,
    ) -> bool {
        let Some(queue) = self.queues.remove(&(tenant.clone(), name.to_owned())) else {
            return false;
        };
        for id in queue.waiting {
            self.forget_cancelled(tenant, &id, now_ms);
        }
        true
    }

    /// Takes a cancelled queue message out of its queue: off the waiting
    /// list, or out of its slot (admitting the next one).
    pub(super) fn leave_queue(&mut self, key: &QueueKey, id: &MessageId, now_ms: u64) {
        let Some(queue) = self.queues.get_mut(key) else {
            return;
        };
        if let Some(at) = queue.waiting.iter().position(|w| w == id) {
            queue.waiting.remove(at);
        } else {
            self.release(key, now_ms);
        }
    }

    /// The slot of a queue message that reached a final outcome goes to the
    /// `callbacks` it triggered (each holds a share, so the next message
    /// waits for them too); with none, or when the queue is gone, it is
    /// freed. True when the callbacks took it over.
    pub(super) fn hand_over_slot(&mut self, key: &QueueKey, callbacks: usize, now_ms: u64) -> bool {
        match self.queues.get_mut(key) {
            Some(queue) if callbacks > 0 => {
                let extra = u32::try_from(callbacks - 1).unwrap_or(u32::MAX);
                queue.active = queue.active.saturating_add(extra);
                true
            }
            _ => {
                self.release(key, now_ms);
                false
            }
        }
    }

    /// Frees the slot of a queue message that reached a final outcome.
    pub(super) fn release(&mut self, key: &QueueKey, now_ms: u64) {
        if let Some(queue) = self.queues.get_mut(key) {
            queue.active = queue.active.saturating_sub(1);
            self.dispatch(key, now_ms);
        }
    }

    /// Moves the waiting messages there is room for to the ready stream.
    fn dispatch(&mut self, key: &QueueKey, now_ms: u64) {
        let Some(queue) = self.queues.get_mut(key) else {
            return;
        };
        let partition = queue.partition;
        let admitted = queue.admit();
        let part = self.partition(partition);
        for id in admitted {
            part.ready.append(id, now_ms);
        }
    }

    /// The refusal of a new message by the backlog bound or deduplication.
    pub(super) fn admission_refusal(
        &mut self,
        msg: &NewMessage,
        dedup: Option<&str>,
    ) -> Option<PublishOutcome> {
        let (max_total, max_tenant) = (
            self.cfg.max_backlog_per_partition,
            self.cfg.max_tenant_backlog_per_partition,
        );
        let window_ms = super::millis(self.cfg.dedup_window);
        let part = self.partition(msg.id.partition());
        if let Some(bound) = part.full(&msg.spec.tenant, max_total, max_tenant) {
            return Some(PublishOutcome::BacklogFull(bound));
        }
        let dedup = dedup?;
        part.dedup
            .claim(
                &msg.spec.tenant,
                dedup,
                &msg.id,
                msg.spec.created_at,
                window_ms,
            )
            .map(PublishOutcome::Duplicate)
    }
}

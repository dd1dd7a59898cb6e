//! The flow-control transitions of the in-process store, mirroring the
//! flow steps of the Redis scripts (see [`crate::flows`]): publish onto a
//! key's waiting list, admission within the limits, slot release, and the
//! API's changes. Keys whose rate window is full are found by a scan when
//! the deliverer asks for them, instead of a wake set.

use std::collections::VecDeque;

use ferry_core::flow::FlowControl;
use ferry_core::ids::{MessageId, Partition, TenantId};
use tokio::time::Instant;

use super::{Record, State};
use crate::events::{EventDetail, EventState};
use crate::flows::{FlowChange, FlowKey, FlowSlot};
use crate::placement::home_partition;
use crate::{NewMessage, PublishOutcome, Recorded};

/// A key's limits, counters and waiting messages (the Redis flow hash and
/// list).
#[derive(Debug)]
pub(super) struct FlowState {
    partition: Partition,
    parallelism: u32,
    rate: u32,
    period_ms: u64,
    active: u32,
    window_start: u64,
    window_count: u32,
    paused: bool,
    pinned_parallelism: bool,
    pinned_rate: bool,
    waiting: VecDeque<MessageId>,
}

impl FlowState {
    fn new(partition: Partition) -> Self {
        Self {
            partition,
            parallelism: 0,
            rate: 0,
            period_ms: 1_000,
            active: 0,
            window_start: 0,
            window_count: 0,
            paused: false,
            pinned_parallelism: false,
            pinned_rate: false,
            waiting: VecDeque::new(),
        }
    }

    fn configure(&mut self, flow: &FlowControl) {
        if !self.pinned_parallelism {
            self.parallelism = flow.parallelism.unwrap_or(0);
        }
        if !self.pinned_rate {
            self.rate = flow.rate.unwrap_or(0);
            self.period_ms = flow.period_ms;
        }
    }

    fn window_ends(&self) -> u64 {
        self.window_start.saturating_add(self.period_ms)
    }

    /// Takes a slot for one attempt if the limits allow it at `now_ms`.
    fn take(&mut self, now_ms: u64) -> bool {
        if self.paused || (self.parallelism > 0 && self.active >= self.parallelism) {
            return false;
        }
        if now_ms >= self.window_ends() {
            self.window_start = now_ms;
            self.window_count = 0;
        }
        if self.rate > 0 && self.window_count >= self.rate {
            return false;
        }
        self.active += 1;
        self.window_count += 1;
        true
    }

    /// Waiting messages held back only by a full rate window that has
    /// reopened by `now_ms`.
    fn rate_blocked_until(&self) -> Option<u64> {
        let blocked = !self.waiting.is_empty()
            && !self.paused
            && self.rate > 0
            && self.window_count >= self.rate
            && (self.parallelism == 0 || self.active < self.parallelism);
        blocked.then(|| self.window_ends())
    }

    fn shown(&self, key: &str, now_ms: u64) -> FlowKey {
        FlowKey {
            key: key.to_owned(),
            waiting: u64::try_from(self.waiting.len()).unwrap_or(u64::MAX),
            parallelism_max: self.parallelism,
            parallelism_count: self.active,
            rate_max: self.rate,
            rate_count: if now_ms < self.window_ends() {
                self.window_count
            } else {
                0
            },
            rate_period_ms: self.period_ms,
            rate_period_start_ms: self.window_start,
            paused: self.paused,
            pinned_parallelism: self.pinned_parallelism,
            pinned_rate: self.pinned_rate,
        }
    }
}

pub(super) type FlowKeyName = (TenantId, String);

impl State {
    pub(in crate::memory) fn flow_home(&self, tenant: &TenantId, key: &str) -> Partition {
        self.flows
            .get(&(tenant.clone(), key.to_owned()))
            .map_or_else(
                || home_partition(tenant, self.cfg.partitions),
                |f| f.partition,
            )
    }

    fn flow_entry(&mut self, tenant: &TenantId, key: &str) -> &mut FlowState {
        let partition = self.flow_home(tenant, key);
        self.flows
            .entry((tenant.clone(), key.to_owned()))
            .or_insert_with(|| FlowState::new(partition))
    }

    /// Applies the limits of an enqueued message to its key.
    pub(super) fn hold_flow(&mut self, tenant: &TenantId, flow: &FlowControl) {
        self.flow_entry(tenant, &flow.key).configure(flow);
    }

    pub(super) fn publish_flow_controlled(
        &mut self,
        msg: &NewMessage,
        flow: &FlowControl,
        dedup: Option<&str>,
    ) -> PublishOutcome {
        if let Some(refused) = self.admission_refusal(msg, dedup) {
            return refused;
        }
        self.create_flow_controlled(msg, flow);
        PublishOutcome::Created
    }

    /// Stores a message with a flow-control key: its limits become the
    /// key's (except pinned ones); due now, it waits for room under the key,
    /// delayed, it waits in the delayed set first.
    pub(super) fn create_flow_controlled(&mut self, msg: &NewMessage, flow: &FlowControl) {
        let tenant = &msg.spec.tenant;
        self.flow_entry(tenant, &flow.key).configure(flow);
        let now_ms = msg.spec.created_at;
        if msg.spec.not_before > now_ms {
            self.create_published(msg);
            return;
        }
        let record = Record::new(tenant, msg.spec.clone(), msg.body.clone());
        self.insert_pending(&msg.id, record);
        let retention = self.log_retention();
        let event = (
            msg.id.clone(),
            EventState::Created,
            EventDetail::of(&msg.spec),
        );
        self.partition(msg.id.partition())
            .log(tenant, event, retention, now_ms);
        self.join_waiting(tenant, &flow.key, msg.id.clone(), now_ms);
    }

    fn join_waiting(&mut self, tenant: &TenantId, key: &str, id: MessageId, now_ms: u64) {
        self.flow_entry(tenant, key).waiting.push_back(id);
        self.flow_dispatch(&(tenant.clone(), key.to_owned()), now_ms);
    }

    /// Admits waiting messages while the limits allow, each with its slot.
    fn flow_dispatch(&mut self, name: &FlowKeyName, now_ms: u64) {
        let Some(flow) = self.flows.get_mut(name) else {
            return;
        };
        let partition = flow.partition;
        let mut admitted = Vec::new();
        while !flow.waiting.is_empty() && flow.take(now_ms) {
            admitted.extend(flow.waiting.pop_front());
        }
        let slot = FlowSlot::of(&name.0, &name.1);
        let ready = &mut self.partition(partition).ready;
        for id in admitted {
            ready.append_entry((id, Some(slot.clone())), now_ms);
        }
    }

    /// Frees the slot an attempt held, and admits the next.
    pub(super) fn flow_release(&mut self, slot: &FlowSlot, now_ms: u64) {
        let Some(name) = slot.parts() else {
            return;
        };
        if let Some(flow) = self.flows.get_mut(&name) {
            flow.active = flow.active.saturating_sub(1);
        }
        self.flow_dispatch(&name, now_ms);
    }

    /// The names of the tenant's keys held in partition `p`.
    pub(super) fn flow_keys_in(&self, tenant: &TenantId, p: Partition) -> Vec<String> {
        self.flows
            .iter()
            .filter(|((t, _), f)| t == tenant && f.partition == p)
            .map(|((_, key), _)| key.clone())
            .collect()
    }

    pub(super) fn flow_waiting_ids(&self, tenant: &TenantId, key: &str) -> Vec<MessageId> {
        self.flows
            .get(&(tenant.clone(), key.to_owned()))
            .map(|f| f.waiting.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Takes a cancelled message off its key's waiting list.
    pub(super) fn leave_flow(&mut self, tenant: &TenantId, key: &str, id: &MessageId) {
        if let Some(flow) = self.flows.get_mut(&(tenant.clone(), key.to_owned())) {
            flow.waiting.retain(|w| w != id);
        }
    }

    pub(in crate::memory) fn flow_wait(
        &mut self,
        partition: Partition,
        consumer: &str,
        entry: &str,
        id: &MessageId,
        now: Instant,
        now_ms: u64,
    ) -> Recorded {
        match self.ack_owned(partition, entry, consumer, now) {
            super::Ack::Done => {}
            super::Ack::NotPending => return Recorded::Gone,
            super::Ack::HeldByOther => return Recorded::NotOwner,
        }
        let Some(record) = self.live(id, now_ms) else {
            return Recorded::Gone;
        };
        let tenant = record.tenant.clone();
        let Some(key) = record.spec.flow_control.as_ref().map(|f| f.key.clone()) else {
            return Recorded::Gone;
        };
        self.join_waiting(&tenant, &key, id.clone(), now_ms);
        Recorded::Done
    }

    pub(in crate::memory) fn discard_flow_slot(
        &mut self,
        partition: Partition,
        entry: &str,
        slot: &FlowSlot,
        now_ms: u64,
    ) {
        if self.partition(partition).ready.ack(entry) {
            self.flow_release(slot, now_ms);
        }
    }

    pub(in crate::memory) fn wake_flows(
        &mut self,
        partition: Partition,
        now_ms: u64,
        limit: usize,
    ) -> (usize, Option<u64>) {
        let blocked: Vec<(FlowKeyName, u64)> = self
            .flows
            .iter()
            .filter(|(_, f)| f.partition == partition)
            .filter_map(|(name, f)| Some((name.clone(), f.rate_blocked_until()?)))
            .collect();
        let mut woken = 0;
        for (name, _) in blocked.iter().filter(|(_, at)| *at <= now_ms).take(limit) {
            self.flow_dispatch(name, now_ms);
            woken += 1;
        }
        let next = self
            .flows
            .values()
            .filter(|f| f.partition == partition)
            .filter_map(FlowState::rate_blocked_until)
            .min();
        (woken, next)
    }

    pub(in crate::memory) fn flow(
        &self,
        tenant: &TenantId,
        key: &str,
        now_ms: u64,
    ) -> Option<FlowKey> {
        self.flows
            .get(&(tenant.clone(), key.to_owned()))
            .map(|f| f.shown(key, now_ms))
    }

    pub(in crate::memory) fn flows(&self, tenant: &TenantId, now_ms: u64) -> Vec<FlowKey> {
        let mut found: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|((_, key), f)| f.shown(key, now_ms))
            .collect();
        found.sort_by(|a, b| a.key.cmp(&b.key));
        found
    }

    pub(in crate::memory) fn change_flow(
        &mut self,
        tenant: &TenantId,
        key: &str,
        change: &FlowChange,
        now_ms: u64,
    ) -> bool {
        let name = (tenant.clone(), key.to_owned());
        if !self.flows.contains_key(&name) && !matches!(change, FlowChange::Pin { .. }) {
            return false;
        }
        let flow = self.flow_entry(tenant, key);
        match change {
            FlowChange::Pause => flow.paused = true,
            FlowChange::Resume => flow.paused = false,
            FlowChange::Pin {
                parallelism,
                rate,
                period_ms,
            } => {
                if let Some(p) = parallelism {
                    flow.parallelism = *p;
                    flow.pinned_parallelism = true;
                }
                if let Some(r) = rate {
                    flow.rate = *r;
                    flow.pinned_rate = true;
                }
                if let Some(period) = period_ms {
                    flow.period_ms = *period;
                    flow.pinned_rate = true;
                }
                flow.window_start = now_ms;
                flow.window_count = 0;
            }
            FlowChange::Unpin { parallelism, rate } => {
                flow.pinned_parallelism &= !parallelism;
                flow.pinned_rate &= !rate;
            }
            FlowChange::ResetRate => {
                flow.window_start = now_ms;
                flow.window_count = 0;
            }
        }
        self.flow_dispatch(&name, now_ms);
        true
    }
}

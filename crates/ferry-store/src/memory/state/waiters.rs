//! Waiters of workflow runs in memory: the twin of `lua/workflow_wait.lua`,
//! `workflow_resolve.lua`, `workflow_timeout.lua` and `workflow_event.lua`
//! (see [`crate::waiters`]). Each method is one transition under the
//! state's lock, as each script is one step in Redis.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use ferry_core::ids::TenantId;
use ferry_core::workflow::{CallType, raw_step};

use super::State;
use super::workflows::Admission;
use crate::waiters::{
    EventStored, MAX_LOOKBACK_EVENTS, NewWaiter, Resolution, Resolved, ResolvedBy, WaitOutcome,
    Waiter,
};
use crate::workflows::{RunPublish, RunState};
use crate::{PublishOutcome, StoredMessage};

type RunKey = (TenantId, String);

/// Every run's waiters and lookback events (the Redis `wfwait`, `wflook`
/// hashes; the index is a scan here).
#[derive(Debug, Default)]
pub(super) struct Waits {
    waiters: HashMap<RunKey, BTreeMap<String, Waiter>>,
    lookback: HashMap<RunKey, BTreeMap<String, Bytes>>,
}

fn key(tenant: &TenantId, run_id: &str) -> RunKey {
    (tenant.clone(), run_id.to_owned())
}

impl State {
    pub(in crate::memory) fn workflow_wait(&mut self, wait: &NewWaiter) -> WaitOutcome {
        let (waiter, msg) = (&wait.waiter, &wait.timeout);
        let run = key(&wait.tenant, &waiter.run_id);
        if !self.run_active(&run, msg.spec.created_at) {
            return WaitOutcome::Inactive;
        }
        if let Some(data) = self
            .waits
            .lookback
            .get(&run)
            .and_then(|l| l.get(&waiter.event_id))
        {
            return WaitOutcome::Lookback(data.clone());
        }
        if self
            .waits
            .waiters
            .get(&run)
            .is_some_and(|w| w.contains_key(&waiter.event_id))
        {
            return WaitOutcome::AlreadyWaiting;
        }
        if let Some(PublishOutcome::BacklogFull(bound)) = self.admission_refusal(msg, None) {
            return WaitOutcome::BacklogFull(bound);
        }
        self.waits
            .waiters
            .entry(run)
            .or_default()
            .insert(waiter.event_id.clone(), waiter.clone());
        self.create_published(msg);
        WaitOutcome::Waiting
    }

    pub(in crate::memory) fn workflow_resolve(
        &mut self,
        resolution: &Resolution,
        max_run_bytes: u64,
    ) -> Resolved {
        let msg = &resolution.message;
        let Some(workflow) = &msg.spec.workflow else {
            return Resolved::Inactive;
        };
        let key = key(&msg.spec.tenant, &workflow.run_id);
        if !self.run_active(&key, msg.spec.created_at) {
            return Resolved::Inactive;
        }
        let event = resolution.event_id.as_str();
        let present = match &resolution.by {
            ResolvedBy::Waiter(timeout) => self
                .waits
                .waiters
                .get(&key)
                .and_then(|w| w.get(event))
                .is_some_and(|w| &w.timeout_message == timeout),
            ResolvedBy::Lookback => self
                .waits
                .lookback
                .get(&key)
                .is_some_and(|l| l.contains_key(event)),
        };
        if !present {
            return Resolved::Gone;
        }
        // An answer by the waiter takes the place of its stored timeout
        // message, so a full backlog does not refuse it.
        let admission = match &resolution.by {
            ResolvedBy::Waiter(timeout) if self.messages.contains_key(timeout) => {
                Admission::Replacing
            }
            _ => Admission::Bounded,
        };
        match self.append_step(msg, None, None, max_run_bytes, admission) {
            RunPublish::Created => {}
            RunPublish::TooLarge => return Resolved::TooLarge,
            RunPublish::BacklogFull(bound) => return Resolved::BacklogFull(bound),
            RunPublish::Inactive | RunPublish::Deduplicated => return Resolved::Inactive,
        }
        match &resolution.by {
            ResolvedBy::Waiter(timeout) => {
                self.remove_waiter(&key, event);
                self.forget_cancelled(&key.0, timeout, msg.spec.created_at);
            }
            ResolvedBy::Lookback => {
                if let Some(l) = self.waits.lookback.get_mut(&key) {
                    l.remove(event);
                }
            }
        }
        Resolved::Resolved
    }

    pub(in crate::memory) fn workflow_store_event(
        &mut self,
        tenant: &TenantId,
        run_id: &str,
        event_id: &str,
        data: &Bytes,
        now_ms: u64,
    ) -> EventStored {
        let key = key(tenant, run_id);
        if !self.run_active(&key, now_ms) {
            return EventStored::Inactive;
        }
        if let Some(waiter) = self.waits.waiters.get(&key).and_then(|w| w.get(event_id)) {
            return EventStored::Waiting(waiter.clone());
        }
        let events = self.waits.lookback.entry(key).or_default();
        if !events.contains_key(event_id) && events.len() >= MAX_LOOKBACK_EVENTS {
            return EventStored::Full;
        }
        events.insert(event_id.to_owned(), data.clone());
        EventStored::Stored
    }

    pub(in crate::memory) fn workflow_waiters(
        &self,
        tenant: &TenantId,
        event_id: &str,
    ) -> Vec<Waiter> {
        self.waits
            .waiters
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .filter_map(|(_, waiters)| waiters.get(event_id).cloned())
            .collect()
    }

    /// Whether a claimed message may be delivered as far as waits go: a
    /// wait's timeout message joins its run's step list when its waiter is
    /// still there (the waiter goes), is delivered again when its step is
    /// there already, and is deleted otherwise.
    pub(super) fn fire_wait_timeout(&mut self, message: &StoredMessage, now_ms: u64) -> bool {
        let Some(workflow) = &message.spec.workflow else {
            return true;
        };
        let Some(event) = &workflow.wait_event else {
            return true;
        };
        let key = key(&message.spec.tenant, &workflow.run_id);
        let entry = raw_step(&message.id, &message.body, CallType::Step);
        let waits = self
            .waits
            .waiters
            .get(&key)
            .and_then(|w| w.get(event))
            .is_some_and(|w| w.timeout_message == message.id);
        if waits && self.run_active(&key, now_ms) {
            self.remove_waiter(&key, event);
            if let Some(run) = self.live_run(&key, now_ms) {
                run.push(entry);
            }
            return true;
        }
        if self
            .live_run(&key, now_ms)
            .is_some_and(|run| run.has(&entry))
        {
            return true;
        }
        self.forget_cancelled(&key.0, &message.id, now_ms);
        tracing::debug!(msg.id = %message.id, "wait timeout after its wait ended; skipping it");
        false
    }

    /// Forgets a run's waiters and lookback events (its end).
    pub(super) fn forget_waits(&mut self, tenant: &TenantId, run_id: &str) {
        let key = key(tenant, run_id);
        self.waits.waiters.remove(&key);
        self.waits.lookback.remove(&key);
    }

    fn remove_waiter(&mut self, key: &RunKey, event: &str) {
        if let Some(waiters) = self.waits.waiters.get_mut(key) {
            waiters.remove(event);
            if waiters.is_empty() {
                self.waits.waiters.remove(key);
            }
        }
    }

    fn run_active(&mut self, key: &RunKey, now_ms: u64) -> bool {
        self.live_run(key, now_ms)
            .is_some_and(|r| r.state() == RunState::Started)
    }
}

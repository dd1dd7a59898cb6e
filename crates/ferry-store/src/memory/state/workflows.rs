//! Workflow runs in memory: the twin of `lua/workflow_*.lua` (see
//! [`crate::workflows`]). Each method is one transition under the state's
//! lock, as each script is one step in Redis.

use std::collections::HashSet;

use bytes::Bytes;
use ferry_core::ids::{MessageId, TenantId};
use ferry_core::workflow::{RunConfig, raw_step, raw_step_message_id};

use super::State;
use crate::workflows::{
    NewRun, RUN_RETENTION, RunEnd, RunPublish, RunState, WorkflowRun, delivers_step_list,
    prepare_step_body,
};
use crate::{NewMessage, StoredMessage};

/// A stored run (the Redis run hash and its step list).
#[derive(Debug)]
pub(super) struct Run {
    url: String,
    pub(super) created_at: u64,
    state: RunState,
    completed_at: Option<u64>,
    response: Option<Bytes>,
    user_headers: Vec<(String, String)>,
    config: RunConfig,
    invoker: Option<String>,
    /// The told tokens of the invoked runs' results stored.
    told: HashSet<String>,
    steps: Vec<String>,
    /// Bytes of the step list.
    size: u64,
    /// Forgotten from here on (the retention after the run ended).
    expires_at: Option<u64>,
}

impl Run {
    fn new(run: &NewRun) -> Self {
        Self {
            url: run.url.clone(),
            created_at: run.created_at,
            state: RunState::Started,
            completed_at: None,
            response: None,
            user_headers: run.user_headers.clone(),
            config: run.config.clone(),
            invoker: run.invoker.clone(),
            told: HashSet::new(),
            steps: Vec::new(),
            size: 0,
            expires_at: None,
        }
    }
}

impl Run {
    pub(super) fn state(&self) -> RunState {
        self.state
    }

    /// Appends a raw step the caller checked may join the list.
    pub(super) fn push(&mut self, entry: String) {
        self.size += entry.len() as u64;
        self.steps.push(entry);
    }

    pub(super) fn has(&self, entry: &str) -> bool {
        self.steps.iter().any(|s| s == entry)
    }

    /// The run as the store shows it.
    pub(super) fn view(&self, tenant: &TenantId, run_id: &str) -> WorkflowRun {
        WorkflowRun {
            tenant: tenant.clone(),
            run_id: run_id.to_owned(),
            url: self.url.clone(),
            created_at: self.created_at,
            state: self.state,
            completed_at: self.completed_at,
            response: self.response.clone(),
            user_headers: self.user_headers.clone(),
            config: self.config.clone(),
            invoker: self.invoker.clone(),
            steps: self.steps.clone(),
        }
    }

    /// Whether the run is past its retention.
    pub(super) fn expired(&self, now_ms: u64) -> bool {
        self.expires_at.is_some_and(|at| at <= now_ms)
    }
}

fn key(tenant: &TenantId, run_id: &str) -> (TenantId, String) {
    (tenant.clone(), run_id.to_owned())
}

/// Whether a step is subject to the backlog bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    Bounded,
    /// The step takes the place of a counted message the same call removes.
    Replacing,
}

impl State {
    pub(in crate::memory) fn workflow_publish(
        &mut self,
        msg: &NewMessage,
        new_run: Option<&NewRun>,
        told: Option<&str>,
        max_run_bytes: u64,
    ) -> RunPublish {
        self.append_step(msg, new_run, told, max_run_bytes, Admission::Bounded)
    }

    /// Appends `msg` to its run and stores it (once per `told` token);
    /// `admission` says whether the backlog bounds apply (not to a message
    /// taking the place of one the same call removes).
    pub(super) fn append_step(
        &mut self,
        msg: &NewMessage,
        new_run: Option<&NewRun>,
        told: Option<&str>,
        max_run_bytes: u64,
        admission: Admission,
    ) -> RunPublish {
        let Some(workflow) = &msg.spec.workflow else {
            return RunPublish::Inactive;
        };
        let key = key(&msg.spec.tenant, &workflow.run_id);
        let now_ms = msg.spec.created_at;
        let run = self.live_run(&key, now_ms);
        if let Some(told) = told
            && run.as_ref().is_some_and(|r| r.told.contains(told))
        {
            return RunPublish::Deduplicated;
        }
        let active = run.is_some_and(|r| r.state == RunState::Started);
        match (new_run, active) {
            (Some(_), true) => return RunPublish::Deduplicated,
            (None, false) => return RunPublish::Inactive,
            _ => {}
        }
        let entry = raw_step(&msg.id, &msg.body, workflow.call_type);
        let size = match new_run {
            Some(_) => 0,
            None => self.workflows.get(&key).map_or(0, |r| r.size),
        } + entry.len() as u64;
        if size > max_run_bytes {
            return RunPublish::TooLarge;
        }
        if admission == Admission::Bounded
            && let Some(refused) = self.admission_refusal(msg, None)
        {
            return match refused {
                crate::PublishOutcome::BacklogFull(bound) => RunPublish::BacklogFull(bound),
                // Without a deduplication key nothing else refuses.
                _ => RunPublish::Inactive,
            };
        }
        let run = match new_run {
            Some(new_run) => self
                .workflows
                .entry(key)
                .insert_entry(Run::new(new_run))
                .into_mut(),
            None => match self.workflows.get_mut(&key) {
                Some(run) => run,
                None => return RunPublish::Inactive,
            },
        };
        run.steps.push(entry);
        run.size = size;
        run.told.extend(told.map(str::to_owned));
        self.create_published(msg);
        RunPublish::Created
    }

    pub(in crate::memory) fn workflow_run(
        &mut self,
        tenant: &TenantId,
        run_id: &str,
        now_ms: u64,
    ) -> Option<WorkflowRun> {
        let run = self.live_run(&key(tenant, run_id), now_ms)?;
        Some(run.view(tenant, run_id))
    }

    pub(in crate::memory) fn end_workflow(
        &mut self,
        tenant: &TenantId,
        run_id: &str,
        generation: Option<u64>,
        end: &RunEnd,
        now_ms: u64,
    ) -> Option<RunState> {
        let run = self
            .live_run(&key(tenant, run_id), now_ms)
            .filter(|r| generation.is_none_or(|created| r.created_at == created))?;
        let before = run.state;
        if before != RunState::Started {
            return Some(before);
        }
        run.state = end.state();
        run.completed_at = Some(now_ms);
        run.response = Some(Bytes::copy_from_slice(end.response()));
        run.expires_at = Some(now_ms.saturating_add(super::millis(RUN_RETENTION)));
        if *end == RunEnd::Canceled {
            let ids: Vec<MessageId> = run
                .steps
                .iter()
                .filter_map(|s| raw_step_message_id(s))
                .filter_map(|id| MessageId::parse(&id).ok())
                .collect();
            for id in ids {
                self.cancel(tenant, &id, now_ms);
            }
        }
        self.forget_waits(tenant, run_id);
        Some(before)
    }

    /// `message` with its step-list body when it is a step message; `None`
    /// when its entry is no longer in its run's list.
    pub(super) fn with_step_body(
        &mut self,
        mut message: StoredMessage,
        now_ms: u64,
    ) -> Option<StoredMessage> {
        if !self.fire_wait_timeout(&message, now_ms) {
            return None;
        }
        let Some(run_id) = delivers_step_list(&message) else {
            return Some(message);
        };
        let key = key(&message.spec.tenant, run_id);
        let steps = self
            .live_run(&key, now_ms)
            .map(|r| r.steps.clone())
            .unwrap_or_default();
        if prepare_step_body(&mut message, &steps) {
            Some(message)
        } else {
            tracing::warn!(msg.id = %message.id, "workflow step no longer in its run; skipping it");
            None
        }
    }

    /// The run unless it is absent or past its retention, which is
    /// forgotten here (expiry is lazy, as for dead letters).
    pub(super) fn live_run(&mut self, key: &(TenantId, String), now_ms: u64) -> Option<&mut Run> {
        if self.workflows.get(key).is_some_and(|r| r.expired(now_ms)) {
            self.workflows.remove(key);
        }
        self.workflows.get_mut(key)
    }
}

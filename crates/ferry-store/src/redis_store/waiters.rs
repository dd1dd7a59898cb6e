//! Waiters of workflow runs on Redis (see [`crate::waiters`]): one script
//! per transition, all keys in the run's partition.

use bytes::Bytes;
use ferry_core::ids::{Partition, TenantId};
use ferry_core::workflow::{CallType, raw_step};

use super::RedisStore;
use crate::events::EventDetail;
use crate::waiters::{
    EventStored, MAX_LOOKBACK_EVENTS, NewWaiter, Resolution, Resolved, ResolvedBy, WaitOutcome,
    Waiter,
};
use crate::workflows::run_partition;
use crate::{BacklogBound, Claimed, Error, NewMessage, Result, scripts};

impl RedisStore {
    pub(super) async fn wait_workflow(&self, wait: &NewWaiter) -> Result<WaitOutcome> {
        let (tenant, waiter, msg) = (&wait.tenant, &wait.waiter, &wait.timeout);
        let p = run_partition(tenant, &waiter.run_id, self.cfg.partitions);
        let mut invocation = scripts::WORKFLOW_WAIT.prepare_invoke();
        invocation
            .key(self.keys.workflow_run(p, tenant, &waiter.run_id))
            .key(self.keys.workflow_waiters(p, tenant, &waiter.run_id))
            .key(self.keys.workflow_waiting(p, tenant))
            .key(self.keys.workflow_lookback(p, tenant, &waiter.run_id))
            .key(self.keys.msg(&msg.id))
            .key(self.keys.ready(p))
            .key(self.keys.delayed(p))
            .key(self.keys.events(p, tenant))
            .key(self.keys.backlog(p))
            .arg(&waiter.event_id)
            .arg(Waiter::index_member(&waiter.event_id, &waiter.run_id))
            .arg(waiter.value());
        self.new_message_args(&mut invocation, msg)?;
        invocation
            .arg(self.cfg.max_backlog_per_partition)
            .arg(self.cfg.max_tenant_backlog_per_partition);
        let reply: Vec<Vec<u8>> = invocation.invoke_async(&mut self.publishing_conn()).await?;
        match reply_tag(&reply) {
            "ok" => Ok(WaitOutcome::Waiting),
            "waiting" => Ok(WaitOutcome::AlreadyWaiting),
            "inactive" => Ok(WaitOutcome::Inactive),
            "lookback" => Ok(WaitOutcome::Lookback(Bytes::from(
                reply.get(1).cloned().unwrap_or_default(),
            ))),
            "full" => Ok(WaitOutcome::BacklogFull(bound(&reply))),
            _ => Err(self.unexpected(&msg.id, "wait", &reply)),
        }
    }

    pub(super) async fn resolve_workflow_wait(
        &self,
        resolution: &Resolution,
        max_run_bytes: u64,
    ) -> Result<Resolved> {
        let msg = &resolution.message;
        let tenant = &msg.spec.tenant;
        let run_id = run_of(self, msg)?;
        let p = msg.id.partition();
        let timeout = match &resolution.by {
            ResolvedBy::Waiter(id) => Some(id),
            ResolvedBy::Lookback => None,
        };
        let entry = raw_step(&msg.id, &msg.body, CallType::Step);
        let mut invocation = scripts::WORKFLOW_RESOLVE.prepare_invoke();
        invocation
            .key(self.keys.workflow_run(p, tenant, run_id))
            .key(self.keys.workflow_steps(p, tenant, run_id))
            .key(self.keys.workflow_waiters(p, tenant, run_id))
            .key(self.keys.workflow_waiting(p, tenant))
            .key(self.keys.workflow_lookback(p, tenant, run_id))
            .key(self.keys.msg(&msg.id))
            .key(self.keys.ready(p))
            .key(self.keys.delayed(p))
            .key(self.keys.events(p, tenant))
            .key(self.keys.backlog(p))
            .key(self.keys.msg(timeout.unwrap_or(&msg.id)))
            .arg(&resolution.event_id)
            .arg(Waiter::index_member(&resolution.event_id, run_id))
            .arg(timeout.map_or("", |id| id.as_str()));
        self.new_message_args(&mut invocation, msg)?;
        invocation
            .arg(entry)
            .arg(max_run_bytes)
            .arg(self.cfg.max_backlog_per_partition)
            .arg(self.cfg.max_tenant_backlog_per_partition);
        let reply: Vec<Vec<u8>> = invocation.invoke_async(&mut self.publishing_conn()).await?;
        match reply_tag(&reply) {
            "ok" => Ok(Resolved::Resolved),
            "gone" => Ok(Resolved::Gone),
            "inactive" => Ok(Resolved::Inactive),
            "large" => Ok(Resolved::TooLarge),
            "full" => Ok(Resolved::BacklogFull(bound(&reply))),
            _ => Err(self.unexpected(&msg.id, "resolve", &reply)),
        }
    }

    pub(super) async fn store_workflow_event(
        &self,
        tenant: &TenantId,
        run_id: &str,
        event_id: &str,
        data: &Bytes,
    ) -> Result<EventStored> {
        let p = run_partition(tenant, run_id, self.cfg.partitions);
        let mut invocation = scripts::WORKFLOW_EVENT.prepare_invoke();
        invocation
            .key(self.keys.workflow_run(p, tenant, run_id))
            .key(self.keys.workflow_waiters(p, tenant, run_id))
            .key(self.keys.workflow_lookback(p, tenant, run_id))
            .arg(event_id)
            .arg(data.as_ref())
            .arg(MAX_LOOKBACK_EVENTS);
        let reply: Vec<Vec<u8>> = invocation.invoke_async(&mut self.publishing_conn()).await?;
        let corrupt = || Error::Corrupt {
            key: self.keys.workflow_waiters(p, tenant, run_id),
            reason: format!("unexpected event reply {reply:?}"),
        };
        match reply_tag(&reply) {
            "stored" => Ok(EventStored::Stored),
            "inactive" => Ok(EventStored::Inactive),
            "full" => Ok(EventStored::Full),
            "waiting" => {
                let value = reply
                    .get(1)
                    .map(|v| String::from_utf8_lossy(v).into_owned());
                value
                    .and_then(|v| Waiter::parse(run_id, event_id, &v))
                    .map(EventStored::Waiting)
                    .ok_or_else(corrupt)
            }
            _ => Err(corrupt()),
        }
    }

    pub(super) async fn load_workflow_waiters(
        &self,
        tenant: &TenantId,
        event_id: &str,
    ) -> Result<Vec<Waiter>> {
        // Members are `<event id>\n<run id>`; '\n' + 1 bounds the range.
        let (min, max) = (format!("[{event_id}\n"), format!("({event_id}\u{b}"));
        let mut pipe = redis::pipe();
        for p in 0..self.cfg.partitions {
            pipe.zrangebylex(self.keys.workflow_waiting(Partition(p), tenant), &min, &max);
        }
        let members: Vec<Vec<String>> = pipe.query_async(&mut self.conn()).await?;
        let runs: Vec<(Partition, String)> = members
            .into_iter()
            .enumerate()
            .flat_map(|(p, runs)| {
                let p = Partition(u16::try_from(p).unwrap_or(u16::MAX));
                runs.into_iter().filter_map(move |member| {
                    let (_, run) = member.split_once('\n')?;
                    Some((p, run.to_owned()))
                })
            })
            .collect();
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (p, run) in &runs {
            pipe.hget(self.keys.workflow_waiters(*p, tenant, run), event_id);
        }
        let values: Vec<Option<String>> = pipe.query_async(&mut self.conn()).await?;
        Ok(runs
            .iter()
            .zip(values)
            .filter_map(|((_, run), value)| Waiter::parse(run, event_id, &value?))
            .collect())
    }

    /// Gives claimed wait timeouts their place in the step list, or drops
    /// them when their waiter is gone (see [`crate::waiters`]); runs before
    /// the step-list bodies are read.
    pub(super) async fn fire_wait_timeouts(&self, claimed: &mut [Claimed]) -> Result<()> {
        for claim in claimed.iter_mut() {
            let Some(message) = &claim.message else {
                continue;
            };
            let Some(workflow) = &message.spec.workflow else {
                continue;
            };
            let Some(event_id) = &workflow.wait_event else {
                continue;
            };
            let (tenant, run_id, p) = (
                &message.spec.tenant,
                &workflow.run_id,
                claim.message_id.partition(),
            );
            let mut invocation = scripts::WORKFLOW_TIMEOUT.prepare_invoke();
            invocation
                .key(self.keys.workflow_run(p, tenant, run_id))
                .key(self.keys.workflow_steps(p, tenant, run_id))
                .key(self.keys.workflow_waiters(p, tenant, run_id))
                .key(self.keys.workflow_waiting(p, tenant))
                .key(self.keys.msg(&claim.message_id))
                .key(self.keys.events(p, tenant))
                .key(self.keys.backlog(p))
                .arg(event_id)
                .arg(Waiter::index_member(event_id, run_id))
                .arg(claim.message_id.as_str())
                .arg(raw_step(&claim.message_id, &message.body, CallType::Step))
                .arg(self.events_retention());
            let reply: Vec<Vec<u8>> = invocation.invoke_async(&mut self.conn()).await?;
            if reply_tag(&reply) != "ok" {
                tracing::debug!(msg.id = %claim.message_id, "wait timeout after its wait ended; skipping it");
                claim.message = None;
            }
        }
        Ok(())
    }

    /// The arguments both scripts create a message from (ARGV 4 to 11):
    /// id, tenant, spec, body, due, now, events retention, event detail.
    fn new_message_args(
        &self,
        invocation: &mut redis::ScriptInvocation<'_>,
        msg: &NewMessage,
    ) -> Result<()> {
        invocation
            .arg(msg.id.as_str())
            .arg(msg.spec.tenant.as_str())
            .arg(self.message_args(msg)?)
            .arg(msg.body.as_ref())
            .arg(msg.spec.not_before)
            .arg(msg.spec.created_at)
            .arg(self.events_retention())
            .arg(EventDetail::of(&msg.spec).to_json());
        Ok(())
    }

    fn unexpected(&self, id: &ferry_core::ids::MessageId, what: &str, reply: &[Vec<u8>]) -> Error {
        Error::Corrupt {
            key: self.keys.msg(id),
            reason: format!(
                "unexpected workflow {what} reply {:?}",
                reply
                    .iter()
                    .map(|r| String::from_utf8_lossy(r))
                    .collect::<Vec<_>>()
            ),
        }
    }
}

/// The run a resolution's message belongs to.
fn run_of<'a>(store: &RedisStore, msg: &'a NewMessage) -> Result<&'a str> {
    msg.spec
        .workflow
        .as_ref()
        .map(|w| w.run_id.as_str())
        .ok_or_else(|| Error::Corrupt {
            key: store.keys.msg(&msg.id),
            reason: "wait resolution without a run".into(),
        })
}

fn reply_tag(reply: &[Vec<u8>]) -> &str {
    reply
        .first()
        .and_then(|tag| std::str::from_utf8(tag).ok())
        .unwrap_or("")
}

fn bound(reply: &[Vec<u8>]) -> BacklogBound {
    if reply.get(1).map(Vec::as_slice) == Some(b"tenant") {
        BacklogBound::Tenant
    } else {
        BacklogBound::Total
    }
}

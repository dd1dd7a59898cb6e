//! Workflow runs on Redis (see [`crate::workflows`]): one script per
//! transition, all keys in the run's partition.

use bytes::Bytes;
use ferry_core::ids::{MessageId, TenantId};
use ferry_core::workflow::raw_step_message_id;

use super::RedisStore;
use crate::events::EventDetail;
use crate::record::RawHash;
use crate::run_index::index_member;
use crate::workflows::{
    NewRun, RUN_RETENTION, RunEnd, RunPublish, RunState, WorkflowRun, delivers_step_list,
    prepare_step_body, run_partition,
};
use crate::{Claimed, Error, NewMessage, Result, scripts};

impl RedisStore {
    pub(super) async fn publish_workflow(
        &self,
        msg: &NewMessage,
        run: Option<&NewRun>,
        told: Option<&str>,
        max_run_bytes: u64,
    ) -> Result<RunPublish> {
        let tenant = &msg.spec.tenant;
        let workflow = msg.spec.workflow.as_ref().ok_or_else(|| Error::Corrupt {
            key: self.keys.msg(&msg.id),
            reason: "workflow publish of a message without a run".into(),
        })?;
        let p = msg.id.partition();
        debug_assert_eq!(
            p,
            run_partition(tenant, &workflow.run_id, self.cfg.partitions)
        );
        let entry = ferry_core::workflow::raw_step(&msg.id, &msg.body, workflow.call_type);
        let key = self.keys.msg(&msg.id);
        let (url, created, headers, config, invoker) = match run {
            Some(run) => (
                run.url.as_str(),
                run.created_at,
                json(&run.user_headers, &key)?,
                json(&run.config, &key)?,
                run.invoker.clone().unwrap_or_default(),
            ),
            None => ("", 0, String::new(), String::new(), String::new()),
        };
        let mut invocation = scripts::WORKFLOW_PUBLISH.prepare_invoke();
        invocation
            .key(self.keys.workflow_run(p, tenant, &workflow.run_id))
            .key(self.keys.workflow_steps(p, tenant, &workflow.run_id))
            .key(self.keys.msg(&msg.id))
            .key(self.keys.ready(p))
            .key(self.keys.delayed(p))
            .key(self.keys.events(p, tenant))
            .key(self.keys.backlog(p))
            .key(self.keys.workflow_index(p, tenant))
            .arg(msg.id.as_str())
            .arg(tenant.as_str())
            .arg(self.message_args(msg)?)
            .arg(msg.body.as_ref())
            .arg(msg.spec.not_before)
            .arg(msg.spec.created_at)
            .arg(self.cfg.max_backlog_per_partition)
            .arg(self.events_retention())
            .arg(EventDetail::of(&msg.spec).to_json())
            .arg(entry)
            .arg(max_run_bytes)
            .arg(if run.is_some() { "1" } else { "0" })
            .arg(url)
            .arg(created)
            .arg(headers)
            .arg(config)
            .arg(invoker)
            .arg(self.cfg.max_tenant_backlog_per_partition)
            .arg(index_member(created, &workflow.run_id))
            .arg(told.unwrap_or_default());
        let reply: Vec<String> = invocation.invoke_async(&mut self.publishing_conn()).await?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(RunPublish::Created),
            Some("dup") => Ok(RunPublish::Deduplicated),
            Some("inactive") => Ok(RunPublish::Inactive),
            Some("large") => Ok(RunPublish::TooLarge),
            Some("full") => Ok(RunPublish::BacklogFull(
                if reply.get(1).map(String::as_str) == Some("tenant") {
                    crate::BacklogBound::Tenant
                } else {
                    crate::BacklogBound::Total
                },
            )),
            _ => Err(Error::Corrupt {
                key: self.keys.msg(&msg.id),
                reason: format!("unexpected workflow publish reply {reply:?}"),
            }),
        }
    }

    pub(super) async fn load_workflow_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
    ) -> Result<Option<WorkflowRun>> {
        let p = run_partition(tenant, run_id, self.cfg.partitions);
        let key = self.keys.workflow_run(p, tenant, run_id);
        let (mut raw, steps): (RawHash, Vec<String>) = redis::pipe()
            .hgetall(&key)
            .lrange(self.keys.workflow_steps(p, tenant, run_id), 0, -1)
            .query_async(&mut self.conn())
            .await?;
        if raw.is_empty() {
            return Ok(None);
        }
        let corrupt = |reason: String| Error::Corrupt {
            key: key.clone(),
            reason,
        };
        let mut text = |field: &str| {
            String::from_utf8(raw.remove(field).unwrap_or_default())
                .map_err(|_| corrupt(format!("{field} is not UTF-8")))
        };
        let state = text("state")?;
        let url = text("url")?;
        let created = text("created")?;
        let completed = text("completed")?;
        let headers = text("headers")?;
        let config = text("config")?;
        let invoker = text("invoker")?;
        let response = raw.remove("response");
        Ok(Some(WorkflowRun {
            tenant: tenant.clone(),
            run_id: run_id.to_owned(),
            url,
            created_at: created.parse().unwrap_or(0),
            state: RunState::parse(&state).ok_or_else(|| corrupt(format!("state {state:?}")))?,
            completed_at: completed.parse().ok(),
            response: response.map(Bytes::from),
            user_headers: serde_json::from_str(&headers)
                .map_err(|e| corrupt(format!("headers: {e}")))?,
            config: serde_json::from_str(&config).map_err(|e| corrupt(format!("config: {e}")))?,
            invoker: Some(invoker).filter(|i| !i.is_empty()),
            steps,
        }))
    }

    pub(super) async fn end_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        generation: Option<u64>,
        end: &RunEnd,
        now_ms: u64,
    ) -> Result<Option<RunState>> {
        let generation = generation.map(|g| g.to_string()).unwrap_or_default();
        let p = run_partition(tenant, run_id, self.cfg.partitions);
        loop {
            // Cancel names the hashes of the run's messages; the script
            // refuses if the list grew since it was read.
            let steps: Vec<String> = match end {
                RunEnd::Canceled => {
                    redis::cmd("LRANGE")
                        .arg(self.keys.workflow_steps(p, tenant, run_id))
                        .arg(0)
                        .arg(-1)
                        .query_async(&mut self.conn())
                        .await?
                }
                _ => Vec::new(),
            };
            let ids: Vec<MessageId> = steps
                .iter()
                .filter_map(|s| raw_step_message_id(s))
                .filter_map(|id| MessageId::parse(&id).ok())
                .filter(|id| id.partition() == p)
                .collect();
            let mut invocation = scripts::WORKFLOW_END.prepare_invoke();
            invocation
                .key(self.keys.workflow_run(p, tenant, run_id))
                .key(self.keys.workflow_steps(p, tenant, run_id))
                .key(self.keys.delayed(p))
                .key(self.keys.events(p, tenant))
                .key(self.keys.backlog(p))
                .key(self.keys.workflow_waiters(p, tenant, run_id))
                .key(self.keys.workflow_waiting(p, tenant))
                .key(self.keys.workflow_lookback(p, tenant, run_id))
                .arg(end.state().as_str())
                .arg(now_ms)
                .arg(end.response())
                .arg(Self::millis(RUN_RETENTION))
                .arg(self.events_retention())
                .arg(steps.len())
                .arg(run_id)
                .arg(&generation);
            for id in &ids {
                invocation.key(self.keys.msg(id)).arg(id.as_str());
            }
            let reply: Vec<String> = invocation.invoke_async(&mut self.conn()).await?;
            return match reply.first().map(String::as_str) {
                Some("none") => Ok(None),
                Some("moved") => continue,
                Some(state) => RunState::parse(state)
                    .map(Some)
                    .ok_or_else(|| Error::Corrupt {
                        key: self.keys.workflow_run(p, tenant, run_id),
                        reason: format!("state {state:?}"),
                    }),
                None => Err(Error::Corrupt {
                    key: self.keys.workflow_run(p, tenant, run_id),
                    reason: "empty reply".into(),
                }),
            };
        }
    }

    /// Gives claimed step messages their step-list bodies (see the
    /// `workflows` module); one pipelined read for all of them.
    pub(super) async fn prepare_workflow_bodies(&self, claimed: &mut [Claimed]) -> Result<()> {
        let runs: Vec<(usize, String)> = claimed
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let message = c.message.as_ref()?;
                let run_id = delivers_step_list(message)?;
                Some((
                    i,
                    self.keys.workflow_steps(
                        c.message_id.partition(),
                        &message.spec.tenant,
                        run_id,
                    ),
                ))
            })
            .collect();
        if runs.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (_, key) in &runs {
            pipe.lrange(key, 0, -1);
        }
        let lists: Vec<Vec<String>> = pipe.query_async(&mut self.conn()).await?;
        for ((i, _), steps) in runs.into_iter().zip(lists) {
            let claim = &mut claimed[i];
            let found = claim
                .message
                .as_mut()
                .is_some_and(|m| prepare_step_body(m, &steps));
            if !found {
                tracing::warn!(msg.id = %claim.message_id, "workflow step no longer in its run; skipping it");
                claim.message = None;
            }
        }
        Ok(())
    }
}

/// A run field as JSON, with an error naming the key.
fn json<T: serde::Serialize>(value: &T, key: &str) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt {
        key: key.to_owned(),
        reason: format!("cannot encode run: {e}"),
    })
}

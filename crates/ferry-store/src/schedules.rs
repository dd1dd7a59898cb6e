//! Schedules: a cron pattern plus everything needed to build the message
//! each of its ticks publishes.
//!
//! A schedule lives in one partition, so a tick can create its message in
//! the same atomic step that moves the schedule to its next due time. The
//! partition is chosen from its tenant and id, except that a schedule whose
//! messages go to a queue, or carry a flow-control key, lives where that
//! queue or key lives, because their messages must be created there.

use bytes::Bytes;
use ferry_core::flow::FlowControl;
use ferry_core::ids::{MessageId, Partition, TenantId};
use ferry_core::message::{CallbackSpec, MessageSpec, Redact, TopicRef};
use ferry_core::retry::RetryDelayExpr;
use serde::{Deserialize, Serialize};

use crate::placement::spread;
use crate::{NewMessage, UrlGroup};

/// How many of a schedule's latest message ids are remembered.
pub const LAST_IDS_KEPT: usize = 5;

/// What a schedule publishes on every tick, as created through the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleDef {
    pub id: String,
    pub tenant: TenantId,
    /// The pattern as given (see [`ferry_core::cron::CronSchedule`]).
    pub cron: String,
    /// Unix ms.
    pub created_at: u64,
    pub url: String,
    pub method: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    pub retries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<RetryDelayExpr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_callback: Option<CallbackSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_ip: Option<String>,
    /// Delay of each produced message after its tick.
    #[serde(default)]
    pub delay_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redact: Option<Redact>,
    /// Hash of the body, computed once for every produced message.
    pub body_hash: String,
    /// The URL group each tick fans out to (one message per endpoint at the
    /// time of the tick); `url` then holds its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_group: Option<String>,
    /// The queue each produced message is enqueued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The flow-control key and limits of each produced message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_control: Option<FlowControl>,
}

impl ScheduleDef {
    /// The message of the tick due at `tick_ms`, made at `now_ms`. Its
    /// creation time is the tick's, so each tick names exactly one message
    /// (`createdAt` in the API), however late it fired.
    pub fn message_spec(&self, tick_ms: u64, now_ms: u64) -> MessageSpec {
        MessageSpec {
            tenant: self.tenant.clone(),
            url: self.url.clone(),
            method: self.method.clone(),
            headers: self.headers.clone(),
            retries: self.retries,
            retry_delay: self.retry_delay.clone(),
            timeout_ms: self.timeout_ms,
            callback: self.callback.clone(),
            failure_callback: self.failure_callback.clone(),
            labels: self.labels.clone(),
            caller_ip: self.caller_ip.clone(),
            dedup_id: None,
            created_at: tick_ms,
            not_before: now_ms.saturating_add(self.delay_ms),
            body_hash: self.body_hash.clone(),
            source_message_id: None,
            topic: None,
            redact: self.redact.clone(),
            schedule_id: Some(self.id.clone()),
            queue: self.queue.clone(),
            flow_control: self.flow_control.clone(),
            workflow: None,
        }
    }

    /// The messages of the tick due at `tick_ms`, made at `now_ms`: one, or
    /// one per endpoint of `group` for a schedule to a URL group (none when
    /// the group is gone). Each is created in `partition`.
    pub fn tick_messages(
        &self,
        tick_ms: u64,
        now_ms: u64,
        group: Option<&UrlGroup>,
        partition: Partition,
    ) -> Vec<NewMessage> {
        let template = self.message_spec(tick_ms, now_ms);
        let specs = match (&self.url_group, group) {
            (None, _) => vec![template],
            (Some(_), None) => Vec::new(),
            (Some(name), Some(group)) => group
                .endpoints
                .iter()
                .map(|endpoint| MessageSpec {
                    url: endpoint.url.clone(),
                    topic: Some(TopicRef {
                        name: name.clone(),
                        endpoint: endpoint.name.clone(),
                    }),
                    ..template.clone()
                })
                .collect(),
        };
        specs
            .into_iter()
            .map(|spec| NewMessage {
                id: MessageId::generate(partition),
                spec,
                body: Bytes::new(),
            })
            .collect()
    }

    /// The due-set member naming this schedule: `<tenant>:<id>`.
    pub fn member(&self) -> String {
        member(&self.tenant, &self.id)
    }
}

pub(crate) fn member(tenant: &TenantId, id: &str) -> String {
    format!("{tenant}:{id}")
}

/// A stored schedule with its state.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub def: ScheduleDef,
    pub body: Bytes,
    pub paused: bool,
    /// When the next tick is due; `None` while paused.
    pub next_due: Option<u64>,
    /// When the last tick fired.
    pub last_time: Option<u64>,
    /// Ids of the latest messages produced, oldest first.
    pub last_ids: Vec<MessageId>,
}

/// Decodes the schedule hash (as `HGETALL` returns it; empty when the key
/// does not exist) and its due score.
pub(crate) fn decode(
    key: &str,
    mut raw: crate::record::RawHash,
    next_due: Option<u64>,
) -> crate::Result<Option<Schedule>> {
    let Some(def) = raw.remove("def") else {
        return Ok(None);
    };
    let corrupt = |reason: String| crate::Error::Corrupt {
        key: key.to_owned(),
        reason,
    };
    let def: ScheduleDef =
        serde_json::from_slice(&def).map_err(|e| corrupt(format!("def: {e}")))?;
    let text = |field: &str| {
        raw.get(field)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_owned)
    };
    let paused = text("paused").as_deref() == Some("1");
    let last_time = text("last_time").and_then(|t| t.parse().ok());
    let last_ids = match text("last_ids") {
        Some(json) => serde_json::from_str(&json).map_err(|e| corrupt(format!("last_ids: {e}")))?,
        None => Vec::new(),
    };
    Ok(Some(Schedule {
        def,
        body: Bytes::from(raw.remove("body").unwrap_or_default()),
        paused,
        next_due: next_due.filter(|_| !paused),
        last_time,
        last_ids,
    }))
}

/// A schedule whose tick is due, as the deliverer's scheduler reads it.
#[derive(Debug, Clone)]
pub struct DueSchedule {
    /// `<tenant>:<id>`, passed back to `fire_schedule`.
    pub member: String,
    pub due_ms: u64,
    pub def: ScheduleDef,
}

/// The partition a new schedule is placed in: a stable hash of its tenant
/// and id, so every process picks the same one.
pub fn schedule_partition(tenant: &TenantId, id: &str, partitions: u16) -> Partition {
    spread(&member(tenant, id), partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_is_stable_and_in_range() {
        let tenant = TenantId::new("acme").unwrap();
        let p = schedule_partition(&tenant, "nightly", 8);
        assert_eq!(p, schedule_partition(&tenant, "nightly", 8));
        assert!(p.0 < 8);
        assert_eq!(schedule_partition(&tenant, "nightly", 1), Partition(0));
        let spread: std::collections::HashSet<_> = (0..64)
            .map(|i| schedule_partition(&tenant, &format!("s{i}"), 8))
            .collect();
        assert!(spread.len() > 4, "{spread:?}");
    }
}

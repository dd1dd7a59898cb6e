//! The flow-control steps of the Redis backend (see [`crate::flows`]). Each
//! transition is one script in the key's partition; the tenant's index of
//! keys (key name = partition) lives in the tenant's slot and is written
//! before the key, as for queues.

use std::collections::HashMap;

use ferry_core::flow::FlowControl;
use ferry_core::ids::{Partition, TenantId};
use redis::AsyncCommands;

use super::RedisStore;
use crate::events::EventDetail;
use crate::flows::{FlowChange, FlowKey, FlowSlot};
use crate::keys::GROUP;
use crate::{NewMessage, PublishOutcome, Recorded, Result, StoredMessage, scripts};

impl RedisStore {
    /// The partition of the tenant's key `key`, from the index or, for a
    /// new key, the tenant's home.
    pub(super) async fn flow_partition_of(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Partition> {
        self.placed(&self.keys.flow_index(tenant), tenant, key)
            .await
    }

    /// Writes the index entry of a key that is about to be stored in `p`.
    pub(super) async fn index_flow(
        &self,
        tenant: &TenantId,
        key: &str,
        p: Partition,
    ) -> Result<()> {
        let _: i64 = self
            .conn()
            .hset(self.keys.flow_index(tenant), key, p.0)
            .await?;
        Ok(())
    }

    pub(super) async fn publish_flow_controlled(
        &self,
        msg: &NewMessage,
        flow: &FlowControl,
        dedup: Option<&str>,
    ) -> Result<PublishOutcome> {
        let p = msg.id.partition();
        let tenant = &msg.spec.tenant;
        self.index_flow(tenant, &flow.key, p).await?;
        let slot = FlowSlot::of(tenant, &flow.key);
        let mut invocation = scripts::FLOW_PUBLISH.prepare_invoke();
        invocation
            .key(self.keys.msg(&msg.id))
            .key(self.keys.ready(p))
            .key(self.keys.delayed(p))
            .key(self.keys.events(p, tenant))
            .key(self.keys.flow(p, &slot))
            .key(self.keys.flow_waiting(p, &slot))
            .key(self.keys.flow_wake(p))
            .key(self.keys.backlog(p));
        if let Some(dedup) = dedup {
            invocation.key(self.keys.dedup(p, tenant, dedup));
        }
        invocation
            .arg(msg.id.as_str())
            .arg(tenant.as_str())
            .arg(self.message_args(msg)?)
            .arg(msg.body.as_ref())
            .arg(msg.spec.not_before)
            .arg(msg.spec.created_at)
            .arg(self.cfg.max_backlog_per_partition)
            .arg(self.events_retention())
            .arg(Self::millis(self.cfg.dedup_window))
            .arg(EventDetail::of(&msg.spec).to_json())
            .arg(slot.as_str())
            .arg(flow.parallelism.unwrap_or(0))
            .arg(flow.rate.unwrap_or(0))
            .arg(flow.period_ms)
            .arg(self.cfg.max_tenant_backlog_per_partition);
        let reply: Vec<String> = invocation.invoke_async(&mut self.publishing_conn()).await?;
        self.publish_reply(msg, &reply)
    }

    pub(super) async fn wait_for_flow(
        &self,
        partition: Partition,
        consumer: &str,
        entry: &str,
        message: &StoredMessage,
        now_ms: u64,
    ) -> Result<Recorded> {
        let key = message.spec.flow_control.as_ref().map_or("", |f| &f.key);
        let slot = FlowSlot::of(&message.spec.tenant, key);
        let n: i64 = scripts::FLOW_WAIT
            .key(self.keys.ready(partition))
            .key(self.keys.msg(&message.id))
            .key(self.keys.flow(partition, &slot))
            .key(self.keys.flow_waiting(partition, &slot))
            .key(self.keys.flow_wake(partition))
            .key(self.keys.lease(partition, consumer))
            .arg(GROUP)
            .arg(entry)
            .arg(message.id.as_str())
            .arg(consumer)
            .arg(now_ms)
            .arg(slot.as_str())
            .invoke_async(&mut self.conn())
            .await?;
        Ok(match n {
            1 => Recorded::Done,
            -1 => Recorded::NotOwner,
            _ => Recorded::Gone,
        })
    }

    pub(super) async fn discard_flow_slot(
        &self,
        partition: Partition,
        entry: &str,
        slot: &FlowSlot,
        now_ms: u64,
    ) -> Result<()> {
        let _: i64 = scripts::FLOW_DISCARD
            .key(self.keys.ready(partition))
            .key(self.keys.flow(partition, slot))
            .key(self.keys.flow_waiting(partition, slot))
            .key(self.keys.flow_wake(partition))
            .arg(GROUP)
            .arg(entry)
            .arg(slot.as_str())
            .arg(now_ms)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }

    pub(super) async fn wake_due_flows(
        &self,
        partition: Partition,
        now_ms: u64,
        limit: usize,
    ) -> Result<(usize, Option<u64>)> {
        let wake = self.keys.flow_wake(partition);
        // One read gives the due keys and, past them, the next one to wake;
        // each woken key answers with its own next wake, if any.
        let head: Vec<(String, f64)> = self
            .conn()
            .zrange_withscores(&wake, 0, isize::try_from(limit).unwrap_or(isize::MAX))
            .await?;
        // Scores are whole milliseconds, exact in an f64.
        let (due, later): (Vec<_>, Vec<_>) = head
            .into_iter()
            .map(|(member, at)| (member, at as u64))
            .partition(|(_, at)| *at <= now_ms);
        let due = &due[..due.len().min(limit)];
        let mut next = later.first().map(|(_, at)| *at);
        for (member, _) in due {
            let slot = FlowSlot::from_entry(member.clone());
            let again: i64 = scripts::FLOW_WAKE
                .key(self.keys.flow(partition, &slot))
                .key(self.keys.flow_waiting(partition, &slot))
                .key(self.keys.ready(partition))
                .key(&wake)
                .arg(member)
                .arg(now_ms)
                .invoke_async(&mut self.conn())
                .await?;
            if let Ok(again) = u64::try_from(again) {
                next = Some(next.map_or(again, |n| n.min(again)));
            }
        }
        Ok((due.len(), next))
    }

    pub(super) async fn apply_flow_change(
        &self,
        tenant: &TenantId,
        key: &str,
        change: &FlowChange,
        now_ms: u64,
    ) -> Result<bool> {
        let p = self.flow_partition_of(tenant, key).await?;
        if matches!(change, FlowChange::Pin { .. }) {
            self.index_flow(tenant, key, p).await?;
        }
        let slot = FlowSlot::of(tenant, key);
        let mut invocation = scripts::FLOW_CHANGE.prepare_invoke();
        invocation
            .key(self.keys.flow(p, &slot))
            .key(self.keys.flow_waiting(p, &slot))
            .key(self.keys.ready(p))
            .key(self.keys.flow_wake(p));
        let set = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        let flag = |b: bool| if b { "1" } else { "0" };
        let (op, a, b, c) = match change {
            FlowChange::Pause => ("pause", String::new(), String::new(), String::new()),
            FlowChange::Resume => ("resume", String::new(), String::new(), String::new()),
            FlowChange::ResetRate => ("reset", String::new(), String::new(), String::new()),
            FlowChange::Pin {
                parallelism,
                rate,
                period_ms,
            } => (
                "pin",
                set(parallelism.map(u64::from)),
                set(rate.map(u64::from)),
                set(*period_ms),
            ),
            FlowChange::Unpin { parallelism, rate } => (
                "unpin",
                flag(*parallelism).to_owned(),
                flag(*rate).to_owned(),
                String::new(),
            ),
        };
        let exists: i64 = invocation
            .arg(op)
            .arg(slot.as_str())
            .arg(now_ms)
            .arg(a)
            .arg(b)
            .arg(c)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(exists == 1)
    }

    pub(super) async fn load_flow_key(
        &self,
        tenant: &TenantId,
        key: &str,
        now_ms: u64,
    ) -> Result<Option<FlowKey>> {
        let p: Option<u16> = self.conn().hget(self.keys.flow_index(tenant), key).await?;
        match p {
            Some(p) => self.load_flow_in(Partition(p), tenant, key, now_ms).await,
            None => Ok(None),
        }
    }

    pub(super) async fn load_flow_keys(
        &self,
        tenant: &TenantId,
        now_ms: u64,
    ) -> Result<Vec<FlowKey>> {
        let index: HashMap<String, u16> = self.conn().hgetall(self.keys.flow_index(tenant)).await?;
        let mut found = Vec::with_capacity(index.len());
        let mut expired = Vec::new();
        for (key, p) in index {
            match self
                .load_flow_in(Partition(p), tenant, &key, now_ms)
                .await?
            {
                Some(flow) => found.push(flow),
                None => expired.push(key),
            }
        }
        if !expired.is_empty() {
            // Keys expire when idle; their index entries go when next listed.
            // A key published again meanwhile is simply indexed again.
            let _: i64 = self
                .conn()
                .hdel(self.keys.flow_index(tenant), &expired)
                .await?;
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    async fn load_flow_in(
        &self,
        p: Partition,
        tenant: &TenantId,
        key: &str,
        now_ms: u64,
    ) -> Result<Option<FlowKey>> {
        let slot = FlowSlot::of(tenant, key);
        let (raw, waiting): (HashMap<String, u64>, u64) = redis::pipe()
            .hgetall(self.keys.flow(p, &slot))
            .llen(self.keys.flow_waiting(p, &slot))
            .query_async(&mut self.conn())
            .await?;
        if raw.is_empty() {
            return Ok(None);
        }
        let field = |f: &str| raw.get(f).copied().unwrap_or(0);
        let small = |f: &str| u32::try_from(field(f)).unwrap_or(u32::MAX);
        let period = raw.get("period").copied().unwrap_or(1_000);
        let window_open = now_ms < field("wstart").saturating_add(period);
        Ok(Some(FlowKey {
            key: key.to_owned(),
            waiting,
            parallelism_max: small("par"),
            parallelism_count: small("active"),
            rate_max: small("rate"),
            rate_count: if window_open { small("wcount") } else { 0 },
            rate_period_ms: period,
            rate_period_start_ms: field("wstart"),
            paused: field("paused") == 1,
            pinned_parallelism: field("pinp") == 1,
            pinned_rate: field("pinr") == 1,
        }))
    }
}

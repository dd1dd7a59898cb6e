//! The Redis backend of [`Store`], on a standalone server or a Redis
//! Cluster (see `connection`).
//!
//! One multiplexed, reconnecting connection carries every non-blocking
//! command; concurrent callers are pipelined on it automatically. Each
//! [`RedisReader`] owns a separate connection because `XREADGROUP … BLOCK`
//! holds its connection for the whole wait. redis-rs defaults to a 500 ms
//! response timeout, so both kinds of connection get an explicit one (a
//! blocking reader's exceeds its BLOCK time).
//!
//! Redis replicates asynchronously, so a primary that fails right after
//! answering a publish can take the message with it. With `wait_replicas`
//! set, a publish is followed by `WAIT <n> <timeout>` on the same node
//! connection, and is confirmed only once `n` replicas hold it.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use ferry_core::ids::{DlqId, MessageId, Partition, TenantId};
use ferry_core::signing::SigningKey;
use redis::streams::{StreamId, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, Value};

mod flows;
mod leases;
mod placement;
mod run_index;
mod waiters;
mod workflows;

use crate::dlq::{self, DlqEntry, DlqPage, DlqQuery};
use crate::events::{
    self, EventDetail, EventEntry, EventPage, EventQuery, EventState, LoggedEvent,
};
use crate::keys::{GROUP, Keys};
use crate::paging::{EntryPos, Order, Source, Start};
use crate::record::{RawHash, decode};
use crate::run_index::{RunPage, RunQuery};
use crate::schedules::{self, DueSchedule, Schedule, ScheduleDef, schedule_partition};
use crate::scripts;
use crate::waiters::{EventStored, NewWaiter, Resolution, Resolved, WaitOutcome, Waiter};
use crate::workflows::{NewRun, RunEnd, RunPublish, RunState, WorkflowRun};
use crate::{
    Backlog, BacklogBound, Claimed, DeliveredEntry, EndpointSelection, Error, FlowChange, FlowKey,
    FlowSlot, GroupEndpoint, KeyPair, KeyRotations, MessageFilter, NewMessage, Outcome,
    OutcomeRecord, PendingMessage, PublishOutcome, Queue, QueueSettings, Reader, Recorded, Result,
    Store, StoredMessage, UrlGroup,
};

mod backlog;
mod bulk_cancel;
mod connection;
mod partition_count;
mod replicated;
mod timed;

use connection::{Conn, Opener};
use replicated::Replicated;
use timed::{RedisMetrics, TimedConnection};

/// How a `RedisStore` is set up; every value comes from configuration.
#[derive(Clone)]
pub struct RedisConfig {
    pub url: String,
    /// Seed nodes of a Redis Cluster; when not empty, `url` is unused.
    pub cluster_nodes: Vec<String>,
    /// Replicas that must hold a publish before it is confirmed (`WAIT`);
    /// 0 confirms once the primary has it.
    pub wait_replicas: u32,
    /// How long a publish waits for those replicas before it fails.
    pub wait_timeout: Duration,
    /// Namespace of every key; tests use a unique one each.
    pub prefix: String,
    pub partitions: u16,
    /// Timeout of every non-blocking command.
    pub command_timeout: Duration,
    /// Bound on pending messages of all tenants per partition; 0 disables it.
    pub max_backlog_per_partition: u64,
    /// Bound on one tenant's pending messages per partition; 0 disables it.
    pub max_tenant_backlog_per_partition: u64,
    pub dedup_window: Duration,
    pub dlq_retention: Duration,
    /// Approximate length kept of each tenant's event log; 0 disables it.
    pub events_max_len: u64,
    /// Age beyond which lines of a tenant's event log are dropped, measured
    /// back from the newest line when one is written; zero keeps any age.
    pub events_max_age: Duration,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password, so it is left out.
        f.debug_struct("RedisConfig")
            .field("prefix", &self.prefix)
            .field("partitions", &self.partitions)
            .field("cluster_nodes", &self.cluster_nodes.len())
            .field("wait_replicas", &self.wait_replicas)
            .field("wait_timeout", &self.wait_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("max_backlog_per_partition", &self.max_backlog_per_partition)
            .field(
                "max_tenant_backlog_per_partition",
                &self.max_tenant_backlog_per_partition,
            )
            .field("dedup_window", &self.dedup_window)
            .field("dlq_retention", &self.dlq_retention)
            .field("events_max_len", &self.events_max_len)
            .field("events_max_age", &self.events_max_age)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct RedisStore {
    opener: Opener,
    conn: Conn,
    keys: Keys,
    cfg: RedisConfig,
    metrics: RedisMetrics,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("RedisStore")
            .field("prefix", &self.cfg.prefix)
            .field("partitions", &self.cfg.partitions)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects, refuses an evicting `maxmemory-policy`, and creates the
    /// consumer groups.
    pub async fn connect(cfg: RedisConfig) -> Result<Self> {
        let opener = Opener::new(&cfg.url, &cfg.cluster_nodes, cfg.command_timeout)?;
        let conn = opener.shared(cfg.command_timeout).await?;
        let keys = if opener.is_cluster() {
            Keys::balanced(&cfg.prefix)
        } else {
            Keys::new(&cfg.prefix)
        };
        let store = Self {
            opener,
            conn,
            keys,
            cfg,
            metrics: RedisMetrics::default(),
        };
        store.check_eviction_policy().await?;
        store.create_groups().await?;
        Ok(store)
    }

    async fn check_eviction_policy(&self) -> Result<()> {
        let reply: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async(&mut self.conn.clone())
            .await;
        match reply {
            Ok(pair) => match pair.get(1) {
                Some(policy) if policy.starts_with("allkeys-") => {
                    Err(Error::EvictingPolicy(policy.clone()))
                }
                _ => Ok(()),
            },
            // Managed Redis services often disable CONFIG; the policy is then
            // the operator's responsibility, as the deployment guide says.
            Err(e) => {
                tracing::warn!(error = %e, "cannot read redis maxmemory-policy; make sure it is noeviction");
                Ok(())
            }
        }
    }

    async fn create_groups(&self) -> Result<()> {
        for p in 0..self.cfg.partitions {
            let created: redis::RedisResult<()> = self
                .conn
                .clone()
                .xgroup_create_mkstream(self.keys.ready(Partition(p)), GROUP, "0")
                .await;
            match created {
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                other => other?,
            }
        }
        Ok(())
    }

    /// Adds the Redis command latency histograms to `registry`.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.metrics.register(registry);
    }

    fn conn(&self) -> TimedConnection {
        TimedConnection {
            inner: self.conn.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// The connection of a publish: its script is confirmed only once
    /// `wait_replicas` replicas hold the write (see `replicated`).
    fn publishing_conn(&self) -> Replicated {
        Replicated {
            inner: self.conn(),
            replicas: self.cfg.wait_replicas,
            timeout: self.cfg.wait_timeout,
        }
    }

    async fn load_messages(&self, ids: &[MessageId]) -> Result<Vec<Option<StoredMessage>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hgetall(self.keys.msg(id));
        }
        let raws: Vec<RawHash> = pipe.query_async(&mut self.conn()).await?;
        ids.iter()
            .zip(raws)
            .map(|(id, raw)| decode(&self.keys.msg(id), id.clone(), raw))
            .collect()
    }

    async fn claimed_from(&self, entries: Vec<StreamId>) -> Result<Vec<Claimed>> {
        let (positions, ids): (Vec<(String, Option<FlowSlot>)>, Vec<MessageId>) = entries
            .into_iter()
            .filter_map(|entry| {
                let id = message_id_field(&entry.map);
                if id.is_none() {
                    tracing::error!(stream.entry = %entry.id, "ready entry without a valid message id; leaving it pending");
                }
                let slot = entry
                    .get::<String>("f")
                    .map(FlowSlot::from_entry);
                Some(((entry.id, slot), id?))
            })
            .unzip();
        let messages = self.load_messages(&ids).await?;
        let mut claimed: Vec<Claimed> = positions
            .into_iter()
            .zip(ids)
            .zip(messages)
            .map(|(((entry, flow_slot), message_id), message)| Claimed {
                entry,
                message_id,
                message,
                flow_slot,
            })
            .collect();
        self.fire_wait_timeouts(&mut claimed).await?;
        self.prepare_workflow_bodies(&mut claimed).await?;
        Ok(claimed)
    }

    fn message_args(&self, msg: &NewMessage) -> Result<String> {
        serde_json::to_string(&msg.spec).map_err(|e| Error::Corrupt {
            key: self.keys.msg(&msg.id),
            reason: format!("cannot encode spec: {e}"),
        })
    }

    /// Up to `count` entries of a stream from `start` on, in `order`.
    async fn stream_range(
        &self,
        key: &str,
        order: Order,
        start: Option<Start>,
        count: usize,
    ) -> Result<Vec<(EntryPos, HashMap<String, Value>)>> {
        let bound = |s: Start| {
            if s.inclusive {
                s.at.render()
            } else {
                format!("({}", s.at.render())
            }
        };
        let mut conn = self.conn();
        let reply: redis::streams::StreamRangeReply = match order {
            Order::EarliestFirst => {
                let from = start.map_or_else(|| "-".to_owned(), bound);
                conn.xrange_count(key, from, "+", count).await?
            }
            Order::LatestFirst => {
                let from = start.map_or_else(|| "+".to_owned(), bound);
                conn.xrevrange_count(key, from, "-", count).await?
            }
        };
        Ok(reply
            .ids
            .into_iter()
            .filter_map(|entry| Some((EntryPos::parse(&entry.id)?, entry.map)))
            .collect())
    }

    /// The partition holding the tenant's schedule `id`, from the index.
    async fn schedule_home(&self, tenant: &TenantId, id: &str) -> Result<Option<Partition>> {
        let p: Option<u16> = self
            .conn()
            .hget(self.keys.schedule_index(tenant), id)
            .await?;
        Ok(p.map(Partition))
    }

    /// Reads the schedule `id` of `tenant` in partition `p`.
    async fn load_schedule(
        &self,
        p: Partition,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<Schedule>> {
        let key = self.keys.schedule(p, tenant, id);
        let (raw, due): (RawHash, Option<f64>) = redis::pipe()
            .hgetall(&key)
            .zscore(self.keys.schedules_due(p), schedules::member(tenant, id))
            .query_async(&mut self.conn())
            .await?;
        // Scores are whole milliseconds, exact in an f64.
        schedules::decode(&key, raw, due.map(|d| d as u64))
    }

    /// What the publish and enqueue scripts' reply means.
    fn publish_reply(&self, msg: &NewMessage, reply: &[String]) -> Result<PublishOutcome> {
        match reply {
            [ok] if ok == "ok" => Ok(PublishOutcome::Created),
            [full, bound] if full == "full" => {
                Ok(PublishOutcome::BacklogFull(if bound == "tenant" {
                    BacklogBound::Tenant
                } else {
                    BacklogBound::Total
                }))
            }
            [dup, original] if dup == "dup" => MessageId::parse(original)
                .map(PublishOutcome::Duplicate)
                .map_err(|e| Error::Corrupt {
                    key: "dedup".into(),
                    reason: e.to_string(),
                }),
            other => Err(Error::Corrupt {
                key: self.keys.msg(&msg.id),
                reason: format!("unexpected publish reply {other:?}"),
            }),
        }
    }

    /// Reads the tenant's queue `name` in partition `p`.
    async fn load_queue(
        &self,
        p: Partition,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<Queue>> {
        let (raw, lag): (HashMap<String, u64>, u64) = redis::pipe()
            .hgetall(self.keys.queue(p, tenant, name))
            .llen(self.keys.queue_waiting(p, tenant, name))
            .query_async(&mut self.conn())
            .await?;
        if raw.is_empty() {
            return Ok(None);
        }
        let field = |f: &str| raw.get(f).copied().unwrap_or(0);
        Ok(Some(Queue {
            name: name.to_owned(),
            parallelism: u32::try_from(field("parallelism")).unwrap_or(u32::MAX),
            paused: field("paused") == 1,
            created_at: field("created_at"),
            updated_at: field("updated_at"),
            lag,
            active: u32::try_from(field("active")).unwrap_or(u32::MAX),
        }))
    }

    /// The partition a schedule's messages must be created in, when that is
    /// not the schedule's own choice: its queue's or flow-control key's (one
    /// partition, the tenant's home, holds both). The queue and key are
    /// indexed there, as an enqueue or publish would.
    async fn schedule_placement(&self, def: &ScheduleDef) -> Result<Option<Partition>> {
        let tenant = &def.tenant;
        let p = match (&def.queue, &def.flow_control) {
            (Some(queue), _) => self.queue_home(tenant, queue).await?,
            (None, Some(flow)) => self.flow_partition_of(tenant, &flow.key).await?,
            (None, None) => return Ok(None),
        };
        if let Some(queue) = &def.queue {
            let _: i64 = self
                .conn()
                .hset(self.keys.queue_index(tenant), queue, p.0)
                .await?;
        }
        if let Some(flow) = &def.flow_control {
            self.index_flow(tenant, &flow.key, p).await?;
        }
        Ok(Some(p))
    }

    /// Cancels a message held by `queue` and flow-control key `flow` (the
    /// hash's `q` and `fc`; empty for none), as read by the caller.
    async fn cancel_placed(
        &self,
        tenant: &TenantId,
        id: &MessageId,
        queue: &str,
        flow: &FlowSlot,
    ) -> Result<bool> {
        let p = id.partition();
        let n: i64 = scripts::CANCEL
            .key(self.keys.msg(id))
            .key(self.keys.delayed(p))
            .key(self.keys.events(p, tenant))
            .key(self.keys.queue(p, tenant, queue))
            .key(self.keys.queue_waiting(p, tenant, queue))
            .key(self.keys.ready(p))
            .key(self.keys.flow_waiting(p, flow))
            .key(self.keys.backlog(p))
            .arg(tenant.as_str())
            .arg(id.as_str())
            .arg(self.events_retention())
            .arg(queue)
            .arg(flow.as_str())
            .invoke_async(&mut self.conn())
            .await?;
        Ok(n == 1)
    }

    fn millis(d: Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }

    /// The event log's retention as every logging script takes it, one
    /// argument `<max length>:<max age ms>`, so that a bound added to the
    /// retention changes `log_event` and not each script's argument list.
    fn events_retention(&self) -> String {
        format!(
            "{}:{}",
            self.cfg.events_max_len,
            Self::millis(self.cfg.events_max_age)
        )
    }
}

fn key_pair(values: Vec<Option<String>>, key: &str) -> Result<Option<KeyPair>> {
    let corrupt = |reason: String| Error::Corrupt {
        key: key.to_owned(),
        reason,
    };
    match values.as_slice() {
        [Some(current), Some(next)] => Ok(Some(KeyPair {
            current: SigningKey::new(current.clone()).map_err(|e| corrupt(e.to_string()))?,
            next: SigningKey::new(next.clone()).map_err(|e| corrupt(e.to_string()))?,
        })),
        _ => Ok(None),
    }
}

impl Store for RedisStore {
    type Reader = RedisReader;
    type KeyRotations = RedisKeyRotations;

    fn partitions(&self) -> u16 {
        self.cfg.partitions
    }

    /// On a cluster, every primary must answer and the cluster must say
    /// `cluster_state:ok` (all slots served).
    async fn ping(&self) -> Result<()> {
        let _: Value = redis::cmd("PING").query_async(&mut self.conn()).await?;
        if self.opener.is_cluster() {
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query_async(&mut self.conn())
                .await?;
            let state = info
                .lines()
                .find_map(|line| line.trim().strip_prefix("cluster_state:"))
                .unwrap_or("unknown");
            if state != "ok" {
                return Err(Error::ClusterNotOk(state.to_owned()));
            }
        }
        Ok(())
    }

    async fn publish(&self, msg: &NewMessage, dedup: Option<&str>) -> Result<PublishOutcome> {
        if let Some(flow) = &msg.spec.flow_control {
            return self.publish_flow_controlled(msg, flow, dedup).await;
        }
        let p = msg.id.partition();
        let spec = self.message_args(msg)?;
        let mut invocation = scripts::PUBLISH.prepare_invoke();
        invocation
            .key(self.keys.msg(&msg.id))
            .key(self.keys.ready(p))
            .key(self.keys.delayed(p))
            .key(self.keys.events(p, &msg.spec.tenant))
            .key(self.keys.backlog(p));
        if let Some(dedup) = dedup {
            invocation.key(self.keys.dedup(p, &msg.spec.tenant, dedup));
        }
        invocation
            .arg(msg.id.as_str())
            .arg(msg.spec.tenant.as_str())
            .arg(spec)
            .arg(msg.body.as_ref())
            .arg(msg.spec.not_before)
            .arg(msg.spec.created_at)
            .arg(self.cfg.max_backlog_per_partition)
            .arg(self.events_retention())
            .arg(Self::millis(self.cfg.dedup_window))
            .arg(EventDetail::of(&msg.spec).to_json())
            .arg(self.cfg.max_tenant_backlog_per_partition);
        let reply: Vec<String> = invocation.invoke_async(&mut self.publishing_conn()).await?;
        self.publish_reply(msg, &reply)
    }

    async fn message(&self, tenant: &TenantId, id: &MessageId) -> Result<Option<StoredMessage>> {
        let raw: RawHash = self.conn().hgetall(self.keys.msg(id)).await?;
        let message = decode(&self.keys.msg(id), id.clone(), raw)?;
        Ok(message.filter(|m| &m.spec.tenant == tenant))
    }

    async fn cancel(&self, tenant: &TenantId, id: &MessageId, _now_ms: u64) -> Result<bool> {
        // A message's queue and flow-control key never change, so reading
        // them first is safe.
        let (queue, flow): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(self.keys.msg(id))
            .arg("q")
            .arg("fc")
            .query_async(&mut self.conn())
            .await?;
        let flow = FlowSlot::from_entry(flow.unwrap_or_default());
        self.cancel_placed(tenant, id, queue.as_deref().unwrap_or_default(), &flow)
            .await
    }

    async fn cancel_matching(
        &self,
        tenant: &TenantId,
        filter: &MessageFilter,
        _now_ms: u64,
    ) -> Result<usize> {
        bulk_cancel::cancel_matching(self, tenant, filter).await
    }

    async fn pending_messages(
        &self,
        tenant: &TenantId,
        filter: &MessageFilter,
        limit: usize,
    ) -> Result<Vec<PendingMessage>> {
        bulk_cancel::pending_messages(self, tenant, filter, limit).await
    }

    async fn backlog(&self, tenants: &[TenantId]) -> Result<Backlog> {
        backlog::sample(self, tenants).await
    }

    async fn ensure_signing_keys(&self, tenant: &TenantId, initial: &KeyPair) -> Result<KeyPair> {
        let key = self.keys.signing(tenant);
        let values: Vec<Option<String>> = scripts::KEYS_ENSURE
            .key(&key)
            .arg(initial.current.expose())
            .arg(initial.next.expose())
            .invoke_async(&mut self.conn())
            .await?;
        key_pair(values, &key)?.ok_or_else(|| Error::Corrupt {
            key,
            reason: "keys missing right after being stored".into(),
        })
    }

    async fn signing_keys(&self, tenant: &TenantId) -> Result<Option<KeyPair>> {
        let key = self.keys.signing(tenant);
        let values: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&key)
            .arg("current")
            .arg("next")
            .query_async(&mut self.conn())
            .await?;
        key_pair(values, &key)
    }

    async fn rotate_signing_keys(
        &self,
        tenant: &TenantId,
        new_next: &SigningKey,
    ) -> Result<Option<KeyPair>> {
        let key = self.keys.signing(tenant);
        let values: Option<Vec<Option<String>>> = scripts::KEYS_ROTATE
            .key(&key)
            .arg(new_next.expose())
            .arg(self.keys.key_rotations())
            .arg(tenant.as_str())
            .invoke_async(&mut self.conn())
            .await?;
        match values {
            Some(values) => key_pair(values, &key),
            None => Ok(None),
        }
    }

    async fn dlq_page(&self, tenant: &TenantId, query: &DlqQuery) -> Result<DlqPage> {
        let source = TenantDlq {
            store: self,
            tenant,
        };
        dlq::page(&source, self.cfg.partitions, query).await
    }

    async fn events_page(&self, tenant: &TenantId, query: &EventQuery) -> Result<EventPage> {
        let source = TenantEvents {
            store: self,
            tenant,
        };
        events::page(&source, self.cfg.partitions, query).await
    }

    async fn dlq_get(&self, tenant: &TenantId, id: &DlqId) -> Result<Option<StoredMessage>> {
        let message = self.message(tenant, &id.message_id()).await?;
        Ok(message.filter(|m| m.dead_at.is_some()))
    }

    async fn dlq_delete(&self, tenant: &TenantId, id: &DlqId) -> Result<bool> {
        let msg_id = id.message_id();
        let n: i64 = scripts::DLQ_DELETE
            .key(self.keys.msg(&msg_id))
            .key(self.keys.dlq(msg_id.partition(), tenant))
            .arg(tenant.as_str())
            .invoke_async(&mut self.conn())
            .await?;
        Ok(n == 1)
    }

    async fn dlq_retry(
        &self,
        tenant: &TenantId,
        id: &DlqId,
        replacement: &NewMessage,
    ) -> Result<bool> {
        let old = id.message_id();
        let p = old.partition();
        debug_assert_eq!(
            p,
            replacement.id.partition(),
            "a dead-letter retry stays in its partition"
        );
        let queue = replacement.spec.queue.as_deref();
        if let Some(queue) = queue {
            // The index is written first, as on enqueue (see the crate doc);
            // a queue indexed elsewhere keeps its entry.
            let _: bool = self
                .conn()
                .hset_nx(self.keys.queue_index(tenant), queue, p.0)
                .await?;
        }
        let queue = queue.unwrap_or_default();
        let n: i64 = scripts::DLQ_RETRY
            .key(self.keys.msg(&old))
            .key(self.keys.dlq(p, tenant))
            .key(self.keys.msg(&replacement.id))
            .key(self.keys.ready(p))
            .key(self.keys.delayed(p))
            .key(self.keys.events(p, tenant))
            .key(self.keys.queue(p, tenant, queue))
            .key(self.keys.queue_waiting(p, tenant, queue))
            .key(self.keys.backlog(p))
            .arg(tenant.as_str())
            .arg(replacement.id.as_str())
            .arg(self.message_args(replacement)?)
            .arg(replacement.spec.not_before)
            .arg(replacement.spec.created_at)
            .arg(self.events_retention())
            .arg(EventDetail::of(&replacement.spec).to_json())
            .arg(queue)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(n == 1)
    }

    async fn upsert_endpoints(
        &self,
        tenant: &TenantId,
        name: &str,
        endpoints: &[GroupEndpoint],
        max_endpoints: usize,
        now_ms: u64,
    ) -> Result<bool> {
        let mut invocation = scripts::GROUP_UPSERT.prepare_invoke();
        invocation
            .key(self.keys.groups(tenant))
            .key(self.keys.group(tenant, name))
            .arg(name)
            .arg(now_ms)
            .arg(max_endpoints);
        for endpoint in endpoints {
            invocation
                .arg(&endpoint.url)
                .arg(endpoint.name.as_deref().unwrap_or(""));
        }
        let added: i64 = invocation.invoke_async(&mut self.conn()).await?;
        Ok(added == 1)
    }

    async fn remove_endpoints(
        &self,
        tenant: &TenantId,
        name: &str,
        selection: &EndpointSelection,
        now_ms: u64,
    ) -> Result<bool> {
        let mut invocation = scripts::GROUP_REMOVE.prepare_invoke();
        invocation
            .key(self.keys.groups(tenant))
            .key(self.keys.group(tenant, name))
            .arg(name)
            .arg(now_ms)
            .arg(selection.urls.len())
            .arg(&selection.urls)
            .arg(&selection.names);
        let existed: i64 = invocation.invoke_async(&mut self.conn()).await?;
        Ok(existed == 1)
    }

    async fn url_group(&self, tenant: &TenantId, name: &str) -> Result<Option<UrlGroup>> {
        let raw: HashMap<String, String> =
            self.conn().hgetall(self.keys.group(tenant, name)).await?;
        Ok(url_group_from(name, raw))
    }

    async fn url_groups(&self, tenant: &TenantId) -> Result<Vec<UrlGroup>> {
        let mut names: Vec<String> = self.conn().smembers(self.keys.groups(tenant)).await?;
        names.sort();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.hgetall(self.keys.group(tenant, name));
        }
        let raws: Vec<HashMap<String, String>> = pipe.query_async(&mut self.conn()).await?;
        Ok(names
            .iter()
            .zip(raws)
            .filter_map(|(name, raw)| url_group_from(name, raw))
            .collect())
    }

    async fn delete_url_group(&self, tenant: &TenantId, name: &str) -> Result<bool> {
        let deleted: i64 = scripts::GROUP_DELETE
            .key(self.keys.groups(tenant))
            .key(self.keys.group(tenant, name))
            .arg(name)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(deleted == 1)
    }

    async fn queue_home(&self, tenant: &TenantId, name: &str) -> Result<Partition> {
        self.placed(&self.keys.queue_index(tenant), tenant, name)
            .await
    }

    async fn enqueue(&self, msg: &NewMessage, dedup: Option<&str>) -> Result<PublishOutcome> {
        let Some(queue) = msg.spec.queue.as_deref() else {
            return self.publish(msg, dedup).await;
        };
        let p = msg.id.partition();
        let tenant = &msg.spec.tenant;
        let flow = msg.spec.flow_control.as_ref();
        // The indexes are written first, as for schedules (see the crate doc).
        let _: i64 = self
            .conn()
            .hset(self.keys.queue_index(tenant), queue, p.0)
            .await?;
        if let Some(flow) = flow {
            self.index_flow(tenant, &flow.key, p).await?;
        }
        let slot = FlowSlot::of(tenant, flow.map_or("", |f| f.key.as_str()));
        let mut invocation = scripts::ENQUEUE.prepare_invoke();
        invocation
            .key(self.keys.msg(&msg.id))
            .key(self.keys.ready(p))
            .key(self.keys.delayed(p))
            .key(self.keys.events(p, tenant))
            .key(self.keys.queue(p, tenant, queue))
            .key(self.keys.queue_waiting(p, tenant, queue))
            .key(self.keys.flow(p, &slot))
            .key(self.keys.backlog(p));
        if let Some(dedup) = dedup {
            invocation.key(self.keys.dedup(p, tenant, dedup));
        }
        invocation
            .arg(msg.id.as_str())
            .arg(tenant.as_str())
            .arg(self.message_args(msg)?)
            .arg(msg.body.as_ref())
            .arg(msg.spec.created_at)
            .arg(self.cfg.max_backlog_per_partition)
            .arg(self.events_retention())
            .arg(Self::millis(self.cfg.dedup_window))
            .arg(EventDetail::of(&msg.spec).to_json())
            .arg(queue)
            .arg(if flow.is_some() { slot.as_str() } else { "" })
            .arg(flow.and_then(|f| f.parallelism).unwrap_or(0))
            .arg(flow.and_then(|f| f.rate).unwrap_or(0))
            .arg(flow.map_or(0, |f| f.period_ms))
            .arg(self.cfg.max_tenant_backlog_per_partition);
        let reply: Vec<String> = invocation.invoke_async(&mut self.publishing_conn()).await?;
        self.publish_reply(msg, &reply)
    }

    async fn upsert_queue(
        &self,
        tenant: &TenantId,
        name: &str,
        settings: QueueSettings,
        now_ms: u64,
    ) -> Result<()> {
        let p = self.queue_home(tenant, name).await?;
        let _: i64 = self
            .conn()
            .hset(self.keys.queue_index(tenant), name, p.0)
            .await?;
        let _: i64 = scripts::QUEUE_UPSERT
            .key(self.keys.queue(p, tenant, name))
            .key(self.keys.queue_waiting(p, tenant, name))
            .key(self.keys.ready(p))
            .arg(settings.parallelism)
            .arg(if settings.paused { "1" } else { "0" })
            .arg(now_ms)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }

    async fn queue(&self, tenant: &TenantId, name: &str) -> Result<Option<Queue>> {
        let p: Option<u16> = self
            .conn()
            .hget(self.keys.queue_index(tenant), name)
            .await?;
        match p {
            Some(p) => self.load_queue(Partition(p), tenant, name).await,
            None => Ok(None),
        }
    }

    async fn queues(&self, tenant: &TenantId) -> Result<Vec<Queue>> {
        let index: HashMap<String, u16> =
            self.conn().hgetall(self.keys.queue_index(tenant)).await?;
        let mut found = Vec::with_capacity(index.len());
        for (name, p) in index {
            if let Some(queue) = self.load_queue(Partition(p), tenant, &name).await? {
                found.push(queue);
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    async fn delete_queue(&self, tenant: &TenantId, name: &str, _now_ms: u64) -> Result<bool> {
        let p: Option<u16> = self
            .conn()
            .hget(self.keys.queue_index(tenant), name)
            .await?;
        let Some(p) = p.map(Partition) else {
            return Ok(false);
        };
        let waiting_key = self.keys.queue_waiting(p, tenant, name);
        let existed = loop {
            let waiting: Vec<String> = self.conn().lrange(&waiting_key, 0, -1).await?;
            let mut invocation = scripts::QUEUE_DELETE.prepare_invoke();
            invocation
                .key(self.keys.queue(p, tenant, name))
                .key(&waiting_key)
                .key(self.keys.events(p, tenant))
                .key(self.keys.backlog(p))
                .arg(self.events_retention());
            for id in &waiting {
                let msg_id = MessageId::parse(id).map_err(|e| Error::Corrupt {
                    key: waiting_key.clone(),
                    reason: e.to_string(),
                })?;
                invocation.key(self.keys.msg(&msg_id)).arg(id);
            }
            let outcome: i64 = invocation.invoke_async(&mut self.conn()).await?;
            // -1: messages were enqueued or admitted since the read; read again.
            if outcome != -1 {
                break outcome;
            }
        };
        // The index entry goes last, as for schedules.
        let _: i64 = self
            .conn()
            .hdel(self.keys.queue_index(tenant), name)
            .await?;
        Ok(existed == 1)
    }

    async fn set_queue_paused(
        &self,
        tenant: &TenantId,
        name: &str,
        paused: bool,
        now_ms: u64,
    ) -> Result<bool> {
        let p: Option<u16> = self
            .conn()
            .hget(self.keys.queue_index(tenant), name)
            .await?;
        let Some(p) = p.map(Partition) else {
            return Ok(false);
        };
        let exists: i64 = scripts::QUEUE_PAUSE
            .key(self.keys.queue(p, tenant, name))
            .key(self.keys.queue_waiting(p, tenant, name))
            .key(self.keys.ready(p))
            .arg(if paused { "1" } else { "0" })
            .arg(now_ms)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(exists == 1)
    }

    async fn upsert_schedule(&self, def: &ScheduleDef, body: &Bytes, next_ms: u64) -> Result<()> {
        let tenant = &def.tenant;
        let needed = self.schedule_placement(def).await?;
        let p = match (self.schedule_home(tenant, &def.id).await?, needed) {
            (Some(home), None) => home,
            (Some(home), Some(needed)) if home == needed => home,
            (Some(_), Some(needed)) => {
                // Its messages must now be created in another partition:
                // the old copy goes first, so no tick fires twice.
                self.delete_schedule(tenant, &def.id).await?;
                needed
            }
            (None, needed) => {
                needed.unwrap_or_else(|| schedule_partition(tenant, &def.id, self.cfg.partitions))
            }
        };
        let key = self.keys.schedule(p, &def.tenant, &def.id);
        let json = serde_json::to_string(def).map_err(|e| Error::Corrupt {
            key: key.clone(),
            reason: format!("cannot encode schedule: {e}"),
        })?;
        // The index is written first (see the crate doc).
        let _: i64 = self
            .conn()
            .hset(self.keys.schedule_index(&def.tenant), &def.id, p.0)
            .await?;
        let _: i64 = scripts::SCHEDULE_UPSERT
            .key(&key)
            .key(self.keys.schedules_due(p))
            .arg(def.member())
            .arg(json)
            .arg(body.as_ref())
            .arg(next_ms)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }

    async fn schedule(&self, tenant: &TenantId, id: &str) -> Result<Option<Schedule>> {
        match self.schedule_home(tenant, id).await? {
            Some(p) => self.load_schedule(p, tenant, id).await,
            None => Ok(None),
        }
    }

    async fn schedules(&self, tenant: &TenantId) -> Result<Vec<Schedule>> {
        let index: HashMap<String, u16> = self
            .conn()
            .hgetall(self.keys.schedule_index(tenant))
            .await?;
        let mut found = Vec::with_capacity(index.len());
        for (id, p) in index {
            if let Some(schedule) = self.load_schedule(Partition(p), tenant, &id).await? {
                found.push(schedule);
            }
        }
        found.sort_by(|a, b| (a.def.created_at, &a.def.id).cmp(&(b.def.created_at, &b.def.id)));
        Ok(found)
    }

    async fn delete_schedule(&self, tenant: &TenantId, id: &str) -> Result<bool> {
        let Some(p) = self.schedule_home(tenant, id).await? else {
            return Ok(false);
        };
        let existed: i64 = scripts::SCHEDULE_DELETE
            .key(self.keys.schedule(p, tenant, id))
            .key(self.keys.schedules_due(p))
            .arg(schedules::member(tenant, id))
            .invoke_async(&mut self.conn())
            .await?;
        // The index entry goes last (see the crate doc).
        let _: i64 = self
            .conn()
            .hdel(self.keys.schedule_index(tenant), id)
            .await?;
        Ok(existed == 1)
    }

    async fn set_schedule_paused(
        &self,
        tenant: &TenantId,
        id: &str,
        paused: bool,
        next_ms: u64,
    ) -> Result<bool> {
        let Some(p) = self.schedule_home(tenant, id).await? else {
            return Ok(false);
        };
        let exists: i64 = scripts::SCHEDULE_PAUSE
            .key(self.keys.schedule(p, tenant, id))
            .key(self.keys.schedules_due(p))
            .arg(schedules::member(tenant, id))
            .arg(if paused { "1" } else { "0" })
            .arg(next_ms)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(exists == 1)
    }

    async fn due_schedules(
        &self,
        partition: Partition,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<DueSchedule>> {
        let due: Vec<(String, f64)> = self
            .conn()
            .zrangebyscore_limit_withscores(
                self.keys.schedules_due(partition),
                "-inf",
                now_ms,
                0,
                isize::try_from(limit).unwrap_or(isize::MAX),
            )
            .await?;
        let mut found = Vec::with_capacity(due.len());
        for (member, score) in due {
            let Some((tenant, id)) = member.split_once(':') else {
                tracing::error!(member, "schedule due-set member without a tenant");
                continue;
            };
            let Ok(tenant) = TenantId::new(tenant) else {
                tracing::error!(member, "schedule due-set member with an invalid tenant");
                continue;
            };
            let key = self.keys.schedule(partition, &tenant, id);
            let def: Option<Vec<u8>> = self.conn().hget(&key, "def").await?;
            let Some(def) = def else { continue };
            let def = serde_json::from_slice(&def).map_err(|e| Error::Corrupt {
                key,
                reason: format!("def: {e}"),
            })?;
            found.push(DueSchedule {
                member,
                // Scores are whole milliseconds, exact in an f64.
                due_ms: score as u64,
                def,
            });
        }
        Ok(found)
    }

    async fn fire_schedule(
        &self,
        partition: Partition,
        member: &str,
        expected_due_ms: u64,
        next_due_ms: Option<u64>,
        messages: &[NewMessage],
    ) -> Result<bool> {
        debug_assert!(
            messages.iter().all(|m| m.id.partition() == partition),
            "a tick's messages stay in its schedule's partition"
        );
        let Some((tenant, id)) = member.split_once(':') else {
            return Ok(false);
        };
        let Ok(tenant) = TenantId::new(tenant) else {
            return Ok(false);
        };
        let template = messages.first().map(|m| &m.spec);
        let queue = template
            .and_then(|s| s.queue.as_deref())
            .unwrap_or_default();
        let flow = template.and_then(|s| s.flow_control.as_ref());
        let slot = FlowSlot::of(&tenant, flow.map_or("", |f| f.key.as_str()));
        let mut invocation = scripts::SCHEDULE_FIRE.prepare_invoke();
        invocation
            .key(self.keys.schedules_due(partition))
            .key(self.keys.schedule(partition, &tenant, id))
            .key(self.keys.ready(partition))
            .key(self.keys.delayed(partition))
            .key(self.keys.events(partition, &tenant))
            .key(self.keys.queue(partition, &tenant, queue))
            .key(self.keys.queue_waiting(partition, &tenant, queue))
            .key(self.keys.flow(partition, &slot))
            .key(self.keys.flow_waiting(partition, &slot))
            .key(self.keys.flow_wake(partition))
            .key(self.keys.backlog(partition))
            .arg(member)
            .arg(expected_due_ms)
            .arg(next_due_ms.map(|n| n.to_string()).unwrap_or_default())
            .arg(tenant.as_str())
            .arg(expected_due_ms)
            .arg(self.events_retention())
            .arg(schedules::LAST_IDS_KEPT.max(messages.len()))
            .arg(queue)
            .arg(if flow.is_some() { slot.as_str() } else { "" })
            .arg(flow.and_then(|f| f.parallelism).unwrap_or(0))
            .arg(flow.and_then(|f| f.rate).unwrap_or(0))
            .arg(flow.map_or(0, |f| f.period_ms));
        for message in messages {
            invocation
                .key(self.keys.msg(&message.id))
                .arg(message.id.as_str())
                .arg(self.message_args(message)?)
                .arg(message.spec.not_before)
                .arg(EventDetail::of(&message.spec).to_json());
        }
        let fired: i64 = invocation.invoke_async(&mut self.conn()).await?;
        Ok(fired == 1)
    }

    async fn flow_home(&self, tenant: &TenantId, key: &str) -> Result<Partition> {
        self.flow_partition_of(tenant, key).await
    }

    async fn flow(&self, tenant: &TenantId, key: &str, now_ms: u64) -> Result<Option<FlowKey>> {
        self.load_flow_key(tenant, key, now_ms).await
    }

    async fn flows(&self, tenant: &TenantId, now_ms: u64) -> Result<Vec<FlowKey>> {
        self.load_flow_keys(tenant, now_ms).await
    }

    async fn change_flow(
        &self,
        tenant: &TenantId,
        key: &str,
        change: &FlowChange,
        now_ms: u64,
    ) -> Result<bool> {
        self.apply_flow_change(tenant, key, change, now_ms).await
    }

    async fn flow_wait(
        &self,
        partition: Partition,
        consumer: &str,
        entry: &str,
        message: &StoredMessage,
        now_ms: u64,
    ) -> Result<Recorded> {
        self.wait_for_flow(partition, consumer, entry, message, now_ms)
            .await
    }

    async fn wake_flows(
        &self,
        partition: Partition,
        now_ms: u64,
        limit: usize,
    ) -> Result<(usize, Option<u64>)> {
        self.wake_due_flows(partition, now_ms, limit).await
    }

    async fn in_flight(&self) -> Result<u64> {
        let mut pipe = redis::pipe();
        for p in 0..self.cfg.partitions {
            pipe.cmd("XPENDING")
                .arg(self.keys.ready(Partition(p)))
                .arg(GROUP);
        }
        // Each reply is the summary form; its first element is the count.
        let replies: Vec<Vec<Value>> = pipe.query_async(&mut self.conn()).await?;
        Ok(replies
            .iter()
            .filter_map(|reply| match reply.first() {
                Some(Value::Int(n)) => u64::try_from(*n).ok(),
                _ => None,
            })
            .sum())
    }

    async fn reader(&self, partition: Partition, consumer: &str) -> Result<RedisReader> {
        Ok(RedisReader {
            store: self.clone(),
            partition,
            consumer: consumer.to_owned(),
            conn: None,
        })
    }

    async fn promote_due(
        &self,
        partition: Partition,
        now_ms: u64,
        batch: usize,
    ) -> Result<(usize, Option<u64>)> {
        let (moved, next): (usize, i64) = scripts::PROMOTE
            .key(self.keys.delayed(partition))
            .key(self.keys.ready(partition))
            .arg(now_ms)
            .arg(batch)
            .invoke_async(&mut self.conn())
            .await?;
        Ok((moved, u64::try_from(next).ok()))
    }

    async fn acquire_lease(&self, consumer: &str, ttl: Duration) -> Result<()> {
        self.acquire(consumer, ttl).await
    }

    async fn renew_lease(&self, consumer: &str, ttl: Duration) -> Result<bool> {
        self.renew(consumer, ttl).await
    }

    async fn release_lease(&self, consumer: &str) -> Result<()> {
        self.release(consumer).await
    }

    async fn reclaim(
        &self,
        partition: Partition,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Claimed>> {
        self.reclaim_dead(partition, consumer, count).await
    }

    async fn recover_own<F>(
        &self,
        partition: Partition,
        consumer: &str,
        min_idle: Duration,
        count: usize,
        held: &F,
    ) -> Result<Vec<Claimed>>
    where
        F: Fn(&str) -> bool + Sync,
    {
        self.recover(partition, consumer, min_idle, count, held)
            .await
    }

    async fn watch_key_rotations(&self) -> Result<RedisKeyRotations> {
        let mut pubsub = self.opener.pubsub().await?;
        pubsub.subscribe(self.keys.key_rotations()).await?;
        Ok(RedisKeyRotations {
            messages: Box::pin(pubsub.into_on_message()),
        })
    }

    async fn record(
        &self,
        partition: Partition,
        consumer: &str,
        record: &OutcomeRecord,
    ) -> Result<Recorded> {
        let tenant = &record.tenant;
        let mut invocation = scripts::OUTCOME.prepare_invoke();
        invocation
            .key(self.keys.ready(partition))
            .key(self.keys.delayed(partition))
            .key(self.keys.msg(&record.message_id))
            .key(self.keys.events(partition, tenant))
            .key(self.keys.dlq(partition, tenant));
        let queue = record.queue.as_deref().unwrap_or_default();
        invocation
            .key(self.keys.queue(partition, tenant, queue))
            .key(self.keys.queue_waiting(partition, tenant, queue));
        let no_slot = FlowSlot::from_entry(String::new());
        let slot = record.flow_slot.as_ref().unwrap_or(&no_slot);
        invocation
            .key(self.keys.flow(partition, slot))
            .key(self.keys.flow_waiting(partition, slot))
            .key(self.keys.flow_wake(partition))
            .key(self.keys.lease(partition, consumer))
            .key(self.keys.backlog(partition));
        for new in &record.new_messages {
            debug_assert_eq!(
                new.id.partition(),
                partition,
                "callbacks stay in their source's partition"
            );
            invocation.key(self.keys.msg(&new.id));
        }
        let (kind, due, retried, response) = match &record.outcome {
            Outcome::Delivered => ("delivered", 0, 0, None),
            Outcome::Retry {
                due_ms,
                retried,
                response,
            } => ("retry", *due_ms, *retried, Some(response)),
            Outcome::Dead { retried, response } => ("dead", 0, *retried, Some(response)),
            Outcome::Defer { due_ms } => ("defer", *due_ms, 0, None),
        };
        let default = crate::LastResponse::default();
        let response = response.unwrap_or(&default);
        let headers = serde_json::to_string(&response.headers).unwrap_or_else(|_| "[]".into());
        invocation
            .arg(GROUP)
            .arg(&record.entry)
            .arg(record.message_id.as_str())
            .arg(consumer)
            .arg(kind)
            .arg(due)
            .arg(retried)
            .arg(response.status.unwrap_or(0))
            .arg(headers)
            .arg(response.body.as_ref())
            .arg(response.error.as_deref().unwrap_or(""))
            .arg(record.now_ms)
            .arg(self.events_retention())
            .arg(Self::millis(self.cfg.dlq_retention))
            .arg(record.detail.to_json())
            .arg(tenant.as_str())
            .arg(slot.as_str());
        for new in &record.new_messages {
            invocation
                .arg(new.id.as_str())
                .arg(self.message_args(new)?)
                .arg(new.body.as_ref())
                .arg(new.spec.not_before)
                .arg(EventDetail::of(&new.spec).to_json());
        }
        let n: i64 = invocation.invoke_async(&mut self.conn()).await?;
        Ok(match n {
            1 => Recorded::Done,
            -1 => Recorded::NotOwner,
            _ => Recorded::Gone,
        })
    }

    async fn discard(
        &self,
        partition: Partition,
        entry: &str,
        flow_slot: Option<&FlowSlot>,
        now_ms: u64,
    ) -> Result<()> {
        if let Some(slot) = flow_slot {
            return self.discard_flow_slot(partition, entry, slot, now_ms).await;
        }
        let ready = self.keys.ready(partition);
        let _: (i64, i64) = redis::pipe()
            .atomic()
            .xack(&ready, GROUP, &[entry])
            .xdel(&ready, &[entry])
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    async fn record_delivered(
        &self,
        partition: Partition,
        consumer: &str,
        batch: &[DeliveredEntry],
    ) -> Result<Option<usize>> {
        if batch.is_empty() {
            return Ok(Some(0));
        }
        let mut invocation = scripts::DELIVERED.prepare_invoke();
        invocation
            .key(self.keys.ready(partition))
            .key(self.keys.lease(partition, consumer))
            .key(self.keys.backlog(partition))
            .arg(GROUP)
            .arg(self.events_retention());
        for d in batch {
            let queue = d.queue.as_deref().unwrap_or_default();
            invocation
                .key(self.keys.msg(&d.message_id))
                .key(self.keys.events(partition, &d.tenant))
                .key(self.keys.queue(partition, &d.tenant, queue))
                .key(self.keys.queue_waiting(partition, &d.tenant, queue))
                .arg(&d.entry)
                .arg(d.message_id.as_str())
                .arg(d.detail.to_json());
        }
        let n: i64 = invocation.invoke_async(&mut self.conn()).await?;
        Ok(usize::try_from(n).ok())
    }

    async fn workflow_publish(
        &self,
        msg: &NewMessage,
        run: Option<&NewRun>,
        max_run_bytes: u64,
    ) -> Result<RunPublish> {
        self.publish_workflow(msg, run, None, max_run_bytes).await
    }

    async fn workflow_tell(
        &self,
        msg: &NewMessage,
        told: &str,
        max_run_bytes: u64,
    ) -> Result<RunPublish> {
        self.publish_workflow(msg, None, Some(told), max_run_bytes)
            .await
    }

    async fn workflow_run(&self, tenant: &TenantId, run_id: &str) -> Result<Option<WorkflowRun>> {
        self.load_workflow_run(tenant, run_id).await
    }

    async fn end_workflow(
        &self,
        tenant: &TenantId,
        run_id: &str,
        end: &RunEnd,
        now_ms: u64,
    ) -> Result<Option<RunState>> {
        self.end_run(tenant, run_id, None, end, now_ms).await
    }

    async fn end_workflow_generation(
        &self,
        tenant: &TenantId,
        run_id: &str,
        created_at: u64,
        end: &RunEnd,
        now_ms: u64,
    ) -> Result<Option<RunState>> {
        self.end_run(tenant, run_id, Some(created_at), end, now_ms)
            .await
    }

    async fn workflow_runs(&self, tenant: &TenantId, query: &RunQuery) -> Result<RunPage> {
        self.list_workflow_runs(tenant, query).await
    }

    async fn workflow_wait(&self, wait: &NewWaiter) -> Result<WaitOutcome> {
        self.wait_workflow(wait).await
    }

    async fn workflow_resolve(
        &self,
        resolution: &Resolution,
        max_run_bytes: u64,
    ) -> Result<Resolved> {
        self.resolve_workflow_wait(resolution, max_run_bytes).await
    }

    async fn workflow_store_event(
        &self,
        tenant: &TenantId,
        run_id: &str,
        event_id: &str,
        data: &Bytes,
    ) -> Result<EventStored> {
        self.store_workflow_event(tenant, run_id, event_id, data)
            .await
    }

    async fn workflow_waiters(&self, tenant: &TenantId, event_id: &str) -> Result<Vec<Waiter>> {
        self.load_workflow_waiters(tenant, event_id).await
    }
}

/// One tenant's dead-letter streams, as a source for the page merge.
struct TenantDlq<'a> {
    store: &'a RedisStore,
    tenant: &'a TenantId,
}

impl Source for TenantDlq<'_> {
    type Item = StoredMessage;

    async fn fetch(
        &self,
        partition: Partition,
        order: Order,
        start: Option<Start>,
        count: usize,
    ) -> Result<Vec<DlqEntry>> {
        let key = self.store.keys.dlq(partition, self.tenant);
        let entries = self.store.stream_range(&key, order, start, count).await?;
        let mut positions = Vec::with_capacity(entries.len());
        let mut ids = Vec::with_capacity(entries.len());
        for (pos, fields) in entries {
            if let Some(id) = message_id_field(&fields) {
                positions.push(pos);
                ids.push(id);
            }
        }
        let messages = self.store.load_messages(&ids).await?;
        Ok(positions
            .into_iter()
            .zip(messages)
            .map(|(pos, m)| {
                (
                    pos,
                    m.filter(|m| &m.spec.tenant == self.tenant && m.dead_at.is_some()),
                )
            })
            .collect())
    }
}

/// A group from its hash; `None` when the hash does not exist.
fn url_group_from(name: &str, raw: HashMap<String, String>) -> Option<UrlGroup> {
    if raw.is_empty() {
        return None;
    }
    let time = |field: &str| raw.get(field).and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut endpoints: Vec<GroupEndpoint> = raw
        .iter()
        .filter_map(|(field, value)| {
            let url = field.strip_prefix("u:")?;
            Some(GroupEndpoint {
                url: url.to_owned(),
                name: (!value.is_empty()).then(|| value.clone()),
            })
        })
        .collect();
    endpoints.sort_by(|a, b| a.url.cmp(&b.url));
    Some(UrlGroup {
        name: name.to_owned(),
        created_at: time("created_at"),
        updated_at: time("updated_at"),
        endpoints,
    })
}

/// One tenant's event logs, as a source for the page merge.
struct TenantEvents<'a> {
    store: &'a RedisStore,
    tenant: &'a TenantId,
}

impl Source for TenantEvents<'_> {
    type Item = LoggedEvent;

    async fn fetch(
        &self,
        partition: Partition,
        order: Order,
        start: Option<Start>,
        count: usize,
    ) -> Result<Vec<EventEntry>> {
        let key = self.store.keys.events(partition, self.tenant);
        let entries = self.store.stream_range(&key, order, start, count).await?;
        Ok(entries
            .into_iter()
            .map(|(pos, fields)| (pos, logged_event(pos, &fields)))
            .collect())
    }
}

fn logged_event(pos: EntryPos, fields: &HashMap<String, Value>) -> Option<LoggedEvent> {
    let state = match fields.get("s") {
        Some(Value::BulkString(b)) => std::str::from_utf8(b).ok().and_then(EventState::parse),
        _ => None,
    }?;
    let detail = match fields.get("d") {
        Some(Value::BulkString(b)) => EventDetail::from_json(b),
        _ => EventDetail::default(),
    };
    Some(LoggedEvent {
        time: pos.ms,
        message_id: message_id_field(fields)?,
        state,
        detail,
    })
}

/// The message id a stream entry names in its `m` field.
fn message_id_field(fields: &HashMap<String, Value>) -> Option<MessageId> {
    match fields.get("m") {
        Some(Value::BulkString(b)) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| MessageId::parse(s).ok()),
        _ => None,
    }
}

/// Reads one partition's ready stream for one consumer, on its own
/// connection (opened lazily and reopened after an error).
pub struct RedisReader {
    store: RedisStore,
    partition: Partition,
    consumer: String,
    conn: Option<Conn>,
}

impl std::fmt::Debug for RedisReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReader")
            .field("partition", &self.partition)
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

impl RedisReader {
    async fn connection(&mut self, block: Duration) -> Result<Conn> {
        if let Some(conn) = &self.conn {
            return Ok(conn.clone());
        }
        let timeout = self.store.cfg.command_timeout;
        let conn = self
            .store
            .opener
            .dedicated(timeout, block + timeout)
            .await?;
        self.conn = Some(conn.clone());
        Ok(conn)
    }
}

impl Reader for RedisReader {
    async fn read(&mut self, count: usize, block: Duration) -> Result<Vec<Claimed>> {
        let mut conn = self.connection(block).await?;
        let mut opts = StreamReadOptions::default()
            .group(GROUP, &self.consumer)
            .count(count);
        // `BLOCK 0` means "wait forever" to Redis; a zero wait means "don't wait".
        if !block.is_zero() {
            opts = opts.block(usize::try_from(block.as_millis()).unwrap_or(usize::MAX));
        }
        let key = self.store.keys.ready(self.partition);
        let reply: redis::RedisResult<Option<StreamReadReply>> =
            conn.xread_options(&[&key], &[">"], &opts).await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                // Drop the connection so the next read opens a fresh one, and
                // recreate the group if Redis lost it (restart without AOF).
                self.conn = None;
                if e.code() == Some("NOGROUP") {
                    self.store.create_groups().await?;
                }
                return Err(e.into());
            }
        };
        let entries: Vec<StreamId> = reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default();
        self.store.claimed_from(entries).await
    }
}

/// Key rotations announced on the store's channel, on a connection of its
/// own (a subscribed connection can run no other command).
pub struct RedisKeyRotations {
    messages: std::pin::Pin<Box<redis::aio::PubSubStream>>,
}

impl std::fmt::Debug for RedisKeyRotations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKeyRotations").finish_non_exhaustive()
    }
}

impl KeyRotations for RedisKeyRotations {
    async fn changed(&mut self) -> Result<()> {
        use futures_util::StreamExt as _;
        match self.messages.next().await {
            Some(_) => Ok(()),
            None => Err(Error::SubscriptionEnded("key rotations")),
        }
    }
}

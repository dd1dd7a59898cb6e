//! Bulk cancel on Redis: the places of each partition (see `pending`) are
//! read a page at a time, the messages they name are read in one pipeline
//! per page, and each match is cancelled by the cancel script, which checks
//! the tenant and the state again atomically. Listing pending messages is
//! the same walk collecting the matches instead.

use std::collections::HashMap;

use ferry_core::ids::{MessageId, Partition, TenantId};
use ferry_core::message::MessageSpec;
use redis::AsyncCommands;
use redis::streams::StreamRangeReply;

use super::{RedisStore, message_id_field};
use crate::pending::{Action, Budget, PAGE, PendingMessage, Place, places};
use crate::{Error, FlowSlot, MessageFilter, Result};

pub(super) async fn cancel_matching(
    store: &RedisStore,
    tenant: &TenantId,
    filter: &MessageFilter,
) -> Result<usize> {
    let walk = walk(store, tenant, filter, Budget::new(None), Action::Cancel).await?;
    Ok(walk.matched)
}

pub(super) async fn pending_messages(
    store: &RedisStore,
    tenant: &TenantId,
    filter: &MessageFilter,
    limit: usize,
) -> Result<Vec<PendingMessage>> {
    let action = Action::Collect(Vec::new());
    let walk = walk(store, tenant, filter, Budget::new(Some(limit)), action).await?;
    match walk.action {
        Action::Collect(found) => Ok(found),
        Action::Cancel => Ok(Vec::new()),
    }
}

/// Visits the tenant's places partition by partition until the budget is
/// spent, acting on each match.
async fn walk<'a>(
    store: &'a RedisStore,
    tenant: &'a TenantId,
    filter: &'a MessageFilter,
    budget: Budget,
    action: Action,
) -> Result<Walk<'a>> {
    let mut queues = by_partition(store, &store.keys.queue_index(tenant)).await?;
    let mut flows = by_partition(store, &store.keys.flow_index(tenant)).await?;
    let mut walk = Walk {
        store,
        tenant,
        filter,
        budget,
        action,
        matched: 0,
    };
    for p in 0..store.cfg.partitions {
        let held = |index: &mut HashMap<u16, Vec<String>>| index.remove(&p).unwrap_or_default();
        for place in places(held(&mut queues), held(&mut flows)) {
            if walk.budget.exhausted() {
                return Ok(walk);
            }
            walk.visit(Partition(p), &place).await?;
        }
    }
    Ok(walk)
}

/// The names of a tenant index (name = partition), grouped by partition.
async fn by_partition(store: &RedisStore, index: &str) -> Result<HashMap<u16, Vec<String>>> {
    let index: HashMap<String, u16> = store.conn().hgetall(index).await?;
    let mut grouped: HashMap<u16, Vec<String>> = HashMap::new();
    for (name, p) in index {
        grouped.entry(p).or_default().push(name);
    }
    Ok(grouped)
}

/// One walk under way.
struct Walk<'a> {
    store: &'a RedisStore,
    tenant: &'a TenantId,
    filter: &'a MessageFilter,
    budget: Budget,
    action: Action,
    /// Messages cancelled or collected so far.
    matched: usize,
}

impl Walk<'_> {
    async fn visit(&mut self, p: Partition, place: &Place) -> Result<()> {
        let keys = &self.store.keys;
        match place {
            Place::Delayed => self.by_rank("ZRANGE", &keys.delayed(p), place).await,
            Place::Waiting(queue) => {
                let key = keys.queue_waiting(p, self.tenant, queue);
                self.by_rank("LRANGE", &key, place).await
            }
            Place::FlowWaiting(key) => {
                let key = keys.flow_waiting(p, &FlowSlot::of(self.tenant, key));
                self.by_rank("LRANGE", &key, place).await
            }
            Place::Ready => self.ready(&keys.ready(p)).await,
        }
    }

    /// A sorted set or list read by rank (`ZRANGE`/`LRANGE key start stop`)
    /// whose members leave it when cancelled.
    async fn by_rank(&mut self, command: &str, key: &str, place: &Place) -> Result<()> {
        let mut start = 0;
        loop {
            let members: Vec<String> = redis::cmd(command)
                .arg(key)
                .arg(start)
                .arg(start + PAGE - 1)
                .query_async(&mut self.store.conn())
                .await?;
            let ids = members
                .iter()
                .map(|m| {
                    MessageId::parse(m).map_err(|e| Error::Corrupt {
                        key: key.to_owned(),
                        reason: e.to_string(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let taken = self.page(&ids, place).await?;
            if ids.len() < PAGE || self.budget.exhausted() {
                return Ok(());
            }
            // What was cancelled left the place: the next page starts earlier.
            start += ids.len() - taken;
        }
    }

    /// The ready stream up to its last entry at the start. Entries stay
    /// when their message is cancelled, so paging is by entry id.
    async fn ready(&mut self, key: &str) -> Result<()> {
        let last: StreamRangeReply = self.store.conn().xrevrange_count(key, "+", "-", 1).await?;
        let Some(end) = last.ids.into_iter().next().map(|e| e.id) else {
            return Ok(());
        };
        let mut from = "-".to_owned();
        loop {
            let reply: StreamRangeReply = self
                .store
                .conn()
                .xrange_count(key, &from, &end, PAGE)
                .await?;
            let ids: Vec<MessageId> = reply
                .ids
                .iter()
                .filter_map(|e| message_id_field(&e.map))
                .collect();
            self.page(&ids, &Place::Ready).await?;
            match reply.ids.last() {
                Some(entry) if reply.ids.len() == PAGE => {
                    from = format!("({}", entry.id);
                }
                _ => return Ok(()),
            }
        }
    }

    /// Acts on the messages of `ids` that are this tenant's, pending and
    /// matched, within the budget; returns how many of them left `place`
    /// (were cancelled).
    async fn page(&mut self, ids: &[MessageId], place: &Place) -> Result<usize> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HMGET")
                .arg(self.store.keys.msg(id))
                .arg("tenant")
                .arg("state")
                .arg("q")
                .arg("spec")
                .arg("fc")
                .arg("retried");
        }
        type Fields = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<Vec<u8>>,
            Option<String>,
            Option<u32>,
        );
        let rows: Vec<Fields> = pipe.query_async(&mut self.store.conn()).await?;
        let mut taken = 0;
        for (id, (tenant, state, queue, spec, flow, retried)) in ids.iter().zip(rows) {
            if self.budget.exhausted() {
                break;
            }
            let pending =
                tenant.as_deref() == Some(self.tenant.as_str()) && state.as_deref() != Some("dead");
            let Some(spec) = spec.filter(|_| pending) else {
                continue;
            };
            let spec: MessageSpec = serde_json::from_slice(&spec).map_err(|e| Error::Corrupt {
                key: self.store.keys.msg(id),
                reason: format!("spec: {e}"),
            })?;
            if !self.filter.matches(&spec) {
                continue;
            }
            match &mut self.action {
                Action::Cancel => {
                    let queue = queue.unwrap_or_default();
                    let flow = FlowSlot::from_entry(flow.unwrap_or_default());
                    if !self
                        .store
                        .cancel_placed(self.tenant, id, &queue, &flow)
                        .await?
                    {
                        continue;
                    }
                    taken += 1;
                }
                Action::Collect(found) => found.push(PendingMessage {
                    id: id.clone(),
                    spec,
                    retried: retried.unwrap_or(0),
                    place: place.clone(),
                }),
            }
            self.matched += 1;
            self.budget.spend();
        }
        Ok(taken)
    }
}

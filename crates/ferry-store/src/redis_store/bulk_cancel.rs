//! Bulk cancel on Redis: the places of each partition (see `pending`) are
//! read a page at a time, the messages they name are read in one pipeline
//! per page, and each match is cancelled by the cancel script, which checks
//! the tenant and the state again atomically.

use std::collections::HashMap;

use ferry_core::ids::{MessageId, Partition, TenantId};
use ferry_core::message::MessageSpec;
use redis::AsyncCommands;
use redis::streams::StreamRangeReply;

use super::{RedisStore, message_id_field};
use crate::pending::{PAGE, Place, places};
use crate::{Error, FlowSlot, MessageFilter, Result};

pub(super) async fn cancel_matching(
    store: &RedisStore,
    tenant: &TenantId,
    filter: &MessageFilter,
) -> Result<usize> {
    let mut queues = by_partition(store, &store.keys.queue_index(tenant)).await?;
    let mut flows = by_partition(store, &store.keys.flow_index(tenant)).await?;
    let mut walk = Walk {
        store,
        tenant,
        filter,
        cancelled: 0,
    };
    for p in 0..store.cfg.partitions {
        let held = |index: &mut HashMap<u16, Vec<String>>| index.remove(&p).unwrap_or_default();
        for place in places(held(&mut queues), held(&mut flows)) {
            walk.visit(Partition(p), &place).await?;
        }
    }
    Ok(walk.cancelled)
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

/// One bulk cancel under way.
struct Walk<'a> {
    store: &'a RedisStore,
    tenant: &'a TenantId,
    filter: &'a MessageFilter,
    cancelled: usize,
}

impl Walk<'_> {
    async fn visit(&mut self, p: Partition, place: &Place) -> Result<()> {
        let keys = &self.store.keys;
        match place {
            Place::Delayed => self.by_rank("ZRANGE", &keys.delayed(p)).await,
            Place::Waiting(queue) => {
                let key = keys.queue_waiting(p, self.tenant, queue);
                self.by_rank("LRANGE", &key).await
            }
            Place::FlowWaiting(key) => {
                let key = keys.flow_waiting(p, &FlowSlot::of(self.tenant, key));
                self.by_rank("LRANGE", &key).await
            }
            Place::Ready => self.ready(&keys.ready(p)).await,
        }
    }

    /// A sorted set or list read by rank (`ZRANGE`/`LRANGE key start stop`)
    /// whose members leave it when cancelled.
    async fn by_rank(&mut self, command: &str, key: &str) -> Result<()> {
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
            let taken = self.page(&ids).await?;
            if ids.len() < PAGE {
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
            self.page(&ids).await?;
            match reply.ids.last() {
                Some(entry) if reply.ids.len() == PAGE => {
                    from = format!("({}", entry.id);
                }
                _ => return Ok(()),
            }
        }
    }

    /// Cancels the messages of `ids` that are this tenant's, pending and
    /// matched; returns how many.
    async fn page(&mut self, ids: &[MessageId]) -> Result<usize> {
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
                .arg("fc");
        }
        type Fields = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<Vec<u8>>,
            Option<String>,
        );
        let rows: Vec<Fields> = pipe.query_async(&mut self.store.conn()).await?;
        let mut taken = 0;
        for (id, (tenant, state, queue, spec, flow)) in ids.iter().zip(rows) {
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
            let queue = queue.unwrap_or_default();
            let flow = FlowSlot::from_entry(flow.unwrap_or_default());
            if self
                .store
                .cancel_placed(self.tenant, id, &queue, &flow)
                .await?
            {
                taken += 1;
                self.cancelled += 1;
            }
        }
        Ok(taken)
    }
}

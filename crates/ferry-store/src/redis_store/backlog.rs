//! The backlog sample on Redis (see the `backlog` module): one pipeline of
//! length reads for the partitions, one for the tenants' indexes of queues
//! and flow-control keys, and one for the tenants' waiting lists and
//! dead-letter streams.

use std::collections::HashMap;

use ferry_core::ids::{Partition, TenantId};
use redis::Value;

use super::RedisStore;
use crate::backlog::{Backlog, PartitionBacklog, TenantBacklog};
use crate::keys::GROUP;
use crate::{FlowSlot, Result};

pub(super) async fn sample(store: &RedisStore, tenants: &[TenantId]) -> Result<Backlog> {
    let partitions: Vec<Partition> = (0..store.cfg.partitions).map(Partition).collect();
    Ok(Backlog {
        partitions: shared(store, &partitions).await?,
        tenants: kept(store, tenants, &partitions).await?,
    })
}

async fn shared(store: &RedisStore, partitions: &[Partition]) -> Result<Vec<PartitionBacklog>> {
    let mut pipe = redis::pipe();
    for &p in partitions {
        pipe.xlen(store.keys.ready(p))
            .cmd("XPENDING")
            .arg(store.keys.ready(p))
            .arg(GROUP)
            .zcard(store.keys.delayed(p));
    }
    let replies: Vec<Value> = pipe.query_async(&mut store.conn()).await?;
    Ok(partitions
        .iter()
        .zip(replies.chunks(3))
        .map(|(&partition, reply)| {
            let entries = int(&reply[0]);
            // The summary form of XPENDING starts with the count.
            let in_flight = match &reply[1] {
                Value::Array(summary) => summary.first().map_or(0, int),
                _ => 0,
            };
            PartitionBacklog {
                partition,
                ready: entries.saturating_sub(in_flight),
                in_flight,
                delayed: int(&reply[2]),
            }
        })
        .collect())
}

async fn kept(
    store: &RedisStore,
    tenants: &[TenantId],
    partitions: &[Partition],
) -> Result<Vec<TenantBacklog>> {
    if tenants.is_empty() {
        return Ok(Vec::new());
    }
    let mut indexes = redis::pipe();
    for tenant in tenants {
        indexes
            .hgetall(store.keys.queue_index(tenant))
            .hgetall(store.keys.flow_index(tenant));
    }
    let indexes: Vec<HashMap<String, u16>> = indexes.query_async(&mut store.conn()).await?;
    // Per tenant and partition: the waiting lists, then the dead letters.
    // The row each waiting list's length adds to, in pipeline order.
    let mut lists: Vec<usize> = Vec::new();
    let mut pipe = redis::pipe();
    let mut rows = Vec::new();
    for (tenant, index) in tenants.iter().zip(indexes.chunks(2)) {
        for &p in partitions {
            let waiting = index[0]
                .iter()
                .filter(|(_, home)| **home == p.0)
                .map(|(queue, _)| store.keys.queue_waiting(p, tenant, queue))
                .chain(
                    index[1]
                        .iter()
                        .filter(|(_, home)| **home == p.0)
                        .map(|(key, _)| store.keys.flow_waiting(p, &FlowSlot::of(tenant, key))),
                );
            for key in waiting {
                pipe.llen(key);
                lists.push(rows.len());
            }
            pipe.xlen(store.keys.dlq(p, tenant));
            rows.push(TenantBacklog {
                tenant: tenant.clone(),
                partition: p,
                waiting: 0,
                dead: 0,
            });
        }
    }
    let replies: Vec<u64> = pipe.query_async(&mut store.conn()).await?;
    let mut replies = replies.into_iter();
    let mut lists = lists.into_iter().peekable();
    for (i, row) in rows.iter_mut().enumerate() {
        while lists.next_if(|owner| *owner == i).is_some() {
            row.waiting += replies.next().unwrap_or(0);
        }
        row.dead = replies.next().unwrap_or(0);
    }
    Ok(rows)
}

fn int(value: &Value) -> u64 {
    match value {
        Value::Int(n) => u64::try_from(*n).unwrap_or(0),
        _ => 0,
    }
}

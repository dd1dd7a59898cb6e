//! The two shapes of Redis deployment Ferry runs on, behind one connection
//! type: a standalone server (or a primary with replicas behind one
//! address), and a Redis Cluster.
//!
//! On a cluster redis-rs routes each command to the primary of its key's
//! slot, follows `MOVED`/`ASK` redirections and refreshes the slot map after
//! a failover; `SCRIPT LOAD` (after a `NOSCRIPT`) goes to every primary. What
//! it does not do is send a pipeline to more than one node: a pipeline whose
//! commands fall into different slots is refused. Ferry's pipelines read
//! one key per partition (the backlog sample, lease renewal, paging), so
//! [`Conn`] splits a non-transactional pipeline into one sub-pipeline per
//! slot, sends them concurrently and puts the replies back in order. A
//! command without a key (`WAIT`) stays with the command before it, so it
//! runs on the same node connection as the write it waits for.

use futures_util::future::try_join_all;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Arg, AsyncConnectionConfig, Client, Cmd, Pipeline, RedisFuture, Value};
use std::time::Duration;

use crate::keys::slot_of;
use crate::{Error, Result};

/// How to open connections: to one server or to a cluster.
#[derive(Clone)]
pub(crate) enum Opener {
    Standalone(Client),
    Cluster {
        /// Boxed: it is several times the size of a standalone `Client`.
        client: Box<ClusterClient>,
        /// The seed addresses, for the pub/sub connection.
        nodes: Vec<String>,
    },
}

/// One connection, standalone or cluster; cheap to clone (both are
/// multiplexed handles).
#[derive(Clone)]
pub(crate) enum Conn {
    Standalone(ConnectionManager),
    /// A reader's own connection to a standalone server.
    Dedicated(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Opener {
    /// A standalone server at `url`, or a cluster seeded by `nodes` when
    /// that list is not empty.
    pub(crate) fn new(url: &str, nodes: &[String], timeout: Duration) -> Result<Self> {
        if nodes.is_empty() {
            return Ok(Self::Standalone(Client::open(url)?));
        }
        let client = Box::new(cluster_builder(nodes, timeout).build()?);
        Ok(Self::Cluster {
            client,
            nodes: nodes.to_vec(),
        })
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster { .. })
    }

    /// The shared connection of every non-blocking command; it reconnects
    /// by itself.
    pub(crate) async fn shared(&self, timeout: Duration) -> Result<Conn> {
        Ok(match self {
            Self::Standalone(client) => {
                let cfg = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(timeout))
                    .set_connection_timeout(Some(timeout));
                Conn::Standalone(ConnectionManager::new_with_config(client.clone(), cfg).await?)
            }
            Self::Cluster { client, .. } => Conn::Cluster(client.get_async_connection().await?),
        })
    }

    /// A connection of its own for a blocking read, whose responses may take
    /// `response_timeout` (the block time plus the command timeout).
    pub(crate) async fn dedicated(
        &self,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<Conn> {
        Ok(match self {
            Self::Standalone(client) => {
                let cfg = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(response_timeout));
                Conn::Dedicated(
                    client
                        .get_multiplexed_async_connection_with_config(&cfg)
                        .await?,
                )
            }
            Self::Cluster { nodes, .. } => {
                let client = cluster_builder(nodes, connect_timeout)
                    .response_timeout(response_timeout)
                    .build()?;
                Conn::Cluster(client.get_async_connection().await?)
            }
        })
    }

    /// A subscriber connection. On a cluster every node delivers every
    /// `PUBLISH` (Redis forwards it over the cluster bus), so one node is
    /// enough: the first seed that answers.
    pub(crate) async fn pubsub(&self) -> Result<redis::aio::PubSub> {
        match self {
            Self::Standalone(client) => Ok(client.get_async_pubsub().await?),
            Self::Cluster { nodes, .. } => {
                let mut last = None;
                for node in nodes {
                    match Client::open(node.as_str())?.get_async_pubsub().await {
                        Ok(pubsub) => return Ok(pubsub),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.map_or(
                    Error::SubscriptionEnded("no cluster node answered"),
                    Error::from,
                ))
            }
        }
    }
}

fn cluster_builder(nodes: &[String], timeout: Duration) -> ClusterClientBuilder {
    ClusterClientBuilder::new(nodes.to_vec())
        .connection_timeout(timeout)
        .response_timeout(timeout)
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Standalone(conn) => conn.req_packed_command(cmd),
            Self::Dedicated(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Standalone(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Dedicated(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => {
                // A transaction must stay whole (and is single-slot by design).
                if pipeline.is_transaction() || offset != 0 {
                    conn.req_packed_commands(pipeline, offset, count)
                } else {
                    Box::pin(per_slot(conn.clone(), pipeline))
                }
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Standalone(conn) => conn.get_db(),
            Self::Dedicated(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// Sends `pipeline` as one sub-pipeline per slot, concurrently, and
/// returns the replies in the pipeline's order.
async fn per_slot(conn: ClusterConnection, pipeline: &Pipeline) -> redis::RedisResult<Vec<Value>> {
    let groups = split_by_slot(pipeline);
    if groups.len() <= 1 {
        return conn
            .clone()
            .req_packed_commands(pipeline, 0, pipeline.len())
            .await;
    }
    let replies = try_join_all(groups.iter().map(|(_, positions, part)| {
        let mut conn = conn.clone();
        async move {
            let values = conn.req_packed_commands(part, 0, part.len()).await?;
            Ok::<_, redis::RedisError>(positions.iter().copied().zip(values).collect::<Vec<_>>())
        }
    }))
    .await?;
    let mut ordered: Vec<Option<Value>> = vec![None; pipeline.len()];
    for (position, value) in replies.into_iter().flatten() {
        ordered[position] = Some(value);
    }
    Ok(ordered
        .into_iter()
        .map(|v| v.unwrap_or(Value::Nil))
        .collect())
}

/// The pipeline's commands grouped by slot, in order of first appearance:
/// `(slot, positions in the pipeline, sub-pipeline)`.
fn split_by_slot(pipeline: &Pipeline) -> Vec<(Option<u16>, Vec<usize>, Pipeline)> {
    let mut groups: Vec<(Option<u16>, Vec<usize>, Pipeline)> = Vec::new();
    let mut previous: Option<usize> = None;
    for (position, cmd) in pipeline.cmd_iter().enumerate() {
        let slot = key_of(cmd).map(|key| slot_of(hash_text(&key)));
        let group = match slot {
            None => previous,
            Some(_) => groups.iter().position(|(s, _, _)| *s == slot),
        };
        let group = group.unwrap_or_else(|| {
            groups.push((slot, Vec::new(), Pipeline::new()));
            groups.len() - 1
        });
        groups[group].1.push(position);
        groups[group].2.add_command(cmd.clone());
        previous = Some(group);
    }
    groups
}

/// The key a command routes by, for the commands Ferry pipelines; `None`
/// for a command without a key.
fn key_of(cmd: &Cmd) -> Option<String> {
    let args: Vec<&[u8]> = cmd
        .args_iter()
        .filter_map(|arg| match arg {
            Arg::Simple(bytes) => Some(bytes),
            _ => None,
        })
        .collect();
    let name = String::from_utf8_lossy(args.first()?).to_ascii_uppercase();
    let index = match name.as_str() {
        "WAIT" | "PING" => return None,
        "EVAL" | "EVALSHA" => 3,
        "XINFO" | "XGROUP" | "OBJECT" => 2,
        _ => 1,
    };
    args.get(index)
        .map(|key| String::from_utf8_lossy(key).into_owned())
}

/// The part of a key Redis hashes: the text of its first non-empty `{…}`.
fn hash_text(key: &str) -> &str {
    key.split_once('{')
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(tag, _)| tag)
        .filter(|tag| !tag.is_empty())
        .unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipeline_splits_per_slot_and_wait_follows_its_write() {
        let mut pipe = redis::pipe();
        pipe.xlen("f:{p0}:ready")
            .zcard("f:{p1}:delayed")
            .xlen("f:{p0}:delayed")
            .cmd("EVALSHA")
            .arg("abc")
            .arg(1)
            .arg("f:{p1}:msg")
            .cmd("WAIT")
            .arg(1)
            .arg(100)
            .cmd("XINFO")
            .arg("CONSUMERS")
            .arg("f:{p0}:ready")
            .arg("g");
        let groups = split_by_slot(&pipe);
        let positions: Vec<&Vec<usize>> = groups.iter().map(|(_, p, _)| p).collect();
        assert_eq!(positions, [&vec![0, 2, 5], &vec![1, 3, 4]]);
        assert_eq!(groups[0].0, Some(slot_of("p0")));
    }

    #[test]
    fn the_hash_text_is_the_first_non_empty_tag() {
        assert_eq!(hash_text("a:{p1}:b"), "p1");
        assert_eq!(hash_text("a:{}:b"), "a:{}:b");
        assert_eq!(hash_text("plain"), "plain");
    }
}

//! The Redis half of `ferry bench --baseline`: the same streams pipeline as
//! Ferry (append to a stream, read it with a consumer group, acknowledge in
//! batches) with none of Ferry's logic around it, so a benchmark can measure
//! what the machine itself allows and state Ferry's throughput as a fraction
//! of it.
//!
//! It lives here because this crate is the only one that speaks Redis. The
//! HTTP halves (the publish endpoint and the POSTs to the sink) belong to the
//! benchmark, which drives them with the very load generator and sink it
//! uses against Ferry.
//!
//! Every key sits under a namespace the caller chooses (unique per run):
//! `<namespace>:baseline` is a stream of entries `d=<body>` read through the
//! group `baseline`. [`remove_namespace`] deletes every key under a
//! namespace, which also cleans up after a benchmark's private Ferry.

use std::time::Duration;

use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamId, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, AsyncConnectionConfig, Client, Value};

use crate::Result;

#[cfg(test)]
mod tests;

/// The consumer group the baseline readers share.
const GROUP: &str = "baseline";
/// The stream field that holds a message body.
const BODY_FIELD: &str = "d";
/// Keys deleted per `UNLINK` while removing a namespace.
const UNLINK_BATCH: usize = 500;

/// The scratch stream of one baseline run.
#[derive(Clone)]
pub struct Scratch {
    client: Client,
    /// Shared by appends and acknowledgements; never used for blocking reads,
    /// which would stall every other command on it.
    conn: MultiplexedConnection,
    stream: String,
    command_timeout: Duration,
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client holds the URL, which may carry a password.
        f.debug_struct("Scratch")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

/// One stream entry handed to a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The stream entry id, which acknowledges it.
    pub id: String,
    pub body: Bytes,
}

/// A consumer of the scratch stream with a connection of its own, because
/// `XREADGROUP … BLOCK` holds its connection for the whole wait.
pub struct ScratchReader {
    conn: MultiplexedConnection,
    stream: String,
    consumer: String,
    block: Duration,
}

impl std::fmt::Debug for ScratchReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchReader")
            .field("stream", &self.stream)
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

impl Scratch {
    /// Connects to `url` and creates the stream `<namespace>:baseline` with
    /// its consumer group. `command_timeout` bounds every command that does
    /// not block.
    pub async fn create(url: &str, namespace: &str, command_timeout: Duration) -> Result<Self> {
        let client = Client::open(url)?;
        let conn = connect(&client, command_timeout, command_timeout).await?;
        let scratch = Self {
            client,
            conn,
            stream: format!("{namespace}:baseline"),
            command_timeout,
        };
        let () = scratch
            .conn
            .clone()
            .xgroup_create_mkstream(&scratch.stream, GROUP, "$")
            .await?;
        Ok(scratch)
    }

    /// Appends one body to the stream (`XADD`).
    pub async fn append(&self, body: &[u8]) -> Result<()> {
        let _id: String = self
            .conn
            .clone()
            .xadd(&self.stream, "*", &[(BODY_FIELD, body)])
            .await?;
        Ok(())
    }

    /// Acknowledges entries in one call (`XACK`); an empty list sends nothing.
    pub async fn ack(&self, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let _n_acked: u64 = self.conn.clone().xack(&self.stream, GROUP, ids).await?;
        Ok(())
    }

    /// A reader named `consumer` whose reads wait at most `block` for the
    /// first new entry.
    pub async fn reader(&self, consumer: &str, block: Duration) -> Result<ScratchReader> {
        let conn = connect(
            &self.client,
            self.command_timeout,
            block + self.command_timeout,
        )
        .await?;
        Ok(ScratchReader {
            conn,
            stream: self.stream.clone(),
            consumer: consumer.to_owned(),
            block,
        })
    }
}

impl ScratchReader {
    /// Up to `count` new entries (`XREADGROUP … COUNT <count> BLOCK …`);
    /// empty when none arrived within the block time.
    pub async fn read(&mut self, count: usize) -> Result<Vec<Entry>> {
        // `BLOCK 0` would wait forever, so a zero block is raised to 1 ms.
        let block_ms = usize::try_from(self.block.as_millis())
            .unwrap_or(usize::MAX)
            .max(1);
        let opts = StreamReadOptions::default()
            .group(GROUP, &self.consumer)
            .count(count)
            .block(block_ms);
        let reply: Option<StreamReadReply> = self
            .conn
            .xread_options(&[&self.stream], &[">"], &opts)
            .await?;
        Ok(reply
            .into_iter()
            .flat_map(|reply| reply.keys)
            .flat_map(|key| key.ids)
            .map(entry)
            .collect())
    }
}

/// Deletes every key whose name starts with `<namespace>:` on the server at
/// `url` and returns how many there were. On a cluster `SCAN` sees only the
/// node it is sent to, so call it for every node: a replica is skipped (its
/// primary's deletions reach it), and each key is unlinked by a command of
/// its own, as keys of different slots cannot share one.
pub async fn remove_namespace(
    url: &str,
    namespace: &str,
    command_timeout: Duration,
) -> Result<u64> {
    let client = Client::open(url)?;
    let mut conn = connect(&client, command_timeout, command_timeout).await?;
    let role: Vec<Value> = redis::cmd("ROLE").query_async(&mut conn).await?;
    if !matches!(role.first(), Some(Value::BulkString(r)) if r.as_slice() == b"master") {
        return Ok(0);
    }
    let pattern = format!("{}:*", escape_glob(namespace));
    let mut cursor: u64 = 0;
    let mut n_removed = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(UNLINK_BATCH)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.unlink(key);
            }
            let removed: Vec<u64> = pipe.query_async(&mut conn).await?;
            n_removed += removed.iter().sum::<u64>();
        }
        if next == 0 {
            return Ok(n_removed);
        }
        cursor = next;
    }
}

pub(crate) async fn connect(
    client: &Client,
    connect_timeout: Duration,
    response_timeout: Duration,
) -> Result<MultiplexedConnection> {
    let cfg = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(Some(response_timeout));
    Ok(client
        .get_multiplexed_async_connection_with_config(&cfg)
        .await?)
}

/// An entry whose body field is missing or not a string becomes an empty
/// body: the benchmark's sink counts it as unexpected, which is the right
/// verdict for data this module did not write.
fn entry(stream_id: StreamId) -> Entry {
    let body = match stream_id.map.get(BODY_FIELD) {
        Some(Value::BulkString(bytes)) => Bytes::copy_from_slice(bytes),
        _ => Bytes::new(),
    };
    Entry {
        id: stream_id.id,
        body,
    }
}

/// Escapes the characters `SCAN MATCH` treats as a pattern, so a namespace
/// only ever matches itself.
pub(crate) fn escape_glob(literal: &str) -> String {
    let mut escaped = String::with_capacity(literal.len());
    for c in literal.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

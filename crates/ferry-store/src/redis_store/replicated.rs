//! Publishes confirmed only once replicas hold them (`redis.wait_replicas`).
//!
//! Redis answers a write as soon as the primary has applied it and ships it
//! to replicas afterwards; a primary that dies in between takes the write
//! with it, even though the publisher got its 201. `WAIT <n> <timeout>`
//! blocks until `n` replicas have acknowledged every write made so far on
//! the connection it is sent on. So [`Replicated`] sends each command as a
//! two-command pipeline, the command then `WAIT`: on standalone Redis one
//! connection carries both, and on a cluster the pipeline goes to the node
//! of the command's slot (`connection` keeps a keyless command with the one
//! before it), so the `WAIT` always follows its own write on the same node
//! connection. Fewer than `n` acknowledgements within the timeout is an
//! error: the message may be stored, but it is not confirmed, so the
//! publisher must retry (a deduplication id makes the retry safe).

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::{Cmd, ErrorKind, Pipeline, RedisFuture, Value};

use super::timed::TimedConnection;

/// A connection that follows every script call with `WAIT`; other commands
/// (the `SCRIPT LOAD` after a `NOSCRIPT`, which a cluster sends to every
/// primary) pass through.
pub(crate) struct Replicated {
    pub(crate) inner: TimedConnection,
    pub(crate) replicas: u32,
    pub(crate) timeout: Duration,
}

impl Replicated {
    fn wait_millis(&self) -> u64 {
        // `WAIT … 0` would block forever; a zero timeout waits 1 ms.
        u64::try_from(self.timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

impl ConnectionLike for Replicated {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        if self.replicas == 0 || !is_script_call(cmd) {
            return self.inner.req_packed_command(cmd);
        }
        Box::pin(async move {
            let mut pipe = redis::pipe();
            pipe.add_command(cmd.clone())
                .cmd("WAIT")
                .arg(self.replicas)
                .arg(self.wait_millis());
            let mut replies = self
                .inner
                .req_packed_commands(&pipe, 0, 2)
                .await?
                .into_iter();
            let reply = replies.next().unwrap_or(Value::Nil).extract_error()?;
            let acknowledged = match replies.next().map(Value::extract_error).transpose()? {
                Some(Value::Int(n)) => n,
                other => {
                    return Err((
                        ErrorKind::Parse,
                        "unexpected WAIT reply",
                        format!("{other:?}"),
                    )
                        .into());
                }
            };
            if acknowledged < i64::from(self.replicas) {
                return Err((
                    ErrorKind::Io,
                    "write not confirmed by replicas",
                    format!(
                        "{acknowledged} of {} replicas acknowledged within {:?}",
                        self.replicas, self.timeout
                    ),
                )
                    .into());
            }
            Ok(reply)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.inner.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

fn is_script_call(cmd: &Cmd) -> bool {
    matches!(
        cmd.args_iter().next(),
        Some(redis::Arg::Simple(name)) if name.eq_ignore_ascii_case(b"EVALSHA") || name.eq_ignore_ascii_case(b"EVAL")
    )
}

//! The Redis side of deliverer leases (see the `leases` module): one key
//! per partition and consumer, renewed with `PEXPIRE`, never re-created.

use std::time::Duration;

use ferry_core::ids::Partition;
use redis::streams::{StreamClaimReply, StreamInfoConsumersReply, StreamPendingCountReply};

use super::RedisStore;
use crate::keys::GROUP;
use crate::{Claimed, Error, Result, scripts};

impl RedisStore {
    fn lease_keys(&self, consumer: &str) -> Vec<String> {
        (0..self.cfg.partitions)
            .map(|p| self.keys.lease(Partition(p), consumer))
            .collect()
    }

    pub(super) async fn acquire(&self, consumer: &str, ttl: Duration) -> Result<()> {
        let mut pipe = redis::pipe();
        for key in self.lease_keys(consumer) {
            pipe.cmd("SET")
                .arg(key)
                .arg(1)
                .arg("PX")
                .arg(Self::millis(ttl))
                .ignore();
        }
        pipe.query_async::<()>(&mut self.conn()).await?;
        Ok(())
    }

    pub(super) async fn renew(&self, consumer: &str, ttl: Duration) -> Result<bool> {
        let keys = self.lease_keys(consumer);
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.pexpire(key, i64::try_from(Self::millis(ttl)).unwrap_or(i64::MAX));
        }
        let renewed: Vec<bool> = pipe.query_async(&mut self.conn()).await?;
        if renewed.iter().all(|r| *r) {
            return Ok(true);
        }
        // Expired somewhere: the name is dead, so it must not stay alive in
        // the partitions where it happened to survive.
        self.release(consumer).await?;
        Ok(false)
    }

    pub(super) async fn release(&self, consumer: &str) -> Result<()> {
        let mut pipe = redis::pipe();
        for key in self.lease_keys(consumer) {
            pipe.del(key).ignore();
        }
        pipe.query_async::<()>(&mut self.conn()).await?;
        Ok(())
    }

    /// Claims the entries of every other consumer of the partition whose
    /// lease is gone, up to `count`, and removes such consumers once they
    /// hold nothing (so the names of restarted deliverers do not pile up).
    pub(super) async fn reclaim_dead(
        &self,
        partition: Partition,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Claimed>> {
        let ready = self.keys.ready(partition);
        let lease = self.keys.lease(partition, consumer);
        // The script checks this too, but only when there is a dead
        // consumer to claim from; a claimer without a lease is told always.
        let (alive, reply): (bool, StreamInfoConsumersReply) = redis::pipe()
            .exists(&lease)
            .xinfo_consumers(&ready, GROUP)
            .query_async(&mut self.conn())
            .await?;
        if !alive {
            return Err(Error::NoLease(consumer.to_owned()));
        }
        let mut claimed = Vec::new();
        for other in reply.consumers.iter().filter(|c| c.name != consumer) {
            if claimed.len() >= count {
                break;
            }
            let reply: StreamClaimReply = scripts::RECLAIM
                .key(&ready)
                .key(self.keys.lease(partition, &other.name))
                .key(&lease)
                .arg(GROUP)
                .arg(&other.name)
                .arg(consumer)
                .arg(count - claimed.len())
                .invoke_async(&mut self.conn())
                .await
                .map_err(|e| match e.code() {
                    Some("NOLEASE") => Error::NoLease(consumer.to_owned()),
                    _ => Error::Redis(e),
                })?;
            if !reply.ids.is_empty() {
                tracing::info!(dead_consumer = %other.name, n = reply.ids.len(), partition = %partition, "took over the entries of a deliverer whose lease expired");
            }
            claimed.extend(reply.ids);
        }
        self.claimed_from(claimed).await
    }

    /// The consumer's own entries pending for `min_idle` that `held` does
    /// not know, handed to it again with `XCLAIM` (which restarts their
    /// idle time and drops entries deleted meanwhile).
    pub(super) async fn recover<F>(
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
        let ready = self.keys.ready(partition);
        let mut lost = Vec::new();
        let mut start = "-".to_owned();
        // Long attempts stay pending and idle, so the list is paged past
        // them until enough lost entries were found or it ends.
        loop {
            let page: StreamPendingCountReply = redis::cmd("XPENDING")
                .arg(&ready)
                .arg(GROUP)
                .arg("IDLE")
                .arg(Self::millis(min_idle))
                .arg(&start)
                .arg("+")
                .arg(count)
                .arg(consumer)
                .query_async(&mut self.conn())
                .await?;
            let full = page.ids.len() == count;
            if let Some(last) = page.ids.last() {
                start = format!("({}", last.id);
            }
            lost.extend(
                page.ids
                    .into_iter()
                    .map(|p| p.id)
                    .filter(|id| !held(id))
                    .take(count - lost.len()),
            );
            if !full || lost.len() >= count {
                break;
            }
        }
        if lost.is_empty() {
            return Ok(Vec::new());
        }
        let mut claim = redis::cmd("XCLAIM");
        claim.arg(&ready).arg(GROUP).arg(consumer).arg(0).arg(&lost);
        let reply: StreamClaimReply = claim.query_async(&mut self.conn()).await?;
        self.claimed_from(reply.ids).await
    }
}

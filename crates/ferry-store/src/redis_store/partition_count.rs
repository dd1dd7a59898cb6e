//! The partition count an installation was started with, recorded in Redis
//! so that a process configured with another count refuses to start.
//!
//! Changing `redis.partitions` under a live installation is not safe: a
//! smaller count leaves the messages of the dropped partitions where no
//! deliverer reads them, and any change moves what is found by hashing over
//! the count (running workflow runs, deduplication ids) to another
//! partition, where it is not found. The first process to
//! start records its count with one set-if-absent; every later one compares.

use super::RedisStore;
use crate::{Error, Result};

impl RedisStore {
    /// Records the configured partition count if none is recorded yet, and
    /// refuses a count other than the recorded one.
    pub async fn claim_partition_count(&self) -> Result<()> {
        let key = self.keys.partition_count();
        let configured = self.cfg.partitions;
        // `SET … NX GET` answers the value already there, or nil when it
        // stored ours.
        let recorded: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(configured)
            .arg("NX")
            .arg("GET")
            .query_async(&mut self.conn())
            .await?;
        let Some(recorded) = recorded else {
            return Ok(());
        };
        match recorded.parse::<u16>() {
            Ok(recorded) if recorded == configured => Ok(()),
            Ok(recorded) => Err(Error::PartitionCountChanged {
                recorded,
                configured,
                key,
            }),
            Err(_) => Err(Error::Corrupt {
                key,
                reason: format!("partition count {recorded:?} is not a number"),
            }),
        }
    }
}

//! Deliverer leases in memory: a deadline per consumer on the Tokio clock,
//! with the same rules as in Redis (see the `leases` module): an expired
//! lease is never renewed, reclaim takes only the entries of consumers
//! without a lease, and recording requires one.

use std::collections::HashMap;
use std::time::Duration;

use ferry_core::ids::Partition;
use tokio::time::Instant;

use super::State;
use crate::Claimed;
use crate::memory::stream::Ack;

/// Each consumer's lease deadline.
#[derive(Debug, Default)]
pub(super) struct Leases {
    deadlines: HashMap<String, Instant>,
}

impl Leases {
    pub(super) fn alive(&self, consumer: &str, now: Instant) -> bool {
        self.deadlines.get(consumer).is_some_and(|d| *d > now)
    }
}

impl State {
    pub(in crate::memory) fn acquire_lease(&mut self, consumer: &str, ttl: Duration, now: Instant) {
        self.leases.deadlines.insert(consumer.to_owned(), now + ttl);
    }

    pub(in crate::memory) fn renew_lease(
        &mut self,
        consumer: &str,
        ttl: Duration,
        now: Instant,
    ) -> bool {
        if self.leases.alive(consumer, now) {
            self.leases.deadlines.insert(consumer.to_owned(), now + ttl);
            return true;
        }
        self.leases.deadlines.remove(consumer);
        false
    }

    pub(in crate::memory) fn release_lease(&mut self, consumer: &str) {
        self.leases.deadlines.remove(consumer);
    }

    /// Takes over for `consumer` the entries of consumers whose lease is
    /// gone; `None` when `consumer` holds no lease itself.
    pub(in crate::memory) fn reclaim(
        &mut self,
        partition: Partition,
        consumer: &str,
        count: usize,
        now: Instant,
        now_ms: u64,
    ) -> Option<Vec<Claimed>> {
        if !self.leases.alive(consumer, now) {
            return None;
        }
        let leases = &self.leases;
        let taken = self
            .partitions
            .entry(partition)
            .or_default()
            .ready
            .take_over(consumer, count, |other| !leases.alive(other, now), now);
        Some(self.claimed(taken, now_ms))
    }

    /// Hands `consumer` its own entries pending for `min_idle` that `held`
    /// does not know, at most `count`, as of `now` (`now_ms` on the wall
    /// clock, for the messages' expiry).
    pub(in crate::memory) fn recover_own(
        &mut self,
        partition: Partition,
        consumer: &str,
        (min_idle, count): (Duration, usize),
        held: impl Fn(&str) -> bool,
        (now, now_ms): (Instant, u64),
    ) -> Vec<Claimed> {
        let taken = self
            .partition(partition)
            .ready
            .recover(consumer, min_idle, count, held, now);
        self.claimed(taken, now_ms)
    }

    /// Acknowledges `entry` for `consumer` if it holds a lease and the entry.
    pub(super) fn ack_owned(
        &mut self,
        partition: Partition,
        entry: &str,
        consumer: &str,
        now: Instant,
    ) -> Ack {
        if !self.leases.alive(consumer, now) {
            return Ack::HeldByOther;
        }
        self.partition(partition).ready.ack_as(entry, consumer)
    }
}

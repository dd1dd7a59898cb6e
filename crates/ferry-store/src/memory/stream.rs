//! In-process stand-ins for the Redis streams the store uses: a partition's
//! ready stream with its consumer group (unread entries plus the
//! pending-entries list), a tenant's dead-letter stream and its event log.
//!
//! Entry ids keep the Redis form `<ms>-<seq>` and its rule that ids only
//! grow, so the dead-letter pager and every caller that stores an entry id
//! treat both backends alike.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use ferry_core::ids::MessageId;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::state::Event;
use crate::flows::FlowSlot;
use crate::paging::{EntryPos, Order, Start};

/// Hands out strictly increasing entry ids, like `XADD … *`: the given
/// millisecond when it is later than the last id's, otherwise the last id's
/// millisecond with the next sequence number.
#[derive(Debug, Default)]
pub(super) struct EntryClock {
    last: Option<EntryPos>,
}

impl EntryClock {
    pub(super) fn next(&mut self, now_ms: u64) -> EntryPos {
        let pos = match self.last {
            Some(last) if last.ms >= now_ms => EntryPos {
                ms: last.ms,
                seq: last.seq + 1,
            },
            _ => EntryPos { ms: now_ms, seq: 0 },
        };
        self.last = Some(pos);
        pos
    }
}

/// A ready entry: its message, and the flow-control slot it was admitted
/// with (the Redis entry's `f` field).
pub(super) type ReadyEntry = (MessageId, Option<FlowSlot>);

/// An entry handed to a consumer and not yet acknowledged.
#[derive(Debug)]
struct Pending {
    entry: ReadyEntry,
    consumer: String,
    /// When it was last delivered or claimed; its idle time starts here.
    since: Instant,
}

/// What a selection of pending entries gets to see of each.
#[derive(Debug, Clone, Copy)]
struct PendingView<'a> {
    pos: EntryPos,
    consumer: &'a str,
}

/// What acknowledging an entry on behalf of a consumer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ack {
    Done,
    /// Acknowledged already, or never handed out.
    NotPending,
    /// Another consumer holds it (it was reclaimed); left untouched.
    HeldByOther,
}

/// A partition's ready stream and its single consumer group.
#[derive(Debug, Default)]
pub(super) struct ReadyStream {
    clock: EntryClock,
    /// Entries no consumer has read yet, in stream order.
    unread: BTreeMap<EntryPos, ReadyEntry>,
    /// The pending-entries list: read, not yet acknowledged.
    pending: BTreeMap<EntryPos, Pending>,
    /// Woken on every append, so blocked readers look again.
    wakeup: Arc<Notify>,
}

impl ReadyStream {
    /// Entries in the stream, read or not (what `XLEN` counts).
    pub(super) fn len(&self) -> usize {
        self.unread.len() + self.pending.len()
    }

    /// Entries read and not yet acknowledged.
    pub(super) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The ids of every entry, read or not, in stream order (`XRANGE - +`).
    pub(super) fn ids(&self) -> Vec<MessageId> {
        let mut entries: Vec<(EntryPos, &MessageId)> = self
            .unread
            .iter()
            .map(|(pos, (id, _))| (*pos, id))
            .chain(self.pending.iter().map(|(pos, p)| (*pos, &p.entry.0)))
            .collect();
        entries.sort_by_key(|(pos, _)| *pos);
        entries.into_iter().map(|(_, id)| id.clone()).collect()
    }

    pub(super) fn wakeup(&self) -> Arc<Notify> {
        self.wakeup.clone()
    }

    pub(super) fn append(&mut self, id: MessageId, now_ms: u64) {
        self.append_entry((id, None), now_ms);
    }

    pub(super) fn append_entry(&mut self, entry: ReadyEntry, now_ms: u64) {
        let pos = self.clock.next(now_ms);
        self.unread.insert(pos, entry);
        self.wakeup.notify_waiters();
    }

    /// Hands up to `count` unread entries to `consumer` (`XREADGROUP … >`).
    pub(super) fn read_new(
        &mut self,
        consumer: &str,
        count: usize,
        now: Instant,
    ) -> Vec<(EntryPos, ReadyEntry)> {
        let mut taken = Vec::new();
        while taken.len() < count {
            let Some((pos, entry)) = self.unread.pop_first() else {
                break;
            };
            let pending = Pending {
                entry: entry.clone(),
                consumer: consumer.to_owned(),
                since: now,
            };
            self.pending.insert(pos, pending);
            taken.push((pos, entry));
        }
        taken
    }

    /// Gives `consumer` up to `count` pending entries of other consumers that
    /// `dead` says have lost their lease (the reclaim script's `XCLAIM`).
    pub(super) fn take_over(
        &mut self,
        consumer: &str,
        count: usize,
        dead: impl Fn(&str) -> bool,
        now: Instant,
    ) -> Vec<(EntryPos, ReadyEntry)> {
        self.hand_over(consumer, count, now, |p| {
            p.consumer != consumer && dead(p.consumer)
        })
    }

    /// Hands `consumer` again up to `count` of its own entries idle for at
    /// least `min_idle` whose rendered id `held` does not know.
    pub(super) fn recover(
        &mut self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
        held: impl Fn(&str) -> bool,
        now: Instant,
    ) -> Vec<(EntryPos, ReadyEntry)> {
        let mut lost = Vec::new();
        for (pos, pending) in &self.pending {
            let idle = now.saturating_duration_since(pending.since) >= min_idle;
            if lost.len() < count && pending.consumer == consumer && idle && !held(&pos.render()) {
                lost.push(*pos);
            }
        }
        self.hand_over(consumer, count, now, |p| lost.contains(&p.pos))
    }

    /// Gives `consumer` the first `count` pending entries that `take`
    /// selects, restarting their idle time.
    fn hand_over(
        &mut self,
        consumer: &str,
        count: usize,
        now: Instant,
        take: impl Fn(PendingView<'_>) -> bool,
    ) -> Vec<(EntryPos, ReadyEntry)> {
        self.pending
            .iter_mut()
            .filter(|(pos, p)| {
                take(PendingView {
                    pos: **pos,
                    consumer: &p.consumer,
                })
            })
            .take(count)
            .map(|(pos, pending)| {
                pending.consumer = consumer.to_owned();
                pending.since = now;
                (*pos, pending.entry.clone())
            })
            .collect()
    }

    /// Acknowledges and deletes `entry` if `consumer` holds it: the
    /// ownership check that keeps a paused deliverer whose entry was
    /// reclaimed from recording a second outcome.
    pub(super) fn ack_as(&mut self, entry: &str, consumer: &str) -> Ack {
        let Some(pos) = EntryPos::parse(entry) else {
            return Ack::NotPending;
        };
        match self.pending.get(&pos) {
            None => Ack::NotPending,
            Some(p) if p.consumer != consumer => Ack::HeldByOther,
            Some(_) => {
                self.pending.remove(&pos);
                Ack::Done
            }
        }
    }

    /// Acknowledges and deletes a pending entry (`XACK` then `XDEL`); false
    /// when it was not pending.
    pub(super) fn ack(&mut self, entry: &str) -> bool {
        EntryPos::parse(entry).is_some_and(|pos| self.pending.remove(&pos).is_some())
    }

    /// Removes an entry whether or not it was read (`XACK` plus `XDEL`).
    pub(super) fn discard(&mut self, entry: &str) {
        if let Some(pos) = EntryPos::parse(entry) {
            self.pending.remove(&pos);
            self.unread.remove(&pos);
        }
    }
}

/// One tenant's dead letters in one partition, ordered by time of death.
#[derive(Debug, Default)]
pub(super) struct DlqStream {
    clock: EntryClock,
    entries: BTreeMap<EntryPos, MessageId>,
}

impl DlqStream {
    /// Appends a dead letter and drops the entries older than `retention`
    /// (`XADD … MINID`); returns the new position and the dropped entries.
    pub(super) fn append(
        &mut self,
        id: MessageId,
        now_ms: u64,
        retention: Duration,
    ) -> (EntryPos, Vec<(EntryPos, MessageId)>) {
        let cutoff = now_ms.saturating_sub(millis(retention));
        let kept = self.entries.split_off(&EntryPos { ms: cutoff, seq: 0 });
        let dropped = std::mem::replace(&mut self.entries, kept);
        let pos = self.clock.next(now_ms);
        self.entries.insert(pos, id);
        (pos, dropped.into_iter().collect())
    }

    pub(super) fn remove(&mut self, pos: EntryPos) {
        self.entries.remove(&pos);
    }

    /// Entries held (`XLEN`).
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Up to `count` entries from `start` on, in `order`.
    pub(super) fn range(
        &self,
        order: Order,
        start: Option<Start>,
        count: usize,
    ) -> Vec<(EntryPos, MessageId)> {
        range_of(&self.entries, order, start, count)
    }
}

/// How much of a tenant's event log is kept.
#[derive(Debug, Clone, Copy)]
pub(super) struct LogRetention {
    /// Lines kept at most; 0 disables the log.
    pub(super) max_len: usize,
    /// Lines older than this before the newest one are dropped; 0 keeps
    /// lines of any age.
    pub(super) max_age_ms: u64,
}

/// One tenant's event log in one partition, bounded by length and age.
#[derive(Debug, Default)]
pub(super) struct EventLog {
    clock: EntryClock,
    lines: BTreeMap<EntryPos, Event>,
}

impl EventLog {
    /// Appends a line, dropping the oldest beyond the length (`XADD …
    /// MAXLEN`) and those older than the age before the new line (`XTRIM …
    /// MINID`).
    pub(super) fn push(&mut self, event: Event, now_ms: u64, retention: LogRetention) {
        let pos = self.clock.next(now_ms);
        self.lines.insert(pos, event);
        while self.lines.len() > retention.max_len {
            self.lines.pop_first();
        }
        if retention.max_age_ms > 0 {
            let cutoff = EntryPos {
                ms: pos.ms.saturating_sub(retention.max_age_ms),
                seq: 0,
            };
            self.lines = self.lines.split_off(&cutoff);
        }
    }

    pub(super) fn range(
        &self,
        order: Order,
        start: Option<Start>,
        count: usize,
    ) -> Vec<(EntryPos, Event)> {
        range_of(&self.lines, order, start, count)
    }
}

/// Up to `count` entries of `entries` from `start` on, in `order` (`XRANGE`
/// or `XREVRANGE` with an inclusive or exclusive bound).
fn range_of<T: Clone>(
    entries: &BTreeMap<EntryPos, T>,
    order: Order,
    start: Option<Start>,
    count: usize,
) -> Vec<(EntryPos, T)> {
    let bound = start.map_or(Bound::Unbounded, |s| {
        if s.inclusive {
            Bound::Included(s.at)
        } else {
            Bound::Excluded(s.at)
        }
    });
    let take = |range: &mut dyn Iterator<Item = (&EntryPos, &T)>| {
        range
            .take(count)
            .map(|(pos, item)| (*pos, item.clone()))
            .collect()
    };
    match order {
        Order::EarliestFirst => take(&mut entries.range((bound, Bound::Unbounded))),
        Order::LatestFirst => take(&mut entries.range((Bound::Unbounded, bound)).rev()),
    }
}

/// A duration in whole milliseconds, saturating (as the Redis backend sends it).
pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;

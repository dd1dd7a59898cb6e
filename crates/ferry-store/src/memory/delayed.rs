//! A partition's delayed messages ordered by due time: the in-process form
//! of the Redis sorted set, including its tie-break by member so both
//! backends promote equal-time messages in the same order.

use std::collections::{BTreeSet, HashMap};

use ferry_core::ids::MessageId;

#[derive(Debug, Default)]
pub(super) struct DelayedSet {
    by_due: BTreeSet<(u64, MessageId)>,
    due_of: HashMap<MessageId, u64>,
}

impl DelayedSet {
    pub(super) fn len(&self) -> usize {
        self.due_of.len()
    }

    /// Schedules `id` at `due_ms`, moving it if it was already scheduled (`ZADD`).
    pub(super) fn schedule(&mut self, id: MessageId, due_ms: u64) {
        self.remove(&id);
        self.by_due.insert((due_ms, id.clone()));
        self.due_of.insert(id, due_ms);
    }

    /// Unschedules `id` if it was scheduled (`ZREM`).
    pub(super) fn remove(&mut self, id: &MessageId) {
        if let Some(due) = self.due_of.remove(id) {
            self.by_due.remove(&(due, id.clone()));
        }
    }

    /// Removes and returns up to `batch` ids due at or before `now_ms`,
    /// earliest first.
    pub(super) fn take_due(&mut self, now_ms: u64, batch: usize) -> Vec<MessageId> {
        let mut due = Vec::new();
        while due.len() < batch {
            let Some(first) = self.by_due.first().filter(|(at, _)| *at <= now_ms) else {
                break;
            };
            let id = first.1.clone();
            self.remove(&id);
            due.push(id);
        }
        due
    }

    /// Every scheduled id, earliest first (`ZRANGE 0 -1`).
    pub(super) fn ids(&self) -> Vec<MessageId> {
        self.by_due.iter().map(|(_, id)| id.clone()).collect()
    }

    /// When the earliest remaining message is due.
    pub(super) fn next_due(&self) -> Option<u64> {
        self.by_due.first().map(|(at, _)| *at)
    }
}

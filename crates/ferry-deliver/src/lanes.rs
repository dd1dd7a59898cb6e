//! Per-destination lanes: attempts to one destination wait in memory for a
//! free slot instead of taking a detour through Redis.
//!
//! A lane belongs to one destination (scheme, host and port) and runs at
//! most `per_host` attempts at once. An entry that finds its lane full waits
//! in the lane's queue and starts the moment a slot frees, which is what a
//! busy but healthy destination (the usual case: one application receiving
//! everything) needs.
//!
//! Waiting in memory holds an entry of the deliverer's bounded budget
//! (`max_in_flight`), so a slow or hanging destination must not queue
//! without limit, or it would take the budget that every other destination
//! needs. Each lane therefore estimates how long a newcomer would wait: the
//! queue ahead of it, times the destination's latency, divided by the slots.
//! The latency is the larger of the recent attempts' average and the age of
//! the oldest attempt still running, so a destination that stopped answering
//! looks slow at once, before any attempt times out. An entry whose wait
//! would exceed `max_wait` goes back to Redis instead, due after the
//! estimated wait, so it returns about when a slot is free. The estimate can
//! be wrong when a destination stops answering just as a burst arrives, so
//! entries that have waited longer than `max_wait` all the same are handed
//! back too ([`Lanes::overdue`]): nothing waits in memory for long.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Weight of the newest attempt in a lane's average latency.
const LATENCY_WEIGHT: f64 = 0.2;
/// Above this many lanes, idle ones are forgotten (with what they learnt of
/// their destination's latency).
const PRUNE_ABOVE: usize = 4_096;
/// Bounds of the delay of an entry handed back to Redis.
const MIN_HAND_BACK: Duration = Duration::from_millis(250);
const MAX_HAND_BACK: Duration = Duration::from_secs(60);

/// What to do with an entry offered to its lane.
#[derive(Debug)]
pub(crate) enum Admission<J> {
    /// Run it now, holding this slot.
    Start(J, Slot),
    /// It waits in the lane; a finishing attempt will start it.
    Queued,
    /// The lane is full and slow: hand it back to Redis for this long.
    HandBack(J, Duration),
}

/// What lanes hold: anything that names its destination.
pub(crate) trait Destined {
    /// The destination's lane key: scheme, host and port.
    fn destination(&self) -> &str;
}

/// A running attempt's place in its lane; given back with [`Lanes::finish`].
#[derive(Debug)]
pub(crate) struct Slot {
    lane: Arc<str>,
    id: u64,
    started: Instant,
}

/// The lanes of every destination with attempts running or waiting.
#[derive(Debug)]
pub(crate) struct Lanes<J> {
    per_host: usize,
    max_wait: Duration,
    lanes: Mutex<HashMap<Arc<str>, Lane<J>>>,
}

#[derive(Debug)]
struct Lane<J> {
    /// Jobs waiting for a slot, with when each arrived, oldest first.
    waiting: VecDeque<(Instant, J)>,
    /// When each running attempt started, by slot id; ids grow, so the
    /// first is the oldest.
    running: BTreeMap<u64, Instant>,
    next_slot: u64,
    /// Moving average of finished attempts' durations, in seconds.
    average: Option<f64>,
}

impl<J> Default for Lane<J> {
    fn default() -> Self {
        Self {
            waiting: VecDeque::new(),
            running: BTreeMap::new(),
            next_slot: 0,
            average: None,
        }
    }
}

impl<J> Lane<J> {
    fn start(&mut self, key: &Arc<str>, now: Instant) -> Slot {
        let id = self.next_slot;
        self.next_slot += 1;
        self.running.insert(id, now);
        Slot {
            lane: key.clone(),
            id,
            started: now,
        }
    }

    /// How long a newcomer would wait for a slot, as estimated now.
    fn expected_wait(&self, per_host: usize, now: Instant) -> Duration {
        let oldest = self
            .running
            .values()
            .next()
            .map_or(0.0, |started| (now - *started).as_secs_f64());
        let latency = self.average.unwrap_or(0.0).max(oldest);
        let ahead = self.waiting.len() + 1;
        Duration::from_secs_f64(latency * ahead as f64 / per_host as f64)
    }

    fn note_latency(&mut self, took: Duration) {
        let took = took.as_secs_f64();
        self.average = Some(match self.average {
            Some(average) => average + LATENCY_WEIGHT * (took - average),
            None => took,
        });
    }

    fn is_idle(&self) -> bool {
        self.running.is_empty() && self.waiting.is_empty()
    }
}

impl<J: Destined> Lanes<J> {
    pub(crate) fn new(per_host: usize, max_wait: Duration) -> Self {
        Self {
            per_host,
            max_wait,
            lanes: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Lane<J>>> {
        // A poisoned lock only means a panic elsewhere; the map is intact.
        self.lanes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Offers `job` to its destination's lane.
    pub(crate) fn admit(&self, job: J) -> Admission<J> {
        let now = Instant::now();
        let mut lanes = self.lock();
        if lanes.len() > PRUNE_ABOVE {
            lanes.retain(|_, lane| !lane.is_idle());
        }
        // The key is allocated once per destination, not once per job.
        let key = match lanes.get_key_value(job.destination()) {
            Some((key, _)) => key.clone(),
            None => Arc::from(job.destination()),
        };
        let lane = lanes.entry(key.clone()).or_default();
        if lane.running.len() < self.per_host {
            let slot = lane.start(&key, now);
            return Admission::Start(job, slot);
        }
        let wait = lane.expected_wait(self.per_host, now);
        if wait <= self.max_wait {
            lane.waiting.push_back((now, job));
            return Admission::Queued;
        }
        Admission::HandBack(job, wait.clamp(MIN_HAND_BACK, MAX_HAND_BACK))
    }

    /// Gives `slot` back after its attempt, and hands out the lane's next
    /// waiting job with a fresh slot, if any.
    pub(crate) fn finish(&self, slot: Slot) -> Option<(J, Slot)> {
        let now = Instant::now();
        let mut lanes = self.lock();
        let lane = lanes.get_mut(&slot.lane)?;
        lane.running.remove(&slot.id);
        lane.note_latency(now - slot.started);
        let (_, job) = lane.waiting.pop_front()?;
        Some((job, lane.start(&slot.lane, now)))
    }

    /// Takes the jobs that have waited longer than `max_wait` (their lane
    /// proved slower than it looked when they arrived), each with how long
    /// it should stay away: the lane's expected wait, within bounds.
    pub(crate) fn overdue(&self) -> Vec<(J, Duration)> {
        let now = Instant::now();
        let mut overdue = Vec::new();
        for lane in self.lock().values_mut() {
            let wait = lane
                .expected_wait(self.per_host, now)
                .clamp(MIN_HAND_BACK, MAX_HAND_BACK);
            while lane
                .waiting
                .front()
                .is_some_and(|(since, _)| now - *since > self.max_wait)
            {
                if let Some((_, job)) = lane.waiting.pop_front() {
                    overdue.push((job, wait));
                }
            }
        }
        overdue
    }

    /// Takes every job still waiting in any lane (at shutdown).
    pub(crate) fn drain_waiting(&self) -> Vec<J> {
        let mut lanes = self.lock();
        lanes
            .values_mut()
            .flat_map(|l| l.waiting.drain(..).map(|(_, job)| job))
            .collect()
    }

    /// Jobs waiting for a slot, all lanes together.
    #[cfg(test)]
    pub(crate) fn n_waiting(&self) -> usize {
        self.lock().values().map(|l| l.waiting.len()).sum()
    }
}

#[cfg(test)]
mod tests;

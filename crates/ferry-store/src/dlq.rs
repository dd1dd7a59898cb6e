//! Paging through a tenant's dead letters across partitions.
//!
//! Each partition keeps its own dead-letter stream, ordered by stream entry
//! id (time of death). A page is a k-way merge of those streams in
//! `(entry id, partition)` order, filtered, and the cursor is the position
//! of the last entry looked at, so the next page resumes exactly after it
//! even when two partitions produced the same entry id. Work per page is
//! bounded: when filters reject many entries, a page may come back short
//! with a cursor to continue from.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::future::Future;

use ferry_core::ids::Partition;

use crate::{Result, StoredMessage};

/// At most this many entries are examined for one page.
const SCAN_LIMIT: usize = 5_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DlqOrder {
    #[default]
    EarliestFirst,
    LatestFirst,
}

/// Filters of `GET /v2/dlq`: a message matches when, for every filter that
/// has values, it matches at least one of them.
#[derive(Debug, Clone, Default)]
pub struct DlqFilter {
    pub message_id: Vec<String>,
    pub url: Vec<String>,
    pub label: Vec<String>,
    pub response_status: Vec<u16>,
    pub caller_ip: Vec<String>,
    /// Unix ms, inclusive bounds on the time of death.
    pub from_date: Option<u64>,
    pub to_date: Option<u64>,
    /// Filters on features this relay does not attach to messages yet
    /// (queue, URL group, schedule, flow-control key): any value given
    /// matches no message.
    pub unmatched: bool,
}

impl DlqFilter {
    pub fn matches(&self, m: &StoredMessage) -> bool {
        let dead_at = m.dead_at.unwrap_or(0);
        let status = m.last.as_ref().and_then(|l| l.status);
        !self.unmatched
            && any(&self.message_id, |v| v == m.id.as_str())
            && any(&self.url, |v| *v == m.spec.url)
            && any(&self.label, |v| m.spec.labels.contains(v))
            && any(&self.response_status, |v| Some(*v) == status)
            && any(&self.caller_ip, |v| Some(v) == m.spec.caller_ip.as_ref())
            && self.from_date.is_none_or(|from| dead_at >= from)
            && self.to_date.is_none_or(|to| dead_at <= to)
    }
}

fn any<T>(values: &[T], pred: impl Fn(&T) -> bool) -> bool {
    values.is_empty() || values.iter().any(pred)
}

#[derive(Debug, Clone, Default)]
pub struct DlqQuery {
    pub cursor: Option<String>,
    pub count: usize,
    pub order: DlqOrder,
    pub filter: DlqFilter,
}

#[derive(Debug, Clone, Default)]
pub struct DlqPage {
    pub messages: Vec<StoredMessage>,
    /// Absent when there is nothing more to read.
    pub cursor: Option<String>,
}

/// A stream entry id (`<ms>-<seq>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct EntryPos {
    pub(crate) ms: u64,
    pub(crate) seq: u64,
}

impl EntryPos {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let (ms, seq) = s.split_once('-')?;
        Some(Self {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    pub(crate) fn render(self) -> String {
        format!("{}-{}", self.ms, self.seq)
    }
}

/// Where to start reading a partition's stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Start {
    pub(crate) at: EntryPos,
    pub(crate) inclusive: bool,
}

/// One dead-letter stream entry and the message it names (`None` when the
/// message hash already expired).
pub(crate) type DlqEntry = (EntryPos, Option<StoredMessage>);

/// Reads a partition's dead-letter stream in the page's order.
pub(crate) trait DlqSource {
    fn fetch(
        &self,
        partition: Partition,
        order: DlqOrder,
        start: Option<Start>,
        count: usize,
    ) -> impl Future<Output = Result<Vec<DlqEntry>>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    at: EntryPos,
    partition: u16,
}

impl Cursor {
    fn parse(s: &str) -> Option<Self> {
        let (pos, partition) = s.rsplit_once('-')?;
        Some(Self {
            at: EntryPos::parse(pos)?,
            partition: partition.parse().ok()?,
        })
    }

    fn render(self) -> String {
        format!("{}-{}", self.at.render(), self.partition)
    }

    fn cmp_in(self, other: Self, order: DlqOrder) -> Ordering {
        let natural = (self.at, self.partition).cmp(&(other.at, other.partition));
        match order {
            DlqOrder::EarliestFirst => natural,
            DlqOrder::LatestFirst => natural.reverse(),
        }
    }
}

/// Whether `s` is a cursor this module produced.
pub fn valid_cursor(s: &str) -> bool {
    Cursor::parse(s).is_some()
}

struct Lane {
    partition: u16,
    buffered: VecDeque<DlqEntry>,
    next_start: Option<Start>,
    exhausted: bool,
}

pub(crate) async fn page<S: DlqSource>(
    source: &S,
    partitions: u16,
    query: &DlqQuery,
) -> Result<DlqPage> {
    let cursor = query.cursor.as_deref().and_then(Cursor::parse);
    let chunk = (query.count * 2).clamp(16, 500);
    let mut lanes: Vec<Lane> = (0..partitions)
        .map(|p| Lane {
            partition: p,
            buffered: VecDeque::new(),
            next_start: cursor.map(|c| first_start(c, p, query.order)),
            exhausted: false,
        })
        .collect();
    let mut out = DlqPage::default();
    let mut scanned = 0;
    loop {
        for lane in lanes.iter_mut() {
            refill(source, lane, query.order, chunk).await?;
        }
        let Some(idx) = best_lane(&lanes, query.order) else {
            // Every partition is exhausted: no cursor, this is the last page.
            return Ok(out);
        };
        let lane = &mut lanes[idx];
        // `best_lane` only returns lanes with a buffered entry.
        let Some((pos, message)) = lane.buffered.pop_front() else {
            return Ok(out);
        };
        let last = Cursor {
            at: pos,
            partition: lane.partition,
        };
        scanned += 1;
        if let Some(m) = message.filter(|m| query.filter.matches(m)) {
            out.messages.push(m);
        }
        if out.messages.len() >= query.count || scanned >= SCAN_LIMIT {
            out.cursor = more_after(&lanes).then(|| last.render());
            return Ok(out);
        }
    }
}

fn first_start(cursor: Cursor, partition: u16, order: DlqOrder) -> Start {
    // Entries equal to the cursor's position in a partition that comes later
    // in the merge order were not returned yet.
    let later = match order {
        DlqOrder::EarliestFirst => partition > cursor.partition,
        DlqOrder::LatestFirst => partition < cursor.partition,
    };
    Start {
        at: cursor.at,
        inclusive: later,
    }
}

async fn refill<S: DlqSource>(
    source: &S,
    lane: &mut Lane,
    order: DlqOrder,
    chunk: usize,
) -> Result<()> {
    if !lane.buffered.is_empty() || lane.exhausted {
        return Ok(());
    }
    let entries = source
        .fetch(Partition(lane.partition), order, lane.next_start, chunk)
        .await?;
    lane.exhausted = entries.len() < chunk;
    if let Some((pos, _)) = entries.last() {
        lane.next_start = Some(Start {
            at: *pos,
            inclusive: false,
        });
    }
    lane.buffered.extend(entries);
    Ok(())
}

fn best_lane(lanes: &[Lane], order: DlqOrder) -> Option<usize> {
    lanes
        .iter()
        .enumerate()
        .filter_map(|(idx, lane)| {
            let (pos, _) = lane.buffered.front()?;
            Some((
                idx,
                Cursor {
                    at: *pos,
                    partition: lane.partition,
                },
            ))
        })
        .min_by(|(_, a), (_, b)| a.cmp_in(*b, order))
        .map(|(idx, _)| idx)
}

fn more_after(lanes: &[Lane]) -> bool {
    lanes
        .iter()
        .any(|lane| !lane.buffered.is_empty() || !lane.exhausted)
}

#[cfg(test)]
mod tests;

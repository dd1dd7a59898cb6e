//! Paging through per-partition streams of a tenant (dead letters, the
//! event log) as if they were one.
//!
//! Each partition keeps its own stream, ordered by stream entry id (time).
//! A page is a k-way merge of those streams in `(entry id, partition)`
//! order, filtered, and the cursor is the position of the last entry looked
//! at, so the next page resumes exactly after it even when two partitions
//! produced the same entry id. Work per page is bounded: when filters reject
//! many entries, a page may come back short with a cursor to continue from.
//!
//! A cursor may also be a bare Unix time in ms, as the JS SDK's own example
//! passes it (`cursor: Date.now()`): the page then starts at that time,
//! inclusive, going back from it (newest first) or forward from it (oldest
//! first).

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::future::Future;

use ferry_core::ids::Partition;

use crate::Result;

/// At most this many entries are examined for one page.
const SCAN_LIMIT: usize = 5_000;

/// Which end of the streams a page starts from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    #[default]
    EarliestFirst,
    LatestFirst,
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

/// One stream entry and what it names (`None` when that is gone, e.g. a
/// dead letter whose message hash already expired).
pub(crate) type Entry<T> = (EntryPos, Option<T>);

/// Reads one partition's stream of a page's items, in the page's order.
pub(crate) trait Source {
    type Item;

    fn fetch(
        &self,
        partition: Partition,
        order: Order,
        start: Option<Start>,
        count: usize,
    ) -> impl Future<Output = Result<Vec<Entry<Self::Item>>>> + Send;
}

/// What one page asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageRequest<'a> {
    pub(crate) cursor: Option<&'a str>,
    pub(crate) count: usize,
    pub(crate) order: Order,
    /// Without a cursor, where reading may start (inclusive): a time bound
    /// of the filter, so a page need not scan entries the filter rejects.
    pub(crate) seek: Option<EntryPos>,
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

    fn cmp_in(self, other: Self, order: Order) -> Ordering {
        let natural = (self.at, self.partition).cmp(&(other.at, other.partition));
        match order {
            Order::EarliestFirst => natural,
            Order::LatestFirst => natural.reverse(),
        }
    }
}

/// Whether `s` is a cursor this module produced, or a time in Unix ms.
pub fn valid_cursor(s: &str) -> bool {
    Resume::parse(s).is_some()
}

/// Where a page starts, from its request's cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// Just after the last entry of the previous page.
    After(Cursor),
    /// At this Unix ms, inclusive.
    At(u64),
}

impl Resume {
    fn parse(s: &str) -> Option<Self> {
        Cursor::parse(s)
            .map(Self::After)
            .or_else(|| s.parse().ok().map(Self::At))
    }

    /// Where `partition`'s stream is read from, in `order`.
    fn start(self, partition: u16, order: Order) -> Start {
        match self {
            Self::After(cursor) => first_start(cursor, partition, order),
            Self::At(ms) => {
                // Every entry of that millisecond, whatever its sequence.
                let seq = match order {
                    Order::EarliestFirst => 0,
                    Order::LatestFirst => u64::MAX,
                };
                Start {
                    at: EntryPos { ms, seq },
                    inclusive: true,
                }
            }
        }
    }
}

struct Lane<T> {
    partition: u16,
    buffered: VecDeque<Entry<T>>,
    next_start: Option<Start>,
    exhausted: bool,
}

/// One page: up to `request.count` items that `keep` accepts, merged over
/// `partitions` in the requested order, and the cursor to continue from
/// (`None` at the end).
pub(crate) async fn page<S: Source>(
    source: &S,
    partitions: u16,
    request: PageRequest<'_>,
    keep: impl Fn(&S::Item) -> bool,
) -> Result<(Vec<S::Item>, Option<String>)> {
    let resume = request.cursor.and_then(Resume::parse);
    let chunk = (request.count * 2).clamp(16, 500);
    let mut lanes: Vec<Lane<S::Item>> = (0..partitions)
        .map(|p| Lane {
            partition: p,
            buffered: VecDeque::new(),
            next_start: resume
                .map(|r| r.start(p, request.order))
                .or(request.seek.map(|at| Start {
                    at,
                    inclusive: true,
                })),
            exhausted: false,
        })
        .collect();
    let mut items = Vec::new();
    let mut scanned = 0;
    loop {
        for lane in lanes.iter_mut() {
            refill(source, lane, request.order, chunk).await?;
        }
        let Some(idx) = best_lane(&lanes, request.order) else {
            // Every partition is exhausted: no cursor, this is the last page.
            return Ok((items, None));
        };
        let lane = &mut lanes[idx];
        // `best_lane` only returns lanes with a buffered entry.
        let Some((pos, item)) = lane.buffered.pop_front() else {
            return Ok((items, None));
        };
        let last = Cursor {
            at: pos,
            partition: lane.partition,
        };
        scanned += 1;
        if let Some(item) = item.filter(|item| keep(item)) {
            items.push(item);
        }
        if items.len() >= request.count || scanned >= SCAN_LIMIT {
            let cursor = more_after(&lanes).then(|| last.render());
            return Ok((items, cursor));
        }
    }
}

fn first_start(cursor: Cursor, partition: u16, order: Order) -> Start {
    // Entries equal to the cursor's position in a partition that comes later
    // in the merge order were not returned yet.
    let later = match order {
        Order::EarliestFirst => partition > cursor.partition,
        Order::LatestFirst => partition < cursor.partition,
    };
    Start {
        at: cursor.at,
        inclusive: later,
    }
}

async fn refill<S: Source>(
    source: &S,
    lane: &mut Lane<S::Item>,
    order: Order,
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

fn best_lane<T>(lanes: &[Lane<T>], order: Order) -> Option<usize> {
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

fn more_after<T>(lanes: &[Lane<T>]) -> bool {
    lanes
        .iter()
        .any(|lane| !lane.buffered.is_empty() || !lane.exhausted)
}

/// True when `values` is empty (no filter) or any value satisfies `pred`:
/// the semantics of a multi-valued query filter.
pub(crate) fn matches_any<T>(values: &[T], pred: impl Fn(&T) -> bool) -> bool {
    values.is_empty() || values.iter().any(pred)
}

#[cfg(test)]
mod tests;

//! What happened in the last hour, minute by minute: messages published,
//! delivered, retried and dead-lettered, counted from the tenant's event
//! log.
//!
//! The log is the one per-tenant record of every transition that every
//! gateway and deliverer writes, so counting it gives the same answer in
//! any process, with nothing added to the delivery path. Counting is
//! incremental: a tenant's first view reads the last hour, later views read
//! only lines from the last complete minute on, at most once per
//! [`REFRESH`]. One refresh reads at most [`MAX_LINES`] lines; when the
//! log grows faster, the counts say so (they are lower bounds) and the next
//! refresh continues where this one stopped. Lines the log has already
//! dropped (`retention.events_max_len`) are not counted.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use ferry_core::ids::TenantId;
use ferry_store::{EventFilter, EventQuery, EventState, Order, Store};

const MINUTE_MS: u64 = 60_000;
/// Minutes shown.
pub(crate) const MINUTES: usize = 60;
/// A view sooner than this after the last refresh reuses its counts.
const REFRESH_MS: u64 = 10_000;
/// Lines one refresh reads at most.
const MAX_LINES: usize = 20_000;
/// Lines read per store call.
const PAGE: usize = 1_000;
/// Lines this much younger than the newest one may still be being written
/// by a script that started earlier; their minute is counted again.
const SETTLE_MS: u64 = 5_000;

/// Counts of one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) published: u64,
    pub(crate) delivered: u64,
    pub(crate) retried: u64,
    pub(crate) dead: u64,
}

impl Counts {
    fn add(&mut self, state: EventState) {
        match state {
            EventState::Created => self.published += 1,
            EventState::Delivered => self.delivered += 1,
            EventState::Retry => self.retried += 1,
            EventState::Failed => self.dead += 1,
            EventState::Error | EventState::Canceled => {}
        }
    }
}

/// The last hour of one tenant.
#[derive(Debug, Clone)]
pub(crate) struct Hour {
    /// Start of the first minute, Unix ms.
    pub(crate) start_ms: u64,
    /// [`MINUTES`] minutes, oldest first.
    pub(crate) minutes: Vec<Counts>,
    /// The log grew faster than one refresh reads: counts are lower bounds.
    pub(crate) partial: bool,
}

#[derive(Debug, Clone, Default)]
struct Counted {
    minutes: BTreeMap<u64, Counts>,
    /// Every line before this minute start has been counted.
    counted_until: u64,
    refreshed_at: u64,
    partial: bool,
}

/// The counts of every tenant viewed so far.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    tenants: Mutex<HashMap<TenantId, Counted>>,
}

fn minute_of(ms: u64) -> u64 {
    ms - ms % MINUTE_MS
}

impl Activity {
    /// The tenant's last hour as of `now_ms`, reading the log if the counts
    /// are older than [`REFRESH_MS`].
    pub(crate) async fn last_hour<S: Store>(
        &self,
        store: &S,
        tenant: &TenantId,
        now_ms: u64,
    ) -> ferry_store::Result<Hour> {
        let start_ms = minute_of(now_ms) - (MINUTES as u64 - 1) * MINUTE_MS;
        let cached = self.cached(tenant);
        let counted = match cached {
            Some(c) if now_ms.saturating_sub(c.refreshed_at) < REFRESH_MS => c,
            other => {
                let refreshed =
                    refresh(store, tenant, other.unwrap_or_default(), start_ms, now_ms).await?;
                self.tenants
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(tenant.clone(), refreshed.clone());
                refreshed
            }
        };
        let minutes = (0..MINUTES as u64)
            .map(|i| {
                let minute = start_ms + i * MINUTE_MS;
                counted.minutes.get(&minute).copied().unwrap_or_default()
            })
            .collect();
        Ok(Hour {
            start_ms,
            minutes,
            partial: counted.partial,
        })
    }

    fn cached(&self, tenant: &TenantId) -> Option<Counted> {
        self.tenants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .cloned()
    }
}

/// Counts the lines from the last complete minute on (or the whole hour
/// from `start_ms`), up to [`MAX_LINES`].
async fn refresh<S: Store>(
    store: &S,
    tenant: &TenantId,
    mut counted: Counted,
    start_ms: u64,
    now_ms: u64,
) -> ferry_store::Result<Counted> {
    let from = counted.counted_until.max(start_ms);
    // Minutes from `from` on are counted again from scratch.
    counted
        .minutes
        .retain(|minute, _| *minute >= start_ms && *minute < from);
    let mut query = EventQuery {
        cursor: None,
        count: PAGE,
        order: Order::EarliestFirst,
        filter: EventFilter {
            from_date: Some(from),
            ..EventFilter::default()
        },
    };
    let mut read = 0;
    let mut last_time = from;
    loop {
        let page = store.events_page(tenant, &query).await?;
        for line in &page.events {
            counted
                .minutes
                .entry(minute_of(line.time))
                .or_default()
                .add(line.state);
            last_time = last_time.max(line.time);
        }
        read += page.events.len();
        match page.cursor {
            Some(cursor) if read < MAX_LINES => query.cursor = Some(cursor),
            Some(_) => {
                counted.partial = true;
                counted.counted_until = minute_of(last_time);
                break;
            }
            None => {
                counted.partial = false;
                counted.counted_until = minute_of(now_ms.saturating_sub(SETTLE_MS));
                break;
            }
        }
    }
    counted.refreshed_at = now_ms;
    Ok(counted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_count_as_the_chart_names_them() {
        let mut counts = Counts::default();
        for state in EventState::ALL {
            counts.add(state);
        }
        assert_eq!(
            counts,
            Counts {
                published: 1,
                delivered: 1,
                retried: 1,
                dead: 1
            }
        );
    }
}

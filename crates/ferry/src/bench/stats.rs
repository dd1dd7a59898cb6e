//! The arithmetic of a benchmark report: latency percentiles, rates, and the
//! set-based count of lost and duplicated messages.
//!
//! Loss is counted per message, as sets, never by comparing counters: a
//! message is lost when its publish was accepted and its sequence number
//! never reached the sink; every arrival after the first is a duplicate.
//! Counters can balance out (one loss hidden by one duplicate); sets cannot.

use serde::Serialize;

#[cfg(test)]
mod tests;

/// Latency percentiles in milliseconds (nearest-rank, so every value is an
/// observed sample).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(super) struct Percentiles {
    pub(super) p50: f64,
    pub(super) p90: f64,
    pub(super) p99: f64,
    pub(super) max: f64,
}

/// The percentiles of `samples_us` (microseconds), which it sorts; `None`
/// when there are no samples.
pub(super) fn percentiles(samples_us: &mut [u64]) -> Option<Percentiles> {
    samples_us.sort_unstable();
    let max = *samples_us.last()?;
    let ms = |us: u64| us as f64 / 1000.0;
    Some(Percentiles {
        p50: ms(nearest_rank(samples_us, 50)),
        p90: ms(nearest_rank(samples_us, 90)),
        p99: ms(nearest_rank(samples_us, 99)),
        max: ms(max),
    })
}

/// The smallest sample at or above `percent` of the sorted, non-empty
/// `sorted`.
fn nearest_rank(sorted: &[u64], percent: usize) -> u64 {
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// Events per second over `elapsed_us`; `None` for an empty interval.
pub(super) fn rate(n: u64, elapsed_us: u64) -> Option<f64> {
    (elapsed_us > 0).then(|| n as f64 * 1e6 / elapsed_us as f64)
}

/// What happened to the published messages, counted as sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Accounting {
    /// Sequence numbers that arrived at least once.
    pub(super) delivered_unique: u64,
    /// Accepted, never arrived.
    pub(super) lost: u64,
    /// Arrivals beyond the first of their sequence number.
    pub(super) duplicates: u64,
    /// Arrived although the publish was not acknowledged (it failed or timed
    /// out after the relay stored it): not a loss, not an error.
    pub(super) recovered: u64,
}

/// Counts `accepted` sequence numbers against `arrivals`, where
/// `arrivals[seq]` is how many times `seq` reached the sink (sequence
/// numbers beyond its end never arrived).
pub(super) fn account(accepted: &[u64], arrivals: &[u32]) -> Accounting {
    let arrived = |seq: u64| {
        usize::try_from(seq)
            .ok()
            .and_then(|idx| arrivals.get(idx))
            .is_some_and(|&n| n > 0)
    };
    let lost = accepted.iter().filter(|&&seq| !arrived(seq)).count() as u64;
    let delivered_unique = arrivals.iter().filter(|&&n| n > 0).count() as u64;
    let duplicates = arrivals
        .iter()
        .map(|&n| u64::from(n.saturating_sub(1)))
        .sum();
    let delivered_and_accepted = accepted.len() as u64 - lost;
    Accounting {
        delivered_unique,
        lost,
        duplicates,
        recovered: delivered_unique - delivered_and_accepted,
    }
}

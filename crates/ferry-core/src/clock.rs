//! Wall-clock time as the Unix milliseconds Ferry stores. Due times and
//! timestamps are shared between processes through the store, so they must
//! be wall-clock, not monotonic; this is the one conversion all crates use.
//! It reads no clock itself: callers pass `SystemTime::now()`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix milliseconds of `at`; a time before 1970 counts as 0 and one past
/// `u64::MAX` ms saturates, so no caller has to handle an error.
pub fn unix_ms(at: SystemTime) -> u64 {
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn converts_saturating_at_both_ends() {
        assert_eq!(unix_ms(UNIX_EPOCH + Duration::from_millis(1_234)), 1_234);
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}

//! Cron patterns of schedules (`Upstash-Cron`): parsing with QStash's rules
//! and finding the next time a schedule fires.
//!
//! A pattern has five fields (minute resolution), optionally preceded by
//! `CRON_TZ=<IANA zone> `; without it the pattern is read in UTC. Trailing
//! whitespace is trimmed, as QStash stores `"*/10 * * * * "` as
//! `"*/10 * * * *"`. A sixth, leading seconds field is accepted only when
//! the caller allows it (a testing aid; stored patterns are read with
//! seconds optional so they keep working whatever the gateway allowed).

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;
use jiff::tz::TimeZone;

const TZ_PREFIX: &str = "CRON_TZ=";

/// Longest pattern accepted, in bytes, zone prefix included: room for any
/// real pattern and zone name, while a refusal (which quotes the pattern)
/// and the stored schedule stay small.
pub const MAX_CRON_BYTES: usize = 256;

/// Why a cron pattern is refused; the text goes to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// No pattern at all (QStash's exact wording).
    #[error("Invalid cron expression empty spec string")]
    Empty,
    /// Longer than [`MAX_CRON_BYTES`].
    #[error("Invalid cron expression: {0} bytes long, the limit is {MAX_CRON_BYTES}")]
    TooLong(usize),
    /// The `CRON_TZ=` zone is not a known IANA time zone.
    #[error("Invalid cron expression: unknown time zone {0:?}")]
    UnknownZone(String),
    /// The fields do not form a valid pattern.
    #[error("Invalid cron expression {pattern:?}: {reason}")]
    Invalid { pattern: String, reason: String },
    /// The pattern is valid but never matches (e.g. February 31st).
    #[error("Invalid cron expression {0:?}: it never fires")]
    NeverFires(String),
}

/// A parsed cron pattern with its time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    text: String,
    cron: Cron,
    zone: TimeZone,
}

impl CronSchedule {
    /// Parses `expr`; `allow_seconds` also accepts a leading seconds field.
    pub fn parse(expr: &str, allow_seconds: bool) -> Result<Self, CronError> {
        let text = expr.trim_end();
        if text.trim().is_empty() {
            return Err(CronError::Empty);
        }
        if text.len() > MAX_CRON_BYTES {
            return Err(CronError::TooLong(text.len()));
        }
        let (zone, pattern) = split_zone(text)?;
        let invalid = |reason: String| CronError::Invalid {
            pattern: text.to_owned(),
            reason,
        };
        if pattern.trim().is_empty() {
            return Err(invalid("no fields after the time zone".into()));
        }
        let seconds = if allow_seconds {
            Seconds::Optional
        } else {
            Seconds::Disallowed
        };
        let cron = CronParser::builder()
            .seconds(seconds)
            .year(Year::Disallowed)
            .build()
            .parse(pattern)
            .map_err(|e| invalid(e.to_string()))?;
        let schedule = Self {
            text: text.to_owned(),
            cron,
            zone,
        };
        // A pattern that matches some time matches one after the epoch too,
        // so searching from there keeps this a pure function.
        if schedule.next_after(0).is_none() {
            return Err(CronError::NeverFires(text.to_owned()));
        }
        Ok(schedule)
    }

    /// The first time strictly after `unix_ms` at which the pattern fires,
    /// in Unix ms; `None` when it never fires again.
    pub fn next_after(&self, unix_ms: u64) -> Option<u64> {
        let ms = i64::try_from(unix_ms).ok()?;
        let start = Timestamp::from_millisecond(ms)
            .ok()?
            .to_zoned(self.zone.clone());
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        u64::try_from(next.timestamp().as_millisecond()).ok()
    }

    /// The pattern as given, trailing whitespace trimmed.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Splits off an optional `CRON_TZ=<zone> ` prefix; UTC without one.
fn split_zone(text: &str) -> Result<(TimeZone, &str), CronError> {
    let Some(rest) = text.trim_start().strip_prefix(TZ_PREFIX) else {
        return Ok((TimeZone::UTC, text));
    };
    let (name, pattern) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let zone = jiff::tz::db()
        .get(name)
        .map_err(|_| CronError::UnknownZone(name.to_owned()))?;
    Ok((zone, pattern))
}

#[cfg(test)]
mod tests;

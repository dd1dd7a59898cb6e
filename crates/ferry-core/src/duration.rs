//! Duration strings as they appear on the wire, in two dialects.
//!
//! Publishers write QStash durations (`Upstash-Delay`, `Upstash-Timeout` and
//! the flow-control `period`): whole numbers with the units `d`, `h`, `m`,
//! `s` or `ms`, combinable as in `1d10h30m`. A rejected value becomes an
//! error response, so [`DurationError`] says what was wrong in words a user
//! can act on.
//!
//! Destinations answer with `Retry-After` and `X-RateLimit-Reset*` headers,
//! which come as whole seconds, HTTP dates or Go-style durations (`6m5s`,
//! `1.5s`). Those are hints, not commands: [`parse_retry_after`] returns
//! `None` for anything it cannot read so the caller falls back to its own
//! backoff. Neither parser caps the result; limits belong to the caller.

use std::time::{Duration, SystemTime};

#[cfg(test)]
mod tests;

/// Parses a QStash duration such as `90s`, `5m`, `1d10h30m` or `250ms`.
///
/// A bare whole number means seconds, because both SDKs and hand-written
/// `curl` calls send plain numbers now and then. Surrounding whitespace is
/// ignored. Units may come in any order but each at most once.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let input = s.trim();
    parse_trimmed(input).map_err(|kind| DurationError {
        input: input.to_owned(),
        kind,
    })
}

/// A duration string that could not be parsed, with the offending input so
/// the message makes sense on its own in an API error response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {kind}")]
pub struct DurationError {
    input: String,
    kind: DurationErrorKind,
}

impl DurationError {
    /// The rejected value, with surrounding whitespace trimmed.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What was wrong with it.
    pub fn kind(&self) -> &DurationErrorKind {
        &self.kind
    }
}

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationErrorKind {
    #[error("the value is empty (use e.g. 30s, 5m or 1h30m)")]
    Empty,
    /// The unit as written, e.g. `x` in `10x`.
    #[error("unknown unit {0:?} (use d, h, m, s or ms)")]
    UnknownUnit(String),
    /// A number with no unit after it in a combined value, e.g. `30` in `5m30`.
    #[error("{0} has no unit (use d, h, m, s or ms)")]
    MissingUnit(String),
    /// A unit with no number before it, e.g. `h` in `h30m`.
    #[error("unit {0:?} has no number before it")]
    MissingNumber(String),
    /// A number with a fraction or stray dots, e.g. `1.5`.
    #[error("{0:?} is not a whole number (use a smaller unit, e.g. 1500ms instead of 1.5s)")]
    NotWhole(String),
    /// A unit used twice, e.g. `m` in `1m1m`.
    #[error("unit {0:?} appears more than once")]
    RepeatedUnit(String),
    #[error("negative durations are not allowed")]
    Negative,
    /// A character that belongs to no number or unit; `position` is a byte
    /// offset into the trimmed input.
    #[error(
        "unexpected {found:?} at byte {position} (write a number followed by a unit, e.g. 1h30m)"
    )]
    UnexpectedChar { position: usize, found: char },
    #[error("the value is too large")]
    Overflow,
}

/// Reads a `Retry-After` or `X-RateLimit-Reset*` value as the time to wait
/// from `now_unix_ms`.
///
/// Accepts whole seconds (`120`), an HTTP date (IMF-fixdate such as
/// `Tue, 14 Nov 2023 22:13:50 GMT`, or the obsolete RFC 850 and asctime
/// forms; a date in the past means no wait) and a Go-style duration (`6m5s`,
/// `1.5s`, `250ms`; units `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`). Returns
/// `None` for anything else, including values too large for a [`Duration`].
pub fn parse_retry_after(value: &str, now_unix_ms: u64) -> Option<Duration> {
    let value = value.trim();
    if is_whole_number(value) {
        return value.parse().ok().map(Duration::from_secs);
    }
    parse_go_duration(value).or_else(|| time_until_http_date(value, now_unix_ms))
}

/// The units of a QStash duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Day,
    Hour,
    Minute,
    Second,
    Milli,
}

impl Unit {
    fn from_symbol(symbol: &str) -> Option<Self> {
        match symbol {
            "d" => Some(Self::Day),
            "h" => Some(Self::Hour),
            "m" => Some(Self::Minute),
            "s" => Some(Self::Second),
            "ms" => Some(Self::Milli),
            _ => None,
        }
    }

    fn millis(self) -> u64 {
        match self {
            Self::Day => 86_400_000,
            Self::Hour => 3_600_000,
            Self::Minute => 60_000,
            Self::Second => 1_000,
            Self::Milli => 1,
        }
    }

    /// A distinct bit per unit, to remember which units were already used.
    fn bit(self) -> u8 {
        1 << self as u8
    }
}

fn parse_trimmed(input: &str) -> Result<Duration, DurationErrorKind> {
    if input.is_empty() {
        return Err(DurationErrorKind::Empty);
    }
    if is_whole_number(input) {
        let seconds = whole_number(input)?;
        let millis = seconds
            .checked_mul(Unit::Second.millis())
            .ok_or(DurationErrorKind::Overflow)?;
        return Ok(Duration::from_millis(millis));
    }
    let mut seen_units = 0u8;
    let mut total_millis = 0u64;
    for group in Groups::new(input) {
        let group = group.map_err(stray_error)?;
        let (count, unit) = parse_qstash_group(&group)?;
        if seen_units & unit.bit() != 0 {
            return Err(DurationErrorKind::RepeatedUnit(group.unit.to_owned()));
        }
        seen_units |= unit.bit();
        total_millis = count
            .checked_mul(unit.millis())
            .and_then(|millis| total_millis.checked_add(millis))
            .ok_or(DurationErrorKind::Overflow)?;
    }
    Ok(Duration::from_millis(total_millis))
}

/// A minus sign gets its own message because "negative" is what the user
/// meant, not a typo.
fn stray_error(stray: Stray) -> DurationErrorKind {
    if stray.found == '-' {
        DurationErrorKind::Negative
    } else {
        DurationErrorKind::UnexpectedChar {
            position: stray.position,
            found: stray.found,
        }
    }
}

fn parse_qstash_group(group: &Group<'_>) -> Result<(u64, Unit), DurationErrorKind> {
    if group.number.is_empty() {
        return Err(DurationErrorKind::MissingNumber(group.unit.to_owned()));
    }
    let count = whole_number(group.number)?;
    if group.unit.is_empty() {
        return Err(DurationErrorKind::MissingUnit(group.number.to_owned()));
    }
    let unit = Unit::from_symbol(group.unit)
        .ok_or_else(|| DurationErrorKind::UnknownUnit(group.unit.to_owned()))?;
    Ok((count, unit))
}

/// Reads a run of digits and dots as a whole number.
fn whole_number(number: &str) -> Result<u64, DurationErrorKind> {
    if !is_whole_number(number) {
        return Err(DurationErrorKind::NotWhole(number.to_owned()));
    }
    // Only digits are left, so the sole way to fail is a value above u64.
    number.parse().map_err(|_| DurationErrorKind::Overflow)
}

fn is_whole_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Reads a Go `time.ParseDuration` string without a sign other than `+`.
/// Units may repeat and their values add up, as in Go.
fn parse_go_duration(value: &str) -> Option<Duration> {
    let body = value.strip_prefix('+').unwrap_or(value);
    if body.is_empty() {
        return None;
    }
    let mut total_nanos = 0u128;
    for group in Groups::new(body) {
        let group = group.ok()?;
        let nanos = decimal_times(group.number, go_unit_nanos(group.unit)?)?;
        total_nanos = total_nanos.checked_add(nanos)?;
    }
    duration_from_nanos(total_nanos)
}

fn go_unit_nanos(unit: &str) -> Option<u128> {
    match unit {
        "ns" => Some(1),
        // Go accepts both the micro sign (U+00B5) and the Greek mu (U+03BC).
        "us" | "\u{b5}s" | "\u{3bc}s" => Some(1_000),
        "ms" => Some(1_000_000),
        "s" => Some(1_000_000_000),
        "m" => Some(60_000_000_000),
        "h" => Some(3_600_000_000_000),
        _ => None,
    }
}

/// Multiplies a decimal such as `1.5` or `.25` by `unit_nanos` in integer
/// arithmetic, so `0.1s` is exactly 100 ms rather than a rounded float.
fn decimal_times(number: &str, unit_nanos: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let whole_nanos = digits_value(whole)?.checked_mul(unit_nanos)?;
    // Even for hours, digits past the 18th are below one nanosecond; dropping
    // them keeps `fraction * unit_nanos` far inside u128.
    let fraction = &fraction[..fraction.len().min(18)];
    let scale = 10u128.pow(u32::try_from(fraction.len()).ok()?);
    let fraction_nanos = digits_value(fraction)? * unit_nanos / scale;
    whole_nanos.checked_add(fraction_nanos)
}

/// The value of a run of ASCII digits, where an empty run is zero. Rejects
/// anything else, including a second dot left in a fraction.
fn digits_value(digits: &str) -> Option<u128> {
    if digits.is_empty() {
        return Some(0);
    }
    if !is_whole_number(digits) {
        return None;
    }
    digits.parse().ok()
}

fn duration_from_nanos(nanos: u128) -> Option<Duration> {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let seconds = u64::try_from(nanos / NANOS_PER_SEC).ok()?;
    let subsec_nanos = u32::try_from(nanos % NANOS_PER_SEC).ok()?;
    Some(Duration::new(seconds, subsec_nanos))
}

/// Compares durations since the epoch rather than `SystemTime`s, because
/// adding a large `now_unix_ms` to a `SystemTime` can overflow and panic on
/// some platforms.
fn time_until_http_date(value: &str, now_unix_ms: u64) -> Option<Duration> {
    let date = httpdate::parse_http_date(value).ok()?;
    // `httpdate` only yields dates from 1970 on; should one ever precede the
    // epoch, it is in the past and means no wait, like any past date.
    let date_since_epoch = date
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    Some(date_since_epoch.saturating_sub(Duration::from_millis(now_unix_ms)))
}

/// One `<number><unit>` group of a duration string, e.g. `10` and `m` in
/// `1h10m`. Either part may be empty; each parser decides what that means.
struct Group<'a> {
    number: &'a str,
    unit: &'a str,
}

/// A character that can start neither a number nor a unit; `position` is its
/// byte offset.
struct Stray {
    position: usize,
    found: char,
}

/// Splits a duration string into groups: a run of digits and dots, then a run
/// of letters. Both dialects share this split and differ only in how they
/// read each group. Stops after the first stray character.
struct Groups<'a> {
    rest: &'a str,
    position: usize,
}

impl<'a> Groups<'a> {
    fn new(input: &'a str) -> Self {
        Self {
            rest: input,
            position: 0,
        }
    }
}

impl<'a> Iterator for Groups<'a> {
    type Item = Result<Group<'a>, Stray>;

    fn next(&mut self) -> Option<Self::Item> {
        let first = self.rest.chars().next()?;
        let number_len = leading_run(self.rest, |c| c.is_ascii_digit() || c == '.');
        let after_number = &self.rest[number_len..];
        let unit_len = leading_run(after_number, char::is_alphabetic);
        if number_len + unit_len == 0 {
            self.rest = "";
            return Some(Err(Stray {
                position: self.position,
                found: first,
            }));
        }
        let group = Group {
            number: &self.rest[..number_len],
            unit: &after_number[..unit_len],
        };
        self.rest = &after_number[unit_len..];
        self.position += number_len + unit_len;
        Some(Ok(group))
    }
}

/// The byte length of the longest prefix of `s` whose characters all match.
fn leading_run(s: &str, matches: impl Fn(char) -> bool) -> usize {
    s.find(|c: char| !matches(c)).unwrap_or(s.len())
}

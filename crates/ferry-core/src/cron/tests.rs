use jiff::Timestamp;

use super::*;

fn ms(rfc3339: &str) -> u64 {
    let t: Timestamp = rfc3339.parse().unwrap();
    u64::try_from(t.as_millisecond()).unwrap()
}

fn rendered(unix_ms: u64) -> String {
    Timestamp::from_millisecond(i64::try_from(unix_ms).unwrap())
        .unwrap()
        .to_string()
}

/// The next firing after `from`, as an RFC 3339 UTC time.
fn check_next(expr: &str, from: &str, expected: &str) {
    let schedule = CronSchedule::parse(expr, true).unwrap();
    let next = schedule.next_after(ms(from)).unwrap();
    assert_eq!(rendered(next), expected, "{expr} after {from}");
}

#[test]
fn a_pattern_longer_than_the_limit_is_refused() {
    let minutes: Vec<String> = (0..60).map(|m| m.to_string()).collect();
    let hours: Vec<String> = (0..24).map(|h| h.to_string()).collect();
    let days: Vec<String> = (1..32).map(|d| d.to_string()).collect();
    let long = format!(
        "{} {} {} * *",
        minutes.join(","),
        hours.join(","),
        days.join(",")
    );
    assert!(long.len() > MAX_CRON_BYTES);
    assert_eq!(
        CronSchedule::parse(&long, false).unwrap_err(),
        CronError::TooLong(long.len())
    );
    let within = format!("{} * * * *", minutes.join(","));
    assert!(CronSchedule::parse(&within, false).is_ok());
}

#[test]
fn patterns_fire_at_the_next_matching_time_in_utc() {
    check_next(
        "*/10 * * * *",
        "2026-03-07T12:00:00Z",
        "2026-03-07T12:10:00Z",
    );
    check_next("0 0 * * *", "2026-03-07T12:00:00Z", "2026-03-08T00:00:00Z");
    // Strictly after: a time that matches is not its own next firing.
    check_next("0 12 * * *", "2026-03-07T12:00:00Z", "2026-03-08T12:00:00Z");
    check_next(
        "* * * * * *",
        "2026-03-07T12:00:00.500Z",
        "2026-03-07T12:00:01Z",
    );
}

#[test]
fn cron_tz_reads_the_pattern_in_that_zone_across_dst() {
    // 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer.
    check_next(
        "CRON_TZ=America/New_York 0 9 * * *",
        "2026-03-07T15:00:00Z",
        "2026-03-08T13:00:00Z",
    );
    check_next(
        "CRON_TZ=America/New_York 0 9 * * *",
        "2026-03-06T15:00:00Z",
        "2026-03-07T14:00:00Z",
    );
    // 02:30 does not exist on the spring-forward day: it fires at 03:00 EDT.
    check_next(
        "CRON_TZ=America/New_York 30 2 * * *",
        "2026-03-07T12:00:00Z",
        "2026-03-08T07:00:00Z",
    );
}

#[test]
fn trailing_whitespace_is_trimmed() {
    let schedule = CronSchedule::parse("*/10 * * * * ", false).unwrap();
    assert_eq!(schedule.as_str(), "*/10 * * * *");
}

fn check_error(expr: &str, allow_seconds: bool, expected: &str) {
    let error = CronSchedule::parse(expr, allow_seconds).unwrap_err();
    assert!(
        error.to_string().contains(expected),
        "{expr}: {error} does not contain {expected:?}"
    );
}

#[test]
fn bad_patterns_are_refused_with_a_reason() {
    check_error("", false, "Invalid cron expression empty spec string");
    check_error("   ", false, "Invalid cron expression empty spec string");
    check_error("* * * * * *", false, "Invalid cron expression");
    check_error("61 * * * *", false, "Invalid cron expression");
    check_error("0 0 31 2 *", false, "never fires");
    check_error("CRON_TZ=Mars/Base 0 9 * * *", false, "unknown time zone");
    check_error("CRON_TZ=UTC", false, "Invalid cron expression");
    assert_eq!(
        CronSchedule::parse("", false).unwrap_err().to_string(),
        "Invalid cron expression empty spec string"
    );
}

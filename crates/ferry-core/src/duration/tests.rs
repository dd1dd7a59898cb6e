//! Tests for both duration dialects, including an exhaustive sweep over short
//! inputs that checks the parsers never panic and agree where they overlap.

use super::*;

fn check(input: &str, expected_millis: u64) {
    assert_eq!(
        parse_duration(input),
        Ok(Duration::from_millis(expected_millis)),
        "input {input:?}"
    );
}

fn check_error(input: &str, expected: DurationErrorKind) {
    let error = parse_duration(input).expect_err(input);
    assert_eq!(error.kind(), &expected, "input {input:?}");
    assert_eq!(error.input(), input.trim());
}

fn check_retry_after(value: &str, expected: Option<Duration>) {
    assert_eq!(
        parse_retry_after(value, NOW_UNIX_MS),
        expected,
        "value {value:?}"
    );
}

/// 2023-11-14T22:13:20Z, a Tuesday.
const NOW_UNIX_MS: u64 = 1_700_000_000_000;

#[test]
fn parse_duration_reads_each_unit() {
    check("90s", 90_000);
    check("5m", 300_000);
    check("2h", 7_200_000);
    check("1d", 86_400_000);
    check("250ms", 250);
    check("0s", 0);
}

#[test]
fn parse_duration_adds_combined_groups_in_any_order() {
    check("1d10h30m", 124_200_000);
    check("1h30m15s500ms", 5_415_500);
    check("30m1h", 5_400_000);
    check("1m1ms", 60_001);
    check("007s", 7_000);
}

#[test]
fn parse_duration_reads_a_bare_number_as_seconds() {
    check("90", 90_000);
    check("0", 0);
}

#[test]
fn parse_duration_ignores_surrounding_whitespace() {
    check(" 5m\t", 300_000);
    check("\n 42 ", 42_000);
}

#[test]
fn parse_duration_accepts_the_largest_representable_value() {
    check("18446744073709551615ms", u64::MAX);
}

#[test]
fn parse_duration_rejects_bad_input_with_a_reason() {
    use DurationErrorKind as K;
    let unit = |s: &str| s.to_owned();
    check_error("", K::Empty);
    check_error("   ", K::Empty);
    check_error("10x", K::UnknownUnit(unit("x")));
    check_error("5S", K::UnknownUnit(unit("S")));
    check_error("10sec", K::UnknownUnit(unit("sec")));
    check_error("10µs", K::UnknownUnit(unit("µs")));
    check_error("5m30", K::MissingUnit(unit("30")));
    check_error("h", K::MissingNumber(unit("h")));
    check_error("1hm", K::UnknownUnit(unit("hm")));
    check_error("1.5s", K::NotWhole(unit("1.5")));
    check_error("1.5", K::NotWhole(unit("1.5")));
    check_error("1..s", K::NotWhole(unit("1..")));
    check_error("1m1m", K::RepeatedUnit(unit("m")));
    check_error("1h2m3h", K::RepeatedUnit(unit("h")));
    check_error("-5s", K::Negative);
    check_error("-5", K::Negative);
    check_error("1h-5m", K::Negative);
    check_error(
        "1h 30m",
        K::UnexpectedChar {
            position: 2,
            found: ' ',
        },
    );
    check_error(
        "+5s",
        K::UnexpectedChar {
            position: 0,
            found: '+',
        },
    );
}

#[test]
fn parse_duration_rejects_values_beyond_u64_milliseconds() {
    use DurationErrorKind::Overflow;
    check_error("18446744073709551616ms", Overflow);
    check_error("18446744073709552s", Overflow);
    check_error("18446744073709552", Overflow);
    check_error("18446744073709551615ms1s", Overflow);
    check_error("99999999999999999999999999d", Overflow);
}

#[test]
fn duration_errors_read_well_in_an_api_response() {
    let message = |input: &str| parse_duration(input).expect_err(input).to_string();
    assert_eq!(
        message("10x"),
        r#"invalid duration "10x": unknown unit "x" (use d, h, m, s or ms)"#
    );
    assert_eq!(
        message(" 1.5s "),
        r#"invalid duration "1.5s": "1.5" is not a whole number (use a smaller unit, e.g. 1500ms instead of 1.5s)"#
    );
    assert_eq!(
        message("1h 30m"),
        r#"invalid duration "1h 30m": unexpected ' ' at byte 2 (write a number followed by a unit, e.g. 1h30m)"#
    );
    assert_eq!(
        message(""),
        r#"invalid duration "": the value is empty (use e.g. 30s, 5m or 1h30m)"#
    );
}

#[test]
fn retry_after_reads_whole_seconds() {
    check_retry_after("0", Some(Duration::ZERO));
    check_retry_after("10", Some(Duration::from_secs(10)));
    check_retry_after(" 120 ", Some(Duration::from_secs(120)));
}

#[test]
fn retry_after_reads_go_durations() {
    check_retry_after("6m5s", Some(Duration::from_secs(365)));
    check_retry_after("1.5s", Some(Duration::from_millis(1_500)));
    check_retry_after(".25s", Some(Duration::from_millis(250)));
    check_retry_after("2.h", Some(Duration::from_secs(7_200)));
    check_retry_after("250ms", Some(Duration::from_millis(250)));
    check_retry_after("1h0m0.5s", Some(Duration::from_millis(3_600_500)));
    check_retry_after("0.1s", Some(Duration::from_millis(100)));
    check_retry_after("1s1s", Some(Duration::from_secs(2)));
    check_retry_after("+5s", Some(Duration::from_secs(5)));
    check_retry_after("10ns", Some(Duration::from_nanos(10)));
    for micros in ["100us", "100\u{b5}s", "100\u{3bc}s"] {
        check_retry_after(micros, Some(Duration::from_micros(100)));
    }
    // Digits far below a nanosecond are dropped, not rejected.
    check_retry_after(
        "1.1234567891234567891234s",
        Some(Duration::new(1, 123_456_789)),
    );
}

#[test]
fn retry_after_reads_http_dates_relative_to_now() {
    let in_30s = Some(Duration::from_secs(30));
    check_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", in_30s);
    check_retry_after("Tuesday, 14-Nov-23 22:13:50 GMT", in_30s);
    check_retry_after("Tue Nov 14 22:13:50 2023", in_30s);
    assert_eq!(
        parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", NOW_UNIX_MS + 250),
        Some(Duration::from_millis(29_750))
    );
}

#[test]
fn retry_after_treats_past_dates_as_no_wait() {
    check_retry_after("Tue, 14 Nov 2023 22:13:20 GMT", Some(Duration::ZERO));
    check_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", Some(Duration::ZERO));
    assert_eq!(
        parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", u64::MAX),
        Some(Duration::ZERO)
    );
}

#[test]
fn retry_after_returns_none_for_anything_else() {
    for value in [
        "",
        "   ",
        "soon",
        "-5",
        "-5s",
        "1.5",
        "5m30",
        "5x",
        "1d",
        "1..5s",
        ".s",
        "+",
        "1 s",
        "18446744073709551616",
        "9999999999999999999999h",
        "Tue, 31 Nov 2023 22:13:50 GMT",
        "Tue, 14 Nov 2023 22:13:50",
    ] {
        check_retry_after(value, None);
    }
}

/// Every string of up to five characters over an alphabet of digits, units
/// and troublemakers. Neither parser may panic, and where the dialects
/// overlap (no days, whole numbers, no repeated unit) they must agree.
#[test]
fn parsers_never_panic_and_agree_on_short_inputs() {
    const ALPHABET: [char; 12] = ['0', '1', '9', 'd', 'h', 'm', 's', '.', '-', ' ', 'x', 'µ'];
    const MAX_LEN: u32 = 5;
    let mut n_accepted = 0;
    for len in 0..=MAX_LEN {
        for index in 0..ALPHABET.len().pow(len) {
            let input = nth_string(&ALPHABET, len, index);
            let parsed = parse_duration(&input);
            let retry_after = parse_retry_after(&input, NOW_UNIX_MS);
            match parsed {
                Ok(duration) => {
                    n_accepted += 1;
                    if !input.contains('d') {
                        assert_eq!(retry_after, Some(duration), "input {input:?}");
                    }
                }
                Err(error) => assert!(
                    error.to_string().starts_with("invalid duration "),
                    "input {input:?}"
                ),
            }
        }
    }
    // Guards against a sweep that silently stopped exercising the happy path.
    assert!(n_accepted > 1_000, "only {n_accepted} inputs parsed");
}

/// The `index`-th string of length `len` over `alphabet`, counting in base
/// `alphabet.len()`.
fn nth_string(alphabet: &[char], len: u32, mut index: usize) -> String {
    (0..len)
        .map(|_| {
            let c = alphabet[index % alphabet.len()];
            index /= alphabet.len();
            c
        })
        .collect()
}

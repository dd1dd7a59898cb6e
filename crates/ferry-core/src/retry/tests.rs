//! Tests for the default backoff and for retry-delay expressions: documented
//! examples, operator semantics, every error class, the limits, and
//! generated inputs that must never panic.

use super::*;

fn parse(src: &str) -> RetryDelayExpr {
    RetryDelayExpr::parse(src).unwrap_or_else(|error| panic!("{src:?}: {error}"))
}

/// Checks the delay of `src` for `retried` = 0, 1, 2, … in turn.
fn check_delays(src: &str, expected_millis: &[u64]) {
    let expr = parse(src);
    for (retried, &expected) in (0..).zip(expected_millis) {
        assert_eq!(
            expr.delay(retried),
            Ok(Duration::from_millis(expected)),
            "{src:?} with retried = {retried}"
        );
    }
}

fn check_value(src: &str, expected_millis: u64) {
    check_delays(src, &[expected_millis]);
}

fn check_parse_error(src: &str, expected: ExprError) {
    assert_eq!(RetryDelayExpr::parse(src).err(), Some(expected), "{src:?}");
}

fn check_eval_error(src: &str, retried: u32, expected: ExprError) {
    assert_eq!(parse(src).delay(retried), Err(expected), "{src:?}");
}

#[test]
fn default_backoff_follows_the_documented_table() {
    let table_millis = [
        (0, 12_182),
        (1, 148_413),
        (2, 1_808_042),
        (3, 22_026_465),
        (4, 86_400_000),
        (5, 86_400_000),
        (1_000, 86_400_000),
        (u32::MAX, 86_400_000),
    ];
    for (retried, expected) in table_millis {
        assert_eq!(
            default_backoff(retried).as_millis(),
            expected,
            "retried = {retried}"
        );
    }
}

#[test]
fn documented_examples_evaluate_in_milliseconds() {
    check_delays("1000", &[1_000, 1_000, 1_000, 1_000]);
    check_delays("1000 * (1 + retried)", &[1_000, 2_000, 3_000, 4_000]);
    check_delays("pow(2, retried) * 1000", &[1_000, 2_000, 4_000, 8_000]);
    check_delays(
        "max(1000, pow(2, retried) * 100)",
        &[1_000, 1_000, 1_000, 1_000, 1_600],
    );
}

#[test]
fn operators_follow_arithmetic_precedence_and_associativity() {
    check_value("1 + 2 * 3", 7);
    check_value("(1 + 2) * 3", 9);
    check_value("10 - 4 - 3", 3);
    check_value("64 / 4 / 2", 8);
    check_value("2 * -3 + 10", 4);
    check_value("--5", 5);
    check_value("-(2 - 7)", 5);
    check_delays("-retried + 5", &[5, 4, 3]);
}

#[test]
fn functions_compute_what_their_names_say() {
    check_value("sqrt(16)", 4);
    check_value("abs(-7)", 7);
    check_value("exp(0)", 1);
    check_value("floor(2.7)", 2);
    check_value("ceil(2.1)", 3);
    check_value("round(2.5)", 3);
    check_value("round(2.4)", 2);
    check_value("min(3, 4)", 3);
    check_value("max(3, 4)", 4);
    check_value("pow(10, 3)", 1_000);
    check_value("pow(4, 0.5)", 2);
}

#[test]
fn numbers_may_be_decimal_and_whitespace_may_go_anywhere() {
    check_value("1.5 * 1000", 1_500);
    check_value(".5 * 1000", 500);
    check_value("1. * 1000", 1_000);
    check_delays("\t pow ( 2 ,retried )\n*1000 ", &[1_000, 2_000]);
}

#[test]
fn delay_drops_fractions_of_a_millisecond() {
    check_value("1000.9", 1_000);
    check_value("0.4", 0);
}

#[test]
fn delay_saturates_beyond_u64_milliseconds() {
    assert_eq!(
        parse("pow(10, 30)").delay(0),
        Ok(Duration::from_millis(u64::MAX))
    );
}

#[test]
fn delay_treats_negative_zero_as_zero() {
    check_value("-0", 0);
}

#[test]
fn delay_rejects_results_that_are_not_a_usable_wait() {
    use ExprError::{Negative, NotFinite};
    check_eval_error(
        "0 - 1000",
        0,
        Negative {
            retried: 0,
            value: -1_000.0,
        },
    );
    check_eval_error(
        "1000 - retried",
        1_001,
        Negative {
            retried: 1_001,
            value: -1.0,
        },
    );
    check_eval_error("1 / 0", 0, NotFinite { retried: 0 });
    check_eval_error("-1 / 0", 0, NotFinite { retried: 0 });
    check_eval_error("0 / 0", 0, NotFinite { retried: 0 });
    check_eval_error("sqrt(-1)", 0, NotFinite { retried: 0 });
    check_eval_error("pow(10, 400)", 0, NotFinite { retried: 0 });
    check_eval_error("exp(retried)", 1_000, NotFinite { retried: 1_000 });
    // NaN must not vanish inside min and max.
    check_eval_error("max(sqrt(-1), 1000)", 2, NotFinite { retried: 2 });
    check_eval_error("min(1000, sqrt(-1))", 0, NotFinite { retried: 0 });
}

#[test]
fn parse_rejects_malformed_expressions_naming_problem_and_position() {
    use ExprError::*;
    let s = |text: &str| text.to_owned();
    check_parse_error("", Empty);
    check_parse_error(" \t\n", Empty);
    check_parse_error(
        "1 # 2",
        UnexpectedChar {
            position: 2,
            found: '#',
        },
    );
    check_parse_error(
        "1000 * 2²",
        UnexpectedChar {
            position: 8,
            found: '²',
        },
    );
    check_parse_error(
        "1.2.3",
        InvalidNumber {
            position: 0,
            text: s("1.2.3"),
        },
    );
    check_parse_error(
        "1 + .",
        InvalidNumber {
            position: 4,
            text: s("."),
        },
    );
    check_parse_error(
        "foo",
        UnknownName {
            position: 0,
            name: s("foo"),
        },
    );
    check_parse_error(
        "1000 * Retried",
        UnknownName {
            position: 7,
            name: s("Retried"),
        },
    );
    check_parse_error(
        "POW(2, 3)",
        UnknownName {
            position: 0,
            name: s("POW"),
        },
    );
    let arity = |position, function: &str, expected, found| WrongArity {
        position,
        function: s(function),
        expected,
        found,
    };
    check_parse_error("pow(2)", arity(0, "pow", 2, 1));
    check_parse_error("sqrt(1, 2)", arity(0, "sqrt", 1, 2));
    check_parse_error("abs()", arity(0, "abs", 1, 0));
    check_parse_error("1 + max(1, 2, 3)", arity(4, "max", 2, 3));
    let unexpected = |position, found: &str, expected| UnexpectedToken {
        position,
        found: s(found),
        expected,
    };
    let after_name = "\"(\" after a function name";
    check_parse_error("pow 2", unexpected(4, "2", after_name));
    check_parse_error("* 2", unexpected(0, "*", EXPECTED_OPERAND));
    check_parse_error("+1", unexpected(0, "+", EXPECTED_OPERAND));
    check_parse_error("min(1,)", unexpected(6, ")", EXPECTED_OPERAND));
    check_parse_error("min(1 2)", unexpected(6, "2", EXPECTED_SEPARATOR));
    check_parse_error("(1 2)", unexpected(3, "2", "\")\""));
    check_parse_error(
        "pow",
        UnexpectedEnd {
            expected: after_name,
        },
    );
    check_parse_error(
        "1 +",
        UnexpectedEnd {
            expected: EXPECTED_OPERAND,
        },
    );
    check_parse_error("(1", UnexpectedEnd { expected: "\")\"" });
    check_parse_error(
        "min(1",
        UnexpectedEnd {
            expected: EXPECTED_SEPARATOR,
        },
    );
    check_parse_error(
        "1 2",
        TrailingInput {
            position: 2,
            found: s("2"),
        },
    );
    check_parse_error(
        "(1))",
        TrailingInput {
            position: 3,
            found: s(")"),
        },
    );
    check_parse_error(
        "retried(1)",
        TrailingInput {
            position: 7,
            found: s("("),
        },
    );
    check_parse_error(
        "1e3",
        TrailingInput {
            position: 1,
            found: s("e3"),
        },
    );
}

#[test]
fn error_messages_read_well_in_an_api_response() {
    let message = |src: &str| match RetryDelayExpr::parse(src) {
        Ok(expr) => expr.delay(0).expect_err(src).to_string(),
        Err(error) => error.to_string(),
    };
    assert_eq!(
        message("foo * 2"),
        "unknown name \"foo\" at byte 0 (use retried, pow, sqrt, abs, exp, floor, ceil, round, min or max)"
    );
    assert_eq!(
        message("pow(2)"),
        "wrong number of arguments for pow at byte 0: expected 2, got 1"
    );
    assert_eq!(
        message("1 2"),
        "unexpected \"2\" at byte 2 after a complete expression"
    );
    assert_eq!(
        message("min(1 2)"),
        "unexpected \"2\" at byte 6 (expected \",\" or \")\")"
    );
    assert_eq!(
        message("0 - 1000"),
        "the expression is negative (-1000 ms) when retried is 0"
    );
}

#[test]
fn parse_limits_source_length() {
    let at_limit = format!("1{}", " ".repeat(MAX_SOURCE_BYTES - 1));
    check_value(&at_limit, 1);
    let over_limit = format!("{at_limit} ");
    check_parse_error(&over_limit, ExprError::TooLong { len: 257 });
    // Far too long input is refused before any work is done on it.
    let huge = "(".repeat(100_000);
    check_parse_error(&huge, ExprError::TooLong { len: 100_000 });
}

#[test]
fn parse_limits_token_count() {
    let at_limit = format!("-1{}", "+1".repeat(63));
    check_value(&at_limit, 62);
    let over_limit = format!("1{}", "+1".repeat(64));
    check_parse_error(&over_limit, ExprError::TooManyTokens);
}

#[test]
fn parse_limits_nesting_depth() {
    let parens = |depth| format!("{}1{}", "(".repeat(depth), ")".repeat(depth));
    let calls = |depth| format!("{}1{}", "abs(".repeat(depth), ")".repeat(depth));
    let minuses = |depth| format!("{}1", "-".repeat(depth));
    check_value(&parens(MAX_DEPTH), 1);
    check_value(&calls(MAX_DEPTH), 1);
    assert!(RetryDelayExpr::parse(&minuses(MAX_DEPTH)).is_ok());
    check_parse_error(&parens(MAX_DEPTH + 1), ExprError::TooDeep { position: 32 });
    check_parse_error(&calls(MAX_DEPTH + 1), ExprError::TooDeep { position: 128 });
    check_parse_error(&minuses(MAX_DEPTH + 1), ExprError::TooDeep { position: 32 });
    let mixed = format!("{}1{}", "-(".repeat(17), ")".repeat(17));
    check_parse_error(&mixed, ExprError::TooDeep { position: 32 });
}

#[test]
fn expression_keeps_its_source_verbatim() {
    let expr = parse(" pow(2, retried)*1000 ");
    assert_eq!(expr.as_str(), " pow(2, retried)*1000 ");
    assert_eq!(expr.to_string(), " pow(2, retried)*1000 ");
    assert_eq!(
        format!("{expr:?}"),
        "RetryDelayExpr(\" pow(2, retried)*1000 \")"
    );
}

#[test]
fn expressions_are_equal_when_their_sources_are() {
    assert_eq!(parse("1000"), parse("1000"));
    assert_ne!(parse("1000"), parse("1000 "));
}

#[test]
fn from_str_parses_like_parse() {
    let expr: RetryDelayExpr = "pow(2, retried) * 1000".parse().expect("valid");
    assert_eq!(expr.delay(3), Ok(Duration::from_secs(8)));
    assert_eq!(
        "pow(2)".parse::<RetryDelayExpr>().err(),
        RetryDelayExpr::parse("pow(2)").err()
    );
}

#[test]
fn serde_stores_the_source_string() {
    let expr = parse("pow(2, retried) * 1000");
    let json = serde_json::to_string(&expr).expect("serializable");
    assert_eq!(json, r#""pow(2, retried) * 1000""#);
    let back: RetryDelayExpr = serde_json::from_str(&json).expect("round trip");
    assert_eq!(back, expr);
    assert_eq!(back.delay(2), Ok(Duration::from_secs(4)));
    // An escaped string needs an owned buffer to deserialize.
    let escaped: RetryDelayExpr = serde_json::from_str(r#""1000 \u002a 2""#).expect("valid");
    assert_eq!(escaped.as_str(), "1000 * 2");
}

#[test]
fn serde_rejects_what_parse_rejects() {
    let invalid = serde_json::from_str::<RetryDelayExpr>(r#""foo""#).expect_err("invalid");
    assert!(
        invalid.to_string().contains("unknown name \"foo\""),
        "{invalid}"
    );
    assert!(serde_json::from_str::<RetryDelayExpr>("1000").is_err());
}

/// A small deterministic xorshift generator, so generated cases are the same
/// on every run and a failure can be reproduced.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("below n, which is a usize")
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Pieces of valid and invalid syntax that generated inputs are made of.
const FRAGMENTS: [&str; 17] = [
    "1", "2.5", "retried", "pow", "min", "abs", "(", ")", ",", "+", "-", "*", "/", " ", ".", "x",
    "é",
];

/// Properties of any input, valid or not: no panic, a parse error never
/// claims an evaluation problem, and what parses round-trips through its
/// source and through serde and evaluates to a wait or an evaluation error.
fn check_arbitrary_input(src: &str) {
    let expr = match RetryDelayExpr::parse(src) {
        Ok(expr) => expr,
        Err(error) => {
            assert!(
                !matches!(
                    error,
                    ExprError::NotFinite { .. } | ExprError::Negative { .. }
                ),
                "{src:?}: {error}"
            );
            return;
        }
    };
    assert_eq!(RetryDelayExpr::parse(expr.as_str()).as_ref(), Ok(&expr));
    let json = serde_json::to_string(&expr).expect("serializable");
    assert_eq!(
        serde_json::from_str::<RetryDelayExpr>(&json).ok(),
        Some(expr.clone())
    );
    for retried in [0, 1, 7, u32::MAX] {
        if let Err(error) = expr.delay(retried) {
            assert!(
                matches!(
                    error,
                    ExprError::NotFinite { .. } | ExprError::Negative { .. }
                ),
                "{src:?}: {error}"
            );
        }
    }
}

#[test]
fn every_short_fragment_sequence_is_handled() {
    let mut n_parsed = 0;
    for len in 0..=4u32 {
        for mut index in 0..FRAGMENTS.len().pow(len) {
            let mut src = String::new();
            for _ in 0..len {
                src.push_str(FRAGMENTS[index % FRAGMENTS.len()]);
                index /= FRAGMENTS.len();
            }
            check_arbitrary_input(&src);
            n_parsed += usize::from(RetryDelayExpr::parse(&src).is_ok());
        }
    }
    // Guards against a sweep that silently stopped reaching the evaluator.
    assert!(n_parsed > 500, "only {n_parsed} inputs parsed");
}

#[test]
fn long_random_inputs_are_handled() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let n_fragments = 1 + rng.below(80);
        let src: String = (0..n_fragments).map(|_| *rng.pick(&FRAGMENTS)).collect();
        check_arbitrary_input(&src);
    }
}

/// Reference implementations of the expression operations.
type Unary = fn(f64) -> f64;
type Binary = fn(f64, f64) -> f64;

/// Builds a random valid expression together with its value for `retried`,
/// computed independently of the parser. Binary operations are fully
/// parenthesised, so the value does not depend on precedence.
fn generate(rng: &mut Rng, depth: u32, retried: f64) -> (String, f64) {
    const NUMBERS: [&str; 7] = ["0", "1", "2", "2.5", "10", "100", "1000"];
    const OPERATORS: [(&str, Binary); 4] = [
        ("+", |x, y| x + y),
        ("-", |x, y| x - y),
        ("*", |x, y| x * y),
        ("/", |x, y| x / y),
    ];
    const UNARY_FUNCTIONS: [(&str, Unary); 6] = [
        ("sqrt", f64::sqrt),
        ("abs", f64::abs),
        ("exp", f64::exp),
        ("floor", f64::floor),
        ("ceil", f64::ceil),
        ("round", f64::round),
    ];
    const BINARY_FUNCTIONS: [(&str, Binary); 3] = [
        ("pow", f64::powf),
        ("min", |x, y| {
            if x.is_nan() || y.is_nan() {
                f64::NAN
            } else {
                x.min(y)
            }
        }),
        ("max", |x, y| {
            if x.is_nan() || y.is_nan() {
                f64::NAN
            } else {
                x.max(y)
            }
        }),
    ];
    if depth >= 5 || rng.below(3) == 0 {
        if rng.below(3) == 0 {
            return ("retried".to_owned(), retried);
        }
        let number = *rng.pick(&NUMBERS);
        return (number.to_owned(), number.parse().expect("a valid literal"));
    }
    let (kind, choice) = (rng.below(4), rng.below(12));
    let mut operand = || generate(rng, depth + 1, retried);
    match kind {
        0 => {
            let (src, value) = operand();
            (format!("-({src})"), -value)
        }
        1 => {
            let ((lhs, x), (rhs, y)) = (operand(), operand());
            let (symbol, apply) = OPERATORS[choice % OPERATORS.len()];
            (format!("({lhs} {symbol} {rhs})"), apply(x, y))
        }
        2 => {
            let (arg, x) = operand();
            let (name, apply) = UNARY_FUNCTIONS[choice % UNARY_FUNCTIONS.len()];
            (format!("{name}({arg})"), apply(x))
        }
        _ => {
            let ((first, x), (second, y)) = (operand(), operand());
            let (name, apply) = BINARY_FUNCTIONS[choice % BINARY_FUNCTIONS.len()];
            (format!("{name}({first}, {second})"), apply(x, y))
        }
    }
}

#[test]
fn generated_valid_expressions_evaluate_as_written() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut n_checked = 0;
    for _ in 0..5_000 {
        let retried = u32::try_from(rng.below(12)).expect("below 12");
        let (src, value) = generate(&mut rng, 0, f64::from(retried));
        let expr = match RetryDelayExpr::parse(&src) {
            Ok(expr) => expr,
            Err(ExprError::TooLong { .. } | ExprError::TooManyTokens) => continue,
            Err(error) => panic!("{src:?}: {error}"),
        };
        let expected = if !value.is_finite() {
            Err(ExprError::NotFinite { retried })
        } else if value < 0.0 {
            Err(ExprError::Negative { retried, value })
        } else {
            Ok(Duration::from_millis(value as u64))
        };
        assert_eq!(
            expr.delay(retried),
            expected,
            "{src:?} with retried = {retried}"
        );
        n_checked += 1;
    }
    assert!(
        n_checked > 2_500,
        "only {n_checked} expressions fit the limits"
    );
}

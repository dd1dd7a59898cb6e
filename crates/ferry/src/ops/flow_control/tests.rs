//! `ferry flow-control` argument parsing, period parsing and rendering.

use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: FlowControlCommand,
}

fn parse(line: &[&str]) -> Result<FlowControlCommand, clap::Error> {
    Cli::try_parse_from(std::iter::once("flow-control").chain(line.iter().copied()))
        .map(|cli| cli.command)
}

fn flow(key: &str) -> FlowControlInfo {
    FlowControlInfo {
        flow_control_key: key.to_owned(),
        wait_list_size: 4,
        parallelism_max: 2,
        parallelism_count: 2,
        rate_max: 10,
        rate_count: 7,
        rate_period: 60,
        rate_period_start: 1_700_000_000,
        is_paused: false,
        is_pinned_parallelism: true,
        is_pinned_rate: false,
    }
}

#[test]
fn pin_needs_at_least_one_limit() {
    let check = |line: &[&str], expected: Option<(Option<u32>, Option<u32>, Option<u32>)>| {
        let parsed = parse(line).ok().map(|command| match command {
            FlowControlCommand::Pin {
                key,
                parallelism,
                rate,
                period,
            } => {
                assert_eq!(key, "k");
                (parallelism, rate, period)
            }
            other => panic!("expected pin, got {other:?}"),
        });
        assert_eq!(parsed, expected, "{line:?}");
    };
    check(
        &["pin", "k", "--parallelism", "3"],
        Some((Some(3), None, None)),
    );
    check(
        &["pin", "k", "--rate", "10", "--period", "1m"],
        Some((None, Some(10), Some(60))),
    );
    check(
        &["pin", "k", "--period", "90"],
        Some((None, None, Some(90))),
    );
    check(&["pin", "k"], None);
    check(&["pin", "k", "--parallelism", "0"], None);
    check(&["pin", "k", "--period", "0"], None);
}

#[test]
fn unpin_needs_parallelism_rate_or_both() {
    let check = |line: &[&str], expected: Option<(bool, bool)>| {
        let parsed = parse(line).ok().map(|command| match command {
            FlowControlCommand::Unpin {
                parallelism, rate, ..
            } => (parallelism, rate),
            other => panic!("expected unpin, got {other:?}"),
        });
        assert_eq!(parsed, expected, "{line:?}");
    };
    check(&["unpin", "k", "--parallelism"], Some((true, false)));
    check(&["unpin", "k", "--rate"], Some((false, true)));
    check(
        &["unpin", "k", "--rate", "--parallelism"],
        Some((true, true)),
    );
    check(&["unpin", "k"], None);
}

#[test]
fn the_other_subcommands_take_a_key_or_nothing() {
    let check = |line: &[&str], accepted: bool| {
        let result = parse(line);
        assert_eq!(result.is_ok(), accepted, "{line:?}: {result:?}");
    };
    check(&["list"], true);
    check(&["list", "--search", "tenant"], true);
    check(&["show", "k"], true);
    check(&["show"], false);
    check(&["pause", "k"], true);
    check(&["resume", "k"], true);
    check(&["reset-rate", "k"], true);
    check(&["global-parallelism"], true);
    check(&["global-parallelism", "k"], false);
}

#[test]
fn periods_are_whole_seconds_from_one_second_to_a_week() {
    let check = |raw: &str, expected: Option<u32>| {
        assert_eq!(parse_period(raw).ok(), expected, "{raw}");
    };
    check("1", Some(1));
    check("45s", Some(45));
    check("1m", Some(60));
    check("1h30m", Some(5400));
    check("7d", Some(604_800));
    check("8d", None);
    check("0", None);
    check("500ms", None);
    check("1500ms", None);
    check("soon", None);
}

#[test]
fn the_list_is_a_table_of_counters_and_limits() {
    assert_eq!(render_list(&[]), "no flow-control keys");
    let unbounded = FlowControlInfo {
        parallelism_max: 0,
        parallelism_count: 0,
        rate_max: 0,
        rate_count: 0,
        rate_period: 1,
        wait_list_size: 0,
        is_paused: true,
        is_pinned_parallelism: false,
        ..flow("idle")
    };
    assert_eq!(
        render_list(&[flow("tenant-42"), unbounded]),
        "KEY        WAITING  IN FLIGHT  PARALLELISM  STARTED  RATE  PERIOD (S)  PAUSED  PINNED\n\
         tenant-42  4        2          2            7        10    60          no      parallelism\n\
         idle       0        0          none         0        none  1           yes     no"
    );
}

#[test]
fn one_key_is_a_block_of_fields() {
    assert_eq!(
        render_key(&flow("tenant-42")),
        "key                  tenant-42\n\
         waiting              4\n\
         paused               no\n\
         in flight            2\n\
         parallelism          2\n\
         parallelism pinned   yes\n\
         started this period  7\n\
         rate                 10\n\
         period (s)           60\n\
         period started       2023-11-14T22:13:20.000Z\n\
         rate pinned          no"
    );
    let fresh = FlowControlInfo {
        rate_period_start: 0,
        is_pinned_rate: true,
        ..flow("k")
    };
    assert_eq!(pinned(&fresh), "parallelism, rate");
    assert_eq!(window_start(&fresh), "-");
}

#[test]
fn the_global_parallelism_names_an_absent_limit() {
    let render = |max: u64| {
        render_global(&GlobalParallelism {
            parallelism_max: max,
            parallelism_count: 3,
        })
    };
    assert_eq!(render(0), "in flight  3\nlimit      none");
    assert_eq!(render(50), "in flight  3\nlimit      50");
}

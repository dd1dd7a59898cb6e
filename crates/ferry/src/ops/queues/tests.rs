//! `ferry queues` argument parsing, settings merging and rendering.

use clap::Parser;

use super::*;
use ferry_sdk::FlowControl;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: QueuesCommand,
}

fn parse(line: &[&str]) -> Result<QueuesCommand, clap::Error> {
    Cli::try_parse_from(std::iter::once("queues").chain(line.iter().copied()))
        .map(|cli| cli.command)
}

fn queue(name: &str, parallelism: u32, lag: u64, paused: bool) -> Queue {
    Queue {
        name: name.to_owned(),
        parallelism,
        created_at: 1_700_000_000_123,
        updated_at: 1_700_000_360_000,
        lag,
        paused,
    }
}

#[test]
fn set_takes_optional_parallelism_and_paused() {
    let check = |line: &[&str], expected: Option<(Option<u32>, Option<bool>)>| {
        let parsed = parse(line).ok().map(|command| match command {
            QueuesCommand::Set {
                name,
                parallelism,
                paused,
            } => {
                assert_eq!(name, "jobs");
                (parallelism, paused)
            }
            other => panic!("expected set, got {other:?}"),
        });
        assert_eq!(parsed, expected, "{line:?}");
    };
    check(&["set", "jobs"], Some((None, None)));
    check(
        &["set", "jobs", "--parallelism", "4"],
        Some((Some(4), None)),
    );
    check(
        &["set", "jobs", "--paused", "true"],
        Some((None, Some(true))),
    );
    check(
        &["set", "jobs", "--paused", "false", "--parallelism", "1"],
        Some((Some(1), Some(false))),
    );
    check(&["set", "jobs", "--parallelism", "0"], None);
    check(&["set", "jobs", "--paused", "maybe"], None);
    check(&["set", "jobs", "--paused"], None);
}

#[test]
fn settings_not_given_keep_the_current_ones() {
    let current = queue("jobs", 3, 0, true);
    let check = |current: Option<&Queue>,
                 given: (Option<u32>, Option<bool>),
                 expected: (Option<u32>, Option<bool>)| {
        assert_eq!(merged_settings(current, given.0, given.1), expected);
    };
    check(Some(&current), (None, None), (Some(3), Some(true)));
    check(Some(&current), (Some(5), None), (Some(5), Some(true)));
    check(Some(&current), (None, Some(false)), (Some(3), Some(false)));
    check(None, (None, None), (None, None));
    check(None, (Some(2), None), (Some(2), None));
}

#[test]
fn enqueue_takes_queue_url_body_and_message_flags() {
    let command = parse(&[
        "enqueue",
        "jobs",
        "https://a.example/hook",
        "-d",
        "hi",
        "-H",
        "X-Trace:7",
        "-X",
        "put",
        "--retries",
        "0",
        "--dedup-id",
        "once",
        "--label",
        "nightly",
    ])
    .unwrap();
    let QueuesCommand::Enqueue(args) = command else {
        panic!("expected enqueue, got {command:?}");
    };
    assert_eq!(args.queue, "jobs");
    assert_eq!(args.destination, "https://a.example/hook");
    assert_eq!(args.dedup_id.as_deref(), Some("once"));
    assert_eq!(args.message.body().unwrap(), b"hi");
    assert_eq!(
        args.message.options(),
        PublishOptions {
            method: Some(Method::PUT),
            retries: Some(0),
            labels: vec!["nightly".to_owned()],
            forward_headers: vec![("X-Trace".to_owned(), "7".to_owned())],
            ..PublishOptions::default()
        }
    );
    assert_eq!(args.flow.flow_control(), None);
    let QueuesCommand::Enqueue(metered) = parse(&[
        "enqueue",
        "jobs",
        "https://a.example/hook",
        "--flow-key",
        "api",
        "--flow-rate",
        "2",
        "--flow-period",
        "1m",
    ])
    .unwrap() else {
        panic!("expected enqueue");
    };
    assert_eq!(
        metered.flow.flow_control(),
        Some(FlowControl {
            key: "api".to_owned(),
            parallelism: None,
            rate: Some(2),
            period: Some("60s".to_owned()),
        })
    );
    assert!(parse(&["enqueue", "jobs"]).is_err(), "a URL is required");
    assert!(
        parse(&["enqueue", "jobs", "https://a", "-d", "x", "-f", "body.txt"]).is_err(),
        "--data and --file conflict"
    );
}

#[test]
fn methods_are_read_in_any_case_and_limited_to_deliverable_ones() {
    let check = |raw: &str, expected: Option<Method>| {
        assert_eq!(parse_method(raw).ok(), expected, "{raw}");
    };
    check("get", Some(Method::GET));
    check("Patch", Some(Method::PATCH));
    check("DELETE", Some(Method::DELETE));
    check("HEAD", None);
    check("", None);
}

#[test]
fn headers_are_name_colon_value() {
    let check = |raw: &str, expected: Option<(&str, &str)>| {
        let parsed = parse_header(raw).ok();
        let expected = expected.map(|(name, value)| (name.to_owned(), value.to_owned()));
        assert_eq!(parsed, expected, "{raw}");
    };
    check("X-A: 1", Some(("X-A", "1")));
    check("X-A:1:2", Some(("X-A", "1:2")));
    check("no colon", None);
    check(": empty name", None);
    check("Bad Name: x", None);
}

#[test]
fn the_list_is_a_table_of_settings_and_lag() {
    assert_eq!(render_list(&[]), "no queues");
    let table = render_list(&[queue("jobs", 2, 17, false), queue("slow", 1, 0, true)]);
    assert_eq!(
        table,
        "NAME  PARALLELISM  LAG  PAUSED  CREATED\n\
         jobs  2            17   no      2023-11-14T22:13:20.123Z\n\
         slow  1            0    yes     2023-11-14T22:13:20.123Z"
    );
}

#[test]
fn one_queue_is_a_block_of_fields() {
    assert_eq!(
        render_queue(&queue("jobs", 2, 17, true)),
        "name         jobs\n\
         parallelism  2\n\
         lag          17\n\
         paused       yes\n\
         created      2023-11-14T22:13:20.123Z\n\
         updated      2023-11-14T22:19:20.000Z"
    );
}

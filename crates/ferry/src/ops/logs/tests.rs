//! `ferry logs` argument parsing, follow-mode de-duplication and rendering.

use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: LogsArgs,
}

fn parse(line: &[&str]) -> Result<LogsArgs, clap::Error> {
    Cli::try_parse_from(std::iter::once("logs").chain(line.iter().copied())).map(|cli| cli.args)
}

fn pairs(filters: &[(&str, &str)]) -> Vec<(String, String)> {
    filters
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

#[test]
fn flags_become_the_query_of_the_latest_lines() {
    assert_eq!(latest_query(&parse(&[]).unwrap()), LogQuery::default());
    let args = parse(&[
        "--state",
        "failed",
        "--label",
        "eu",
        "--state",
        "IN_PROGRESS",
        "--message-id",
        "msg_1",
        "--destination",
        "https://a.example/",
        "--count",
        "20",
        "--cursor",
        "17-0-1",
    ])
    .unwrap();
    assert_eq!(
        latest_query(&args),
        LogQuery {
            cursor: Some("17-0-1".to_owned()),
            count: Some(20),
            order: None,
            filters: pairs(&[
                ("state", "FAILED"),
                ("state", "IN_PROGRESS"),
                ("messageId", "msg_1"),
                ("url", "https://a.example/"),
                ("label", "eu"),
            ]),
        }
    );
}

#[test]
fn command_lines_are_accepted_or_rejected() {
    let check = |line: &[&str], accepted: bool| {
        let result = parse(line);
        assert_eq!(result.is_ok(), accepted, "{line:?}: {result:?}");
    };
    check(&["--state", "delivered", "--state", "CANCELED"], true);
    check(&["--state", "ACTIVE"], false);
    check(&["--count", "1000"], true);
    check(&["--count", "0"], false);
    check(&["--count", "1001"], false);
    check(&["-f", "--interval", "250ms"], true);
    check(&["--follow", "--interval", "0s"], false);
    check(&["--follow", "--interval", "soon"], false);
    check(&["--interval", "2s"], false);
    check(&["--follow", "--cursor", "17-0-1"], false);
}

#[test]
fn follow_polls_every_second_unless_told_otherwise() {
    assert_eq!(parse(&["-f"]).unwrap().interval, Duration::from_secs(1));
    assert_eq!(
        parse(&["-f", "--interval", "1m30s"]).unwrap().interval,
        Duration::from_secs(90)
    );
}

#[test]
fn polls_read_oldest_first_from_the_newest_time_seen() {
    let filters = pairs(&[("state", "FAILED")]);
    assert_eq!(
        poll_query(&filters, Some(1_700_000_000_123)),
        LogQuery {
            cursor: None,
            count: Some(MAX_PAGE),
            order: Some(LogOrder::EarliestFirst),
            filters: pairs(&[("state", "FAILED"), ("fromDate", "1700000000123")]),
        }
    );
    assert_eq!(poll_query(&filters, None).filters, filters);
}

fn event(time: u64, message_id: &str, state: &str) -> LogEvent {
    LogEvent {
        time,
        message_id: message_id.to_owned(),
        state: state.to_owned(),
        url: "https://a.example/hook".to_owned(),
        method: None,
        error: None,
        next_delivery_time: None,
        response_status: None,
        caller_ip: None,
        queue_name: None,
        topic_name: None,
        endpoint_name: None,
        schedule_id: None,
        flow_control_key: None,
        labels: Vec::new(),
    }
}

/// Feeds `pages` to one [`Seen`] in turn and returns, per page, the lines
/// printed as `time/message/state`, and the `fromDate` of the next read.
fn follow_pages(pages: &[&[(u64, &str, &str)]]) -> (Vec<Vec<String>>, Option<u64>) {
    let mut seen = Seen::default();
    let printed = pages
        .iter()
        .map(|page| {
            let events = page
                .iter()
                .map(|(time, id, state)| event(*time, id, state))
                .collect();
            seen.fresh(events)
                .iter()
                .map(|e| format!("{}/{}/{}", e.time, e.message_id, e.state))
                .collect()
        })
        .collect();
    (printed, seen.next_from())
}

#[test]
fn follow_prints_each_line_once_oldest_first() {
    let check = |pages: &[&[(u64, &str, &str)]], expected: &[&[&str]], from: Option<u64>| {
        let expected: Vec<Vec<String>> = expected
            .iter()
            .map(|page| page.iter().map(|line| (*line).to_owned()).collect())
            .collect();
        assert_eq!(follow_pages(pages), (expected, from), "{pages:?}");
    };
    // Nothing logged yet: the next read starts at the beginning.
    check(&[&[]], &[&[]], None);
    // A page out of order comes out sorted by time.
    check(
        &[&[(20, "m2", "CREATED"), (10, "m1", "CREATED")]],
        &[&["10/m1/CREATED", "20/m2/CREATED"]],
        Some(20),
    );
    // The inclusive `fromDate` returns the newest millisecond again: its
    // lines are printed once, and a line that joined it later is printed.
    check(
        &[
            &[(10, "m1", "CREATED"), (20, "m2", "CREATED")],
            &[
                (20, "m2", "CREATED"),
                (20, "m1", "DELIVERED"),
                (30, "m3", "CREATED"),
            ],
            &[(30, "m3", "CREATED")],
        ],
        &[
            &["10/m1/CREATED", "20/m2/CREATED"],
            &["20/m1/DELIVERED", "30/m3/CREATED"],
            &[],
        ],
        Some(30),
    );
    // Lines older than the newest printed would break the order.
    check(
        &[
            &[(20, "m2", "CREATED")],
            &[(15, "m1", "ERROR"), (25, "m2", "DELIVERED")],
        ],
        &[&["20/m2/CREATED"], &["25/m2/DELIVERED"]],
        Some(25),
    );
    // The lines remembered are those of the newest millisecond: a repeat
    // of one is dropped, a new line of that millisecond is printed.
    check(
        &[
            &[(20, "m1", "CREATED")],
            &[(30, "m2", "CREATED")],
            &[(30, "m2", "CREATED"), (30, "m1", "RETRY")],
        ],
        &[&["20/m1/CREATED"], &["30/m2/CREATED"], &["30/m1/RETRY"]],
        Some(30),
    );
    // A line repeated within one page is printed once.
    check(
        &[&[(10, "m1", "ERROR"), (10, "m1", "ERROR")]],
        &[&["10/m1/ERROR"]],
        Some(10),
    );
}

#[test]
fn the_outcome_shows_the_status_the_error_or_both_on_one_line() {
    let check = |status: Option<u16>, error: Option<&str>, expected: &str| {
        let line = LogEvent {
            response_status: status,
            error: error.map(str::to_owned),
            ..event(1, "m1", "ERROR")
        };
        assert_eq!(outcome(&line), expected);
    };
    check(None, None, "");
    check(Some(200), None, "200");
    check(None, Some("connection refused"), "connection refused");
    check(
        Some(503),
        Some("down\nfor  maintenance "),
        "503 down for maintenance",
    );
}

fn failed(time: u64, message_id: &str, url: &str) -> LogEvent {
    LogEvent {
        url: url.to_owned(),
        response_status: Some(500),
        error: Some("boom".to_owned()),
        ..event(time, message_id, "FAILED")
    }
}

#[test]
fn the_page_table_lists_the_lines_as_the_relay_sent_them() {
    let page = LogList {
        events: vec![
            failed(1_700_000_000_123, "msg_2", "https://a.example/hook"),
            event(1_700_000_000_001, "msg_1", "CREATED"),
        ],
        logs: None,
        cursor: None,
    };
    assert_eq!(
        render_page(&page),
        "TIME                      STATE    MESSAGE ID  URL                     STATUS/ERROR\n\
         2023-11-14T22:13:20.123Z  FAILED   msg_2       https://a.example/hook  500 boom\n\
         2023-11-14T22:13:20.001Z  CREATED  msg_1       https://a.example/hook\n"
    );
    let empty = LogList {
        events: Vec::new(),
        logs: None,
        cursor: None,
    };
    assert_eq!(render_page(&empty), "no log lines");
}

#[test]
fn follow_columns_keep_their_widths_across_batches() {
    let mut columns = Columns::new();
    assert_eq!(
        columns.render(&[]),
        "TIME  STATE  MESSAGE ID  URL  STATUS/ERROR\n",
        "the heading comes first, even before any line"
    );
    assert_eq!(
        columns.render(&rows(&[failed(0, "msg_1", "https://long.example/path")])),
        "1970-01-01T00:00:00.000Z  FAILED  msg_1       https://long.example/path  500 boom\n"
    );
    // A shorter URL is padded to the width of the longest one so far.
    assert_eq!(
        columns.render(&rows(&[failed(1000, "msg_2", "https://b/")])),
        "1970-01-01T00:00:01.000Z  FAILED  msg_2       https://b/                 500 boom\n"
    );
    assert_eq!(columns.render(&[]), "");
}

#[test]
fn json_lines_hold_one_object_per_line() {
    let text = json_lines(&[event(1, "m1", "CREATED"), failed(2, "m2", "https://b/")]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(text.ends_with('\n'));
    let parsed: Vec<LogEvent> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        parsed,
        [event(1, "m1", "CREATED"), failed(2, "m2", "https://b/")]
    );
    assert_eq!(json_lines(&[]).unwrap(), "");
}

#[test]
fn only_passing_failures_are_retried_in_follow_mode() {
    let check = |status: u16, transient: bool| {
        let error = ferry_sdk::Error::Http {
            status,
            message: String::new(),
        };
        assert_eq!(is_transient(&error), transient, "{status}");
    };
    check(500, true);
    check(503, true);
    check(429, true);
    check(400, false);
    check(401, false);
    check(404, false);
}

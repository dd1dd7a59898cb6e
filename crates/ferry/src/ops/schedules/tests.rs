//! `ferry schedules` argument parsing and rendering.

use std::collections::BTreeMap;

use clap::Parser;
use ferry_sdk::{Method, PublishOptions};

use super::*;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: SchedulesCommand,
}

fn parse(line: &[&str]) -> Result<SchedulesCommand, clap::Error> {
    Cli::try_parse_from(std::iter::once("schedules").chain(line.iter().copied()))
        .map(|cli| cli.command)
}

fn schedule(id: &str, paused: bool, next: Option<u64>, last: Option<u64>) -> Schedule {
    Schedule {
        schedule_id: id.to_owned(),
        cron: "*/5 * * * *".to_owned(),
        destination: "https://a.example/tick".to_owned(),
        created_at: 1_700_000_000_123,
        method: "POST".to_owned(),
        retries: 3,
        header: None,
        body: Some("tick".to_owned()),
        body_base64: None,
        delay: None,
        timeout: None,
        callback: None,
        failure_callback: None,
        callback_header: None,
        failure_callback_header: None,
        caller_ip: None,
        is_paused: paused,
        retry_delay_expression: None,
        label: None,
        labels: Vec::new(),
        last_schedule_time: last,
        next_schedule_time: next,
        last_schedule_states: BTreeMap::new(),
        queue_name: None,
        flow_control_key: None,
        parallelism: None,
        rate: None,
        period: None,
    }
}

#[test]
fn create_needs_a_url_and_a_cron_pattern() {
    let command = parse(&[
        "create",
        "https://a.example/tick",
        "--cron",
        "CRON_TZ=Europe/Paris 0 9 * * *",
        "--id",
        "morning",
        "--data",
        "tick",
        "-H",
        "X-Job: report",
        "--retries",
        "1",
        "--method",
        "GET",
        "--delay",
        "30s",
    ])
    .unwrap();
    let SchedulesCommand::Create(args) = command else {
        panic!("expected create, got {command:?}");
    };
    assert_eq!(args.destination, "https://a.example/tick");
    assert_eq!(args.cron, "CRON_TZ=Europe/Paris 0 9 * * *");
    assert_eq!(args.id.as_deref(), Some("morning"));
    assert_eq!(args.delay.as_deref(), Some("30s"));
    assert_eq!(args.message.body().unwrap(), b"tick");
    assert_eq!(
        args.message.options(),
        PublishOptions {
            method: Some(Method::GET),
            retries: Some(1),
            forward_headers: vec![("X-Job".to_owned(), "report".to_owned())],
            ..PublishOptions::default()
        }
    );
    assert!(
        parse(&["create", "https://a.example/tick"]).is_err(),
        "--cron is required"
    );
    assert!(
        parse(&["create", "--cron", "* * * * *"]).is_err(),
        "a URL is required"
    );
}

#[test]
fn actions_take_one_id() {
    let check = |line: &[&str], expected: Option<&str>| {
        let id = parse(line).ok().map(|command| match command {
            SchedulesCommand::Show { id }
            | SchedulesCommand::Pause { id }
            | SchedulesCommand::Resume { id }
            | SchedulesCommand::Delete { id } => id,
            other => panic!("expected an action on one id, got {other:?}"),
        });
        assert_eq!(id.as_deref(), expected, "{line:?}");
    };
    check(&["show", "s1"], Some("s1"));
    check(&["pause", "s1"], Some("s1"));
    check(&["resume", "s1"], Some("s1"));
    check(&["delete", "s1"], Some("s1"));
    check(&["delete"], None);
    check(&["pause", "s1", "s2"], None);
}

#[test]
fn the_list_shows_runs_as_rfc3339_or_a_dash() {
    assert_eq!(render_list(&[]), "no schedules");
    let table = render_list(&[
        schedule(
            "s1",
            false,
            Some(1_700_000_400_000),
            Some(1_700_000_100_000),
        ),
        schedule("s2", true, None, None),
    ]);
    assert_eq!(
        table,
        "ID  CRON         DESTINATION             PAUSED  NEXT RUN                  LAST RUN\n\
         s1  */5 * * * *  https://a.example/tick  no      2023-11-14T22:20:00.000Z  2023-11-14T22:15:00.000Z\n\
         s2  */5 * * * *  https://a.example/tick  yes     -                         -"
    );
}

#[test]
fn one_schedule_shows_its_message_and_last_outcome() {
    let mut shown = schedule("s1", true, None, Some(1_700_000_100_000));
    shown.labels = vec!["nightly".to_owned()];
    shown
        .last_schedule_states
        .insert("msg_1".to_owned(), "SUCCESS".to_owned());
    assert_eq!(
        render_schedule(&shown),
        "schedule id       s1\n\
         cron              */5 * * * *\n\
         destination       https://a.example/tick\n\
         method            POST\n\
         paused            yes\n\
         created           2023-11-14T22:13:20.123Z\n\
         next run          -\n\
         last run          2023-11-14T22:15:00.000Z\n\
         retries           3\n\
         labels            nightly\n\
         body              tick\n\
         last run outcome  msg_1: SUCCESS"
    );
}

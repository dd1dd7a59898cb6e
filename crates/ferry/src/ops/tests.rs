//! Command-line shape of the operator commands and client setup.

use clap::{CommandFactory as _, Parser};

use super::*;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: OpsArgs,
    #[command(subcommand)]
    command: OpsCommand,
}

fn parse(line: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("ferry").chain(line.iter().copied()))
}

#[test]
fn command_definitions_are_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn every_command_and_argument_has_help() {
    fn check(command: &clap::Command, path: &str) {
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id != "help" && id != "version" {
                assert!(arg.get_help().is_some(), "{path} {id} has no help");
            }
        }
        for sub in command.get_subcommands() {
            let sub_path = format!("{path} {}", sub.get_name());
            if sub.get_name() != "help" {
                assert!(sub.get_about().is_some(), "{sub_path} has no help");
            }
            check(sub, &sub_path);
        }
    }
    check(&Cli::command(), "ferry");
}

#[test]
fn global_flags_are_accepted_after_the_subcommand() {
    let cli = parse(&[
        "dlq",
        "list",
        "--json",
        "--token",
        "t",
        "--url",
        "https://relay.example/q",
    ])
    .unwrap();
    assert!(cli.args.json);
    assert_eq!(cli.args.token.as_deref(), Some("t"));
    assert_eq!(cli.args.url.as_str(), "https://relay.example/q");
    assert!(matches!(
        cli.command,
        OpsCommand::Dlq(dlq::DlqCommand::List(_))
    ));
}

#[test]
fn command_lines_are_accepted_or_rejected() {
    let check = |line: &[&str], accepted: bool| {
        let result = parse(line);
        assert_eq!(result.is_ok(), accepted, "{line:?}: {result:?}");
    };
    check(
        &[
            "publish",
            "https://a.example/",
            "--data",
            "x",
            "-H",
            "X-A: 1",
        ],
        true,
    );
    check(
        &[
            "publish",
            "https://a.example/",
            "--data",
            "x",
            "--file",
            "b.txt",
        ],
        false,
    );
    check(&["publish", "https://a.example/", "--method", "get"], true);
    check(
        &["publish", "https://a.example/", "--method", "TRACE"],
        false,
    );
    check(&["publish", "https://a.example/", "-H", "no colon"], false);
    check(
        &["dlq", "list", "--order", "latestFirst", "--status", "500"],
        true,
    );
    check(&["dlq", "list", "--count", "0"], false);
    check(&["dlq", "list", "--count", "101"], false);
    check(&["dlq", "retry"], false);
    check(&["dlq", "delete", "1-0", "2-0"], true);
    check(&["messages", "cancel", "msg_1"], true);
    check(&["messages", "cancel-matching"], false);
    check(&["messages", "cancel-matching", "--all"], true);
    check(
        &["messages", "cancel-matching", "--all", "--label", "a"],
        false,
    );
    check(
        &[
            "messages",
            "cancel-matching",
            "--label",
            "a",
            "--label",
            "b",
        ],
        true,
    );
    check(
        &["messages", "cancel-matching", "--all", "--count", "5"],
        false,
    );
    check(&["keys", "rotate"], true);
    check(&["flow-control", "list", "--search", "tenant"], true);
    check(&["flow", "pin", "k", "--rate", "3"], true);
    check(&["flow-control", "unpin", "k"], false);
    check(&["--url", "not a url", "keys", "show"], false);
}

#[test]
fn a_missing_token_names_both_ways_to_give_one() {
    let args = OpsArgs {
        url: Url::parse("http://127.0.0.1:8080").unwrap(),
        token: None,
        json: false,
    };
    let error = format!("{:#}", connect(&args).unwrap_err());
    assert!(
        error.contains("FERRY_TOKEN") && error.contains("--token"),
        "{error}"
    );
    let empty = OpsArgs {
        token: Some(String::new()),
        ..args
    };
    assert!(connect(&empty).is_err());
}

#[test]
fn debug_output_hides_the_token() {
    let args = OpsArgs {
        url: Url::parse("http://127.0.0.1:8080").unwrap(),
        token: Some("tok_secret".to_owned()),
        json: false,
    };
    let debug = format!("{args:?}");
    assert!(!debug.contains("tok_secret"), "{debug}");
}

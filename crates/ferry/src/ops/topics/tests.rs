//! `ferry topics` argument parsing and rendering.

use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: TopicsCommand,
}

fn parse(line: &[&str]) -> Result<TopicsCommand, clap::Error> {
    Cli::try_parse_from(std::iter::once("topics").chain(line.iter().copied()))
        .map(|cli| cli.command)
}

fn endpoint(url: &str, name: Option<&str>) -> Endpoint {
    Endpoint {
        name: name.map(str::to_owned),
        url: Some(url.to_owned()),
    }
}

#[test]
fn endpoints_take_an_optional_name_after_the_last_equals_sign() {
    let check = |raw: &str, url: &str, name: Option<&str>| {
        assert_eq!(parse_endpoint(raw), Ok(endpoint(url, name)), "{raw}");
    };
    check("https://a", "https://a", None);
    check("https://a=first", "https://a", Some("first"));
    check(
        "https://a.example/hook=billing.eu_1",
        "https://a.example/hook",
        Some("billing.eu_1"),
    );
    // An `=` that can start a query parameter's value belongs to the URL.
    check("https://a.example/?x=1", "https://a.example/?x=1", None);
    check(
        "https://a.example/?x=1&y=2",
        "https://a.example/?x=1&y=2",
        None,
    );
    check(
        "https://a.example/?flag=billing",
        "https://a.example/?flag=billing",
        None,
    );
    check(
        "https://a.example/?x=1=billing",
        "https://a.example/?x=1",
        Some("billing"),
    );
    check(
        "https://a.example/?x=1&y=2=billing",
        "https://a.example/?x=1&y=2",
        Some("billing"),
    );
    // What follows the `=` is not a valid name, so it stays in the URL.
    check("https://a/b=c/d", "https://a/b=c/d", None);
    check("https://a=", "https://a=", None);
}

#[test]
fn an_endpoint_needs_a_url() {
    assert!(parse_endpoint("=first").is_err());
    assert!(parse_endpoint("").is_err());
}

#[test]
fn add_takes_one_or_more_endpoints() {
    match parse(&["add", "orders", "https://a=first", "https://b"]).unwrap() {
        TopicsCommand::Add { name, endpoints } => {
            assert_eq!(name, "orders");
            assert_eq!(
                endpoints,
                [
                    endpoint("https://a", Some("first")),
                    endpoint("https://b", None)
                ]
            );
        }
        other => panic!("expected add, got {other:?}"),
    }
    assert!(parse(&["add", "orders"]).is_err());
}

#[test]
fn remove_names_endpoints_by_url_or_name() {
    match parse(&[
        "remove",
        "orders",
        "--endpoint",
        "first",
        "--destination",
        "https://b",
        "--endpoint",
        "third",
    ])
    .unwrap()
    {
        TopicsCommand::Remove {
            name,
            destinations,
            endpoint_names,
        } => {
            assert_eq!(name, "orders");
            assert_eq!(
                removal(destinations, endpoint_names),
                [
                    Endpoint {
                        name: None,
                        url: Some("https://b".to_owned())
                    },
                    Endpoint {
                        name: Some("first".to_owned()),
                        url: None
                    },
                    Endpoint {
                        name: Some("third".to_owned()),
                        url: None
                    },
                ]
            );
        }
        other => panic!("expected remove, got {other:?}"),
    }
    assert!(
        parse(&["remove", "orders"]).is_err(),
        "a removal must name something"
    );
}

fn group(name: &str, endpoints: Vec<Endpoint>) -> UrlGroup {
    UrlGroup {
        name: name.to_owned(),
        created_at: 1_700_000_000_123,
        updated_at: 1_700_000_360_000,
        endpoints,
    }
}

#[test]
fn the_list_counts_endpoints() {
    let groups = [
        group(
            "orders",
            vec![
                endpoint("https://a", Some("first")),
                endpoint("https://b", None),
            ],
        ),
        group("audit-log", Vec::new()),
    ];
    assert_eq!(
        render_list(&groups),
        "NAME       ENDPOINTS  CREATED\n\
         orders     2          2023-11-14T22:13:20.123Z\n\
         audit-log  0          2023-11-14T22:13:20.123Z"
    );
    assert_eq!(render_list(&[]), "no URL groups");
}

#[test]
fn show_lists_each_endpoint_with_its_name() {
    let orders = group(
        "orders",
        vec![
            endpoint("https://a.example/hook", Some("first")),
            endpoint("https://b.example/", None),
        ],
    );
    assert_eq!(
        render_group(&orders),
        "name     orders\n\
         created  2023-11-14T22:13:20.123Z\n\
         updated  2023-11-14T22:19:20.000Z\n\
         \n\
         URL                     ENDPOINT NAME\n\
         https://a.example/hook  first\n\
         https://b.example/"
    );
    assert!(
        render_group(&group("empty", Vec::new())).ends_with("\n\nno endpoints"),
        "{}",
        render_group(&group("empty", Vec::new()))
    );
}

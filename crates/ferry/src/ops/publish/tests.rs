//! Mapping of `ferry publish` flags onto publish options.

use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: PublishArgs,
}

fn options(line: &[&str]) -> PublishOptions {
    let cli = Cli::try_parse_from(std::iter::once("publish").chain(line.iter().copied())).unwrap();
    publish_options(&cli.args)
}

#[test]
fn flags_map_onto_publish_options() {
    let check = |line: &[&str], expected: PublishOptions| {
        assert_eq!(options(line), expected, "{line:?}");
    };
    check(&["https://a.example/"], PublishOptions::default());
    check(
        &[
            "https://a.example/",
            "--delay",
            "10s",
            "--not-before",
            "1700000000",
            "--retries",
            "0",
            "--retry-delay",
            "1000 * retried",
            "--timeout",
            "30s",
            "-X",
            "put",
            "--dedup-id",
            "d1",
            "--content-based-dedup",
            "--callback",
            "https://cb.example/",
            "--failure-callback",
            "https://cb.example/failed",
            "--label",
            "a",
            "--label",
            "b",
            "-H",
            "Authorization: Bearer x",
            "--header",
            "X-Empty:",
            "--content-type",
            "text/plain",
        ],
        PublishOptions {
            method: Some(Method::PUT),
            delay: Some("10s".to_owned()),
            not_before: Some(1_700_000_000),
            retries: Some(0),
            retry_delay: Some("1000 * retried".to_owned()),
            timeout: Some("30s".to_owned()),
            deduplication_id: Some("d1".to_owned()),
            content_based_deduplication: true,
            callback: Some("https://cb.example/".to_owned()),
            failure_callback: Some("https://cb.example/failed".to_owned()),
            content_type: Some("text/plain".to_owned()),
            labels: vec!["a".to_owned(), "b".to_owned()],
            forward_headers: vec![
                ("Authorization".to_owned(), "Bearer x".to_owned()),
                ("X-Empty".to_owned(), String::new()),
            ],
            flow_control: None,
        },
    );
}

#[test]
fn flow_flags_map_onto_flow_control() {
    let flow = |line: &[&str]| options(line).flow_control;
    assert_eq!(flow(&["https://a.example/"]), None);
    assert_eq!(
        flow(&[
            "https://a.example/",
            "--flow-key",
            "tenant-42",
            "--flow-parallelism",
            "2",
            "--flow-rate",
            "10",
            "--flow-period",
            "1m",
        ]),
        Some(FlowControl {
            key: "tenant-42".to_owned(),
            parallelism: Some(2),
            rate: Some(10),
            period: Some("60s".to_owned()),
        })
    );
    assert_eq!(
        flow(&["https://a.example/", "--flow-key", "k", "--flow-rate", "5"]),
        Some(FlowControl {
            key: "k".to_owned(),
            rate: Some(5),
            ..FlowControl::default()
        })
    );
}

#[test]
fn flow_flags_need_a_key_and_a_limit() {
    let rejected = |line: &[&str]| {
        let result = Cli::try_parse_from(std::iter::once("publish").chain(line.iter().copied()));
        assert!(result.is_err(), "{line:?} was accepted");
    };
    rejected(&["https://a/", "--flow-key", "k"]);
    rejected(&["https://a/", "--flow-key", "k", "--flow-period", "1m"]);
    rejected(&["https://a/", "--flow-parallelism", "2"]);
    rejected(&["https://a/", "--flow-key", "k", "--flow-rate", "0"]);
    rejected(&[
        "https://a/",
        "--flow-key",
        "k",
        "--flow-rate",
        "1",
        "--flow-period",
        "8d",
    ]);
}

#[test]
fn header_arguments_need_a_name_and_a_colon() {
    let check = |raw: &str, expected: Option<(&str, &str)>| {
        let parsed = parse_header(raw).ok();
        let expected = expected.map(|(name, value)| (name.to_owned(), value.to_owned()));
        assert_eq!(parsed, expected, "{raw:?}");
    };
    check("X-A: 1", Some(("X-A", "1")));
    check("X-A:1", Some(("X-A", "1")));
    check(
        "X-Url: https://a.example:8080/",
        Some(("X-Url", "https://a.example:8080/")),
    );
    check("X-A", None);
    check(": v", None);
    check("X A: v", None);
}

#[test]
fn the_body_comes_from_data_or_a_file() {
    let dir = std::env::temp_dir().join(format!("ferry-publish-body-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("body.bin");
    std::fs::write(&path, [0xff, 0x00]).unwrap();
    let body = |line: &[&str]| {
        let cli =
            Cli::try_parse_from(std::iter::once("publish").chain(line.iter().copied())).unwrap();
        read_body(&cli.args)
    };
    assert_eq!(body(&["https://a/", "--data", "hi"]).unwrap(), b"hi");
    assert_eq!(body(&["https://a/"]).unwrap(), b"");
    assert_eq!(
        body(&["https://a/", "--file", path.to_str().unwrap()]).unwrap(),
        [0xff, 0x00]
    );
    let missing = dir.join("missing.txt");
    let error = format!(
        "{:#}",
        body(&["https://a/", "--file", missing.to_str().unwrap()]).unwrap_err()
    );
    assert!(error.starts_with("reading the body from "), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

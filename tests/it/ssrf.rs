//! The outbound address policy end to end: with no network allowlisted,
//! every spelling of loopback, the cloud metadata addresses and private
//! ranges are refused before any connection is made, and a redirect is
//! never followed, so a destination cannot bounce Ferry somewhere else.
//!
//! No test here sends traffic to a non-loopback address: refused addresses
//! are judged before connecting, and the only server contacted is the sink.

use ferry_deliver::DeliverConfig;
use ferry_sdk::PublishOptions;
use ferry_tests::ferry::{TestFerry, TestOptions, test_deliver_config};
use ferry_tests::sink::{Reply, TestSink};

use crate::dlq::wait_for_dead_letter;

/// Delivery with a single attempt, so a failure dead-letters at once.
fn one_attempt() -> PublishOptions {
    PublishOptions {
        retries: Some(0),
        ..PublishOptions::default()
    }
}

/// Destinations that must be refused when nothing is allowlisted, each with
/// the canonical address the refusal should name (`None` for a host name,
/// whose refusal names the range but none of the addresses it resolves to,
/// so publishers cannot map internal names).
fn forbidden_destinations(port: u16) -> Vec<(String, Option<&'static str>)> {
    vec![
        (format!("http://127.0.0.1:{port}/"), Some("127.0.0.1")),
        (format!("http://localhost:{port}/"), None),
        (format!("http://0x7f.1:{port}/"), Some("127.0.0.1")),
        (format!("http://2130706433:{port}/"), Some("127.0.0.1")),
        (format!("http://0177.0.0.1:{port}/"), Some("127.0.0.1")),
        (format!("http://127.1:{port}/"), Some("127.0.0.1")),
        (format!("http://[::1]:{port}/"), Some("::1")),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            Some("127.0.0.1"),
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            Some("169.254.169.254"),
        ),
        ("http://[fd00:ec2::254]/".to_owned(), Some("fd00:ec2::254")),
        ("http://10.20.30.40/".to_owned(), Some("10.20.30.40")),
        ("http://192.168.1.1/".to_owned(), Some("192.168.1.1")),
    ]
}

#[tokio::test]
async fn private_addresses_in_every_spelling_are_refused_without_a_connection() {
    let options = TestOptions {
        deliver: DeliverConfig {
            allow_networks: vec![],
            ..test_deliver_config()
        },
        ..TestOptions::default()
    };
    let ferry = TestFerry::start_with(options).await;
    let sink = TestSink::start().await;
    let mut published = Vec::new();
    for (destination, address) in forbidden_destinations(sink.addr().port()) {
        let response = ferry
            .sdk()
            .publish(&destination, "secret please", &one_attempt())
            .await
            .unwrap_or_else(|error| panic!("publishing to {destination}: {error}"));
        published.push((destination, address, response.message_id));
    }
    for (destination, address, id) in published {
        let dead = wait_for_dead_letter(&ferry, &id).await;
        assert_eq!(
            dead.response_status, 0,
            "{destination}: no response arrived"
        );
        let reason = dead.response_body.unwrap_or_default();
        assert!(reason.contains("refused"), "{destination}: {reason:?}");
        match address {
            Some(address) => assert!(
                reason.contains(address),
                "{destination}: {reason:?} names no {address}"
            ),
            None => assert!(
                !reason.contains("127.0.0.1") && !reason.contains("::1"),
                "{destination}: {reason:?} names the address it resolves to"
            ),
        }
    }
    assert_eq!(sink.n_requests(), 0, "{:?}", sink.requests());
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_counts_as_a_failure() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    let landing = sink.url("/landing");
    sink.respond(Reply::redirect(&landing));
    let id = ferry
        .sdk()
        .publish(&sink.url("/start"), "follow me", &one_attempt())
        .await
        .unwrap()
        .message_id;

    let dead = wait_for_dead_letter(&ferry, &id).await;
    assert_eq!(dead.response_status, 302);
    let headers = dead
        .response_header
        .expect("the redirect's headers are kept");
    assert_eq!(headers["Location"], [landing]);
    assert_eq!(sink.n_requests_to("/start"), 1);
    assert_eq!(
        sink.n_requests_to("/landing"),
        0,
        "the redirect was followed"
    );
}

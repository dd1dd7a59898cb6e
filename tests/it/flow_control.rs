//! Flow control across two real `ferry deliver` processes: a key's
//! parallelism bounds the attempts in flight, its rate is never exceeded at
//! the destination, and the `/v2/flowControl` routes report and steer it.
//!
//! The rate is checked against the fixed windows Ferry enforces: a window
//! opens with an admission and admits at most `rate` attempts, and the next
//! one opens no sooner than a period later. Seen from the sink, arrivals
//! therefore come in groups of at most `rate` that start at least a period
//! apart; grouping arrivals into spans of `period - SLACK` tolerates up to
//! `SLACK` of delivery jitter without ever hiding an excess.

use std::time::Duration;

use ferry_tests::ferry::{TOKEN, TestFerry};
use ferry_tests::sink::{Recorded, Reply, TestSink};
use serde_json::Value;

use crate::dlq::wait_for_dead_letter;
use crate::queues::{DELIVERY_LIMIT, REPLY_DELAY, call, most_in_flight, start, stop};

const SLACK: Duration = Duration::from_secs(1);

/// Publishes `body` to `url` under flow-control key `key` with `value`;
/// returns the message id.
async fn publish(ferry: &TestFerry, url: &str, key: &str, value: &str, body: &str) -> String {
    let response = ferry
        .http()
        .post(ferry.url(&format!("/v2/publish/{url}")))
        .bearer_auth(TOKEN)
        .header("Upstash-Flow-Control-Key", key)
        .header("Upstash-Flow-Control-Value", value)
        .header("Upstash-Retries", "0")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201, "publishing {body}");
    let answer: Value = response.json().await.unwrap();
    answer["messageId"].as_str().unwrap().to_owned()
}

async fn key_info(ferry: &TestFerry, key: &str) -> Value {
    let (status, text) = call(
        ferry,
        reqwest::Method::GET,
        &format!("/v2/flowControl/{key}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// Sizes of the groups arrivals fall into, each group spanning less than
/// `span` from its first arrival (see the module doc).
fn groups_within(requests: &[Recorded], span: Duration) -> Vec<usize> {
    let mut times: Vec<_> = requests.iter().map(|r| r.at).collect();
    times.sort();
    let mut sizes = Vec::new();
    let mut start = None;
    for at in times {
        match start {
            Some(first) if at < first + span => *sizes.last_mut().unwrap() += 1,
            _ => {
                start = Some(at);
                sizes.push(1);
            }
        }
    }
    sizes
}

#[tokio::test]
async fn parallelism_bounds_the_attempts_in_flight_across_deliverers() {
    let (ferry, deliverers) = start().await;
    let sink = TestSink::start().await;
    sink.respond(Reply::delay(REPLY_DELAY, Reply::status(200)));
    let url = sink.url("/narrow");
    for i in 0..12 {
        publish(&ferry, &url, "narrow", "parallelism=2", &format!("n{i}")).await;
    }
    let requests = sink.wait_for_requests(12, DELIVERY_LIMIT).await;
    assert_eq!(most_in_flight(&requests), 2, "two at once, never three");
    sink.assert_quiet(Duration::from_millis(300)).await;
    let info = key_info(&ferry, "narrow").await;
    assert_eq!(info["parallelismMax"], 2);
    assert_eq!(info["parallelismCount"], 0, "every slot was freed");
    assert_eq!(info["waitListSize"], 0);
    stop(deliverers).await;
}

#[tokio::test]
async fn the_rate_is_never_exceeded_at_the_destination() {
    let (ferry, deliverers) = start().await;
    let sink = TestSink::start().await;
    let url = sink.url("/metered");
    let (rate, period) = (3, Duration::from_secs(2));
    for i in 0..9 {
        publish(
            &ferry,
            &url,
            "metered",
            "rate=3, period=2s",
            &format!("m{i}"),
        )
        .await;
    }
    let info = key_info(&ferry, "metered").await;
    assert_eq!(
        (info["rateMax"].as_u64(), info["ratePeriod"].as_u64()),
        (Some(3), Some(2))
    );
    let requests = sink.wait_for_requests(9, DELIVERY_LIMIT).await;
    let groups = groups_within(&requests, period - SLACK);
    assert!(
        groups.iter().all(|n| *n <= rate),
        "at most {rate} per window, got groups {groups:?}"
    );
    assert!(
        groups.len() >= 3,
        "nine at three per window need three windows: {groups:?}"
    );
    sink.assert_quiet(Duration::from_millis(300)).await;
    stop(deliverers).await;
}

#[tokio::test]
async fn a_paused_key_holds_its_messages_until_resumed() {
    let (ferry, deliverers) = start().await;
    let sink = TestSink::start().await;
    let url = sink.url("/held");
    let post = |path: String| {
        let ferry = &ferry;
        async move { call(ferry, reqwest::Method::POST, &path, None).await }
    };
    publish(&ferry, &url, "held", "parallelism=1", "first").await;
    sink.wait_for_requests(1, DELIVERY_LIMIT).await;
    assert_eq!(
        post("/v2/flowControl/held/pause".into()).await,
        (200, String::new())
    );
    publish(&ferry, &url, "held", "parallelism=1", "second").await;
    sink.assert_quiet(Duration::from_millis(700)).await;
    let info = key_info(&ferry, "held").await;
    assert_eq!(
        (info["isPaused"].as_bool(), info["waitListSize"].as_u64()),
        (Some(true), Some(1))
    );

    assert_eq!(
        post("/v2/flowControl/held/resume".into()).await,
        (200, String::new())
    );
    let requests = sink.wait_for_requests(2, DELIVERY_LIMIT).await;
    assert_eq!(&requests[1].body[..], b"second");
    let (status, listed) = call(&ferry, reqwest::Method::GET, "/v2/flowControl", None).await;
    assert_eq!(status, 200);
    let listed: Vec<Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["flowControlKey"], "held");
    let (status, _) = post("/v2/flowControl/nope/pause".into()).await;
    assert_eq!(status, 404, "an unknown key");
    let (status, text) = post("/v2/flowControl/held/pin".into()).await;
    assert_eq!(status, 400, "a pin without limits: {text}");
    stop(deliverers).await;
}

#[tokio::test]
async fn a_dead_letter_frees_its_slot_and_is_found_by_its_key() {
    let (ferry, deliverers) = start().await;
    let sink = TestSink::start().await;
    sink.respond(Reply::status(500));
    let id = publish(
        &ferry,
        &sink.url("/broken"),
        "fragile",
        "parallelism=1",
        "x",
    )
    .await;
    let dead = wait_for_dead_letter(&ferry, &id).await;
    assert_eq!(dead.message.flow_control_key.as_deref(), Some("fragile"));
    assert_eq!(dead.message.parallelism, Some(1));
    let (status, text) = call(
        &ferry,
        reqwest::Method::GET,
        "/v2/dlq?flowControlKey=fragile",
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let page: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(1));
    let (_, other) = call(
        &ferry,
        reqwest::Method::GET,
        "/v2/dlq?flowControlKey=sturdy",
        None,
    )
    .await;
    let other: Value = serde_json::from_str(&other).unwrap();
    assert_eq!(other["messages"].as_array().map(Vec::len), Some(0));
    assert_eq!(key_info(&ferry, "fragile").await["parallelismCount"], 0);
    stop(deliverers).await;
}

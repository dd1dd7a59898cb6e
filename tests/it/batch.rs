//! `POST /v2/batch`: many publishes in one request, in the forms both SDKs
//! send; a bad item stores nothing.

use std::time::Duration;

use ferry_tests::ferry::{TOKEN, TestFerry};
use ferry_tests::sink::TestSink;
use serde_json::{Value, json};

async fn batch(ferry: &TestFerry, items: Value) -> (u16, Value) {
    let response = ferry
        .http()
        .post(ferry.url("/v2/batch"))
        .bearer_auth(TOKEN)
        .json(&items)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_batch_publishes_every_item_in_order() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    let (status, body) = batch(
        &ferry,
        json!([
            // The JS SDK: lower-case header names, no queue key.
            {"destination": sink.url("/a?x=1"), "headers": {"upstash-method": "PUT", "upstash-forward-x-item": "a"}, "body": "first"},
            // The Python SDK: "queue": null, and "body": null for an empty body.
            {"destination": sink.url("/b"), "headers": {"Content-Type": "text/plain"}, "body": null, "queue": null},
            {"destination": sink.url("/c"), "headers": {"Upstash-Deduplication-Id": "once"}, "body": "c"},
            {"destination": sink.url("/c"), "headers": {"Upstash-Deduplication-Id": "once"}, "body": "c"}
        ]),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let results = body.as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[3]["messageId"], results[2]["messageId"]);
    assert_eq!(results[3]["deduplicated"], true);

    let requests = sink.wait_for_requests(3, Duration::from_secs(10)).await;
    sink.assert_quiet(Duration::from_millis(300)).await;
    let at = |path: &str| requests.iter().find(|r| r.uri.path() == path).unwrap();
    let a = at("/a");
    assert_eq!(a.method, "PUT");
    assert_eq!(a.uri, "/a?x=1");
    assert_eq!(a.header("x-item"), Some("a"));
    assert_eq!(a.body.as_ref(), b"first");
    assert_eq!(a.message_id(), results[0]["messageId"]);
    let b = at("/b");
    assert!(b.body.is_empty());
    assert_eq!(b.header("content-type"), Some("text/plain"));
    assert_eq!(requests.len(), 3, "the duplicate was not delivered");
}

#[tokio::test]
async fn a_bad_item_stores_nothing_and_is_named() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    let (status, body) = batch(
        &ferry,
        json!([
            {"destination": sink.url("/ok"), "body": "fine"},
            {"destination": sink.url("/bad"), "headers": {"Upstash-Retries": "many"}, "body": "x"}
        ]),
    )
    .await;
    assert_eq!(status, 400);
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("batch item 1") && error.contains("Upstash-Retries"),
        "{error}"
    );

    let (status, body) = batch(
        &ferry,
        json!([{"destination": sink.url("/q"), "body": "x", "queue": "jobs",
                 "headers": {"Upstash-Delay": "10s"}}]),
    )
    .await;
    assert_eq!(status, 400, "a queue item may not be delayed: {body}");

    let (status, _) = batch(&ferry, json!({"destination": sink.url("/x")})).await;
    assert_eq!(status, 400, "the body must be an array");
    sink.assert_quiet(Duration::from_millis(500)).await;
    assert_eq!(sink.n_requests(), 0);
}

//! `POST /v2/batch`: many publishes in one request, in the forms both SDKs
//! send; a bad item stores nothing, and a refusal while storing says what
//! was stored.

use std::time::Duration;

use ferry_tests::ferry::{TOKEN, TestFerry, TestOptions};
use ferry_tests::sink::TestSink;
use serde_json::{Value, json};

async fn send(ferry: &TestFerry, items: &Value) -> reqwest::Response {
    ferry
        .http()
        .post(ferry.url("/v2/batch"))
        .bearer_auth(TOKEN)
        .json(items)
        .send()
        .await
        .unwrap()
}

async fn batch(ferry: &TestFerry, items: Value) -> (u16, Value) {
    let response = send(ferry, &items).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

/// How many pending messages tenant A has, found by cancelling them all.
async fn cancel_all(ferry: &TestFerry) -> u64 {
    let response = ferry
        .http()
        .delete(ferry.url("/v2/messages"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["cancelled"].as_u64().unwrap()
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

    // Valid items first, then one whose header could smuggle a line into
    // the delivery, then one naming a group that does not exist.
    let queue_and_key = json!({"destination": sink.url("/q"), "body": "x", "queue": "jobs",
        "headers": {"upstash-flow-control-key": "k", "upstash-flow-control-value": "parallelism=1"}});
    let (status, body) = batch(
        &ferry,
        json!([queue_and_key, {"destination": sink.url("/crlf"), "body": "x",
            "headers": {"upstash-forward-x-note": "a\r\nX-Injected: 1"}}]),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("batch item 1"),
        "{body}"
    );
    let (status, body) = batch(
        &ferry,
        json!([queue_and_key, {"destination": "no-such-group", "body": "x"}]),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("batch item 1"),
        "{body}"
    );

    let (status, _) = batch(&ferry, json!({"destination": sink.url("/x")})).await;
    assert_eq!(status, 400, "the body must be an array");
    sink.assert_quiet(Duration::from_millis(500)).await;
    assert_eq!(sink.n_requests(), 0);
    assert_eq!(cancel_all(&ferry).await, 0, "nothing was stored");
}

#[tokio::test]
async fn a_refusal_while_storing_says_what_was_stored() {
    let ferry = TestFerry::start_with(TestOptions {
        partitions: 1,
        max_backlog_per_partition: 2,
        run_deliverer: false,
        ..TestOptions::default()
    })
    .await;
    let item = |n: u32| json!({"destination": format!("https://a.example/{n}"), "body": "x"});
    let response = send(&ferry, &json!([item(0), item(1), item(2), item(3)])).await;
    assert_eq!(response.status().as_u16(), 429);
    let header = |name: &str| {
        let value = response.headers().get(name);
        value.and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    assert_eq!(header("retry-after").as_deref(), Some("1"));
    assert_eq!(header("burst-ratelimit-limit").as_deref(), Some("2"));
    assert_eq!(header("burst-ratelimit-remaining").as_deref(), Some("0"));
    let reset: u64 = header("burst-ratelimit-reset").unwrap().parse().unwrap();
    assert!(reset > 1_700_000_000, "Unix seconds: {reset}");
    let body: Value = response.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(
        error.starts_with("batch item 2: backlog full"),
        "the refused item is named: {error}"
    );
    let stored: Vec<&str> = error
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|word| word.starts_with("msg_"))
        .collect();
    assert_eq!(stored.len(), 2, "{error}");
    for id in stored {
        assert!(ferry.sdk().message(id).await.is_ok(), "{id} is stored");
    }
    assert_eq!(cancel_all(&ferry).await, 2, "and nothing else");
}

#[tokio::test]
async fn an_item_with_thousands_of_header_names_is_refused_naming_the_limit() {
    let ferry = TestFerry::start().await;
    // 24,577 names is where building the item's header map used to panic
    // (a plain-text 500): the limit must be checked before.
    for n in [65, 24_577, 40_000] {
        let headers: serde_json::Map<String, Value> = (0..n)
            .map(|i| (format!("x-bomb-{i}"), json!("v")))
            .collect();
        let items = json!([
            {"destination": "https://a.example/fine", "body": "x"},
            {"destination": "https://a.example/bomb", "headers": headers, "body": "x"}
        ]);
        crate::bad_input::assert_error(
            send(&ferry, &items).await,
            431,
            &format!("batch item 1: too many headers: {n} (at most 64)"),
        )
        .await;
    }
    assert_eq!(cancel_all(&ferry).await, 0, "nothing is stored");
}

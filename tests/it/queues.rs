//! Queues across two real `ferry deliver` processes: FIFO order and the
//! parallelism bound hold whichever process takes a message, a paused queue
//! keeps what it accepts until resumed, a retried message keeps its place,
//! and a queue's messages with a flow-control key keep both bounds.
//!
//! Overlap is checked from arrival times: the sink answers each request no
//! sooner than [`REPLY_DELAY`] after it arrived, so every request that
//! arrived within `REPLY_DELAY` before another one was still in flight when
//! that one arrived. The check can miss overlap, never invent it.

use std::time::Duration;

use ferry_tests::ferry::{TOKEN, TestFerry, TestOptions};
use ferry_tests::sink::{Recorded, Reply, TestSink};
use serde_json::{Value, json};

use crate::deliverers::{Deliverer, write_config};

/// How long the sink waits before answering each request.
pub(crate) const REPLY_DELAY: Duration = Duration::from_millis(150);
pub(crate) const DELIVERY_LIMIT: Duration = Duration::from_secs(30);

/// A Ferry without its own deliverer, served by two deliverer processes.
pub(crate) async fn start() -> (TestFerry, [Deliverer; 2]) {
    let ferry = TestFerry::start_with(TestOptions {
        run_deliverer: false,
        partitions: 4,
        ..TestOptions::default()
    })
    .await;
    let config = write_config(&ferry);
    let deliverers = [Deliverer::spawn(&config), Deliverer::spawn(&config)];
    (ferry, deliverers)
}

pub(crate) async fn stop(deliverers: [Deliverer; 2]) {
    for mut deliverer in deliverers {
        assert!(deliverer.terminate().await.success());
    }
}

pub(crate) async fn call(
    ferry: &TestFerry,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let mut request = ferry
        .http()
        .request(method, ferry.url(path))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn upsert(ferry: &TestFerry, name: &str, parallelism: u32, paused: bool) {
    let body = json!({"queueName": name, "parallelism": parallelism, "paused": paused});
    let (status, text) = call(ferry, reqwest::Method::POST, "/v2/queues", Some(body)).await;
    assert_eq!((status, text.as_str()), (200, ""));
}

/// Enqueues `body` to `queue` for `url`; returns the message id.
async fn enqueue(
    ferry: &TestFerry,
    queue: &str,
    url: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> String {
    let mut request = ferry
        .http()
        .post(ferry.url(&format!("/v2/enqueue/{queue}/{url}")))
        .bearer_auth(TOKEN)
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 201, "enqueueing {body}");
    let answer: Value = response.json().await.unwrap();
    answer["messageId"].as_str().unwrap().to_owned()
}

fn bodies(requests: &[Recorded]) -> Vec<String> {
    requests
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect()
}

/// The most requests provably in flight at once (see the module doc).
pub(crate) fn most_in_flight(requests: &[Recorded]) -> usize {
    requests
        .iter()
        .map(|later| {
            requests
                .iter()
                .filter(|r| r.at <= later.at && later.at < r.at + REPLY_DELAY)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_parallelism_1_queue_delivers_in_order_one_at_a_time() {
    let (ferry, deliverers) = start().await;
    let sink = TestSink::start().await;
    sink.respond(Reply::delay(REPLY_DELAY, Reply::status(200)));
    let url = sink.url("/ordered");
    let sent: Vec<String> = (0..20).map(|i| format!("seq:{i:02}")).collect();
    for body in &sent {
        enqueue(&ferry, "ordered", &url, body, &[]).await;
    }
    let requests = sink.wait_for_requests(sent.len(), DELIVERY_LIMIT).await;
    assert_eq!(bodies(&requests), sent, "delivered in enqueue order");
    assert_eq!(most_in_flight(&requests), 1, "never two in flight");
    sink.assert_quiet(Duration::from_millis(500)).await;
    stop(deliverers).await;
}

#[tokio::test]
async fn a_parallelism_2_queue_never_has_more_than_2_in_flight() {
    let (ferry, deliverers) = start().await;
    let sink = TestSink::start().await;
    sink.respond(Reply::delay(REPLY_DELAY, Reply::status(200)));
    upsert(&ferry, "wide", 2, false).await;
    let url = sink.url("/wide");
    for i in 0..12 {
        enqueue(&ferry, "wide", &url, &format!("w{i}"), &[]).await;
    }
    let requests = sink.wait_for_requests(12, DELIVERY_LIMIT).await;
    assert_eq!(most_in_flight(&requests), 2, "two at once, never three");
    stop(deliverers).await;
}

#[tokio::test]
async fn a_paused_queue_accepts_but_delivers_only_once_resumed() {
    let (ferry, deliverers) = start().await;
    let sink = TestSink::start().await;
    upsert(&ferry, "held", 1, true).await;
    let url = sink.url("/held");
    let first = enqueue(&ferry, "held", &url, "first", &[]).await;
    enqueue(&ferry, "held", &url, "second", &[]).await;
    sink.assert_quiet(Duration::from_secs(1)).await;
    let path = format!("/v2/messages/{first}");
    let (status, text) = call(&ferry, reqwest::Method::GET, &path, None).await;
    let waiting: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((status, &waiting["queueName"]), (200, &json!("held")));
    let (status, text) = call(&ferry, reqwest::Method::GET, "/v2/queues/held", None).await;
    assert_eq!(status, 200);
    let shown: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (shown["lag"].as_u64(), shown["paused"].as_bool()),
        (Some(2), Some(true))
    );

    let (status, _) = call(
        &ferry,
        reqwest::Method::POST,
        "/v2/queues/held/resume",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let requests = sink.wait_for_requests(2, DELIVERY_LIMIT).await;
    assert_eq!(bodies(&requests), ["first", "second"]);
    stop(deliverers).await;
}

#[tokio::test]
async fn a_retried_message_keeps_its_place_in_the_queue() {
    let (ferry, deliverers) = start().await;
    let sink = TestSink::start().await;
    sink.respond_next(2, Reply::status(500));
    let url = sink.url("/retried");
    let retries = [("Upstash-Retries", "3"), ("Upstash-Retry-Delay", "300")];
    let first = enqueue(&ferry, "patient", &url, "first", &retries).await;
    let second = enqueue(&ferry, "patient", &url, "second", &[]).await;
    let requests = sink.wait_for_requests(4, DELIVERY_LIMIT).await;
    let order: Vec<&str> = requests.iter().map(Recorded::message_id).collect();
    assert_eq!(
        order,
        [&first, &first, &first, &second],
        "the second waits for the first's retries"
    );
    assert_eq!(requests[2].retried(), 2);
    stop(deliverers).await;
}

#[tokio::test]
async fn the_next_message_waits_for_the_callback_of_the_current_one() {
    let (ferry, deliverers) = start().await;
    let sink = TestSink::start().await;
    sink.respond_to_paths_containing("/callback", Reply::delay(REPLY_DELAY, Reply::status(200)));
    let url = sink.url("/hooked");
    let callback = sink.url("/callback");
    let with_callback = [("Upstash-Callback", callback.as_str())];
    enqueue(&ferry, "hooked", &url, "first", &with_callback).await;
    enqueue(&ferry, "hooked", &url, "second", &[]).await;
    let requests = sink.wait_for_requests(3, DELIVERY_LIMIT).await;
    let paths: Vec<&str> = requests.iter().map(|r| r.uri.path()).collect();
    assert_eq!(paths, ["/hooked", "/callback", "/hooked"], "{requests:?}");
    // The callback's answer took REPLY_DELAY; the second was admitted only
    // after it was recorded.
    assert!(
        requests[2].at >= requests[1].at + REPLY_DELAY,
        "the second arrived while the first's callback was in flight"
    );
    stop(deliverers).await;
}

#[tokio::test]
async fn enqueue_refuses_a_delay() {
    let ferry = TestFerry::start().await;
    for header in ["Upstash-Delay", "Upstash-Not-Before"] {
        let value = if header == "Upstash-Delay" {
            "10s"
        } else {
            "4102444800"
        };
        let response = ferry
            .http()
            .post(ferry.url("/v2/enqueue/q/https://example.com/hook"))
            .bearer_auth(TOKEN)
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{header}");
    }
    let (status, text) = call(&ferry, reqwest::Method::GET, "/v2/queues", None).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "[]"),
        "a refused enqueue creates no queue"
    );
}

#[tokio::test]
async fn batch_items_with_a_queue_are_enqueued() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    let items = json!([
        {"destination": sink.url("/batched"), "body": "one", "queue": "batched"},
        {"destination": sink.url("/batched"), "body": "two", "queue": "batched"},
    ]);
    let (status, text) = call(&ferry, reqwest::Method::POST, "/v2/batch", Some(items)).await;
    assert_eq!(status, 201, "{text}");
    let requests = sink.wait_for_requests(2, DELIVERY_LIMIT).await;
    assert_eq!(bodies(&requests), ["one", "two"]);
    let (status, text) = call(&ferry, reqwest::Method::GET, "/v2/queues", None).await;
    assert_eq!(status, 200);
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed[0]["name"], "batched");
    assert_eq!(listed[0]["parallelism"], 1);
}

#[tokio::test]
async fn a_queue_with_a_flow_control_key_keeps_the_tighter_bound() {
    let (ferry, deliverers) = start().await;
    let sink = TestSink::start().await;
    sink.respond(Reply::delay(REPLY_DELAY, Reply::status(200)));
    // The key is tighter than the queue here, the queue in the other pair.
    upsert(&ferry, "wide", 3, false).await;
    let narrow_key = [
        ("Upstash-Flow-Control-Key", "narrow-key"),
        ("Upstash-Flow-Control-Value", "parallelism=1"),
    ];
    let wide_key = [
        ("Upstash-Flow-Control-Key", "wide-key"),
        ("Upstash-Flow-Control-Value", "parallelism=4"),
    ];
    let (key_bound, queue_bound) = (sink.url("/key-bound"), sink.url("/queue-bound"));
    let sent: Vec<String> = (0..6).map(|i| format!("q{i}")).collect();
    for body in &sent {
        enqueue(&ferry, "wide", &key_bound, body, &narrow_key).await;
        enqueue(&ferry, "ordered", &queue_bound, body, &wide_key).await;
    }
    let requests = sink.wait_for_requests(12, DELIVERY_LIMIT).await;
    let at = |path: &str| -> Vec<Recorded> {
        requests
            .iter()
            .filter(|r| r.uri.path() == path)
            .cloned()
            .collect()
    };
    assert_eq!(
        most_in_flight(&at("/key-bound")),
        1,
        "the key's parallelism"
    );
    let ordered = at("/queue-bound");
    assert_eq!(most_in_flight(&ordered), 1, "the queue's parallelism");
    assert_eq!(bodies(&ordered), sent, "in queue order");
    sink.assert_quiet(Duration::from_millis(300)).await;
    for key in ["narrow-key", "wide-key"] {
        let (status, text) = call(
            &ferry,
            reqwest::Method::GET,
            &format!("/v2/flowControl/{key}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let info: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (&info["parallelismCount"], &info["waitListSize"]),
            (&json!(0), &json!(0)),
            "{key}: every slot freed"
        );
    }
    stop(deliverers).await;
}

//! Tests for `TestSink`: scripted replies come out in arrival order, requests
//! are recorded exactly, and every bounded wait fails loudly.

use std::any::Any;
use std::sync::Arc;

use http::StatusCode;

use super::*;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(sink: &TestSink, path: &str) -> reqwest::Response {
    client().get(sink.url(path)).send().await.unwrap()
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map(|message| message.to_string())
            .unwrap_or_default(),
    }
}

#[tokio::test]
async fn default_reply_is_200_with_empty_body() {
    let sink = TestSink::start().await;
    let response = get(&sink, "/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn one_shot_replies_come_first_then_the_default() {
    let sink = TestSink::start().await;
    sink.respond(Reply::status(201).body("default"));
    sink.respond_next(2, Reply::status(503));
    sink.respond_next(1, Reply::status(429).header("retry-after", "7"));

    let expected = [
        (503, None, ""),
        (503, None, ""),
        (429, Some("7"), ""),
        (201, None, "default"),
        (201, None, "default"),
    ];
    for (idx, (status, retry_after, body)) in expected.into_iter().enumerate() {
        let response = get(&sink, &format!("/{idx}")).await;
        assert_eq!(response.status().as_u16(), status, "request {idx}");
        let header = response
            .headers()
            .get("retry-after")
            .map(|value| value.to_str().unwrap());
        assert_eq!(header, retry_after, "request {idx}");
        assert_eq!(response.text().await.unwrap(), body, "request {idx}");
    }
}

#[tokio::test]
async fn script_changes_while_running() {
    let sink = TestSink::start().await;
    assert_eq!(get(&sink, "/").await.status(), StatusCode::OK);
    sink.respond(Reply::status(410));
    assert_eq!(get(&sink, "/").await.status(), StatusCode::GONE);
}

#[tokio::test]
async fn records_request_byte_for_byte() {
    let mut sink = TestSink::start().await;
    let body: Vec<u8> = (0..=255).collect();
    client()
        .post(sink.url("/hook?x=1&y=%20"))
        .header("Upstash-Message-Id", "msg_1")
        .header("Upstash-Retried", "2")
        .header("Upstash-Signature", "v1.sig")
        .header("Content-Type", "application/octet-stream")
        .body(body.clone())
        .send()
        .await
        .unwrap();

    let recorded = sink.next_request().await;
    assert_eq!(recorded.method, http::Method::POST);
    assert_eq!(recorded.uri, "/hook?x=1&y=%20");
    assert_eq!(recorded.body, body);
    assert_eq!(recorded.message_id(), "msg_1");
    assert_eq!(recorded.retried(), 2);
    assert_eq!(recorded.signature(), "v1.sig");
    assert_eq!(
        recorded.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(recorded.header("upstash-topic-name"), None);
}

#[tokio::test]
async fn next_request_returns_each_request_once_in_order() {
    let mut sink = TestSink::start().await;
    get(&sink, "/first").await;
    get(&sink, "/second").await;
    assert_eq!(sink.next_request().await.uri, "/first");
    assert_eq!(sink.next_request().await.uri, "/second");
    assert_eq!(sink.n_requests(), 2);
}

#[tokio::test]
async fn counts_requests_per_path_ignoring_query() {
    let sink = TestSink::start().await;
    for path in ["/a", "/a?q=1", "/b"] {
        get(&sink, path).await;
    }
    let check = |path: &str, expected: usize| {
        assert_eq!(sink.n_requests_to(path), expected, "{path}");
    };
    check("/a", 2);
    check("/b", 1);
    check("/c", 0);
    assert_eq!(sink.n_requests(), 3);
}

#[tokio::test]
async fn redirect_answers_302_with_location() {
    let sink = TestSink::start().await;
    sink.respond(Reply::redirect("/elsewhere"));
    let response = get(&sink, "/").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["location"], "/elsewhere");
}

#[tokio::test]
async fn delayed_reply_waits_before_answering() {
    let sink = TestSink::start().await;
    let pause = Duration::from_millis(300);
    sink.respond(Reply::delay(pause, Reply::status(204)));
    let sent = Instant::now();
    let response = get(&sink, "/").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(
        sent.elapsed() >= pause,
        "answered after {:?}",
        sent.elapsed()
    );
}

#[tokio::test]
async fn hung_request_is_released_when_the_sink_drops() {
    let sink = TestSink::start().await;
    sink.respond(Reply::hang());
    let request = client().get(sink.url("/hang")).send();
    let pending = tokio::spawn(request);
    sink.wait_for_requests(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!pending.is_finished(), "a hanging reply answered");

    drop(sink);

    let outcome = tokio::time::timeout(Duration::from_secs(2), pending)
        .await
        .expect("hung request not released by drop")
        .unwrap();
    assert!(outcome.is_err(), "hung request got an answer: {outcome:?}");
}

#[tokio::test]
async fn wait_for_requests_returns_all_once_enough_arrived() {
    let sink = TestSink::start().await;
    get(&sink, "/1").await;
    get(&sink, "/2").await;
    let requests = sink.wait_for_requests(2, Duration::from_secs(1)).await;
    let uris: Vec<String> = requests
        .iter()
        .map(|recorded| recorded.uri.to_string())
        .collect();
    assert_eq!(uris, ["/1", "/2"]);
}

#[tokio::test]
async fn wait_for_requests_panics_with_the_count_on_timeout() {
    let sink = Arc::new(TestSink::start().await);
    get(&sink, "/only").await;
    let waiter = Arc::clone(&sink);
    let waited = tokio::spawn(async move {
        waiter
            .wait_for_requests(2, Duration::from_millis(200))
            .await
    });
    let message = panic_message(waited.await.unwrap_err().into_panic());
    assert!(message.contains("expected 2 requests"), "{message}");
    assert!(message.contains("but 1 arrived"), "{message}");
}

#[tokio::test]
async fn assert_quiet_passes_without_new_requests() {
    let sink = TestSink::start().await;
    get(&sink, "/before").await;
    sink.assert_quiet(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn assert_quiet_panics_naming_the_late_request() {
    let sink = Arc::new(TestSink::start().await);
    let watcher = Arc::clone(&sink);
    let quiet = tokio::spawn(async move { watcher.assert_quiet(Duration::from_secs(3)).await });
    let url = sink.url("/late");
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        client().get(url).send().await
    });
    let message = panic_message(quiet.await.unwrap_err().into_panic());
    assert!(message.contains("GET /late"), "{message}");
}

#[test]
fn hanging_reply_rejects_a_body() {
    let refused = std::panic::catch_unwind(|| Reply::hang().body("never sent"));
    let message = panic_message(refused.unwrap_err());
    assert!(message.contains("cannot carry a body"), "{message}");
}

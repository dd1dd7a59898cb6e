//! Failed attempts: retry spacing, `Upstash-Retried`, dead-lettering, the
//! non-retryable 489, `Retry-After`, and callbacks with the whole response.

use std::time::Duration;

use base64::Engine;
use ferry_deliver::DeliverConfig;
use ferry_sdk::PublishOptions;
use ferry_tests::ferry::{TestFerry, TestOptions, test_deliver_config};
use ferry_tests::sink::{Reply, TestSink};

const WAIT: Duration = Duration::from_secs(15);

async fn dlq_entries(ferry: &TestFerry, n: usize) -> Vec<ferry_core::wire::DlqMessage> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let list = ferry
            .sdk()
            .dlq_list(&ferry_sdk::DlqQuery::default())
            .await
            .unwrap();
        if list.messages.len() >= n {
            return list.messages;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} dead letters after {WAIT:?}",
            list.messages.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn retries_follow_the_delay_expression_then_dead_letter() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    sink.respond(Reply::status(500).header("x-reason", "down").body("boom"));
    let opts = PublishOptions {
        retries: Some(2),
        retry_delay: Some("400 * (1 + retried)".into()),
        ..PublishOptions::default()
    };
    let id = ferry
        .sdk()
        .publish(&sink.url("/fail"), "payload", &opts)
        .await
        .unwrap()
        .message_id;

    let attempts = sink.wait_for_requests(3, WAIT).await;
    let retried: Vec<u32> = attempts.iter().map(|r| r.retried()).collect();
    assert_eq!(retried, [0, 1, 2]);
    assert!(
        attempts.iter().all(|r| r.message_id() == id),
        "one message id across attempts"
    );
    // `retried` is 0 before the first retry: 400 ms, then 800 ms.
    assert!(attempts[1].at - attempts[0].at >= Duration::from_millis(400));
    assert!(attempts[2].at - attempts[1].at >= Duration::from_millis(800));

    let dead = dlq_entries(&ferry, 1).await;
    assert_eq!(dead.len(), 1);
    let entry = &dead[0];
    assert_eq!(entry.message.message_id, id);
    assert_eq!(entry.response_status, 500);
    assert_eq!(entry.response_body.as_deref(), Some("boom"));
    assert_eq!(
        entry.response_header.as_ref().unwrap()["X-Reason"],
        ["down"]
    );
    assert_eq!(entry.message.max_retries, 2);
    assert_eq!(entry.message.body.as_deref(), Some("payload"));
    sink.assert_quiet(Duration::from_millis(1200)).await;
    assert_eq!(sink.n_requests(), 3, "at most 1 + retries attempts");
}

#[tokio::test]
async fn a_retried_message_succeeds_once_the_destination_recovers() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    sink.respond_next(2, Reply::status(503));
    let opts = PublishOptions {
        retries: Some(5),
        retry_delay: Some("100".into()),
        ..PublishOptions::default()
    };
    let id = ferry
        .sdk()
        .publish(&sink.url("/flaky"), "x", &opts)
        .await
        .unwrap()
        .message_id;
    let attempts = sink.wait_for_requests(3, WAIT).await;
    assert_eq!(attempts[2].retried(), 2);
    sink.assert_quiet(Duration::from_millis(500)).await;
    assert_eq!(sink.n_requests(), 3);
    assert!(
        ferry.sdk().message(&id).await.is_err(),
        "a delivered message is gone"
    );
    assert!(
        ferry
            .sdk()
            .dlq_list(&ferry_sdk::DlqQuery::default())
            .await
            .unwrap()
            .messages
            .is_empty()
    );
}

#[tokio::test]
async fn status_489_with_the_non_retryable_header_dead_letters_at_once() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    sink.respond(
        Reply::status(489)
            .header("Upstash-NonRetryable-Error", "true")
            .body("never again"),
    );
    let opts = PublishOptions {
        retries: Some(5),
        retry_delay: Some("50".into()),
        ..PublishOptions::default()
    };
    let id = ferry
        .sdk()
        .publish(&sink.url("/no"), "x", &opts)
        .await
        .unwrap()
        .message_id;
    let dead = dlq_entries(&ferry, 1).await;
    assert_eq!(dead[0].message.message_id, id);
    assert_eq!(dead[0].response_status, 489);
    sink.assert_quiet(Duration::from_millis(500)).await;
    assert_eq!(sink.n_requests(), 1);
}

#[tokio::test]
async fn status_489_without_the_header_is_retried() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    sink.respond_next(1, Reply::status(489));
    let opts = PublishOptions {
        retries: Some(1),
        retry_delay: Some("50".into()),
        ..PublishOptions::default()
    };
    ferry
        .sdk()
        .publish(&sink.url("/maybe"), "x", &opts)
        .await
        .unwrap();
    let attempts = sink.wait_for_requests(2, WAIT).await;
    assert_eq!(attempts[1].retried(), 1);
}

#[tokio::test]
async fn retry_after_overrides_the_backoff() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    sink.respond_next(1, Reply::status(429).header("Retry-After", "1"));
    let opts = PublishOptions {
        retries: Some(1),
        // A minute: the second attempt can only arrive within the wait below
        // if Retry-After was honoured.
        retry_delay: Some("60000".into()),
        ..PublishOptions::default()
    };
    ferry
        .sdk()
        .publish(&sink.url("/slow-down"), "x", &opts)
        .await
        .unwrap();
    let attempts = sink.wait_for_requests(2, WAIT).await;
    assert!(attempts[1].at - attempts[0].at >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_timed_out_attempt_is_retried() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    sink.respond_next(1, Reply::hang());
    let opts = PublishOptions {
        retries: Some(1),
        retry_delay: Some("10".into()),
        timeout: Some("1s".into()),
        ..PublishOptions::default()
    };
    ferry
        .sdk()
        .publish(&sink.url("/hang"), "x", &opts)
        .await
        .unwrap();
    let attempts = sink.wait_for_requests(2, WAIT).await;
    assert!(
        attempts[1].at - attempts[0].at >= Duration::from_secs(1),
        "the first attempt timed out after 1 s"
    );
    assert_eq!(attempts[1].retried(), 1);
}

#[tokio::test]
async fn callbacks_report_each_attempt_and_the_failure() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    sink.respond_next(1, Reply::status(500).body("first failed"));
    let callback = sink.url("/cb");
    let failure_callback = sink.url("/fcb");
    let opts = PublishOptions {
        retries: Some(0),
        callback: Some(callback.clone()),
        failure_callback: Some(failure_callback.clone()),
        ..PublishOptions::default()
    };
    let id = ferry
        .sdk()
        .publish(&sink.url("/dest"), "original", &opts)
        .await
        .unwrap()
        .message_id;
    let requests = sink.wait_for_requests(3, WAIT).await;
    let by_path = |p: &str| {
        requests
            .iter()
            .find(|r| r.uri.path() == p)
            .unwrap_or_else(|| panic!("no request to {p}"))
    };
    let b64 = base64::engine::general_purpose::STANDARD;

    let cb = by_path("/cb");
    ferry
        .receiver()
        .verify(cb.signature(), &cb.body, Some(&callback))
        .expect("callbacks are signed for their own url");
    assert_eq!(cb.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&cb.body).unwrap();
    assert_eq!(body["status"], 500);
    assert_eq!(body["sourceMessageId"], id.as_str());
    assert_eq!(
        b64.decode(body["body"].as_str().unwrap()).unwrap(),
        b"first failed"
    );
    assert_eq!(
        b64.decode(body["sourceBody"].as_str().unwrap()).unwrap(),
        b"original"
    );
    assert_eq!(body["retried"], 0);
    assert_eq!(body["maxRetries"], 0);
    assert!(body.get("dlqId").is_none());

    let fcb = by_path("/fcb");
    let body: serde_json::Value = serde_json::from_slice(&fcb.body).unwrap();
    assert_eq!(body["status"], 500);
    assert_eq!(body["sourceMessageId"], id.as_str());
    let dlq_id = body["dlqId"].as_str().unwrap();
    assert!(dlq_id.starts_with("dlq_"));
    assert_eq!(
        ferry
            .sdk()
            .dlq_get(dlq_id)
            .await
            .unwrap()
            .message
            .message_id,
        id
    );
}

#[tokio::test]
async fn a_callback_follows_a_successful_delivery() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    sink.respond(Reply::status(200).body("all good"));
    let opts = PublishOptions {
        callback: Some(sink.url("/cb")),
        ..PublishOptions::default()
    };
    ferry
        .sdk()
        .publish(&sink.url("/ok"), "x", &opts)
        .await
        .unwrap();
    let requests = sink.wait_for_requests(2, WAIT).await;
    let cb = requests
        .iter()
        .find(|r| r.uri.path() == "/cb")
        .expect("callback delivered");
    let body: serde_json::Value = serde_json::from_slice(&cb.body).unwrap();
    assert_eq!(body["status"], 200);
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(body["body"].as_str().unwrap())
            .unwrap(),
        b"all good"
    );
}

/// A callback carries the destination's whole response (an LLM's answer,
/// say) up to the size of a message; only a dead letter without callbacks
/// keeps a short excerpt of it.
#[tokio::test]
async fn a_callback_carries_the_whole_response_up_to_the_size_of_a_message() {
    const LIMIT: usize = 50_000;
    let options = TestOptions {
        deliver: DeliverConfig {
            callback_response_max: LIMIT,
            ..test_deliver_config()
        },
        ..TestOptions::default()
    };
    let ferry = TestFerry::start_with(options).await;
    let sink = TestSink::start().await;
    let answer = |n: usize| -> Vec<u8> { (0..n).map(|i| b'a' + (i % 26) as u8).collect() };
    sink.respond_to_paths_containing("/big", Reply::status(200).body(answer(40_000)));
    sink.respond_to_paths_containing("/huge", Reply::status(200).body(answer(LIMIT + 10_000)));
    sink.respond_to_paths_containing("/broken", Reply::status(500).body(answer(40_000)));
    for path in ["/big", "/huge"] {
        let opts = PublishOptions {
            callback: Some(sink.url(&format!("/cb{path}"))),
            ..PublishOptions::default()
        };
        ferry
            .sdk()
            .publish(&sink.url(path), "ask", &opts)
            .await
            .unwrap();
    }
    let no_callbacks = PublishOptions {
        retries: Some(0),
        ..PublishOptions::default()
    };
    ferry
        .sdk()
        .publish(&sink.url("/broken"), "x", &no_callbacks)
        .await
        .unwrap();

    let requests = sink.wait_for_requests(5, WAIT).await;
    let carried = |path: &str| {
        let cb = requests
            .iter()
            .find(|r| r.uri.path() == path)
            .unwrap_or_else(|| panic!("no callback at {path}"));
        let body: serde_json::Value = serde_json::from_slice(&cb.body).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        b64.decode(body["body"].as_str().unwrap()).unwrap()
    };
    assert_eq!(carried("/cb/big"), answer(40_000), "the whole response");
    assert_eq!(carried("/cb/huge"), answer(LIMIT), "the first LIMIT bytes");
    let dead = dlq_entries(&ferry, 1).await;
    let kept = dead[0].response_body.as_deref().unwrap_or_default().len();
    assert_eq!(kept, test_deliver_config().response_excerpt, "an excerpt");
}

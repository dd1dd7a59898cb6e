//! Bulk cancel through HTTP in the forms the official SDKs send: the JS
//! SDK's filter query with its legacy `count`, its `{all: true}` (only
//! `count`), the Python SDK's `cancel_all()` (no query, no body), and a
//! typo in a filter name refused before anything is cancelled. `count`
//! never limits a cancel: every match goes in one call.

use ferry_sdk::PublishOptions;
use ferry_tests::ferry::{OTHER_TOKEN, TOKEN, TestFerry};

use crate::bad_input::assert_error;

/// Publishes a message to `url` with `labels` that is due in an hour.
async fn pending(ferry: &TestFerry, token: &str, url: &str, labels: &[&str]) -> String {
    let opts = PublishOptions {
        delay: Some("1h".into()),
        labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        ..PublishOptions::default()
    };
    ferry
        .sdk_for(token)
        .publish(url, "x", &opts)
        .await
        .unwrap()
        .message_id
}

/// `DELETE /v2/messages` with `query` (`""` for none) as `token`.
async fn cancel(ferry: &TestFerry, token: &str, query: &str) -> reqwest::Response {
    ferry
        .http()
        .delete(ferry.url(&format!("/v2/messages{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The `cancelled` count of a successful bulk cancel.
async fn cancelled(ferry: &TestFerry, token: &str, query: &str) -> u64 {
    let response = cancel(ferry, token, query).await;
    assert_eq!(
        response.status().as_u16(),
        200,
        "DELETE /v2/messages{query}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    body["cancelled"].as_u64().unwrap()
}

async fn exists(ferry: &TestFerry, token: &str, id: &str) -> bool {
    ferry.sdk_for(token).message(id).await.is_ok()
}

#[tokio::test]
async fn filters_in_the_query_cancel_everything_they_match_whatever_the_count() {
    let ferry = TestFerry::start().await;
    let hook = "https://a.example/hook";
    for _ in 0..3 {
        pending(&ferry, TOKEN, hook, &["red"]).await;
    }
    let blue = pending(&ferry, TOKEN, hook, &["blue"]).await;
    let elsewhere = pending(&ferry, TOKEN, "https://b.example/other", &["red"]).await;
    let theirs = pending(&ferry, OTHER_TOKEN, hook, &["red"]).await;

    // JS `cancel({filter: {label: ["red", "green"], url}, count: 2})`.
    let red_at_hook = format!("?label=red&label=green&url={hook}");
    assert_eq!(
        cancelled(&ferry, TOKEN, &format!("{red_at_hook}&count=2")).await,
        3
    );
    assert_eq!(
        cancelled(&ferry, TOKEN, &format!("{red_at_hook}&count=2")).await,
        0
    );
    assert!(exists(&ferry, TOKEN, &blue).await && exists(&ferry, TOKEN, &elsewhere).await);

    // Comma-separated values, and the destination's host and path.
    assert_eq!(
        cancelled(&ferry, TOKEN, "?label=green,blue&count=100").await,
        1
    );
    assert_eq!(
        cancelled(&ferry, TOKEN, "?host=a.example&path=/other").await,
        0
    );
    assert_eq!(
        cancelled(&ferry, TOKEN, "?host=b.example&path=/other").await,
        1
    );
    assert!(!exists(&ferry, TOKEN, &blue).await && !exists(&ferry, TOKEN, &elsewhere).await);
    // None of that tenant's messages has this flow-control key.
    assert_eq!(cancelled(&ferry, OTHER_TOKEN, "?flowControlKey=k").await, 0);
    assert!(
        exists(&ferry, OTHER_TOKEN, &theirs).await,
        "another tenant's message stays"
    );
}

#[tokio::test]
async fn no_filter_cancels_everything_of_the_tenant() {
    let ferry = TestFerry::start().await;
    let hook = "https://a.example/hook";
    let mut ours = Vec::new();
    for _ in 0..3 {
        ours.push(pending(&ferry, TOKEN, hook, &[]).await);
    }
    let theirs = pending(&ferry, OTHER_TOKEN, hook, &[]).await;

    // JS `cancel({all: true, count: 2})`: everything, above 500 as well.
    assert_eq!(cancelled(&ferry, TOKEN, "?count=2").await, 3);
    assert_eq!(cancelled(&ferry, TOKEN, "?count=1000").await, 0);

    // Python `cancel_all()`: no query, no body, no count: everything at once.
    for _ in 0..3 {
        ours.push(pending(&ferry, TOKEN, hook, &[]).await);
    }
    assert_eq!(cancelled(&ferry, TOKEN, "").await, 3);
    for id in &ours {
        assert!(!exists(&ferry, TOKEN, id).await, "{id} was cancelled");
    }
    assert!(
        exists(&ferry, OTHER_TOKEN, &theirs).await,
        "another tenant's message stays"
    );
}

#[tokio::test]
async fn bad_cancel_requests_are_refused_before_anything_is_cancelled() {
    let ferry = TestFerry::start().await;
    let id = pending(&ferry, TOKEN, "https://a.example/hook", &["red"]).await;
    for (query, needle) in [
        ("?labeel=red", "labeel"),
        ("?label=red&cursor=1-0", "cursor"),
        ("?messageIds=x&label=red", "label"),
        ("?fromDate=yesterday", "fromDate"),
    ] {
        assert_error(cancel(&ferry, TOKEN, query).await, 400, needle).await;
    }
    let both = ferry
        .http()
        .delete(ferry.url("/v2/messages?label=red"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"messageIds": [id]}))
        .send()
        .await
        .unwrap();
    assert_error(both, 400, "not both").await;
    assert!(exists(&ferry, TOKEN, &id).await, "nothing was cancelled");
}

//! `GET /v2/events` and `/v2/logs`: what happened to each message, through
//! the API, filtered and paged.

use std::time::Duration;

use ferry_sdk::PublishOptions;
use ferry_tests::ferry::{OTHER_TOKEN, TOKEN, TestFerry};
use ferry_tests::sink::{Reply, TestSink};
use serde_json::Value;

async fn get(ferry: &TestFerry, token: &str, path_and_query: &str) -> (u16, Value) {
    let response = ferry
        .http()
        .get(ferry.url(path_and_query))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Every line of the tenant's log, oldest first, in pages of two.
async fn all_lines(ferry: &TestFerry, filter: &str) -> Vec<Value> {
    let mut lines = Vec::new();
    let mut cursor = String::new();
    for _ in 0..50 {
        let path = format!("/v2/events?order=earliestFirst&count=2{filter}{cursor}");
        let (status, page) = get(ferry, TOKEN, &path).await;
        assert_eq!(status, 200, "{page}");
        lines.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return lines,
        }
    }
    panic!("the log did not end");
}

fn states(lines: &[Value], id: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l["messageId"] == id)
        .map(|l| l["state"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_log_shows_each_messages_life() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    sink.respond_to_paths_containing("/fail", Reply::status(500));
    let sdk = ferry.sdk();
    let labelled = PublishOptions {
        labels: vec!["nightly".into()],
        ..PublishOptions::default()
    };
    let delivered = sdk
        .publish(&sink.url("/ok"), "a", &labelled)
        .await
        .unwrap()
        .message_id;
    let no_retry = PublishOptions {
        retries: Some(0),
        ..PublishOptions::default()
    };
    let failed = sdk
        .publish(&sink.url("/fail"), "b", &no_retry)
        .await
        .unwrap()
        .message_id;
    let later = PublishOptions {
        delay: Some("1h".into()),
        ..PublishOptions::default()
    };
    let cancelled = sdk
        .publish(&sink.url("/later"), "c", &later)
        .await
        .unwrap()
        .message_id;
    sdk.cancel(&cancelled).await.unwrap();
    sink.wait_for_requests(2, Duration::from_secs(10)).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let lines = all_lines(&ferry, "").await;
        if states(&lines, &failed).contains(&"FAILED".to_owned())
            && states(&lines, &delivered).contains(&"DELIVERED".to_owned())
        {
            break lines;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outcomes never logged: {lines:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(states(&lines, &delivered), ["CREATED", "DELIVERED"]);
    assert_eq!(states(&lines, &failed), ["CREATED", "ERROR", "FAILED"]);
    assert_eq!(states(&lines, &cancelled), ["CREATED", "CANCELED"]);
    for line in &lines {
        assert!(line["time"].as_u64().unwrap() > 0);
        assert!(
            line["url"].as_str().unwrap().starts_with(&sink.url("/")),
            "{line}"
        );
    }
    let failure = lines
        .iter()
        .find(|l| l["messageId"] == failed && l["state"] == "ERROR")
        .unwrap();
    assert_eq!(failure["responseStatus"], 500);

    let delivered_only = all_lines(&ferry, "&state=DELIVERED").await;
    assert_eq!(delivered_only.len(), 1);
    assert_eq!(delivered_only[0]["messageId"], delivered.as_str());
    let by_label = all_lines(&ferry, "&label=nightly").await;
    assert_eq!(states(&by_label, &delivered).len(), 2);
    assert_eq!(by_label.len(), 2);
    let by_id = all_lines(&ferry, &format!("&messageId={cancelled}")).await;
    assert_eq!(by_id.len(), 2);

    let delivered_at = lines
        .iter()
        .find(|l| l["messageId"] == delivered.as_str() && l["state"] == "DELIVERED")
        .unwrap()["time"]
        .as_u64()
        .unwrap();
    let since = all_lines(&ferry, &format!("&fromDate={delivered_at}")).await;
    assert!(
        since
            .iter()
            .all(|l| l["time"].as_u64().unwrap() >= delivered_at)
    );
    assert!(states(&since, &delivered).contains(&"DELIVERED".to_owned()));

    // Newest first by default.
    let (_, newest) = get(&ferry, TOKEN, "/v2/events?count=1").await;
    let newest_time = newest["events"][0]["time"].as_u64().unwrap();
    assert!(
        lines
            .iter()
            .all(|l| l["time"].as_u64().unwrap() <= newest_time)
    );

    // `/v2/logs` carries the same lines under both keys.
    let (status, logs) = get(&ferry, TOKEN, "/v2/logs?count=1000").await;
    assert_eq!(status, 200);
    assert_eq!(logs["logs"], logs["events"]);
    assert_eq!(logs["events"].as_array().unwrap().len(), lines.len());

    let (_, other) = get(&ferry, OTHER_TOKEN, "/v2/events").await;
    assert!(
        other["events"].as_array().unwrap().is_empty(),
        "tenants see only their own log"
    );
}

#[tokio::test]
async fn bad_log_queries_are_rejected_with_the_reason() {
    let ferry = TestFerry::start().await;
    for (query, needle) in [
        ("stat=DELIVERED", "unknown query parameter"),
        ("state=DONE", "unknown state"),
        ("count=0", "count"),
        ("order=sideways", "order"),
        ("cursor=nonsense", "invalid cursor"),
    ] {
        let (status, body) = get(&ferry, TOKEN, &format!("/v2/events?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(needle),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn the_queue_name_filter_selects_the_lines_of_that_queues_messages() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    let (queued, published) = ferry
        .enqueue_and_publish(&sink, "nightly", &PublishOptions::default())
        .await;
    sink.wait_for_requests(2, Duration::from_secs(10)).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let lines = all_lines(&ferry, "&queueName=nightly").await;
        if states(&lines, &queued).contains(&"DELIVERED".to_owned()) {
            break lines;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery never logged: {lines:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(states(&lines, &queued), ["CREATED", "DELIVERED"]);
    assert_eq!(lines.len(), 2, "only the queue's lines: {lines:#?}");
    assert!(
        lines.iter().all(|l| l["queueName"] == "nightly"),
        "{lines:#?}"
    );
    assert!(all_lines(&ferry, "&queueName=weekly").await.is_empty());
    let unqueued = all_lines(&ferry, &format!("&messageId={published}")).await;
    assert!(!unqueued.is_empty());
    assert!(
        unqueued.iter().all(|l| l.get("queueName").is_none()),
        "a published message's lines name no queue: {unqueued:#?}"
    );
}

/// Publishes `body` with extra request headers to `destination` (a URL or a
/// URL group's name); returns the message ids.
async fn publish_raw(
    ferry: &TestFerry,
    destination: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Vec<String> {
    let mut request = ferry
        .http()
        .post(ferry.url(&format!("/v2/publish/{destination}")))
        .bearer_auth(TOKEN)
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let answer: Value = response.json().await.unwrap();
    match answer.as_array() {
        Some(copies) => copies
            .iter()
            .map(|c| c["messageId"].as_str().unwrap().to_owned())
            .collect(),
        None => vec![answer["messageId"].as_str().unwrap().to_owned()],
    }
}

#[tokio::test]
async fn url_group_and_flow_control_filters_select_their_messages_lines() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    let endpoint = |name: Option<&str>, url: String| ferry_core::wire::Endpoint {
        name: name.map(str::to_owned),
        url: Some(url),
    };
    ferry
        .sdk()
        .add_endpoints("fans", &[endpoint(Some("first"), sink.url("/fan"))])
        .await
        .unwrap();
    let fanned = publish_raw(&ferry, "fans", &[], "f").await;
    let limited = publish_raw(
        &ferry,
        &sink.url("/limited"),
        &[
            ("Upstash-Flow-Control-Key", "metered"),
            ("Upstash-Flow-Control-Value", "parallelism=1"),
        ],
        "l",
    )
    .await;
    let plain = publish_raw(&ferry, &sink.url("/plain"), &[], "p").await;
    sink.wait_for_requests(3, Duration::from_secs(10)).await;

    for (filter, expected) in [
        ("&topicName=fans", &fanned),
        ("&endpointName=first", &fanned),
        ("&flowControlKey=metered", &limited),
    ] {
        let lines = all_lines(&ferry, filter).await;
        assert!(!lines.is_empty(), "{filter}");
        assert!(
            lines.iter().all(|l| l["messageId"] == expected[0].as_str()),
            "{filter}: {lines:#?}"
        );
    }
    let plain_lines = all_lines(&ferry, &format!("&messageId={}", plain[0])).await;
    assert!(
        plain_lines
            .iter()
            .all(|l| l.get("topicName").is_none() && l.get("flowControlKey").is_none()),
        "{plain_lines:#?}"
    );
    let fanned_lines = all_lines(&ferry, &format!("&messageId={}", fanned[0])).await;
    assert!(
        fanned_lines
            .iter()
            .all(|l| l["topicName"] == "fans" && l["endpointName"] == "first")
    );
    assert!(
        all_lines(&ferry, "&scheduleId=none&topicName=fans")
            .await
            .is_empty()
    );
}

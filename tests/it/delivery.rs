//! Publish → stored → delivered once, signed, byte for byte.

use std::time::Duration;

use ferry_sdk::PublishOptions;
use ferry_tests::ferry::TestFerry;
use ferry_tests::sink::TestSink;

#[tokio::test]
async fn publish_delivers_once_byte_identical_and_signed() {
    let ferry = TestFerry::start().await;
    let mut sink = TestSink::start().await;
    let body: Vec<u8> = (0u8..=255)
        .chain(b"{\"hello\":\"world\"}".iter().copied())
        .collect();
    let url = sink.url("/hook?x=1&y=two");
    let opts = PublishOptions {
        content_type: Some("application/octet-stream".into()),
        forward_headers: vec![
            ("X-Custom".into(), "abc".into()),
            ("My-Header".into(), "v".into()),
        ],
        ..PublishOptions::default()
    };
    let published = ferry
        .sdk()
        .publish(&url, body.clone(), &opts)
        .await
        .unwrap();
    assert!(published.message_id.starts_with("msg_"));

    let req = sink.next_request().await;
    assert_eq!(req.method, "POST");
    assert_eq!(req.uri, "/hook?x=1&y=two");
    assert_eq!(req.body.as_ref(), body.as_slice());
    assert_eq!(req.message_id(), published.message_id);
    assert_eq!(req.retried(), 0);
    assert_eq!(req.header("user-agent"), Some("Upstash-QStash"));
    assert_eq!(req.header("content-type"), Some("application/octet-stream"));
    assert_eq!(req.header("x-custom"), Some("abc"));
    assert_eq!(req.header("my-header"), Some("v"));
    assert_eq!(req.header("upstash-caller-ip"), Some("127.0.0.1"));
    assert!(
        req.header("authorization").is_none(),
        "the publisher's token is never forwarded"
    );
    let claims = ferry
        .receiver()
        .verify(req.signature(), &req.body, Some(&url))
        .expect("ferry-sdk verifies the delivery");
    assert_eq!(claims.iss, "Upstash");
    assert_eq!(claims.nbf, 0);
    assert_eq!(claims.exp, claims.iat + 300);
    sink.assert_quiet(Duration::from_millis(500)).await;
    assert_eq!(sink.n_requests(), 1);
}

#[tokio::test]
async fn the_method_header_sets_the_delivery_method() {
    let ferry = TestFerry::start().await;
    let mut sink = TestSink::start().await;
    let opts = PublishOptions {
        method: Some(ferry_sdk::Method::PUT),
        ..PublishOptions::default()
    };
    ferry
        .sdk()
        .publish(&sink.url("/put"), "x", &opts)
        .await
        .unwrap();
    assert_eq!(sink.next_request().await.method, "PUT");
}

#[tokio::test]
async fn a_delayed_message_is_never_delivered_early() {
    let ferry = TestFerry::start().await;
    let mut sink = TestSink::start().await;
    let started = std::time::Instant::now();
    let opts = PublishOptions {
        delay: Some("2s".into()),
        ..PublishOptions::default()
    };
    ferry
        .sdk()
        .publish(&sink.url("/late"), "d", &opts)
        .await
        .unwrap();
    let req = sink.next_request().await;
    assert!(
        req.at.duration_since(started) >= Duration::from_secs(2),
        "delivered after {:?}",
        req.at.duration_since(started)
    );
}

#[tokio::test]
async fn not_before_holds_a_message_until_its_time() {
    let ferry = TestFerry::start().await;
    let mut sink = TestSink::start().await;
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let not_before = now_s + 2;
    let opts = PublishOptions {
        not_before: Some(not_before),
        ..PublishOptions::default()
    };
    ferry
        .sdk()
        .publish(&sink.url("/nb"), "n", &opts)
        .await
        .unwrap();
    sink.next_request().await;
    let arrived = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert!(
        arrived >= u128::from(not_before) * 1000,
        "arrived at {arrived} before {not_before}s"
    );
}

#[tokio::test]
async fn a_pending_message_can_be_read_and_cancelled() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    let opts = PublishOptions {
        delay: Some("1h".into()),
        labels: vec!["nightly".into()],
        retries: Some(5),
        ..PublishOptions::default()
    };
    let id = ferry
        .sdk()
        .publish(&sink.url("/x"), "hello", &opts)
        .await
        .unwrap()
        .message_id;
    let message = ferry.sdk().message(&id).await.unwrap();
    assert_eq!(message.message_id, id);
    assert_eq!(message.url, sink.url("/x"));
    assert_eq!(message.body.as_deref(), Some("hello"));
    assert_eq!(message.max_retries, 5);
    assert_eq!(message.labels, vec!["nightly".to_owned()]);
    assert!(message.not_before >= message.created_at + 3_590_000);

    let other = ferry.sdk_for(ferry_tests::ferry::OTHER_TOKEN);
    assert!(
        other.message(&id).await.is_err(),
        "another tenant cannot read it"
    );
    assert!(
        other.cancel(&id).await.is_err(),
        "another tenant cannot cancel it"
    );

    assert_eq!(ferry.sdk().cancel(&id).await.unwrap().cancelled, 1);
    let again = ferry.sdk().cancel(&id).await.unwrap_err();
    assert!(
        matches!(again, ferry_sdk::Error::Http { status: 404, .. }),
        "{again:?}"
    );
    assert!(matches!(
        ferry.sdk().message(&id).await.unwrap_err(),
        ferry_sdk::Error::Http { status: 404, .. }
    ));
}

#[tokio::test]
async fn twenty_concurrent_duplicates_make_one_message() {
    let ferry = TestFerry::start().await;
    let mut sink = TestSink::start().await;
    let url = sink.url("/dedup");
    let publishes = (0..20).map(|_| {
        let http = ferry.http();
        let endpoint = ferry.url(&format!("/v2/publish/{url}"));
        async move {
            http.post(endpoint)
                .bearer_auth(ferry_tests::ferry::TOKEN)
                .header("Upstash-Deduplication-Id", "same-id")
                .body("once")
                .send()
                .await
                .unwrap()
        }
    });
    let responses = futures_join_all(publishes).await;
    let mut created = Vec::new();
    let mut duplicates = Vec::new();
    for resp in responses {
        let status = resp.status().as_u16();
        let json: serde_json::Value = resp.json().await.unwrap();
        match status {
            201 => created.push(json["messageId"].as_str().unwrap().to_owned()),
            202 => {
                assert_eq!(json["deduplicated"], true);
                duplicates.push(json["messageId"].as_str().unwrap().to_owned());
            }
            other => panic!("unexpected status {other}: {json}"),
        }
    }
    assert_eq!(created.len(), 1);
    assert_eq!(duplicates.len(), 19);
    assert!(
        duplicates.iter().all(|d| *d == created[0]),
        "every duplicate names the original id"
    );
    assert_eq!(sink.next_request().await.message_id(), created[0]);
    sink.assert_quiet(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn content_based_dedup_accepts_the_python_spelling() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    let url = sink.url("/cbd");
    let mut ids = Vec::new();
    for value in ["true", "True"] {
        let resp = ferry
            .http()
            .post(ferry.url(&format!("/v2/publish/{url}")))
            .bearer_auth(ferry_tests::ferry::TOKEN)
            .header("Upstash-Content-Based-Deduplication", value)
            .header("Upstash-Delay", "1h")
            .body("same body")
            .send()
            .await
            .unwrap();
        ids.push((
            resp.status().as_u16(),
            resp.json::<serde_json::Value>().await.unwrap()["messageId"].clone(),
        ));
    }
    assert_eq!(ids[0].0, 201);
    assert_eq!(ids[1].0, 202);
    assert_eq!(ids[0].1, ids[1].1);
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn bulk_cancel_takes_ids_from_the_query_or_a_json_body() {
    let ferry = TestFerry::start().await;
    let sink = TestSink::start().await;
    let later = PublishOptions {
        delay: Some("1h".into()),
        ..PublishOptions::default()
    };
    let mut ids = Vec::new();
    for path in ["/a", "/b", "/c"] {
        ids.push(
            ferry
                .sdk()
                .publish(&sink.url(path), "x", &later)
                .await
                .unwrap()
                .message_id,
        );
    }
    let other = ferry.sdk_for(ferry_tests::ferry::OTHER_TOKEN);
    let cancel = |token: &'static str| {
        ferry
            .http()
            .delete(ferry.url("/v2/messages"))
            .bearer_auth(token)
    };
    let count = |resp: reqwest::Response| async move {
        assert_eq!(resp.status().as_u16(), 200);
        resp.json::<serde_json::Value>().await.unwrap()["cancelled"]
            .as_u64()
            .unwrap()
    };
    let query = format!("?messageIds={}&messageIds={}", ids[0], ids[1]);
    let by_other = cancel(ferry_tests::ferry::OTHER_TOKEN)
        .query(&[("messageIds", &ids[0])])
        .send()
        .await
        .unwrap();
    assert_eq!(count(by_other).await, 0, "another tenant cancels nothing");
    let by_query = ferry
        .http()
        .delete(ferry.url(&format!("/v2/messages{query}")))
        .bearer_auth(ferry_tests::ferry::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(count(by_query).await, 2);
    let empty = cancel(ferry_tests::ferry::TOKEN)
        .json(&serde_json::json!({"messageIds": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(count(empty).await, 0, "an empty list cancels nothing");
    assert_eq!(
        ferry.sdk().message(&ids[2]).await.unwrap().message_id,
        ids[2]
    );
    let by_body = cancel(ferry_tests::ferry::TOKEN)
        .json(&serde_json::json!({"messageIds": [ids[2]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(count(by_body).await, 1);
    assert!(other.message(&ids[2]).await.is_err());
}

#[tokio::test]
async fn redacted_fields_are_hidden_from_the_api_but_delivered() {
    let ferry = TestFerry::start().await;
    let mut sink = TestSink::start().await;
    let url = sink.url("/private");
    let publish = |delay: Option<&str>| {
        let mut request = ferry
            .http()
            .post(ferry.url(&format!("/v2/publish/{url}")))
            .bearer_auth(ferry_tests::ferry::TOKEN)
            .header("Upstash-Redact-Fields", "body,header[X-Secret]")
            .header("Upstash-Forward-X-Secret", "s3cret")
            .header("Upstash-Forward-X-Public", "visible")
            .body("card 4242");
        if let Some(delay) = delay {
            request = request.header("Upstash-Delay", delay);
        }
        request.send()
    };
    let pending = publish(Some("1h"))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let message = ferry
        .sdk()
        .message(pending["messageId"].as_str().unwrap())
        .await
        .unwrap();
    let body = message.body.unwrap();
    assert!(
        body.starts_with("REDACTED:") && !body.contains("4242"),
        "{body}"
    );
    let header = message.header.unwrap();
    assert!(header["X-Secret"][0].starts_with("REDACTED:"));
    assert_eq!(header["X-Public"], ["visible"]);

    publish(None).await.unwrap();
    let delivered = sink.next_request().await;
    assert_eq!(delivered.body.as_ref(), b"card 4242");
    assert_eq!(delivered.header("x-secret"), Some("s3cret"));
}

#[tokio::test]
async fn webhook_mode_forwards_the_callers_headers() {
    let ferry = TestFerry::start().await;
    let mut sink = TestSink::start().await;
    let url = sink.url("/hook");
    // A third party's webhook: configuration in the query, token too.
    let endpoint = ferry.url(&format!(
        "/v2/publish/{url}?upstash-header-forward=true&upstash-retries=0&qstash_token={}",
        ferry_tests::ferry::TOKEN
    ));
    let response = ferry
        .http()
        .post(endpoint)
        .header("Stripe-Signature", "t=1,v1=abc")
        .header("Content-Type", "application/json")
        .body("{\"event\":\"paid\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let delivered = sink.next_request().await;
    assert_eq!(
        delivered.uri, "/hook",
        "Ferry's parameters are not forwarded"
    );
    assert_eq!(delivered.header("stripe-signature"), Some("t=1,v1=abc"));
    assert_eq!(delivered.header("content-type"), Some("application/json"));
    assert_eq!(delivered.header("user-agent"), Some("Upstash-QStash"));
}

/// The headers an application passes on from the request it handles (both
/// Upstash Workflow SDKs do so on every step): what must not be forwarded
/// is dropped without refusing the publish, the rest arrives byte for byte.
#[tokio::test]
async fn headers_that_must_not_be_forwarded_are_dropped_and_the_rest_delivered() {
    let ferry = TestFerry::start().await;
    let mut sink = TestSink::start().await;
    let url = sink.url("/passed-on");
    let utf8 = "grüße ✓";
    let mut request = ferry
        .http()
        .post(ferry.url(&format!("/v2/publish/{url}")))
        .bearer_auth(ferry_tests::ferry::TOKEN)
        .body("step");
    for (name, value) in [
        ("Upstash-Forward-Host", "app.example"),
        ("Upstash-Forward-Connection", "close"),
        ("Upstash-Forward-Content-Length", "999"),
        ("Upstash-Forward-User-Agent", "node"),
        ("Upstash-Forward-Accept-Encoding", "gzip"),
        ("Upstash-Forward-Upstash-Signature", "eyJ.forged.sig"),
        ("Upstash-Forward-Upstash-Message-Id", "msg_forged"),
        // Delivery headers Ferry owns: a publisher must not set them.
        ("Upstash-Forward-Upstash-Topic-Name", "forged-group"),
        ("Upstash-Forward-Upstash-Caller-Ip", "10.0.0.1"),
        ("Upstash-Forward-X-Kept", "yes"),
        // Sent back unprefixed by the JS SDK, which leaves `upstash-*` as is.
        ("Upstash-Schedule-Id", "scd_passed_on"),
    ] {
        request = request.header(name, value);
    }
    let bytes = |value: &[u8]| reqwest::header::HeaderValue::from_bytes(value).unwrap();
    request = request
        .header("Upstash-Forward-X-Utf8", bytes(utf8.as_bytes()))
        .header("Upstash-Forward-X-Latin1", bytes(b"gr\xfc\xdfe"));
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let published: serde_json::Value = response.json().await.unwrap();

    let delivered = sink.next_request().await;
    assert_eq!(delivered.message_id(), published["messageId"]);
    let sink_host = sink.addr().to_string();
    assert_eq!(delivered.header("host"), Some(sink_host.as_str()));
    assert_eq!(delivered.header("content-length"), Some("4"));
    assert_eq!(delivered.header("user-agent"), Some("Upstash-QStash"));
    assert_eq!(delivered.header("x-kept"), Some("yes"));
    assert_eq!(delivered.header("upstash-caller-ip"), Some("127.0.0.1"));
    let raw = |name: &str| delivered.headers.get(name).map(|v| v.as_bytes().to_vec());
    assert_eq!(raw("x-utf8"), Some(utf8.as_bytes().to_vec()));
    for absent in [
        "x-latin1",
        "accept-encoding",
        "upstash-schedule-id",
        "upstash-topic-name",
    ] {
        assert!(raw(absent).is_none(), "{absent} was forwarded");
    }
    assert_eq!(delivered.body.as_ref(), b"step");
    ferry
        .receiver()
        .verify(delivered.signature(), &delivered.body, Some(&url))
        .expect("Ferry's own signature, not the forwarded one");
}

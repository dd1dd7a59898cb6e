//! Request building is checked on built requests, without a server; status
//! and body handling against a one-shot HTTP server on 127.0.0.1.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

const TOKEN: &str = "tok_secret";

fn client(base_url: &str) -> Client {
    Client::new(base_url, TOKEN).unwrap()
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = headers
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    pairs.sort();
    pairs
}

fn check_headers(opts: PublishOptions, expected: &[(&str, &str)]) {
    let actual = header_pairs(&publish_headers(&opts).unwrap());
    let mut expected: Vec<_> = expected
        .iter()
        .map(|(name, value)| (name.to_lowercase(), (*value).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(actual, expected, "headers for {opts:?}");
}

#[test]
fn publish_options_map_onto_upstash_headers() {
    check_headers(PublishOptions::default(), &[]);
    check_headers(
        PublishOptions {
            method: Some(Method::PUT),
            delay: Some("1h30m".to_owned()),
            not_before: Some(1_700_000_000),
            retries: Some(0),
            retry_delay: Some("1000 * pow(2, retried)".to_owned()),
            timeout: Some("30s".to_owned()),
            deduplication_id: Some("order-7".to_owned()),
            content_based_deduplication: true,
            callback: Some("https://cb.example/ok".to_owned()),
            failure_callback: Some("https://cb.example/failed".to_owned()),
            content_type: Some("application/json".to_owned()),
            labels: vec!["billing".to_owned(), "eu".to_owned()],
            forward_headers: Vec::new(),
            flow_control: Some(FlowControl {
                key: "tenant-42".to_owned(),
                parallelism: Some(2),
                rate: Some(10),
                period: Some("1m".to_owned()),
            }),
        },
        &[
            ("Content-Type", "application/json"),
            ("Upstash-Method", "PUT"),
            ("Upstash-Delay", "1h30m"),
            ("Upstash-Not-Before", "1700000000"),
            ("Upstash-Retries", "0"),
            ("Upstash-Retry-Delay", "1000 * pow(2, retried)"),
            ("Upstash-Timeout", "30s"),
            ("Upstash-Deduplication-Id", "order-7"),
            ("Upstash-Content-Based-Deduplication", "true"),
            ("Upstash-Callback", "https://cb.example/ok"),
            ("Upstash-Failure-Callback", "https://cb.example/failed"),
            ("Upstash-Label", "billing,eu"),
            ("Upstash-Flow-Control-Key", "tenant-42"),
            (
                "Upstash-Flow-Control-Value",
                "parallelism=2, rate=10, period=1m",
            ),
        ],
    );
}

#[test]
fn the_flow_control_value_names_only_the_settings_given() {
    let check = |parallelism: Option<u32>, rate: Option<u32>, period: Option<&str>, value: &str| {
        check_headers(
            PublishOptions {
                flow_control: Some(FlowControl {
                    key: "k".to_owned(),
                    parallelism,
                    rate,
                    period: period.map(str::to_owned),
                }),
                ..PublishOptions::default()
            },
            &[
                ("Upstash-Flow-Control-Key", "k"),
                ("Upstash-Flow-Control-Value", value),
            ],
        );
    };
    check(Some(1), None, None, "parallelism=1");
    check(None, Some(5), Some("10s"), "rate=5, period=10s");
    check(Some(3), Some(7), None, "parallelism=3, rate=7");
}

#[test]
fn forwarded_headers_get_the_prefix_once_and_keep_repeats() {
    check_headers(
        PublishOptions {
            forward_headers: vec![
                ("Authorization".to_owned(), "Bearer downstream".to_owned()),
                ("upstash-forward-X-Trace".to_owned(), "abc".to_owned()),
                ("X-Tag".to_owned(), "a".to_owned()),
                ("X-Tag".to_owned(), "b".to_owned()),
            ],
            ..PublishOptions::default()
        },
        &[
            ("Upstash-Forward-Authorization", "Bearer downstream"),
            ("Upstash-Forward-X-Trace", "abc"),
            ("Upstash-Forward-X-Tag", "a"),
            ("Upstash-Forward-X-Tag", "b"),
        ],
    );
}

#[test]
fn unsendable_header_values_name_the_header() {
    let check = |opts: PublishOptions, name: &str| match publish_headers(&opts) {
        Err(Error::InvalidHeader { name: actual }) => assert_eq!(actual, name),
        other => panic!("expected InvalidHeader({name}), got {other:?}"),
    };
    check(
        PublishOptions {
            delay: Some("10s\r\nX-Evil: 1".to_owned()),
            ..PublishOptions::default()
        },
        "Upstash-Delay",
    );
    check(
        PublishOptions {
            forward_headers: vec![("Bad Name".to_owned(), "v".to_owned())],
            ..PublishOptions::default()
        },
        "Upstash-Forward-Bad Name",
    );
}

#[test]
fn publish_appends_the_destination_raw() {
    let check = |base: &str, destination: &str, expected: &str| {
        let request = client(base)
            .publish_request(
                destination,
                Bytes::from_static(b"hi"),
                &PublishOptions::default(),
            )
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.url().as_str(), expected);
        assert_eq!(request.body().unwrap().as_bytes(), Some(&b"hi"[..]));
        assert_eq!(
            request.headers()[http::header::AUTHORIZATION],
            format!("Bearer {TOKEN}")
        );
    };
    check(
        "http://127.0.0.1:8080",
        "https://example.com/hook?x=1&y=%2F",
        "http://127.0.0.1:8080/v2/publish/https://example.com/hook?x=1&y=%2F",
    );
    check(
        "https://relay.example/qstash/",
        "http://example.com//a",
        "https://relay.example/qstash/v2/publish/http://example.com//a",
    );
}

#[test]
fn api_paths_percent_encode_ids() {
    let check = |id: &str, expected: &str| {
        let request = client("http://relay.example/prefix")
            .request(Method::GET, &["v2", "dlq", id])
            .build()
            .unwrap();
        assert_eq!(request.url().as_str(), expected);
    };
    check(
        "1725323658779-0",
        "http://relay.example/prefix/v2/dlq/1725323658779-0",
    );
    check(
        "a/../b?c",
        "http://relay.example/prefix/v2/dlq/a%2F..%2Fb%3Fc",
    );
}

#[test]
fn dlq_queries_become_query_parameters() {
    let check = |query: DlqQuery, expected: Option<&str>| {
        let request = client("http://relay.example")
            .request(Method::GET, &["v2", "dlq"])
            .query(&dlq_query_pairs(&query))
            .build()
            .unwrap();
        assert_eq!(request.url().query(), expected, "query for {query:?}");
    };
    check(DlqQuery::default(), None);
    check(
        DlqQuery {
            cursor: Some("17-0".to_owned()),
            count: Some(20),
            order: Some(DlqOrder::LatestFirst),
            filters: vec![
                ("responseStatus".to_owned(), "500".to_owned()),
                ("responseStatus".to_owned(), "502".to_owned()),
                ("url".to_owned(), "https://a.example/x?y=1".to_owned()),
            ],
        },
        Some(
            "cursor=17-0&count=20&order=latestFirst&responseStatus=500&responseStatus=502\
             &url=https%3A%2F%2Fa.example%2Fx%3Fy%3D1",
        ),
    );
}

#[test]
fn new_rejects_urls_that_cannot_be_an_api_root() {
    let check = |base: &str| match Client::new(base, TOKEN) {
        Err(Error::InvalidUrl { url, .. }) => assert_eq!(url, base),
        other => panic!("expected InvalidUrl for {base}, got {other:?}"),
    };
    check("relay.example");
    check("ftp://relay.example");
    check("http://relay.example/?token=1");
    check("http://relay.example/#top");
}

#[test]
fn new_rejects_a_token_that_is_not_a_header_value() {
    let result = Client::new("http://relay.example", "tok\nen");
    assert!(matches!(result, Err(Error::InvalidHeader { name }) if name == "authorization"));
}

#[test]
fn debug_output_hides_the_token() {
    let debug = format!("{:?}", client("http://relay.example"));
    assert!(debug.contains("relay.example"), "{debug}");
    assert!(!debug.contains(TOKEN), "{debug}");
}

#[test]
fn error_messages_prefer_the_json_error_field() {
    let check = |status: u16, body: &str, expected: &str| {
        let status = reqwest::StatusCode::from_u16(status).unwrap();
        assert_eq!(error_message(status, body.as_bytes()), expected);
    };
    check(404, r#"{"error":"message not found"}"#, "message not found");
    check(502, "  bad gateway from proxy \n", "bad gateway from proxy");
    check(503, "", "service unavailable");
    let long = "x".repeat(MAX_ERROR_TEXT_CHARS + 10);
    check(500, &long, &format!("{}…", &long[..MAX_ERROR_TEXT_CHARS]));
}

/// Answers exactly one request with `status` and `body`, and returns the base
/// URL plus a handle yielding the raw request it received.
async fn serve_once(status: u16, body: &'static str) -> (String, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let request = read_request(&mut stream).await;
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await.unwrap();
        request
    });
    (base_url, handle)
}

/// Reads one HTTP/1.1 request: the head, then `content-length` body bytes.
async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
    let mut raw = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        let n_read = stream.read(&mut chunk).await.unwrap();
        assert_ne!(n_read, 0, "client closed before sending a full request");
        raw.extend_from_slice(&chunk[..n_read]);
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let content_length = text[..head_end]
                .lines()
                .find_map(|line| {
                    line.to_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .map_or(0, |n| n.trim().parse::<usize>().unwrap());
            if raw.len() >= head_end + 4 + content_length {
                return text;
            }
        }
    }
}

async fn within_seconds<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), future)
        .await
        .expect("the call finished within 5 s")
}

#[tokio::test]
async fn publish_sends_headers_and_parses_the_answer() {
    let (base_url, server) = serve_once(201, r#"{"messageId":"msg_1"}"#).await;
    let opts = PublishOptions {
        retries: Some(2),
        ..PublishOptions::default()
    };
    let response =
        within_seconds(client(&base_url).publish("https://example.com/a?b=1", "hello", &opts))
            .await
            .unwrap();
    assert_eq!(response.message_id, "msg_1");
    let request = server.await.unwrap();
    assert!(
        request.starts_with("POST /v2/publish/https://example.com/a?b=1 HTTP/1.1\r\n"),
        "{request}"
    );
    let lower = request.to_lowercase();
    assert!(lower.contains("\r\nupstash-retries: 2\r\n"), "{request}");
    assert!(
        lower.contains(&format!("\r\nauthorization: bearer {TOKEN}\r\n")),
        "{request}"
    );
    assert!(request.ends_with("\r\n\r\nhello"), "{request}");
}

#[tokio::test]
async fn error_statuses_carry_the_server_message() {
    let (base_url, _server) = serve_once(404, r#"{"error":"dlq message not found"}"#).await;
    let result = within_seconds(client(&base_url).dlq_get("1-0")).await;
    match result {
        Err(Error::Http { status, message }) => {
            assert_eq!(status, 404);
            assert_eq!(message, "dlq message not found");
        }
        other => panic!("expected an Http error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_2xx_with_the_wrong_shape_is_a_decode_error() {
    let (base_url, _server) = serve_once(200, r#"{"current":"sig_a"}"#).await;
    let result = within_seconds(client(&base_url).keys()).await;
    assert!(matches!(result, Err(Error::Decode(_))), "{result:?}");
}

#[tokio::test]
async fn dlq_delete_ignores_the_body_of_a_success() {
    let (base_url, server) = serve_once(200, "").await;
    within_seconds(client(&base_url).dlq_delete("1-0"))
        .await
        .unwrap();
    let request = server.await.unwrap();
    assert!(
        request.starts_with("DELETE /v2/dlq/1-0 HTTP/1.1\r\n"),
        "{request}"
    );
}

#[tokio::test]
async fn bulk_calls_send_repeated_dlq_ids() {
    let (base_url, server) = serve_once(
        201,
        r#"{"responses":[{"messageId":"m1"},{"messageId":"m2"}],"cursor":""}"#,
    )
    .await;
    let retried = within_seconds(client(&base_url).dlq_retry(&["1-0", "2-0"]))
        .await
        .unwrap();
    assert_eq!(retried.responses.len(), 2);
    assert_eq!(retried.cursor, None);
    let request = server.await.unwrap();
    assert!(
        request.starts_with("POST /v2/dlq/retry?dlqIds=1-0&dlqIds=2-0 HTTP/1.1\r\n"),
        "{request}"
    );
}

#[tokio::test]
async fn empty_bulk_calls_do_nothing_and_send_nothing() {
    // Nothing listens on this address: any request would fail with a
    // transport error instead of the empty results asserted below.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = client(&base_url);
    let no_ids: &[&str] = &[];
    let deleted = within_seconds(client.dlq_delete_many(no_ids))
        .await
        .unwrap();
    assert_eq!(deleted.deleted, 0);
    let retried = within_seconds(client.dlq_retry(no_ids)).await.unwrap();
    assert!(retried.responses.is_empty());
}

#[test]
fn log_queries_become_query_parameters() {
    let check = |query: LogQuery, expected: Option<&str>| {
        let request = client("http://relay.example/prefix")
            .logs_request(&query)
            .build()
            .unwrap();
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.url().path(), "/prefix/v2/events");
        assert_eq!(request.url().query(), expected, "query for {query:?}");
    };
    check(LogQuery::default(), None);
    check(
        LogQuery {
            cursor: Some("17-0-3".to_owned()),
            count: Some(1000),
            order: Some(LogOrder::EarliestFirst),
            filters: vec![
                ("state".to_owned(), "FAILED".to_owned()),
                ("state".to_owned(), "ERROR".to_owned()),
                ("fromDate".to_owned(), "1700000000123".to_owned()),
                ("url".to_owned(), "https://a.example/x?y=1".to_owned()),
            ],
        },
        Some(
            "cursor=17-0-3&count=1000&order=earliestFirst&state=FAILED&state=ERROR\
             &fromDate=1700000000123&url=https%3A%2F%2Fa.example%2Fx%3Fy%3D1",
        ),
    );
}

#[test]
fn endpoint_requests_carry_the_endpoints_as_json() {
    let endpoints = [
        Endpoint {
            name: Some("first".to_owned()),
            url: Some("https://a.example/".to_owned()),
        },
        Endpoint {
            name: None,
            url: Some("https://b.example/".to_owned()),
        },
    ];
    let request = client("http://relay.example")
        .endpoints_request(Method::DELETE, "orders/eu", &endpoints)
        .build()
        .unwrap();
    assert_eq!(request.method(), Method::DELETE);
    assert_eq!(
        request.url().as_str(),
        "http://relay.example/v2/topics/orders%2Feu/endpoints"
    );
    assert_eq!(
        request.headers()[http::header::CONTENT_TYPE],
        "application/json"
    );
    let body: serde_json::Value =
        serde_json::from_slice(request.body().unwrap().as_bytes().unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"endpoints": [
            {"name": "first", "url": "https://a.example/"},
            {"url": "https://b.example/"},
        ]})
    );
}

#[tokio::test]
async fn add_endpoints_posts_the_body_and_accepts_an_empty_answer() {
    let (base_url, server) = serve_once(200, "").await;
    let endpoints = [Endpoint {
        name: Some("first".to_owned()),
        url: Some("https://a.example/".to_owned()),
    }];
    within_seconds(client(&base_url).add_endpoints("orders", &endpoints))
        .await
        .unwrap();
    let request = server.await.unwrap();
    assert!(
        request.starts_with("POST /v2/topics/orders/endpoints HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.ends_with(r#"{"endpoints":[{"name":"first","url":"https://a.example/"}]}"#),
        "{request}"
    );
}

#[tokio::test]
async fn remove_endpoints_reports_a_missing_group() {
    let (base_url, server) = serve_once(404, r#"{"error":"url group \"orders\" not found"}"#).await;
    let endpoints = [Endpoint {
        name: Some("first".to_owned()),
        url: None,
    }];
    let result = within_seconds(client(&base_url).remove_endpoints("orders", &endpoints)).await;
    match result {
        Err(Error::Http { status, message }) => {
            assert_eq!(status, 404);
            assert_eq!(message, r#"url group "orders" not found"#);
        }
        other => panic!("expected an Http error, got {other:?}"),
    }
    let request = server.await.unwrap();
    assert!(
        request.starts_with("DELETE /v2/topics/orders/endpoints HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.ends_with(r#"{"endpoints":[{"name":"first"}]}"#),
        "{request}"
    );
}

#[tokio::test]
async fn url_groups_are_parsed_from_the_listing() {
    let (base_url, server) = serve_once(
        200,
        r#"[{"name":"orders","createdAt":1,"updatedAt":2,
             "endpoints":[{"name":"first","url":"https://a.example/"},{"url":"https://b.example/"}]},
            {"name":"empty","createdAt":3,"updatedAt":3}]"#,
    )
    .await;
    let groups = within_seconds(client(&base_url).url_groups())
        .await
        .unwrap();
    let summary: Vec<(&str, usize)> = groups
        .iter()
        .map(|group| (group.name.as_str(), group.endpoints.len()))
        .collect();
    assert_eq!(summary, [("orders", 2), ("empty", 0)]);
    assert_eq!(groups[0].endpoints[0].name.as_deref(), Some("first"));
    assert_eq!(groups[0].endpoints[1].name, None);
    let request = server.await.unwrap();
    assert!(
        request.starts_with("GET /v2/topics HTTP/1.1\r\n"),
        "{request}"
    );
}

#[tokio::test]
async fn one_url_group_is_fetched_by_its_name() {
    let (base_url, server) = serve_once(
        200,
        r#"{"name":"orders","createdAt":1,"updatedAt":2,"endpoints":[]}"#,
    )
    .await;
    let group = within_seconds(client(&base_url).url_group("orders"))
        .await
        .unwrap();
    assert_eq!((group.name.as_str(), group.updated_at), ("orders", 2));
    let request = server.await.unwrap();
    assert!(
        request.starts_with("GET /v2/topics/orders HTTP/1.1\r\n"),
        "{request}"
    );
}

#[tokio::test]
async fn delete_url_group_sends_a_delete_and_ignores_the_body() {
    let (base_url, server) = serve_once(200, "").await;
    within_seconds(client(&base_url).delete_url_group("orders"))
        .await
        .unwrap();
    let request = server.await.unwrap();
    assert!(
        request.starts_with("DELETE /v2/topics/orders HTTP/1.1\r\n"),
        "{request}"
    );
}

#[tokio::test]
async fn logs_parse_events_and_treat_an_empty_cursor_as_the_end() {
    let (base_url, server) = serve_once(
        200,
        r#"{"events":[{"time":1700000000123,"messageId":"msg_1","state":"ERROR",
             "url":"https://a.example/","error":"connection refused","responseStatus":503}],
            "cursor":""}"#,
    )
    .await;
    let query = LogQuery {
        count: Some(1),
        ..LogQuery::default()
    };
    let page = within_seconds(client(&base_url).logs(&query))
        .await
        .unwrap();
    assert_eq!(page.cursor, None);
    assert_eq!(page.events.len(), 1);
    let event = &page.events[0];
    assert_eq!(
        (event.time, event.state.as_str(), event.response_status),
        (1_700_000_000_123, "ERROR", Some(503))
    );
    assert_eq!(event.error.as_deref(), Some("connection refused"));
    let request = server.await.unwrap();
    assert!(
        request.starts_with("GET /v2/events?count=1 HTTP/1.1\r\n"),
        "{request}"
    );
}

#[tokio::test]
async fn enqueue_appends_queue_and_destination_raw() {
    let (base_url, server) = serve_once(201, r#"{"messageId":"msg_q"}"#).await;
    let response = within_seconds(client(&base_url).enqueue(
        "jobs",
        "https://example.com/a?b=1",
        "hi",
        &PublishOptions::default(),
    ))
    .await
    .unwrap();
    assert_eq!(response.message_id, "msg_q");
    let request = server.await.unwrap();
    assert!(
        request.starts_with("POST /v2/enqueue/jobs/https://example.com/a?b=1 HTTP/1.1\r\n"),
        "{request}"
    );
}

#[tokio::test]
async fn upsert_queue_sends_only_the_given_settings() {
    let check = async |parallelism: Option<u32>, paused: Option<bool>, expected: &str| {
        let (base_url, server) = serve_once(200, "").await;
        within_seconds(client(&base_url).upsert_queue("jobs", parallelism, paused))
            .await
            .unwrap();
        let request = server.await.unwrap();
        assert!(
            request.starts_with("POST /v2/queues HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.ends_with(&format!("\r\n\r\n{expected}")),
            "{request}"
        );
    };
    check(Some(2), None, r#"{"queueName":"jobs","parallelism":2}"#).await;
    check(None, Some(true), r#"{"queueName":"jobs","paused":true}"#).await;
}

#[tokio::test]
async fn create_schedule_sends_cron_and_id_and_returns_the_id() {
    let (base_url, server) = serve_once(201, r#"{"scheduleId":"nightly"}"#).await;
    let opts = PublishOptions {
        retries: Some(1),
        ..PublishOptions::default()
    };
    let id = within_seconds(client(&base_url).create_schedule(
        "https://example.com/tick",
        "CRON_TZ=Europe/Paris 0 3 * * *",
        "tick",
        &opts,
        &ScheduleOptions {
            schedule_id: Some("nightly".into()),
            queue: Some("reports".into()),
        },
    ))
    .await
    .unwrap();
    assert_eq!(id, "nightly");
    let request = server.await.unwrap();
    assert!(
        request.starts_with("POST /v2/schedules/https://example.com/tick HTTP/1.1\r\n"),
        "{request}"
    );
    let lower = request.to_lowercase();
    for expected in [
        "\r\nupstash-cron: cron_tz=europe/paris 0 3 * * *\r\n",
        "\r\nupstash-schedule-id: nightly\r\n",
        "\r\nupstash-queue-name: reports\r\n",
        "\r\nupstash-retries: 1\r\n",
    ] {
        assert!(lower.contains(expected), "{expected:?} in {request}");
    }
}

/// Runs `call` against a one-shot server answering 200 with no body, and
/// checks that it sent `expected_line` as its request line.
async fn check_route(expected_line: &str, call: impl AsyncFnOnce(&Client) -> Result<()>) {
    let (base_url, server) = serve_once(200, "").await;
    call(&client(&base_url)).await.unwrap();
    let request = within_seconds(server).await.unwrap();
    assert!(
        request.starts_with(&format!("{expected_line} HTTP/1.1\r\n")),
        "{expected_line}: {request}"
    );
}

#[tokio::test]
async fn queue_and_schedule_actions_use_their_routes() {
    check_route("POST /v2/queues/jobs/pause", async |c| {
        c.pause_queue("jobs").await
    })
    .await;
    check_route("POST /v2/queues/jobs/resume", async |c| {
        c.resume_queue("jobs").await
    })
    .await;
    check_route("DELETE /v2/queues/jobs", async |c| {
        c.delete_queue("jobs").await
    })
    .await;
    check_route("PATCH /v2/schedules/s1/pause", async |c| {
        c.pause_schedule("s1").await
    })
    .await;
    check_route("PATCH /v2/schedules/s1/resume", async |c| {
        c.resume_schedule("s1").await
    })
    .await;
    check_route("DELETE /v2/schedules/s1", async |c| {
        c.delete_schedule("s1").await
    })
    .await;
}

#[tokio::test]
async fn schedules_are_parsed_from_the_listing() {
    let (base_url, _server) = serve_once(
        200,
        r#"[{"scheduleId":"s1","cron":"*/5 * * * *","destination":"https://example.com/",
            "createdAt":1,"method":"POST","retries":3,"isPaused":true,
            "nextScheduleTime":60000,"lastScheduleStates":{"msg_1":"SUCCESS"}}]"#,
    )
    .await;
    let schedules = within_seconds(client(&base_url).schedules()).await.unwrap();
    assert_eq!(schedules.len(), 1);
    assert_eq!(schedules[0].schedule_id, "s1");
    assert!(schedules[0].is_paused);
    assert_eq!(schedules[0].next_schedule_time, Some(60_000));
    assert_eq!(schedules[0].last_schedule_states["msg_1"], "SUCCESS");
}

#[test]
fn flow_control_queries_carry_only_what_is_set() {
    let client = client("http://relay.example/prefix");
    let check = |request: reqwest::RequestBuilder, expected: &str| {
        let request = request.build().unwrap();
        assert_eq!(request.url().as_str(), expected);
    };
    check(
        client.flow_controls_request(None),
        "http://relay.example/prefix/v2/flowControl",
    );
    check(
        client.flow_controls_request(Some("tenant 4")),
        "http://relay.example/prefix/v2/flowControl?search=tenant+4",
    );
    check(
        client.flow_pin_request(
            "k",
            &FlowPin {
                parallelism: Some(2),
                rate: Some(10),
                period_secs: Some(60),
            },
        ),
        "http://relay.example/prefix/v2/flowControl/k/pin?parallelism=2&rate=10&period=60",
    );
    check(
        client.flow_pin_request(
            "k",
            &FlowPin {
                rate: Some(3),
                ..FlowPin::default()
            },
        ),
        "http://relay.example/prefix/v2/flowControl/k/pin?rate=3",
    );
    check(
        client.flow_unpin_request("k", true, true),
        "http://relay.example/prefix/v2/flowControl/k/unpin?parallelism=true&rate=true",
    );
    check(
        client.flow_unpin_request("k", false, true),
        "http://relay.example/prefix/v2/flowControl/k/unpin?rate=true",
    );
}

#[tokio::test]
async fn flow_control_actions_use_their_routes() {
    let pin = FlowPin {
        parallelism: Some(1),
        ..FlowPin::default()
    };
    check_route("POST /v2/flowControl/k:1/pause", async |c| {
        c.pause_flow_control("k:1").await
    })
    .await;
    check_route("POST /v2/flowControl/k:1/resume", async |c| {
        c.resume_flow_control("k:1").await
    })
    .await;
    check_route("POST /v2/flowControl/k:1/pin?parallelism=1", async |c| {
        c.pin_flow_control("k:1", &pin).await
    })
    .await;
    check_route(
        "POST /v2/flowControl/k:1/unpin?parallelism=true",
        async |c| c.unpin_flow_control("k:1", true, false).await,
    )
    .await;
    check_route("POST /v2/flowControl/k:1/resetRate", async |c| {
        c.reset_flow_control_rate("k:1").await
    })
    .await;
}

#[tokio::test]
async fn a_flow_control_key_is_parsed_and_a_missing_one_is_a_404() {
    let (base_url, server) = serve_once(
        200,
        r#"{"flowControlKey":"k","waitListSize":4,"parallelismMax":2,"parallelismCount":2,
            "rateMax":10,"rateCount":7,"ratePeriod":60,"ratePeriodStart":1700000000,
            "isPaused":false,"isPinnedParallelism":true,"isPinnedRate":false}"#,
    )
    .await;
    let info = within_seconds(client(&base_url).flow_control("k"))
        .await
        .unwrap();
    assert_eq!(
        (
            info.wait_list_size,
            info.parallelism_count,
            info.rate_period
        ),
        (4, 2, 60)
    );
    assert!(info.is_pinned_parallelism && !info.is_pinned_rate);
    let request = server.await.unwrap();
    assert!(
        request.starts_with("GET /v2/flowControl/k HTTP/1.1\r\n"),
        "{request}"
    );

    let (base_url, _server) =
        serve_once(404, r#"{"error":"flow control key \"k\" not found"}"#).await;
    match within_seconds(client(&base_url).flow_control("k")).await {
        Err(Error::Http { status, message }) => {
            assert_eq!(status, 404);
            assert_eq!(message, r#"flow control key "k" not found"#);
        }
        other => panic!("expected an Http error, got {other:?}"),
    }
}

#[tokio::test]
async fn global_parallelism_is_parsed() {
    let (base_url, server) = serve_once(200, r#"{"parallelismMax":0,"parallelismCount":3}"#).await;
    let global = within_seconds(client(&base_url).global_parallelism())
        .await
        .unwrap();
    assert_eq!((global.parallelism_max, global.parallelism_count), (0, 3));
    let request = server.await.unwrap();
    assert!(
        request.starts_with("GET /v2/globalParallelism HTTP/1.1\r\n"),
        "{request}"
    );
}

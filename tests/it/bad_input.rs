//! Requests Ferry must turn away: bad destinations and headers, oversized
//! bodies and header sets, missing or wrong tokens, a full backlog, and
//! routes that do not exist or are not served yet.
//!
//! Each refusal must be the documented 4xx with a `{"error": ...}` body that
//! names the problem, and must leave no trace: nothing stored in Redis,
//! nothing dead-lettered, nothing delivered.

use ferry_core::wire::ErrorBody;
use ferry_gateway::GatewayConfig;
use ferry_tests::ferry::{TOKEN, TestFerry, TestOptions};
use ferry_tests::sink::TestSink;

use crate::dlq::{WAIT, dead_letters};

/// Asserts that `response` has status `expected_status` and a JSON error
/// body whose message mentions `needle` (ignoring ASCII case).
pub(crate) async fn assert_error(response: reqwest::Response, expected_status: u16, needle: &str) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body: ErrorBody = serde_json::from_str(&text).unwrap_or_else(|error| {
        panic!("status {status}: body {text:?} is not {{\"error\": ...}}: {error}")
    });
    assert_eq!(status, expected_status, "error: {:?}", body.error);
    assert!(
        body.error.to_lowercase().contains(&needle.to_lowercase()),
        "{:?} does not mention {needle:?}",
        body.error
    );
}

/// A Ferry and a sink that bad requests aim at.
struct Target {
    ferry: TestFerry,
    sink: TestSink,
}

impl Target {
    async fn start() -> Target {
        Target::start_with(TestOptions::default()).await
    }

    async fn start_with(options: TestOptions) -> Target {
        Target {
            ferry: TestFerry::start_with(options).await,
            sink: TestSink::start().await,
        }
    }

    /// A raw publish of `destination`, which is appended unencoded as the
    /// SDKs do, authenticated as tenant A.
    fn publish(&self, destination: &str) -> reqwest::RequestBuilder {
        self.publish_unauthenticated(destination).bearer_auth(TOKEN)
    }

    fn publish_unauthenticated(&self, destination: &str) -> reqwest::RequestBuilder {
        self.ferry
            .http()
            .post(self.ferry.url(&format!("/v2/publish/{destination}")))
            .body("must not be stored")
    }

    /// Asserts that no message exists in Redis, none is dead-lettered and
    /// the sink received nothing. A stored message keeps its Redis hash
    /// until its delivery has reached the sink, so checking the store first
    /// and the sink second needs no waiting.
    async fn assert_untouched(&self) {
        assert_eq!(stored_messages(&self.ferry).await, Vec::<String>::new());
        assert!(dead_letters(&self.ferry, TOKEN).await.is_empty());
        assert_eq!(self.sink.n_requests(), 0, "{:?}", self.sink.requests());
    }
}

/// The Redis keys of every stored message, pending or dead, found by the
/// key layout documented in ferry-store, so "nothing was stored" is checked
/// rather than assumed.
async fn stored_messages(ferry: &TestFerry) -> Vec<String> {
    let mut conn = ferry.redis.standalone().conn().await;
    redis::cmd("KEYS")
        .arg(format!("{}:v1:*:msg:*", ferry.prefix))
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_store_check_sees_a_stored_message() {
    let target = Target::start().await;
    target.assert_untouched().await;
    let held_back = target
        .publish(&target.sink.url("/later"))
        .header("Upstash-Delay", "1h")
        .send()
        .await
        .unwrap();
    assert_eq!(held_back.status().as_u16(), 201);
    assert_eq!(stored_messages(&target.ferry).await.len(), 1);
}

#[tokio::test]
async fn malformed_destinations_are_refused() {
    let target = Target::start().await;
    let port = target.sink.addr().port();
    let cases = [
        (format!("ftp://127.0.0.1:{port}/a"), 400, "invalid scheme"),
        (String::new(), 400, "missing destination"),
        (
            format!("http://user:pw@127.0.0.1:{port}/"),
            400,
            "credentials",
        ),
        ("my-group".to_owned(), 404, "my-group"),
    ];
    for (destination, status, needle) in cases {
        let response = target.publish(&destination).send().await.unwrap();
        assert_error(response, status, needle).await;
    }
    target.assert_untouched().await;
}

#[tokio::test]
async fn bad_publish_headers_are_400s_naming_the_header() {
    let target = Target::start().await;
    let url = target.sink.url("/bad-header");
    let cases = [
        ("Upstash-Retries", "abc", "Upstash-Retries"),
        ("Upstash-Retries", "21", "Upstash-Retries"),
        ("Upstash-Delay", "10x", "Upstash-Delay"),
        ("Upstash-Method", "FETCH", "Upstash-Method"),
        ("Upstash-Timeout", "0s", "Upstash-Timeout"),
        ("Upstash-Retry-Delay", "foo(1)", "Upstash-Retry-Delay"),
        ("Upstash-Not-Before", "soon", "Upstash-Not-Before"),
        ("Upstash-Callback", "not a url", "Upstash-Callback"),
    ];
    for (name, value, needle) in cases {
        let response = target
            .publish(&url)
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_error(response, 400, needle).await;
    }
    target.assert_untouched().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    const LIMIT: usize = 1024;
    let options = TestOptions {
        gateway: GatewayConfig {
            max_body_bytes: LIMIT,
            ..GatewayConfig::default()
        },
        ..TestOptions::default()
    };
    let target = Target::start_with(options).await;
    let url = target.sink.url("/big");
    let response = target
        .publish(&url)
        .body(vec![b'x'; 2 * LIMIT])
        .send()
        .await
        .unwrap();
    assert_error(response, 413, &LIMIT.to_string()).await;
    target.assert_untouched().await;

    let at_limit = target
        .publish(&url)
        .body(vec![b'x'; LIMIT])
        .send()
        .await
        .unwrap();
    assert_eq!(
        at_limit.status().as_u16(),
        201,
        "a body of exactly the limit is accepted"
    );
}

#[tokio::test]
async fn a_publish_needs_a_valid_token_in_the_header_or_the_query() {
    let target = Target::start().await;
    let url = target.sink.url("/auth");
    let missing = target.publish_unauthenticated(&url).send().await.unwrap();
    assert_error(missing, 401, "token").await;
    let wrong = target
        .publish_unauthenticated(&url)
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_error(wrong, 401, "token").await;
    let wrong_in_query = target
        .publish_unauthenticated(&format!("{url}?qstash_token=not-a-token"))
        .send()
        .await
        .unwrap();
    assert_error(wrong_in_query, 401, "token").await;
    target.assert_untouched().await;

    let in_query = target
        .publish_unauthenticated(&format!("{url}?qstash_token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(in_query.status().as_u16(), 201);
    let delivered = target.sink.wait_for_requests(1, WAIT).await;
    assert_eq!(
        delivered[0].uri, "/auth",
        "the token is not passed on to the destination"
    );
}

#[tokio::test]
async fn too_many_request_headers_is_431() {
    let target = Target::start().await;
    let crowded = |n: usize| {
        let mut request = target.publish(&target.sink.url("/crowded"));
        for i in 0..n {
            request = request.header(format!("X-Filler-{i}"), "v");
        }
        request
    };
    // Above the configured 64: Ferry's JSON error.
    assert_error(crowded(80).send().await.unwrap(), 431, "header").await;
    // Above 100 the HTTP layer refuses before Ferry sees the request.
    assert_eq!(crowded(150).send().await.unwrap().status().as_u16(), 431);
    target.assert_untouched().await;
}

#[tokio::test]
async fn a_full_backlog_is_429_with_retry_after() {
    let options = TestOptions {
        partitions: 1,
        max_backlog_per_partition: 2,
        run_deliverer: false,
        ..TestOptions::default()
    };
    let target = Target::start_with(options).await;
    let url = target.sink.url("/backlog");
    for _ in 0..2 {
        let accepted = target.publish(&url).send().await.unwrap();
        assert_eq!(accepted.status().as_u16(), 201);
    }
    let refused = target.publish(&url).send().await.unwrap();
    let retry_after = refused
        .headers()
        .get(http::header::RETRY_AFTER)
        .expect("429 carries Retry-After")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        retry_after.parse::<u64>().is_ok(),
        "Retry-After: {retry_after:?}"
    );
    assert_error(refused, 429, "backlog").await;
    assert_eq!(
        stored_messages(&target.ferry).await.len(),
        2,
        "the third was not stored"
    );
}

#[tokio::test]
async fn unknown_and_unsupported_routes_answer_json() {
    let target = Target::start().await;
    let get = |path: &str| {
        target
            .ferry
            .http()
            .get(target.ferry.url(path))
            .bearer_auth(TOKEN)
            .send()
    };
    assert_error(
        get("/v2/no-such-route").await.unwrap(),
        404,
        "/v2/no-such-route",
    )
    .await;
    // Runs are cancelled (DELETE) there, never read as a whole.
    assert_error(
        get("/v2/workflows/runs").await.unwrap(),
        405,
        "GET is not allowed on /v2/workflows/runs",
    )
    .await;
    target.assert_untouched().await;
}

#[tokio::test]
async fn features_not_built_yet_are_refused_not_ignored() {
    let target = Target::start().await;
    let url = target.sink.url("/limited");
    for (header, value) in [
        ("Upstash-Queue-Name", "jobs"),
        ("Upstash-Cron", "* * * * *"),
    ] {
        let response = target
            .publish(&url)
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_error(response, 501, "not supported").await;
    }
    target.assert_untouched().await;
}

#[tokio::test]
async fn flow_control_headers_that_cannot_be_enforced_are_refused() {
    let target = Target::start().await;
    let url = target.sink.url("/limited");
    for (headers, needle) in [
        (
            vec![("Upstash-Flow-Control-Key", "k")],
            "needs Upstash-Flow-Control-Value",
        ),
        (
            vec![("Upstash-Flow-Control-Value", "rate=1")],
            "needs Upstash-Flow-Control-Key",
        ),
        (
            vec![
                ("Upstash-Flow-Control-Key", "k"),
                ("Upstash-Flow-Control-Value", "period=1s"),
            ],
            "must set parallelism or rate",
        ),
        (
            vec![
                ("Upstash-Flow-Control-Key", "k"),
                ("Upstash-Flow-Control-Value", "rate=0"),
            ],
            "at least 1",
        ),
        (
            vec![
                ("Upstash-Flow-Control-Key", "k"),
                ("Upstash-Flow-Control-Value", "rate=1, period=30d"),
            ],
            "between 1s and 7d",
        ),
    ] {
        let mut request = target.publish(&url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        assert_error(request.send().await.unwrap(), 400, needle).await;
    }
    target.assert_untouched().await;
}

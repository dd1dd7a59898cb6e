//! The official SDKs through the calls that combine features or push at
//! their edges (`tests/sdk/js/parity.mjs`, `tests/sdk/py/parity.py`): bulk
//! cancels past the JS SDK's legacy `count`, flow control on enqueued
//! messages, queues to URL groups, schedules with a queue, a key or a group,
//! batches that are all or nothing, whole header sets passed on, callbacks
//! with whole responses, time cursors, rate-limit errors with their fields,
//! dead letters by filter and all, and an `api` provider with a callback.
//!
//! Each script runs against a Ferry on its own Redis that allows a
//! per-second cron, plus a second Ferry whose backlog holds one message, so
//! the scripts can meet a 429. Deliveries go to a [`TestSink`] scripted as
//! the scripts expect; what they announce must arrive there, signed.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ferry_gateway::GatewayConfig;
use ferry_tests::ferry::{OTHER_TOKEN, TOKEN, TestFerry, TestOptions};
use ferry_tests::sink::{Recorded, Reply, TestSink};
use serde::Deserialize;
use tokio::process::Command;

use crate::sdk_js::{announced, node, summary, transcript};
use crate::sdk_py::python_script;

/// How long a script may run; each needs a few seconds (dead letters,
/// schedule ticks).
const SCRIPT_LIMIT: Duration = Duration::from_secs(60);
/// How long announced deliveries may take to reach the sink.
const DELIVERY_LIMIT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(25);
/// What the sink answers under `/big`: more than the dead-letter excerpt.
const BIG_ANSWER: usize = 40_000;
/// What the sink answers as the LLM behind the `api` provider.
const LLM_ANSWER: &str = r#"{"choices":[{"message":{"role":"assistant","content":"hi"}}]}"#;

#[tokio::test]
async fn the_official_js_sdk_matches_qstash_where_features_combine() {
    let mut script = node("parity.mjs");
    script.env("QSTASH_OTHER_TOKEN", OTHER_TOKEN);
    check_script("parity.mjs", script, 19).await;
}

#[tokio::test]
async fn the_official_python_sdk_matches_qstash_where_features_combine() {
    let mut script = python_script("parity.py");
    script.env("QSTASH_OTHER_TOKEN", OTHER_TOKEN);
    check_script("parity.py", script, 13).await;
}

/// Runs `script` against fresh Ferrys and a sink, and checks that at least
/// `min_checks` of its checks passed, none failed, and everything it
/// announced arrived as announced.
async fn check_script(name: &str, mut script: Command, min_checks: usize) {
    let ferry = TestFerry::start_with(TestOptions {
        gateway: GatewayConfig {
            allow_second_cron: true,
            ..GatewayConfig::default()
        },
        partitions: 4,
        ..TestOptions::default()
    })
    .await;
    let full = TestFerry::start_with(TestOptions {
        partitions: 1,
        max_backlog_per_partition: 1,
        run_deliverer: false,
        ..TestOptions::default()
    })
    .await;
    let sink = scripted_sink().await;
    script
        .env("QSTASH_URL", &ferry.base_url)
        .env("QSTASH_TOKEN", TOKEN)
        .env("QSTASH_FULL_URL", &full.base_url)
        .env("SINK_URL", sink.url(""));
    let output = tokio::time::timeout(SCRIPT_LIMIT, script.output())
        .await
        .unwrap_or_else(|_| panic!("{name} did not finish within {SCRIPT_LIMIT:?}"))
        .unwrap_or_else(|error| panic!("starting {name}: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{name} failed:\n{}",
        transcript(&output)
    );
    let (passed, failed) = summary(&stdout);
    assert_eq!(failed, 0, "{}", transcript(&output));
    assert!(passed >= min_checks, "{}", transcript(&output));

    let deliveries: Vec<ExpectedDelivery> = announced(&stdout, "expect-delivery");
    let callbacks: Vec<ExpectedCallback> = announced(&stdout, "expect-callback");
    for expected in &deliveries {
        let got = wait_for(&sink, &format!("{expected:?}"), |r| expected.matches(r)).await;
        expected.check(&got);
    }
    for expected in &callbacks {
        let got = wait_for(&sink, &format!("{expected:?}"), |r| expected.matches(r)).await;
        expected.check(&got);
    }
    let receiver = ferry.receiver();
    let host = sink.addr().to_string();
    for request in sink.requests() {
        let url = sink.url(&request.uri.to_string());
        receiver
            .verify(request.signature(), &request.body, Some(&url))
            .unwrap_or_else(|e| panic!("{url} is not signed by Ferry: {e}"));
        assert_eq!(request.header("host"), Some(host.as_str()), "{url}");
    }
}

/// A sink that answers as the scripts expect: 500 under `/fail`, a large
/// body under `/big`, an LLM's answer for the `api` provider, 200 elsewhere.
async fn scripted_sink() -> TestSink {
    let sink = TestSink::start().await;
    sink.respond_to_paths_containing("/fail", Reply::status(500).body("failed on purpose"));
    sink.respond_to_paths_containing("/big", Reply::status(200).body(big_answer()));
    sink.respond_to_paths_containing(
        "/v1/chat/completions",
        Reply::status(200)
            .header("Content-Type", "application/json")
            .body(LLM_ANSWER),
    );
    sink
}

fn big_answer() -> Vec<u8> {
    (0..BIG_ANSWER).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A delivery a script announced (see the script's header for the fields).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpectedDelivery {
    /// Path and query at the sink; `None` when only the id is known.
    path: Option<String>,
    message_id: Option<String>,
    method: Option<String>,
    body: Option<String>,
    /// Exact values, compared byte for byte (UTF-8 included).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    absent: Vec<String>,
}

impl ExpectedDelivery {
    fn matches(&self, request: &Recorded) -> bool {
        let path_matches = self.path.as_deref().is_none_or(|p| request.uri == p);
        let id_matches = self.message_id.as_deref().is_none_or(|id| {
            request
                .headers
                .get("upstash-message-id")
                .is_some_and(|v| v == id)
        });
        // A delivery announced by its headers alone (a schedule's tick) is
        // any request to its path that carries them.
        let headers_match = self.message_id.is_some()
            || self
                .headers
                .iter()
                .all(|(name, value)| has_header(request, name, value));
        path_matches && id_matches && headers_match
    }

    fn check(&self, request: &Recorded) {
        if let Some(method) = &self.method {
            assert_eq!(request.method.as_str(), method, "{self:?}");
        }
        if let Some(body) = &self.body {
            assert_eq!(request.body.as_ref(), body.as_bytes(), "{self:?}");
        }
        for (name, value) in &self.headers {
            assert!(
                has_header(request, name, value),
                "{self:?}: {name} is {:?}",
                request.headers.get(name)
            );
        }
        for name in &self.absent {
            assert!(
                request.headers.get(name).is_none(),
                "{self:?}: {name} arrived"
            );
        }
    }
}

fn has_header(request: &Recorded, name: &str, value: &str) -> bool {
    request
        .headers
        .get(name)
        .is_some_and(|v| v.as_bytes() == value.as_bytes())
}

/// A callback a script announced: its path, the message it reports on, and
/// what its base64 `body` field decodes to (or only its length).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpectedCallback {
    path: String,
    source_message_id: String,
    body_length: Option<usize>,
    body: Option<String>,
}

impl ExpectedCallback {
    fn payload(request: &Recorded) -> Option<serde_json::Value> {
        serde_json::from_slice(&request.body).ok()
    }

    fn matches(&self, request: &Recorded) -> bool {
        request.uri == self.path.as_str()
            && Self::payload(request)
                .is_some_and(|p| p["sourceMessageId"] == self.source_message_id.as_str())
    }

    fn check(&self, request: &Recorded) {
        let payload = Self::payload(request).expect("a JSON callback");
        let carried = BASE64
            .decode(payload["body"].as_str().expect("a base64 body"))
            .expect("base64");
        if let Some(length) = self.body_length {
            assert_eq!(carried.len(), length, "{self:?}");
            assert_eq!(carried, big_answer(), "{self:?}");
        }
        if let Some(body) = &self.body {
            assert_eq!(carried, body.as_bytes(), "{self:?}");
        }
    }
}

/// The first request at the sink that `matches`, waiting up to
/// [`DELIVERY_LIMIT`] for it.
async fn wait_for(sink: &TestSink, what: &str, matches: impl Fn(&Recorded) -> bool) -> Recorded {
    let deadline = tokio::time::Instant::now() + DELIVERY_LIMIT;
    loop {
        let requests = sink.requests();
        if let Some(found) = requests.iter().find(|r| matches(r)) {
            return found.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not arrive within {DELIVERY_LIMIT:?}; the sink got {:#?}",
            requests.iter().map(|r| &r.uri).collect::<Vec<_>>()
        );
        tokio::time::sleep(POLL).await;
    }
}

//! The official QStash Python SDK (PyPI `qstash`, pinned with its whole
//! dependency tree in `tests/sdk/py/requirements.txt`) against Ferry, to show
//! that Python users only change the base URL and the token.
//!
//! Two programs in `tests/sdk/py` run in the SDK's own virtualenv:
//! `suite.py` calls the REST API through the SDK's clients and checks what
//! they return, and `receiver.py` verifies deliveries with the SDK's
//! `Receiver`, as a Python webhook handler does. Every child process is
//! killed when its handle drops and every wait is bounded, so a hung program
//! fails the test instead of stalling it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use ferry_sdk::{Method, PublishOptions};
use ferry_tests::ferry::{OTHER_TOKEN, TOKEN, TestFerry, TestOptions};
use ferry_tests::sink::{Recorded, Reply, TestSink};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Where the Python programs and their virtualenv live.
const SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sdk/py");
/// How long `suite.py` may run; it normally takes about a second.
const SUITE_LIMIT: Duration = Duration::from_secs(40);
/// How long `receiver.py` may take to start listening.
const RECEIVER_START_LIMIT: Duration = Duration::from_secs(15);
/// How long deliveries may take to reach the sink or the receiver.
const DELIVERY_LIMIT: Duration = Duration::from_secs(10);
/// How long the sink must then stay quiet to show nothing else was sent.
const QUIET: Duration = Duration::from_millis(300);
const POLL: Duration = Duration::from_millis(20);
/// Proxy settings that would send the SDK's loopback calls elsewhere.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// The interpreter of the SDK's virtualenv. Panics when it is missing: these
/// tests prove compatibility, so they must never pass by not running.
fn python() -> PathBuf {
    let python = PathBuf::from(SDK_DIR).join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run cargo xtask sdks (installs the pinned official SDKs)",
        python.display()
    );
    python
}

/// A command running `script` from `tests/sdk/py` with the SDK's Python.
pub(crate) fn python_script(script: &str) -> Command {
    let mut command = Command::new(python());
    command
        .arg(script)
        .current_dir(SDK_DIR)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true);
    for variable in PROXY_VARIABLES {
        command.env_remove(variable);
    }
    command
}

/// A delivery `suite.py` announced on an `expect-delivery {json}` line.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpectedDelivery {
    /// Path and query at the sink.
    path: String,
    message_id: Option<String>,
    method: Option<String>,
    body: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

impl ExpectedDelivery {
    fn matches(&self, request: &Recorded) -> bool {
        request.uri == self.path.as_str()
            && self
                .message_id
                .as_deref()
                .is_none_or(|id| request.message_id() == id)
    }

    /// Panics unless `request` looks the way the suite said it would.
    fn check(&self, request: &Recorded) {
        if let Some(method) = &self.method {
            assert_eq!(request.method.as_str(), method, "method of {self:?}");
        }
        if let Some(body) = &self.body {
            assert_eq!(
                String::from_utf8_lossy(&request.body),
                body.as_str(),
                "body of {self:?}"
            );
        }
        for (name, value) in &self.headers {
            assert_eq!(
                request.header(name),
                Some(value.as_str()),
                "header {name} of {self:?}"
            );
        }
    }
}

/// What `suite.py` printed.
struct SuiteRun {
    stdout: String,
}

impl SuiteRun {
    /// The `(passed, failed)` counts of the final summary line.
    fn summary(&self) -> (u32, u32) {
        let line = self.stdout.lines().last().unwrap_or_default();
        let counts = line
            .strip_suffix(" failed")
            .and_then(|rest| rest.split_once(" passed, "));
        let Some((passed, failed)) = counts else {
            panic!("the suite's last line is not `N passed, M failed`: {line:?}");
        };
        (
            passed.parse().expect("passed is a count"),
            failed.parse().expect("failed is a count"),
        )
    }

    fn expected_deliveries(&self) -> Vec<ExpectedDelivery> {
        self.stdout
            .lines()
            .filter_map(|line| line.strip_prefix("expect-delivery "))
            .map(|json| {
                serde_json::from_str(json)
                    .unwrap_or_else(|e| panic!("bad expect-delivery line {json:?}: {e}"))
            })
            .collect()
    }
}

/// Runs `suite.py` against `ferry`, sending deliveries to `sink`, and
/// panics unless it exits successfully.
async fn run_suite(ferry: &TestFerry, sink: &TestSink) -> SuiteRun {
    let mut command = python_script("suite.py");
    command
        .env("QSTASH_URL", &ferry.base_url)
        .env("QSTASH_TOKEN", TOKEN)
        .env("QSTASH_OTHER_TOKEN", OTHER_TOKEN)
        .env("SINK_URL", sink.url(""));
    let output = tokio::time::timeout(SUITE_LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("suite.py did not finish within {SUITE_LIMIT:?}"))
        .expect("start suite.py");
    let run = SuiteRun {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    };
    assert_exited_cleanly("suite.py", &output);
    run
}

fn assert_exited_cleanly(program: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{program} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_official_python_sdk_works_against_ferry() {
    python_suite(TestOptions::default()).await;
}

#[tokio::test]
async fn the_official_python_sdk_works_against_ferry_on_a_redis_cluster() {
    python_suite(TestOptions {
        cluster: true,
        ..TestOptions::default()
    })
    .await;
}

/// The Python suite against a Ferry started with `options`.
async fn python_suite(options: TestOptions) {
    let ferry = TestFerry::start_with(options).await;
    let sink = TestSink::start().await;
    // The suite expects paths under `/fail/` to answer 500.
    sink.respond_to_paths_containing("/fail/", Reply::status(500));

    let run = run_suite(&ferry, &sink).await;
    let (passed, failed) = run.summary();
    assert_eq!(failed, 0, "{}", run.stdout);
    assert!(passed > 0, "{}", run.stdout);

    let expected = run.expected_deliveries();
    sink.wait_for_requests(expected.len(), DELIVERY_LIMIT).await;
    sink.assert_quiet(QUIET).await;
    let requests = sink.requests();
    // Delivery is at least once: a repeat of an announced delivery is
    // allowed (and reported), anything else arriving is not.
    for request in &requests {
        assert!(
            expected.iter().any(|d| d.matches(request)),
            "only the announced deliveries arrive, but {} {} did",
            request.method,
            request.uri
        );
    }
    if requests.len() > expected.len() {
        eprintln!(
            "{} repeated deliveries of announced messages",
            requests.len() - expected.len()
        );
    }
    for delivery in &expected {
        let Some(request) = requests.iter().find(|r| delivery.matches(r)) else {
            panic!("{delivery:?} never arrived; the sink got {requests:#?}");
        };
        delivery.check(request);
    }
    let receiver = ferry.receiver();
    for request in &requests {
        let url = sink.url(&request.uri.to_string());
        receiver
            .verify(request.signature(), &request.body, Some(&url))
            .unwrap_or_else(|e| panic!("delivery to {url} is not validly signed: {e}"));
    }
}

/// One verification `receiver.py` made, as `GET /__results` reports it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Verdict {
    method: String,
    /// Path and query of the request.
    path: String,
    message_id: Option<String>,
    signature: Option<String>,
    body: String,
    valid: bool,
    error: Option<String>,
}

/// `receiver.py`, running until dropped.
struct PyReceiver {
    base_url: String,
    http: reqwest::Client,
    _process: Child,
}

impl PyReceiver {
    /// Starts the receiver with the two signing keys it should trust.
    async fn start(current: &str, next: &str) -> PyReceiver {
        let mut process = python_script("receiver.py")
            .env("QSTASH_CURRENT_SIGNING_KEY", current)
            .env("QSTASH_NEXT_SIGNING_KEY", next)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start receiver.py");
        let stdout = process.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(RECEIVER_START_LIMIT, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("receiver.py did not start in {RECEIVER_START_LIMIT:?}"))
            .expect("read receiver.py's output");
        let Some(port) = first.as_deref().and_then(|l| l.strip_prefix("listening ")) else {
            panic!("receiver.py printed {first:?} instead of `listening <port>`");
        };
        PyReceiver {
            base_url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("http client"),
            _process: process,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn verdicts(&self) -> Vec<Verdict> {
        let response = self
            .http
            .get(self.url("/__results"))
            .send()
            .await
            .expect("ask receiver.py for its results");
        response.json().await.expect("results are JSON")
    }

    /// Waits until `n` requests have been verified in total and returns all
    /// verdicts.
    async fn wait_for_verdicts(&self, n: usize) -> Vec<Verdict> {
        let deadline = tokio::time::Instant::now() + DELIVERY_LIMIT;
        loop {
            let verdicts = self.verdicts().await;
            if verdicts.len() >= n {
                return verdicts;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} requests at receiver.py within {DELIVERY_LIMIT:?}, got {verdicts:#?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends a request straight to the receiver, bypassing Ferry, and
    /// returns the status and the error it answered with.
    async fn send_directly(
        &self,
        path: &str,
        signature: Option<&str>,
        body: &str,
    ) -> (u16, String) {
        let mut request = self.http.post(self.url(path)).body(body.to_owned());
        if let Some(signature) = signature {
            request = request.header("Upstash-Signature", signature);
        }
        let response = request.send().await.expect("reach receiver.py");
        let status = response.status().as_u16();
        (status, response.text().await.expect("read the answer"))
    }
}

/// A message the receiver test publishes through Ferry.
struct Delivery {
    path: &'static str,
    method: Method,
    content_type: Option<&'static str>,
    body: &'static str,
}

const JSON_BODY: &str = r#"{"hello":"world","list":[1,2,3],"nested":{"ok":true}}"#;

fn deliveries() -> Vec<Delivery> {
    vec![
        Delivery {
            path: "/json?x=1&y=two",
            method: Method::POST,
            content_type: Some("application/json"),
            body: JSON_BODY,
        },
        Delivery {
            path: "/text/unicode",
            method: Method::POST,
            content_type: Some("text/plain; charset=utf-8"),
            body: "grüße, 世界 ✓ — multi-byte UTF-8",
        },
        Delivery {
            path: "/empty?probe=1",
            method: Method::GET,
            content_type: None,
            body: "",
        },
        Delivery {
            path: "/put/nested/path?a=b%20c&d=",
            method: Method::PUT,
            content_type: Some("text/plain"),
            body: "put body",
        },
    ]
}

/// Publishes `delivery` to `receiver` through Ferry and returns its id.
async fn publish_to(ferry: &TestFerry, receiver: &PyReceiver, delivery: &Delivery) -> String {
    let opts = PublishOptions {
        method: Some(delivery.method.clone()),
        content_type: delivery.content_type.map(str::to_owned),
        ..PublishOptions::default()
    };
    ferry
        .sdk()
        .publish(&receiver.url(delivery.path), delivery.body, &opts)
        .await
        .expect("publish through Ferry")
        .message_id
}

/// The verdict on the delivery of message `id`. Panics if there is none.
fn verdict_for<'v>(verdicts: &'v [Verdict], id: &str) -> &'v Verdict {
    verdicts
        .iter()
        .find(|v| v.message_id.as_deref() == Some(id))
        .unwrap_or_else(|| panic!("no delivery of {id} in {verdicts:#?}"))
}

/// Replaces the first character of the signature part of a JWT, which
/// changes the decoded MAC (the last character may carry only padding bits).
fn corrupt_signature(jwt: &str) -> String {
    let (signed, mac) = jwt.rsplit_once('.').expect("a JWT has three parts");
    let replacement = if mac.starts_with('A') { 'B' } else { 'A' };
    format!("{signed}.{replacement}{}", &mac[1..])
}

#[tokio::test]
async fn the_official_python_receiver_accepts_ferry_deliveries() {
    let ferry = TestFerry::start().await;
    let original = &ferry.keys;
    let receiver = PyReceiver::start(original.current.expose(), original.next.expose()).await;

    let cases = deliveries();
    let mut ids = Vec::new();
    for case in &cases {
        ids.push(publish_to(&ferry, &receiver, case).await);
    }
    let verdicts = receiver.wait_for_verdicts(cases.len()).await;
    for (case, id) in cases.iter().zip(&ids) {
        let verdict = verdict_for(&verdicts, id);
        assert!(
            verdict.valid,
            "{} was refused: {:?}",
            case.path, verdict.error
        );
        assert_eq!(verdict.method, case.method.as_str());
        assert_eq!(verdict.path, case.path);
        assert_eq!(verdict.body, case.body);
    }

    let json = verdict_for(&verdicts, &ids[0]);
    let signature = json.signature.as_deref().expect("deliveries are signed");
    check_direct_requests(&receiver, signature).await;

    check_rotation(&ferry, &receiver).await;
}

/// A request sent straight to the receiver, and the status it must get.
struct DirectRequest<'a> {
    what: &'a str,
    path: &'a str,
    signature: Option<&'a str>,
    body: &'a str,
    status: u16,
}

/// Replays a genuine delivery to the receiver, first unchanged, then with one
/// part tampered with, and checks it tells them apart. The Python `Receiver`
/// retries with the next key after any failure with the current key, so every
/// refusal carries the next key's error; only the status separates them from
/// the genuine replay.
async fn check_direct_requests(receiver: &PyReceiver, signature: &str) {
    let corrupted = corrupt_signature(signature);
    let tampered_body = JSON_BODY.replace("[1,2,3]", "[1,2,4]");
    let genuine = DirectRequest {
        what: "unchanged",
        path: "/json?x=1&y=two",
        signature: Some(signature),
        body: JSON_BODY,
        status: 200,
    };
    let requests = [
        DirectRequest {
            what: "body changed",
            body: &tampered_body,
            status: 401,
            ..genuine
        },
        DirectRequest {
            what: "query changed",
            path: "/json?x=2&y=two",
            status: 401,
            ..genuine
        },
        DirectRequest {
            what: "path changed",
            path: "/other?x=1&y=two",
            status: 401,
            ..genuine
        },
        DirectRequest {
            what: "signature corrupted",
            signature: Some(&corrupted),
            status: 401,
            ..genuine
        },
        DirectRequest {
            what: "signature missing",
            signature: None,
            status: 401,
            ..genuine
        },
    ];
    for request in std::iter::once(genuine).chain(requests) {
        let (status, answer) = receiver
            .send_directly(request.path, request.signature, request.body)
            .await;
        assert_eq!(status, request.status, "{}: {answer}", request.what);
    }
}

/// Rotates the tenant's keys; the receiver, still holding the original pair,
/// must accept deliveries signed with the new current key (its next key).
async fn check_rotation(ferry: &TestFerry, receiver: &PyReceiver) {
    let rotated = ferry.sdk().rotate_keys().await.expect("rotate the keys");
    assert_eq!(rotated.current, ferry.keys.next.expose());
    // No wait: the next delivery is signed with the new current key.

    let n_before = receiver.verdicts().await.len();
    let case = Delivery {
        path: "/after-rotation?n=1",
        method: Method::POST,
        content_type: Some("application/json"),
        body: r#"{"rotated":true}"#,
    };
    let id = publish_to(ferry, receiver, &case).await;
    let verdicts = receiver.wait_for_verdicts(n_before + 1).await;
    let verdict = verdict_for(&verdicts, &id);
    assert!(verdict.valid, "refused after rotation: {:?}", verdict.error);

    let signature = verdict.signature.as_deref().expect("signed");
    let url = receiver.url(case.path);
    let only_new = ferry_sdk::Receiver::new(&rotated.current, &rotated.current).expect("keys");
    only_new
        .verify(signature, case.body.as_bytes(), Some(&url))
        .expect("signed with the new current key");
    let original_current = ferry.keys.current.expose();
    let only_old = ferry_sdk::Receiver::new(original_current, original_current).expect("keys");
    assert!(
        only_old
            .verify(signature, case.body.as_bytes(), Some(&url))
            .is_err(),
        "the delivery must not be signed with the retired key"
    );
}

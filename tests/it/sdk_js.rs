//! The official JavaScript SDK, `@upstash/qstash` pinned in
//! `tests/sdk/js/package.json`, against a real Ferry: its client API
//! (`suite.mjs`), its `Receiver` inside a webhook handler (`receiver.mjs`),
//! and its dev mode finding `ferry dev` (`dev-mode.mjs`). Passing these is
//! what "drop-in QStash replacement" means for JavaScript users.
//!
//! Node runs with a cleared environment, so a developer's `QSTASH_*` or
//! `NODE_ENV` variables cannot change what the SDK does. Every child process
//! dies with its handle and every wait is bounded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ferry::config::dev_credentials;
use ferry_sdk::{Method, PublishOptions, Receiver};
use ferry_store::KeyPair;
use ferry_tests::ferry::{OTHER_TOKEN, TOKEN, TestFerry, TestOptions};
use ferry_tests::sink::TestSink;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::Instant;

/// Where the scripts and the pinned SDK (`node_modules`) live.
const JS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sdk/js");
const INSTALL_HINT: &str = "run cargo xtask sdks (installs the pinned official SDKs)";
/// The suite makes a few dozen requests and waits for three dead letters;
/// it normally needs about a second.
const SUITE_LIMIT: Duration = Duration::from_secs(30);
/// A script that publishes one message.
const SCRIPT_LIMIT: Duration = Duration::from_secs(20);
/// How long a server (receiver.mjs, `ferry dev`) may take to accept requests.
const START_LIMIT: Duration = Duration::from_secs(10);
/// How long a delivery may take to reach receiver.mjs.
const DELIVERY_WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(25);
/// suite.mjs has this many checks; fewer passes means checks were lost.
const SUITE_CHECKS: usize = 39;

#[tokio::test]
async fn the_official_js_sdk_works_against_ferry() {
    js_suite(TestOptions::default()).await;
}

#[tokio::test]
async fn the_official_js_sdk_works_against_ferry_on_a_redis_cluster() {
    js_suite(TestOptions {
        cluster: true,
        ..TestOptions::default()
    })
    .await;
}

/// The JavaScript suite against a Ferry started with `options`.
async fn js_suite(options: TestOptions) {
    let ferry = TestFerry::start_with(options).await;
    // receiver.mjs is the sink: it answers 200, or 500 under `/fail`, and
    // reports what it received together with the official Receiver's verdict.
    let sink = JsReceiver::start(&ferry.keys, None).await;
    let mut suite = node("suite.mjs");
    suite
        .env("QSTASH_URL", &ferry.base_url)
        .env("QSTASH_TOKEN", TOKEN)
        .env("QSTASH_OTHER_TOKEN", OTHER_TOKEN)
        .env("SINK_URL", sink.url(""));
    let output = run_to_end(suite, SUITE_LIMIT).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "suite.mjs failed:\n{}",
        transcript(&output)
    );
    let (passed, failed) = summary(&stdout);
    assert_eq!(failed, 0, "{}", transcript(&output));
    assert!(passed >= SUITE_CHECKS, "{}", transcript(&output));

    let deliveries: Vec<ExpectedDelivery> = announced(&stdout, "expect-delivery");
    let callbacks: Vec<ExpectedCallback> = announced(&stdout, "expect-callback");
    assert!(deliveries.len() >= 6 && callbacks.len() >= 2, "{stdout}");
    for expected in &deliveries {
        check_delivery(&ferry, &sink, expected).await;
    }
    for expected in &callbacks {
        check_callback(&ferry, &sink, expected).await;
    }
    let rejected: Vec<Verdict> = sink
        .verdicts()
        .await
        .into_iter()
        .filter(|v| !v.valid)
        .collect();
    assert!(rejected.is_empty(), "receiver.mjs rejected {rejected:#?}");
    let keys = ferry.sdk().keys().await.unwrap();
    assert_eq!(
        keys.current,
        ferry.keys.next.expose(),
        "the suite rotated the keys"
    );
}

#[tokio::test]
async fn the_official_js_receiver_accepts_ferry_deliveries() {
    let ferry = TestFerry::start().await;
    let receiver = JsReceiver::start(&ferry.keys, None).await;
    for case in RECEIVER_CASES {
        let url = receiver.url(case.path);
        let opts = PublishOptions {
            method: Some(case.method.clone()),
            content_type: case.content_type.map(str::to_owned),
            ..PublishOptions::default()
        };
        let id = ferry
            .sdk()
            .publish(&url, case.body, &opts)
            .await
            .unwrap()
            .message_id;
        let got = receiver.wait_for_message(&id).await;
        assert!(got.valid, "{url}: {:?}", got.error);
        assert_eq!(
            (got.status, got.method.as_str()),
            (200, case.method.as_str())
        );
        assert_eq!(got.url, url);
        assert_eq!(got.body(), case.body.as_bytes());
    }

    let tampering = Tampering::capture(&ferry).await;
    tampering.assert_rejected().await;

    let rotated = ferry.sdk().rotate_keys().await.unwrap();
    assert_eq!(rotated.current, ferry.keys.next.expose());
    // No wait: the next delivery is signed with the new current key.
    let url = receiver.url("/after-rotation");
    let id = ferry
        .sdk()
        .publish(
            &url,
            "signed with the old next key",
            &PublishOptions::default(),
        )
        .await
        .unwrap()
        .message_id;
    let got = receiver.wait_for_message(&id).await;
    assert!(got.valid, "after rotation: {:?}", got.error);
    let next = ferry.keys.next.expose();
    let current = ferry.keys.current.expose();
    got.verify_with(&Receiver::new(next, next).unwrap());
    assert!(
        Receiver::new(current, current)
            .unwrap()
            .verify(got.signature(), &got.body(), Some(&url))
            .is_err(),
        "after rotation, deliveries are no longer signed with the old current key"
    );
}

#[tokio::test]
async fn qstash_dev_mode_finds_ferry_dev() {
    let dir = sdk_dir();
    let relay = DevRelay::start().await;
    let mut sink = TestSink::start().await;
    let home = TempHome::new();
    let target = sink.url("/from-dev-mode?via=js");
    let mut script = node("dev-mode.mjs");
    script
        .env("QSTASH_DEV", "true")
        .env("QSTASH_DEV_PORT", relay.port.to_string())
        .env("HOME", &home.0)
        .env("TARGET_URL", &target);
    let output = run_to_end(script, SCRIPT_LIMIT).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", transcript(&output));
    let running = format!("Server already running at http://127.0.0.1:{}", relay.port);
    assert!(
        stdout.contains(&running),
        "the SDK did not accept ferry dev as its dev server:\n{}",
        transcript(&output)
    );
    assert!(
        !home.0.join(".cache/upstash").exists(),
        "the SDK prepared to download Upstash's dev server binary"
    );
    let message_id = stdout
        .lines()
        .find_map(|line| line.strip_prefix("published "))
        .unwrap_or_else(|| {
            panic!("no `published <id>` line in {dir:?}/dev-mode.mjs output:\n{stdout}")
        });

    let delivery = sink.next_request().await;
    assert_eq!(delivery.message_id(), message_id);
    assert_eq!(delivery.body.as_ref(), b"from dev mode");
    Receiver::new(
        dev_credentials::CURRENT_SIGNING_KEY,
        dev_credentials::NEXT_SIGNING_KEY,
    )
    .unwrap()
    .verify(delivery.signature(), &delivery.body, Some(&target))
    .expect("signed with the public development keys");
}

/// One message the Rust SDK publishes to receiver.mjs.
struct ReceiverCase {
    path: &'static str,
    method: Method,
    content_type: Option<&'static str>,
    body: &'static str,
}

const RECEIVER_CASES: [ReceiverCase; 6] = [
    ReceiverCase {
        path: "/plain",
        method: Method::POST,
        content_type: Some("text/plain"),
        body: "hello from ferry",
    },
    ReceiverCase {
        path: "/empty",
        method: Method::GET,
        content_type: None,
        body: "",
    },
    ReceiverCase {
        path: "/json",
        method: Method::POST,
        content_type: Some("application/json"),
        body: r#"{"event":"order.created","id":42,"tags":["a","b"]}"#,
    },
    ReceiverCase {
        path: "/search?q=shoes&size=42&note=hello%20world&empty=",
        method: Method::PUT,
        content_type: Some("text/plain"),
        body: "query strings are signed too",
    },
    ReceiverCase {
        path: "/?only=query",
        method: Method::POST,
        content_type: None,
        body: "root path",
    },
    ReceiverCase {
        path: "/unicode",
        method: Method::PATCH,
        content_type: Some("text/plain; charset=utf-8"),
        body: "grüße ✓ 🚀",
    },
];

/// A valid delivery captured at a [`TestSink`], replayed with changes to a
/// receiver.mjs that believes it is that sink, so `sub` matches the capture.
struct Tampering {
    replay: JsReceiver,
    path: String,
    signature: String,
    body: Vec<u8>,
}

impl Tampering {
    const BODY: &'static [u8] = br#"{"amount":100}"#;

    async fn capture(ferry: &TestFerry) -> Tampering {
        let mut sink = TestSink::start().await;
        let opts = PublishOptions {
            content_type: Some("application/json".into()),
            ..PublishOptions::default()
        };
        ferry
            .sdk()
            .publish(&sink.url("/captured?q=1"), Self::BODY, &opts)
            .await
            .unwrap();
        let captured = sink.next_request().await;
        let replay = JsReceiver::start(&ferry.keys, Some(&sink.url(""))).await;
        Tampering {
            replay,
            path: captured.uri.to_string(),
            signature: captured.signature().to_owned(),
            body: captured.body.to_vec(),
        }
    }

    async fn assert_rejected(&self) {
        let replay = &self.replay;
        let (status, text) = replay
            .send(&self.path, Some(&self.signature), &self.body)
            .await;
        assert_eq!(status, 200, "the untouched capture is accepted: {text}");

        let mut body = self.body.clone();
        let last_digit = body.len() - 2;
        body[last_digit] = b'9';
        let (status, text) = replay.send(&self.path, Some(&self.signature), &body).await;
        assert_eq!(
            (status, text.contains("body hash does not match")),
            (401, true),
            "{text}"
        );

        let (status, text) = replay
            .send("/elsewhere", Some(&self.signature), &self.body)
            .await;
        assert_eq!(
            (status, text.contains("invalid subject")),
            (401, true),
            "{text}"
        );

        let forged = corrupt_signature(&self.signature);
        let (status, text) = replay.send(&self.path, Some(&forged), &self.body).await;
        let verdict = (status, text.contains("signature verification failed"));
        assert_eq!(verdict, (401, true), "{text}");

        let (status, text) = replay.send(&self.path, None, &self.body).await;
        assert_eq!(status, 401, "{text}");
    }
}

/// The JWT with the first character of its signature part changed. (The
/// last character would not do: some of its bits are padding.)
fn corrupt_signature(jwt: &str) -> String {
    let (signed, signature) = jwt.rsplit_once('.').expect("a compact JWS");
    let replacement = if signature.starts_with('A') { 'B' } else { 'A' };
    format!("{signed}.{replacement}{}", &signature[1..])
}

/// What receiver.mjs recorded about one request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Verdict {
    method: String,
    /// The full URL, as passed to the official `Receiver`.
    url: String,
    status: u16,
    /// Whether the official `Receiver` accepted the request.
    valid: bool,
    error: Option<String>,
    signature: Option<String>,
    message_id: Option<String>,
    headers: BTreeMap<String, Value>,
    body_base64: String,
}

impl Verdict {
    fn body(&self) -> Vec<u8> {
        BASE64
            .decode(&self.body_base64)
            .expect("receiver.mjs sends base64")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.as_str()
    }

    fn signature(&self) -> &str {
        self.signature
            .as_deref()
            .unwrap_or_else(|| panic!("{} arrived without a signature", self.url))
    }

    /// Checks the signature with ferry-sdk as well, URL included.
    fn verify_with(&self, receiver: &Receiver) {
        if let Err(error) = receiver.verify(self.signature(), &self.body(), Some(&self.url)) {
            panic!("ferry-sdk rejects the delivery to {}: {error}", self.url);
        }
    }
}

/// A delivery suite.mjs expects, from its `expect-delivery` lines.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpectedDelivery {
    message_id: String,
    method: String,
    url: String,
    /// What the sink answers: 200, or 500 under `/fail`.
    status: u16,
    body: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// A callback suite.mjs expects, from its `expect-callback` lines.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpectedCallback {
    source_message_id: String,
    url: String,
    /// A failure callback, which names the dead letter.
    failure: bool,
}

async fn check_delivery(ferry: &TestFerry, sink: &JsReceiver, expected: &ExpectedDelivery) {
    let got = sink.wait_for_message(&expected.message_id).await;
    assert!(got.valid, "{}: {:?}", expected.url, got.error);
    assert_eq!(got.url, expected.url);
    assert_eq!(
        (got.method.as_str(), got.status),
        (expected.method.as_str(), expected.status)
    );
    if let Some(body) = &expected.body {
        assert_eq!(got.body(), body.as_bytes(), "{}", expected.url);
    }
    for (name, value) in &expected.headers {
        assert_eq!(
            got.header(name),
            Some(value.as_str()),
            "{name} at {}",
            expected.url
        );
    }
    assert_eq!(got.header("user-agent"), Some("Upstash-QStash"));
    let leaked: Vec<&String> = got
        .headers
        .keys()
        .filter(|name| *name == "authorization" || name.starts_with("upstash-telemetry-"))
        .collect();
    assert!(leaked.is_empty(), "{} carries {leaked:?}", expected.url);
    got.verify_with(&ferry.receiver());
}

async fn check_callback(ferry: &TestFerry, sink: &JsReceiver, expected: &ExpectedCallback) {
    let source = expected.source_message_id.as_str();
    let is_it = |verdict: &Verdict| {
        verdict.url == expected.url
            && serde_json::from_slice::<Value>(&verdict.body())
                .is_ok_and(|body| body["sourceMessageId"].as_str() == Some(source))
    };
    let got = sink
        .wait_for(&format!("the callback for {source}"), is_it)
        .await;
    assert!(got.valid, "{}: {:?}", expected.url, got.error);
    got.verify_with(&ferry.receiver());
    let body: Value = serde_json::from_slice(&got.body()).unwrap();
    assert_eq!(body["dlqId"].is_string(), expected.failure, "{body}");
}

/// receiver.mjs running on a free loopback port.
struct JsReceiver {
    origin: String,
    http: reqwest::Client,
    // Kept open so the script never writes into a closed pipe.
    _stdout: Lines<BufReader<ChildStdout>>,
    _child: Child,
}

impl JsReceiver {
    /// Starts receiver.mjs verifying with `keys`. It checks each `sub` claim
    /// against `public_origin` + path + query, by default its own address.
    async fn start(keys: &KeyPair, public_origin: Option<&str>) -> JsReceiver {
        let mut command = node("receiver.mjs");
        command
            .env("QSTASH_CURRENT_SIGNING_KEY", keys.current.expose())
            .env("QSTASH_NEXT_SIGNING_KEY", keys.next.expose())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(origin) = public_origin {
            command.env("RECEIVER_PUBLIC_URL", origin);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("starting node (is Node.js 20 on PATH?): {error}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(START_LIMIT, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("receiver.mjs did not start within {START_LIMIT:?}"))
            .expect("reading receiver.mjs output")
            .unwrap_or_default();
        let port: u16 = first
            .strip_prefix("listening ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("receiver.mjs printed {first:?}, not `listening <port>`"));
        JsReceiver {
            origin: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            _stdout: lines,
            _child: child,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    async fn verdicts(&self) -> Vec<Verdict> {
        let response = self.http.get(self.url("/__results")).send().await.unwrap();
        response
            .json()
            .await
            .expect("receiver.mjs results are JSON")
    }

    /// The first verdict that `matches`, waiting for it up to [`DELIVERY_WAIT`].
    async fn wait_for(&self, what: &str, matches: impl Fn(&Verdict) -> bool) -> Verdict {
        let deadline = Instant::now() + DELIVERY_WAIT;
        loop {
            let verdicts = self.verdicts().await;
            if let Some(found) = verdicts.iter().find(|verdict| matches(verdict)) {
                return found.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not reach receiver.mjs within {DELIVERY_WAIT:?}; it got {verdicts:#?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn wait_for_message(&self, message_id: &str) -> Verdict {
        let is_it = |verdict: &Verdict| verdict.message_id.as_deref() == Some(message_id);
        self.wait_for(&format!("message {message_id}"), is_it).await
    }

    /// Posts straight to the receiver, as anyone on the network could; the
    /// status and text of its answer.
    async fn send(&self, path: &str, signature: Option<&str>, body: &[u8]) -> (u16, String) {
        let mut request = self.http.post(self.url(path)).body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("Upstash-Signature", signature);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }
}

/// `ferry dev` as a child process on a free port, with memory storage.
struct DevRelay {
    port: u16,
    _child: Child,
}

impl DevRelay {
    async fn start() -> DevRelay {
        let port = ferry_tests::redis::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_ferry-under-test"))
            .args(["dev", "--port", &port.to_string()])
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawning ferry dev");
        let relay = DevRelay {
            port,
            _child: child,
        };
        relay.wait_until_serving().await;
        relay
    }

    /// Waits until `GET /v2/keys` answers with the public development keys,
    /// the answer the SDK's dev-mode probe looks for.
    async fn wait_until_serving(&self) {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!("http://127.0.0.1:{}/v2/keys", self.port);
        let deadline = Instant::now() + START_LIMIT;
        loop {
            let answer = http
                .get(&url)
                .bearer_auth(dev_credentials::TOKEN)
                .send()
                .await;
            if let Ok(response) = answer.and_then(|response| response.error_for_status()) {
                let keys: Value = response.json().await.unwrap();
                assert_eq!(keys["current"], dev_credentials::CURRENT_SIGNING_KEY);
                assert_eq!(keys["next"], dev_credentials::NEXT_SIGNING_KEY);
                return;
            }
            assert!(
                Instant::now() < deadline,
                "ferry dev did not serve {url} within {START_LIMIT:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

/// An empty directory used as `HOME`, removed on drop, so the test can see
/// whether the SDK created its download cache there.
struct TempHome(PathBuf);

impl TempHome {
    fn new() -> TempHome {
        let dir = std::env::temp_dir().join(format!("ferry-js-home-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("creating a temporary HOME");
        TempHome(dir)
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        // A leftover directory in the temp dir harms nothing.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The SDK directory; panics with the install command if the SDK is missing.
fn sdk_dir() -> &'static Path {
    let dir = Path::new(JS_DIR);
    if !dir.join("node_modules/@upstash/qstash").is_dir() {
        panic!("{INSTALL_HINT}");
    }
    dir
}

/// `node <script>` in the SDK directory, with nothing from this process's
/// environment but `PATH`.
pub(crate) fn node(script: &str) -> Command {
    let mut command = Command::new("node");
    command
        .arg(script)
        .current_dir(sdk_dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .kill_on_drop(true);
    command
}

/// Runs `command` to its end, capturing its output; panics after `limit`
/// (the child is killed when the future is dropped).
async fn run_to_end(mut command: Command, limit: Duration) -> Output {
    command.stdin(Stdio::null());
    tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("node did not finish within {limit:?}"))
        .unwrap_or_else(|error| panic!("starting node (is Node.js 20 on PATH?): {error}"))
}

pub(crate) fn transcript(output: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The counts on suite.mjs's last line, `N passed, M failed`.
pub(crate) fn summary(stdout: &str) -> (usize, usize) {
    let line = stdout.lines().last().unwrap_or_default();
    let counts = line
        .strip_suffix(" failed")
        .and_then(|rest| rest.split_once(" passed, "))
        .and_then(|(passed, failed)| Some((passed.parse().ok()?, failed.parse().ok()?)));
    counts.unwrap_or_else(|| panic!("the last line {line:?} is not `N passed, M failed`"))
}

/// The JSON payloads of the `<tag> <json>` lines in `stdout`.
pub(crate) fn announced<T: DeserializeOwned>(stdout: &str, tag: &str) -> Vec<T> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix(tag)?.strip_prefix(' '))
        .map(|json| {
            serde_json::from_str(json).unwrap_or_else(|error| panic!("{tag} {json}: {error}"))
        })
        .collect()
}

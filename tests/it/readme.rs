//! The README's section "Use Ferry with the QStash SDKs", kept true. Every
//! snippet it shows is a real program run here against a real Ferry: the
//! JavaScript and Python files under `tests/sdk/{js,py}/readme/`, and for
//! Rust the region between the `README: rust` markers below. One more test
//! checks that the README quotes each of them verbatim, so an edit to either
//! side that breaks the match fails the build instead of rotting the docs.
//!
//! The scripts run with a cleared environment (only `PATH` and what the
//! example needs), every child dies with its handle and every wait is
//! bounded.

// README: rust begin
use bytes::Bytes;
use ferry_sdk::{Client, PublishOptions, Receiver};
use http::{Request, StatusCode};

/// Publishes a JSON message through Ferry and returns its id.
async fn publish(ferry_url: &str, token: &str, hook_url: &str) -> ferry_sdk::Result<String> {
    let client = Client::new(ferry_url, token)?;
    let options = PublishOptions {
        content_type: Some("application/json".into()),
        ..PublishOptions::default()
    };
    let published = client
        .publish(hook_url, r#"{"hello":"world"}"#, &options)
        .await?;
    Ok(published.message_id)
}

/// The endpoint at `hook_url`: accepts only requests Ferry signed. Build the
/// receiver once: `Receiver::new(current_signing_key, next_signing_key)?`.
fn handle(receiver: &Receiver, hook_url: &str, request: &Request<Bytes>) -> StatusCode {
    let signature = request.headers().get("upstash-signature");
    let signature = signature
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    match receiver.verify(signature, request.body(), Some(hook_url)) {
        Ok(_claims) => StatusCode::OK,
        Err(_) => StatusCode::UNAUTHORIZED,
    }
}
// README: rust end

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use ferry::config::dev_credentials;
use ferry_tests::ferry::{TOKEN, TestFerry};
use ferry_tests::sink::TestSink;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub(crate) const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
/// This file, which holds the Rust snippet.
const THIS_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/it/readme.rs");
const RUST_BEGIN: &str = "// README: rust begin";
const RUST_END: &str = "// README: rust end";
const JS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sdk/js");
const PY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sdk/py");
const INSTALL_HINT: &str = "run cargo xtask sdks (installs the pinned official SDKs)";
/// How long a handler may take to answer its first request.
const START_LIMIT: Duration = Duration::from_secs(15);
/// How long a publish script may run; it normally needs well under a second.
const PUBLISH_LIMIT: Duration = Duration::from_secs(30);
/// How long the delivery may take to reach the handler.
const DELIVERY_LIMIT: Duration = Duration::from_secs(10);
/// How long a killed handler gets to hand over what it wrote to stderr.
const STDERR_LIMIT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(25);

/// A README example made of two scripts run by an official SDK's runtime.
pub(crate) struct ScriptExample {
    /// The SDK directory: the scripts run from there, so they find the SDK.
    sdk_dir: &'static str,
    /// Exists once the SDK is installed.
    installed: &'static str,
    /// `node` on `PATH`, or the virtualenv's Python by absolute path.
    interpreter: &'static str,
    /// Relative to `sdk_dir`.
    publish: &'static str,
    handler: &'static str,
    /// Settings of the runtime that the example does not depend on.
    runtime_env: &'static [(&'static str, &'static str)],
    /// The README fence language of the scripts.
    pub(crate) language: &'static str,
}

pub(crate) const JS: ScriptExample = ScriptExample {
    sdk_dir: JS_DIR,
    installed: concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sdk/js/node_modules/@upstash/qstash"
    ),
    interpreter: "node",
    publish: "readme/publish.mjs",
    handler: "readme/handler.mjs",
    runtime_env: &[],
    language: "js",
};

pub(crate) const PYTHON: ScriptExample = ScriptExample {
    sdk_dir: PY_DIR,
    installed: concat!(env!("CARGO_MANIFEST_DIR"), "/sdk/py/.venv/bin/python"),
    interpreter: concat!(env!("CARGO_MANIFEST_DIR"), "/sdk/py/.venv/bin/python"),
    publish: "readme/publish.py",
    handler: "readme/handler.py",
    // Unbuffered, so the handler's `verified` line reaches the pipe at once.
    runtime_env: &[("PYTHONUNBUFFERED", "1"), ("PYTHONDONTWRITEBYTECODE", "1")],
    language: "python",
};

impl ScriptExample {
    /// Runs `script` with the SDK's runtime and nothing from this process's
    /// environment but `PATH`. Panics with the install command when the SDK
    /// is missing: these tests must never pass by not running.
    pub(crate) fn command(&self, script: &str) -> Command {
        assert!(Path::new(self.installed).exists(), "{INSTALL_HINT}");
        let mut command = Command::new(self.interpreter);
        command
            .arg(script)
            .current_dir(self.sdk_dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.runtime_env.iter().copied())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// The script's text, as the README must quote it.
    pub(crate) fn source(&self, script: &str) -> String {
        let path = Path::new(self.sdk_dir).join(script);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Starts the handler on a free port, publishes with the publish script
    /// and waits until the handler reports that it verified that message.
    async fn check_delivers_and_verifies(&self) {
        let ferry = TestFerry::start().await;
        let port = ferry_tests::redis::free_port();
        let hook_url = format!("http://127.0.0.1:{port}/api/hook");
        let mut handler = self.command(self.handler);
        handler
            .env("PORT", port.to_string())
            .env("HOOK_URL", &hook_url)
            .env("QSTASH_CURRENT_SIGNING_KEY", ferry.keys.current.expose())
            .env("QSTASH_NEXT_SIGNING_KEY", ferry.keys.next.expose());
        let mut handler = RunningHandler::start(self.handler, handler, &hook_url).await;

        let mut publish = self.command(self.publish);
        publish
            .env("QSTASH_URL", &ferry.base_url)
            .env("QSTASH_TOKEN", TOKEN)
            .env("HOOK_URL", &hook_url);
        let message_id = run_publish(self.publish, publish).await;
        handler
            .wait_for_line(&format!("verified {message_id}"))
            .await;
    }
}

/// A handler script running until dropped.
struct RunningHandler {
    script: &'static str,
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Everything the script writes to stderr, once it has exited.
    stderr: JoinHandle<String>,
}

impl RunningHandler {
    /// Spawns `command` and waits until it answers at `hook_url`. The probe
    /// carries no signature, so the handler must refuse it with 401.
    async fn start(script: &'static str, mut command: Command, hook_url: &str) -> RunningHandler {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {script}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let mut handler = RunningHandler {
            script,
            child,
            stdout: BufReader::new(stdout).lines(),
            stderr: tokio::spawn(async move {
                let mut text = String::new();
                // A read error only shortens the diagnostics.
                let _ = stderr.read_to_string(&mut text).await;
                text
            }),
        };
        let status = handler.probe(hook_url).await;
        if status != 401 {
            handler
                .fail(&format!("answered an unsigned request with {status}"))
                .await;
        }
        handler
    }

    /// The status of the first unsigned request the handler answers.
    async fn probe(&mut self, hook_url: &str) -> u16 {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(START_LIMIT)
            .build()
            .expect("http client");
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.fail(&format!("exited with {status} before serving"))
                    .await;
            }
            match http.post(hook_url).body("unsigned").send().await {
                Ok(response) => return response.status().as_u16(),
                Err(error) if Instant::now() >= deadline => {
                    self.fail(&format!("did not serve within {START_LIMIT:?}: {error}"))
                        .await;
                }
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Waits until the handler prints `expected` on a line of its own.
    async fn wait_for_line(&mut self, expected: &str) {
        let mut seen = Vec::new();
        let found = tokio::time::timeout(DELIVERY_LIMIT, async {
            while let Ok(Some(line)) = self.stdout.next_line().await {
                if line == expected {
                    return true;
                }
                seen.push(line);
            }
            false
        })
        .await;
        if !matches!(found, Ok(true)) {
            let problem = format!(
                "did not print {expected:?} within {DELIVERY_LIMIT:?}; it printed {seen:?}"
            );
            self.fail(&problem).await;
        }
    }

    /// Kills the handler and panics with `problem` and its stderr.
    async fn fail(&mut self, problem: &str) -> ! {
        // Already exited, if killing fails; its stderr is complete either way.
        let _ = self.child.start_kill();
        let stderr = tokio::time::timeout(STDERR_LIMIT, &mut self.stderr).await;
        let stderr = match stderr {
            Ok(Ok(text)) => text,
            _ => String::from("(unavailable)"),
        };
        panic!("{} {problem}\n--- stderr\n{stderr}", self.script);
    }
}

/// Runs a publish script to its end and returns the message id it printed.
async fn run_publish(script: &str, mut command: Command) -> String {
    let output = tokio::time::timeout(PUBLISH_LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {PUBLISH_LIMIT:?}"))
        .unwrap_or_else(|e| panic!("starting {script}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let message_id = stdout.trim();
    assert!(
        output.status.success() && message_id.starts_with("msg_") && !message_id.contains('\n'),
        "{script} should print only a message id:\n{}",
        transcript(&output)
    );
    message_id.to_owned()
}

fn transcript(output: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// One fenced code block of the README.
#[derive(Debug)]
pub(crate) struct Fence {
    /// The word after the opening backticks, e.g. `js`.
    language: String,
    /// The lines between the fences, each ending in a newline.
    text: String,
}

/// The fenced code blocks of a Markdown document, in order.
pub(crate) fn fences(markdown: &str) -> Vec<Fence> {
    let mut fences = Vec::new();
    let mut open: Option<Fence> = None;
    for line in markdown.lines() {
        match (open.as_mut(), line.strip_prefix("```")) {
            (None, Some(language)) => {
                open = Some(Fence {
                    language: language.trim().to_owned(),
                    text: String::new(),
                });
            }
            (Some(_), Some("")) => fences.extend(open.take()),
            (Some(fence), _) => {
                fence.text.push_str(line);
                fence.text.push('\n');
            }
            (None, None) => {}
        }
    }
    fences
}

/// The lines strictly between the two marker lines of `source`.
fn marked_region(source: &str, begin: &str, end: &str) -> String {
    let region: Vec<&str> = source
        .lines()
        .skip_while(|line| *line != begin)
        .skip(1)
        .take_while(|line| *line != end)
        .collect();
    assert!(!region.is_empty(), "no lines between {begin:?} and {end:?}");
    region.iter().map(|line| format!("{line}\n")).collect()
}

/// Panics unless one of `fences` is a `language` block holding exactly
/// `snippet`.
pub(crate) fn check_quoted(fences: &[Fence], name: &str, language: &str, snippet: &str) {
    let quoted = fences
        .iter()
        .any(|fence| fence.language == language && fence.text.trim_end() == snippet.trim_end());
    assert!(
        quoted,
        "README.md has no ```{language} block quoting {name} verbatim; it must read:\n{snippet}"
    );
}

#[test]
fn readme_quotes_the_tested_snippets() {
    let readme = std::fs::read_to_string(README).expect("README.md is readable");
    let fences = fences(&readme);
    for example in [&JS, &PYTHON] {
        for script in [example.publish, example.handler] {
            check_quoted(&fences, script, example.language, &example.source(script));
        }
    }
    let this_file = std::fs::read_to_string(THIS_FILE).expect("tests/it/readme.rs is readable");
    let rust = marked_region(&this_file, RUST_BEGIN, RUST_END);
    check_quoted(&fences, "the Rust example", "rust", &rust);
}

#[test]
fn readme_shows_the_credentials_of_ferry_dev() {
    let readme = std::fs::read_to_string(README).expect("README.md is readable");
    let settings = format!(
        "export QSTASH_URL=http://127.0.0.1:8080\n\
         export QSTASH_TOKEN={}\n\
         export QSTASH_CURRENT_SIGNING_KEY={}\n\
         export QSTASH_NEXT_SIGNING_KEY={}\n",
        dev_credentials::TOKEN,
        dev_credentials::CURRENT_SIGNING_KEY,
        dev_credentials::NEXT_SIGNING_KEY,
    );
    let shown = fences(&readme)
        .iter()
        .any(|fence| fence.language == "sh" && fence.text.contains(&settings));
    assert!(shown, "README.md has no ```sh block with\n{settings}");
}

#[test]
fn fences_and_marked_regions_are_found() {
    let markdown = "intro\n```sh\nexport A=1\n```\ntext\n```js\nlet a;\n\nlet b;\n```\n";
    let fences = fences(markdown);
    let found: Vec<(&str, &str)> = fences
        .iter()
        .map(|fence| (fence.language.as_str(), fence.text.as_str()))
        .collect();
    assert_eq!(
        found,
        [("sh", "export A=1\n"), ("js", "let a;\n\nlet b;\n")]
    );
    assert_eq!(
        marked_region("a\n// b\nc\nd\n// e\nf\n", "// b", "// e"),
        "c\nd\n"
    );
}

#[tokio::test]
async fn the_readme_js_example_delivers_and_verifies() {
    JS.check_delivers_and_verifies().await;
}

#[tokio::test]
async fn the_readme_python_example_delivers_and_verifies() {
    PYTHON.check_delivers_and_verifies().await;
}

/// A request to the handler as Ferry would send it, with `signature` as its
/// `Upstash-Signature` header.
fn signed_request(signature: Option<&str>, body: &[u8]) -> Request<Bytes> {
    let mut request = Request::post("/api/hook");
    if let Some(signature) = signature {
        request = request.header("Upstash-Signature", signature);
    }
    request
        .body(Bytes::copy_from_slice(body))
        .expect("a valid request")
}

#[tokio::test]
async fn the_readme_rust_example_delivers_and_verifies() {
    let ferry = TestFerry::start().await;
    let mut sink = TestSink::start().await;
    let hook_url = sink.url("/api/hook");
    let message_id = publish(&ferry.base_url, TOKEN, &hook_url)
        .await
        .expect("the README's publish works");
    let delivery = sink.next_request().await;
    assert_eq!(delivery.message_id(), message_id);
    assert_eq!(delivery.body.as_ref(), br#"{"hello":"world"}"#);
    assert_eq!(delivery.header("content-type"), Some("application/json"));

    let receiver = ferry.receiver();
    let signature = Some(delivery.signature());
    let other_url = sink.url("/api/other");
    let cases = [
        (
            "as delivered",
            signature,
            &delivery.body[..],
            &hook_url,
            StatusCode::OK,
        ),
        (
            "body changed",
            signature,
            &br#"{"hello":"mallory"}"#[..],
            &hook_url,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "no signature",
            None,
            &delivery.body[..],
            &hook_url,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "another endpoint",
            signature,
            &delivery.body[..],
            &other_url,
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (what, signature, body, url, expected) in cases {
        let status = handle(&receiver, url, &signed_request(signature, body));
        assert_eq!(status, expected, "{what}");
    }
}

//! Upstash Workflow apps built on the official `@upstash/workflow` (pinned
//! in `tests/sdk/js/package.json`) run against a real Ferry on real Redis:
//! `workflow-app.mjs` serves the workflows on loopback with signature
//! verification on, and triggers runs with the SDK's own `Client`. Each
//! step body counts its executions, so the checks are exact: a step that
//! ran twice, or never, fails them.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use ferry_core::ids::TenantId;
use ferry_store::{RunState, Store, WorkflowRun};
use ferry_tests::ferry::{TENANT, TOKEN, TestFerry, TestOptions, WEBHOOK_TOKEN};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::Instant;

use crate::deliverers::{Deliverer, write_config};
use crate::sdk_js::node;

/// How long the app may take to accept requests.
const START_LIMIT: Duration = Duration::from_secs(10);
/// How long a run may take: the main workflow sleeps twice for a second.
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(30);
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// A workflow app (`workflow-app.mjs`, `workflow_app.py`), running until
/// dropped.
pub(crate) struct WorkflowApp {
    pub(crate) origin: String,
    pub(crate) http: reqwest::Client,
    _stdout: Lines<BufReader<ChildStdout>>,
    _child: Child,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AppState {
    pub(crate) counts: BTreeMap<String, u32>,
    pub(crate) seen: BTreeMap<String, Value>,
}

impl WorkflowApp {
    pub(crate) async fn start(ferry: &TestFerry) -> Self {
        Self::spawn(node("workflow-app.mjs"), ferry).await
    }

    /// Runs `command` with the SDK's environment pointing at `ferry`, and
    /// waits for it to print `listening <port>`.
    pub(crate) async fn spawn(mut command: Command, ferry: &TestFerry) -> Self {
        command
            .env("QSTASH_URL", &ferry.base_url)
            .env("QSTASH_TOKEN", TOKEN)
            .env("WEBHOOK_TOKEN", WEBHOOK_TOKEN)
            .env("QSTASH_CURRENT_SIGNING_KEY", ferry.keys.current.expose())
            .env("QSTASH_NEXT_SIGNING_KEY", ferry.keys.next.expose())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("starting node (is Node.js 20 on PATH?): {error}"));
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let first = tokio::time::timeout(START_LIMIT, lines.next_line())
            .await
            .expect("the workflow app starts")
            .expect("reading its output")
            .unwrap_or_default();
        let port: u16 = first
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the workflow app printed {first:?}"));
        WorkflowApp {
            origin: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            _stdout: lines,
            _child: child,
        }
    }

    /// Triggers a run with the official `Client`; returns its id.
    pub(crate) async fn trigger(&self, trigger: Value) -> String {
        let response = self
            .http
            .post(format!("{}/__trigger", self.origin))
            .json(&trigger)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "trigger {trigger}: {body}");
        body["workflowRunId"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn state(&self) -> AppState {
        let url = format!("{}/__state", self.origin);
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub(crate) async fn count(&self, step: &str) -> u32 {
        self.state().await.counts.get(step).copied().unwrap_or(0)
    }
}

pub(crate) fn tenant() -> TenantId {
    TenantId::new(TENANT).unwrap()
}

/// The run once it reached `state`, waiting up to [`RUN_LIMIT`].
pub(crate) async fn run_in_state(ferry: &TestFerry, run_id: &str, state: RunState) -> WorkflowRun {
    let deadline = Instant::now() + RUN_LIMIT;
    loop {
        // Reads fail for a moment while a test restarts Redis.
        let run = ferry
            .store
            .workflow_run(&tenant(), run_id)
            .await
            .ok()
            .flatten();
        if let Some(run) = run.filter(|r| r.state == state) {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "run {run_id} did not reach {state:?} within {RUN_LIMIT:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn a_js_workflow_runs_every_step_once() {
    let ferry = TestFerry::start().await;
    let app = WorkflowApp::start(&ferry).await;
    let run_id = app
        .trigger(json!({
            "workflow": "main",
            "body": {"n": 1},
            "headers": {"x-user": "alice"},
            "label": "lab",
            "retries": 2,
        }))
        .await;
    let run = run_in_state(&ferry, &run_id, RunState::Success).await;
    assert_eq!(run.response.as_deref(), Some(&br#"{"done":true}"#[..]));

    let state = app.state().await;
    let expected: BTreeMap<String, u32> = [
        ("main/step-1", 1),
        ("main/par-1", 1),
        ("main/par-2", 1),
        ("main/final", 1),
        ("echo", 1),
        // The call's retries: 1, so two attempts; the callback comes once.
        ("unauthorized", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(state.counts, expected, "{:#?}", state.seen);
    assert_eq!(state.seen["firstUser"], "alice");
    let main = &state.seen["main"];
    assert_eq!(main["first"], json!({"n": 2}));
    assert_eq!((&main["p1"], &main["p2"]), (&json!("P1"), &json!({"v": 2})));
    assert_eq!(main["callStatus"], 201);
    assert_eq!(
        main["callBody"],
        json!({"echoed": {"hello": "world"}, "h": "v"})
    );
    assert_eq!(main["callReply"], "r1");
    assert_eq!(
        main["refusedStatus"], 401,
        "a failed call does not fail the run"
    );
    assert_eq!(main["refusedBody"], json!({"error": "attempt 2"}));
    assert_eq!(
        main["user"], "alice",
        "the trigger's headers reach the last step"
    );
    assert_eq!(main["label"], "lab");
    assert_eq!(main["createdAt"], "number");

    // The run has ended: its end is idempotent, and a step is refused
    // with 400, the one status the SDK reads as "run ended".
    let http = ferry.http();
    let end = || {
        http.delete(ferry.url(&format!("/v2/workflows/runs/{run_id}?cancel=false")))
            .bearer_auth(TOKEN)
            .send()
    };
    assert_eq!(end().await.unwrap().status(), 200);
    assert_eq!(end().await.unwrap().status(), 200);
    let step = |retries: &str| {
        http.post(ferry.url("/v2/batch"))
            .bearer_auth(TOKEN)
            .json(&json!([{
                "destination": format!("{}/wf/main", app.origin),
                "headers": {
                    "upstash-workflow-runid": run_id,
                    "upstash-workflow-init": "false",
                    "upstash-retries": retries,
                },
                "body": "{}",
            }]))
            .send()
    };
    let late = step("1").await.unwrap();
    assert_eq!(late.status(), 400, "{}", late.text().await.unwrap());
    let steps = http
        .get(ferry.url(&format!("/v2/workflows/runs/{run_id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(steps.status(), 200);
    let steps: Vec<Value> = steps.json().await.unwrap();
    assert_eq!(steps.len(), run.steps.len());
    assert_eq!(steps[0]["body"], "eyJuIjoxfQ==", "entry 0 is the payload");
}

#[tokio::test]
async fn a_failing_js_workflow_calls_its_failure_function_once() {
    let ferry = TestFerry::start().await;
    let app = WorkflowApp::start(&ferry).await;
    let run_id = app
        .trigger(json!({
            "workflow": "failing",
            "body": {"order": 7},
            "headers": {"x-user": "bob"},
            "retries": 0,
        }))
        .await;
    run_in_state(&ferry, &run_id, RunState::Failed).await;
    let deadline = Instant::now() + RUN_LIMIT;
    while app.count("failing/failure").await == 0 {
        assert!(Instant::now() < deadline, "the failure function never ran");
        tokio::time::sleep(POLL).await;
    }
    let state = app.state().await;
    assert_eq!(state.counts["failing/f-1"], 1);
    assert_eq!(
        state.counts["failing/f-2"], 1,
        "retries: 0 applies to every step"
    );
    assert_eq!(state.counts["failing/failure"], 1);
    let failure = &state.seen["failure"];
    assert_eq!(failure["failStatus"], 500);
    assert_eq!(failure["failResponse"], "step exploded");
    assert_eq!(failure["payload"], json!({"order": 7}));
    assert_eq!(failure["user"], "bob");
}

#[tokio::test]
async fn a_js_run_id_starts_one_run_and_limits_get_412() {
    let ferry = TestFerry::start().await;
    let app = WorkflowApp::start(&ferry).await;
    let trigger =
        |n: u32| json!({"workflow": "once", "body": {"n": n}, "workflowRunId": "dedup-me"});
    let run_id = app.trigger(trigger(1)).await;
    assert_eq!(run_id, "wfr_dedup-me");
    assert_eq!(app.trigger(trigger(2)).await, run_id);
    run_in_state(&ferry, &run_id, RunState::Success).await;
    let state = app.state().await;
    assert_eq!(state.counts["once/once"], 1);
    assert_eq!(
        state.seen["once"],
        json!({"n": 1}),
        "the first trigger's payload"
    );

    // A limit on a run's message is 412, never 400.
    let http = ferry.http();
    let refused = http
        .post(ferry.url("/v2/batch"))
        .bearer_auth(TOKEN)
        .json(&json!([{
            "destination": format!("{}/wf/once", app.origin),
            "headers": {
                "upstash-workflow-runid": "wfr_other",
                "upstash-workflow-init": "true",
                "upstash-retries": "1000000",
            },
            "body": "{}",
        }]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 412, "{}", refused.text().await.unwrap());
}

/// A deliverer killed in the middle of a run and Redis restarted (AOF)
/// while the run sleeps: the run finishes with every step executed once.
/// The faults strike between steps (once the sleep step is stored); a fault
/// while a step's attempt is in flight would repeat that attempt (at least
/// once): the app would run that step's body again if it had not yet
/// published its result.
#[tokio::test]
async fn a_js_run_survives_a_killed_deliverer_and_a_redis_restart() {
    let mut ferry = TestFerry::start_with(TestOptions {
        run_deliverer: false,
        aof: true,
        ..TestOptions::default()
    })
    .await;
    let config = write_config(&ferry);
    let mut deliverer = Deliverer::spawn(&config);
    let app = WorkflowApp::start(&ferry).await;
    let run_id = app
        .trigger(json!({"workflow": "main", "body": {"n": 1}, "headers": {"x-user": "carol"}}))
        .await;
    // Init, the result of step-1, then the sleep: the run now waits.
    let deadline = Instant::now() + RUN_LIMIT;
    loop {
        let run = ferry.store.workflow_run(&tenant(), &run_id).await.unwrap();
        if run.is_some_and(|r| r.steps.len() >= 3) {
            break;
        }
        assert!(Instant::now() < deadline, "the run never reached its sleep");
        tokio::time::sleep(POLL).await;
    }
    deliverer.kill().await;
    ferry.redis.standalone_mut().restart().await;
    let _deliverer = Deliverer::spawn(&config);

    run_in_state(&ferry, &run_id, RunState::Success).await;
    let state = app.state().await;
    for (step, n) in [
        ("main/step-1", 1),
        ("main/par-1", 1),
        ("main/par-2", 1),
        ("main/final", 1),
        ("echo", 1),
        ("unauthorized", 2),
    ] {
        assert_eq!(
            state.counts.get(step),
            Some(&n),
            "{step}: {:#?}",
            state.counts
        );
    }
    assert_eq!(state.seen["main"]["user"], "carol");
}

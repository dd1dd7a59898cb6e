//! Upstash Workflow apps built on the official Python `upstash-workflow`
//! (pinned in `tests/sdk/py/requirements.txt`) run against a real Ferry on
//! real Redis: `workflow_app.py` serves the workflows on loopback with
//! signature verification on. The Python SDK has no trigger client: a run
//! starts with a signed publish to the endpoint, and the SDK starts the run
//! itself, forwarding every header of that request (which Ferry drops where
//! they cannot be forwarded). Each step body counts its executions.

use ferry_sdk::{PublishOptions, WorkflowCancel, WorkflowRunQuery};
use ferry_store::RunState;
use ferry_tests::ferry::TestFerry;
use serde_json::json;
use tokio::time::Instant;

use crate::sdk_py::python_script;
use crate::workflow_js::{POLL, RUN_LIMIT, WorkflowApp, run_in_state};

/// Publishes `body` to the app's workflow `name` with an `X-User` header.
async fn start(ferry: &TestFerry, app: &WorkflowApp, name: &str, body: &str, user: &str) {
    let opts = PublishOptions {
        content_type: Some("application/json".into()),
        forward_headers: vec![("X-User".into(), user.into())],
        ..PublishOptions::default()
    };
    let url = format!("{}/py/{name}", app.origin);
    ferry
        .sdk()
        .publish(&url, body.to_owned(), &opts)
        .await
        .unwrap();
}

/// Waits until the app counted `step` at least once.
async fn ran(app: &WorkflowApp, step: &str) {
    let deadline = Instant::now() + RUN_LIMIT;
    while app.count(step).await == 0 {
        assert!(
            Instant::now() < deadline,
            "{step} never ran: {:#?}",
            app.state().await.seen
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn a_python_workflow_runs_every_step_once() {
    let ferry = TestFerry::start().await;
    let app = WorkflowApp::spawn(python_script("workflow_app.py"), &ferry).await;
    start(&ferry, &app, "main", r#"{"n":1}"#, "alice").await;
    ran(&app, "main/final").await;
    let state = app.state().await;
    let counts: Vec<(&str, u32)> = state.counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(counts, [("echo", 1), ("main/final", 1), ("main/step-1", 1)]);
    assert_eq!(state.seen["firstUser"], "alice");
    let main = &state.seen["main"];
    assert_eq!(main["first"], json!({"n": 2}));
    assert_eq!(main["callStatus"], 201);
    assert_eq!(
        main["callBody"],
        json!({"echoed": {"hello": "world"}, "h": "v"})
    );
    assert_eq!(main["user"], "alice");
}

#[tokio::test]
async fn a_failing_python_workflow_calls_its_failure_function_once() {
    let ferry = TestFerry::start().await;
    let app = WorkflowApp::spawn(python_script("workflow_app.py"), &ferry).await;
    start(&ferry, &app, "failing", r#"{"order":7}"#, "bob").await;
    ran(&app, "failing/failure").await;
    let state = app.state().await;
    assert_eq!(state.counts["failing/f-1"], 1);
    assert_eq!(state.counts["failing/f-2"], 1, "retries=0 on serve");
    assert_eq!(state.counts["failing/failure"], 1);
    let failure = &state.seen["failure"];
    assert_eq!(failure["failStatus"], 500);
    assert_eq!(failure["failResponse"], "py exploded");
    assert_eq!(failure["payload"], json!({"order": 7}));
    assert_eq!(failure["user"], "bob");
}

/// The Python SDK has no client for listing or cancelling runs; its runs
/// are listed and cancelled through Ferry's API like any other.
#[tokio::test]
async fn a_python_run_is_listed_and_cancelled_through_the_api() {
    let ferry = TestFerry::start().await;
    let app = WorkflowApp::spawn(python_script("workflow_app.py"), &ferry).await;
    start(&ferry, &app, "sleeper", "{}", "dora").await;
    ran(&app, "sleeper/start").await;
    let sdk = ferry.sdk();
    let url = format!("{}/py/sleeper", app.origin);
    let listed = sdk
        .workflow_runs(&WorkflowRunQuery::default())
        .await
        .unwrap();
    assert_eq!(listed.runs.len(), 1, "{listed:#?}");
    let run = &listed.runs[0];
    assert_eq!(
        (run.workflow_url.as_str(), run.workflow_state.as_str()),
        (url.as_str(), "RUN_STARTED")
    );
    let cancelled = sdk
        .cancel_workflow_runs(&WorkflowCancel::UrlPrefix(format!("{}/py/", app.origin)))
        .await
        .unwrap();
    assert_eq!(cancelled.cancelled, 1);
    run_in_state(&ferry, &run.workflow_run_id, RunState::Canceled).await;
    assert_eq!(app.count("sleeper/woke").await, 0);
}

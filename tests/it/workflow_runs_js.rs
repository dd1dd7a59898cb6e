//! Runs that start, stop and list other runs, driven by the official
//! `@upstash/workflow` app (`workflow-app.mjs`): `context.invoke`,
//! `context.cancel`, `client.cancel` and `client.logs`. Step bodies count
//! their executions, so every check is exact.

use std::collections::BTreeMap;

use ferry_store::RunState;
use ferry_tests::ferry::TestFerry;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::workflow_js::{POLL, RUN_LIMIT, WorkflowApp, run_in_state};

/// Waits until the app counted `step` at least once.
async fn ran(app: &WorkflowApp, step: &str) {
    let deadline = Instant::now() + RUN_LIMIT;
    while app.count(step).await == 0 {
        assert!(Instant::now() < deadline, "{step} never ran");
        tokio::time::sleep(POLL).await;
    }
}

fn counts(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test]
async fn a_js_run_invokes_children_and_gets_their_outcomes() {
    let ferry = TestFerry::start().await;
    let app = WorkflowApp::start(&ferry).await;
    let run_id = app
        .trigger(json!({"workflow": "invoker", "body": {"start": true}}))
        .await;
    let run = run_in_state(&ferry, &run_id, RunState::Success).await;
    assert_eq!(run.response.as_deref(), Some(&br#""parent done""#[..]));
    ran(&app, "child-failing/failure").await;

    let state = app.state().await;
    assert_eq!(
        state.counts,
        counts(&[
            ("child-ok/step", 1),
            ("child-failing/step", 1),
            ("child-failing/failure", 1),
            ("invoker/after", 1),
        ]),
        "{:#?}",
        state.seen
    );
    let invoke = &state.seen["invoke"];
    assert_eq!(
        invoke["ok"],
        json!({
            "body": {"childResult": {"input": "child-input", "from": "parent"}},
            "isFailed": false,
            "isCanceled": false,
        })
    );
    assert_eq!(
        invoke["failed"],
        json!({"isFailed": true, "isCanceled": false}),
        "a failed child has no body"
    );
    assert_eq!(
        state.seen["childFailure"],
        json!({"failStatus": 500, "payload": {"n": 9}})
    );
}

#[tokio::test]
async fn a_js_run_cancels_itself() {
    let ferry = TestFerry::start().await;
    let app = WorkflowApp::start(&ferry).await;
    let run_id = app.trigger(json!({"workflow": "self-cancel"})).await;
    let run = run_in_state(&ferry, &run_id, RunState::Canceled).await;
    assert!(run.completed_at.is_some());
    let state = app.state().await;
    assert_eq!(state.counts, counts(&[("self-cancel/before", 1)]));
}

impl WorkflowApp {
    /// `client.cancel(argument)`'s answer.
    async fn cancel(&self, argument: Value) -> Value {
        self.call("/__cancel", argument).await
    }

    /// `client.logs(argument)`'s answer.
    async fn logs(&self, argument: Value) -> Value {
        self.call("/__logs", argument).await
    }

    async fn call(&self, path: &str, argument: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.origin))
            .json(&argument)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{path} {argument}: {body}");
        body
    }
}

#[tokio::test]
async fn js_client_cancel_stops_runs_by_id_and_by_url_prefix() {
    let ferry = TestFerry::start().await;
    let app = WorkflowApp::start(&ferry).await;
    let mut runs = Vec::new();
    for id in ["sleep-a", "sleep-b", "sleep-c"] {
        runs.push(
            app.trigger(json!({"workflow": "sleeper", "workflowRunId": id}))
                .await,
        );
    }
    let other = app
        .trigger(json!({"workflow": "once", "body": {"n": 1}}))
        .await;
    let deadline = Instant::now() + RUN_LIMIT;
    while app.count("sleeper/start").await < 3 {
        assert!(Instant::now() < deadline, "the sleepers never started");
        tokio::time::sleep(POLL).await;
    }

    let by_id = app
        .cancel(json!({"ids": [runs[0], runs[1], "wfr_none"]}))
        .await;
    assert_eq!(by_id, json!({"cancelled": 2}));
    assert_eq!(
        app.cancel(json!({"ids": runs[0]})).await,
        json!({"cancelled": 0}),
        "a cancelled run is not cancelled again"
    );
    let prefix = format!("{}/wf/sleep", app.origin);
    assert_eq!(
        app.cancel(json!({"urlStartingWith": prefix})).await,
        json!({"cancelled": 1})
    );
    for run in &runs {
        run_in_state(&ferry, run, RunState::Canceled).await;
    }
    run_in_state(&ferry, &other, RunState::Success).await;
    assert_eq!(
        app.cancel(json!({"all": true})).await,
        json!({"cancelled": 0}),
        "nothing is left running"
    );
    let state = app.state().await;
    assert_eq!(
        state.counts,
        counts(&[("sleeper/start", 3), ("once/once", 1)]),
        "no sleeper woke up"
    );
}

#[tokio::test]
async fn js_client_logs_pages_runs_newest_first_with_their_steps() {
    let ferry = TestFerry::start().await;
    let app = WorkflowApp::start(&ferry).await;
    let cancelled = app.trigger(json!({"workflow": "self-cancel"})).await;
    run_in_state(&ferry, &cancelled, RunState::Canceled).await;
    let child = app
        .trigger(json!({"workflow": "child-ok", "body": "hi", "headers": {"x-from": "logs"}}))
        .await;
    run_in_state(&ferry, &child, RunState::Success).await;

    let all = app.logs(json!({})).await;
    let ids: Vec<&str> = all["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["workflowRunId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [child.as_str(), cancelled.as_str()]);
    assert!(all.get("cursor").is_none(), "{all}");

    let newest = &all["runs"][0];
    assert_eq!(newest["workflowState"], "RUN_SUCCESS");
    assert_eq!(newest["workflowUrl"], format!("{}/wf/child-ok", app.origin));
    assert_eq!(
        newest["workflowRunResponse"],
        r#"{"childResult":{"input":"hi","from":"logs"}}"#
    );
    let steps = newest["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{steps:#?}");
    assert_eq!(steps[0]["type"], "sequential");
    assert_eq!(steps[0]["steps"][0]["stepType"], "Initial");
    assert_eq!(steps[0]["steps"][0]["out"], "hi");
    assert_eq!(steps[1]["steps"][0]["stepName"], "child-step");
    assert_eq!(steps[1]["steps"][0]["state"], "STEP_SUCCESS");
    assert_eq!(
        steps[1]["steps"][0]["out"],
        r#"{"input":"hi","from":"logs"}"#
    );

    let first = app.logs(json!({"count": 1})).await;
    assert_eq!(first["runs"][0]["workflowRunId"], child.as_str());
    let cursor = first["cursor"].as_str().expect("a cursor to the next page");
    let second = app.logs(json!({"count": 1, "cursor": cursor})).await;
    assert_eq!(second["runs"][0]["workflowRunId"], cancelled.as_str());
    assert!(second.get("cursor").is_none(), "{second}");

    let by_state = app.logs(json!({"filter": {"state": "RUN_CANCELED"}})).await;
    assert_eq!(by_state["runs"].as_array().unwrap().len(), 1);
    assert_eq!(by_state["runs"][0]["workflowRunId"], cancelled.as_str());
    let by_id = app.logs(json!({"workflowRunId": child})).await;
    assert_eq!(by_id["runs"].as_array().unwrap().len(), 1);
    assert_eq!(by_id["runs"][0]["workflowState"], "RUN_SUCCESS");
}

//! `waitForEvent`, `notify`, `getWaiters` and webhooks of the official
//! `@upstash/workflow` (pinned in `tests/sdk/js/package.json`) against a
//! real Ferry on real Redis, driven through `workflow-app.mjs`. Each step
//! body counts its executions, so a wait answered twice, or never, fails.

use serde_json::{Value, json};
use tokio::time::Instant;

use ferry_store::RunState;
use ferry_tests::ferry::{OTHER_TENANT, TENANT, TestFerry, TestOptions};

use crate::sdk_js::node;
use crate::workflow_js::{POLL, RUN_LIMIT, WorkflowApp, run_in_state};

async fn app(ferry: &TestFerry) -> WorkflowApp {
    WorkflowApp::spawn(node("workflow-app.mjs"), ferry).await
}

/// Calls one of the app's driver routes, which use the official `Client`.
async fn drive(app: &WorkflowApp, path: &str, body: Option<Value>) -> Value {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("{}{path}", app.origin);
    let request = match body {
        Some(body) => http.post(url).json(&body),
        None => http.get(url),
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{path}: {body}");
    body
}

async fn waiters(app: &WorkflowApp, event: &str) -> Vec<Value> {
    let listed = drive(app, &format!("/__waiters?eventId={event}"), None).await;
    listed.as_array().cloned().unwrap_or_default()
}

/// The waiters of `event` once there is one, waiting up to [`RUN_LIMIT`].
async fn first_waiter(app: &WorkflowApp, event: &str) -> Vec<Value> {
    let deadline = Instant::now() + RUN_LIMIT;
    loop {
        let listed = waiters(app, event).await;
        if !listed.is_empty() {
            return listed;
        }
        assert!(Instant::now() < deadline, "nobody waited for {event}");
        tokio::time::sleep(POLL).await;
    }
}

/// Checks each step of the `waiter` workflow for `key` ran exactly once.
async fn ran_once(app: &WorkflowApp, key: &str) -> Value {
    let state = app.state().await;
    for step in ["before", "after"] {
        assert_eq!(
            state.counts.get(&format!("waiter/{key}/{step}")),
            Some(&1),
            "{step}: {:#?}",
            state.counts
        );
    }
    state.seen[&format!("waiter/{key}")].clone()
}

#[tokio::test]
async fn a_js_wait_is_listed_then_answered_once_by_notify() {
    let ferry = TestFerry::start().await;
    let app = app(&ferry).await;
    let run_id = app
        .trigger(json!({"workflow": "waiter", "body": {"key": "n1", "timeout": "30s"}}))
        .await;
    let listed = first_waiter(&app, "event-n1").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(
        listed[0]["url"].as_str().unwrap().ends_with("/wf/waiter"),
        "{listed:?}"
    );
    let now_s = ferry_core::clock::unix_ms(std::time::SystemTime::now()) / 1000;
    let deadline = listed[0]["deadline"].as_u64().unwrap();
    assert!((now_s + 20..=now_s + 31).contains(&deadline), "{deadline}");

    let notified = drive(
        &app,
        "/__notify",
        Some(json!({"eventId": "event-n1", "eventData": {"paid": 42}})),
    )
    .await;
    let notified = notified.as_array().unwrap();
    assert_eq!(notified.len(), 1, "{notified:?}");
    assert!(
        notified[0]["messageId"]
            .as_str()
            .unwrap()
            .starts_with("msg_")
    );
    assert_eq!(notified[0]["waiter"]["url"], listed[0]["url"]);

    run_in_state(&ferry, &run_id, RunState::Success).await;
    assert_eq!(
        ran_once(&app, "n1").await,
        json!({"timeout": false, "eventData": {"paid": 42}})
    );
    assert!(waiters(&app, "event-n1").await.is_empty());
    let again = drive(
        &app,
        "/__notify",
        Some(json!({"eventId": "event-n1", "eventData": 1})),
    )
    .await;
    assert_eq!(again, json!([]), "nobody waits any more");
}

#[tokio::test]
async fn a_js_wait_nobody_answers_times_out_once() {
    let ferry = TestFerry::start().await;
    let app = app(&ferry).await;
    let run_id = app
        .trigger(json!({"workflow": "waiter", "body": {"key": "t1", "timeout": 1}}))
        .await;
    run_in_state(&ferry, &run_id, RunState::Success).await;
    assert_eq!(ran_once(&app, "t1").await, json!({"timeout": true}));
    assert!(waiters(&app, "event-t1").await.is_empty());
}

#[tokio::test]
async fn a_js_notify_before_the_wait_is_kept_for_its_run() {
    let ferry = TestFerry::start().await;
    let app = app(&ferry).await;
    let run_id = app
        .trigger(json!({"workflow": "waiter", "body": {"key": "l1", "timeout": "30s", "hold": 2}}))
        .await;
    // The run sleeps before it waits; the event comes first.
    let kept = drive(
        &app,
        "/__notify",
        Some(json!({"eventId": "event-l1", "eventData": {"early": true}, "workflowRunId": run_id})),
    )
    .await;
    assert_eq!(kept, json!([]), "nobody waited yet");
    run_in_state(&ferry, &run_id, RunState::Success).await;
    assert_eq!(
        ran_once(&app, "l1").await,
        json!({"timeout": false, "eventData": {"early": true}})
    );
}

#[tokio::test]
async fn a_js_webhook_call_resumes_its_run() {
    let ferry = TestFerry::start().await;
    let app = app(&ferry).await;
    let run_id = app.trigger(json!({"workflow": "hook", "body": {}})).await;
    run_in_state(&ferry, &run_id, RunState::Success).await;
    let state = app.state().await;
    assert_eq!(
        state.counts.get("hook/call"),
        Some(&1),
        "{:#?}",
        state.counts
    );
    assert_eq!(
        state.counts.get("hook/after"),
        Some(&1),
        "{:#?}",
        state.counts
    );
    assert_eq!(
        state.seen["hook"],
        json!({"timeout": false, "sameUrl": true, "method": "PUT", "header": "h1", "body": {"paid": 7}})
    );
}

/// A wait registered, then Redis restarted (AOF): its timeout still
/// answers it, once.
#[tokio::test]
async fn a_js_wait_times_out_after_a_redis_restart() {
    let mut ferry = TestFerry::start_with(TestOptions {
        aof: true,
        ..TestOptions::default()
    })
    .await;
    let app = app(&ferry).await;
    let run_id = app
        .trigger(json!({"workflow": "waiter", "body": {"key": "r1", "timeout": 3}}))
        .await;
    first_waiter(&app, "event-r1").await;
    ferry.redis.standalone_mut().restart().await;
    run_in_state(&ferry, &run_id, RunState::Success).await;
    assert_eq!(ran_once(&app, "r1").await, json!({"timeout": true}));
}

/// Webhook calls carry no token: they reach only a webhook-shaped event of
/// an active run of the tenant the URL names, with a bounded body.
#[tokio::test]
async fn webhook_calls_reach_only_their_own_run_and_are_bounded() {
    let ferry = TestFerry::start().await;
    let app = app(&ferry).await;
    let run_id = app
        .trigger(json!({"workflow": "waiter", "body": {"key": "s1", "timeout": "30s"}}))
        .await;
    first_waiter(&app, "event-s1").await;
    let http = ferry.http();
    let call = |user: &str, event: &str, body: Vec<u8>| {
        http.post(ferry.url(&format!("/v2/workflows/hooks/{user}/{run_id}/{event}")))
            .body(body)
            .send()
    };
    let hook = "evt_abcdefghij12345";
    for (user, event, why) in [
        (OTHER_TENANT, hook, "another tenant's user id"),
        ("nobody", hook, "an unknown user id"),
        (
            TENANT,
            "event-s1",
            "an event id createWebhook does not make",
        ),
    ] {
        let response = call(user, event, b"{}".to_vec()).await.unwrap();
        assert_eq!(response.status(), 404, "{why}");
    }
    let too_large = call(TENANT, hook, vec![b'x'; 10 * 1024 * 1024 + 1])
        .await
        .unwrap();
    assert_eq!(too_large.status(), 413);
    assert_eq!(
        waiters(&app, "event-s1").await.len(),
        1,
        "nothing reached the wait"
    );
    let accepted = call(TENANT, hook, b"{}".to_vec()).await.unwrap();
    assert_eq!(accepted.status(), 200, "kept for the run (lookback)");

    drive(
        &app,
        "/__notify",
        Some(json!({"eventId": "event-s1", "eventData": "go"})),
    )
    .await;
    run_in_state(&ferry, &run_id, RunState::Success).await;
    assert_eq!(
        ran_once(&app, "s1").await,
        json!({"timeout": false, "eventData": "go"})
    );
    let ended = call(TENANT, hook, b"{}".to_vec()).await.unwrap();
    assert_eq!(ended.status(), 404, "the run has ended");
}

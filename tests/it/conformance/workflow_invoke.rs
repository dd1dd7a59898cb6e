//! `context.invoke`: ending an invoked run stores its outcome as a step of
//! the run that invoked it, once, and only while that run is active.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use ferry_core::ids::TenantId;
use ferry_core::workflow::{CallType, RunConfig, WorkflowRef};
use ferry_store::{
    Invoker, NewMessage, NewRun, RunEnd, RunPublish, RunState, Store, end_workflow_run,
    run_partition,
};
use serde_json::{Value, json};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{delayed, now_ms, tenant, within};
use crate::conformance::workflows::start_run;

const PARENT: &str = "wfr_parent";
const BOUND: u64 = 64 * 1024;
/// When the runs started with [`start`] were created.
const CREATED: u64 = 1_700_000_000_000;

/// The Init message of `run_id`, creating it (with `invoker`, if any).
async fn start<S: Store>(store: &S, tenant: &TenantId, run_id: &str, invoker: Option<&Invoker>) {
    start_at(store, tenant, run_id, invoker, CREATED).await;
}

/// [`start`] with the run created at `created`.
async fn start_at<S: Store>(
    store: &S,
    tenant: &TenantId,
    run_id: &str,
    invoker: Option<&Invoker>,
    created: u64,
) {
    let run = NewRun {
        run_id: run_id.into(),
        url: format!("https://example.com/wf/{run_id}"),
        created_at: created,
        user_headers: Vec::new(),
        config: RunConfig::default(),
        invoker: invoker.map(Invoker::to_json),
    };
    start_run(store, tenant, &run).await;
}

/// The parent's invoker, as the gateway builds it for a child.
fn invoker(tenant: &TenantId) -> Invoker {
    let NewMessage { mut spec, .. } = delayed(tenant, 0, "", 0);
    spec.url = "https://example.com/wf/parent".into();
    spec.workflow = Some(WorkflowRef {
        run_id: PARENT.into(),
        call_type: CallType::Step,
        run_created_at: 1_700_000_000_000,
        wait_event: None,
    });
    Invoker {
        workflow_run_id: PARENT.into(),
        workflow_url: spec.url.clone(),
        workflow_run_created_at: 1_700_000_000_000,
        step: json!({"stepId": 2, "stepName": "invoke-1", "stepType": "Invoke", "concurrent": 1})
            .as_object()
            .unwrap()
            .clone(),
        message: spec,
        max_run_bytes: BOUND,
    }
}

/// The parent's raw steps, decoded.
async fn parent_steps<S: Store>(store: &S, tenant: &TenantId) -> Vec<Value> {
    let run = within(store.workflow_run(tenant, PARENT))
        .await
        .unwrap()
        .unwrap();
    run.steps
        .iter()
        .map(|raw| {
            let raw: Value = serde_json::from_str(raw).unwrap();
            let body = STANDARD.decode(raw["body"].as_str().unwrap()).unwrap();
            serde_json::from_slice(&body).unwrap_or(Value::Null)
        })
        .collect()
}

async fn end<S: Store>(store: &S, tenant: &TenantId, run: &str, end: RunEnd) -> Option<RunState> {
    within(end_workflow_run(store, tenant, run, &end, now_ms()))
        .await
        .unwrap()
}

pub(crate) async fn an_invoked_run_tells_its_invoker_once<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    start(&store, &acme, PARENT, None).await;
    let parent = invoker(&acme);
    start(&store, &acme, "wfr_ok", Some(&parent)).await;
    start(&store, &acme, "wfr_bad", Some(&parent)).await;
    start(&store, &acme, "wfr_stop", Some(&parent)).await;

    let done = Bytes::from_static(br#"{"childResult":1}"#);
    let success = RunEnd::Success(done.clone());
    assert_eq!(
        end(&store, &acme, "wfr_ok", success.clone()).await,
        Some(RunState::Started)
    );
    assert_eq!(
        end(&store, &acme, "wfr_ok", success).await,
        Some(RunState::Success),
        "a repeated end tells nobody"
    );
    end(&store, &acme, "wfr_bad", RunEnd::Failed).await;
    end(&store, &acme, "wfr_stop", RunEnd::Canceled).await;

    let steps = parent_steps(&store, &acme).await;
    assert_eq!(steps.len(), 4, "the Init entry and one result per child");
    let out = |i: usize| -> Value {
        assert_eq!(steps[i]["stepName"], "invoke-1");
        assert_eq!(steps[i]["stepType"], "Invoke");
        serde_json::from_str(steps[i]["out"].as_str().unwrap()).unwrap()
    };
    assert_eq!(
        out(1),
        json!({"body": r#"{"childResult":1}"#, "isFailed": false, "isCanceled": false})
    );
    assert_eq!(
        out(2),
        json!({"isFailed": true, "isCanceled": false}),
        "no body"
    );
    assert_eq!(out(3), json!({"isFailed": false, "isCanceled": true}));

    // The result messages are the parent's steps, addressed to it.
    let run = within(store.workflow_run(&acme, PARENT))
        .await
        .unwrap()
        .unwrap();
    let last: Value = serde_json::from_str(&run.steps[3]).unwrap();
    let id = ferry_core::ids::MessageId::parse(last["messageId"].as_str().unwrap()).unwrap();
    assert_eq!(
        id.partition(),
        run_partition(&acme, PARENT, store.partitions())
    );
    let message = within(store.message(&acme, &id)).await.unwrap().unwrap();
    assert_eq!(message.spec.url, "https://example.com/wf/parent");
    assert_eq!(message.spec.workflow.unwrap().run_id, PARENT);
}

pub(crate) async fn an_ended_invoker_drops_the_result<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    start(&store, &acme, PARENT, None).await;
    start(&store, &acme, "wfr_late", Some(&invoker(&acme))).await;
    end(&store, &acme, PARENT, RunEnd::Canceled).await;
    assert_eq!(
        end(&store, &acme, "wfr_late", RunEnd::Success(Bytes::new())).await,
        Some(RunState::Started)
    );
    assert_eq!(parent_steps(&store, &acme).await.len(), 1);
}

/// Tells the parent `end` with the told token `told`, as ending a child
/// does first.
async fn tell<S: Store>(store: &S, tenant: &TenantId, told: &str, end: &RunEnd) -> RunPublish {
    let message = invoker(tenant).result_message(end, now_ms(), store.partitions());
    within(store.workflow_tell(&message, told, BOUND))
        .await
        .unwrap()
}

pub(crate) async fn telling_twice_stores_the_result_once<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    start(&store, &acme, PARENT, None).await;
    let told = format!("wfr_child:{CREATED}");
    assert_eq!(
        tell(&store, &acme, &told, &RunEnd::Failed).await,
        RunPublish::Created
    );
    assert_eq!(
        tell(&store, &acme, &told, &RunEnd::Failed).await,
        RunPublish::Deduplicated,
        "the second tell is answered as stored"
    );
    assert_eq!(parent_steps(&store, &acme).await.len(), 2);
    assert_eq!(
        tell(
            &store,
            &acme,
            &format!("wfr_child:{}", CREATED + 1),
            &RunEnd::Failed
        )
        .await,
        RunPublish::Created,
        "another generation of the child is another result"
    );
    assert_eq!(parent_steps(&store, &acme).await.len(), 3);
}

pub(crate) async fn an_interrupted_end_is_completed_once_by_its_retry<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    start(&store, &acme, PARENT, None).await;
    start(&store, &acme, "wfr_child", Some(&invoker(&acme))).await;
    // Interrupted after the tell, before the end.
    let done = RunEnd::Success(Bytes::from_static(b"done"));
    let told = format!("wfr_child:{CREATED}");
    assert_eq!(tell(&store, &acme, &told, &done).await, RunPublish::Created);
    let child = within(store.workflow_run(&acme, "wfr_child"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(child.state, RunState::Started, "the end did not happen");

    assert_eq!(
        end(&store, &acme, "wfr_child", done.clone()).await,
        Some(RunState::Started),
        "the retry ends the run"
    );
    assert_eq!(
        end(&store, &acme, "wfr_child", done).await,
        Some(RunState::Success)
    );
    let steps = parent_steps(&store, &acme).await;
    assert_eq!(steps.len(), 2, "the Init entry and exactly one result");
    let out: Value = serde_json::from_str(steps[1]["out"].as_str().unwrap()).unwrap();
    assert_eq!(
        out,
        json!({"body": "done", "isFailed": false, "isCanceled": false})
    );
}

pub(crate) async fn a_stale_generation_does_not_end_a_new_run<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    start(&store, &acme, PARENT, None).await;
    start(&store, &acme, "wfr_again", Some(&invoker(&acme))).await;
    end(&store, &acme, "wfr_again", RunEnd::Canceled).await;
    start_at(
        &store,
        &acme,
        "wfr_again",
        Some(&invoker(&acme)),
        CREATED + 5,
    )
    .await;

    let stale =
        store.end_workflow_generation(&acme, "wfr_again", CREATED, &RunEnd::Failed, now_ms());
    assert_eq!(within(stale).await.unwrap(), None, "answered as no run");
    let run = within(store.workflow_run(&acme, "wfr_again"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.state, RunState::Started, "the new run is left alone");
    assert_eq!(
        parent_steps(&store, &acme).await.len(),
        2,
        "one result, the old run's"
    );

    assert_eq!(
        end(&store, &acme, "wfr_again", RunEnd::Failed).await,
        Some(RunState::Started)
    );
    assert_eq!(
        parent_steps(&store, &acme).await.len(),
        3,
        "the new run tells its own result"
    );
}

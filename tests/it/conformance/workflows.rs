//! Upstash Workflow runs: created once by their Init message, a step list
//! that only grows, delivered as the prefix up to each message's own entry
//! on every path a deliverer gets an entry by, bounded in size, and ended
//! once (cancel takes the run's pending steps with it).

use std::time::Duration;

use bytes::Bytes;
use ferry_core::ids::TenantId;
use ferry_core::signing::body_hash;
use ferry_core::workflow::{CallType, RunConfig, WorkflowRef, raw_step, step_list};
use ferry_store::{
    Claimed, NewMessage, NewRun, Outcome, Reader, RunEnd, RunPublish, RunState, Store,
    run_partition,
};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{
    LONG_LEASE, delayed, ids, now_ms, outcome, read, record_done, tenant, within,
};

pub(crate) const RUN: &str = "wfr_conformance";
const BOUND: u64 = 64 * 1024;

/// A message of run `RUN` with `body`, in the run's partition.
pub(crate) fn step(tenant: &TenantId, partitions: u16, body: &str, not_before: u64) -> NewMessage {
    let p = run_partition(tenant, RUN, partitions);
    let mut msg = delayed(tenant, p.0, body, not_before);
    msg.spec.workflow = Some(WorkflowRef {
        run_id: RUN.into(),
        call_type: CallType::Step,
        run_created_at: 1_700_000_000_000,
        wait_event: None,
    });
    msg
}

pub(crate) fn new_run() -> NewRun {
    NewRun {
        run_id: RUN.into(),
        url: "https://example.com/wf".into(),
        created_at: 1_700_000_000_000,
        user_headers: vec![("X-User".into(), "alice".into())],
        config: RunConfig {
            retries: Some(2),
            labels: vec!["lab".into()],
            ..RunConfig::default()
        },
        invoker: None,
    }
}

/// Starts `run` with an empty initial message in its partition.
pub(crate) async fn start_run<S: Store>(store: &S, tenant: &TenantId, run: &NewRun) {
    let p = run_partition(tenant, &run.run_id, store.partitions());
    let mut msg = delayed(tenant, p.0, "{}", 0);
    msg.spec.workflow = Some(WorkflowRef {
        run_id: run.run_id.clone(),
        call_type: CallType::Step,
        run_created_at: run.created_at,
        wait_event: None,
    });
    assert_eq!(
        publish_step(store, &msg, Some(run)).await,
        RunPublish::Created
    );
}

async fn publish_step<S: Store>(store: &S, msg: &NewMessage, run: Option<&NewRun>) -> RunPublish {
    within(store.workflow_publish(msg, run, BOUND))
        .await
        .unwrap()
}

/// What the delivery of `claimed` must carry: the raw steps of `upto`.
fn expect_prefix(claimed: &Claimed, upto: &[&NewMessage]) {
    let entries: Vec<String> = upto
        .iter()
        .map(|m| raw_step(&m.id, &m.body, CallType::Step))
        .collect();
    let body = step_list(&entries);
    let message = claimed.message.as_ref().expect("the step is delivered");
    assert_eq!(
        std::str::from_utf8(&message.body).unwrap(),
        std::str::from_utf8(&body).unwrap()
    );
    assert_eq!(
        message.spec.body_hash,
        body_hash(&body),
        "signed over the list"
    );
}

pub(crate) async fn a_run_is_created_once_and_each_step_gets_its_prefix<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let p = run_partition(&acme, RUN, 1).0;
    let init = step(&acme, 1, r#"{"n":1}"#, 0);
    assert_eq!(
        publish_step(&store, &init, Some(&new_run())).await,
        RunPublish::Created
    );
    let again = step(&acme, 1, r#"{"n":2}"#, 0);
    assert_eq!(
        publish_step(&store, &again, Some(&new_run())).await,
        RunPublish::Deduplicated,
        "an active run is not created twice"
    );
    let first = read(&store, p, "x", 10).await;
    assert_eq!(ids(&first), [&init.id], "the duplicate stored nothing");
    expect_prefix(&first[0], &[&init]);

    // Two parallel plan steps: each delivery ends with its own entry.
    let plan_a = step(&acme, 1, "plan a", 0);
    let plan_b = step(&acme, 1, "plan b", 0);
    assert_eq!(
        publish_step(&store, &plan_a, None).await,
        RunPublish::Created
    );
    assert_eq!(
        publish_step(&store, &plan_b, None).await,
        RunPublish::Created
    );
    let plans = read(&store, p, "x", 10).await;
    assert_eq!(ids(&plans), [&plan_a.id, &plan_b.id]);
    expect_prefix(&plans[0], &[&init, &plan_a]);
    expect_prefix(&plans[1], &[&init, &plan_a, &plan_b]);

    let run = within(store.workflow_run(&acme, RUN))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.state, RunState::Started);
    assert_eq!(run.url, "https://example.com/wf");
    assert_eq!(run.created_at, 1_700_000_000_000);
    assert_eq!(run.user_headers, new_run().user_headers);
    assert_eq!(run.config, new_run().config);
    assert_eq!(run.steps.len(), 3);
    assert!(
        within(store.workflow_run(&tenant("other"), RUN))
            .await
            .unwrap()
            .is_none(),
        "runs belong to their tenant"
    );
}

pub(crate) async fn an_ended_run_refuses_steps_and_ends_once<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let init = step(&acme, 1, "{}", 0);
    publish_step(&store, &init, Some(&new_run())).await;
    let response = Bytes::from_static(br#"{"done":true}"#);
    let end = RunEnd::Success(response.clone());
    assert_eq!(
        within(store.end_workflow(&acme, RUN, &end, now_ms()))
            .await
            .unwrap(),
        Some(RunState::Started)
    );
    assert_eq!(
        within(store.end_workflow(&acme, RUN, &RunEnd::Canceled, now_ms()))
            .await
            .unwrap(),
        Some(RunState::Success),
        "an ended run stays as it ended"
    );
    assert_eq!(
        within(store.end_workflow(&acme, "wfr_none", &end, now_ms()))
            .await
            .unwrap(),
        None
    );
    let run = within(store.workflow_run(&acme, RUN))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.state, RunState::Success);
    assert_eq!(run.response, Some(response));
    assert!(run.completed_at.is_some());

    let late = step(&acme, 1, "late", 0);
    assert_eq!(
        publish_step(&store, &late, None).await,
        RunPublish::Inactive
    );
    let unknown = step(&tenant("other"), 1, "no run", 0);
    assert_eq!(
        publish_step(&store, &unknown, None).await,
        RunPublish::Inactive
    );
    assert!(
        within(store.message(&acme, &late.id))
            .await
            .unwrap()
            .is_none()
    );

    // The same id starts a new run once the old one has ended.
    let restart = step(&acme, 1, "again", 0);
    assert_eq!(
        publish_step(&store, &restart, Some(&new_run())).await,
        RunPublish::Created
    );
    let run = within(store.workflow_run(&acme, RUN))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((run.state, run.steps.len()), (RunState::Started, 1));
}

pub(crate) async fn cancel_takes_the_runs_pending_steps<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let p = run_partition(&acme, RUN, 1).0;
    let init = step(&acme, 1, "{}", 0);
    publish_step(&store, &init, Some(&new_run())).await;
    let claimed = read(&store, p, "x", 10).await;
    record_done(
        &store,
        "x",
        &outcome(&claimed[0], &acme, Outcome::Delivered),
    )
    .await;
    let ready = step(&acme, 1, "ready", 0);
    let sleeping = step(&acme, 1, "sleep", now_ms() + 3_600_000);
    publish_step(&store, &ready, None).await;
    publish_step(&store, &sleeping, None).await;

    assert_eq!(
        within(store.end_workflow(&acme, RUN, &RunEnd::Canceled, now_ms()))
            .await
            .unwrap(),
        Some(RunState::Started)
    );
    for id in [&ready.id, &sleeping.id] {
        assert!(within(store.message(&acme, id)).await.unwrap().is_none());
    }
    let left = read(&store, p, "x", 10).await;
    assert_eq!(ids(&left), [&ready.id]);
    assert!(left[0].message.is_none(), "its entry is skipped");
    let after = step(&acme, 1, "after", 0);
    assert_eq!(
        publish_step(&store, &after, None).await,
        RunPublish::Inactive
    );
    assert_eq!(
        within(store.workflow_run(&acme, RUN))
            .await
            .unwrap()
            .unwrap()
            .state,
        RunState::Canceled
    );
}

pub(crate) async fn the_step_list_is_bounded<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let init = step(&acme, 1, &"i".repeat(100), 0);
    // Each raw step is its base64 body plus about 100 bytes.
    let small = 600;
    let publish = |msg: NewMessage, run: Option<NewRun>| {
        let store = store.clone();
        async move {
            within(store.workflow_publish(&msg, run.as_ref(), small))
                .await
                .unwrap()
        }
    };
    assert_eq!(publish(init, Some(new_run())).await, RunPublish::Created);
    let fits = step(&acme, 1, &"f".repeat(100), 0);
    assert_eq!(publish(fits, None).await, RunPublish::Created);
    let too_big = step(&acme, 1, &"b".repeat(200), 0);
    let id = too_big.id.clone();
    assert_eq!(publish(too_big, None).await, RunPublish::TooLarge);
    assert!(within(store.message(&acme, &id)).await.unwrap().is_none());
    let run = within(store.workflow_run(&acme, RUN))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.steps.len(), 2, "nothing was cut or appended");
    let huge_init = step(&tenant("big"), 1, &"h".repeat(500), 0);
    assert_eq!(
        publish(huge_init, Some(new_run())).await,
        RunPublish::TooLarge
    );
}

pub(crate) async fn taken_over_and_recovered_steps_carry_their_prefix<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let partition = run_partition(&acme, RUN, 1);
    let init = step(&acme, 1, "{}", 0);
    publish_step(&store, &init, Some(&new_run())).await;
    let next = step(&acme, 1, "next", 0);
    publish_step(&store, &next, None).await;

    // x reads both and dies; y takes them over.
    within(store.acquire_lease("x", Duration::from_millis(300)))
        .await
        .unwrap();
    let mut reader = within(store.reader(partition, "x")).await.unwrap();
    let by_x = within(reader.read(10, Duration::from_millis(50)))
        .await
        .unwrap();
    assert_eq!(ids(&by_x), [&init.id, &next.id]);
    tokio::time::sleep(Duration::from_millis(450)).await;
    within(store.acquire_lease("y", LONG_LEASE)).await.unwrap();
    let by_y = within(store.reclaim(partition, "y", 10)).await.unwrap();
    assert_eq!(ids(&by_y), [&init.id, &next.id]);
    expect_prefix(&by_y[0], &[&init]);
    expect_prefix(&by_y[1], &[&init, &next]);

    // y loses track of them and finds them again.
    let found = within(store.recover_own(partition, "y", Duration::ZERO, 10, &|_: &str| false))
        .await
        .unwrap();
    assert_eq!(ids(&found), [&init.id, &next.id]);
    expect_prefix(&found[1], &[&init, &next]);
    assert_eq!(
        found[1]
            .message
            .as_ref()
            .unwrap()
            .spec
            .workflow
            .as_ref()
            .unwrap()
            .run_id,
        RUN
    );
}

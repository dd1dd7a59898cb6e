//! Waiters of workflow runs: a wait is answered exactly once, by a notify
//! or by its durable timeout, whichever comes first; lookback events wait
//! for their wait; a run's end takes its waiters with it.

use bytes::Bytes;
use ferry_core::ids::{Partition, TenantId};
use ferry_core::workflow::{CallType, raw_step};
use ferry_store::{
    BacklogBound, EventStored, NewMessage, NewWaiter, PublishOutcome, Resolution, Resolved,
    ResolvedBy, RunEnd, RunPublish, Store, WaitOutcome, Waiter, run_partition,
};

use crate::conformance::backend::{Backend, Settings};
use crate::conformance::fixture::{ids, message, now_ms, read, tenant, within};
use crate::conformance::workflows::{RUN, new_run, step};

const BOUND: u64 = 64 * 1024;
const EVENT: &str = "order-paid";

/// A wait of `RUN` for `event` whose timeout is due at `deadline_ms`.
fn wait(tenant: &TenantId, event: &str, deadline_ms: u64) -> NewWaiter {
    let mut timeout = step(tenant, 1, r#"{"waitTimeout":true}"#, deadline_ms);
    if let Some(workflow) = &mut timeout.spec.workflow {
        workflow.wait_event = Some(event.into());
    }
    NewWaiter {
        tenant: tenant.clone(),
        waiter: Waiter {
            run_id: RUN.into(),
            event_id: event.into(),
            timeout_message: timeout.id.clone(),
            data: r#"{"url":"https://example.com/wf"}"#.into(),
        },
        timeout,
    }
}

fn answer(tenant: &TenantId, event: &str, by: ResolvedBy) -> Resolution {
    Resolution {
        event_id: event.into(),
        by,
        message: step(tenant, 1, r#"{"out":"e30="}"#, 0),
    }
}

async fn started<S: Store>(store: &S, tenant: &TenantId) -> NewMessage {
    let init = step(tenant, 1, "{}", 0);
    assert_eq!(
        within(store.workflow_publish(&init, Some(&new_run()), BOUND))
            .await
            .unwrap(),
        RunPublish::Created
    );
    init
}

fn partition(tenant: &TenantId) -> u16 {
    run_partition(tenant, RUN, 1).0
}

async fn resolve<S: Store>(store: &S, resolution: &Resolution) -> Resolved {
    within(store.workflow_resolve(resolution, BOUND))
        .await
        .unwrap()
}

async fn waiters<S: Store>(store: &S, tenant: &TenantId, event: &str) -> Vec<Waiter> {
    within(store.workflow_waiters(tenant, event)).await.unwrap()
}

/// The step list a claimed message is delivered with, as raw steps.
fn delivered_steps(body: &[u8]) -> usize {
    serde_json::from_slice::<Vec<serde_json::Value>>(body)
        .unwrap()
        .len()
}

pub(crate) async fn a_notify_answers_a_wait_once_and_takes_its_timeout<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let p = partition(&acme);
    let init = started(&store, &acme).await;
    read(&store, p, "x", 10).await;
    let wait = wait(&acme, EVENT, now_ms() + 3_600_000);
    assert_eq!(
        within(store.workflow_wait(&wait)).await.unwrap(),
        WaitOutcome::Waiting
    );
    assert_eq!(
        within(store.workflow_wait(&self::wait(&acme, EVENT, now_ms() + 1)))
            .await
            .unwrap(),
        WaitOutcome::AlreadyWaiting,
        "one waiter per run and event"
    );
    assert_eq!(
        waiters(&store, &acme, EVENT).await,
        std::slice::from_ref(&wait.waiter)
    );
    assert!(waiters(&store, &acme, "other").await.is_empty());
    assert!(waiters(&store, &tenant("globex"), EVENT).await.is_empty());

    let timeout_id = wait.waiter.timeout_message.clone();
    let notify = answer(&acme, EVENT, ResolvedBy::Waiter(timeout_id.clone()));
    assert_eq!(resolve(&store, &notify).await, Resolved::Resolved);
    let again = answer(&acme, EVENT, ResolvedBy::Waiter(timeout_id.clone()));
    assert_eq!(resolve(&store, &again).await, Resolved::Gone, "once");
    assert!(waiters(&store, &acme, EVENT).await.is_empty());
    assert!(
        within(store.message(&acme, &timeout_id))
            .await
            .unwrap()
            .is_none(),
        "the timeout message went with the waiter"
    );
    let claimed = read(&store, p, "x", 10).await;
    assert_eq!(ids(&claimed), [&notify.message.id]);
    let body = &claimed[0].message.as_ref().unwrap().body;
    assert_eq!(delivered_steps(body), 2, "init and the answer");
    let run = within(store.workflow_run(&acme, RUN))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.steps[0], raw_step(&init.id, &init.body, CallType::Step));
    assert_eq!(run.steps.len(), 2);
}

pub(crate) async fn a_timeout_answers_a_wait_nobody_notified<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let p = partition(&acme);
    started(&store, &acme).await;
    read(&store, p, "x", 10).await;
    let deadline = now_ms() + 60_000;
    let wait = wait(&acme, EVENT, deadline);
    within(store.workflow_wait(&wait)).await.unwrap();
    assert!(read(&store, p, "x", 10).await.is_empty(), "not due yet");
    within(store.promote_due(Partition(p), deadline + 1, 10))
        .await
        .unwrap();
    let claimed = read(&store, p, "x", 10).await;
    assert_eq!(ids(&claimed), [&wait.timeout.id]);
    let body = &claimed[0].message.as_ref().expect("delivered").body;
    assert_eq!(delivered_steps(body), 2, "init and the timeout");
    assert!(waiters(&store, &acme, EVENT).await.is_empty());

    // A notify racing the timeout finds the waiter gone.
    let late = answer(
        &acme,
        EVENT,
        ResolvedBy::Waiter(wait.waiter.timeout_message.clone()),
    );
    assert_eq!(resolve(&store, &late).await, Resolved::Gone);
    assert!(
        within(store.message(&acme, &late.message.id))
            .await
            .unwrap()
            .is_none()
    );
    let run = within(store.workflow_run(&acme, RUN))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.steps.len(), 2, "answered once");
}

pub(crate) async fn a_timeout_after_a_notify_is_skipped<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let p = partition(&acme);
    started(&store, &acme).await;
    read(&store, p, "x", 10).await;
    let deadline = now_ms() + 60_000;
    let wait = wait(&acme, EVENT, deadline);
    within(store.workflow_wait(&wait)).await.unwrap();
    // The timeout became ready before the notify came.
    within(store.promote_due(Partition(p), deadline + 1, 10))
        .await
        .unwrap();
    let notify = answer(
        &acme,
        EVENT,
        ResolvedBy::Waiter(wait.waiter.timeout_message.clone()),
    );
    assert_eq!(resolve(&store, &notify).await, Resolved::Resolved);
    let claimed = read(&store, p, "x", 10).await;
    assert_eq!(ids(&claimed), [&wait.timeout.id, &notify.message.id]);
    assert!(claimed[0].message.is_none(), "the timeout is skipped");
    assert!(claimed[1].message.is_some());
    let run = within(store.workflow_run(&acme, RUN))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.steps.len(), 2, "answered once");
}

pub(crate) async fn a_lookback_event_waits_for_its_wait<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    started(&store, &acme).await;
    let data = Bytes::from_static(br#"{"paid":42}"#);
    assert_eq!(
        within(store.workflow_store_event(&acme, RUN, EVENT, &data))
            .await
            .unwrap(),
        EventStored::Stored
    );
    assert_eq!(
        within(store.workflow_store_event(&acme, "wfr_none", EVENT, &data))
            .await
            .unwrap(),
        EventStored::Inactive
    );
    let wait = wait(&acme, EVENT, now_ms() + 60_000);
    assert_eq!(
        within(store.workflow_wait(&wait)).await.unwrap(),
        WaitOutcome::Lookback(data.clone())
    );
    assert!(
        waiters(&store, &acme, EVENT).await.is_empty(),
        "nothing waits"
    );
    let answer_it = answer(&acme, EVENT, ResolvedBy::Lookback);
    assert_eq!(resolve(&store, &answer_it).await, Resolved::Resolved);
    let twice = answer(&acme, EVENT, ResolvedBy::Lookback);
    assert_eq!(resolve(&store, &twice).await, Resolved::Gone);

    // With a waiter registered, a per-run event goes to it instead.
    let second = self::wait(&acme, "second", now_ms() + 60_000);
    assert_eq!(
        within(store.workflow_wait(&second)).await.unwrap(),
        WaitOutcome::Waiting
    );
    assert_eq!(
        within(store.workflow_store_event(&acme, RUN, "second", &data))
            .await
            .unwrap(),
        EventStored::Waiting(second.waiter.clone())
    );
}

pub(crate) async fn a_runs_end_takes_its_waiters<B: Backend>(backend: &B) {
    let store = backend.open(Settings::default()).await;
    let acme = tenant("acme");
    let p = partition(&acme);
    started(&store, &acme).await;
    read(&store, p, "x", 10).await;
    let deadline = now_ms() + 60_000;
    let wait = wait(&acme, EVENT, deadline);
    within(store.workflow_wait(&wait)).await.unwrap();
    let data = Bytes::from_static(b"kept");
    within(store.workflow_store_event(&acme, RUN, "looked", &data))
        .await
        .unwrap();
    within(store.end_workflow(&acme, RUN, &RunEnd::Failed, now_ms()))
        .await
        .unwrap();
    assert!(waiters(&store, &acme, EVENT).await.is_empty());
    let notify = answer(
        &acme,
        EVENT,
        ResolvedBy::Waiter(wait.waiter.timeout_message.clone()),
    );
    assert_eq!(resolve(&store, &notify).await, Resolved::Inactive);

    // Its timeout comes due and is dropped.
    within(store.promote_due(Partition(p), deadline + 1, 10))
        .await
        .unwrap();
    let claimed = read(&store, p, "x", 10).await;
    assert_eq!(ids(&claimed), [&wait.timeout.id]);
    assert!(claimed[0].message.is_none());
    assert!(
        within(store.message(&acme, &wait.timeout.id))
            .await
            .unwrap()
            .is_none()
    );

    // A new run with the same id sees none of the old one's events.
    started(&store, &acme).await;
    let again = self::wait(&acme, "looked", now_ms() + 60_000);
    assert_eq!(
        within(store.workflow_wait(&again)).await.unwrap(),
        WaitOutcome::Waiting
    );
}

/// Checks that the tenant's backlog is at its bound: one more message of
/// its own is refused.
async fn assert_tenant_full<S: Store>(store: &S, tenant: &TenantId, why: &str) {
    let probe = message(tenant, 0, "probe");
    assert_eq!(
        within(store.publish(&probe, None)).await.unwrap(),
        PublishOutcome::BacklogFull(BacklogBound::Tenant),
        "{why}"
    );
}

/// A wait's timeout message counts in its tenant's backlog like any stored
/// message, and answering the wait swaps it for the answer.
pub(crate) async fn a_waits_timeout_counts_in_its_tenants_backlog<B: Backend>(backend: &B) {
    let store = backend
        .open(Settings {
            max_tenant_backlog: 2,
            ..Settings::default()
        })
        .await;
    let acme = tenant("acme");
    started(&store, &acme).await;
    let wait = wait(&acme, EVENT, now_ms() + 3_600_000);
    within(store.workflow_wait(&wait)).await.unwrap();
    assert_tenant_full(&store, &acme, "the init and the timeout count").await;
    let timeout_id = wait.waiter.timeout_message.clone();
    let notify = answer(&acme, EVENT, ResolvedBy::Waiter(timeout_id));
    assert_eq!(resolve(&store, &notify).await, Resolved::Resolved);
    assert_tenant_full(&store, &acme, "the answer replaced the timeout").await;
}

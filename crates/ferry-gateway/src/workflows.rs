//! Upstash Workflow on the publish path and the run routes.
//!
//! A publish with `Upstash-Workflow-RunId` is a message of a run: it is
//! placed in the run's partition and stored by the store's workflow step,
//! which appends it to the run's step list (see `ferry_store::workflows`).
//! The Init message (`Upstash-Workflow-Init: true`) creates the run and
//! records what the trigger configured for the whole run: its forwarded
//! headers, retries, retry delay, failure callback and labels. Every later
//! message gets them here, at publish, unless it sets its own, since the
//! JS SDK sends none of them after the trigger. The run's configuration
//! never changes once created, so reading it before the store's step is
//! safe; the step itself checks the run is still active.
//!
//! Statuses matter to the SDKs: the JS SDK reads *any* 400 on a step
//! publish as "the run has ended" and stops quietly, so 400 is kept for an
//! inactive run, and every other refusal of a run's message (a bad header,
//! a limit, a step list that would grow too large) is 412, which it turns
//! into a visible failure.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ferry_core::ids::Partition;
use ferry_core::message::{CallbackSpec, MessageSpec};
use ferry_core::publish::{PublishError, WorkflowHeaders};
use ferry_core::workflow::{CallType, RunConfig, WorkflowRef, step_list, validate_run_id};
use ferry_store::{NewMessage, NewRun, RunEnd, RunPublish, Store, WorkflowRun, run_partition};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use crate::AppState;
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::publish::PublishRequest;

/// Headers the relay sets on every delivery of a run's message.
const RUN_ID_HEADER: &str = "Upstash-Workflow-RunId";
const CREATED_AT_HEADER: &str = "Upstash-Workflow-CreatedAt";

/// Whether a publish names a workflow run, before its headers are parsed.
pub(crate) fn names_run(headers: &HeaderMap) -> bool {
    headers.contains_key("upstash-workflow-runid")
}

/// A refusal of a run's message: 412, so the SDK fails the run visibly
/// instead of taking a 400 for "run ended".
pub(crate) fn refused(e: ApiError) -> ApiError {
    match e {
        ApiError::Client(status, message) if status.is_client_error() => {
            ApiError::Client(StatusCode::PRECONDITION_FAILED, message)
        }
        other => other,
    }
}

/// Parse errors of a publish: 412 for a run's message (see [`refused`]).
pub(crate) fn parse_error(headers: &HeaderMap, e: PublishError) -> ApiError {
    if names_run(headers) {
        refused(e.into())
    } else {
        e.into()
    }
}

/// The partition of a run's message: its run's. Queues and flow control
/// do not combine with runs here; such a message is refused with 412.
pub(crate) fn partition<S: Store>(
    state: &AppState<S>,
    request: &PublishRequest,
    wf: &WorkflowHeaders,
) -> ApiResult<Partition> {
    if request.queue.is_some() || request.opts.flow_control.is_some() {
        return Err(ApiError::Client(
            StatusCode::PRECONDITION_FAILED,
            "queues and flow control are not supported for workflow messages by this version of Ferry".into(),
        ));
    }
    Ok(run_partition(
        &request.tenant,
        &wf.run_id,
        state.store.partitions(),
    ))
}

/// A run's message, ready to store.
pub(crate) struct Prepared {
    pub(crate) run: Option<NewRun>,
}

/// Gives `spec` (of a message of the run `wf`) its place in the run: the
/// run's configuration and headers for a later message, a new run for the
/// Init message. Refuses a message of a run that is not active with 400.
pub(crate) async fn prepare<S: Store>(
    state: &AppState<S>,
    wf: &WorkflowHeaders,
    spec: &mut MessageSpec,
) -> ApiResult<Prepared> {
    if wf.init {
        let run = new_run(wf, spec);
        apply_run(spec, wf, run.created_at, &run.user_headers, None);
        return Ok(Prepared { run: Some(run) });
    }
    let run = match state.store.workflow_run(&spec.tenant, &wf.run_id).await? {
        Some(run) if run.state == ferry_store::RunState::Started => run,
        _ => return Err(inactive(&wf.run_id)),
    };
    apply_run(
        spec,
        wf,
        run.created_at,
        &run.user_headers,
        Some(&run.config),
    );
    Ok(Prepared { run: None })
}

fn inactive(run_id: &str) -> ApiError {
    ApiError::bad_request(format!("workflow run {run_id} is not active"))
}

/// The run an Init message creates.
fn new_run(wf: &WorkflowHeaders, spec: &MessageSpec) -> NewRun {
    let user_headers = spec
        .headers
        .iter()
        .filter(|(name, _)| {
            let lower = name.to_ascii_lowercase();
            !lower.starts_with("upstash-workflow-") && lower != "content-type"
        })
        .cloned()
        .collect();
    NewRun {
        run_id: wf.run_id.clone(),
        url: wf.url.clone().unwrap_or_else(|| spec.url.clone()),
        created_at: spec.created_at,
        user_headers,
        config: RunConfig {
            retries: wf.retries_set.then_some(spec.retries),
            retry_delay: spec.retry_delay.clone(),
            failure_callback: spec.failure_callback.clone(),
            labels: spec.labels.clone(),
        },
        invoker: None,
    }
}

/// Applies the run to a message: its reference, the delivery headers, and
/// for a later message what the run configured and the message does not
/// set itself. A `context.call` request goes to a third party: it gets
/// neither the run's headers nor its failure callback, and its callback
/// message is the one that carries them back to the app.
fn apply_run(
    spec: &mut MessageSpec,
    wf: &WorkflowHeaders,
    created_at: u64,
    user_headers: &[(String, String)],
    config: Option<&RunConfig>,
) {
    spec.workflow = Some(WorkflowRef {
        run_id: wf.run_id.clone(),
        call_type: wf.call_type,
        run_created_at: created_at,
        wait_event: None,
    });
    let run_headers = [
        (RUN_ID_HEADER.to_owned(), wf.run_id.clone()),
        (CREATED_AT_HEADER.to_owned(), created_at.to_string()),
    ];
    if let Some(callback) = &mut spec.callback {
        join_run(callback, wf, created_at, CallType::FromCallback);
        add_missing(&mut callback.headers, user_headers);
        add_missing(&mut callback.headers, &run_headers);
    }
    if wf.call_type == CallType::ToCallback {
        return;
    }
    add_missing(&mut spec.headers, user_headers);
    add_missing(&mut spec.headers, &run_headers);
    if let Some(config) = config {
        if let Some(retries) = config.retries.filter(|_| !wf.retries_set) {
            spec.retries = retries;
        }
        if spec.retry_delay.is_none() {
            spec.retry_delay.clone_from(&config.retry_delay);
        }
        if spec.failure_callback.is_none() {
            spec.failure_callback.clone_from(&config.failure_callback);
        }
        if spec.labels.is_empty() {
            spec.labels.clone_from(&config.labels);
        }
    }
    if let Some(failure) = &mut spec.failure_callback {
        join_run(failure, wf, created_at, CallType::FailureCall);
        add_missing(&mut failure.headers, &run_headers[..1]);
    }
}

/// Makes a callback message a message of the run.
fn join_run(callback: &mut CallbackSpec, wf: &WorkflowHeaders, created_at: u64, call: CallType) {
    let workflow = callback.workflow.get_or_insert_with(|| WorkflowRef {
        run_id: wf.run_id.clone(),
        call_type: call,
        run_created_at: created_at,
        wait_event: None,
    });
    workflow.run_created_at = created_at;
}

fn add_missing(headers: &mut Vec<(String, String)>, extra: &[(String, String)]) {
    for (name, value) in extra {
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            headers.push((name.clone(), value.clone()));
        }
    }
}

/// Stores a run's message: 201, or 202 with `deduplicated` when the Init
/// message names an active run.
pub(crate) async fn store<S: Store>(
    state: &AppState<S>,
    message: &NewMessage,
    prepared: &Prepared,
) -> ApiResult<bool> {
    let stored = state
        .store
        .workflow_publish(
            message,
            prepared.run.as_ref(),
            state.cfg.workflow_max_run_bytes,
        )
        .await?;
    match stored {
        RunPublish::Created => Ok(false),
        RunPublish::Deduplicated => Ok(true),
        RunPublish::Inactive => {
            let run = message
                .spec
                .workflow
                .as_ref()
                .map_or("", |w| w.run_id.as_str());
            Err(inactive(run))
        }
        RunPublish::TooLarge => Err(ApiError::Client(
            StatusCode::PRECONDITION_FAILED,
            format!(
                "the workflow run's steps would exceed {} bytes",
                state.cfg.workflow_max_run_bytes
            ),
        )),
        RunPublish::BacklogFull(bound) => Err(crate::publish::backlog_full(&state.cfg, bound)),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct EndQuery {
    #[serde(default)]
    cancel: Option<String>,
}

/// `DELETE /v2/workflows/runs/{id}?cancel=false|true`: the app ends its run
/// (its body is the run's result), or cancels it. Ending is idempotent:
/// a repeated or late end answers 200 too, since the SDK does not expect
/// an error there.
pub(crate) async fn end<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(run_id): Path<String>,
    Query(query): Query<EndQuery>,
    body: Bytes,
) -> ApiResult<Response> {
    validate_run_id(&run_id).map_err(ApiError::bad_request)?;
    let cancel = match query.cancel.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid cancel {other:?}: use true or false"
            )));
        }
    };
    let end = if cancel {
        RunEnd::Canceled
    } else {
        RunEnd::Success(body)
    };
    let before =
        ferry_store::end_workflow_run(&state.store, &tenant, &run_id, &end, crate::now_ms())
            .await?;
    if before.is_none() && cancel {
        return Err(ApiError::not_found(format!(
            "workflow run {run_id} not found"
        )));
    }
    tracing::info!(workflow.run = %run_id, cancel, "workflow run ended");
    Ok(StatusCode::OK.into_response())
}

/// `GET /v2/workflows/runs/{id}`: the run's raw steps (the SDK's lazy
/// fetch), 404 when there is no such run.
pub(crate) async fn steps<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(run_id): Path<String>,
) -> ApiResult<Response> {
    validate_run_id(&run_id).map_err(ApiError::bad_request)?;
    let run: WorkflowRun = state
        .store
        .workflow_run(&tenant, &run_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("workflow run {run_id} not found")))?;
    let body = step_list(&run.steps);
    Ok(([(http::header::CONTENT_TYPE, "application/json")], body).into_response())
}

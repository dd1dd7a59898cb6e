//! A tenant's workflow runs as a whole: cancelling them (`client.cancel`)
//! and the grouped run view (`client.logs`), both over the store's run
//! index (see `ferry_store::run_index`).
//!
//! Cancelling ends each run on its own (one store step per run, which also
//! tells an invoking run); the answer counts the runs this call cancelled,
//! so a repeat answers 0. A filter cancels at most `count` runs (100 unless
//! given, as the SDK sends it); a repeat cancels the next ones, as those
//! already cancelled no longer match.
//!
//! The run view shows each run with its steps grouped as the SDK's
//! `WorkflowRunLog` describes them: the steps the app published, decoded
//! (parallel results together), every one `STEP_SUCCESS`, since a step is in
//! the list once its result is recorded. Call and callback bookkeeping
//! entries and parallel plan steps are left out.

use axum::Json;
use axum::extract::{RawQuery, State};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ferry_core::ids::{MessageId, TenantId};
use ferry_core::wire::{Cancelled, WorkflowInvoker, WorkflowRunList, WorkflowRunLog};
use ferry_core::workflow::validate_run_id;
use ferry_store::{
    Invoker, RunEnd, RunFilter, RunQuery, RunState, Store, WorkflowRun, end_workflow_run,
};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::query::QueryPairs;

/// Runs a filtered cancel takes unless `count` says otherwise.
const DEFAULT_CANCEL_COUNT: usize = 100;
const MAX_CANCEL_COUNT: usize = 1_000;
/// Runs per page of the run view.
const DEFAULT_LOG_COUNT: usize = 10;
const MAX_LOG_COUNT: usize = 100;

/// Filters both routes take.
const FILTERS: [&str; 6] = [
    "workflowUrl",
    "workflowUrlExactMatch",
    "label",
    "fromDate",
    "toDate",
    "workflowCreatedAt",
];
/// Filters of the SDKs that runs do not record.
const UNSUPPORTED: [&str; 5] = ["callerIp", "flowControlKey", "host", "path", "messageId"];

/// The filter a query names.
fn filter(query: &QueryPairs) -> ApiResult<RunFilter> {
    if let Some(name) = UNSUPPORTED.iter().find(|name| query.has(name)) {
        return Err(ApiError::bad_request(format!(
            "filter {name} is not supported for workflow runs by this version of Ferry"
        )));
    }
    let state = query
        .first("state")
        .map(|s| {
            RunState::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid state {s:?}: use RUN_STARTED, RUN_SUCCESS, RUN_FAILED or RUN_CANCELED"
                ))
            })
        })
        .transpose()?;
    let run_id = query.first("workflowRunId").map(str::to_owned);
    if let Some(id) = &run_id {
        validate_run_id(id).map_err(ApiError::bad_request)?;
    }
    let url_exact = match query.first("workflowUrlExactMatch") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid workflowUrlExactMatch {other:?}: use true or false"
            )));
        }
    };
    Ok(RunFilter {
        state,
        run_id,
        url: query.first("workflowUrl").map(str::to_owned),
        url_exact,
        label: query.first("label").map(str::to_owned),
        from_ms: query.number("fromDate")?,
        to_ms: query.number("toDate")?,
        created_at: query.number("workflowCreatedAt")?,
    })
}

/// `count`, between 1 and `max`.
fn count(query: &QueryPairs, default: usize, max: usize) -> ApiResult<usize> {
    let count = query.number::<usize>("count")?.unwrap_or(default);
    if count == 0 || count > max {
        return Err(ApiError::bad_request(format!(
            "count must be between 1 and {max}"
        )));
    }
    Ok(count)
}

/// A run cursor must be one the run view made.
fn cursor(query: &QueryPairs) -> ApiResult<Option<String>> {
    let cursor = query.first("cursor").map(str::to_owned);
    if let Some(c) = cursor
        .as_deref()
        .filter(|c| ferry_store::parse_run_cursor(c).is_none())
    {
        return Err(ApiError::bad_request(format!("invalid cursor {c:?}")));
    }
    Ok(cursor)
}

/// `DELETE /v2/workflows/runs?workflowRunIds=…` (or filters, or `count`
/// alone for every run): cancels active runs → `{"cancelled": n}`.
pub(crate) async fn cancel<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Cancelled>> {
    let query = QueryPairs::parse(raw.as_deref());
    let mut known = vec!["workflowRunIds", "count", "cursor"];
    known.extend(FILTERS);
    known.extend(UNSUPPORTED);
    query.reject_unknown(&known)?;
    let ids = query.all("workflowRunIds");
    let cancelled = if ids.is_empty() {
        if raw.as_deref().unwrap_or("").is_empty() {
            return Err(ApiError::bad_request(
                "name the runs to cancel: workflowRunIds, a filter, or count alone for every run",
            ));
        }
        let mut filter = filter(&query)?;
        filter.state = Some(RunState::Started);
        let limit = count(&query, DEFAULT_CANCEL_COUNT, MAX_CANCEL_COUNT)?;
        cancel_matching(&state, &tenant, filter, limit).await?
    } else {
        for id in &ids {
            validate_run_id(id).map_err(ApiError::bad_request)?;
        }
        let mut cancelled = 0;
        for id in &ids {
            cancelled += usize::from(cancel_one(&state, &tenant, id).await?);
        }
        cancelled
    };
    tracing::info!(cancelled, "workflow runs cancelled");
    Ok(Json(Cancelled {
        cancelled: u64::try_from(cancelled).unwrap_or(u64::MAX),
    }))
}

/// Cancels one run; true when this call cancelled it.
async fn cancel_one<S: Store>(state: &AppState<S>, tenant: &TenantId, id: &str) -> ApiResult<bool> {
    let before =
        end_workflow_run(&state.store, tenant, id, &RunEnd::Canceled, crate::now_ms()).await?;
    Ok(before == Some(RunState::Started))
}

async fn cancel_matching<S: Store>(
    state: &AppState<S>,
    tenant: &TenantId,
    filter: RunFilter,
    limit: usize,
) -> ApiResult<usize> {
    let mut query = RunQuery {
        filter,
        cursor: None,
        count: limit,
    };
    let mut cancelled = 0;
    loop {
        let page = state.store.workflow_runs(tenant, &query).await?;
        for run in &page.runs {
            if cancelled < limit && cancel_one(state, tenant, &run.run_id).await? {
                cancelled += 1;
            }
        }
        match page.cursor {
            Some(cursor) if cancelled < limit => query.cursor = Some(cursor),
            _ => return Ok(cancelled),
        }
    }
}

/// `GET /v2/workflows/events?groupBy=workflowRunId` (and
/// `/v2/workflows/logs`): a page of runs, newest first →
/// `{"runs": [...], "cursor"?}`.
pub(crate) async fn logs<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<WorkflowRunList>> {
    let query = QueryPairs::parse(raw.as_deref());
    let mut known = vec!["groupBy", "count", "cursor", "state", "workflowRunId"];
    known.extend(FILTERS);
    known.extend(UNSUPPORTED);
    query.reject_unknown(&known)?;
    if let Some(group) = query.first("groupBy").filter(|g| *g != "workflowRunId") {
        return Err(ApiError::bad_request(format!(
            "invalid groupBy {group:?}: only workflowRunId is supported"
        )));
    }
    let mut filter = filter(&query)?;
    // The run view's URL filter is an exact match (the SDK's documented
    // meaning); `workflowUrlExactMatch=false` asks for a prefix.
    filter.url_exact = query.first("workflowUrlExactMatch") != Some("false");
    let run_query = RunQuery {
        filter,
        cursor: cursor(&query)?,
        count: count(&query, DEFAULT_LOG_COUNT, MAX_LOG_COUNT)?,
    };
    let page = state.store.workflow_runs(&tenant, &run_query).await?;
    Ok(Json(WorkflowRunList {
        cursor: page.cursor,
        runs: page.runs.iter().map(run_log).collect(),
    }))
}

/// A run as the SDK's `WorkflowRunLog`.
fn run_log(run: &WorkflowRun) -> WorkflowRunLog {
    WorkflowRunLog {
        workflow_run_id: run.run_id.clone(),
        workflow_url: run.url.clone(),
        workflow_state: run.state.as_str().to_owned(),
        workflow_run_created_at: run.created_at,
        workflow_run_completed_at: run.completed_at,
        workflow_run_response: run
            .response
            .as_ref()
            .filter(|r| !r.is_empty())
            .map(|r| String::from_utf8_lossy(r).into_owned()),
        label: run.config.labels.first().cloned(),
        labels: run.config.labels.clone(),
        invoker: run
            .invoker
            .as_deref()
            .and_then(Invoker::from_json)
            .map(|invoker| WorkflowInvoker {
                workflow_run_id: invoker.workflow_run_id,
                workflow_url: invoker.workflow_url,
                workflow_run_created_at: invoker.workflow_run_created_at,
            }),
        steps: step_groups(run),
    }
}

/// The run's steps as groups: each sequential step alone, consecutive
/// parallel results together.
fn step_groups(run: &WorkflowRun) -> Vec<Value> {
    let mut groups: Vec<(bool, Vec<Value>)> = Vec::new();
    for (i, raw) in run.steps.iter().enumerate() {
        let Some(step) = step_log(run, i, raw) else {
            continue;
        };
        let parallel = step["concurrent"].as_u64().is_some_and(|c| c > 1);
        match groups.last_mut() {
            Some((true, steps)) if parallel => steps.push(step),
            _ => groups.push((parallel, vec![step])),
        }
    }
    groups
        .into_iter()
        .map(|(parallel, steps)| {
            let kind = if parallel { "parallel" } else { "sequential" };
            json!({"type": kind, "steps": steps})
        })
        .collect()
}

/// Entry `i` of the step list as a `StepLog`, if it is a step the app
/// published (entry 0 is the run's initial payload).
fn step_log(run: &WorkflowRun, i: usize, raw: &str) -> Option<Value> {
    let entry: Value = serde_json::from_str(raw).ok()?;
    if entry["callType"] != "step" {
        return None;
    }
    let message_id = entry["messageId"].as_str()?.to_owned();
    let body = STANDARD.decode(entry["body"].as_str()?).ok()?;
    let created_at = MessageId::parse(&message_id).map_or(run.created_at, |id| id.created_ms());
    let mut step = if i == 0 {
        let mut initial = Map::new();
        initial.insert("stepId".into(), json!(0));
        initial.insert("stepName".into(), json!("init"));
        initial.insert("stepType".into(), json!("Initial"));
        initial.insert("concurrent".into(), json!(1));
        initial.insert("out".into(), json!(String::from_utf8_lossy(&body)));
        initial
    } else {
        let Ok(Value::Object(step)) = serde_json::from_slice(&body) else {
            return None;
        };
        // A parallel plan step: the branch it starts shows its result.
        if step.get("stepId").and_then(Value::as_u64) == Some(0) {
            return None;
        }
        step
    };
    step.retain(|_, v| !v.is_null());
    step.insert("callType".into(), json!("step"));
    step.insert("messageId".into(), json!(message_id));
    step.insert("state".into(), json!("STEP_SUCCESS"));
    step.insert("createdAt".into(), json!(created_at));
    step.insert("retries".into(), json!(0));
    step.insert("headers".into(), json!({}));
    Some(Value::Object(step))
}

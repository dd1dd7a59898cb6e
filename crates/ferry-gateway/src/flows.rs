//! Flow control: `GET /v2/flowControl[/{key}]`, the key's `pause`,
//! `resume`, `pin`, `unpin` and `resetRate` (alias `reset`), and
//! `GET /v2/globalParallelism`. Publishing with `Upstash-Flow-Control-Key`
//! creates and configures keys; here they are inspected and steered (see
//! `ferry_store::FlowKey` for how the limits are enforced).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use ferry_core::flow::{self, MAX_PERIOD};
use ferry_core::wire::{FlowControlInfo, GlobalParallelism};
use ferry_store::{FlowChange, FlowKey, Store};
use http::StatusCode;

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::query::QueryPairs;
use crate::{AppState, now_ms};

fn checked_key(key: &str) -> ApiResult<()> {
    flow::validate_key(key).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn not_found(key: &str) -> ApiError {
    ApiError::not_found(format!("flow control key {key:?} not found"))
}

fn shown(flow: FlowKey) -> FlowControlInfo {
    FlowControlInfo {
        flow_control_key: flow.key,
        wait_list_size: flow.waiting,
        parallelism_max: flow.parallelism_max,
        parallelism_count: flow.parallelism_count,
        rate_max: flow.rate_max,
        rate_count: flow.rate_count,
        rate_period: flow.rate_period_ms / 1000,
        rate_period_start: flow.rate_period_start_ms / 1000,
        is_paused: flow.paused,
        is_pinned_parallelism: flow.pinned_parallelism,
        is_pinned_rate: flow.pinned_rate,
    }
}

/// `GET /v2/flowControl`, optionally narrowed by `?search=` (a substring of
/// the key).
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Vec<FlowControlInfo>>> {
    let query = QueryPairs::parse(query.as_deref());
    query.reject_unknown(&["search"])?;
    let search = query.first("search").unwrap_or_default();
    let flows = state.store.flows(&tenant, now_ms()).await?;
    Ok(Json(
        flows
            .into_iter()
            .filter(|f| f.key.contains(search))
            .map(shown)
            .collect(),
    ))
}

pub(crate) async fn get<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(key): Path<String>,
) -> ApiResult<Json<FlowControlInfo>> {
    checked_key(&key)?;
    let flow = state
        .store
        .flow(&tenant, &key, now_ms())
        .await?
        .ok_or_else(|| not_found(&key))?;
    Ok(Json(shown(flow)))
}

/// `POST /v2/flowControl/{key}/{action}`.
pub(crate) async fn act<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path((key, action)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<StatusCode> {
    checked_key(&key)?;
    let query = QueryPairs::parse(query.as_deref());
    let change = match action.as_str() {
        "pause" => FlowChange::Pause,
        "resume" => FlowChange::Resume,
        "resetRate" | "reset" => FlowChange::ResetRate,
        "pin" => pin(&query)?,
        "unpin" => unpin(&query)?,
        other => {
            return Err(ApiError::not_found(format!(
                "unknown flow control action {other:?}: use pause, resume, pin, unpin or resetRate"
            )));
        }
    };
    if !matches!(change, FlowChange::Pin { .. } | FlowChange::Unpin { .. }) {
        query.reject_unknown(&[])?;
    }
    if state
        .store
        .change_flow(&tenant, &key, &change, now_ms())
        .await?
    {
        tracing::info!(flow.key = %key, action, "flow control key changed");
        Ok(StatusCode::OK)
    } else {
        Err(not_found(&key))
    }
}

fn pin(query: &QueryPairs) -> ApiResult<FlowChange> {
    query.reject_unknown(&["parallelism", "rate", "period"])?;
    let number = |name: &str| -> ApiResult<Option<u32>> {
        query
            .first(name)
            .filter(|v| !v.is_empty())
            .map(|v| match v.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(ApiError::bad_request(format!(
                    "invalid {name} {v:?}: expected a whole number of at least 1"
                ))),
            })
            .transpose()
    };
    let parallelism = number("parallelism")?;
    let rate = number("rate")?;
    // The SDKs send the period as whole seconds.
    let period_ms = number("period")?
        .map(|secs| u64::from(secs) * 1000)
        .map(|ms| {
            if ms > MAX_PERIOD.as_millis() as u64 {
                Err(ApiError::bad_request(
                    "period must be at most 604800 seconds (7 days)",
                ))
            } else {
                Ok(ms)
            }
        })
        .transpose()?;
    if parallelism.is_none() && rate.is_none() && period_ms.is_none() {
        return Err(ApiError::bad_request(
            "pin needs at least one of parallelism, rate or period",
        ));
    }
    Ok(FlowChange::Pin {
        parallelism,
        rate,
        period_ms,
    })
}

fn unpin(query: &QueryPairs) -> ApiResult<FlowChange> {
    query.reject_unknown(&["parallelism", "rate"])?;
    let flag = |name: &str| -> ApiResult<bool> {
        match query.first(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "invalid {name} {other:?}: expected true or false"
            ))),
        }
    };
    let (parallelism, rate) = (flag("parallelism")?, flag("rate")?);
    if !parallelism && !rate {
        return Err(ApiError::bad_request(
            "unpin needs parallelism=true, rate=true or both",
        ));
    }
    Ok(FlowChange::Unpin { parallelism, rate })
}

/// `GET /v2/globalParallelism`. Ferry sets no tenant-wide bound (each
/// deliverer bounds its own attempts, and flow-control keys bound theirs),
/// so the maximum is 0; the count is the attempts in flight now.
pub(crate) async fn global_parallelism<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(_tenant): Tenant,
) -> ApiResult<Json<GlobalParallelism>> {
    Ok(Json(GlobalParallelism {
        parallelism_max: 0,
        parallelism_count: state.store.in_flight().await?,
    }))
}

//! Queues: `POST /v2/enqueue/{queue}/{destination}` and the `/v2/queues`
//! routes. An enqueued message is validated and stored like a publish, but
//! waits in its queue until the queue's parallelism admits it (see
//! `ferry_store::Queue`), and then, when it has a flow-control key, for
//! room under the key. Enqueueing to a URL group enqueues one message per
//! endpoint, in endpoint order.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::Response;
use ferry_core::ids::validate_name;
use ferry_core::publish::{self, HEADER_DELAY, HEADER_NOT_BEFORE};
use ferry_core::wire::{self, QueueUpsert};
use ferry_store::{Queue, QueueSettings, Store};
use http::{HeaderMap, Request, StatusCode};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::publish::{PublishRequest, read_body, send, target};
use crate::{AppState, now_ms};

const ENQUEUE_PREFIX: &str = "/v2/enqueue/";
const MAX_BODY: usize = 64 * 1024;

pub(crate) fn checked_name(name: &str) -> ApiResult<()> {
    validate_name(name).map_err(|e| ApiError::bad_request(format!("invalid queue name: {e}")))
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("queue {name:?} not found"))
}

/// QStash refuses a delay on enqueue rather than ignoring it, and so does
/// Ferry: a queue delivers in order, which a delay would contradict.
pub(crate) fn refuse_delay(
    headers: &HeaderMap,
    query_config: &[(String, String)],
) -> ApiResult<()> {
    let delayed = [HEADER_DELAY, HEADER_NOT_BEFORE]
        .into_iter()
        .any(|name| headers.contains_key(name) || query_config.iter().any(|(n, _)| n == name));
    if delayed {
        return Err(ApiError::bad_request(
            "Upstash-Delay and Upstash-Not-Before are not supported on messages to a queue",
        ));
    }
    Ok(())
}

pub(crate) async fn enqueue<S: Store>(
    State(state): State<AppState<S>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Tenant(tenant): Tenant,
    request: Request<Body>,
) -> ApiResult<Response> {
    let (parts, body) = request.into_parts();
    let rest = parts.uri.path().strip_prefix(ENQUEUE_PREFIX).unwrap_or("");
    let Some((queue, _)) = rest.split_once('/') else {
        return Err(ApiError::bad_request(
            "missing destination: enqueue to /v2/enqueue/<queue>/<http(s) url>",
        ));
    };
    checked_name(queue)?;
    let queue = queue.to_owned();
    let target = target(&parts.uri, &format!("{ENQUEUE_PREFIX}{queue}/"))?;
    refuse_delay(&parts.headers, &target.query_config)?;
    let now = now_ms();
    let opts = publish::parse(&parts.headers, &target.query_config, &state.cfg.limits, now)?;
    let body = read_body(body, state.cfg.max_body_bytes).await?;
    let request = PublishRequest {
        tenant,
        destination: None,
        opts,
        body,
        caller_ip: Some(peer.ip().to_string()),
        now,
        topic: None,
        queue: Some(queue),
    };
    send(&state, target.kind, request).await
}

fn shown(queue: Queue) -> wire::Queue {
    wire::Queue {
        name: queue.name,
        parallelism: queue.parallelism,
        created_at: queue.created_at,
        updated_at: queue.updated_at,
        lag: queue.lag,
        paused: queue.paused,
    }
}

pub(crate) async fn upsert<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    request: Request<Body>,
) -> ApiResult<StatusCode> {
    let body = read_body(request.into_body(), MAX_BODY).await?;
    let parsed: QueueUpsert = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "body must be {{\"queueName\", \"parallelism\", \"paused\"}}: {e}"
        ))
    })?;
    checked_name(&parsed.queue_name)?;
    let parallelism = parsed.parallelism.unwrap_or(1);
    if parallelism == 0 {
        return Err(ApiError::bad_request("parallelism must be at least 1"));
    }
    let settings = QueueSettings {
        parallelism,
        paused: parsed.paused.unwrap_or(false),
    };
    state
        .store
        .upsert_queue(&tenant, &parsed.queue_name, settings, now_ms())
        .await?;
    Ok(StatusCode::OK)
}

pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
) -> ApiResult<Json<Vec<wire::Queue>>> {
    let queues = state.store.queues(&tenant).await?;
    Ok(Json(queues.into_iter().map(shown).collect()))
}

pub(crate) async fn get<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
) -> ApiResult<Json<wire::Queue>> {
    checked_name(&name)?;
    let queue = state.store.queue(&tenant, &name).await?;
    queue
        .map(|q| Json(shown(q)))
        .ok_or_else(|| not_found(&name))
}

pub(crate) async fn delete<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    checked_name(&name)?;
    if state.store.delete_queue(&tenant, &name, now_ms()).await? {
        Ok(StatusCode::OK)
    } else {
        Err(not_found(&name))
    }
}

pub(crate) async fn pause<S: Store>(
    state: State<AppState<S>>,
    tenant: Tenant,
    name: Path<String>,
) -> ApiResult<StatusCode> {
    set_paused(state, tenant, name, true).await
}

pub(crate) async fn resume<S: Store>(
    state: State<AppState<S>>,
    tenant: Tenant,
    name: Path<String>,
) -> ApiResult<StatusCode> {
    set_paused(state, tenant, name, false).await
}

async fn set_paused<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
    paused: bool,
) -> ApiResult<StatusCode> {
    checked_name(&name)?;
    if state
        .store
        .set_queue_paused(&tenant, &name, paused, now_ms())
        .await?
    {
        Ok(StatusCode::OK)
    } else {
        Err(not_found(&name))
    }
}

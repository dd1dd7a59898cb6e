//! `/v2/schedules`: create, read, pause, resume and delete schedules. The
//! deliverer fires their ticks; this module only validates and stores them.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use ferry_core::cron::CronSchedule;
use ferry_core::ids::{TenantId, validate_name};
use ferry_core::publish::{self, PublishOptions};
use ferry_core::signing::body_hash;
use ferry_core::wire;
use ferry_store::{Schedule, ScheduleDef, Store};
use http::{Method, Request, StatusCode};

use crate::auth::Tenant;
use crate::convert::{callback_fields, header_map};
use crate::error::{ApiError, ApiResult};
use crate::placement::shared_home;
use crate::publish::{TargetKind, find_group, read_body, target};
use crate::queues::{checked_name, refuse_delay};
use crate::{AppState, now_ms};

const SCHEDULES_PREFIX: &str = "/v2/schedules/";
const HEADER_CRON: &str = "upstash-cron";
const HEADER_SCHEDULE_ID: &str = "upstash-schedule-id";
const HEADER_QUEUE: &str = "upstash-queue-name";

/// Everything under `/v2/schedules/`. One route serves it all: the router
/// cannot hold both a catch-all destination and `{id}/pause` beside it.
/// Schedule ids never contain `/` and destinations always do, so the path
/// alone tells the operations apart.
pub(crate) async fn route<S: Store>(
    State(state): State<AppState<S>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Tenant(tenant): Tenant,
    request: Request<Body>,
) -> ApiResult<Response> {
    let rest = request
        .uri()
        .path()
        .strip_prefix(SCHEDULES_PREFIX)
        .unwrap_or("")
        .to_owned();
    let method = request.method().clone();
    let (id, action) = match rest.split_once('/') {
        Some((id, action @ ("pause" | "resume"))) => (id, Some(action)),
        Some(_) => return create(&state, peer, tenant, request).await,
        None => (rest.as_str(), None),
    };
    match (method, action) {
        (Method::GET, None) => get(&state, &tenant, id).await,
        (Method::DELETE, None) => delete(&state, &tenant, id).await,
        (Method::POST, None) => create(&state, peer, tenant, request).await,
        (Method::PATCH | Method::POST, Some("pause")) => pause(&state, &tenant, id).await,
        (Method::PATCH | Method::POST, Some(_)) => resume(&state, &tenant, id).await,
        (method, _) => Err(ApiError::Client(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {}{rest}", SCHEDULES_PREFIX),
        )),
    }
}

async fn create<S: Store>(
    state: &AppState<S>,
    peer: SocketAddr,
    tenant: TenantId,
    request: Request<Body>,
) -> ApiResult<Response> {
    let (mut parts, body) = request.into_parts();
    let target = target(&parts.uri, SCHEDULES_PREFIX)?;
    let (destination, url_group) = match target.kind {
        TargetKind::Url(destination) => (destination.to_string(), None),
        // The group must exist now; each tick fans out to its endpoints as
        // they are then.
        TargetKind::Group(name) => {
            find_group(state, &tenant, &name).await?;
            (name.clone(), Some(name))
        }
    };
    let queue = header_text(parts.headers.remove(HEADER_QUEUE))?;
    if let Some(queue) = &queue {
        checked_name(queue)?;
        // As on enqueue: a queue delivers in order, which a delay would
        // contradict.
        refuse_delay(&parts.headers, &target.query_config)?;
    }
    let cron_text = header_text(parts.headers.remove(HEADER_CRON))?.unwrap_or_default();
    let cron = CronSchedule::parse(&cron_text, state.cfg.allow_second_cron)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let id = match header_text(parts.headers.remove(HEADER_SCHEDULE_ID))? {
        Some(id) => {
            validate_name(&id).map_err(|e| ApiError::bad_request(e.to_string()))?;
            id
        }
        None => format!("scd_{}", uuid_hex()),
    };
    let now = now_ms();
    let opts = publish::parse(&parts.headers, &target.query_config, &state.cfg.limits, now)?;
    if let (Some(queue), Some(flow)) = (&queue, &opts.flow_control) {
        // The store places the schedule with its queue; the key must be there.
        shared_home(state, &tenant, queue, &flow.key).await?;
    }
    let body = read_body(body, state.cfg.max_body_bytes).await?;
    let created_at = match state.store.schedule(&tenant, &id).await? {
        Some(existing) => existing.def.created_at,
        None => now,
    };
    let mut def = definition(
        &tenant,
        &id,
        cron.as_str(),
        destination,
        opts,
        Some(peer.ip().to_string()),
        body_hash(&body),
        (created_at, now),
    );
    def.queue = queue;
    def.url_group = url_group;
    let next = next_tick(&cron, now)?;
    state.store.upsert_schedule(&def, &body, next).await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::ScheduleCreated { schedule_id: id }),
    )
        .into_response())
}

/// `(created_at, now)`: a replaced schedule keeps its creation time.
// Each argument is one part of the request; a struct gathering them would
// only rename the same fields.
#[allow(clippy::too_many_arguments)]
fn definition(
    tenant: &TenantId,
    id: &str,
    cron: &str,
    url: String,
    opts: PublishOptions,
    caller_ip: Option<String>,
    body_hash: String,
    (created_at, now): (u64, u64),
) -> ScheduleDef {
    ScheduleDef {
        id: id.to_owned(),
        tenant: tenant.clone(),
        cron: cron.to_owned(),
        created_at,
        url,
        method: opts.method,
        headers: opts.headers,
        retries: opts.retries,
        retry_delay: opts.retry_delay,
        timeout_ms: opts
            .timeout
            .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        callback: opts.callback,
        failure_callback: opts.failure_callback,
        labels: opts.labels,
        caller_ip,
        delay_ms: opts.not_before_ms.map_or(0, |nb| nb.saturating_sub(now)),
        redact: opts.redact,
        body_hash,
        url_group: None,
        queue: None,
        flow_control: opts.flow_control,
    }
}

fn next_tick(cron: &CronSchedule, now: u64) -> ApiResult<u64> {
    cron.next_after(now).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid cron expression {:?}: it never fires again",
            cron.as_str()
        ))
    })
}

fn header_text(value: Option<http::HeaderValue>) -> ApiResult<Option<String>> {
    value
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| ApiError::bad_request("schedule header is not visible ASCII"))
        })
        .transpose()
}

fn uuid_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
) -> ApiResult<Response> {
    let mut shown = Vec::new();
    for schedule in state.store.schedules(&tenant).await? {
        shown.push(render(&state, &tenant, schedule).await?);
    }
    Ok(Json(shown).into_response())
}

async fn get<S: Store>(state: &AppState<S>, tenant: &TenantId, id: &str) -> ApiResult<Response> {
    let schedule = find(state, tenant, id).await?;
    Ok(Json(render(state, tenant, schedule).await?).into_response())
}

async fn delete<S: Store>(state: &AppState<S>, tenant: &TenantId, id: &str) -> ApiResult<Response> {
    if state.store.delete_schedule(tenant, id).await? {
        Ok(StatusCode::OK.into_response())
    } else {
        Err(missing(id))
    }
}

async fn pause<S: Store>(state: &AppState<S>, tenant: &TenantId, id: &str) -> ApiResult<Response> {
    if state.store.set_schedule_paused(tenant, id, true, 0).await? {
        Ok(StatusCode::OK.into_response())
    } else {
        Err(missing(id))
    }
}

/// Resumes from now: ticks missed while paused are not fired.
async fn resume<S: Store>(state: &AppState<S>, tenant: &TenantId, id: &str) -> ApiResult<Response> {
    let schedule = find(state, tenant, id).await?;
    let cron = CronSchedule::parse(&schedule.def.cron, true)
        .map_err(|e| ApiError::Internal(format!("stored schedule {id}: {e}")))?;
    let next = next_tick(&cron, now_ms())?;
    if state
        .store
        .set_schedule_paused(tenant, id, false, next)
        .await?
    {
        Ok(StatusCode::OK.into_response())
    } else {
        Err(missing(id))
    }
}

async fn find<S: Store>(state: &AppState<S>, tenant: &TenantId, id: &str) -> ApiResult<Schedule> {
    state
        .store
        .schedule(tenant, id)
        .await?
        .ok_or_else(|| missing(id))
}

fn missing(id: &str) -> ApiError {
    ApiError::not_found(format!("schedule {id:?} not found"))
}

async fn render<S: Store>(
    state: &AppState<S>,
    tenant: &TenantId,
    schedule: Schedule,
) -> ApiResult<wire::Schedule> {
    let mut states = BTreeMap::new();
    for id in &schedule.last_ids {
        let shown = match state.store.message(tenant, id).await? {
            Some(m) if m.dead_at.is_some() => "FAIL",
            Some(_) => "IN_PROGRESS",
            None => "SUCCESS",
        };
        states.insert(id.to_string(), shown.to_owned());
    }
    let def = schedule.def;
    let (body, body_base64) = wire::body_fields(&schedule.body);
    let (callback, callback_header) = callback_fields(def.callback.as_ref());
    let (failure_callback, failure_callback_header) =
        callback_fields(def.failure_callback.as_ref());
    Ok(wire::Schedule {
        schedule_id: def.id,
        cron: def.cron,
        destination: def.url,
        created_at: def.created_at,
        method: def.method,
        retries: def.retries,
        header: header_map(&def.headers),
        body,
        body_base64,
        delay: (def.delay_ms > 0).then_some(def.delay_ms / 1000),
        timeout: def.timeout_ms.map(|t| t / 1000),
        callback,
        failure_callback,
        callback_header,
        failure_callback_header,
        caller_ip: def.caller_ip,
        is_paused: schedule.paused,
        retry_delay_expression: def.retry_delay.map(|e| e.to_string()),
        label: def.labels.first().cloned(),
        labels: def.labels,
        last_schedule_time: schedule.last_time,
        next_schedule_time: schedule.next_due,
        last_schedule_states: states,
        queue_name: def.queue,
        flow_control_key: def.flow_control.as_ref().map(|f| f.key.clone()),
        parallelism: def.flow_control.as_ref().and_then(|f| f.parallelism),
        rate: def.flow_control.as_ref().and_then(|f| f.rate),
        period: def.flow_control.as_ref().map(|f| f.period_ms / 1000),
    })
}

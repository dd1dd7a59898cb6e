//! Upstash Workflow events: `context.waitForEvent` / `waitForWebhook`
//! (`POST /v2/wait/{eventId}`), `notify` (`POST /v2/notify/{eventId}` to
//! every waiter of the tenant, `POST /v2/notify/{runId}/{eventId}` to one
//! run, with lookback), `getWaiters` (`GET /v2/waiters/{eventId}`) and the
//! webhooks of `context.createWebhook` (`/v2/workflows/hooks/...`).
//!
//! A wait is answered by a step message of its run, built here like any
//! publish: from the wait request's own `Upstash-*` headers with a notify,
//! from its `timeoutHeaders` when the timeout passes. The timeout message
//! is built and stored when the wait is registered, due at the deadline,
//! so the timer is the store's delayed set and survives restarts; the
//! store decides, in one script per transition, which of the two answers a
//! wait (see `ferry_store::waiters`).
//!
//! Choices where the contract is not confirmed:
//! * a notify answers 200 with one `NotifyResponse` per resolved waiter
//!   (`[]` for none), also per run, where the JS SDK's types say an array;
//!   `deadline` is Unix seconds;
//! * a lookback event is kept until a wait for it arrives or its run ends
//!   (at most [`MAX_LOOKBACK_EVENTS`] per run); a notify to every waiter
//!   never stores one;
//! * a run waits once per event: a repeated registration keeps the first;
//! * a wait's timeout is bounded by `max_delay`, like a delay.
//!
//! Webhook calls carry no token: the tenant is the hook URL's user id (a
//! tenant that has a token), and the call reaches nothing but the lookback
//! notify of one run for one event id of the form `createWebhook` makes
//! (`evt_` and 15 random characters), with its body bounded like any body.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ferry_core::destination;
use ferry_core::duration::parse_duration;
use ferry_core::ids::TenantId;
use ferry_core::publish;
use ferry_core::workflow::{base64, validate_event_id, validate_run_id};
use ferry_store::{
    EventStored, MAX_LOOKBACK_EVENTS, NewWaiter, Resolution, Resolved, ResolvedBy, Store,
    WaitOutcome, Waiter,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::publish::{PublishRequest, read_body};
use crate::{AppState, now_ms, workflows};

/// The timeout of a wait that names none (the SDKs' default too).
const DEFAULT_TIMEOUT: &str = "7d";
/// How often a notify retries a waiter that changed under it.
const ATTEMPTS: usize = 3;

/// Body of `POST /v2/wait/{eventId}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaitBody {
    url: String,
    #[serde(default)]
    timeout: Option<Value>,
    #[serde(default)]
    timeout_url: Option<String>,
    #[serde(default)]
    timeout_headers: BTreeMap<String, HeaderValues>,
    step: Map<String, Value>,
}

/// A header in a wait body: one value or several (the SDK sends arrays).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum HeaderValues {
    One(String),
    Many(Vec<String>),
}

impl HeaderValues {
    fn first(&self) -> Option<&str> {
        match self {
            Self::One(v) => Some(v),
            Self::Many(vs) => vs.first().map(String::as_str),
        }
    }
}

/// What a waiter keeps to answer its wait and to be listed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaiterData {
    url: String,
    /// Unix seconds.
    deadline: u64,
    headers: Vec<(String, String)>,
    timeout_url: String,
    timeout_headers: Vec<(String, String)>,
    step: Map<String, Value>,
    timeout: String,
}

impl WaiterData {
    /// The waiter as `getWaiters` and `notify` show it.
    fn wire(&self, run_id: &str) -> Value {
        json!({
            "url": self.url,
            "deadline": self.deadline,
            "headers": header_object(&self.headers),
            "timeoutUrl": self.timeout_url,
            "timeoutHeaders": header_object(&self.timeout_headers),
            "workflowRunId": run_id,
        })
    }

    fn of(waiter: &Waiter) -> ApiResult<Self> {
        serde_json::from_str(&waiter.data)
            .map_err(|e| ApiError::Internal(format!("waiter data of {}: {e}", waiter.run_id)))
    }
}

fn header_object(headers: &[(String, String)]) -> Value {
    let mut object = Map::new();
    for (name, value) in headers {
        object.insert(name.clone(), json!([value]));
    }
    Value::Object(object)
}

/// A refusal of a wait: 412, since the SDK reads a 400 as "run ended".
fn refused(message: impl Into<String>) -> ApiError {
    ApiError::Client(StatusCode::PRECONDITION_FAILED, message.into())
}

fn inactive(run_id: &str) -> ApiError {
    ApiError::bad_request(format!("workflow run {run_id} is not active"))
}

/// `POST /v2/wait/{eventId}`: registers a wait of the run the request's
/// headers name, or answers it at once with a lookback event.
pub(crate) async fn wait<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(event_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    validate_event_id(&event_id).map_err(refused)?;
    let body = read_body(body, state.cfg.max_body_bytes).await?;
    let body: WaitBody =
        serde_json::from_slice(&body).map_err(|e| refused(format!("invalid wait body: {e}")))?;
    let now = now_ms();
    let own = upstash_headers(&headers);
    let run_id = run_named(&state, &own, now)?;
    let timeout = match &body.timeout {
        None | Some(Value::Null) => DEFAULT_TIMEOUT.to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => format!("{n}s"),
        Some(other) => return Err(refused(format!("invalid wait timeout {other}"))),
    };
    let after = parse_duration(&timeout).map_err(|e| refused(e.to_string()))?;
    if after > state.cfg.limits.max_delay {
        return Err(refused(format!(
            "wait timeout {timeout} is longer than the maximum delay of {}s",
            state.cfg.limits.max_delay.as_secs()
        )));
    }
    let deadline_ms = now.saturating_add(u64::try_from(after.as_millis()).unwrap_or(u64::MAX));
    let data = WaiterData {
        timeout_url: body.timeout_url.clone().unwrap_or_else(|| body.url.clone()),
        timeout_headers: body
            .timeout_headers
            .iter()
            .filter_map(|(name, values)| Some((name.clone(), values.first()?.to_owned())))
            .collect(),
        url: body.url,
        deadline: deadline_ms / 1000,
        headers: own,
        step: body.step,
        timeout,
    };
    let on_timeout =
        timeout_message(&state, &tenant, &run_id, &event_id, &data, deadline_ms).await?;
    let waiter = Waiter {
        run_id: run_id.clone(),
        event_id: event_id.clone(),
        timeout_message: on_timeout.id.clone(),
        data: serde_json::to_string(&data).map_err(|e| ApiError::Internal(e.to_string()))?,
    };
    let outcome = state
        .store
        .workflow_wait(&NewWaiter {
            tenant: tenant.clone(),
            waiter,
            timeout: on_timeout,
        })
        .await?;
    match outcome {
        WaitOutcome::Waiting | WaitOutcome::AlreadyWaiting => {}
        WaitOutcome::Lookback(event) => {
            let resolution = resolution(
                &state,
                &tenant,
                &data,
                &event_id,
                &event,
                ResolvedBy::Lookback,
            )
            .await?;
            match state
                .store
                .workflow_resolve(&resolution, state.cfg.workflow_max_run_bytes)
                .await?
            {
                // Another wait took the event first: this one waits.
                Resolved::Gone => {
                    return Err(refused(
                        "the lookback event was taken by another wait; retry",
                    ));
                }
                other => check(&state, other, &run_id)?,
            }
        }
        WaitOutcome::Inactive => return Err(inactive(&run_id)),
        WaitOutcome::BacklogFull(bound) => {
            return Err(crate::publish::backlog_full(&state.cfg, bound));
        }
    }
    tracing::info!(workflow.run = %run_id, event = %event_id, "workflow waits for an event");
    Ok((StatusCode::OK, Json(json!({}))).into_response())
}

/// The run the wait request's workflow headers name.
fn run_named<S: Store>(
    state: &AppState<S>,
    headers: &[(String, String)],
    now: u64,
) -> ApiResult<String> {
    let map = header_map(headers)?;
    let opts = publish::parse(&map, &[], &state.cfg.limits, now)
        .map_err(|e| workflows::parse_error(&map, e))?;
    opts.workflow
        .map(|wf| wf.run_id)
        .ok_or_else(|| refused("a wait must name its run (Upstash-Workflow-RunId)"))
}

/// The message that answers the wait when its timeout passes: a step of
/// the run due at the deadline, published as its `timeoutHeaders` say.
async fn timeout_message<S: Store>(
    state: &AppState<S>,
    tenant: &TenantId,
    run_id: &str,
    event_id: &str,
    data: &WaiterData,
    deadline_ms: u64,
) -> ApiResult<ferry_store::NewMessage> {
    let body = step_body(&data.step, event_id, &data.timeout, None);
    let mut message = prepare(
        state,
        tenant,
        &data.timeout_headers,
        &data.timeout_url,
        body,
        Some(deadline_ms),
    )
    .await?;
    let workflow = message
        .spec
        .workflow
        .as_mut()
        .filter(|w| w.run_id == run_id)
        .ok_or_else(|| refused("timeoutHeaders must name the waiting run"))?;
    workflow.wait_event = Some(event_id.to_owned());
    Ok(message)
}

/// A step message of the run, published with `headers` to `url`.
async fn prepare<S: Store>(
    state: &AppState<S>,
    tenant: &TenantId,
    headers: &[(String, String)],
    url: &str,
    body: Vec<u8>,
    not_before_ms: Option<u64>,
) -> ApiResult<ferry_store::NewMessage> {
    let map = header_map(headers)?;
    let now = now_ms();
    let mut opts = publish::parse(&map, &[], &state.cfg.limits, now)
        .map_err(|e| workflows::parse_error(&map, e))?;
    if opts.workflow.is_none() {
        return Err(refused("a wait's headers must name its run"));
    }
    if not_before_ms.is_some() {
        opts.not_before_ms = not_before_ms;
    }
    let destination = destination::parse(url).map_err(|e| refused(e.to_string()))?;
    let request = PublishRequest {
        tenant: tenant.clone(),
        destination: Some(destination),
        opts,
        body: Bytes::from(body),
        caller_ip: None,
        now,
        topic: None,
        queue: None,
    };
    Ok(crate::publish::prepare(state, request)
        .await?
        .into_message())
}

/// The step a wait's answer carries: the waiting step plus the event id,
/// the timeout, whether it passed, and the event data (base64) if not.
fn step_body(
    step: &Map<String, Value>,
    event_id: &str,
    timeout: &str,
    out: Option<&[u8]>,
) -> Vec<u8> {
    let mut step = step.clone();
    step.insert("waitEventId".into(), json!(event_id));
    step.insert("timeout".into(), json!(timeout));
    step.insert("waitTimeout".into(), json!(out.is_none()));
    if let Some(out) = out {
        step.insert("out".into(), json!(base64(out)));
    }
    serde_json::to_vec(&step).unwrap_or_default()
}

/// A wait's answer with `event`.
async fn resolution<S: Store>(
    state: &AppState<S>,
    tenant: &TenantId,
    data: &WaiterData,
    event_id: &str,
    event: &[u8],
    by: ResolvedBy,
) -> ApiResult<Resolution> {
    let body = step_body(&data.step, event_id, &data.timeout, Some(event));
    let message = prepare(state, tenant, &data.headers, &data.url, body, None).await?;
    Ok(Resolution {
        event_id: event_id.to_owned(),
        by,
        message,
    })
}

/// Turns what resolving did into the caller's answer: `Ok` for resolved,
/// an error naming the reason otherwise.
fn check<S: Store>(state: &AppState<S>, resolved: Resolved, run_id: &str) -> ApiResult<()> {
    match resolved {
        Resolved::Resolved => Ok(()),
        Resolved::Gone => Err(ApiError::Client(
            StatusCode::CONFLICT,
            "the waiter was resolved by someone else".into(),
        )),
        Resolved::Inactive => Err(inactive(run_id)),
        Resolved::TooLarge => Err(refused(format!(
            "the workflow run's steps would exceed {} bytes",
            state.cfg.workflow_max_run_bytes
        ))),
        Resolved::BacklogFull(bound) => Err(crate::publish::backlog_full(&state.cfg, bound)),
    }
}

/// Notifies one waiter: its `NotifyResponse`, `None` when it was gone
/// (resolved by someone else, timed out, or its run ended).
async fn notify_waiter<S: Store>(
    state: &AppState<S>,
    tenant: &TenantId,
    waiter: &Waiter,
    event: &[u8],
) -> ApiResult<Option<Value>> {
    let data = WaiterData::of(waiter)?;
    let by = ResolvedBy::Waiter(waiter.timeout_message.clone());
    let resolution = match resolution(state, tenant, &data, &waiter.event_id, event, by).await {
        Ok(resolution) => resolution,
        // The run ended since the waiter was read.
        Err(ApiError::Client(StatusCode::BAD_REQUEST, _)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let resolved = state
        .store
        .workflow_resolve(&resolution, state.cfg.workflow_max_run_bytes)
        .await?;
    let error = match check(state, resolved, &waiter.run_id) {
        Ok(()) => String::new(),
        Err(ApiError::Client(StatusCode::CONFLICT | StatusCode::BAD_REQUEST, _)) => {
            return Ok(None);
        }
        Err(ApiError::Client(_, message) | ApiError::Busy { message, .. }) => message,
        Err(e) => return Err(e),
    };
    tracing::info!(workflow.run = %waiter.run_id, event = %waiter.event_id, "workflow wait notified");
    Ok(Some(json!({
        "waiter": data.wire(&waiter.run_id),
        "messageId": resolution.message.id.as_str(),
        "workflowRunId": waiter.run_id,
        "error": error,
    })))
}

/// `POST /v2/notify/{eventId}`: answers every waiter of the event in the
/// tenant, in any run; stores nothing when nobody waits.
pub(crate) async fn notify<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(event_id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    validate_event_id(&event_id).map_err(ApiError::bad_request)?;
    let event = read_body(body, state.cfg.max_body_bytes).await?;
    let mut answered = Vec::new();
    for waiter in state.store.workflow_waiters(&tenant, &event_id).await? {
        if let Some(response) = notify_waiter(&state, &tenant, &waiter, &event).await? {
            answered.push(response);
        }
    }
    Ok(Json(answered).into_response())
}

/// `POST /v2/notify/{runId}/{eventId}`: answers the run's waiter of the
/// event, or keeps the event until the run waits for it (lookback).
pub(crate) async fn notify_run<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path((run_id, event_id)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    validate_run_id(&run_id).map_err(ApiError::bad_request)?;
    validate_event_id(&event_id).map_err(ApiError::bad_request)?;
    let event = read_body(body, state.cfg.max_body_bytes).await?;
    let answered = lookback_notify(&state, &tenant, &run_id, &event_id, &event)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("workflow run {run_id} is not active")))?;
    Ok(Json(answered).into_response())
}

/// Notifies the run's waiter of the event or stores the event for it:
/// the notify responses (none when stored), `None` when the run is not
/// active.
async fn lookback_notify<S: Store>(
    state: &AppState<S>,
    tenant: &TenantId,
    run_id: &str,
    event_id: &str,
    event: &Bytes,
) -> ApiResult<Option<Vec<Value>>> {
    for _ in 0..ATTEMPTS {
        let stored = state
            .store
            .workflow_store_event(tenant, run_id, event_id, event)
            .await?;
        match stored {
            EventStored::Stored => return Ok(Some(Vec::new())),
            EventStored::Inactive => return Ok(None),
            EventStored::Full => {
                return Err(ApiError::Client(
                    StatusCode::CONFLICT,
                    format!(
                        "workflow run {run_id} holds {MAX_LOOKBACK_EVENTS} events nobody waits for yet"
                    ),
                ));
            }
            EventStored::Waiting(waiter) => {
                if let Some(response) = notify_waiter(state, tenant, &waiter, event).await? {
                    return Ok(Some(vec![response]));
                }
            }
        }
    }
    Err(ApiError::Client(
        StatusCode::CONFLICT,
        "the run's waiter kept changing; retry".into(),
    ))
}

/// `GET /v2/waiters/{eventId}`: the tenant's waiters of the event.
pub(crate) async fn waiters<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(event_id): Path<String>,
) -> ApiResult<Response> {
    validate_event_id(&event_id).map_err(ApiError::bad_request)?;
    let mut listed = Vec::new();
    for waiter in state.store.workflow_waiters(&tenant, &event_id).await? {
        listed.push(WaiterData::of(&waiter)?.wire(&waiter.run_id));
    }
    Ok(Json(listed).into_response())
}

/// Whether `id` has the form of the event ids `createWebhook` makes.
fn is_webhook_event(id: &str) -> bool {
    id.strip_prefix("evt_").is_some_and(|rest| {
        rest.len() == 15
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// `ANY /v2/workflows/hooks/{userId}/{runId}/{eventId}`: a third party
/// calls a run's webhook, without a token. The call becomes a lookback
/// notify of the run with the request as its event (see the module doc).
pub(crate) async fn hook<S: Store>(
    State(state): State<AppState<S>>,
    Path((user_id, run_id, event_id)): Path<(String, String, String)>,
    method: Method,
    uri: http::Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let not_found = || ApiError::not_found("no such webhook");
    let tenant = TenantId::new(&user_id)
        .ok()
        .filter(|t| state.tokens.has_tenant(t))
        .ok_or_else(not_found)?;
    if validate_run_id(&run_id).is_err() || !is_webhook_event(&event_id) {
        return Err(not_found());
    }
    let body = read_body(body, state.cfg.max_body_bytes).await?;
    let event = hook_event(&method, &uri, &headers, &body);
    if event.len() > state.cfg.max_body_bytes {
        return Err(ApiError::Client(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the webhook request is larger than the {}-byte limit",
                state.cfg.max_body_bytes
            ),
        ));
    }
    let answered = lookback_notify(&state, &tenant, &run_id, &event_id, &Bytes::from(event))
        .await?
        .ok_or_else(not_found)?;
    tracing::info!(workflow.run = %run_id, event = %event_id, resolved = answered.len(), "workflow webhook called");
    Ok((StatusCode::OK, Json(json!({}))).into_response())
}

/// The event a webhook call becomes, as `waitForWebhook` rebuilds the
/// request from it: method, scheme and host as the caller addressed them,
/// path and query, headers, and the body in base64.
fn hook_event(method: &Method, uri: &http::Uri, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let proto = text("x-forwarded-proto").unwrap_or("http");
    let host = text("x-forwarded-host")
        .or_else(|| text("host"))
        .unwrap_or("");
    let mut header: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if let Ok(value) = value.to_str() {
            header
                .entry(canonical(name.as_str()))
                .or_default()
                .push(value.to_owned());
        }
    }
    let url = uri.path_and_query().map_or("/", |p| p.as_str());
    let event = json!({
        "method": method.as_str(),
        "proto": proto,
        "host": host,
        "url": url,
        "header": header,
        "body": base64(body),
    });
    serde_json::to_vec(&event).unwrap_or_default()
}

/// `content-type` → `Content-Type`, as Go names headers.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The `Upstash-*` headers and `Content-Type` of a request: what a wait's
/// answer is published with (never its token).
fn upstash_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            name.starts_with("upstash-") || name == "content-type"
        })
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect()
}

/// Headers as a map, later names replacing earlier ones case-insensitively
/// (the SDK sends the run id twice, in two spellings).
fn header_map(headers: &[(String, String)]) -> ApiResult<HeaderMap> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| refused(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|_| refused(format!("invalid value of header {name}")))?;
        map.insert(name, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_event_ids_have_the_sdk_form() {
        assert!(is_webhook_event("evt_abcdefghij12345"));
        assert!(is_webhook_event("evt_A-_defghij12345"));
        assert!(!is_webhook_event("evt_short"));
        assert!(!is_webhook_event("order-42"));
        assert!(!is_webhook_event("evt_abcdefghij1234/"));
    }

    #[test]
    fn answers_carry_the_step_and_the_event_in_base64() {
        let mut step = Map::new();
        step.insert("stepId".into(), json!(3));
        let notified: Value =
            serde_json::from_slice(&step_body(&step, "e1", "30s", Some(&b"{\"paid\":42}"[..])))
                .unwrap();
        assert_eq!(
            notified,
            json!({"stepId":3,"waitEventId":"e1","timeout":"30s","waitTimeout":false,"out":"eyJwYWlkIjo0Mn0="})
        );
        let timed_out: Value = serde_json::from_slice(&step_body(&step, "e1", "1s", None)).unwrap();
        assert_eq!(
            timed_out,
            json!({"stepId":3,"waitEventId":"e1","timeout":"1s","waitTimeout":true})
        );
        assert_eq!(canonical("x-forwarded-for"), "X-Forwarded-For");
    }
}

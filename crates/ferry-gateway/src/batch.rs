//! `POST /v2/batch`: many publishes in one request (QStash §3.3).
//!
//! Every item is validated and placed before anything is stored, so a
//! batch with one bad item stores nothing and the error names the item.
//! Items are then stored one by one in request order, and the answer holds
//! one result per item: a message, or for a URL group one per endpoint.
//!
//! QStash documents that an item the store refuses gets an error object in
//! the answer while the others are sent. Its shape is undocumented, and the
//! Python SDK reads `messageId` from every object, so such an answer makes
//! it crash. Ferry answers a refusal at store time (a full backlog, storage
//! unavailable) with the refusal's own status (429, 503) for the whole
//! request instead, naming the refused item and the messages stored before
//! it; later items are not tried. Both SDKs then raise their usual error.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ferry_core::ids::TenantId;
use ferry_core::publish;
use ferry_core::wire::PublishResponse;
use ferry_store::Store;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use serde::{Deserialize, Serialize};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::publish::{
    Prepared, Progress, PublishRequest, TargetKind, fan_out, find_group, prepare, read_body,
    target_from_destination,
};
use crate::queues::{checked_name, refuse_delay};
use crate::{AppState, now_ms};

/// Most items in one batch.
const MAX_ITEMS: usize = 1_000;

/// One item as the SDKs send it: JS lower-cases header names, Python sends
/// `"queue": null` and may send `"body": null`. An item with a queue is
/// enqueued to it.
#[derive(Debug, Deserialize)]
struct Item {
    destination: String,
    #[serde(default)]
    headers: HashMap<String, String>,
    /// A string is the body as it is; any other JSON value (the workflow
    /// SDK sends a `context.call` body as an object) is the body as
    /// compact JSON text.
    #[serde(default)]
    body: Option<serde_json::Value>,
    #[serde(default)]
    queue: Option<String>,
}

/// The bytes of an item's body (see [`Item::body`]).
fn item_body(body: Option<serde_json::Value>) -> Bytes {
    match body {
        None | Some(serde_json::Value::Null) => Bytes::new(),
        Some(serde_json::Value::String(text)) => Bytes::from(text),
        Some(value) => Bytes::from(value.to_string()),
    }
}

/// An item ready to store: one message, or one per endpoint of a group.
struct Planned {
    messages: Vec<Prepared>,
    to_group: bool,
}

/// One item's answer.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum ItemResult {
    Published(PublishResponse),
    /// A URL group item: one answer per endpoint, as a nested array.
    FannedOut(Vec<PublishResponse>),
}

pub(crate) async fn handle<S: Store>(
    State(state): State<AppState<S>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Tenant(tenant): Tenant,
    request: Request<Body>,
) -> ApiResult<Response> {
    // Refused from its Content-Length before a byte is read, or as soon as
    // a streamed body passes the limit: a batch is held whole while it is
    // checked (about three times its size), so this bounds its memory.
    let body = read_body(request.into_body(), state.cfg.max_batch_bytes).await?;
    let items: Vec<Item> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "body must be a JSON array of {{\"destination\", \"headers\", \"body\"}}: {e}"
        ))
    })?;
    if items.len() > MAX_ITEMS {
        return Err(ApiError::bad_request(format!(
            "a batch holds at most {MAX_ITEMS} messages, got {}",
            items.len()
        )));
    }
    let origin = Origin {
        tenant,
        caller_ip: peer.ip().to_string(),
        now: now_ms(),
    };
    let mut planned = Vec::with_capacity(items.len());
    for (idx, item) in items.into_iter().enumerate() {
        let plan = plan(&state, &origin, item)
            .await
            .map_err(|e| in_item(idx, e))?;
        planned.push(plan);
    }
    let mut progress = Progress::default();
    let mut results = Vec::with_capacity(planned.len());
    for (idx, plan) in planned.into_iter().enumerate() {
        let mut stored = progress
            .store_all(&state, plan.messages)
            .await
            .map_err(|e| progress.interrupted(in_item(idx, e)))?;
        results.push(match stored.pop() {
            Some(one) if !plan.to_group => ItemResult::Published(one),
            last => ItemResult::FannedOut(stored.into_iter().chain(last).collect()),
        });
    }
    Ok((StatusCode::CREATED, Json(results)).into_response())
}

/// Who sent the batch, and when: the same for every item.
struct Origin {
    tenant: TenantId,
    caller_ip: String,
    now: u64,
}

/// Validates an item and prepares its message(s), storing nothing.
async fn plan<S: Store>(state: &AppState<S>, origin: &Origin, item: Item) -> ApiResult<Planned> {
    let target = target_from_destination(&item.destination)?;
    let headers = header_map(&item.headers, state.cfg.max_headers)?;
    if let Some(queue) = &item.queue {
        checked_name(queue)?;
        refuse_delay(&headers, &target.query_config)?;
    }
    let opts = publish::parse(
        &headers,
        &target.query_config,
        &state.cfg.limits,
        origin.now,
    )
    .map_err(|e| crate::workflows::parse_error(&headers, e))?;
    let body = item_body(item.body);
    if body.len() > state.cfg.max_body_bytes {
        return Err(ApiError::Client(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "body is larger than the {}-byte limit",
                state.cfg.max_body_bytes
            ),
        ));
    }
    let request = PublishRequest {
        tenant: origin.tenant.clone(),
        destination: None,
        opts,
        body,
        caller_ip: Some(origin.caller_ip.clone()),
        now: origin.now,
        topic: None,
        queue: item.queue,
    };
    Ok(match target.kind {
        TargetKind::Url(destination) => {
            let request = PublishRequest {
                destination: Some(destination),
                ..request
            };
            Planned {
                messages: vec![prepare(state, request).await?],
                to_group: false,
            }
        }
        TargetKind::Group(name) => {
            let group = find_group(state, &origin.tenant, &name).await?;
            Planned {
                messages: fan_out(state, request, &group).await?,
                to_group: true,
            }
        }
    })
}

/// The item's headers. Names and values are checked as HTTP would: a value
/// with a line break or another control character is refused, so nothing
/// can be smuggled into a delivery's headers.
///
/// An item may carry no more headers than a request (`max`): the count is
/// checked before the map is built, because a `HeaderMap` panics when asked
/// for more than about 24,000 entries.
fn header_map(headers: &HashMap<String, String>, max: usize) -> ApiResult<HeaderMap> {
    if headers.len() > max {
        return Err(ApiError::Client(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("too many headers: {} (at most {max})", headers.len()),
        ));
    }
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ApiError::bad_request(format!("invalid header name {name:?}")))?;
        let header_value = HeaderValue::from_str(value)
            .map_err(|_| ApiError::bad_request(format!("invalid value of header {name}")))?;
        map.append(header_name, header_value);
    }
    Ok(map)
}

/// The same error, saying which item it is about.
fn in_item(idx: usize, e: ApiError) -> ApiError {
    match e {
        ApiError::Client(status, message) => {
            ApiError::Client(status, format!("batch item {idx}: {message}"))
        }
        ApiError::Busy { message, limit } => ApiError::Busy {
            message: format!("batch item {idx}: {message}"),
            limit,
        },
        other => other,
    }
}

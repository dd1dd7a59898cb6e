//! `POST /v2/batch`: many publishes in one request (QStash §3.3).
//!
//! Every item is validated before anything is stored, so a batch with one
//! bad item stores nothing and the error names the item. Items are then
//! stored one by one in request order; if the store refuses one (backlog
//! full, store down), that item's answer is an `{"error"}` object and the
//! others keep theirs, as QStash documents.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ferry_core::ids::TenantId;
use ferry_core::publish;
use ferry_core::wire::ErrorBody;
use ferry_store::{Store, UrlGroup};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use serde::{Deserialize, Serialize};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::publish::{
    PublishRequest, TargetKind, fan_out, find_group, publish_one, read_body,
    target_from_destination,
};
use crate::queues::{checked_name, refuse_delay};
use crate::{AppState, now_ms};

/// Most items in one batch.
const MAX_ITEMS: usize = 1_000;
/// A batch may weigh this many times the single-message body limit.
const BODY_LIMIT_FACTOR: usize = 10;

/// One item as the SDKs send it: JS lower-cases header names, Python sends
/// `"queue": null` and may send `"body": null`. An item with a queue is
/// enqueued to it.
#[derive(Debug, Deserialize)]
struct Item {
    destination: String,
    #[serde(default)]
    headers: HashMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    queue: Option<String>,
}

/// One item's answer: the published message, or why it was not stored.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum ItemResult {
    Published(ferry_core::wire::PublishResponse),
    /// A URL group item: one answer per endpoint, as a nested array.
    FannedOut(Vec<ferry_core::wire::PublishResponse>),
    Failed(ErrorBody),
}

pub(crate) async fn handle<S: Store>(
    State(state): State<AppState<S>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Tenant(tenant): Tenant,
    request: Request<Body>,
) -> ApiResult<Response> {
    let limit = state.cfg.max_body_bytes.saturating_mul(BODY_LIMIT_FACTOR);
    let body = read_body(request.into_body(), limit).await?;
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
    let now = now_ms();
    let mut validated = Vec::with_capacity(items.len());
    for (idx, item) in items.into_iter().enumerate() {
        let queue = item.queue.clone();
        let (kind, opts, body) = validate(&state, &tenant, item, now)
            .await
            .map_err(|e| in_item(idx, e))?;
        let request = PublishRequest {
            tenant: tenant.clone(),
            destination: None,
            opts,
            body,
            caller_ip: Some(peer.ip().to_string()),
            now,
            topic: None,
            queue,
        };
        validated.push((kind, request));
    }
    let mut results = Vec::with_capacity(validated.len());
    let mut all_stored = true;
    for (kind, request) in validated {
        let stored = match kind {
            Checked::Url(destination) => {
                let request = PublishRequest {
                    destination: Some(destination),
                    ..request
                };
                publish_one(&state, request)
                    .await
                    .map(|(_, published)| ItemResult::Published(published))
            }
            Checked::Group(group) => fan_out(&state, request, &group)
                .await
                .map(ItemResult::FannedOut),
        };
        results.push(stored.unwrap_or_else(|e| {
            all_stored = false;
            ItemResult::Failed(ErrorBody { error: refusal(&e) })
        }));
    }
    let status = if all_stored {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(results)).into_response())
}

/// An item's destination after validation: a URL, or an existing group.
enum Checked {
    Url(ferry_core::destination::Destination),
    Group(UrlGroup),
}

async fn validate<S: Store>(
    state: &AppState<S>,
    tenant: &TenantId,
    item: Item,
    now: u64,
) -> ApiResult<(Checked, publish::PublishOptions, Bytes)> {
    let target = target_from_destination(&item.destination)?;
    let headers = header_map(&item.headers)?;
    if let Some(queue) = &item.queue {
        checked_name(queue)?;
        refuse_delay(&headers, &target.query_config)?;
        if matches!(target.kind, TargetKind::Group(_)) {
            return Err(ApiError::Client(
                StatusCode::NOT_IMPLEMENTED,
                "enqueueing to a url group is not supported by this version of Ferry".into(),
            ));
        }
    }
    let opts = publish::parse(&headers, &target.query_config, &state.cfg.limits, now)?;
    let body = Bytes::from(item.body.unwrap_or_default());
    if body.len() > state.cfg.max_body_bytes {
        return Err(ApiError::Client(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "body is larger than the {}-byte limit",
                state.cfg.max_body_bytes
            ),
        ));
    }
    let checked = match target.kind {
        TargetKind::Url(destination) => Checked::Url(destination),
        TargetKind::Group(name) => Checked::Group(find_group(state, tenant, &name).await?),
    };
    Ok((checked, opts, body))
}

fn header_map(headers: &HashMap<String, String>) -> ApiResult<HeaderMap> {
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
        other => other,
    }
}

/// The text of a refusal for one item's answer; internal details stay in
/// the log, as `ApiError` does for whole responses.
fn refusal(e: &ApiError) -> String {
    match e {
        ApiError::Client(_, message) | ApiError::Busy(message) => message.clone(),
        ApiError::Unavailable(error) => {
            tracing::error!(%error, "store unavailable during a batch");
            "storage is unavailable; this message was not stored, try again".into()
        }
        ApiError::Internal(error) => {
            tracing::error!(%error, "internal error during a batch");
            "internal error; this message was not stored".into()
        }
    }
}

//! `GET /v2/messages/{id}`, `DELETE /v2/messages/{id}`, and bulk cancel
//! `DELETE /v2/messages` by ids (query form from the JS SDK, JSON body from
//! the Python SDK). An empty id list cancels nothing. Cancelling by filter
//! or everything needs an index of a tenant's pending messages that the
//! store does not keep yet, so those forms answer 501.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use ferry_core::ids::MessageId;
use ferry_core::wire::{Cancelled, Message, MessageIds};
use ferry_store::Store;
use http::{Request, StatusCode};

use crate::auth::Tenant;
use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::publish::read_body;
use crate::query::QueryPairs;
use crate::{AppState, now_ms};

fn parse_id(id: &str) -> ApiResult<MessageId> {
    MessageId::parse(id).map_err(|_| not_found(id))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("message {id} not found"))
}

pub(crate) async fn get<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Message>> {
    let msg_id = parse_id(&id)?;
    let message = state
        .store
        .message(&tenant, &msg_id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(convert::message(&message)))
}

pub(crate) async fn cancel<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Cancelled>> {
    let msg_id = parse_id(&id)?;
    if state.store.cancel(&tenant, &msg_id, now_ms()).await? {
        tracing::info!(msg.id = %msg_id, "message cancelled");
        Ok(Json(Cancelled { cancelled: 1 }))
    } else {
        Err(not_found(&id))
    }
}

/// The most ids one bulk cancel may name.
const MAX_IDS: usize = 1_000;
const IDS: &str = "messageIds";

pub(crate) async fn cancel_many<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    request: Request<Body>,
) -> ApiResult<Json<Cancelled>> {
    let ids = named_ids(request).await?;
    if ids.len() > MAX_IDS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_IDS} message ids per request, got {}",
            ids.len()
        )));
    }
    let mut cancelled = 0;
    let now = now_ms();
    for id in &ids {
        let Ok(msg_id) = MessageId::parse(id) else {
            continue;
        };
        if state.store.cancel(&tenant, &msg_id, now).await? {
            cancelled += 1;
        }
    }
    Ok(Json(Cancelled { cancelled }))
}

/// The ids a bulk cancel names, from the query or a JSON body.
async fn named_ids(request: Request<Body>) -> ApiResult<Vec<String>> {
    let (parts, body) = request.into_parts();
    let q = QueryPairs::parse(parts.uri.query());
    if q.has(IDS) {
        q.reject_unknown(&[IDS])?;
        return Ok(q.all(IDS));
    }
    let body = read_body(body, 1024 * 1024).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(by_filter_not_supported());
    }
    let named: MessageIds = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("body must be {{\"messageIds\": [...]}}: {e}"))
    })?;
    if named.message_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(named.message_ids)
}

fn by_filter_not_supported() -> ApiError {
    ApiError::Client(
        StatusCode::NOT_IMPLEMENTED,
        "cancelling by filter or all messages is not supported by this version of Ferry; name the messages with messageIds".into(),
    )
}

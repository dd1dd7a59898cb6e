//! `GET /v2/messages/{id}` and `DELETE /v2/messages/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use ferry_core::ids::MessageId;
use ferry_core::wire::{Cancelled, Message};
use ferry_store::Store;

use crate::auth::Tenant;
use crate::convert;
use crate::error::{ApiError, ApiResult};
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

//! `GET /v2/keys` and `POST /v2/keys/rotate`: the tenant's signing keys.

use axum::Json;
use axum::extract::State;
use ferry_core::signing::SigningKey;
use ferry_core::wire::SigningKeys;
use ferry_store::{KeyPair, Store};

use crate::AppState;
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};

fn wire(keys: &KeyPair) -> SigningKeys {
    SigningKeys {
        current: keys.current.expose().to_owned(),
        next: keys.next.expose().to_owned(),
    }
}

fn no_keys() -> ApiError {
    ApiError::Internal("tenant has no signing keys; they are created at startup".into())
}

pub(crate) async fn get<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
) -> ApiResult<Json<SigningKeys>> {
    let keys = state
        .store
        .signing_keys(&tenant)
        .await?
        .ok_or_else(no_keys)?;
    Ok(Json(wire(&keys)))
}

pub(crate) async fn rotate<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
) -> ApiResult<Json<SigningKeys>> {
    let keys = state
        .store
        .rotate_signing_keys(&tenant, &SigningKey::generate())
        .await?
        .ok_or_else(no_keys)?;
    tracing::info!(%tenant, "signing keys rotated");
    Ok(Json(wire(&keys)))
}

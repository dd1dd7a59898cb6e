//! URL groups (QStash "topics"): `POST`/`DELETE /v2/topics/{name}/endpoints`,
//! `GET /v2/topics[/{name}]`, `DELETE /v2/topics/{name}`. Publishing to a
//! group's name fans out to its endpoints (see `publish`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use ferry_core::destination;
use ferry_core::ids::validate_name;
use ferry_core::wire::{self, Endpoints};
use ferry_store::{EndpointSelection, GroupEndpoint, Store, UrlGroup};
use http::{Request, StatusCode};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::publish::read_body;
use crate::{AppState, now_ms};

/// The most endpoints one request may name, and one group may hold (so a
/// publish to a group creates at most this many messages).
pub(crate) const MAX_ENDPOINTS: usize = 1_000;
const MAX_BODY: usize = 1024 * 1024;
/// Longest endpoint name, in bytes: names are stored with the group and
/// shown on every listing.
const MAX_ENDPOINT_NAME: usize = 128;

fn checked_name(name: &str) -> ApiResult<()> {
    validate_name(name).map_err(|e| ApiError::bad_request(format!("invalid url group name: {e}")))
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("url group {name:?} not found"))
}

async fn endpoints_in(body: Body) -> ApiResult<Vec<wire::Endpoint>> {
    let body = read_body(body, MAX_BODY).await?;
    let parsed: Endpoints = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "body must be {{\"endpoints\": [{{\"url\", \"name\"}}]}}: {e}"
        ))
    })?;
    if parsed.endpoints.is_empty() || parsed.endpoints.len() > MAX_ENDPOINTS {
        return Err(ApiError::bad_request(format!(
            "name 1 to {MAX_ENDPOINTS} endpoints"
        )));
    }
    Ok(parsed.endpoints)
}

pub(crate) async fn upsert_endpoints<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
    request: Request<Body>,
) -> ApiResult<StatusCode> {
    checked_name(&name)?;
    let endpoints = endpoints_in(request.into_body())
        .await?
        .into_iter()
        .map(|e| {
            let Some(url) = e.url else {
                return Err(ApiError::bad_request("every endpoint needs a url"));
            };
            let url = destination::parse(&url)
                .map_err(|err| ApiError::bad_request(format!("endpoint {url:?}: {err}")))?;
            if let Some(name) = e.name.as_ref().filter(|n| n.len() > MAX_ENDPOINT_NAME) {
                return Err(ApiError::bad_request(format!(
                    "endpoint name is {} bytes long; the limit is {MAX_ENDPOINT_NAME}",
                    name.len()
                )));
            }
            Ok(GroupEndpoint {
                url: url.to_string(),
                name: e.name.filter(|n| !n.is_empty()),
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let added = (state.store)
        .upsert_endpoints(&tenant, &name, &endpoints, MAX_ENDPOINTS, now_ms())
        .await?;
    if !added {
        return Err(ApiError::bad_request(format!(
            "url group {name:?} would have more than {MAX_ENDPOINTS} endpoints, the limit per group; nothing was added"
        )));
    }
    Ok(StatusCode::OK)
}

pub(crate) async fn remove_endpoints<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
    request: Request<Body>,
) -> ApiResult<StatusCode> {
    let mut selection = EndpointSelection::default();
    for endpoint in endpoints_in(request.into_body()).await? {
        match (endpoint.url, endpoint.name) {
            (None, None) => return Err(ApiError::bad_request("name each endpoint by url or name")),
            (url, name) => {
                selection.urls.extend(url);
                selection.names.extend(name);
            }
        }
    }
    if state
        .store
        .remove_endpoints(&tenant, &name, &selection, now_ms())
        .await?
    {
        Ok(StatusCode::OK)
    } else {
        Err(not_found(&name))
    }
}

pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
) -> ApiResult<Json<Vec<wire::UrlGroup>>> {
    let groups = state.store.url_groups(&tenant).await?;
    Ok(Json(groups.iter().map(as_wire).collect()))
}

pub(crate) async fn get<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
) -> ApiResult<Json<wire::UrlGroup>> {
    let group = state
        .store
        .url_group(&tenant, &name)
        .await?
        .ok_or_else(|| not_found(&name))?;
    Ok(Json(as_wire(&group)))
}

pub(crate) async fn delete<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    if state.store.delete_url_group(&tenant, &name).await? {
        Ok(StatusCode::OK)
    } else {
        Err(not_found(&name))
    }
}

fn as_wire(group: &UrlGroup) -> wire::UrlGroup {
    wire::UrlGroup {
        name: group.name.clone(),
        created_at: group.created_at,
        updated_at: group.updated_at,
        endpoints: group
            .endpoints
            .iter()
            .map(|e| wire::Endpoint {
                name: e.name.clone(),
                url: Some(e.url.clone()),
            })
            .collect(),
    }
}

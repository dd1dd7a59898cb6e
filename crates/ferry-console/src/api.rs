//! The API, called in-process: the console's requests go straight to the
//! gateway's router, marked with the operator's tenant
//! ([`ferry_gateway::Authenticated`]) instead of a token. Its answers are
//! the API's own JSON, parsed into the wire types, and its errors keep
//! their status and message.

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use ferry_core::ids::TenantId;
use ferry_core::wire::ErrorBody;
use ferry_gateway::Authenticated;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde::de::DeserializeOwned;
use tower::ServiceExt as _;

use crate::page::Failure;

/// The gateway's router, as the console calls it.
#[derive(Clone)]
pub(crate) struct Api {
    router: Router,
}

impl Api {
    pub(crate) fn new(router: Router) -> Self {
        Self { router }
    }

    /// Sends one request as `tenant` and returns the body of a 2xx answer;
    /// any other answer is a [`Failure`] with the API's status and message.
    pub(crate) async fn send(
        &self,
        tenant: &TenantId,
        method: Method,
        uri: &str,
        headers: HeaderMap,
    ) -> Result<Bytes, Failure> {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, format!("bad request: {e}")))?;
        request.headers_mut().extend(headers);
        request
            .extensions_mut()
            .insert(Authenticated(tenant.clone()));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Failure::new(StatusCode::BAD_GATEWAY, format!("reading the answer: {e}")))?
            .to_bytes();
        if status.is_success() {
            return Ok(body);
        }
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
        Err(Failure::new(status, message))
    }

    /// A `GET` whose answer is JSON of type `T`.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        tenant: &TenantId,
        uri: &str,
    ) -> Result<T, Failure> {
        let body = self
            .send(tenant, Method::GET, uri, HeaderMap::new())
            .await?;
        serde_json::from_slice(&body).map_err(|e| {
            tracing::error!(error = %e, uri, "console: unexpected API answer");
            Failure::new(
                StatusCode::BAD_GATEWAY,
                "the API answered in an unexpected shape",
            )
        })
    }

    /// A `POST` with no body.
    pub(crate) async fn post(
        &self,
        tenant: &TenantId,
        uri: &str,
        headers: HeaderMap,
    ) -> Result<Bytes, Failure> {
        self.send(tenant, Method::POST, uri, headers).await
    }

    pub(crate) async fn delete(&self, tenant: &TenantId, uri: &str) -> Result<Bytes, Failure> {
        self.send(tenant, Method::DELETE, uri, HeaderMap::new())
            .await
    }
}

/// Encodes one path segment (a queue name, a key, an id).
pub(crate) fn segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A query string of the non-empty pairs, each value encoded.
pub(crate) fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if !value.trim().is_empty() {
            serializer.append_pair(key, value.trim());
        }
    }
    serializer.finish()
}

/// The query of the next page of a list: the page's own filters and the
/// API's cursor, if there is a next page.
pub(crate) fn next_page(filters: &str, cursor: Option<String>) -> Option<String> {
    cursor.map(|c| {
        let cursor = query([("cursor", c.as_str())]);
        if filters.is_empty() {
            cursor
        } else {
            format!("{filters}&{cursor}")
        }
    })
}

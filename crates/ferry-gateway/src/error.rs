//! The one place where failures become HTTP statuses.
//!
//! A 4xx carries a message that tells the client what to fix, in QStash's
//! `{"error": "..."}` shape. Anything else is logged here and answered with
//! a generic body, so internal details never leak to clients.

use axum::Json;
use axum::response::{IntoResponse, Response};
use ferry_core::wire::ErrorBody;
use http::{HeaderValue, StatusCode};

#[derive(Debug)]
pub enum ApiError {
    /// The client's request is wrong; the message says how.
    Client(StatusCode, String),
    /// The backlog is at its bound; retry later.
    Busy(String),
    /// The store is unreachable.
    Unavailable(ferry_store::Error),
    /// A bug or corrupt data.
    Internal(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::Client(StatusCode::BAD_REQUEST, message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::Client(StatusCode::NOT_FOUND, message.into())
    }
}

impl From<ferry_core::publish::PublishError> for ApiError {
    fn from(e: ferry_core::publish::PublishError) -> Self {
        let status = match e {
            ferry_core::publish::PublishError::Invalid(_) => StatusCode::BAD_REQUEST,
            ferry_core::publish::PublishError::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
        };
        Self::Client(status, e.to_string())
    }
}

impl From<ferry_store::Error> for ApiError {
    fn from(e: ferry_store::Error) -> Self {
        match e {
            ferry_store::Error::Redis(_) => Self::Unavailable(e),
            other => Self::Internal(other.to_string()),
        }
    }
}

fn json(status: StatusCode, error: String) -> Response {
    (status, Json(ErrorBody { error })).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Client(status, message) => json(status, message),
            Self::Busy(message) => {
                let mut response = json(StatusCode::TOO_MANY_REQUESTS, message);
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            Self::Unavailable(e) => {
                tracing::error!(error = %e, "store unavailable");
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage is unavailable; nothing was stored, try again".into(),
                )
            }
            Self::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                json(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        }
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

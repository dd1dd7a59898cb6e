//! The one place where failures become HTTP statuses.
//!
//! A 4xx carries a message that tells the client what to fix, in QStash's
//! `{"error": "..."}` shape. Anything else is logged here and answered with
//! a generic body, so internal details never leak to clients.
//!
//! A 429 also carries `Retry-After` and the `Burst-RateLimit-*` headers:
//! the official SDKs build their rate-limit errors from those headers alone
//! (the body never reaches the caller), so they are what a user sees.

use axum::Json;
use axum::response::{IntoResponse, Response};
use ferry_core::wire::ErrorBody;
use http::{HeaderName, HeaderValue, StatusCode};

/// Seconds a client refused for a full backlog should wait.
const RETRY_AFTER_SECS: u64 = 1;

#[derive(Debug)]
pub enum ApiError {
    /// The client's request is wrong; the message says how.
    Client(StatusCode, String),
    /// A bound on waiting messages (`limit`) is reached; retry later.
    Busy { message: String, limit: u64 },
    /// The store is unreachable.
    Unavailable(ferry_store::Error),
    /// A bug or corrupt data.
    Internal(String),
    /// A request that stored part of its messages before an error stopped
    /// it: the error's status, and a message that says what was stored.
    Partial { status: StatusCode, message: String },
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::Client(StatusCode::BAD_REQUEST, message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::Client(StatusCode::NOT_FOUND, message.into())
    }

    /// The status, the message a client may see (internal details are
    /// logged here instead), and for a 429 the limit that was reached.
    fn into_public(self) -> (StatusCode, String, u64) {
        match self {
            Self::Client(status, message) | Self::Partial { status, message } => {
                (status, message, 0)
            }
            Self::Busy { message, limit } => (StatusCode::TOO_MANY_REQUESTS, message, limit),
            Self::Unavailable(e) => {
                tracing::error!(error = %e, "store unavailable");
                let message = "storage is unavailable, try again".into();
                (StatusCode::SERVICE_UNAVAILABLE, message, 0)
            }
            Self::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".into(),
                    0,
                )
            }
        }
    }

    /// This error for a request that had already stored some messages;
    /// `stored` says which, so the client sends only the rest again.
    pub(crate) fn after_storing(self, stored: &str) -> Self {
        if let Self::Busy { message, limit } = self {
            let message = format!("{message}; {stored}");
            return Self::Busy { message, limit };
        }
        let (status, reason, _) = self.into_public();
        Self::Partial {
            status,
            message: format!("{reason}; {stored}"),
        }
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

/// `Retry-After` and the burst rate-limit headers of a 429: the limit that
/// was reached (0 when unknown), none remaining, and the Unix second after
/// which to try again.
fn rate_limit_headers(response: &mut Response, limit: u64) {
    let reset = crate::now_ms() / 1000 + RETRY_AFTER_SECS;
    let headers = response.headers_mut();
    for (name, value) in [
        (http::header::RETRY_AFTER.as_str(), RETRY_AFTER_SECS),
        ("burst-ratelimit-limit", limit),
        ("burst-ratelimit-remaining", 0),
        ("burst-ratelimit-reset", reset),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message, limit) = self.into_public();
        let mut response = json(status, message);
        if status == StatusCode::TOO_MANY_REQUESTS {
            rate_limit_headers(&mut response, limit);
        }
        response
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

//! What every page shares: the frame around it (navigation, the logged-in
//! tenant, the CSRF token for its forms, a notice), rendering, error pages
//! and the security headers of every console response.

use askama::Template;
use axum::body::Body;
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::{HeaderValue, Request, StatusCode, header};

use crate::session::Operator;

/// No script, style, image, font or connection from anywhere but the
/// console itself; no inline script or style; no framing; forms post only
/// here.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The pages in the navigation, in order: (path, title). A new page (such
/// as workflow runs) is a module in `pages` plus an entry here.
pub(crate) const NAV: [(&str, &str); 9] = [
    ("/console", "Overview"),
    ("/console/dlq", "Dead letters"),
    ("/console/logs", "Logs"),
    ("/console/messages", "Messages"),
    ("/console/queues", "Queues"),
    ("/console/schedules", "Schedules"),
    ("/console/groups", "URL groups"),
    ("/console/flows", "Flow control"),
    ("/console/keys", "Signing keys"),
];

/// The frame of a page for a logged-in operator.
pub(crate) struct Chrome {
    pub(crate) tenant: String,
    pub(crate) csrf: String,
    /// The path of the page's entry in [`NAV`].
    pub(crate) active: &'static str,
    pub(crate) notice: Option<String>,
}

impl Chrome {
    pub(crate) fn new(operator: &Operator, active: &'static str) -> Self {
        Self {
            tenant: operator.tenant.to_string(),
            csrf: operator.csrf.clone(),
            active,
            notice: None,
        }
    }

    pub(crate) fn with_notice(mut self, notice: Option<Notice>) -> Self {
        self.notice = notice.map(|n| n.text());
        self
    }

    pub(crate) fn nav(&self) -> &'static [(&'static str, &'static str)] {
        &NAV
    }
}

/// What an action did, shown on the page it leads back to. Only these
/// fixed sentences (and a count) travel in the URL, so a link cannot make
/// the console say anything else.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Notice {
    Retried,
    Deleted,
    BulkRetried,
    BulkDeleted,
    Cancelled,
    Paused,
    Resumed,
    Pinned,
    Unpinned,
    Rotated,
}

impl Notice {
    fn text(self) -> String {
        match self {
            Self::Retried => "The dead letter was retried as a new message.",
            Self::Deleted => "The dead letter was deleted.",
            Self::BulkRetried => "The matching dead letters were retried.",
            Self::BulkDeleted => "The matching dead letters were deleted.",
            Self::Cancelled => "The message was cancelled.",
            Self::Paused => "Paused.",
            Self::Resumed => "Resumed.",
            Self::Pinned => "Pinned.",
            Self::Unpinned => "Unpinned.",
            Self::Rotated => "The signing keys were rotated.",
        }
        .to_owned()
    }

    fn slug(self) -> &'static str {
        match self {
            Self::Retried => "retried",
            Self::Deleted => "deleted",
            Self::BulkRetried => "bulk-retried",
            Self::BulkDeleted => "bulk-deleted",
            Self::Cancelled => "cancelled",
            Self::Paused => "paused",
            Self::Resumed => "resumed",
            Self::Pinned => "pinned",
            Self::Unpinned => "unpinned",
            Self::Rotated => "rotated",
        }
    }
}

/// The query of a page that only shows a notice.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct NoticeQuery {
    pub(crate) notice: Option<Notice>,
}

/// A redirect after an action to `path`, telling what happened.
pub(crate) fn done(path: &str, notice: Notice) -> Response {
    let separator = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{separator}notice={}", notice.slug())).into_response()
}

/// Renders a template; a template that fails to render is a bug, shown as
/// a plain 500.
pub(crate) fn render<T: Template>(template: &T) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

/// A page that cannot be shown, and why.
#[derive(Debug)]
pub(crate) struct Failure {
    status: StatusCode,
    message: String,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl Failure {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// The store failed: logged here, shown without details.
    pub(crate) fn store(e: &ferry_store::Error) -> Self {
        tracing::error!(error = %e, "console: store failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage is unavailable; try again",
        )
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or("Error"),
            message: &self.message,
        };
        (self.status, render(&page)).into_response()
    }
}

pub(crate) type PageResult = Result<Response, Failure>;

pub(crate) async fn not_found() -> Failure {
    Failure::not_found("There is no such console page.")
}

/// Adds the security headers to every console response; pages are never
/// cached, since they show one tenant's data.
pub(crate) async fn security_headers(
    request: Request<Body>,
    next: axum::middleware::Next,
) -> Response {
    let is_asset = request.uri().path().starts_with("/console/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

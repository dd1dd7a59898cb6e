//! What the sink answers to one request: a status, headers and body, possibly
//! after a pause, or nothing at all, so tests can script every behaviour a
//! delivery target may show.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, LOCATION};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;

/// One scripted answer. Build it with [`Reply::status`], [`Reply::hang`],
/// [`Reply::redirect`] or [`Reply::delay`], then refine it with
/// [`Reply::header`] and [`Reply::body`].
#[derive(Clone, Debug)]
pub struct Reply {
    /// Time between reading the full request and acting on `outcome`.
    delay: Duration,
    outcome: Outcome,
}

#[derive(Clone, Debug)]
enum Outcome {
    Answer(Answer),
    /// Keep the request open until the sink is dropped.
    Hang,
}

#[derive(Clone, Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    /// Answers with `code` and an empty body. Panics if `code` is not a
    /// valid HTTP status.
    pub fn status(code: u16) -> Reply {
        let status = StatusCode::from_u16(code)
            .unwrap_or_else(|error| panic!("Reply::status({code}): {error}"));
        Reply {
            delay: Duration::ZERO,
            outcome: Outcome::Answer(Answer {
                status,
                headers: HeaderMap::new(),
                body: Bytes::new(),
            }),
        }
    }

    /// Answers `302 Found` with `Location: location`.
    pub fn redirect(location: &str) -> Reply {
        Reply::status(StatusCode::FOUND.as_u16()).header(LOCATION.as_str(), location)
    }

    /// Reads the request and never answers; the connection is released only
    /// when the sink is dropped.
    pub fn hang() -> Reply {
        Reply {
            delay: Duration::ZERO,
            outcome: Outcome::Hang,
        }
    }

    /// Behaves like `reply`, but only after `pause`.
    pub fn delay(pause: Duration, reply: Reply) -> Reply {
        Reply {
            delay: reply.delay + pause,
            ..reply
        }
    }

    /// Adds a response header; repeated names give repeated headers. Panics
    /// on an invalid name or value, or on a reply that hangs.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        let name = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|error| panic!("Reply::header name {name:?}: {error}"));
        let value = HeaderValue::from_str(value)
            .unwrap_or_else(|error| panic!("Reply::header value {value:?}: {error}"));
        self.answer_mut("a header").headers.append(name, value);
        self
    }

    /// Sets the response body. Panics on a reply that hangs.
    pub fn body(mut self, body: impl Into<Bytes>) -> Reply {
        self.answer_mut("a body").body = body.into();
        self
    }

    /// Waits out the delay, then answers; a hanging reply never returns, so
    /// its connection lives until the sink cancels the connection task.
    pub(super) async fn perform(self) -> Response<Full<Bytes>> {
        tokio::time::sleep(self.delay).await;
        match self.outcome {
            Outcome::Answer(answer) => answer.into_response(),
            Outcome::Hang => std::future::pending().await,
        }
    }

    fn answer_mut(&mut self, what: &str) -> &mut Answer {
        match &mut self.outcome {
            Outcome::Answer(answer) => answer,
            Outcome::Hang => panic!("Reply::hang() sends no response, so it cannot carry {what}"),
        }
    }
}

impl Default for Reply {
    /// `200 OK` with an empty body, what the sink answers until told otherwise.
    fn default() -> Reply {
        Reply::status(StatusCode::OK.as_u16())
    }
}

impl Answer {
    fn into_response(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(self.body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

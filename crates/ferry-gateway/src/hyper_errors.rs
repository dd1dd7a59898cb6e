//! JSON bodies for the answers hyper writes itself.
//!
//! hyper refuses an HTTP/1 request it cannot parse before the router sees
//! it: a malformed head (400), a request target that is too long (414), or
//! a head with more headers or bytes than configured (431). It writes these
//! answers with an empty body and offers no hook to change them, so every
//! client would see an error without a message, unlike every other error
//! of the API.
//!
//! [`JsonErrors`] sits between hyper and the socket and recognises such an
//! answer by its exact shape: a complete response head, written in one
//! piece with nothing after it, whose status is one of the three and whose
//! body is empty (`content-length: 0`). It writes the same status with a
//! JSON `{"error": ...}` body that names the limit instead. The router never
//! answers these statuses with an empty body, so only hyper's own answers
//! match. hyper closes the connection after them, so `Connection: close` is
//! added.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use ferry_core::wire::ErrorBody;
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::GatewayConfig;

/// The replacement answers of one listener, built once from its limits.
pub(crate) struct Answers {
    bad_request: Arc<[u8]>,
    uri_too_long: Arc<[u8]>,
    head_too_large: Arc<[u8]>,
}

impl Answers {
    pub(crate) fn new(cfg: &GatewayConfig) -> Self {
        Self {
            bad_request: answer(StatusCode::BAD_REQUEST, "malformed HTTP request".into()),
            uri_too_long: answer(
                StatusCode::URI_TOO_LONG,
                "the request target is too long".into(),
            ),
            head_too_large: answer(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!(
                    "request head too large: at most {} headers and {} bytes of request line and headers",
                    crate::serve::hard_header_ceiling(cfg.max_headers),
                    crate::serve::head_buffer(cfg.max_header_bytes),
                ),
            ),
        }
    }

    /// The answer replacing `written`, if it is one of hyper's own.
    fn replacement(&self, written: &[u8]) -> Option<Arc<[u8]>> {
        let head = std::str::from_utf8(written).ok()?;
        let (status_line, rest) = head.split_once("\r\n")?;
        let fields = rest.strip_suffix("\r\n\r\n")?;
        if fields.contains("\r\n\r\n") {
            return None;
        }
        let empty = fields
            .split("\r\n")
            .any(|field| field.eq_ignore_ascii_case("content-length: 0"));
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| status_line.strip_prefix("HTTP/1.0 "))?
            .get(..3)?;
        let answer = match status {
            "400" => &self.bad_request,
            "414" => &self.uri_too_long,
            "431" => &self.head_too_large,
            _ => return None,
        };
        empty.then(|| answer.clone())
    }
}

fn answer(status: StatusCode, error: String) -> Arc<[u8]> {
    let body = serde_json::to_string(&ErrorBody { error }).expect("a string serializes");
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
    .into()
}

/// A connection's socket, with hyper's own error answers given JSON bodies.
pub(crate) struct JsonErrors<T> {
    io: T,
    answers: Arc<Answers>,
    pending: Option<Replacing>,
}

/// A replacement being written in place of hyper's answer.
struct Replacing {
    bytes: Arc<[u8]>,
    written: usize,
    /// The length of hyper's answer, reported as written once the
    /// replacement is.
    stands_for: usize,
}

impl<T> JsonErrors<T> {
    pub(crate) fn new(io: T, answers: Arc<Answers>) -> Self {
        Self {
            io,
            answers,
            pending: None,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrors<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrors<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            this.pending = this.answers.replacement(buf).map(|bytes| Replacing {
                bytes,
                written: 0,
                stands_for: buf.len(),
            });
        }
        let Some(replacing) = &mut this.pending else {
            return Pin::new(&mut this.io).poll_write(cx, buf);
        };
        while replacing.written < replacing.bytes.len() {
            let rest = &replacing.bytes[replacing.written..];
            match ready!(Pin::new(&mut this.io).poll_write(cx, rest))? {
                0 => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
                n => replacing.written += n,
            }
        }
        let stands_for = replacing.stands_for;
        this.pending = None;
        Poll::Ready(Ok(stands_for))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

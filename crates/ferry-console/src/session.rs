//! Sessions: signed cookies, the CSRF token of each session, log in and log
//! out.
//!
//! A session cookie holds `<payload>.<signature>`, where the payload is
//! `v1.<SHA-256 of the token, hex>.<expiry, Unix ms>.<random nonce>` and the
//! signature is its HMAC-SHA256 under the server's [`SessionSecret`]. The
//! token itself is never in the cookie, and the digest it names must still
//! be a configured token on every request, so removing a token ends its
//! sessions. Signed cookies need no store writes and work the same on both
//! backends and on every gateway that shares the secret; the price is that
//! logging out only clears the browser's copy, so a copied cookie stays
//! valid until it expires (`console.session_ttl`).
//!
//! The cookie is `HttpOnly`, `SameSite=Strict`, scoped to `/console`, and
//! `Secure` when the request came over TLS (`X-Forwarded-Proto: https`) or
//! the configuration says so. Every state-changing form carries the
//! session's CSRF token (an HMAC of the session payload, so it needs no
//! storage either), checked in constant time by [`require_csrf`] before any
//! handler runs; a form posted from another origin is refused as well.

use askama::Template;
use axum::Form;
use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferry_core::ids::TenantId;
use ferry_store::Store;
use hmac::{Hmac, KeyInit, Mac};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::page::{self, Failure};
use crate::{Console, now_ms};

const COOKIE: &str = "ferry_console";
const VERSION: &str = "v1";
/// Largest form the console accepts.
const MAX_FORM_BYTES: usize = 64 * 1024;

type HmacSha256 = Hmac<Sha256>;

/// The key that signs session cookies. `Debug` never shows it.
#[derive(Clone)]
pub struct SessionSecret([u8; 32]);

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret([redacted])")
    }
}

/// Why a configured session secret cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("the session secret must be at least 32 characters long")]
pub struct ShortSecret;

impl SessionSecret {
    /// A fresh random secret: sessions end when the process does.
    pub fn random() -> Self {
        let mut key = [0; 32];
        for (chunk, uuid) in key
            .chunks_mut(16)
            .zip([uuid::Uuid::new_v4(), uuid::Uuid::new_v4()])
        {
            chunk.copy_from_slice(uuid.as_bytes());
        }
        // A v4 UUID has 122 random bits; hashing spreads them over the key.
        Self(Sha256::digest(key).into())
    }

    /// The secret derived from configured text of at least 32 characters.
    pub fn from_text(text: &str) -> Result<Self, ShortSecret> {
        if text.chars().count() < 32 {
            return Err(ShortSecret);
        }
        Ok(Self(Sha256::digest(text.as_bytes()).into()))
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.0).expect("HMAC-SHA256 accepts keys of any length");
        for part in parts {
            mac.update(part);
        }
        mac
    }

    fn sign(&self, payload: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(&[payload.as_bytes()]).finalize().into_bytes())
    }

    /// A cookie value for the token with `digest`, valid until `expires_ms`.
    fn issue(&self, digest: &[u8; 32], expires_ms: u64) -> String {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let payload = format!("{VERSION}.{}.{expires_ms}.{nonce}", hex(digest));
        let signature = self.sign(&payload);
        format!("{payload}.{signature}")
    }

    /// The payload and token digest of a cookie value this secret signed
    /// and that has not expired at `now_ms`.
    fn open<'a>(&self, value: &'a str, now_ms: u64) -> Option<(&'a str, [u8; 32])> {
        let (payload, signature) = value.rsplit_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        self.mac(&[payload.as_bytes()])
            .verify_slice(&signature)
            .ok()?;
        let mut fields = payload.split('.');
        let (version, digest, expires) = (fields.next()?, fields.next()?, fields.next()?);
        let expires: u64 = expires.parse().ok()?;
        if version != VERSION || expires <= now_ms {
            return None;
        }
        Some((payload, unhex(digest)?))
    }

    /// The CSRF token of the session with `payload`.
    fn csrf(&self, payload: &str) -> String {
        URL_SAFE_NO_PAD.encode(
            self.mac(&[b"csrf\n", payload.as_bytes()])
                .finalize()
                .into_bytes(),
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0; 32];
    if text.len() != 64 {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// The logged-in operator: the tenant whose data the pages show.
#[derive(Debug, Clone)]
pub(crate) struct Operator {
    pub(crate) tenant: TenantId,
    /// The token every form of this session carries.
    pub(crate) csrf: String,
}

/// The operator of a request's session cookie, if it is valid and its
/// token is still configured.
fn operator<S>(console: &Console<S>, headers: &HeaderMap) -> Option<Operator> {
    let secret = &console.inner.cfg.session_secret;
    let value = cookie(headers, COOKIE)?;
    let (payload, digest) = secret.open(value, now_ms())?;
    let tenant = console.inner.tokens.tenant_of_digest(&digest)?;
    Some(Operator {
        tenant,
        csrf: secret.csrf(payload),
    })
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn to_login() -> Response {
    Redirect::to("/console/login").into_response()
}

impl<S: Store> FromRequestParts<Console<S>> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console<S>) -> Result<Self, Response> {
        operator(console, &parts.headers).ok_or_else(to_login)
    }
}

/// A form posted from a page of another origin, which no console page
/// does. Browsers send `Origin` with every POST; its host must be ours.
fn foreign_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some(match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        });
    origin_host.is_none() || origin_host.as_deref() != host
}

/// Refuses a state-changing request whose form lacks the session's CSRF
/// token or that comes from another origin; sends a missing or expired
/// session to the login page. Reads pass through.
pub(crate) async fn require_csrf<S: Store>(
    State(console): State<Console<S>>,
    request: Request<Body>,
    next: axum::middleware::Next,
) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    if foreign_origin(request.headers()) {
        return Failure::forbidden("this form was posted from another site").into_response();
    }
    let Some(operator) = operator(&console, request.headers()) else {
        return to_login();
    };
    let (parts, body) = request.into_parts();
    let Ok(form) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return Failure::new(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large")
            .into_response();
    };
    let presented = url::form_urlencoded::parse(&form)
        .find(|(key, _)| key == "csrf")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    if !bool::from(presented.as_bytes().ct_eq(operator.csrf.as_bytes())) {
        return Failure::forbidden(
            "the form's security token is missing or stale: reload the page and try again",
        )
        .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(form))).await
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    error: Option<&'static str>,
}

pub(crate) async fn login_page() -> Response {
    page::render(&LoginPage { error: None })
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    token: String,
}

pub(crate) async fn login<S: Store>(
    State(console): State<Console<S>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if foreign_origin(&headers) {
        return Failure::forbidden("this form was posted from another site").into_response();
    }
    let token = form.token.trim();
    let digest = ferry_gateway::Tokens::digest(token);
    let Some(tenant) = console.inner.tokens.tenant_of_digest(&digest) else {
        tracing::info!("console login refused: unknown token");
        let page = LoginPage {
            error: Some("That token is not accepted by this relay."),
        };
        return (StatusCode::UNAUTHORIZED, page::render(&page)).into_response();
    };
    let cfg = &console.inner.cfg;
    let ttl_ms = u64::try_from(cfg.session_ttl.as_millis()).unwrap_or(u64::MAX);
    let value = cfg
        .session_secret
        .issue(&digest, now_ms().saturating_add(ttl_ms));
    tracing::info!(%tenant, "console login");
    let attributes = cookie_attributes(&headers, cfg.force_secure_cookie);
    let set = format!(
        "{COOKIE}={value}; Max-Age={}; {attributes}",
        cfg.session_ttl.as_secs()
    );
    with_cookie(Redirect::to("/console").into_response(), &set)
}

pub(crate) async fn logout<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    headers: HeaderMap,
) -> Response {
    tracing::info!(tenant = %operator.tenant, "console logout");
    let attributes = cookie_attributes(&headers, console.inner.cfg.force_secure_cookie);
    let set = format!("{COOKIE}=; Max-Age=0; {attributes}");
    with_cookie(Redirect::to("/console/login").into_response(), &set)
}

/// The attributes of the session cookie for a request with `headers`.
fn cookie_attributes(headers: &HeaderMap, force_secure: bool) -> String {
    let over_tls = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"));
    let secure = if force_secure || over_tls {
        "; Secure"
    } else {
        ""
    };
    format!("Path=/console; HttpOnly; SameSite=Strict{secure}")
}

fn with_cookie(mut response: Response, set_cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(set_cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests;

//! Bearer-token authentication: a token maps to exactly one tenant.
//!
//! Only SHA-256 digests of tokens are held. A presented token is hashed and
//! compared with every known digest in constant time, without stopping at a
//! match, so timing reveals nothing about which digest (if any) matched.

use axum::extract::FromRequestParts;
use ferry_core::ids::TenantId;
use http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;

/// One accepted token, stored as its SHA-256 digest.
#[derive(Clone)]
pub struct TokenEntry {
    pub digest: [u8; 32],
    pub tenant: TenantId,
}

impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEntry")
            .field("tenant", &self.tenant)
            .field("digest", &"[redacted]")
            .finish()
    }
}

/// Every token the gateway accepts.
#[derive(Debug, Clone, Default)]
pub struct Tokens(Vec<TokenEntry>);

impl Tokens {
    pub fn new(entries: Vec<TokenEntry>) -> Self {
        Self(entries)
    }

    pub fn digest(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    pub fn tenant_of(&self, token: &str) -> Option<TenantId> {
        self.tenant_of_digest(&Self::digest(token))
    }

    /// Whether some token belongs to `tenant`.
    pub fn has_tenant(&self, tenant: &TenantId) -> bool {
        self.0.iter().any(|entry| &entry.tenant == tenant)
    }

    /// The tenant of the token with this SHA-256 digest, compared like
    /// [`Tokens::tenant_of`] compares tokens.
    pub fn tenant_of_digest(&self, digest: &[u8; 32]) -> Option<TenantId> {
        let mut found = None;
        for entry in &self.0 {
            if bool::from(entry.digest.ct_eq(digest)) {
                found = Some(entry.tenant.clone());
            }
        }
        found
    }
}

/// The authenticated caller's tenant.
#[derive(Debug, Clone)]
pub(crate) struct Tenant(pub(crate) TenantId);

/// A tenant that code in this process has already authenticated, set as a
/// request extension on requests it sends to the router itself (the
/// console, which authenticates operators with its own sessions). Clients
/// cannot set extensions, so only such in-process requests carry one.
#[derive(Debug, Clone)]
pub struct Authenticated(pub TenantId);

const QUERY_TOKEN: &str = "qstash_token";

fn presented_token(parts: &Parts) -> Option<String> {
    if let Some(value) = parts.headers.get(http::header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .unwrap_or(value);
        return Some(token.trim().to_owned());
    }
    let query = parts.uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == QUERY_TOKEN)
        .map(|(_, v)| v.into_owned())
}

impl<S: ferry_store::Store> FromRequestParts<AppState<S>> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState<S>) -> Result<Self, ApiError> {
        if let Some(Authenticated(tenant)) = parts.extensions.get() {
            return Ok(Self(tenant.clone()));
        }
        let Some(token) = presented_token(parts) else {
            return Err(ApiError::Client(
                http::StatusCode::UNAUTHORIZED,
                "missing token: send Authorization: Bearer <token> (or ?qstash_token=)".into(),
            ));
        };
        state
            .tokens
            .tenant_of(&token)
            .map(Tenant)
            .ok_or_else(|| ApiError::Client(http::StatusCode::UNAUTHORIZED, "invalid token".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_map_to_their_tenant_only() {
        let a = TenantId::new("a").unwrap();
        let b = TenantId::new("b").unwrap();
        let tokens = Tokens::new(vec![
            TokenEntry {
                digest: Tokens::digest("token-a"),
                tenant: a.clone(),
            },
            TokenEntry {
                digest: Tokens::digest("token-b"),
                tenant: b.clone(),
            },
        ]);
        assert_eq!(tokens.tenant_of("token-a"), Some(a));
        assert_eq!(tokens.tenant_of("token-b"), Some(b));
        assert_eq!(tokens.tenant_of("token-c"), None);
        assert_eq!(tokens.tenant_of(""), None);
        assert!(!format!("{tokens:?}").contains(&format!("{:?}", Tokens::digest("token-a"))));
    }
}

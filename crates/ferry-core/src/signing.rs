//! Delivery signatures: the `Upstash-Signature` JWT that lets a destination
//! prove a request came from the relay and carries the published body.
//!
//! The format is QStash's, so receivers written for QStash (the official JS,
//! Python and Go `Receiver`s) verify Ferry's deliveries unchanged: a compact
//! JWS with HS256, keyed by the UTF-8 bytes of the whole signing-key string
//! (`sig_` prefix included), whose claims bind the destination URL (`sub`)
//! and the SHA-256 of the body (`body`). The relay signs every attempt afresh
//! with the *current* key; receivers try the current key and then the *next*
//! one, which is what makes key rotation free of downtime.
//!
//! Every comparison of secret-derived bytes is constant time, and a signature
//! that is empty, truncated or undecodable is an error, never a pass.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

#[cfg(test)]
mod tests;

/// The shortest signing key accepted, in bytes. QStash keys are `sig_` plus
/// 28 characters, and HS256 keys shorter than the 32-byte hash output weaken
/// the MAC.
pub const MIN_KEY_LEN: usize = 32;

/// The only issuer the official receivers accept (compared case-sensitively).
pub const ISSUER: &str = "Upstash";

/// How long a signature stays valid after `iat`, as QStash documents
/// ("lifetime of 5 minutes").
pub const TOKEN_LIFETIME_S: u64 = 300;

/// The only algorithm this module signs with or accepts.
const ALGORITHM: &str = "HS256";

/// base64url of the fixed header `{"alg":"HS256","typ":"JWT"}`. Every token
/// starts with it, so it is encoded once here rather than on each attempt.
const ENCODED_HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Length of a base64url (unpadded) HMAC-SHA256 tag.
const ENCODED_TAG_LEN: usize = 43;

const KEY_PREFIX: &[u8; 4] = b"sig_";
const TOKEN_ID_PREFIX: &[u8; 4] = b"jwt_";

/// Generated keys and token ids are a 4-byte prefix plus 28 random
/// alphanumerics, the shape QStash uses for both.
const RANDOM_ID_LEN: usize = 32;

const ALPHANUMERICS: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random byte below this maps onto [`ALPHANUMERICS`] by `% 62` with every
/// character equally likely (248 = 4 × 62); larger bytes are discarded.
const UNBIASED_BYTE_LIMIT: u8 = 248;

/// Bytes 6 and 8 of a v4 UUID carry its version and variant bits, so only
/// the other 14 bytes are random.
const UUID_V4_FIXED_BYTES: [usize; 2] = [6, 8];

/// A key that signs deliveries (relay side) or checks them (receiver side).
///
/// The HMAC state keyed by the string is computed once at construction, so
/// signing and verifying do not re-derive it for every request.
#[derive(Clone)]
pub struct SigningKey {
    key: String,
    mac: Hmac<Sha256>,
}

/// Why a string cannot be used as a signing key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("signing key is {len} bytes long; at least {MIN_KEY_LEN} are required")]
    TooShort { len: usize },
}

impl SigningKey {
    /// Wraps a key string such as `sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r`.
    pub fn new(key: impl Into<String>) -> Result<Self, KeyError> {
        let key = key.into();
        if key.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort { len: key.len() });
        }
        Ok(Self::from_checked(key))
    }

    /// A fresh random key: `sig_` plus 28 alphanumerics.
    pub fn generate() -> Self {
        Self::from_checked(RandomId::new(KEY_PREFIX).as_str().to_owned())
    }

    /// The key string itself. Named so that every place a secret leaves this
    /// type is easy to find.
    pub fn expose(&self) -> &str {
        &self.key
    }

    fn from_checked(key: String) -> Self {
        // HMAC accepts keys of any length (long ones are hashed first), so
        // keying cannot fail.
        let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
            .expect("HMAC-SHA256 accepts keys of any length");
        Self { key, mac }
    }

    /// The HMAC-SHA256 tag of `signing_input` under this key.
    fn tag(&self, signing_input: &[u8]) -> [u8; 32] {
        self.mac
            .clone()
            .chain_update(signing_input)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Whether `tag` is this key's HMAC of `signing_input`, compared in
    /// constant time; a tag of the wrong length never matches.
    fn tag_matches(&self, signing_input: &[u8], tag: &[u8]) -> bool {
        self.mac
            .clone()
            .chain_update(signing_input)
            .verify_slice(tag)
            .is_ok()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &Self) -> bool {
        self.key.as_bytes().ct_eq(other.key.as_bytes()).into()
    }
}

impl Eq for SigningKey {}

/// base64url (with `=` padding) of the SHA-256 of `body`: the `body` claim.
pub fn body_hash(body: &[u8]) -> String {
    URL_SAFE.encode(Sha256::digest(body))
}

/// The claims of a delivery signature, as a receiver sees them after
/// verification.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Claims {
    /// Always `Upstash`.
    pub iss: String,
    /// The URL the request was sent to, query string included.
    pub sub: String,
    /// Unix seconds after which the signature is no longer valid.
    pub exp: u64,
    /// Unix seconds before which the signature is not yet valid; Ferry sends
    /// 0 so receivers with a slow clock do not reject fresh deliveries. The
    /// official JS receiver accepts tokens without it, so absent reads as 0.
    #[serde(default)]
    pub nbf: u64,
    /// Unix seconds when the signature was made (slightly back-dated by the
    /// relay). Receivers do not check it, so absent reads as 0.
    #[serde(default)]
    pub iat: u64,
    /// A random id for this signature (`jwt_…`). Receivers do not check it,
    /// so absent reads as empty.
    #[serde(default)]
    pub jti: String,
    /// base64url SHA-256 of the raw body, padded or not.
    pub body: String,
}

impl Claims {
    fn view(&self) -> ClaimsView<'_> {
        ClaimsView {
            iss: &self.iss,
            sub: &self.sub,
            exp: self.exp,
            nbf: self.nbf,
            iat: self.iat,
            jti: &self.jti,
            body: &self.body,
        }
    }
}

impl Serialize for Claims {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.view().serialize(serializer)
    }
}

/// Borrowed claims: the single definition of the wire shape (and the field
/// order QStash uses), which lets [`sign`] serialize without copying the URL
/// or the body hash.
#[derive(Serialize)]
struct ClaimsView<'a> {
    iss: &'a str,
    sub: &'a str,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: &'a str,
    body: &'a str,
}

/// Signs one delivery attempt to `url` whose body hashes to `body_hash` (see
/// [`body_hash`]).
///
/// `iat` is `now_unix_s - backdate_s`, so a receiver whose clock is a little
/// behind (the Python SDK rejects an `iat` in its future) still accepts it;
/// `exp` is `iat + 300` and `nbf` is 0.
pub fn sign(
    key: &SigningKey,
    url: &str,
    body_hash: &str,
    now_unix_s: u64,
    backdate_s: u64,
) -> String {
    let iat = now_unix_s.saturating_sub(backdate_s);
    let jti = RandomId::new(TOKEN_ID_PREFIX);
    let claims = ClaimsView {
        iss: ISSUER,
        sub: url,
        exp: iat.saturating_add(TOKEN_LIFETIME_S),
        nbf: 0,
        iat,
        jti: jti.as_str(),
        body: body_hash,
    };
    encode_token(key, &claims)
}

/// Serializes `claims`, prefixes the fixed header and appends the signature.
fn encode_token(key: &SigningKey, claims: &ClaimsView<'_>) -> String {
    // Everything but `sub` and `body` takes at most 140 bytes, so one
    // allocation is enough unless the URL needs escaping.
    let mut claims_json = Vec::with_capacity(160 + claims.sub.len() + claims.body.len());
    serde_json::to_writer(&mut claims_json, claims)
        .expect("claims of strings and integers always serialize");
    let mut token = String::with_capacity(
        ENCODED_HEADER.len() + 1 + claims_json.len().div_ceil(3) * 4 + 1 + ENCODED_TAG_LEN,
    );
    token.push_str(ENCODED_HEADER);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&claims_json, &mut token);
    append_signature(key, &mut token);
    token
}

/// Appends `.` and the encoded HMAC of `signing_input` (header and claims).
fn append_signature(key: &SigningKey, signing_input: &mut String) {
    let tag = key.tag(signing_input.as_bytes());
    signing_input.push('.');
    URL_SAFE_NO_PAD.encode_string(tag, signing_input);
}

/// Why a delivery signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The token is not three base64url parts of JSON with the required
    /// claims (`iss`, `sub`, `exp`, `body`).
    #[error("malformed signature: {0}")]
    Malformed(&'static str),
    /// No key produced this signature (wrong key, tampered token, or a
    /// truncated tag).
    #[error("signature verification failed")]
    BadSignature,
    #[error("unsupported signature algorithm {alg:?}; only HS256 is accepted")]
    UnsupportedAlgorithm { alg: String },
    #[error("unexpected issuer {actual:?}; want \"Upstash\"")]
    WrongIssuer { actual: String },
    #[error("signature expired at {exp} (now {now})")]
    Expired { exp: u64, now: u64 },
    #[error("signature not valid before {nbf} (now {now})")]
    NotYetValid { nbf: u64, now: u64 },
    /// The signature was made for another URL, so it may have been replayed.
    #[error("signature is for {actual:?}, want {expected:?}")]
    WrongUrl { expected: String, actual: String },
    /// The body is not the one that was signed.
    #[error("body hash does not match: signed {claimed}, received {computed}")]
    BodyMismatch { claimed: String, computed: String },
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Checks a delivery signature the way QStash's receivers do.
///
/// The keys are tried in order (current, then next); the first one whose
/// HMAC matches decides, and then the algorithm, issuer, `exp` and `nbf`
/// (each allowing `clock_tolerance_s`), the URL when one is given, and the
/// body hash (ignoring `=` padding) must all hold.
pub fn verify(
    token: &str,
    body: &[u8],
    keys: &[&SigningKey],
    url: Option<&str>,
    now_unix_s: u64,
    clock_tolerance_s: u64,
) -> Result<Claims, VerifyError> {
    let parts = TokenParts::split(token)?;
    let tag = decode_part(parts.signature, "signature is not base64url")?;
    if tag.is_empty() {
        return Err(VerifyError::Malformed("signature is empty"));
    }
    if !keys
        .iter()
        .any(|key| key.tag_matches(parts.signing_input.as_bytes(), &tag))
    {
        return Err(VerifyError::BadSignature);
    }
    check_algorithm(parts.header)?;
    let claims: Claims = decode_json(
        parts.claims,
        "claims are not base64url JSON with iss, sub, exp and body",
    )?;
    check_claims(&claims, url, now_unix_s, clock_tolerance_s)?;
    check_body(&claims.body, body)?;
    Ok(claims)
}

/// The three parts of a compact JWS, still encoded.
struct TokenParts<'a> {
    header: &'a str,
    claims: &'a str,
    signature: &'a str,
    /// `header.claims`, the bytes the signature covers.
    signing_input: &'a str,
}

impl<'a> TokenParts<'a> {
    fn split(token: &'a str) -> Result<Self, VerifyError> {
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed("expected three dot-separated parts"));
        };
        Ok(Self {
            header,
            claims,
            signature,
            signing_input: &token[..header.len() + 1 + claims.len()],
        })
    }
}

fn decode_part(part: &str, malformed: &'static str) -> Result<Vec<u8>, VerifyError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| VerifyError::Malformed(malformed))
}

fn decode_json<T: serde::de::DeserializeOwned>(
    part: &str,
    malformed: &'static str,
) -> Result<T, VerifyError> {
    let json = decode_part(part, malformed)?;
    serde_json::from_slice(&json).map_err(|_| VerifyError::Malformed(malformed))
}

fn check_algorithm(encoded_header: &str) -> Result<(), VerifyError> {
    let header: Header = decode_json(encoded_header, "header is not base64url JSON with \"alg\"")?;
    if header.alg != ALGORITHM {
        return Err(VerifyError::UnsupportedAlgorithm { alg: header.alg });
    }
    Ok(())
}

fn check_claims(
    claims: &Claims,
    url: Option<&str>,
    now: u64,
    tolerance: u64,
) -> Result<(), VerifyError> {
    if claims.iss != ISSUER {
        return Err(VerifyError::WrongIssuer {
            actual: claims.iss.clone(),
        });
    }
    // Like the official receivers, a token is expired from `exp` on and
    // immature while `nbf` is still ahead, each widened by the tolerance.
    if claims.exp.saturating_add(tolerance) <= now {
        return Err(VerifyError::Expired {
            exp: claims.exp,
            now,
        });
    }
    if claims.nbf > now.saturating_add(tolerance) {
        return Err(VerifyError::NotYetValid {
            nbf: claims.nbf,
            now,
        });
    }
    match url {
        Some(expected) if expected != claims.sub => Err(VerifyError::WrongUrl {
            expected: expected.to_owned(),
            actual: claims.sub.clone(),
        }),
        _ => Ok(()),
    }
}

/// Compares the `body` claim with the hash of the received body. Both sides
/// drop `=` padding first because every official SDK does, so unpadded
/// claims from other signers verify too.
fn check_body(claimed: &str, body: &[u8]) -> Result<(), VerifyError> {
    let computed = body_hash(body);
    let matches: bool = unpadded(claimed)
        .as_bytes()
        .ct_eq(unpadded(&computed).as_bytes())
        .into();
    if matches {
        Ok(())
    } else {
        Err(VerifyError::BodyMismatch {
            claimed: claimed.to_owned(),
            computed,
        })
    }
}

fn unpadded(hash: &str) -> &str {
    hash.trim_end_matches('=')
}

/// A 4-byte prefix followed by random alphanumerics, kept on the stack so
/// that signing does not allocate for the token id.
struct RandomId([u8; RANDOM_ID_LEN]);

impl RandomId {
    fn new(prefix: &[u8; 4]) -> Self {
        let mut id = [0; RANDOM_ID_LEN];
        let (head, tail) = id.split_at_mut(prefix.len());
        head.copy_from_slice(prefix);
        for (slot, character) in tail.iter_mut().zip(random_alphanumerics()) {
            *slot = character;
        }
        Self(id)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("prefixes and alphanumerics are ASCII")
    }
}

/// An endless stream of uniformly random ASCII alphanumerics.
///
/// The randomness comes from v4 UUIDs, which the `uuid` crate draws from the
/// operating system's CSPRNG; bytes are mapped by rejection sampling so no
/// character is more likely than another.
fn random_alphanumerics() -> impl Iterator<Item = u8> {
    std::iter::repeat_with(Uuid::new_v4)
        .flat_map(|uuid| {
            uuid.into_bytes()
                .into_iter()
                .enumerate()
                .filter(|(idx, _)| !UUID_V4_FIXED_BYTES.contains(idx))
                .map(|(_, byte)| byte)
        })
        .filter_map(alphanumeric_from_byte)
}

fn alphanumeric_from_byte(byte: u8) -> Option<u8> {
    (byte < UNBIASED_BYTE_LIMIT).then(|| ALPHANUMERICS[usize::from(byte) % ALPHANUMERICS.len()])
}

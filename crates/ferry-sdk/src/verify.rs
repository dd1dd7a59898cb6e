//! Checking the `Upstash-Signature` header of a delivery inside a handler.
//!
//! [`Receiver`] is the Rust counterpart of the `Receiver` in the official
//! QStash SDKs: it holds the current and next signing keys (so handlers keep
//! working across a key rotation) and accepts a request only if its
//! signature is valid, unexpired, made for this body and, when the caller
//! passes it, for this URL. The cryptography lives in `ferry_core::signing`
//! so the relay and the SDK cannot disagree about the format.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_core::signing::{self, SigningKey};

pub use ferry_core::signing::{Claims, KeyError, VerifyError};

#[cfg(test)]
mod tests;

/// Verifies signed deliveries with the current and next signing keys.
///
/// `Debug` shows the keys as `[redacted]`.
#[derive(Debug, Clone)]
pub struct Receiver {
    current: SigningKey,
    next: SigningKey,
    clock_tolerance_s: u64,
}

impl Receiver {
    /// Builds a receiver from the two keys shown by `GET /v2/keys` (or the
    /// `QSTASH_CURRENT_SIGNING_KEY` and `QSTASH_NEXT_SIGNING_KEY` settings).
    pub fn new(current: impl Into<String>, next: impl Into<String>) -> Result<Self, KeyError> {
        Ok(Self {
            current: SigningKey::new(current)?,
            next: SigningKey::new(next)?,
            clock_tolerance_s: 0,
        })
    }

    /// Accepts tokens this much past `exp` or before `nbf`, for hosts whose
    /// clock drifts from the relay's. Sub-second parts are ignored; the
    /// default is no tolerance.
    #[must_use]
    pub fn clock_tolerance(mut self, tolerance: Duration) -> Self {
        self.clock_tolerance_s = tolerance.as_secs();
        self
    }

    /// Checks `signature` (the `Upstash-Signature` header) against the raw
    /// request `body` at the current system time. Pass the full request URL
    /// as `url` to also reject signatures made for another endpoint.
    pub fn verify(
        &self,
        signature: &str,
        body: &[u8],
        url: Option<&str>,
    ) -> Result<Claims, VerifyError> {
        self.verify_at(signature, body, url, unix_now_s())
    }

    /// [`Receiver::verify`] with an explicit clock, in Unix seconds.
    pub fn verify_at(
        &self,
        signature: &str,
        body: &[u8],
        url: Option<&str>,
        now_unix_s: u64,
    ) -> Result<Claims, VerifyError> {
        signing::verify(
            signature,
            body,
            &[&self.current, &self.next],
            url,
            now_unix_s,
            self.clock_tolerance_s,
        )
    }
}

/// The system clock in Unix seconds. A clock set before 1970 is broken;
/// reading it as the far future makes every signature expired, so such a
/// host rejects deliveries instead of accepting stale ones.
fn unix_now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(u64::MAX, |since_epoch| since_epoch.as_secs())
}

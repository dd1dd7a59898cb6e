//! One request as the sink received it, with shortcuts for the headers Ferry
//! adds to every delivery, so assertions read like the spec.

use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};

/// Message id, stable across retries (spec §5).
const MESSAGE_ID: &str = "upstash-message-id";
/// Number of earlier attempts: `0` on the first delivery (spec §5).
const RETRIED: &str = "upstash-retried";
/// The signing JWT (spec §6).
const SIGNATURE: &str = "upstash-signature";

/// A request the sink received, in full.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    /// Path and query exactly as sent by the client.
    pub uri: Uri,
    pub headers: HeaderMap,
    /// The body, byte for byte.
    pub body: Bytes,
    /// When the request head arrived, for measuring retry intervals.
    pub at: Instant,
}

impl Recorded {
    /// The value of header `name`, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// `Upstash-Message-Id`. Panics if the header is missing.
    pub fn message_id(&self) -> &str {
        self.required_header(MESSAGE_ID)
    }

    /// `Upstash-Retried` as a number. Panics if it is missing or not a
    /// non-negative integer.
    pub fn retried(&self) -> u32 {
        let value = self.required_header(RETRIED);
        value.parse().unwrap_or_else(|error| {
            panic!(
                "{RETRIED}: {value:?} on {} is not a count: {error}",
                self.uri
            )
        })
    }

    /// `Upstash-Signature`. Panics if the header is missing.
    pub fn signature(&self) -> &str {
        self.required_header(SIGNATURE)
    }

    fn required_header(&self, name: &str) -> &str {
        self.header(name).unwrap_or_else(|| {
            let present: Vec<&str> = self.headers.keys().map(|key| key.as_str()).collect();
            panic!(
                "{} {} has no readable {name} header; headers present: {present:?}",
                self.method, self.uri
            )
        })
    }
}

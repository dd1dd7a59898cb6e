//! Decoding the message hash into a `StoredMessage`.

use std::collections::HashMap;

use bytes::Bytes;
use ferry_core::ids::MessageId;
use ferry_core::message::MessageSpec;

use crate::{Error, LastResponse, Result, StoredMessage};

/// The hash as `HGETALL` returns it; empty when the key does not exist.
pub(crate) type RawHash = HashMap<String, Vec<u8>>;

pub(crate) fn decode(key: &str, id: MessageId, mut raw: RawHash) -> Result<Option<StoredMessage>> {
    if raw.is_empty() {
        return Ok(None);
    }
    let corrupt = |reason: String| Error::Corrupt {
        key: key.to_owned(),
        reason,
    };
    let spec_json = raw
        .remove("spec")
        .ok_or_else(|| corrupt("no spec".into()))?;
    let spec: MessageSpec =
        serde_json::from_slice(&spec_json).map_err(|e| corrupt(format!("spec: {e}")))?;
    let retried = number(&raw, "retried").unwrap_or(0) as u32;
    let last = decode_last(&mut raw);
    let dead_at = match raw.get("state").map(Vec::as_slice) {
        Some(b"dead") => Some(number(&raw, "dead_at").unwrap_or(0)),
        _ => None,
    };
    Ok(Some(StoredMessage {
        id,
        spec,
        body: Bytes::from(raw.remove("body").unwrap_or_default()),
        retried,
        last,
        dead_at,
    }))
}

fn decode_last(raw: &mut RawHash) -> Option<LastResponse> {
    if !raw.contains_key("status") && !raw.contains_key("error") {
        return None;
    }
    let status = number(raw, "status")
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| *s > 0);
    let headers = raw
        .get("rhead")
        .and_then(|h| serde_json::from_slice(h).ok())
        .unwrap_or_default();
    let error = raw
        .remove("error")
        .and_then(|e| String::from_utf8(e).ok())
        .filter(|e| !e.is_empty());
    Some(LastResponse {
        status,
        headers,
        body: Bytes::from(raw.remove("rbody").unwrap_or_default()),
        error,
    })
}

fn number(raw: &RawHash, field: &str) -> Option<u64> {
    std::str::from_utf8(raw.get(field)?).ok()?.parse().ok()
}

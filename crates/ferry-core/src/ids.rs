//! Identifier newtypes: tenants, messages and dead letters.
//!
//! A message id carries the number of the Redis partition that holds it, so
//! every later lookup (get, cancel, dead-letter get/delete/retry) finds the
//! partition without a directory and keeps working when the configured
//! partition count changes. The rest of the id is a UUIDv7, which sorts by
//! creation time. A dead-letter id is the message id with another prefix:
//! one message dead-letters at most once (a retry from the DLQ makes a new
//! message), so the two are in one-to-one correspondence.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The most partitions an id can name (two hex digits).
pub const MAX_PARTITIONS: u16 = 256;

const MESSAGE_PREFIX: &str = "msg_";
const DLQ_PREFIX: &str = "dlq_";
/// 32 hex digits of UUID plus 2 hex digits of partition.
const ID_BODY_LEN: usize = 34;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The message or dead-letter id is not in Ferry's format.
    #[error("invalid {kind} id {value:?}")]
    Malformed { kind: &'static str, value: String },
    /// A tenant, queue or schedule name uses characters outside `[A-Za-z0-9._-]`.
    #[error("invalid name {0:?}: use 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'")]
    BadName(String),
}

/// The partition a message lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition(pub u16);

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// `msg_` followed by a UUIDv7 in hex and the partition in two hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageId(String);

impl MessageId {
    /// A fresh id in `partition`; ids made later in this process sort later.
    pub fn generate(partition: Partition) -> Self {
        let uuid = uuid::Uuid::now_v7();
        Self(format!(
            "{MESSAGE_PREFIX}{}{:02x}",
            uuid.simple(),
            partition.0 % MAX_PARTITIONS
        ))
    }

    pub fn parse(value: &str) -> Result<Self, IdError> {
        body_of(value, MESSAGE_PREFIX)
            .map(|_| Self(value.to_owned()))
            .ok_or_else(|| IdError::Malformed {
                kind: "message",
                value: value.to_owned(),
            })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn partition(&self) -> Partition {
        partition_of(&self.0[MESSAGE_PREFIX.len()..])
    }

    /// When the id was made, Unix ms (the UUIDv7's time).
    pub fn created_ms(&self) -> u64 {
        let hex = &self.0[MESSAGE_PREFIX.len()..];
        hex.get(..12)
            .and_then(|t| u64::from_str_radix(t, 16).ok())
            .unwrap_or(0)
    }

    /// The id under which this message appears in the dead-letter queue.
    pub fn dlq_id(&self) -> DlqId {
        DlqId(format!("{DLQ_PREFIX}{}", &self.0[MESSAGE_PREFIX.len()..]))
    }
}

impl TryFrom<String> for MessageId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        Self::parse(&value)
    }
}

impl From<MessageId> for String {
    fn from(id: MessageId) -> String {
        id.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `dlq_` followed by the same body as the dead-lettered message's id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DlqId(String);

impl DlqId {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        body_of(value, DLQ_PREFIX)
            .map(|_| Self(value.to_owned()))
            .ok_or_else(|| IdError::Malformed {
                kind: "dead-letter",
                value: value.to_owned(),
            })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The message that was dead-lettered under this id.
    pub fn message_id(&self) -> MessageId {
        MessageId(format!("{MESSAGE_PREFIX}{}", &self.0[DLQ_PREFIX.len()..]))
    }
}

impl fmt::Display for DlqId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn body_of<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let body = value.strip_prefix(prefix)?;
    let well_formed = body.len() == ID_BODY_LEN
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    well_formed.then_some(body)
}

fn partition_of(body: &str) -> Partition {
    // The body was validated as lowercase hex of the right length when the
    // id was built, so the last two characters always parse.
    let hex = &body[ID_BODY_LEN - 2..];
    Partition(u16::from_str_radix(hex, 16).unwrap_or(0))
}

/// A tenant name from the configuration; every stored object belongs to one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn new(value: &str) -> Result<Self, IdError> {
        validate_name(value).map(|()| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        Self::new(&value)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Names of tenants, queues, URL groups and schedules: `[A-Za-z0-9._-]{1,64}`.
pub fn validate_name(value: &str) -> Result<(), IdError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(IdError::BadName(value.to_owned()))
    }
}

#[cfg(test)]
mod tests;

//! Flow-control keys: per-key limits on deliveries in flight (`parallelism`)
//! and started per period (`rate`), shared by every deliverer.
//!
//! A key lives in one partition, its tenant's home (see
//! [`crate::placement`], which also holds the tenant's queues), and the
//! messages published or enqueued with it are created there. A message
//! that becomes deliverable joins the key's waiting list; it is admitted to
//! the ready stream only while the key has room, by the same step that
//! added it or by the step that frees a slot (the outcome of an attempt).
//! The admitted entry names its key, so whoever records the attempt (or
//! discards it, when the message was cancelled meanwhile) frees the slot,
//! also after the entry was reclaimed from a deliverer that crashed.
//!
//! Every attempt takes a slot: a retry or a deferred message waits in the
//! list again, so the limits hold for attempts, not only for messages. The
//! rate uses fixed windows: a window opens with the first admission after
//! the previous one ended and admits at most `rate` attempts. A key whose
//! window is full while messages wait is registered, scored by the time the
//! window ends, in its partition's wake set, which the deliverer polls.

use ferry_core::ids::TenantId;

/// A flow-control key as the API shows it (QStash v2 §9.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowKey {
    pub key: String,
    /// Messages waiting for room.
    pub waiting: u64,
    /// 0 when unbounded.
    pub parallelism_max: u32,
    /// Attempts admitted and not yet finished.
    pub parallelism_count: u32,
    /// 0 when unbounded.
    pub rate_max: u32,
    /// Attempts admitted in the current window (0 once it has ended).
    pub rate_count: u32,
    pub rate_period_ms: u64,
    /// Unix ms at which the current window opened.
    pub rate_period_start_ms: u64,
    pub paused: bool,
    pub pinned_parallelism: bool,
    pub pinned_rate: bool,
}

/// A change made to a key through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowChange {
    /// Stop admitting; waiting messages stay, the rate window keeps elapsing.
    Pause,
    Resume,
    /// Fix limits so that messages published with the key no longer change
    /// them, and start a new rate window. Creates the key when needed.
    Pin {
        parallelism: Option<u32>,
        rate: Option<u32>,
        period_ms: Option<u64>,
    },
    /// Let messages change the named limits again.
    Unpin {
        parallelism: bool,
        rate: bool,
    },
    /// Start a new rate window now.
    ResetRate,
}

/// The slot an admitted ready entry holds: its key, as `<tenant>:<key>`.
/// Tenant names contain no `:`, so this names one key of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowSlot(String);

impl FlowSlot {
    pub fn of(tenant: &TenantId, key: &str) -> Self {
        Self(format!("{tenant}:{key}"))
    }

    /// The slot named by a stored member (a ready entry's `f` field, a
    /// message's `fc` field or the wake set).
    pub(crate) fn from_entry(member: String) -> Self {
        Self(member)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tenant and the key; `None` for a member that names no tenant.
    pub fn parts(&self) -> Option<(TenantId, String)> {
        let (tenant, key) = self.0.split_once(':')?;
        Some((TenantId::new(tenant).ok()?, key.to_owned()))
    }
}

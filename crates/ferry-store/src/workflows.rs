//! Upstash Workflow runs (see [`ferry_core::workflow`] for the step list).
//!
//! A run lives in one partition, chosen from its tenant and id
//! ([`run_partition`]), and so do all its messages: the gateway creates
//! their ids there, so appending a message's raw step, checking the run is
//! active and storing the message is one single-slot script.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<prefix>:v1:{p<n>}:wf:<tenant>:<run id>` | hash | `state` (`RUN_STARTED`, `RUN_SUCCESS`, `RUN_FAILED`, `RUN_CANCELED`), `url`, `created` (ms), `headers` (JSON user headers of the trigger), `config` (JSON [`RunConfig`]), `invoker`, `size` (bytes of the step list), `told:<invoked run id>:<its created ms>` (ms, one per invoked run's result stored, see the `invoke` module), and once ended `completed` (ms) and `response` |
//! | `<prefix>:v1:{p<n>}:wfsteps:<tenant>:<run id>` | list | the run's raw steps in append order; entry 0 is the initial payload |
//!
//! A run's waiters and lookback events (`wfwait`, `wfwaiting`, `wflook`)
//! are in the same partition; see [`crate::waiters`].
//!
//! Both keys expire [`RUN_RETENTION`] after the run ended.
//!
//! **Bodies at delivery.** A step message's stored body is what was
//! published; every path that hands a claimed entry to a deliverer (a read,
//! the takeover of a dead deliverer's entries, the recovery of one's own)
//! replaces it by the list up to the message's own entry, read in one
//! command (the list only grows, so any read sees the same prefix), and
//! recomputes the body hash the signature covers. A message whose entry is
//! no longer in the list (its run was replaced by a new run with the same
//! id, or expired) is handed over as gone, like a cancelled message.
//!
//! **Size.** A run's step list is bounded: an append that would make it
//! larger than the caller's bound is refused, never cut
//! ([`RunPublish::TooLarge`]).
//!
//! **Cancel** deletes the run's pending step messages (ready entries of
//! deleted messages are skipped by the deliverer, as for any cancel); the
//! call results and failure callbacks the deliverer creates are not in the
//! list and are delivered, and the app then finds the run ended.

use std::time::Duration;

use bytes::Bytes;
use ferry_core::ids::{Partition, TenantId};
use ferry_core::signing::body_hash;
use ferry_core::workflow::{RunConfig, step_list};

use crate::StoredMessage;
use crate::placement::spread;

/// How long an ended run stays readable.
pub const RUN_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The partition holding the tenant's run `run_id`; every message of the
/// run must be created there.
pub fn run_partition(tenant: &TenantId, run_id: &str, partitions: u16) -> Partition {
    spread(&format!("{tenant}:{run_id}"), partitions)
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Started,
    Success,
    Failed,
    Canceled,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "RUN_STARTED",
            Self::Success => "RUN_SUCCESS",
            Self::Failed => "RUN_FAILED",
            Self::Canceled => "RUN_CANCELED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Started, Self::Success, Self::Failed, Self::Canceled]
            .into_iter()
            .find(|state| state.as_str() == s)
    }
}

/// A run created by its Init message.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub run_id: String,
    /// The workflow endpoint (`Upstash-Workflow-Url`).
    pub url: String,
    pub created_at: u64,
    /// Headers of the trigger re-sent with every later delivery of the run.
    pub user_headers: Vec<(String, String)>,
    pub config: RunConfig,
    /// Who invoked the run (JSON), for `context.invoke`.
    pub invoker: Option<String>,
}

/// What storing a message of a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunPublish {
    Created,
    /// Stored already: an Init message for a run that is active, or an
    /// invoked run's result whose told token the run has recorded
    /// ([`crate::Store::workflow_tell`]). Nothing was stored.
    Deduplicated,
    /// The run does not exist or has ended: nothing was stored.
    Inactive,
    /// The step list would exceed the bound: nothing was stored.
    TooLarge,
    /// The backlog bound named is reached: nothing was stored.
    BacklogFull(crate::BacklogBound),
}

/// How a run ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// The app finished it; the body of its `DELETE` is the run's response.
    Success(Bytes),
    /// A message of the run failed for good.
    Failed,
    /// Cancelled: its pending step messages are deleted.
    Canceled,
}

impl RunEnd {
    pub fn state(&self) -> RunState {
        match self {
            Self::Success(_) => RunState::Success,
            Self::Failed => RunState::Failed,
            Self::Canceled => RunState::Canceled,
        }
    }

    pub(crate) fn response(&self) -> &[u8] {
        match self {
            Self::Success(body) => body,
            _ => b"",
        }
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowRun {
    pub tenant: TenantId,
    pub run_id: String,
    pub url: String,
    pub created_at: u64,
    pub state: RunState,
    pub completed_at: Option<u64>,
    /// The body of the `DELETE` that ended the run successfully.
    pub response: Option<Bytes>,
    pub user_headers: Vec<(String, String)>,
    pub config: RunConfig,
    pub invoker: Option<String>,
    /// The raw steps, in append order.
    pub steps: Vec<String>,
}

/// Replaces the body of a claimed step message by its run's step list up to
/// its own entry, and its body hash by the new body's. False when its entry
/// is not in `steps`.
pub(crate) fn prepare_step_body(message: &mut StoredMessage, steps: &[String]) -> bool {
    let own = format!("{{\"messageId\":\"{}\",", message.id);
    let Some(end) = steps.iter().position(|s| s.starts_with(&own)) else {
        return false;
    };
    let body = step_list(&steps[..=end]);
    message.spec.body_hash = body_hash(&body);
    message.body = Bytes::from(body);
    true
}

/// Whether a claimed message's body is its run's step list.
pub(crate) fn delivers_step_list(message: &StoredMessage) -> Option<&str> {
    message
        .spec
        .workflow
        .as_ref()
        .filter(|w| w.delivers_step_list())
        .map(|w| w.run_id.as_str())
}

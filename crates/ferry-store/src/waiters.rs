//! Waiters of workflow runs: `context.waitForEvent`, `waitForWebhook`,
//! `notify` and their lookback events.
//!
//! A waiter belongs to its run and lives in the run's partition, so every
//! transition that touches it and the run (wait, notify, timeout, the run's
//! end) is one single-slot script.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<prefix>:v1:{p<n>}:wfwait:<tenant>:<run id>` | hash | the run's waiters: event id → `<timeout message id>\n<data>` (data is the gateway's JSON) |
//! | `<prefix>:v1:{p<n>}:wfwaiting:<tenant>` | sorted set | the partition's waiters of the tenant as `<event id>\n<run id>`, all score 0, so the waiters of one event are one lexicographic range (a broadcast `notify` reads every partition's) |
//! | `<prefix>:v1:{p<n>}:wflook:<tenant>:<run id>` | hash | lookback events: event id → event data, stored by a per-run notify (or a webhook call) nobody waited for yet |
//!
//! **Durable timeout.** Registering a waiter also stores its timeout
//! message: an ordinary message of the run, due at the waiter's deadline,
//! that is *not* in the run's step list. The deliverer's promotion of due
//! messages makes it ready like any delayed message, so it survives
//! restarts with the rest of the store. When a deliverer claims it, one
//! script checks the waiter is still the one that message answers, and only
//! then removes the waiter and appends the message's step. A notify
//! resolves the waiter in one script too, which deletes the timeout message;
//! whichever runs first wins, and the other finds the waiter gone. A
//! claimed timeout whose waiter is gone (notified, or its run ended) is
//! deleted and skipped, like a cancelled message.
//!
//! **Run end.** Ending a run (success, failure, cancel) removes its waiters
//! and lookback events in the same script; their timeout messages are
//! dropped when they come due.
//!
//! **One waiter per run and event.** A second wait for an event the run
//! already waits for keeps the first (a retried registration must not
//! fail the run).

use bytes::Bytes;
use ferry_core::ids::{MessageId, TenantId};

use crate::NewMessage;

/// The most lookback events a run holds; a further one is refused.
pub const MAX_LOOKBACK_EVENTS: usize = 64;

/// A waiter as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiter {
    pub run_id: String,
    pub event_id: String,
    /// The message that answers the wait when its timeout passes.
    pub timeout_message: MessageId,
    /// What the gateway needs to answer the wait and list it (JSON).
    pub data: String,
}

impl Waiter {
    /// The stored value: `<timeout message id>\n<data>`.
    pub(crate) fn value(&self) -> String {
        format!("{}\n{}", self.timeout_message, self.data)
    }

    /// The waiter stored as `value` for `event_id` of `run_id`.
    pub(crate) fn parse(run_id: &str, event_id: &str, value: &str) -> Option<Self> {
        let (id, data) = value.split_once('\n')?;
        Some(Self {
            run_id: run_id.to_owned(),
            event_id: event_id.to_owned(),
            timeout_message: MessageId::parse(id).ok()?,
            data: data.to_owned(),
        })
    }

    /// Its member in the partition's index.
    pub(crate) fn index_member(event_id: &str, run_id: &str) -> String {
        format!("{event_id}\n{run_id}")
    }
}

/// A wait to register: the waiter and its timeout message (a message of
/// the run whose spec names the event in `wait_event`, due at the
/// deadline).
#[derive(Debug, Clone)]
pub struct NewWaiter {
    pub tenant: TenantId,
    pub waiter: Waiter,
    pub timeout: NewMessage,
}

/// What registering a wait did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The waiter and its timeout message are stored.
    Waiting,
    /// The run already waits for this event; nothing was stored.
    AlreadyWaiting,
    /// A lookback event was stored for the run: nothing was stored, and the
    /// caller resolves the wait with it.
    Lookback(Bytes),
    /// The run does not exist or has ended.
    Inactive,
    /// The backlog bound named is reached: nothing was stored.
    BacklogFull(crate::BacklogBound),
}

/// What a wait is resolved by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolvedBy {
    /// A notify for a registered waiter, whose timeout message is this.
    Waiter(MessageId),
    /// A lookback event stored for the run.
    Lookback,
}

/// A wait's resolution: the step message answering it (a message of the
/// run, appended to its step list like any step).
#[derive(Debug, Clone)]
pub struct Resolution {
    pub event_id: String,
    pub by: ResolvedBy,
    pub message: NewMessage,
}

/// What resolving a wait did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Resolved,
    /// The waiter (or lookback event) is no longer there: someone else
    /// resolved it, or its timeout fired. Nothing was stored.
    Gone,
    /// The run has ended. Nothing was stored.
    Inactive,
    /// The step list would exceed the bound: nothing was stored.
    TooLarge,
    /// The backlog bound named is reached: nothing was stored.
    BacklogFull(crate::BacklogBound),
}

/// What storing a per-run event (lookback) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventStored {
    /// Nobody waited: it is kept until a wait for it arrives.
    Stored,
    /// The run waits for it: the caller resolves this waiter instead.
    Waiting(Waiter),
    /// The run does not exist or has ended.
    Inactive,
    /// The run holds [`MAX_LOOKBACK_EVENTS`] already.
    Full,
}

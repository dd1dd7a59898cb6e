//! `context.invoke`: a run started by another run, whose outcome goes back
//! to the invoking run as one of its steps.
//!
//! The gateway builds, when the invoked run is created, the whole message
//! that will carry the result to the invoker (destination, headers, the
//! invoking run's configuration, the step it waits on) and the run keeps it
//! as its [`Invoker`]. When the run ends, [`end_workflow_run`] ends it and,
//! if it was the call that ended it, stores that message, with the outcome
//! as the step's `out`, as a message of the invoking run: the store's own
//! publish step checks the invoker is still active (an ended invoker drops
//! the result) and appends it to the invoker's step list.
//!
//! The two are separate steps because the runs live in different
//! partitions. A crash between them loses the result; otherwise only the
//! call that ended the run publishes it (see [`end_workflow_run`] for the
//! one window where that can go wrong).

use bytes::Bytes;
use ferry_core::ids::{MessageId, TenantId};
use ferry_core::message::MessageSpec;
use ferry_core::signing::body_hash;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::workflows::{RunEnd, RunPublish, RunState, run_partition};
use crate::{NewMessage, Result, Store};

/// The run that invoked a run, and the message that tells it the outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invoker {
    pub workflow_run_id: String,
    pub workflow_url: String,
    /// Unix ms.
    pub workflow_run_created_at: u64,
    /// The invoking run's step that waits (the SDK's `step` of the
    /// envelope); the result is this step with an `out`.
    pub step: Map<String, Value>,
    /// The message carrying the result, but for its body, times and id.
    pub message: MessageSpec,
    /// The invoking run's step-list bound.
    pub max_run_bytes: u64,
}

impl Invoker {
    /// The invoker as the run keeps it.
    pub fn to_json(&self) -> String {
        // Strings, numbers and JSON values always serialise.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(json: &str) -> Option<Self> {
        serde_json::from_str(json).ok()
    }

    /// The message telling the invoker how the run ended, placed in the
    /// invoking run's partition of `partitions`.
    pub fn result_message(&self, end: &RunEnd, now_ms: u64, partitions: u16) -> NewMessage {
        let mut step = self.step.clone();
        step.insert("out".into(), Value::String(outcome(end).to_string()));
        let body = Bytes::from(Value::Object(step).to_string());
        let mut spec = self.message.clone();
        spec.created_at = now_ms;
        spec.not_before = now_ms;
        spec.body_hash = body_hash(&body);
        let partition = run_partition(&spec.tenant, &self.workflow_run_id, partitions);
        NewMessage {
            id: MessageId::generate(partition),
            spec,
            body,
        }
    }
}

/// What the SDK reads as the invoked run's result (`out`, a JSON string):
/// the response of a successful run as `body` (omitted when there is
/// none), and which way it ended. The body of a failed run is omitted,
/// not null: the SDK hands it to the app as it is.
///
/// A cancelled run reports `{"isCanceled":true,"isFailed":false}`; the
/// specification leaves the exact shape open, and this is what the JS SDK's
/// type (`InvokeStepResponse`) allows.
fn outcome(end: &RunEnd) -> Value {
    let mut out = Map::new();
    if let RunEnd::Success(body) = end
        && !body.is_empty()
    {
        out.insert(
            "body".into(),
            Value::String(String::from_utf8_lossy(body).into_owned()),
        );
    }
    out.insert(
        "isFailed".into(),
        Value::Bool(matches!(end, RunEnd::Failed)),
    );
    out.insert(
        "isCanceled".into(),
        Value::Bool(matches!(end, RunEnd::Canceled)),
    );
    Value::Object(out)
}

/// Ends the tenant's run `run_id` as `end` says (see
/// [`Store::end_workflow`]) and, when this call ended an invoked run, tells
/// its invoker. Returns the run's state before.
///
/// The invoker is read before the end (the end script is shared with the
/// other run transitions and returns only the state): a run's invoker never
/// changes, so the invoker read is the ended run's, except in one window:
/// if, between the read and the end, the run is ended elsewhere and a new
/// run is started under the same id, the new run's invoker is not told
/// (the old one's may be told twice, which the SDK skips as a duplicate
/// step).
pub async fn end_workflow_run<S: Store>(
    store: &S,
    tenant: &TenantId,
    run_id: &str,
    end: &RunEnd,
    now_ms: u64,
) -> Result<Option<RunState>> {
    let invoker = store
        .workflow_run(tenant, run_id)
        .await?
        .filter(|run| run.state == RunState::Started)
        .and_then(|run| run.invoker)
        .and_then(|json| Invoker::from_json(&json));
    let before = store.end_workflow(tenant, run_id, end, now_ms).await?;
    if before == Some(RunState::Started)
        && let Some(invoker) = invoker
    {
        tell_invoker(store, &invoker, end, now_ms).await?;
    }
    Ok(before)
}

async fn tell_invoker<S: Store>(
    store: &S,
    invoker: &Invoker,
    end: &RunEnd,
    now_ms: u64,
) -> Result<()> {
    let message = invoker.result_message(end, now_ms, store.partitions());
    let stored = store
        .workflow_publish(&message, None, invoker.max_run_bytes)
        .await?;
    if stored != RunPublish::Created {
        tracing::warn!(
            workflow.run = %invoker.workflow_run_id,
            outcome = ?stored,
            "the invoking workflow run did not take the invoked run's result"
        );
    }
    Ok(())
}

//! `context.invoke`: a run started by another run, whose outcome goes back
//! to the invoking run as one of its steps.
//!
//! The gateway builds, when the invoked run is created, the whole message
//! that will carry the result to the invoker (destination, headers, the
//! invoking run's configuration, the step it waits on) and the run keeps it
//! as its [`Invoker`]. When the run ends, [`end_workflow_run`] stores that
//! message, with the outcome as the step's `out`, as a message of the
//! invoking run, then ends the run. The invoking run's publish checks it is
//! still active (an ended invoker drops the result) and appends the result
//! to its step list.
//!
//! **Order.** The runs live in different partitions, so telling and ending
//! are two scripts, and a crash or a store error can fall between them.
//! Telling comes first, so that an interruption leaves the invoked run
//! active: whoever ends it again (the SDK retries its `DELETE` when it
//! failed; a failed run is failed again by the next failure of one of its
//! messages; a cancel can be repeated) tells again and ends it. Ending first
//! would lose the result: the ended run would never be ended, nor its
//! invoker told, again.
//!
//! **Exactly once.** Telling is idempotent: the result carries a told token
//! naming the invoked run's generation (its id and creation ms), the
//! invoking run records it with the result in the same script, and a repeat
//! stores nothing ([`Store::workflow_tell`]). Each end tells before it ends,
//! so once the run is ended its invoker has been told, at least once, and by
//! the token, exactly once; two ends racing both tell (once in all) and one
//! ends the run. The outcome told is the one of the first tell to land,
//! which is the run's recorded end except when two different ends race,
//! then the invoker's step may say, for example, failed where the run says
//! cancelled.
//!
//! **Generation.** The end names the generation it read
//! ([`Store::end_workflow_generation`]): if the run ended and a new run was
//! started under the same id in between, the new run is left alone, and its
//! invoker is told only by its own end.

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

/// Tells the invoker of the tenant's run `run_id`, if it has one, how the
/// run ends, then ends it as `end` says (see [`Store::end_workflow`]).
/// Returns the run's state before. See the module doc for the order.
pub async fn end_workflow_run<S: Store>(
    store: &S,
    tenant: &TenantId,
    run_id: &str,
    end: &RunEnd,
    now_ms: u64,
) -> Result<Option<RunState>> {
    let Some(run) = store.workflow_run(tenant, run_id).await? else {
        return Ok(None);
    };
    let invoker = run
        .invoker
        .as_deref()
        .filter(|_| run.state == RunState::Started)
        .and_then(Invoker::from_json);
    if let Some(invoker) = invoker {
        let told = format!("{run_id}:{}", run.created_at);
        tell_invoker(store, &invoker, &told, end, now_ms).await?;
    }
    store
        .end_workflow_generation(tenant, run_id, run.created_at, end, now_ms)
        .await
}

async fn tell_invoker<S: Store>(
    store: &S,
    invoker: &Invoker,
    told: &str,
    end: &RunEnd,
    now_ms: u64,
) -> Result<()> {
    let message = invoker.result_message(end, now_ms, store.partitions());
    let stored = store
        .workflow_tell(&message, told, invoker.max_run_bytes)
        .await?;
    if !matches!(stored, RunPublish::Created | RunPublish::Deduplicated) {
        tracing::warn!(
            workflow.run = %invoker.workflow_run_id,
            outcome = ?stored,
            "the invoking workflow run did not take the invoked run's result"
        );
    }
    Ok(())
}

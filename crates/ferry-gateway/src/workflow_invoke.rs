//! `context.invoke` on the publish path.
//!
//! The JS SDK starts the invoked run with an Init message marked
//! `Upstash-Workflow-Invoke: true` whose body is an envelope: the invoked
//! run's payload (`body`), plus what the invoking run needs to get the
//! result back: its id, URL and creation time, the step that waits, and the
//! publish headers of a step of the invoking run. The invoked run's initial
//! payload is the envelope's `body` (empty when absent); the rest becomes
//! the run's [`Invoker`], with the message that will carry the result built
//! here, as a publish of those headers to the invoking run would be. Building
//! it now checks the invoking run is active (else 400, as for any message
//! of an ended run) and applies its configuration.

use std::collections::BTreeMap;

use bytes::Bytes;
use ferry_core::message::MessageSpec;
use ferry_core::publish::{self as publish_headers, WorkflowHeaders};
use ferry_store::{Invoker, Store};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::publish::{PublishRequest, TargetKind, target_from_destination};
use crate::workflows::{Prepared, refused};

/// The body of an invoke message (the SDK's `InvokeWorkflowRequest`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Envelope {
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, Vec<String>>,
    workflow_run_id: String,
    #[serde(default)]
    workflow_run_created_at: u64,
    workflow_url: String,
    step: Map<String, Value>,
}

/// For an invoke message, replaces `body` by the invoked run's payload and
/// returns the envelope it came in; `None` for any other message.
pub(crate) fn take_envelope(
    workflow: Option<&WorkflowHeaders>,
    body: &mut Bytes,
) -> ApiResult<Option<Envelope>> {
    if !workflow.is_some_and(|wf| wf.init && wf.invoke) {
        return Ok(None);
    }
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
        refused(ApiError::bad_request(format!(
            "invalid workflow invoke body: {e}"
        )))
    })?;
    *body = Bytes::from(envelope.body.clone().unwrap_or_default());
    Ok(Some(envelope))
}

/// Makes the run that the Init message `spec` creates remember who invoked
/// it.
pub(crate) async fn attach<S: Store>(
    state: &AppState<S>,
    spec: &MessageSpec,
    envelope: Envelope,
    prepared: &mut Prepared,
) -> ApiResult<()> {
    let Some(run) = prepared.run.as_mut() else {
        return Ok(());
    };
    let message = result_template(state, spec, &envelope).await?;
    let invoker = Invoker {
        workflow_run_id: envelope.workflow_run_id,
        workflow_url: envelope.workflow_url,
        workflow_run_created_at: envelope.workflow_run_created_at,
        step: envelope.step,
        message,
        max_run_bytes: state.cfg.workflow_max_run_bytes,
    };
    run.invoker = Some(invoker.to_json());
    Ok(())
}

/// The message that will carry the result: a publish of the envelope's
/// headers to the invoking run's URL, prepared like any message of that run.
async fn result_template<S: Store>(
    state: &AppState<S>,
    spec: &MessageSpec,
    envelope: &Envelope,
) -> ApiResult<MessageSpec> {
    let invalid = |what: String| refused(ApiError::bad_request(what));
    let target = target_from_destination(&envelope.workflow_url).map_err(refused)?;
    let TargetKind::Url(destination) = target.kind else {
        return Err(invalid(format!(
            "invalid workflow invoke workflowUrl {:?}: use an http:// or https:// url",
            envelope.workflow_url
        )));
    };
    let headers = header_map(&envelope.headers).map_err(invalid)?;
    let opts = publish_headers::parse(
        &headers,
        &target.query_config,
        &state.cfg.limits,
        spec.created_at,
    )
    .map_err(|e| invalid(format!("invalid workflow invoke headers: {e}")))?;
    let names_invoker = opts
        .workflow
        .as_ref()
        .is_some_and(|wf| wf.run_id == envelope.workflow_run_id && !wf.init);
    if !names_invoker {
        return Err(invalid(
            "workflow invoke headers must name the invoking run (Upstash-Workflow-RunId equal to workflowRunId, Init false)".into(),
        ));
    }
    let result = PublishRequest {
        tenant: spec.tenant.clone(),
        destination: Some(destination),
        opts,
        body: Bytes::new(),
        caller_ip: spec.caller_ip.clone(),
        now: spec.created_at,
        topic: None,
        queue: None,
    };
    let prepared = Box::pin(crate::publish::prepare(state, result)).await?;
    Ok(prepared.into_message().spec)
}

/// The envelope's headers (`{name: [values]}`) as a header map.
fn header_map(headers: &BTreeMap<String, Vec<String>>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, values) in headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid workflow invoke header name {name:?}"))?;
        for value in values {
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("invalid value of workflow invoke header {name}"))?;
            map.append(header.clone(), value);
        }
    }
    Ok(map)
}

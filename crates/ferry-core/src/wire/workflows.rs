//! The run view of Upstash Workflow runs (`GET /v2/workflows/logs`, the
//! SDK's `client.logs`).

use serde::{Deserialize, Serialize};

/// A page of runs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRunList {
    /// Where the next page starts; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    pub runs: Vec<WorkflowRunLog>,
}

/// One run (the SDK's `WorkflowRunLog`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowRunLog {
    pub workflow_run_id: String,
    pub workflow_url: String,
    /// `RUN_STARTED`, `RUN_SUCCESS`, `RUN_FAILED` or `RUN_CANCELED`.
    pub workflow_state: String,
    /// Unix ms.
    pub workflow_run_created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_run_completed_at: Option<u64>,
    /// The run's result, as the app returned it (JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_run_response: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// The run that started this one with `context.invoke`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoker: Option<WorkflowInvoker>,
    /// The steps in groups `{"type": "sequential" | "parallel", "steps":
    /// [...]}`, each step as the app recorded it plus `messageId`,
    /// `callType`, `state` and `createdAt`.
    #[serde(default)]
    pub steps: Vec<serde_json::Value>,
}

/// The invoking run of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowInvoker {
    pub workflow_run_id: String,
    pub workflow_url: String,
    pub workflow_run_created_at: u64,
}

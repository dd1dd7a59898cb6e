//! Flow-control keys: waiting messages, slots and rate in use against their
//! limits, with pause, resume, pin and unpin.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use ferry_core::wire::FlowControlInfo;
use ferry_store::Store;
use http::HeaderMap;
use serde::Deserialize;

use crate::Console;
use crate::api::{self, segment};
use crate::page::{self, Chrome, Failure, Notice, PageResult};
use crate::session::Operator;

const ACTIVE: &str = "/console/flows";

struct Row {
    info: FlowControlInfo,
    /// Where its forms post.
    base: String,
}

#[derive(Template)]
#[template(path = "flows.html")]
struct FlowsPage {
    chrome: Chrome,
    rows: Vec<Row>,
}

pub(crate) async fn page<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Query(q): Query<crate::page::NoticeQuery>,
) -> PageResult {
    let keys: Vec<FlowControlInfo> = console
        .inner
        .api
        .get(&operator.tenant, "/v2/flowControl")
        .await?;
    let rows = keys
        .into_iter()
        .map(|info| Row {
            base: format!("/console/flows/{}", segment(&info.flow_control_key)),
            info,
        })
        .collect();
    Ok(page::render(&FlowsPage {
        chrome: Chrome::new(&operator, ACTIVE).with_notice(q.notice),
        rows,
    }))
}

/// The pin form's limits; empty fields leave a limit as it is.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PinForm {
    parallelism: String,
    rate: String,
    period: String,
}

pub(crate) async fn act<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Path((key, action)): Path<(String, String)>,
    Form(form): Form<PinForm>,
) -> PageResult {
    let (query, notice) = match action.as_str() {
        "pause" => (String::new(), Notice::Paused),
        "resume" => (String::new(), Notice::Resumed),
        "pin" => (
            api::query([
                ("parallelism", form.parallelism.as_str()),
                ("rate", &form.rate),
                ("period", &form.period),
            ]),
            Notice::Pinned,
        ),
        "unpin" => (
            api::query([("parallelism", "true"), ("rate", "true")]),
            Notice::Unpinned,
        ),
        other => return Err(Failure::not_found(format!("no action {other:?}"))),
    };
    let uri = format!("/v2/flowControl/{}/{action}?{query}", segment(&key));
    console
        .inner
        .api
        .post(&operator.tenant, &uri, HeaderMap::new())
        .await?;
    tracing::info!(tenant = %operator.tenant, flow.key = %key, action, "console: flow-control key changed");
    Ok(page::done(ACTIVE, notice))
}

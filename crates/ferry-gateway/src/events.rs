//! `GET /v2/events` (and `/v2/logs`): the tenant's event log (QStash §3.6,
//! §9.3), newest first unless `order=earliestFirst`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use ferry_core::wire::{LogEvent, LogList};
use ferry_store::{EventFilter, EventQuery, EventState, LoggedEvent, Order, Store};
use http::Request;

use crate::AppState;
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::query::QueryPairs;

const KNOWN: [&str; 18] = [
    "cursor",
    "count",
    "order",
    "state",
    "messageId",
    "messageIds",
    "url",
    "label",
    "callerIp",
    "host",
    "path",
    "fromDate",
    "toDate",
    "topicName",
    "queueName",
    "scheduleId",
    "flowControlKey",
    "endpointName",
];
const DEFAULT_COUNT: usize = 100;
const MAX_COUNT: usize = 1_000;

pub(crate) async fn events<S: Store>(
    state: State<AppState<S>>,
    tenant: Tenant,
    request: Request<Body>,
) -> ApiResult<Json<LogList>> {
    list(state, tenant, request, false).await
}

/// The same as `events`, also under the `logs` key.
pub(crate) async fn logs<S: Store>(
    state: State<AppState<S>>,
    tenant: Tenant,
    request: Request<Body>,
) -> ApiResult<Json<LogList>> {
    list(state, tenant, request, true).await
}

async fn list<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    request: Request<Body>,
    with_logs_key: bool,
) -> ApiResult<Json<LogList>> {
    let q = QueryPairs::parse(request.uri().query());
    q.reject_unknown(&KNOWN)?;
    let page = state.store.events_page(&tenant, &query(&q)?).await?;
    let events: Vec<LogEvent> = page.events.iter().map(wire).collect();
    Ok(Json(LogList {
        logs: with_logs_key.then(|| events.clone()),
        events,
        cursor: page.cursor,
    }))
}

fn query(q: &QueryPairs) -> ApiResult<EventQuery> {
    let paging = q.paging(DEFAULT_COUNT, MAX_COUNT, Order::LatestFirst)?;
    Ok(EventQuery {
        cursor: paging.cursor,
        count: paging.count,
        order: paging.order,
        filter: filter(q)?,
    })
}

fn filter(q: &QueryPairs) -> ApiResult<EventFilter> {
    let mut states = Vec::new();
    for name in q.all("state") {
        states.extend(states_named(&name)?);
    }
    let mut message_ids = q.all("messageId");
    message_ids.extend(q.all("messageIds"));
    // A state this relay never logs matches no line.
    let unmatched = q.has("state") && states.is_empty();
    Ok(EventFilter {
        states,
        message_ids,
        urls: q.all("url"),
        labels: q.all("label"),
        caller_ips: q.all("callerIp"),
        hosts: q.all("host"),
        paths: q.all("path"),
        queue_names: q.all("queueName"),
        topic_names: q.all("topicName"),
        endpoint_names: q.all("endpointName"),
        schedule_ids: q.all("scheduleId"),
        flow_control_keys: q.all("flowControlKey"),
        from_date: q.number("fromDate")?,
        to_date: q.number("toDate")?,
        unmatched,
    })
}

/// The logged states a `state` filter value stands for. `IN_PROGRESS`
/// means any state of a message still being worked on; `ACTIVE` and
/// `CANCEL_REQUESTED` are valid names this relay does not log.
fn states_named(name: &str) -> ApiResult<Vec<EventState>> {
    if let Some(state) = EventState::parse(name) {
        return Ok(vec![state]);
    }
    match name {
        "IN_PROGRESS" => Ok(vec![EventState::Retry, EventState::Error]),
        "ACTIVE" | "CANCEL_REQUESTED" => Ok(Vec::new()),
        other => Err(ApiError::bad_request(format!(
            "unknown state {other:?}; use CREATED, ACTIVE, RETRY, ERROR, IN_PROGRESS, DELIVERED, FAILED, CANCEL_REQUESTED or CANCELED"
        ))),
    }
}

fn wire(e: &LoggedEvent) -> LogEvent {
    let d = &e.detail;
    LogEvent {
        time: e.time,
        message_id: e.message_id.to_string(),
        state: e.state.as_str().to_owned(),
        url: d.url.clone(),
        method: (!d.method.is_empty()).then(|| d.method.clone()),
        error: d.error.clone(),
        next_delivery_time: d.next_delivery_time,
        response_status: d.response_status,
        caller_ip: d.caller_ip.clone(),
        queue_name: d.queue_name.clone(),
        topic_name: d.topic_name.clone(),
        endpoint_name: d.endpoint_name.clone(),
        schedule_id: d.schedule_id.clone(),
        flow_control_key: d.flow_control_key.clone(),
        labels: d.labels.clone(),
    }
}

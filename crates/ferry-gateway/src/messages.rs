//! `GET /v2/messages/{id}`, `DELETE /v2/messages/{id}`, and bulk cancel
//! `DELETE /v2/messages` (QStash §3.5) in three forms:
//!
//! * by ids: `messageIds` in the query (the JS SDK) or a JSON body
//!   `{"messageIds": [...]}` (the Python SDK's `cancel_many`). An empty id
//!   list cancels nothing, never everything.
//! * by filter: `url`, `topicName`, `queueName`, `scheduleId`, `label`,
//!   `flowControlKey`, `callerIp`, `host`, `path`, `fromDate`, `toDate` in
//!   the query (the JS SDK's `cancel({filter})`). A parameter with several
//!   values (repeated or comma-separated) matches any of them; different
//!   parameters must all match. An unknown parameter is a 400, so a typo
//!   cannot widen the cancel to everything.
//! * everything: no filter (the JS SDK's `cancel({all: true})` and
//!   `deleteAll()`, and the Python SDK's `cancel_all()`, which sends neither
//!   query nor body).
//!
//! A cancel by filter or of everything takes every match in one request,
//! as QStash does: the JS SDK still sends a legacy `count` (100 by default)
//! and documents that the server ignores it, so `count` is accepted, with
//! any value, and ignored. On a very large backlog that request can run
//! into the gateway's request timeout; what was cancelled stays cancelled
//! and calling again goes on.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use ferry_core::ids::{MessageId, TenantId};
use ferry_core::wire::{Cancelled, Message, MessageIds};
use ferry_store::{MessageFilter, Store};
use http::Request;

use crate::auth::Tenant;
use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::publish::read_body;
use crate::query::QueryPairs;
use crate::{AppState, now_ms};

fn parse_id(id: &str) -> ApiResult<MessageId> {
    MessageId::parse(id).map_err(|_| not_found(id))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("message {id} not found"))
}

pub(crate) async fn get<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Message>> {
    let msg_id = parse_id(&id)?;
    let message = state
        .store
        .message(&tenant, &msg_id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(convert::message(&message)))
}

pub(crate) async fn cancel<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Cancelled>> {
    let msg_id = parse_id(&id)?;
    if state.store.cancel(&tenant, &msg_id, now_ms()).await? {
        tracing::info!(msg.id = %msg_id, "message cancelled");
        Ok(Json(Cancelled { cancelled: 1 }))
    } else {
        Err(not_found(&id))
    }
}

/// The most ids one bulk cancel may name.
const MAX_IDS: usize = 1_000;
const IDS: &str = "messageIds";
/// The legacy page size the JS SDK sends with every cancel by filter;
/// ignored (see the module doc).
const COUNT: &str = "count";
const FILTERS: [&str; 11] = [
    "url",
    "topicName",
    "queueName",
    "scheduleId",
    "label",
    "flowControlKey",
    "callerIp",
    "host",
    "path",
    "fromDate",
    "toDate",
];

/// Which messages a bulk cancel names.
enum Selection {
    Ids(Vec<String>),
    /// Every message the filter matches.
    Matching(Box<MessageFilter>),
}

pub(crate) async fn cancel_many<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    request: Request<Body>,
) -> ApiResult<Json<Cancelled>> {
    let now = now_ms();
    let cancelled = match selection(request).await? {
        Selection::Ids(ids) => cancel_ids(&state, &tenant, &ids, now).await?,
        Selection::Matching(filter) => {
            let n = state.store.cancel_matching(&tenant, &filter, now).await?;
            tracing::info!(cancelled = n, "messages cancelled by filter");
            u64::try_from(n).unwrap_or(u64::MAX)
        }
    };
    Ok(Json(Cancelled { cancelled }))
}

async fn cancel_ids<S: Store>(
    state: &AppState<S>,
    tenant: &TenantId,
    ids: &[String],
    now: u64,
) -> ApiResult<u64> {
    if ids.len() > MAX_IDS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_IDS} message ids per request, got {}",
            ids.len()
        )));
    }
    let mut cancelled = 0;
    for id in ids {
        let Ok(msg_id) = MessageId::parse(id) else {
            continue;
        };
        if state.store.cancel(tenant, &msg_id, now).await? {
            cancelled += 1;
        }
    }
    Ok(cancelled)
}

/// What a bulk cancel names: ids from the query or a JSON body, else the
/// query's filters (none: everything).
async fn selection(request: Request<Body>) -> ApiResult<Selection> {
    let (parts, body) = request.into_parts();
    let q = QueryPairs::parse(parts.uri.query());
    if q.has(IDS) {
        q.reject_unknown(&[IDS])?;
        return Ok(Selection::Ids(q.all(IDS)));
    }
    let known: Vec<&str> = FILTERS.iter().copied().chain([COUNT]).collect();
    q.reject_unknown(&known)?;
    let body = read_body(body, 1024 * 1024).await?;
    if !body.iter().all(u8::is_ascii_whitespace) {
        if known.iter().any(|k| q.has(k)) {
            return Err(ApiError::bad_request(
                "name the messages either with a {\"messageIds\": [...]} body or with query filters, not both",
            ));
        }
        let named: MessageIds = serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("body must be {{\"messageIds\": [...]}}: {e}"))
        })?;
        return Ok(Selection::Ids(named.message_ids));
    }
    Ok(Selection::Matching(Box::new(filter(&q)?)))
}

fn filter(q: &QueryPairs) -> ApiResult<MessageFilter> {
    Ok(MessageFilter {
        url: q.all("url"),
        topic_name: q.all("topicName"),
        queue_name: q.all("queueName"),
        schedule_id: q.all("scheduleId"),
        label: q.all("label"),
        flow_control_key: q.all("flowControlKey"),
        caller_ip: q.all("callerIp"),
        host: q.all("host"),
        path: q.all("path"),
        from_date: q.number("fromDate")?,
        to_date: q.number("toDate")?,
    })
}

//! Dead letters: list, get, delete and retry, one at a time or in bulk
//! (QStash §3.1, §3.5). Bulk operations take ids from the query (the JS SDK)
//! or a JSON body (the Python SDK); an empty id list touches nothing, never
//! "everything".

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ferry_core::ids::{DlqId, MessageId, TenantId};
use ferry_core::publish::{self, PublishOptions};
use ferry_core::wire::{Deleted, DlqIds, DlqList, DlqRetryResponse, PublishResponse};
use ferry_store::{DlqFilter, DlqQuery, NewMessage, Order, Store, StoredMessage};
use http::{HeaderMap, Request, StatusCode};

use crate::auth::Tenant;
use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::publish::read_body;
use crate::query::QueryPairs;
use crate::{AppState, now_ms};

const FILTERS: [&str; 11] = [
    "messageId",
    "url",
    "topicName",
    "scheduleId",
    "queueName",
    "fromDate",
    "toDate",
    "responseStatus",
    "callerIp",
    "label",
    "flowControlKey",
];
const PAGING: [&str; 3] = ["cursor", "count", "order"];
const IDS: &str = "dlqIds";
const MAX_COUNT: usize = 100;
/// The most a JSON id list may weigh.
const MAX_IDS_BODY: usize = 1024 * 1024;

fn known_params() -> Vec<&'static str> {
    FILTERS
        .iter()
        .chain(PAGING.iter())
        .copied()
        .chain([IDS])
        .collect()
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("dead letter {id} not found"))
}

fn parse_id(id: &str) -> ApiResult<DlqId> {
    DlqId::parse(id).map_err(|_| not_found(id))
}

fn filter(q: &QueryPairs) -> ApiResult<DlqFilter> {
    let statuses = q
        .all("responseStatus")
        .iter()
        .map(|s| {
            s.parse().map_err(|_| {
                ApiError::bad_request(format!(
                    "responseStatus must be an HTTP status code, got {s:?}"
                ))
            })
        })
        .collect::<ApiResult<Vec<u16>>>()?;
    Ok(DlqFilter {
        message_id: q.all("messageId"),
        url: q.all("url"),
        label: q.all("label"),
        response_status: statuses,
        caller_ip: q.all("callerIp"),
        queue_name: q.all("queueName"),
        topic_name: q.all("topicName"),
        schedule_id: q.all("scheduleId"),
        flow_control_key: q.all("flowControlKey"),
        from_date: q.number("fromDate")?,
        to_date: q.number("toDate")?,
    })
}

fn page_query(q: &QueryPairs) -> ApiResult<DlqQuery> {
    let paging = q.paging(MAX_COUNT, MAX_COUNT, Order::EarliestFirst)?;
    Ok(DlqQuery {
        cursor: paging.cursor,
        count: paging.count,
        order: paging.order,
        filter: filter(q)?,
    })
}

pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    request: Request<Body>,
) -> ApiResult<Json<DlqList>> {
    let q = QueryPairs::parse(request.uri().query());
    q.reject_unknown(&known_params())?;
    if q.has(IDS) {
        let mut messages = Vec::new();
        for id in q.all(IDS) {
            if let Some(m) = get_one(&state, &tenant, &id).await? {
                messages.push(convert::dlq_message(&m));
            }
        }
        return Ok(Json(DlqList {
            messages,
            cursor: None,
        }));
    }
    let page = state.store.dlq_page(&tenant, &page_query(&q)?).await?;
    Ok(Json(DlqList {
        messages: page.messages.iter().map(convert::dlq_message).collect(),
        cursor: page.cursor,
    }))
}

async fn get_one<S: Store>(
    state: &AppState<S>,
    tenant: &TenantId,
    id: &str,
) -> ApiResult<Option<StoredMessage>> {
    let Ok(dlq_id) = DlqId::parse(id) else {
        return Ok(None);
    };
    Ok(state.store.dlq_get(tenant, &dlq_id).await?)
}

pub(crate) async fn get<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<ferry_core::wire::DlqMessage>> {
    let m = get_one(&state, &tenant, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(convert::dlq_message(&m)))
}

pub(crate) async fn delete<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state.store.dlq_delete(&tenant, &parse_id(&id)?).await? {
        Ok(StatusCode::OK)
    } else {
        Err(not_found(&id))
    }
}

/// Which dead letters a bulk request names.
enum Selection {
    Ids(Vec<String>),
    Filter(Box<DlqQuery>),
}

async fn selection(request: Request<Body>) -> ApiResult<(Selection, HeaderMap)> {
    let (parts, body) = request.into_parts();
    let q = QueryPairs::parse(parts.uri.query());
    q.reject_unknown(&known_params())?;
    if q.has(IDS) {
        return Ok((Selection::Ids(q.all(IDS)), parts.headers));
    }
    let body = read_body(body, MAX_IDS_BODY).await?;
    if !body.iter().all(u8::is_ascii_whitespace) {
        let ids: DlqIds = serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("body must be {{\"dlqIds\": [...]}}: {e}"))
        })?;
        return Ok((Selection::Ids(ids.dlq_ids), parts.headers));
    }
    let filtered = FILTERS.iter().chain(PAGING.iter()).any(|k| q.has(k));
    if !filtered {
        return Err(ApiError::bad_request(
            "name the dead letters: dlqIds in the query or a JSON body {\"dlqIds\": [...]}, or filters with count",
        ));
    }
    Ok((Selection::Filter(Box::new(page_query(&q)?)), parts.headers))
}

/// The dead letters a selection names, with the cursor to continue from.
async fn selected<S: Store>(
    state: &AppState<S>,
    tenant: &TenantId,
    selection: Selection,
) -> ApiResult<(Vec<String>, Option<String>)> {
    match selection {
        Selection::Ids(ids) => Ok((ids, None)),
        Selection::Filter(query) => {
            let page = state.store.dlq_page(tenant, &query).await?;
            let ids = page
                .messages
                .iter()
                .map(|m| m.dlq_id().to_string())
                .collect();
            Ok((ids, page.cursor))
        }
    }
}

pub(crate) async fn delete_many<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    request: Request<Body>,
) -> ApiResult<Json<Deleted>> {
    let (selection, _) = selection(request).await?;
    let (ids, cursor) = selected(&state, &tenant, selection).await?;
    let mut deleted = 0;
    for id in &ids {
        let Ok(dlq_id) = DlqId::parse(id) else {
            continue;
        };
        if state.store.dlq_delete(&tenant, &dlq_id).await? {
            deleted += 1;
        }
    }
    Ok(Json(Deleted { deleted, cursor }))
}

pub(crate) async fn retry_many<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    request: Request<Body>,
) -> ApiResult<Response> {
    let (selection, headers) = selection(request).await?;
    let overrides = Overrides::parse(&headers, &state.cfg.limits)?;
    let (ids, cursor) = selected(&state, &tenant, selection).await?;
    if overrides.delays() {
        // Checked for every dead letter before any is retried, so a refusal
        // leaves the whole selection as it was.
        for id in &ids {
            if let Some(dead) = get_one(&state, &tenant, id).await? {
                refuse_delayed_queue_message(&dead)?;
            }
        }
    }
    let mut responses = Vec::new();
    for id in &ids {
        if let Some(new_id) = retry_one(&state, &tenant, id, &overrides).await? {
            responses.push(published(new_id));
        }
    }
    Ok((
        StatusCode::CREATED,
        Json(DlqRetryResponse { responses, cursor }),
    )
        .into_response())
}

pub(crate) async fn retry<S: Store>(
    State(state): State<AppState<S>>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let overrides = Overrides::parse(&headers, &state.cfg.limits)?;
    let new_id = retry_one(&state, &tenant, &id, &overrides)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok((StatusCode::CREATED, Json(published(new_id))).into_response())
}

fn published(id: MessageId) -> PublishResponse {
    PublishResponse {
        message_id: id.to_string(),
        url: None,
        deduplicated: None,
    }
}

async fn retry_one<S: Store>(
    state: &AppState<S>,
    tenant: &TenantId,
    id: &str,
    overrides: &Overrides,
) -> ApiResult<Option<MessageId>> {
    let Some(dead) = get_one(state, tenant, id).await? else {
        return Ok(None);
    };
    if overrides.delays() {
        refuse_delayed_queue_message(&dead)?;
    }
    let now = now_ms();
    let mut spec = dead.spec.clone();
    overrides.apply(&mut spec, now);
    spec.created_at = now;
    spec.dedup_id = None;
    let replacement = NewMessage {
        id: MessageId::generate(dead.id.partition()),
        spec,
        // The store copies the dead letter's body; nothing is sent twice.
        body: Bytes::new(),
    };
    let retried = state
        .store
        .dlq_retry(tenant, &dead.dlq_id(), &replacement)
        .await?;
    if retried {
        tracing::info!(msg.id = %replacement.id, dlq.id = %id, "dead letter retried as a new message");
    }
    Ok(retried.then_some(replacement.id))
}

/// A queue's message goes back into its queue when retried, where a delay
/// would contradict its order, as on enqueue.
fn refuse_delayed_queue_message(dead: &StoredMessage) -> ApiResult<()> {
    match &dead.spec.queue {
        Some(queue) => Err(ApiError::bad_request(format!(
            "dead letter {} goes back into queue {queue:?} when retried; Upstash-Delay and Upstash-Not-Before are not supported on messages to a queue",
            dead.dlq_id()
        ))),
        None => Ok(()),
    }
}

/// Publish headers sent with a retry request: each one present replaces the
/// dead letter's original setting.
struct Overrides {
    present: Vec<&'static str>,
    opts: PublishOptions,
    forwarded: bool,
}

impl Overrides {
    fn parse(headers: &HeaderMap, limits: &publish::Limits) -> ApiResult<Self> {
        let opts = publish::parse(headers, &[], limits, now_ms())?;
        if opts.flow_control.is_some() {
            // The retried message is created where the dead letter lives,
            // which is its own key's partition, not another key's.
            return Err(ApiError::bad_request(
                "a retried message keeps its flow-control key; publish a new message to use another",
            ));
        }
        let present = [
            publish::HEADER_METHOD,
            publish::HEADER_RETRIES,
            publish::HEADER_RETRY_DELAY,
            publish::HEADER_TIMEOUT,
            publish::HEADER_CALLBACK,
            publish::HEADER_FAILURE_CALLBACK,
            publish::HEADER_LABEL,
        ]
        .into_iter()
        .filter(|h| headers.contains_key(*h))
        .collect();
        let forwarded = headers
            .keys()
            .any(|k| k.as_str().starts_with("upstash-forward-"));
        Ok(Self {
            present,
            opts,
            forwarded,
        })
    }

    /// Whether the retry is to be delayed.
    fn delays(&self) -> bool {
        self.opts.not_before_ms.is_some()
    }

    fn apply(&self, spec: &mut ferry_core::message::MessageSpec, now: u64) {
        let opts = &self.opts;
        for header in &self.present {
            match *header {
                publish::HEADER_METHOD => spec.method.clone_from(&opts.method),
                publish::HEADER_RETRIES => spec.retries = opts.retries,
                publish::HEADER_RETRY_DELAY => spec.retry_delay.clone_from(&opts.retry_delay),
                publish::HEADER_TIMEOUT => {
                    spec.timeout_ms = opts
                        .timeout
                        .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
                }
                publish::HEADER_CALLBACK => spec.callback.clone_from(&opts.callback),
                publish::HEADER_FAILURE_CALLBACK => {
                    spec.failure_callback.clone_from(&opts.failure_callback)
                }
                publish::HEADER_LABEL => spec.labels.clone_from(&opts.labels),
                _ => {}
            }
        }
        if self.forwarded {
            spec.headers.clone_from(&opts.headers);
        }
        spec.not_before = opts.not_before_ms.unwrap_or(now);
    }
}

//! `POST /v2/publish/{destination}`: validate, store atomically, answer
//! with the message id only after the store confirmed the write.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ferry_core::destination::{self, Destination};
use ferry_core::ids::{MessageId, TenantId, validate_name};
use ferry_core::message::{MessageSpec, TopicRef};
use ferry_core::publish::{self, Dedup, PublishOptions};
use ferry_core::signing::body_hash;
use ferry_core::wire::PublishResponse;
use ferry_store::{BacklogBound, NewMessage, PublishOutcome, Store, UrlGroup};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::placement::partition_for;
use crate::{AppState, now_ms};
use crate::{workflow_invoke, workflows};

pub(crate) const PUBLISH_PREFIX: &str = "/v2/publish/";

/// Where a publish goes, from the raw request target.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) kind: TargetKind,
    /// `upstash-*` query parameters (webhook mode), already removed from the destination.
    pub(crate) query_config: Vec<(String, String)>,
}

/// A URL, or the name of a URL group to fan out to.
#[derive(Debug)]
pub(crate) enum TargetKind {
    Url(Destination),
    Group(String),
}

/// Splits the raw request target after `prefix` into the destination (with
/// its own query string, minus Ferry's parameters) and the config pairs.
/// The destination is taken from the raw URI: a router path parameter would
/// percent-decode it and drop its query.
pub(crate) fn target(uri: &http::Uri, prefix: &str) -> ApiResult<Target> {
    let raw_path = uri.path().strip_prefix(prefix).unwrap_or("");
    if raw_path.is_empty() {
        return Err(ApiError::bad_request(
            "missing destination: publish to /v2/publish/<http(s) url>",
        ));
    }
    target_of(raw_path, uri.query())
}

/// The target named by a destination string (a URL with its query, or a
/// URL-group name), as batch items carry it.
pub(crate) fn target_from_destination(raw: &str) -> ApiResult<Target> {
    let (path, query) = match raw.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (raw, None),
    };
    if path.is_empty() {
        return Err(ApiError::bad_request("missing destination"));
    }
    target_of(path, query)
}

fn target_of(raw_path: &str, raw_query: Option<&str>) -> ApiResult<Target> {
    let (query, query_config) = destination::strip_config_query(raw_query.unwrap_or(""));
    let raw = if query.is_empty() {
        raw_path.to_owned()
    } else {
        format!("{raw_path}?{query}")
    };
    if destination::looks_like_url(&raw) || raw.contains(':') {
        let destination =
            destination::parse(&raw).map_err(|e| ApiError::bad_request(e.to_string()))?;
        return Ok(Target {
            kind: TargetKind::Url(destination),
            query_config,
        });
    }
    if validate_name(&raw).is_ok() {
        return Ok(Target {
            kind: TargetKind::Group(raw),
            query_config,
        });
    }
    Err(ApiError::bad_request(format!(
        "invalid destination {raw:?}: use an http:// or https:// url"
    )))
}

/// The body, up to `max` bytes: a body that says (by its `Content-Length`)
/// that it is larger is refused before any of it is read, and one without
/// a length as soon as it passes `max`.
pub(crate) async fn read_body(body: Body, max: usize) -> ApiResult<Bytes> {
    let too_large = || {
        ApiError::Client(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body is larger than the {max}-byte limit"),
        )
    };
    if usize::try_from(hyper::body::Body::size_hint(&body).lower()).map_or(true, |n| n > max) {
        return Err(too_large());
    }
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "could not read the request body: {e}"
        ))),
    }
}

pub(crate) async fn handle<S: Store>(
    State(state): State<AppState<S>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Tenant(tenant): Tenant,
    request: Request<Body>,
) -> ApiResult<Response> {
    let (parts, body) = request.into_parts();
    let target = target(&parts.uri, PUBLISH_PREFIX)?;
    let now = now_ms();
    let opts = publish::parse(&parts.headers, &target.query_config, &state.cfg.limits, now)
        .map_err(|e| workflows::parse_error(&parts.headers, e))?;
    let body = read_body(body, state.cfg.max_body_bytes).await?;
    let request = PublishRequest {
        tenant,
        destination: None,
        opts,
        body,
        caller_ip: Some(peer.ip().to_string()),
        now,
        topic: None,
        queue: None,
    };
    send(&state, target.kind, request).await
}

/// Publishes (or enqueues) `request` to a URL, answered with one message,
/// or to a URL group, answered with one message per endpoint.
pub(crate) async fn send<S: Store>(
    state: &AppState<S>,
    kind: TargetKind,
    request: PublishRequest,
) -> ApiResult<Response> {
    match kind {
        TargetKind::Url(destination) => {
            let span = tracing::info_span!(
                "publish",
                msg.id = tracing::field::Empty,
                dest.host = destination.url().host_str().unwrap_or(""),
            );
            let request = PublishRequest {
                destination: Some(destination),
                ..request
            };
            async move {
                let (status, response) = publish_one(state, request).await?;
                tracing::Span::current().record("msg.id", response.message_id.as_str());
                Ok((status, Json(response)).into_response())
            }
            .instrument(span)
            .await
        }
        TargetKind::Group(name) => {
            let group = find_group(state, &request.tenant, &name).await?;
            let copies = fan_out(state, request, &group).await?;
            let mut progress = Progress::default();
            let responses = progress
                .store_all(state, copies)
                .await
                .map_err(|e| progress.interrupted(e))?;
            Ok((StatusCode::CREATED, Json(responses)).into_response())
        }
    }
}

/// The tenant's URL group `name`, or a 404 naming it.
pub(crate) async fn find_group<S: Store>(
    state: &AppState<S>,
    tenant: &TenantId,
    name: &str,
) -> ApiResult<UrlGroup> {
    state
        .store
        .url_group(tenant, name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("url group {name:?} not found")))
}

/// One copy of `request` per endpoint of `group`, in endpoint order, each
/// its own message (own id, retries and dead letter; enqueued when the
/// request names a queue), ready to store. A deduplication id applies per
/// endpoint.
pub(crate) async fn fan_out<S: Store>(
    state: &AppState<S>,
    request: PublishRequest,
    group: &UrlGroup,
) -> ApiResult<Vec<Prepared>> {
    // A group grown past the limit by an earlier version, which checked
    // each request only.
    if group.endpoints.len() > crate::topics::MAX_ENDPOINTS {
        return Err(ApiError::bad_request(format!(
            "url group {:?} has {} endpoints, more than the limit of {} per group; remove some",
            group.name,
            group.endpoints.len(),
            crate::topics::MAX_ENDPOINTS
        )));
    }
    let mut copies = Vec::with_capacity(group.endpoints.len());
    for endpoint in &group.endpoints {
        // Stored endpoints were validated when they were added.
        let destination =
            destination::parse(&endpoint.url).map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut opts = request.opts.clone();
        if let Dedup::Id(id) = &opts.dedup {
            opts.dedup = Dedup::Id(format!("{id}\u{0}{}", endpoint.url));
        }
        let copy = PublishRequest {
            tenant: request.tenant.clone(),
            destination: Some(destination),
            opts,
            body: request.body.clone(),
            caller_ip: request.caller_ip.clone(),
            now: request.now,
            topic: Some(TopicRef {
                name: group.name.clone(),
                endpoint: endpoint.name.clone(),
            }),
            queue: request.queue.clone(),
        };
        copies.push(prepare(state, copy).await?);
    }
    Ok(copies)
}

/// A validated publish, ready to store.
pub(crate) struct PublishRequest {
    pub(crate) tenant: TenantId,
    /// Where this copy goes; `None` until a group's fan-out picks an endpoint.
    pub(crate) destination: Option<Destination>,
    pub(crate) opts: PublishOptions,
    pub(crate) body: Bytes,
    pub(crate) caller_ip: Option<String>,
    pub(crate) now: u64,
    pub(crate) topic: Option<TopicRef>,
    /// The queue to enqueue to; `None` publishes.
    pub(crate) queue: Option<String>,
}

/// A message placed in its partition with its final spec: everything but
/// the write itself, which only the store can still refuse.
pub(crate) struct Prepared {
    message: NewMessage,
    dedup: Option<String>,
    /// Set for a message of a workflow run.
    workflow: Option<workflows::Prepared>,
}

impl Prepared {
    /// The message, for a caller that stores it its own way.
    pub(crate) fn into_message(self) -> NewMessage {
        self.message
    }
}

async fn publish_one<S: Store>(
    state: &AppState<S>,
    request: PublishRequest,
) -> ApiResult<(StatusCode, PublishResponse)> {
    let prepared = prepare(state, request).await?;
    store(state, prepared).await
}

/// Places `request` and builds its message.
pub(crate) async fn prepare<S: Store>(
    state: &AppState<S>,
    mut request: PublishRequest,
) -> ApiResult<Prepared> {
    let Some(destination) = request.destination.clone() else {
        return Err(ApiError::Internal("publish without a destination".into()));
    };
    let dedup = dedup_key(&request, &destination);
    let workflow = request.opts.workflow.clone();
    let envelope = workflow_invoke::take_envelope(workflow.as_ref(), &mut request.body)?;
    let partition = match &workflow {
        Some(wf) => workflows::partition(state, &request, wf)?,
        None => {
            partition_for(
                state,
                &request.tenant,
                request.queue.as_deref(),
                request.opts.flow_control.as_ref().map(|f| f.key.as_str()),
                dedup.as_deref(),
            )
            .await?
        }
    };
    let id = MessageId::generate(partition);
    if !request.opts.dropped_headers.is_empty() {
        tracing::debug!(msg.id = %id, dropped = ?request.opts.dropped_headers, "headers not forwarded");
    }
    let mut spec = MessageSpec {
        tenant: request.tenant,
        url: destination.to_string(),
        method: request.opts.method,
        headers: request.opts.headers,
        retries: request.opts.retries,
        retry_delay: request.opts.retry_delay,
        timeout_ms: request
            .opts
            .timeout
            .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        callback: request.opts.callback,
        failure_callback: request.opts.failure_callback,
        labels: request.opts.labels,
        caller_ip: request.caller_ip,
        dedup_id: dedup.clone(),
        created_at: request.now,
        not_before: request.opts.not_before_ms.unwrap_or(request.now),
        body_hash: body_hash(&request.body),
        source_message_id: None,
        topic: request.topic,
        redact: request.opts.redact,
        schedule_id: None,
        queue: request.queue,
        flow_control: request.opts.flow_control,
        workflow: None,
    };
    let mut workflow = match &workflow {
        Some(wf) => Some(workflows::prepare(state, wf, &mut spec).await?),
        None => None,
    };
    if let (Some(envelope), Some(prepared)) = (envelope, workflow.as_mut()) {
        workflow_invoke::attach(state, &spec, envelope, prepared).await?;
    }
    Ok(Prepared {
        message: NewMessage {
            id,
            spec,
            body: request.body,
        },
        dedup,
        workflow,
    })
}

/// Writes a prepared message: 201 with its id and destination, or 202 with
/// the id of the message it duplicates.
async fn store<S: Store>(
    state: &AppState<S>,
    prepared: Prepared,
) -> ApiResult<(StatusCode, PublishResponse)> {
    let Prepared {
        message,
        dedup,
        workflow,
    } = prepared;
    if let Some(workflow) = workflow {
        let deduplicated = workflows::store(state, &message, &workflow).await?;
        state
            .metrics
            .count(if deduplicated { "duplicate" } else { "created" });
        let url = message.spec.url;
        return Ok(if deduplicated {
            (StatusCode::ACCEPTED, response(message.id, url, Some(true)))
        } else {
            (StatusCode::CREATED, response(message.id, url, None))
        });
    }
    let stored = if message.spec.queue.is_some() {
        state.store.enqueue(&message, dedup.as_deref()).await?
    } else {
        state.store.publish(&message, dedup.as_deref()).await?
    };
    let url = message.spec.url;
    match stored {
        PublishOutcome::Created => {
            state.metrics.count("created");
            Ok((StatusCode::CREATED, response(message.id, url, None)))
        }
        PublishOutcome::Duplicate(original) => {
            state.metrics.count("duplicate");
            Ok((StatusCode::ACCEPTED, response(original, url, Some(true))))
        }
        PublishOutcome::BacklogFull(bound) => {
            state.metrics.count("backlog_full");
            Err(backlog_full(&state.cfg, bound))
        }
    }
}

/// The 429 for a full backlog, naming the bound that was reached.
pub(crate) fn backlog_full(cfg: &crate::GatewayConfig, bound: BacklogBound) -> ApiError {
    let (message, limit) = match bound {
        BacklogBound::Total => (
            "backlog full: too many messages are waiting for delivery (gateway.max_backlog); retry later",
            cfg.max_backlog,
        ),
        BacklogBound::Tenant => (
            "backlog full: too many of this tenant's messages are waiting for delivery (gateway.max_backlog_per_tenant); retry later",
            cfg.max_backlog_per_tenant,
        ),
    };
    ApiError::Busy {
        message: message.into(),
        limit,
    }
}

/// The messages one request has stored so far, in order, so that an error
/// that stops it midway can say which exist (see `ApiError::after_storing`).
#[derive(Default)]
pub(crate) struct Progress {
    stored: Vec<String>,
}

impl Progress {
    /// Stores `prepared` in order, answering one response per message.
    pub(crate) async fn store_all<S: Store>(
        &mut self,
        state: &AppState<S>,
        prepared: Vec<Prepared>,
    ) -> ApiResult<Vec<PublishResponse>> {
        let mut responses = Vec::with_capacity(prepared.len());
        for message in prepared {
            let (_, response) = store(state, message).await?;
            self.stored.push(response.message_id.clone());
            responses.push(response);
        }
        Ok(responses)
    }

    /// `error`, which stopped the request, saying which of its messages
    /// were stored before.
    pub(crate) fn interrupted(&self, error: ApiError) -> ApiError {
        match self.stored.as_slice() {
            [] => error,
            stored => error.after_storing(&format!(
                "messages this request stored before: {}; the rest were not stored",
                stored.join(", ")
            )),
        }
    }
}

/// The answer to a stored message. QStash's JS SDK declares `url` for a
/// publish to a URL; it is the destination as stored.
fn response(id: MessageId, url: String, deduplicated: Option<bool>) -> PublishResponse {
    PublishResponse {
        message_id: id.to_string(),
        url: Some(url),
        deduplicated,
    }
}

/// The deduplication key: the given id, or for content-based dedup a digest
/// of what makes two publishes the same (destination, body, content type
/// and forwarded headers).
fn dedup_key(request: &PublishRequest, destination: &Destination) -> Option<String> {
    match &request.opts.dedup {
        Dedup::None => None,
        Dedup::Id(id) => Some(id.clone()),
        Dedup::ContentBased => {
            let mut hasher = Sha256::new();
            hasher.update(destination.as_str().as_bytes());
            hasher.update([0]);
            hasher.update(&request.body);
            for (name, value) in &request.opts.headers {
                hasher.update([0]);
                hasher.update(name.as_bytes());
                hasher.update([b':']);
                hasher.update(value.as_bytes());
            }
            let digest = hasher.finalize();
            Some(format!("content:{}", hex(&digest)))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(uri: &str) -> Result<String, String> {
        let uri: http::Uri = uri.parse().unwrap();
        match target(&uri, PUBLISH_PREFIX) {
            Ok(Target {
                kind: TargetKind::Url(d),
                ..
            }) => Ok(d.to_string()),
            Ok(Target {
                kind: TargetKind::Group(name),
                ..
            }) => Ok(format!("group {name}")),
            Err(ApiError::Client(status, message)) => Err(format!("{} {message}", status.as_u16())),
            Err(other) => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn the_destination_keeps_its_own_query_and_slashes() {
        assert_eq!(
            dest("/v2/publish/https://x.com/a?q=1&r=2").unwrap(),
            "https://x.com/a?q=1&r=2"
        );
        assert_eq!(
            dest("/v2/publish/https://x.com//a?q=1").unwrap(),
            "https://x.com//a?q=1"
        );
        assert_eq!(
            dest("/v2/publish/https://x.com/a?q=1&qstash_token=secret&upstash-retries=2").unwrap(),
            "https://x.com/a?q=1"
        );
    }

    #[test]
    fn bad_destinations_get_clear_errors() {
        assert!(
            dest("/v2/publish/")
                .unwrap_err()
                .starts_with("400 missing destination")
        );
        assert!(
            dest("/v2/publish/ftp://x.com/a")
                .unwrap_err()
                .contains("invalid scheme")
        );
        assert_eq!(dest("/v2/publish/my-group").unwrap(), "group my-group");
        assert!(dest("/v2/publish/a%20b").unwrap_err().starts_with("400"));
    }
}

//! `POST /v2/publish/{destination}`: validate, store atomically, answer
//! with the message id only after the store confirmed the write.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ferry_core::destination::{self, Destination};
use ferry_core::ids::{MessageId, Partition, TenantId, validate_name};
use ferry_core::message::{MessageSpec, TopicRef};
use ferry_core::publish::{self, Dedup, PublishOptions};
use ferry_core::signing::body_hash;
use ferry_core::wire::PublishResponse;
use ferry_store::{NewMessage, PublishOutcome, Store, UrlGroup};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::{AppState, now_ms};

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

pub(crate) async fn read_body(body: Body, max: usize) -> ApiResult<Bytes> {
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::Client(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body is larger than the {max}-byte limit"),
            ))
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
    let opts = publish::parse(&parts.headers, &target.query_config, &state.cfg.limits, now)?;
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
    match target.kind {
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
                let (status, response) = publish_one(&state, request).await?;
                tracing::Span::current().record("msg.id", response.message_id.as_str());
                Ok((status, Json(response)).into_response())
            }
            .instrument(span)
            .await
        }
        TargetKind::Group(name) => {
            let group = find_group(&state, &request.tenant, &name).await?;
            let responses = fan_out(&state, request, &group).await?;
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

/// Publishes one copy of `request` per endpoint of `group`, each its own
/// message (own id, retries and dead letter), in endpoint order. A
/// deduplication id applies per endpoint.
pub(crate) async fn fan_out<S: Store>(
    state: &AppState<S>,
    request: PublishRequest,
    group: &UrlGroup,
) -> ApiResult<Vec<PublishResponse>> {
    let mut responses = Vec::with_capacity(group.endpoints.len());
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
            queue: None,
        };
        let (_, mut response) = publish_one(state, copy).await?;
        response.url = Some(endpoint.url.clone());
        responses.push(response);
    }
    Ok(responses)
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

pub(crate) async fn publish_one<S: Store>(
    state: &AppState<S>,
    request: PublishRequest,
) -> ApiResult<(StatusCode, PublishResponse)> {
    let Some(destination) = request.destination.clone() else {
        return Err(ApiError::Internal("publish without a destination".into()));
    };
    let dedup_key = dedup_key(&request, &destination);
    let flow_key = request.opts.flow_control.as_ref().map(|f| f.key.as_str());
    let partition = match (&request.queue, flow_key, &dedup_key) {
        (Some(_), Some(_), _) => {
            return Err(ApiError::Client(
                StatusCode::NOT_IMPLEMENTED,
                "flow control on enqueued messages is not supported by this version of Ferry; use the queue's parallelism, or publish with flow control".into(),
            ));
        }
        // A queue's messages live in its partition, with all its state.
        (Some(queue), None, _) => state.store.queue_home(&request.tenant, queue).await?,
        // So do a flow-control key's.
        (None, Some(key), _) => state.store.flow_home(&request.tenant, key).await?,
        // Duplicates must meet in one partition, where their key lives.
        (None, None, Some(key)) => partition_of(key, state.store.partitions()),
        (None, None, None) => next_partition(state.store.partitions()),
    };
    let id = MessageId::generate(partition);
    let spec = MessageSpec {
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
        dedup_id: dedup_key.clone(),
        created_at: request.now,
        not_before: request.opts.not_before_ms.unwrap_or(request.now),
        body_hash: body_hash(&request.body),
        source_message_id: None,
        topic: request.topic,
        redact: request.opts.redact,
        schedule_id: None,
        queue: request.queue,
        flow_control: request.opts.flow_control,
    };
    let message = NewMessage {
        id,
        spec,
        body: request.body,
    };
    let stored = if message.spec.queue.is_some() {
        state.store.enqueue(&message, dedup_key.as_deref()).await?
    } else {
        state.store.publish(&message, dedup_key.as_deref()).await?
    };
    match stored {
        PublishOutcome::Created => {
            state.metrics.count("created");
            Ok((StatusCode::CREATED, response(message.id, None)))
        }
        PublishOutcome::Duplicate(original) => {
            state.metrics.count("duplicate");
            Ok((StatusCode::ACCEPTED, response(original, Some(true))))
        }
        PublishOutcome::BacklogFull => {
            state.metrics.count("backlog_full");
            Err(ApiError::Busy(
                "backlog full: too many messages are waiting for delivery; retry later".into(),
            ))
        }
    }
}

fn response(id: MessageId, deduplicated: Option<bool>) -> PublishResponse {
    PublishResponse {
        message_id: id.to_string(),
        url: None,
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

fn partition_of(key: &str, partitions: u16) -> Partition {
    let digest = Sha256::digest(key.as_bytes());
    let n = u16::from_be_bytes([digest[0], digest[1]]);
    Partition(n % partitions.max(1))
}

/// Spreads messages without a routing key evenly over the partitions.
fn next_partition(partitions: u16) -> Partition {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    Partition(NEXT.fetch_add(1, Ordering::Relaxed) % partitions.max(1))
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

    #[test]
    fn dedup_keys_route_to_a_stable_partition() {
        assert_eq!(partition_of("k", 8), partition_of("k", 8));
        assert!(partition_of("k", 8).0 < 8);
        assert_eq!(partition_of("k", 1), Partition(0));
    }
}

//! Publish options from the `Upstash-*` request headers (QStash v2 §4.1).
//!
//! The gateway hands over the request's headers and the `upstash-*` query
//! parameters of webhook mode; this module turns them into typed options or
//! an error whose text names the offending header, so a client always learns
//! what to fix. Header names are matched case-insensitively (the JS SDK sends
//! them lower-case). Unknown `Upstash-*` headers are ignored, as QStash does,
//! so newer SDKs keep working against an older relay.
//!
//! Forwarding is lenient, because applications forward whole header sets:
//! both Upstash Workflow SDKs pass the headers of the request they are
//! handling into every publish. What must not reach the destination
//! (hop-by-hop and framing headers, `Host`, what the relay sets itself on
//! every delivery, values that are not UTF-8) is dropped silently and named
//! in [`PublishOptions::dropped_headers`]; everything else is delivered
//! byte for byte, UTF-8 beyond ASCII included. A config header (`Upstash-*`
//! other than forwarded ones) with a value that is not UTF-8 is an error.

use std::time::Duration;

use http::HeaderMap;

use crate::destination;
use crate::duration::parse_duration;
use crate::flow::{self, FlowControl};
use crate::message::{CallbackSpec, Redact, canonical_header_name};
use crate::retry::RetryDelayExpr;
use crate::workflow::{CallType, WorkflowRef, validate_run_id};

pub const HEADER_METHOD: &str = "upstash-method";
pub const HEADER_DELAY: &str = "upstash-delay";
pub const HEADER_NOT_BEFORE: &str = "upstash-not-before";
pub const HEADER_RETRIES: &str = "upstash-retries";
pub const HEADER_RETRY_DELAY: &str = "upstash-retry-delay";
pub const HEADER_TIMEOUT: &str = "upstash-timeout";
pub const HEADER_DEDUP_ID: &str = "upstash-deduplication-id";
pub const HEADER_CONTENT_DEDUP: &str = "upstash-content-based-deduplication";
pub const HEADER_CALLBACK: &str = "upstash-callback";
pub const HEADER_FAILURE_CALLBACK: &str = "upstash-failure-callback";
pub const HEADER_LABEL: &str = "upstash-label";
pub const HEADER_REDACT: &str = "upstash-redact-fields";
pub const HEADER_FORWARD_ALL: &str = "upstash-header-forward";
pub const HEADER_FLOW_KEY: &str = "upstash-flow-control-key";
pub const HEADER_FLOW_VALUE: &str = "upstash-flow-control-value";
const FORWARD_PREFIX: &str = "upstash-forward-";

/// Methods a delivery may use.
pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Headers that describe one hop of HTTP, that the delivery's HTTP client
/// sets (forwarding `Accept-Encoding` would make destinations compress the
/// response that callbacks and dead letters carry), or that Ferry sets
/// itself on every delivery; forwarding them would break framing or confuse
/// receivers. They are dropped, as are all `Proxy-*` headers.
const UNFORWARDABLE: [&str; 17] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
    "expect",
    "accept-encoding",
    "user-agent",
    "upstash-signature",
    "upstash-message-id",
    "upstash-retried",
    "upstash-caller-ip",
    "upstash-schedule-id",
    "upstash-topic-name",
];

/// Bounds on what a publish may ask for; all come from configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    pub default_retries: u32,
    pub max_retries: u32,
    pub max_delay: Duration,
    pub max_timeout: Duration,
    pub max_forward_headers: usize,
    pub max_dedup_id_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            default_retries: 3,
            max_retries: 20,
            max_delay: Duration::from_secs(365 * 24 * 3600),
            max_timeout: Duration::from_secs(2 * 3600),
            max_forward_headers: 64,
            max_dedup_id_len: 256,
        }
    }
}

/// How duplicates of this publish are recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dedup {
    None,
    Id(String),
    ContentBased,
}

/// Everything a publish request configured, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishOptions {
    pub method: String,
    /// Delivered headers (forwarded ones and `Content-Type`), canonical names.
    pub headers: Vec<(String, String)>,
    /// Absolute not-before, Unix ms; `None` means now.
    pub not_before_ms: Option<u64>,
    pub retries: u32,
    pub retry_delay: Option<RetryDelayExpr>,
    pub timeout: Option<Duration>,
    pub dedup: Dedup,
    pub callback: Option<CallbackSpec>,
    pub failure_callback: Option<CallbackSpec>,
    pub labels: Vec<String>,
    pub redact: Option<Redact>,
    pub flow_control: Option<FlowControl>,
    /// Forwarded headers that were dropped (see the module doc), by name,
    /// for the relay's log.
    pub dropped_headers: Vec<String>,
    /// Set when the message belongs to an Upstash Workflow run.
    pub workflow: Option<WorkflowHeaders>,
}

/// The `Upstash-Workflow-*` headers of a publish: configuration, never
/// forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowHeaders {
    pub run_id: String,
    /// `Upstash-Workflow-Init: true`: the message starts the run.
    pub init: bool,
    /// `Upstash-Workflow-Url`: the run's endpoint.
    pub url: Option<String>,
    pub call_type: CallType,
    /// Whether `Upstash-Retries` was given (else the run's retries apply).
    pub retries_set: bool,
    /// `Upstash-Workflow-Invoke: true`: an Init message whose body is the
    /// invoking run's envelope (`context.invoke`).
    pub invoke: bool,
}

/// A publish header that cannot be honoured; the text goes to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The value is malformed or out of bounds.
    #[error("{0}")]
    Invalid(String),
    /// A QStash feature this relay does not implement yet. Refusing is safer
    /// than accepting and ignoring it (a rate limit that silently does not
    /// apply, fields that are not redacted).
    #[error("header {0} is not supported by this version of Ferry")]
    Unsupported(&'static str),
}

fn bad(msg: impl Into<String>) -> PublishError {
    PublishError::Invalid(msg.into())
}

/// Publish headers of QStash features not built yet; see
/// [`PublishError::Unsupported`]. (`Upstash-Schedule-Id` is not one: every
/// delivery of a schedule carries it, and applications that pass a
/// delivery's headers into a publish send it back, so it is ignored.)
const UNSUPPORTED: [&str; 2] = ["upstash-queue-name", "upstash-cron"];

/// Headers webhook mode (`Upstash-Header-Forward: true`) never passes on:
/// the caller's credentials for Ferry itself, and what the HTTP client of
/// the delivery sets.
const NOT_FORWARDED_IN_WEBHOOK_MODE: [&str; 4] =
    ["authorization", "accept-encoding", "expect", "cookie"];

/// Parses the publish headers, plus webhook-mode query parameters (already
/// stripped from the destination, names lower-case), at time `now_ms`.
pub fn parse(
    headers: &HeaderMap,
    query_config: &[(String, String)],
    limits: &Limits,
    now_ms: u64,
) -> Result<PublishOptions, PublishError> {
    let mut fields = Fields::default();
    for (name, value) in headers {
        match std::str::from_utf8(value.as_bytes()) {
            Ok(value) => fields.take(name.as_str(), value)?,
            Err(_) => fields.take_undecodable(name.as_str())?,
        }
    }
    for (name, value) in query_config {
        fields.take(&name.to_ascii_lowercase(), value)?;
    }
    fields.finish(limits, now_ms)
}

/// Raw header values gathered in one pass, validated in `finish`.
#[derive(Default)]
struct Fields {
    method: Option<String>,
    delay: Option<String>,
    not_before: Option<String>,
    retries: Option<String>,
    retry_delay: Option<String>,
    timeout: Option<String>,
    dedup_id: Option<String>,
    content_dedup: Option<String>,
    labels: Option<String>,
    redact: Option<String>,
    forward_all: Option<String>,
    flow_key: Option<String>,
    flow_value: Option<String>,
    forward: Vec<(String, String)>,
    /// Headers that are neither `Upstash-*` nor `Content-Type`; forwarded
    /// only in webhook mode.
    others: Vec<(String, String)>,
    callback: CallbackFields,
    failure_callback: CallbackFields,
    workflow: WorkflowFields,
    /// Names of forwarded headers dropped so far.
    dropped: Vec<String>,
}

#[derive(Default)]
struct CallbackFields {
    url: Option<String>,
    method: Option<String>,
    retries: Option<String>,
    retry_delay: Option<String>,
    timeout: Option<String>,
    delay: Option<String>,
    forward: Vec<(String, String)>,
    workflow: WorkflowFields,
}

/// `Upstash-Workflow-*` values, at the top level or configuring a callback
/// (`Upstash-Callback-Workflow-*`, `Upstash-Failure-Callback-Workflow-*`).
#[derive(Default)]
struct WorkflowFields {
    run_id: Option<String>,
    init: Option<String>,
    url: Option<String>,
    call_type: Option<String>,
    invoke: Option<String>,
}

impl WorkflowFields {
    /// Takes `sub` (the name after `Upstash-Workflow-`); other workflow
    /// headers (the SDK version, the invoke count) are for the app only.
    fn take(&mut self, sub: &str, value: &str) {
        let slot = match sub {
            "runid" => &mut self.run_id,
            "init" => &mut self.init,
            "url" => &mut self.url,
            "calltype" => &mut self.call_type,
            "invoke" => &mut self.invoke,
            _ => return,
        };
        *slot = Some(value.trim().to_owned());
    }

    fn call_type(&self, header: &str) -> Result<CallType, PublishError> {
        match &self.call_type {
            None => Ok(CallType::Step),
            Some(v) => CallType::parse(v)
                .ok_or_else(|| bad(format!("invalid {header}-Workflow-CallType {v:?}"))),
        }
    }

    fn run_id(&self, header: &str) -> Result<Option<String>, PublishError> {
        let Some(id) = &self.run_id else {
            return Ok(None);
        };
        validate_run_id(id).map_err(|e| bad(format!("invalid {header}-Workflow-RunId: {e}")))?;
        Ok(Some(id.clone()))
    }

    fn finish(self, retries_set: bool) -> Result<Option<WorkflowHeaders>, PublishError> {
        let Some(run_id) = self.run_id("Upstash")? else {
            return Ok(None);
        };
        Ok(Some(WorkflowHeaders {
            call_type: self.call_type("Upstash")?,
            init: parse_bool(self.init.as_deref(), "Upstash-Workflow-Init")?,
            invoke: parse_bool(self.invoke.as_deref(), "Upstash-Workflow-Invoke")?,
            url: self.url,
            run_id,
            retries_set,
        }))
    }

    /// The run a callback message belongs to (its creation time is the
    /// gateway's to fill in).
    fn callback_ref(&self, header: &str) -> Result<Option<WorkflowRef>, PublishError> {
        let Some(run_id) = self.run_id(header)? else {
            return Ok(None);
        };
        Ok(Some(WorkflowRef {
            run_id,
            call_type: self.call_type(header)?,
            run_created_at: 0,
            wait_event: None,
        }))
    }
}

impl Fields {
    /// A header whose value is not UTF-8: a config header is an error, a
    /// forwarded one is dropped, and any other is ignored (as it would be
    /// outside webhook mode).
    fn take_undecodable(&mut self, name: &str) -> Result<(), PublishError> {
        if configures(name) {
            return Err(bad(format!("header {name} has a value that is not UTF-8")));
        }
        if name.starts_with("upstash-") {
            self.dropped.push(canonical_header_name(name));
        }
        Ok(())
    }

    fn take(&mut self, name: &str, value: &str) -> Result<(), PublishError> {
        if let Some(unsupported) = UNSUPPORTED.iter().find(|h| **h == name) {
            return Err(PublishError::Unsupported(unsupported));
        }
        if name == "content-type" {
            push_forward(&mut self.forward, "content-type", value);
            return Ok(());
        }
        let Some(rest) = name.strip_prefix("upstash-") else {
            self.others.push((name.to_owned(), value.to_owned()));
            return Ok(());
        };
        if let Some(forwarded) = name.strip_prefix(FORWARD_PREFIX) {
            push_forward(&mut self.forward, forwarded, value);
            return Ok(());
        }
        if let Some(sub) = rest.strip_prefix("workflow-") {
            self.workflow.take(sub, value);
            return Ok(());
        }
        if let Some(sub) = rest.strip_prefix("failure-callback-") {
            return self
                .failure_callback
                .take(sub, value, "Upstash-Failure-Callback");
        }
        if let Some(sub) = rest.strip_prefix("callback-") {
            return self.callback.take(sub, value, "Upstash-Callback");
        }
        let slot = match name {
            HEADER_METHOD => &mut self.method,
            HEADER_DELAY => &mut self.delay,
            HEADER_NOT_BEFORE => &mut self.not_before,
            HEADER_RETRIES => &mut self.retries,
            HEADER_RETRY_DELAY => &mut self.retry_delay,
            HEADER_TIMEOUT => &mut self.timeout,
            HEADER_DEDUP_ID => &mut self.dedup_id,
            HEADER_CONTENT_DEDUP => &mut self.content_dedup,
            HEADER_LABEL => &mut self.labels,
            HEADER_REDACT => &mut self.redact,
            HEADER_FORWARD_ALL => &mut self.forward_all,
            HEADER_FLOW_KEY => &mut self.flow_key,
            HEADER_FLOW_VALUE => &mut self.flow_value,
            HEADER_CALLBACK => &mut self.callback.url,
            HEADER_FAILURE_CALLBACK => &mut self.failure_callback.url,
            _ => return Ok(()),
        };
        *slot = Some(value.trim().to_owned());
        Ok(())
    }

    fn finish(mut self, limits: &Limits, now_ms: u64) -> Result<PublishOptions, PublishError> {
        let not_before_ms = match (&self.not_before, &self.delay) {
            (Some(nb), _) => Some(parse_not_before(nb, limits, now_ms)?),
            (None, Some(delay)) => {
                let delay = parse_bounded(delay, "Upstash-Delay", limits.max_delay)?;
                Some(now_ms.saturating_add(millis(delay)))
            }
            (None, None) => None,
        };
        let mut forward = std::mem::take(&mut self.forward);
        if parse_bool(self.forward_all.as_deref(), "Upstash-Header-Forward")? {
            forward.extend(
                std::mem::take(&mut self.others)
                    .into_iter()
                    .filter(|(name, _)| !NOT_FORWARDED_IN_WEBHOOK_MODE.contains(&name.as_str())),
            );
        }
        let headers = finish_forward(forward, limits, &mut self.dropped)?;
        let callback = self
            .callback
            .finish("Upstash-Callback", limits, &mut self.dropped)?;
        let failure_callback =
            self.failure_callback
                .finish("Upstash-Failure-Callback", limits, &mut self.dropped)?;
        let workflow = std::mem::take(&mut self.workflow).finish(self.retries.is_some())?;
        Ok(PublishOptions {
            method: parse_method(self.method.as_deref(), "Upstash-Method")?,
            headers,
            not_before_ms,
            retries: parse_retries(self.retries.as_deref(), "Upstash-Retries", limits)?
                .unwrap_or(limits.default_retries),
            retry_delay: parse_retry_delay(self.retry_delay.as_deref(), "Upstash-Retry-Delay")?,
            timeout: parse_timeout(self.timeout.as_deref(), "Upstash-Timeout", limits)?,
            dedup: parse_dedup(self.dedup_id, self.content_dedup.as_deref(), limits)?,
            callback,
            failure_callback,
            labels: parse_labels(self.labels.as_deref())?,
            redact: self.redact.as_deref().map(parse_redact).transpose()?,
            flow_control: flow::parse(self.flow_key.as_deref(), self.flow_value.as_deref())
                .map_err(|e| bad(e.to_string()))?,
            dropped_headers: self.dropped,
            workflow,
        })
    }
}

impl CallbackFields {
    fn take(&mut self, sub: &str, value: &str, header: &str) -> Result<(), PublishError> {
        if let Some(forwarded) = sub.strip_prefix("forward-") {
            push_forward(&mut self.forward, forwarded, value);
            return Ok(());
        }
        if let Some(workflow) = sub.strip_prefix("workflow-") {
            self.workflow.take(workflow, value);
            return Ok(());
        }
        // Workflow SDKs configure the callback message as a message of its
        // own; these settings are not forwarded headers (a nested failure
        // callback and flow control of a callback are not supported).
        if WORKFLOW_CALLBACK_SETTINGS.contains(&sub) || sub.starts_with("flow-control-") {
            return Ok(());
        }
        let slot = match sub {
            "method" => &mut self.method,
            "retries" => &mut self.retries,
            "retry-delay" => &mut self.retry_delay,
            "timeout" => &mut self.timeout,
            "delay" => &mut self.delay,
            // The Python SDK sends `callback_headers` as `Upstash-Callback-<Name>`
            // without `Forward-`; treating any other sub-header as a forwarded
            // one keeps those headers instead of silently dropping them.
            _ if !sub.is_empty() => {
                push_forward(&mut self.forward, sub, value);
                return Ok(());
            }
            _ => return Err(bad(format!("{header}- header has no name"))),
        };
        *slot = Some(value.trim().to_owned());
        Ok(())
    }

    fn finish(
        self,
        header: &str,
        limits: &Limits,
        dropped: &mut Vec<String>,
    ) -> Result<Option<CallbackSpec>, PublishError> {
        let Some(url) = self.url else {
            return Ok(None);
        };
        let url = destination::parse(&url)
            .map_err(|e| bad(format!("invalid {header}: {e}")))?
            .to_string();
        let delay = self
            .delay
            .as_deref()
            .map(|d| parse_bounded(d, &format!("{header}-Delay"), limits.max_delay))
            .transpose()?;
        Ok(Some(CallbackSpec {
            url,
            method: parse_method(self.method.as_deref(), &format!("{header}-Method"))?,
            headers: finish_forward(self.forward, limits, dropped)?,
            retries: parse_retries(
                self.retries.as_deref(),
                &format!("{header}-Retries"),
                limits,
            )?,
            retry_delay: parse_retry_delay(
                self.retry_delay.as_deref(),
                &format!("{header}-Retry-Delay"),
            )?,
            timeout_ms: parse_timeout(
                self.timeout.as_deref(),
                &format!("{header}-Timeout"),
                limits,
            )?
            .map(millis),
            delay_ms: delay.map(millis),
            workflow: self.workflow.callback_ref(header)?,
        }))
    }
}

/// Settings of a callback message that workflow SDKs send and Ferry does
/// not apply to callbacks; they are not forwarded either.
const WORKFLOW_CALLBACK_SETTINGS: [&str; 3] = ["feature-set", "failure-callback", "label"];

/// The settings an `Upstash-Callback-<X>` or `Upstash-Failure-Callback-<X>`
/// header may configure; any other `<X>` names a forwarded header.
const CALLBACK_SETTINGS: [&str; 5] = ["method", "retries", "retry-delay", "timeout", "delay"];

/// Whether header `name` configures the message (rather than naming a
/// header to deliver, or being none of Ferry's business).
fn configures(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("upstash-") else {
        return false;
    };
    if rest.starts_with("forward-") {
        return false;
    }
    match rest
        .strip_prefix("failure-callback-")
        .or_else(|| rest.strip_prefix("callback-"))
    {
        Some(sub) => CALLBACK_SETTINGS.contains(&sub),
        None => true,
    }
}

fn push_forward(forward: &mut Vec<(String, String)>, name: &str, value: &str) {
    // Repeated headers arrive as separate entries; HTTP allows joining them.
    match forward.iter_mut().find(|(n, _)| n == name) {
        Some((_, existing)) => {
            existing.push_str(", ");
            existing.push_str(value);
        }
        None => forward.push((name.to_owned(), value.to_owned())),
    }
}

/// The headers to deliver, canonically named, without the ones that must
/// not be forwarded (their names go to `dropped`).
fn finish_forward(
    forward: Vec<(String, String)>,
    limits: &Limits,
    dropped: &mut Vec<String>,
) -> Result<Vec<(String, String)>, PublishError> {
    let (kept, refused): (Vec<_>, Vec<_>) =
        forward.into_iter().partition(|(name, _)| forwardable(name));
    dropped.extend(
        refused
            .into_iter()
            .map(|(name, _)| canonical_header_name(&name)),
    );
    if kept.len() > limits.max_forward_headers {
        return Err(bad(format!(
            "too many forwarded headers: {} (at most {})",
            kept.len(),
            limits.max_forward_headers
        )));
    }
    Ok(kept
        .into_iter()
        .map(|(name, value)| (canonical_header_name(&name), value))
        .collect())
}

fn forwardable(name: &str) -> bool {
    !name.is_empty() && !UNFORWARDABLE.contains(&name) && !name.starts_with("proxy-")
}

fn parse_method(value: Option<&str>, header: &str) -> Result<String, PublishError> {
    let Some(value) = value else {
        return Ok("POST".to_owned());
    };
    let upper = value.to_ascii_uppercase();
    if METHODS.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(bad(format!(
            "invalid {header} {value:?}: use one of {}",
            METHODS.join(", ")
        )))
    }
}

fn parse_not_before(value: &str, limits: &Limits, now_ms: u64) -> Result<u64, PublishError> {
    let secs: u64 = value.parse().map_err(|_| {
        bad(format!(
            "invalid Upstash-Not-Before {value:?}: expected Unix time in seconds"
        ))
    })?;
    let at_ms = secs.saturating_mul(1000);
    if at_ms.saturating_sub(now_ms) > millis(limits.max_delay) {
        return Err(bad(format!(
            "Upstash-Not-Before {value} is further away than the maximum delay of {}s",
            limits.max_delay.as_secs()
        )));
    }
    Ok(at_ms)
}

fn parse_bounded(value: &str, header: &str, max: Duration) -> Result<Duration, PublishError> {
    let d = parse_duration(value).map_err(|e| bad(format!("invalid {header}: {e}")))?;
    if d > max {
        return Err(bad(format!(
            "{header} {value} exceeds the maximum of {}s",
            max.as_secs()
        )));
    }
    Ok(d)
}

fn parse_timeout(
    value: Option<&str>,
    header: &str,
    limits: &Limits,
) -> Result<Option<Duration>, PublishError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let d = parse_bounded(value, header, limits.max_timeout)?;
    if d.is_zero() {
        return Err(bad(format!("{header} must be greater than zero")));
    }
    Ok(Some(d))
}

fn parse_retries(
    value: Option<&str>,
    header: &str,
    limits: &Limits,
) -> Result<Option<u32>, PublishError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let n: u32 = value.parse().map_err(|_| {
        bad(format!(
            "invalid {header} {value:?}: expected a whole number"
        ))
    })?;
    if n > limits.max_retries {
        return Err(bad(format!(
            "{header} {n} exceeds the maximum of {}",
            limits.max_retries
        )));
    }
    Ok(Some(n))
}

fn parse_retry_delay(
    value: Option<&str>,
    header: &str,
) -> Result<Option<RetryDelayExpr>, PublishError> {
    value
        .map(|v| RetryDelayExpr::parse(v).map_err(|e| bad(format!("invalid {header}: {e}"))))
        .transpose()
}

fn parse_dedup(
    id: Option<String>,
    content_based: Option<&str>,
    limits: &Limits,
) -> Result<Dedup, PublishError> {
    if let Some(id) = id {
        if id.is_empty() || id.len() > limits.max_dedup_id_len {
            return Err(bad(format!(
                "Upstash-Deduplication-Id must have 1 to {} characters",
                limits.max_dedup_id_len
            )));
        }
        return Ok(Dedup::Id(id));
    }
    match content_based.map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") => Ok(Dedup::None),
        Some("true") => Ok(Dedup::ContentBased),
        Some(other) => Err(bad(format!(
            "invalid Upstash-Content-Based-Deduplication {other:?}: use true or false"
        ))),
    }
}

fn parse_bool(value: Option<&str>, header: &str) -> Result<bool, PublishError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(bad(format!(
            "invalid {header} {other:?}: use true or false"
        ))),
    }
}

/// `Upstash-Redact-Fields`: `body`, `header` (or `headers`) for every
/// header, and `header[Name]` for one.
fn parse_redact(value: &str) -> Result<Redact, PublishError> {
    let mut redact = Redact::default();
    for field in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        match field {
            "body" => redact.body = true,
            "header" | "headers" => redact.all_headers = true,
            _ => {
                let name = field
                    .strip_prefix("header[")
                    .and_then(|rest| rest.strip_suffix(']'))
                    .filter(|name| !name.is_empty())
                    .ok_or_else(|| {
                        bad(format!(
                            "invalid Upstash-Redact-Fields entry {field:?}: use body, header or header[Name]"
                        ))
                    })?;
                redact.headers.push(canonical_header_name(name));
            }
        }
    }
    Ok(redact)
}

fn parse_labels(value: Option<&str>) -> Result<Vec<String>, PublishError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            if l.len() > 128 {
                Err(bad(format!("Upstash-Label {l:?} is longer than 128 bytes")))
            } else {
                Ok(l.to_owned())
            }
        })
        .collect()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;

//! An HTTP client for Ferry's QStash v2 REST API, so Rust services and the
//! `ferry` operator commands publish and manage messages the same way the
//! official JavaScript and Python SDKs do.
//!
//! One [`Client`] holds one pooled connection set; clone it freely.

use std::time::Duration;

use bytes::Bytes;
use ferry_core::wire::{
    Cancelled, Deleted, DlqList, DlqMessage, DlqRetryResponse, Endpoint, Endpoints, ErrorBody,
    FlowControlInfo, GlobalParallelism, LogList, Message, PublishResponse, Queue, QueueUpsert,
    Schedule, ScheduleCreated, SigningKeys, UrlGroup, WorkflowRunList,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::de::DeserializeOwned;
use url::Url;

/// How long to wait for a TCP and TLS connection to the relay.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The limit for one whole REST call, body upload included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const USER_AGENT: &str = concat!("ferry-sdk/", env!("CARGO_PKG_VERSION"));
/// Error bodies that are not the usual `{"error": ...}` JSON are quoted in
/// the error up to this many characters, so an HTML error page from a proxy
/// does not flood the caller's logs.
const MAX_ERROR_TEXT_CHARS: usize = 300;

const UPSTASH_METHOD: &str = "Upstash-Method";
const UPSTASH_DELAY: &str = "Upstash-Delay";
const UPSTASH_NOT_BEFORE: &str = "Upstash-Not-Before";
const UPSTASH_RETRIES: &str = "Upstash-Retries";
const UPSTASH_RETRY_DELAY: &str = "Upstash-Retry-Delay";
const UPSTASH_TIMEOUT: &str = "Upstash-Timeout";
const UPSTASH_DEDUPLICATION_ID: &str = "Upstash-Deduplication-Id";
const UPSTASH_CONTENT_BASED_DEDUPLICATION: &str = "Upstash-Content-Based-Deduplication";
const UPSTASH_CALLBACK: &str = "Upstash-Callback";
const UPSTASH_FAILURE_CALLBACK: &str = "Upstash-Failure-Callback";
const UPSTASH_LABEL: &str = "Upstash-Label";
const UPSTASH_FORWARD_PREFIX: &str = "Upstash-Forward-";
const UPSTASH_CRON: &str = "Upstash-Cron";
const UPSTASH_SCHEDULE_ID: &str = "Upstash-Schedule-Id";
const UPSTASH_QUEUE_NAME: &str = "Upstash-Queue-Name";
const UPSTASH_FLOW_CONTROL_KEY: &str = "Upstash-Flow-Control-Key";
const UPSTASH_FLOW_CONTROL_VALUE: &str = "Upstash-Flow-Control-Value";

/// What can go wrong when calling the relay.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The relay answered with a non-2xx status. `message` is the `error`
    /// field of its JSON body, or the start of the body when it was not JSON.
    #[error("server answered {status}: {message}")]
    Http { status: u16, message: String },
    /// The request never got an answer: connection refused, TLS failure,
    /// timeout, or the connection broke while reading the body.
    #[error("request to the relay failed")]
    Transport(#[source] reqwest::Error),
    /// The relay answered 2xx with a body that is not the expected JSON.
    #[error("unexpected response body")]
    Decode(#[source] serde_json::Error),
    /// A base URL or a publish destination that does not form a valid URL.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// A header name or value (token, publish option or forwarded header)
    /// that cannot be sent over HTTP, e.g. because it contains a newline.
    #[error("invalid value for header {name}")]
    InvalidHeader { name: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a schedule is, besides the message it publishes: its id (to choose
/// or replace one) and the queue its messages are enqueued to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleOptions {
    pub schedule_id: Option<String>,
    pub queue: Option<String>,
}

/// Per-message settings of a publish, sent as `Upstash-*` headers. Every
/// field left at its default leaves the relay's default in place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishOptions {
    /// The method used to deliver the message (`Upstash-Method`); the relay
    /// uses POST when unset.
    pub method: Option<Method>,
    /// A relative delay such as `10s` or `1h30m` (`Upstash-Delay`).
    pub delay: Option<String>,
    /// The earliest delivery time in Unix seconds (`Upstash-Not-Before`);
    /// wins over `delay`.
    pub not_before: Option<u64>,
    /// Retries after the first attempt (`Upstash-Retries`).
    pub retries: Option<u32>,
    /// A delay expression in milliseconds, e.g. `1000 * pow(2, retried)`
    /// (`Upstash-Retry-Delay`).
    pub retry_delay: Option<String>,
    /// The per-attempt HTTP timeout such as `30s` (`Upstash-Timeout`).
    pub timeout: Option<String>,
    /// Messages with an id seen recently are accepted but not stored again
    /// (`Upstash-Deduplication-Id`).
    pub deduplication_id: Option<String>,
    /// Deduplicate on the destination, body and forwarded headers
    /// (`Upstash-Content-Based-Deduplication`).
    pub content_based_deduplication: bool,
    /// Called after every attempt (`Upstash-Callback`).
    pub callback: Option<String>,
    /// Called once after the last attempt failed (`Upstash-Failure-Callback`).
    pub failure_callback: Option<String>,
    /// Stored and delivered as the message's `Content-Type`.
    pub content_type: Option<String>,
    /// Labels to filter by later (`Upstash-Label`, comma-joined).
    pub labels: Vec<String>,
    /// Headers delivered with the message, sent as `Upstash-Forward-<Name>`.
    /// A name that already carries the prefix is sent as it is.
    pub forward_headers: Vec<(String, String)>,
    /// Bounds the deliveries of every message published with the same key
    /// (`Upstash-Flow-Control-Key` and `-Value`). An enqueued message waits
    /// for its queue first, then for room under the key.
    pub flow_control: Option<FlowControl>,
}

/// Flow control of a publish: the key names a budget shared by every message
/// published with it, across destinations and deliverers, so a burst to a
/// rate-limited API waits at the relay instead of failing at the API. The
/// relay needs `parallelism` or `rate`; messages over the limits wait,
/// none is dropped.
///
/// Each publish sets the key's limits again unless an operator pinned them
/// (see [`Client::pin_flow_control`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowControl {
    /// 1 to 256 visible ASCII characters other than `/ ? # %`.
    pub key: String,
    /// Most deliveries of the key in flight at once.
    pub parallelism: Option<u32>,
    /// Most deliveries of the key started per `period`.
    pub rate: Option<u32>,
    /// The rate's period, a duration such as `1s` or `1m` between 1 second
    /// and 7 days; the relay uses `1s` when unset.
    pub period: Option<String>,
}

impl FlowControl {
    /// The `Upstash-Flow-Control-Value`, e.g. `parallelism=2, rate=10,
    /// period=1m`, naming only the settings that are set.
    fn header_value(&self) -> String {
        let settings = [
            ("parallelism", self.parallelism.map(|n| n.to_string())),
            ("rate", self.rate.map(|n| n.to_string())),
            ("period", self.period.clone()),
        ];
        let parts: Vec<String> = settings
            .into_iter()
            .filter_map(|(name, value)| Some(format!("{name}={}", value?)))
            .collect();
        parts.join(", ")
    }
}

/// The limits [`Client::pin_flow_control`] fixes; a limit left `None` keeps
/// its current value and stays as pinned or unpinned as it was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowPin {
    /// Most deliveries of the key in flight at once; pins parallelism.
    pub parallelism: Option<u32>,
    /// Most deliveries of the key started per period; pins the rate.
    pub rate: Option<u32>,
    /// The rate's period in whole seconds (at most 604 800, 7 days); pins
    /// the rate.
    pub period_secs: Option<u32>,
}

/// The order of a dead-letter listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DlqOrder {
    EarliestFirst,
    LatestFirst,
}

impl DlqOrder {
    /// The value of the `order` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EarliestFirst => "earliestFirst",
            Self::LatestFirst => "latestFirst",
        }
    }
}

/// Which page of dead letters to list, and which of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DlqQuery {
    /// The `cursor` of the previous page; `None` for the first page.
    pub cursor: Option<String>,
    /// Page size; the relay's default (and maximum) is 100.
    pub count: Option<u32>,
    pub order: Option<DlqOrder>,
    /// Filters such as `("url", "https://…")` or `("responseStatus", "500")`.
    /// Repeating a key matches any of its values; different keys must all
    /// match.
    pub filters: Vec<(String, String)>,
}

/// The order of an event-log page: the same two orders as a dead-letter
/// listing. The relay lists the newest lines first when unset.
pub type LogOrder = DlqOrder;

/// Which page of the event log to list, and which of its lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// The `cursor` of the previous page; `None` for the first page.
    pub cursor: Option<String>,
    /// Page size; the relay's default is 100 and its maximum 1000.
    pub count: Option<u32>,
    pub order: Option<LogOrder>,
    /// Filters such as `("state", "FAILED")`, `("messageId", "msg_…")` or
    /// `("fromDate", "<Unix ms>")`. Repeating a key matches any of its
    /// values; different keys must all match.
    pub filters: Vec<(String, String)>,
}

/// Which pending messages a bulk cancel takes: every match, in one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CancelQuery {
    /// Filters such as `("label", "nightly")`, `("url", "https://…")` or
    /// `("queueName", "jobs")`. Repeating a key matches any of its values;
    /// different keys must all match. No filters match every pending
    /// message of the tenant.
    pub filters: Vec<(String, String)>,
}

/// Which page of Upstash Workflow runs to list, and which runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkflowRunQuery {
    /// The `cursor` of the previous page; `None` for the first page.
    pub cursor: Option<String>,
    /// Page size; the relay's default is 10 and its maximum 100.
    pub count: Option<u32>,
    /// Filters such as `("state", "RUN_STARTED")`, `("workflowRunId",
    /// "wfr_…")`, `("workflowUrl", "https://…")` (an exact URL unless
    /// `("workflowUrlExactMatch", "false")`), `("label", "…")` or
    /// `("fromDate", "<Unix ms>")`; all must match.
    pub filters: Vec<(String, String)>,
}

/// Which Upstash Workflow runs a cancel stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowCancel {
    /// These runs.
    Ids(Vec<String>),
    /// Active runs whose URL starts with this.
    UrlPrefix(String),
    /// Every active run.
    All,
}

/// A connection to one relay, authenticated with one API token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// The API root, e.g. `https://relay.example.com/qstash`; request paths
    /// such as `v2/dlq` are appended to it.
    base_url: Url,
    /// `Bearer <token>`, marked sensitive so it is never printed.
    authorization: HeaderValue,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url.as_str())
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Creates a client for the relay at `base_url` (an `http` or `https`
    /// URL, optionally with a path prefix) using the API `token`.
    pub fn new(base_url: &str, token: &str) -> Result<Self> {
        let base_url = parse_base_url(base_url)?;
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                Error::InvalidHeader {
                    name: http::header::AUTHORIZATION.to_string(),
                }
            })?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(USER_AGENT)
            .build()
            .map_err(Error::Transport)?;
        Ok(Self {
            http,
            base_url,
            authorization,
        })
    }

    /// Publishes `body` for delivery to `destination`, an absolute URL.
    pub async fn publish(
        &self,
        destination: &str,
        body: impl Into<Bytes>,
        opts: &PublishOptions,
    ) -> Result<PublishResponse> {
        let request = self.publish_request(destination, body.into(), opts)?;
        send_json(request).await
    }

    /// Publishes to every endpoint of the URL group `group`: one message
    /// per endpoint, answered in endpoint order with each endpoint's URL.
    pub async fn publish_to_url_group(
        &self,
        group: &str,
        body: impl Into<Bytes>,
        opts: &PublishOptions,
    ) -> Result<Vec<PublishResponse>> {
        let request = self.publish_request(group, body.into(), opts)?;
        send_json(request).await
    }

    /// Fetches a message that has not been delivered yet.
    pub async fn message(&self, id: &str) -> Result<Message> {
        send_json(self.request(Method::GET, &["v2", "messages", id])).await
    }

    /// Cancels a message that has not been delivered yet.
    pub async fn cancel(&self, id: &str) -> Result<Cancelled> {
        send_json(self.request(Method::DELETE, &["v2", "messages", id])).await
    }

    /// Cancels the pending messages `query` matches (every one when it has
    /// no filters) and reports how many.
    pub async fn cancel_matching(&self, query: &CancelQuery) -> Result<Cancelled> {
        let request = self
            .request(Method::DELETE, &["v2", "messages"])
            .query(&page_pairs(None, None, None, &query.filters));
        send_json(request).await
    }

    /// Lists one page of dead letters.
    pub async fn dlq_list(&self, query: &DlqQuery) -> Result<DlqList> {
        let request = self
            .request(Method::GET, &["v2", "dlq"])
            .query(&dlq_query_pairs(query));
        send_json(request).await
    }

    /// Fetches one dead letter.
    pub async fn dlq_get(&self, id: &str) -> Result<DlqMessage> {
        send_json(self.request(Method::GET, &["v2", "dlq", id])).await
    }

    /// Deletes one dead letter; a missing one is an [`Error::Http`] 404.
    pub async fn dlq_delete(&self, id: &str) -> Result<()> {
        send(self.request(Method::DELETE, &["v2", "dlq", id]))
            .await
            .map(drop)
    }

    /// Deletes the given dead letters and reports how many existed. An empty
    /// list deletes nothing and makes no request, because the relay reads a
    /// request without ids as "every dead letter".
    pub async fn dlq_delete_many(&self, ids: &[impl AsRef<str>]) -> Result<Deleted> {
        if ids.is_empty() {
            return Ok(Deleted {
                deleted: 0,
                cursor: None,
            });
        }
        let request = self
            .request(Method::DELETE, &["v2", "dlq"])
            .query(&dlq_id_pairs(ids));
        send_json(request).await
    }

    /// Publishes the given dead letters again as new messages. An empty list
    /// makes no request, for the same reason as [`Client::dlq_delete_many`].
    pub async fn dlq_retry(&self, ids: &[impl AsRef<str>]) -> Result<DlqRetryResponse> {
        if ids.is_empty() {
            return Ok(DlqRetryResponse {
                responses: Vec::new(),
                cursor: None,
            });
        }
        let request = self
            .request(Method::POST, &["v2", "dlq", "retry"])
            .query(&dlq_id_pairs(ids));
        send_json(request).await
    }

    /// Returns the signing keys deliveries are signed with.
    pub async fn keys(&self) -> Result<SigningKeys> {
        send_json(self.request(Method::GET, &["v2", "keys"])).await
    }

    /// Promotes the next signing key to current and generates a new next key.
    pub async fn rotate_keys(&self) -> Result<SigningKeys> {
        send_json(self.request(Method::POST, &["v2", "keys", "rotate"])).await
    }

    /// Lists every URL group with its endpoints.
    pub async fn url_groups(&self) -> Result<Vec<UrlGroup>> {
        send_json(self.request(Method::GET, &["v2", "topics"])).await
    }

    /// Fetches one URL group; a missing one is an [`Error::Http`] 404.
    pub async fn url_group(&self, name: &str) -> Result<UrlGroup> {
        send_json(self.request(Method::GET, &["v2", "topics", name])).await
    }

    /// Adds endpoints to a URL group, creating the group if it does not exist;
    /// an endpoint whose URL is already in the group gets the new name. Each
    /// endpoint needs a `url`, and the relay rejects an empty list.
    pub async fn add_endpoints(&self, name: &str, endpoints: &[Endpoint]) -> Result<()> {
        send(self.endpoints_request(Method::POST, name, endpoints))
            .await
            .map(drop)
    }

    /// Removes the endpoints named by URL or by name from a URL group; the
    /// relay deletes a group that this leaves empty. A missing group is an
    /// [`Error::Http`] 404.
    pub async fn remove_endpoints(&self, name: &str, endpoints: &[Endpoint]) -> Result<()> {
        send(self.endpoints_request(Method::DELETE, name, endpoints))
            .await
            .map(drop)
    }

    /// Deletes a URL group; a missing one is an [`Error::Http`] 404.
    pub async fn delete_url_group(&self, name: &str) -> Result<()> {
        send(self.request(Method::DELETE, &["v2", "topics", name]))
            .await
            .map(drop)
    }

    /// Enqueues `body` for delivery to `destination` (an absolute URL)
    /// through the queue `queue`, which the relay creates with parallelism 1
    /// if it does not exist. The relay refuses a delay or not-before time on
    /// enqueue.
    pub async fn enqueue(
        &self,
        queue: &str,
        destination: &str,
        body: impl Into<Bytes>,
        opts: &PublishOptions,
    ) -> Result<PublishResponse> {
        let route = format!("v2/enqueue/{queue}");
        let request = self
            .destination_request(&route, destination)?
            .headers(publish_headers(opts)?)
            .body(body.into());
        send_json(request).await
    }

    /// Lists every queue with its settings and lag.
    pub async fn queues(&self) -> Result<Vec<Queue>> {
        send_json(self.request(Method::GET, &["v2", "queues"])).await
    }

    /// Fetches one queue; a missing one is an [`Error::Http`] 404.
    pub async fn queue(&self, name: &str) -> Result<Queue> {
        send_json(self.request(Method::GET, &["v2", "queues", name])).await
    }

    /// Creates or replaces a queue. A setting left `None` takes the relay's
    /// default (parallelism 1, not paused), not the queue's current value.
    pub async fn upsert_queue(
        &self,
        name: &str,
        parallelism: Option<u32>,
        paused: Option<bool>,
    ) -> Result<()> {
        let body = QueueUpsert {
            queue_name: name.to_owned(),
            parallelism,
            paused,
        };
        let request = self.request(Method::POST, &["v2", "queues"]).json(&body);
        send(request).await.map(drop)
    }

    /// Deletes a queue; a missing one is an [`Error::Http`] 404.
    pub async fn delete_queue(&self, name: &str) -> Result<()> {
        send(self.request(Method::DELETE, &["v2", "queues", name]))
            .await
            .map(drop)
    }

    /// Stops a queue from delivering; enqueued messages wait until it is
    /// resumed.
    pub async fn pause_queue(&self, name: &str) -> Result<()> {
        send(self.request(Method::POST, &["v2", "queues", name, "pause"]))
            .await
            .map(drop)
    }

    /// Lets a paused queue deliver again.
    pub async fn resume_queue(&self, name: &str) -> Result<()> {
        send(self.request(Method::POST, &["v2", "queues", name, "resume"]))
            .await
            .map(drop)
    }

    /// Lists the flow-control keys whose name contains `search` (every key
    /// when `None`), with their limits, counters and waiting messages.
    pub async fn flow_controls(&self, search: Option<&str>) -> Result<Vec<FlowControlInfo>> {
        send_json(self.flow_controls_request(search)).await
    }

    fn flow_controls_request(&self, search: Option<&str>) -> reqwest::RequestBuilder {
        let query: Vec<(&str, &str)> = search.map(|s| ("search", s)).into_iter().collect();
        self.request(Method::GET, &["v2", "flowControl"])
            .query(&query)
    }

    /// Fetches one flow-control key; a missing one is an [`Error::Http`] 404.
    pub async fn flow_control(&self, key: &str) -> Result<FlowControlInfo> {
        send_json(self.request(Method::GET, &["v2", "flowControl", key])).await
    }

    /// Stops a flow-control key from admitting deliveries: its messages wait
    /// until it is resumed, attempts already in flight finish. A missing key
    /// is an [`Error::Http`] 404.
    pub async fn pause_flow_control(&self, key: &str) -> Result<()> {
        send(self.flow_action_request(key, "pause")).await.map(drop)
    }

    /// Lets a paused flow-control key admit deliveries again.
    pub async fn resume_flow_control(&self, key: &str) -> Result<()> {
        send(self.flow_action_request(key, "resume"))
            .await
            .map(drop)
    }

    /// Sets a flow-control key's limits and pins them, so that publishes
    /// naming the key no longer change them; starts a new rate window and
    /// creates the key if needed. The relay rejects a pin that sets nothing.
    pub async fn pin_flow_control(&self, key: &str, pin: &FlowPin) -> Result<()> {
        send(self.flow_pin_request(key, pin)).await.map(drop)
    }

    fn flow_pin_request(&self, key: &str, pin: &FlowPin) -> reqwest::RequestBuilder {
        let settings = [
            ("parallelism", pin.parallelism),
            ("rate", pin.rate),
            ("period", pin.period_secs),
        ];
        let query: Vec<(&str, u32)> = settings
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?)))
            .collect();
        self.flow_action_request(key, "pin").query(&query)
    }

    /// Lets publishes change a key's parallelism, rate (with its period) or
    /// both again; the limits keep their values until a publish changes
    /// them. The relay rejects an unpin of neither.
    pub async fn unpin_flow_control(&self, key: &str, parallelism: bool, rate: bool) -> Result<()> {
        send(self.flow_unpin_request(key, parallelism, rate))
            .await
            .map(drop)
    }

    fn flow_unpin_request(
        &self,
        key: &str,
        parallelism: bool,
        rate: bool,
    ) -> reqwest::RequestBuilder {
        let query: Vec<(&str, &str)> = [("parallelism", parallelism), ("rate", rate)]
            .into_iter()
            .filter(|(_, unpin)| *unpin)
            .map(|(name, _)| (name, "true"))
            .collect();
        self.flow_action_request(key, "unpin").query(&query)
    }

    /// Starts a new rate window for a flow-control key now, so deliveries
    /// held back by a used-up rate may start at once.
    pub async fn reset_flow_control_rate(&self, key: &str) -> Result<()> {
        send(self.flow_action_request(key, "resetRate"))
            .await
            .map(drop)
    }

    /// Reports the delivery attempts in flight across the relay, and the
    /// bound on them (0: none).
    pub async fn global_parallelism(&self) -> Result<GlobalParallelism> {
        send_json(self.request(Method::GET, &["v2", "globalParallelism"])).await
    }

    /// Builds the POST of one of a flow-control key's actions.
    fn flow_action_request(&self, key: &str, action: &str) -> reqwest::RequestBuilder {
        self.request(Method::POST, &["v2", "flowControl", key, action])
    }

    /// Creates a schedule that publishes `body` to `destination` (an absolute
    /// URL, or a URL group's name to fan out to its endpoints) whenever the
    /// cron expression `cron` fires, and returns its id. With a schedule id
    /// in `schedule`, an existing schedule of that id is replaced; without,
    /// the relay picks a new id. With a queue, each tick's message is
    /// enqueued to it. Of the options, `delay` and
    /// `not_before` delay each tick's message rather than the schedule.
    pub async fn create_schedule(
        &self,
        destination: &str,
        cron: &str,
        body: impl Into<Bytes>,
        opts: &PublishOptions,
        schedule: &ScheduleOptions,
    ) -> Result<String> {
        let mut headers = publish_headers(opts)?;
        headers.insert(
            header_name(UPSTASH_CRON)?,
            header_value(UPSTASH_CRON, cron)?,
        );
        let named = [
            (UPSTASH_SCHEDULE_ID, &schedule.schedule_id),
            (UPSTASH_QUEUE_NAME, &schedule.queue),
        ];
        for (name, value) in named {
            if let Some(value) = value {
                headers.insert(header_name(name)?, header_value(name, value)?);
            }
        }
        let request = self
            .destination_request("v2/schedules", destination)?
            .headers(headers)
            .body(body.into());
        let created: ScheduleCreated = send_json(request).await?;
        Ok(created.schedule_id)
    }

    /// Lists every schedule.
    pub async fn schedules(&self) -> Result<Vec<Schedule>> {
        send_json(self.request(Method::GET, &["v2", "schedules"])).await
    }

    /// Fetches one schedule; a missing one is an [`Error::Http`] 404.
    pub async fn schedule(&self, id: &str) -> Result<Schedule> {
        send_json(self.request(Method::GET, &["v2", "schedules", id])).await
    }

    /// Deletes a schedule; a missing one is an [`Error::Http`] 404.
    pub async fn delete_schedule(&self, id: &str) -> Result<()> {
        send(self.request(Method::DELETE, &["v2", "schedules", id]))
            .await
            .map(drop)
    }

    /// Stops a schedule from firing until it is resumed.
    pub async fn pause_schedule(&self, id: &str) -> Result<()> {
        send(self.request(Method::PATCH, &["v2", "schedules", id, "pause"]))
            .await
            .map(drop)
    }

    /// Lets a paused schedule fire again from its next tick; ticks missed
    /// while it was paused are not fired.
    pub async fn resume_schedule(&self, id: &str) -> Result<()> {
        send(self.request(Method::PATCH, &["v2", "schedules", id, "resume"]))
            .await
            .map(drop)
    }

    /// Lists one page of Upstash Workflow runs, newest first, with their
    /// steps.
    pub async fn workflow_runs(&self, query: &WorkflowRunQuery) -> Result<WorkflowRunList> {
        let request = self
            .request(Method::GET, &["v2", "workflows", "logs"])
            .query(&page_pairs(
                query.cursor.as_deref(),
                query.count,
                None,
                &query.filters,
            ));
        send_json(request).await
    }

    /// Cancels Upstash Workflow runs and reports how many this call
    /// stopped (runs that had ended already do not count). A prefix or
    /// `All` stops at most 1000 runs per call.
    pub async fn cancel_workflow_runs(&self, which: &WorkflowCancel) -> Result<Cancelled> {
        let pairs: Vec<(&str, String)> = match which {
            WorkflowCancel::Ids(ids) => ids
                .iter()
                .map(|id| ("workflowRunIds", id.clone()))
                .collect(),
            WorkflowCancel::UrlPrefix(prefix) => vec![
                ("workflowUrl", prefix.clone()),
                ("count", "1000".to_owned()),
            ],
            WorkflowCancel::All => vec![("count", "1000".to_owned())],
        };
        let request = self
            .request(Method::DELETE, &["v2", "workflows", "runs"])
            .query(&pairs);
        send_json(request).await
    }

    /// Lists one page of the event log: what happened to each message
    /// (created, delivered, retried, failed, cancelled) and when.
    pub async fn logs(&self, query: &LogQuery) -> Result<LogList> {
        send_json(self.logs_request(query)).await
    }

    fn logs_request(&self, query: &LogQuery) -> reqwest::RequestBuilder {
        self.request(Method::GET, &["v2", "events"])
            .query(&page_pairs(
                query.cursor.as_deref(),
                query.count,
                query.order,
                &query.filters,
            ))
    }

    /// Builds the request of both endpoint routes of a URL group, which take
    /// the same `{"endpoints": [...]}` body.
    fn endpoints_request(
        &self,
        method: Method,
        name: &str,
        endpoints: &[Endpoint],
    ) -> reqwest::RequestBuilder {
        let body = Endpoints {
            endpoints: endpoints.to_vec(),
        };
        self.request(method, &["v2", "topics", name, "endpoints"])
            .json(&body)
    }

    /// Builds the publish request. The destination is appended to
    /// `v2/publish/` exactly as given, without percent-encoding, because that
    /// is the form the relay (like QStash) parses: its query string travels as
    /// the request's query string.
    fn publish_request(
        &self,
        destination: &str,
        body: Bytes,
        opts: &PublishOptions,
    ) -> Result<reqwest::RequestBuilder> {
        Ok(self
            .destination_request("v2/publish", destination)?
            .headers(publish_headers(opts)?)
            .body(body))
    }

    /// Builds a POST to `route/destination` with the destination appended
    /// raw, the form the publish, enqueue and schedule routes all parse.
    fn destination_request(
        &self,
        route: &str,
        destination: &str,
    ) -> Result<reqwest::RequestBuilder> {
        let root = self.base_url.as_str().trim_end_matches('/');
        let raw = format!("{root}/{route}/{destination}");
        let url = Url::parse(&raw).map_err(|error| Error::InvalidUrl {
            url: raw.clone(),
            reason: error.to_string(),
        })?;
        Ok(self.authorized(Method::POST, url))
    }

    /// Builds a request to the API path made of `segments`, each
    /// percent-encoded so that an id cannot change the path.
    fn request(&self, method: Method, segments: &[&str]) -> reqwest::RequestBuilder {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            // `parse_base_url` accepts only http and https URLs, which always
            // have a path that segments can be added to.
            .expect("an http(s) URL has path segments")
            .pop_if_empty()
            .extend(segments);
        self.authorized(method, url)
    }

    fn authorized(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .header(http::header::AUTHORIZATION, self.authorization.clone())
    }
}

async fn send_json<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T> {
    let body = send(request).await?;
    serde_json::from_slice(&body).map_err(Error::Decode)
}

/// Sends the request and returns the body of a 2xx answer; any other
/// status becomes [`Error::Http`].
async fn send(request: reqwest::RequestBuilder) -> Result<Bytes> {
    let response = request.send().await.map_err(Error::Transport)?;
    let status = response.status();
    let body = response.bytes().await.map_err(Error::Transport)?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(Error::Http {
            status: status.as_u16(),
            message: error_message(status, &body),
        })
    }
}

fn parse_base_url(raw: &str) -> Result<Url> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: raw.to_owned(),
        reason,
    };
    let url = Url::parse(raw).map_err(|error| invalid(error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https".to_owned()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "a base URL cannot have a query or a fragment".to_owned(),
        ));
    }
    Ok(url)
}

/// Maps the publish options onto their `Upstash-*` headers.
fn publish_headers(opts: &PublishOptions) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    let mut put = |name: &str, value: Option<String>| -> Result<()> {
        if let Some(value) = value {
            headers.append(header_name(name)?, header_value(name, &value)?);
        }
        Ok(())
    };
    put(
        http::header::CONTENT_TYPE.as_str(),
        opts.content_type.clone(),
    )?;
    put(UPSTASH_METHOD, opts.method.as_ref().map(Method::to_string))?;
    put(UPSTASH_DELAY, opts.delay.clone())?;
    put(UPSTASH_NOT_BEFORE, opts.not_before.map(|at| at.to_string()))?;
    put(UPSTASH_RETRIES, opts.retries.map(|n| n.to_string()))?;
    put(UPSTASH_RETRY_DELAY, opts.retry_delay.clone())?;
    put(UPSTASH_TIMEOUT, opts.timeout.clone())?;
    put(UPSTASH_DEDUPLICATION_ID, opts.deduplication_id.clone())?;
    put(
        UPSTASH_CONTENT_BASED_DEDUPLICATION,
        opts.content_based_deduplication.then(|| "true".to_owned()),
    )?;
    put(UPSTASH_CALLBACK, opts.callback.clone())?;
    put(UPSTASH_FAILURE_CALLBACK, opts.failure_callback.clone())?;
    put(
        UPSTASH_LABEL,
        (!opts.labels.is_empty()).then(|| opts.labels.join(",")),
    )?;
    for (name, value) in &opts.forward_headers {
        put(&forwarded_name(name), Some(value.clone()))?;
    }
    if let Some(flow) = &opts.flow_control {
        put(UPSTASH_FLOW_CONTROL_KEY, Some(flow.key.clone()))?;
        put(UPSTASH_FLOW_CONTROL_VALUE, Some(flow.header_value()))?;
    }
    Ok(headers)
}

fn forwarded_name(name: &str) -> String {
    let already_prefixed = name
        .get(..UPSTASH_FORWARD_PREFIX.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(UPSTASH_FORWARD_PREFIX));
    if already_prefixed {
        name.to_owned()
    } else {
        format!("{UPSTASH_FORWARD_PREFIX}{name}")
    }
}

fn header_name(name: &str) -> Result<HeaderName> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| Error::InvalidHeader {
        name: name.to_owned(),
    })
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(value).map_err(|_| Error::InvalidHeader {
        name: name.to_owned(),
    })
}

fn dlq_query_pairs(query: &DlqQuery) -> Vec<(&str, String)> {
    page_pairs(
        query.cursor.as_deref(),
        query.count,
        query.order,
        &query.filters,
    )
}

/// The query parameters of a paged listing (dead letters, the event log)
/// or a bulk cancel, which share the paging keys and take their filters as
/// they are.
fn page_pairs<'a>(
    cursor: Option<&str>,
    count: Option<u32>,
    order: Option<DlqOrder>,
    filters: &'a [(String, String)],
) -> Vec<(&'a str, String)> {
    let mut pairs = Vec::new();
    if let Some(cursor) = cursor {
        pairs.push(("cursor", cursor.to_owned()));
    }
    if let Some(count) = count {
        pairs.push(("count", count.to_string()));
    }
    if let Some(order) = order {
        pairs.push(("order", order.as_str().to_owned()));
    }
    pairs.extend(
        filters
            .iter()
            .map(|(key, value)| (key.as_str(), value.clone())),
    );
    pairs
}

fn dlq_id_pairs(ids: &[impl AsRef<str>]) -> Vec<(&'static str, &str)> {
    ids.iter().map(|id| ("dlqIds", id.as_ref())).collect()
}

/// The message of an error answer: the `error` field of a QStash-style JSON
/// body, else the body text (shortened), else the status's reason phrase.
fn error_message(status: reqwest::StatusCode, body: &[u8]) -> String {
    if let Ok(ErrorBody { error }) = serde_json::from_slice(body) {
        return error;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return status
            .canonical_reason()
            .unwrap_or("no error message")
            .to_lowercase();
    }
    match text.char_indices().nth(MAX_ERROR_TEXT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests;

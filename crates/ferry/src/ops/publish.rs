//! `ferry publish`: hands one message to the relay, mostly to test a
//! destination or replay a payload by hand.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ferry_sdk::wire::PublishResponse;
use ferry_sdk::{Client, FlowControl, Method, PublishOptions};

use super::flow_control::{parse_limit, parse_period};
use super::output::{Fields, Format, Table, show};

/// Arguments of `ferry publish`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// Destination URL the relay delivers the message to, e.g.
    /// `https://api.example.com/jobs?kind=email`
    #[arg(value_name = "URL")]
    destination: String,

    /// Message body, given inline [default: empty body]
    #[arg(long, short = 'd', value_name = "STRING", conflicts_with = "file")]
    data: Option<String>,

    /// Read the message body from a file; `-` reads standard input
    #[arg(long, short = 'f', value_name = "PATH")]
    file: Option<PathBuf>,

    /// Delay before the first delivery attempt, as a duration such as 30s,
    /// 10m, 2h, 1d or 1h30m [default: deliver now]
    #[arg(long, value_name = "DURATION")]
    delay: Option<String>,

    /// Do not deliver before this time, in Unix seconds (UTC); wins over
    /// --delay
    #[arg(long, value_name = "UNIX_SECONDS")]
    not_before: Option<u64>,

    /// Retries after a failed first attempt; 0 means a single attempt
    /// [default: the relay's, 3 unless configured]
    #[arg(long, value_name = "N")]
    retries: Option<u32>,

    /// Delay between retries in milliseconds, as an expression of `retried`
    /// (retries so far, from 0), e.g. "1000 * pow(2, retried)"
    /// [default: exponential backoff]
    #[arg(long, value_name = "EXPR")]
    retry_delay: Option<String>,

    /// Timeout of each delivery attempt, as a duration such as 30s or 2m
    /// [default: the relay's maximum]
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,

    /// HTTP method of the delivery request [default: POST]
    #[arg(long, short = 'X', value_enum, ignore_case = true)]
    method: Option<DeliveryMethod>,

    /// Deduplication id: another message with the same id within the
    /// relay's deduplication window is accepted but not delivered again
    #[arg(long, value_name = "ID")]
    dedup_id: Option<String>,

    /// Deduplicate on the content instead: destination, body, content type
    /// and forwarded headers
    #[arg(long)]
    content_based_dedup: bool,

    /// URL called with the outcome after every delivery attempt
    #[arg(long, value_name = "URL")]
    callback: Option<String>,

    /// URL called once when the message fails for good (moved to the DLQ)
    #[arg(long, value_name = "URL")]
    failure_callback: Option<String>,

    /// Label to filter the message by later (repeat for several)
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,

    /// Header to deliver with the message, as 'Name: value' (repeat for
    /// several); sent to the relay as Upstash-Forward-Name
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'", value_parser = parse_header)]
    headers: Vec<(String, String)>,

    /// Content-Type of the body, delivered with the message
    #[arg(long, value_name = "MIME_TYPE")]
    content_type: Option<String>,

    #[command(flatten)]
    flow: FlowArgs,
}

/// The flow-control flags of `ferry publish`, `ferry queues enqueue` and
/// `ferry schedules create`.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Flow control")]
#[command(group(
    clap::ArgGroup::new("flow_limit")
        .args(["flow_parallelism", "flow_rate"])
        .multiple(true)
        .requires("flow_key")
))]
pub(super) struct FlowArgs {
    /// Flow-control key: the deliveries of every message published with the
    /// same key share its limits, across destinations and deliverers, and
    /// wait at the relay while the limits are reached. Needs
    /// --flow-parallelism, --flow-rate or both; the limits replace the key's
    /// current ones unless they are pinned (see `ferry flow-control pin`)
    #[arg(long, value_name = "KEY", requires = "flow_limit")]
    flow_key: Option<String>,

    /// Most deliveries of the flow-control key in flight at once
    #[arg(long, value_name = "N", value_parser = parse_limit())]
    flow_parallelism: Option<u32>,

    /// Most deliveries of the flow-control key started per --flow-period
    #[arg(long, value_name = "N", value_parser = parse_limit())]
    flow_rate: Option<u32>,

    /// The period of --flow-rate: whole seconds, or a duration such as 30s,
    /// 1m or 1h, from 1s to 7d [default: 1s]
    #[arg(long, value_name = "DURATION", requires = "flow_key", value_parser = parse_period)]
    flow_period: Option<u32>,
}

/// The methods the relay can deliver with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "UPPER")]
enum DeliveryMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl From<DeliveryMethod> for Method {
    fn from(method: DeliveryMethod) -> Self {
        match method {
            DeliveryMethod::Get => Self::GET,
            DeliveryMethod::Post => Self::POST,
            DeliveryMethod::Put => Self::PUT,
            DeliveryMethod::Patch => Self::PATCH,
            DeliveryMethod::Delete => Self::DELETE,
        }
    }
}

pub(super) async fn run(client: &Client, args: &PublishArgs, format: Format) -> anyhow::Result<()> {
    let body = read_body(args)?;
    let opts = publish_options(args);
    let context = || format!("publishing to {}", args.destination);
    // A destination that is not a URL names a URL group, which answers with
    // one message per endpoint.
    if ferry_core::destination::looks_like_url(&args.destination) {
        let response = client
            .publish(&args.destination, body, &opts)
            .await
            .with_context(context)?;
        show(format, &response, render)
    } else {
        let responses = client
            .publish_to_url_group(&args.destination, body, &opts)
            .await
            .with_context(context)?;
        show(format, &responses, render_fan_out)
    }
}

/// Reads the body. Blocking reads are fine here: nothing else runs until the
/// body is known.
fn read_body(args: &PublishArgs) -> anyhow::Result<Vec<u8>> {
    match (&args.data, &args.file) {
        (Some(data), _) => Ok(data.clone().into_bytes()),
        (None, Some(path)) if path == Path::new("-") => {
            let mut body = Vec::new();
            std::io::stdin()
                .read_to_end(&mut body)
                .context("reading the body from standard input")?;
            Ok(body)
        }
        (None, Some(path)) => {
            std::fs::read(path).with_context(|| format!("reading the body from {}", path.display()))
        }
        (None, None) => Ok(Vec::new()),
    }
}

fn publish_options(args: &PublishArgs) -> PublishOptions {
    PublishOptions {
        method: args.method.map(Method::from),
        delay: args.delay.clone(),
        not_before: args.not_before,
        retries: args.retries,
        retry_delay: args.retry_delay.clone(),
        timeout: args.timeout.clone(),
        deduplication_id: args.dedup_id.clone(),
        content_based_deduplication: args.content_based_dedup,
        callback: args.callback.clone(),
        failure_callback: args.failure_callback.clone(),
        content_type: args.content_type.clone(),
        labels: args.labels.clone(),
        forward_headers: args.headers.clone(),
        flow_control: args.flow.flow_control(),
    }
}

impl FlowArgs {
    /// The flow control these flags ask for, if any.
    pub(super) fn flow_control(&self) -> Option<FlowControl> {
        self.flow_key.clone().map(|key| FlowControl {
            key,
            parallelism: self.flow_parallelism,
            rate: self.flow_rate,
            period: self.flow_period.map(|secs| format!("{secs}s")),
        })
    }
}

/// Parses `Name: value` (the space is optional, as in curl).
pub(super) fn parse_header(raw: &str) -> Result<(String, String), String> {
    let (name, value) = raw
        .split_once(':')
        .ok_or_else(|| format!("expected 'Name: value', got {raw:?}"))?;
    let name = name.trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(format!("invalid header name {name:?}"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

fn render(response: &PublishResponse) -> String {
    let mut fields = Fields::default();
    fields.add("message id", &response.message_id);
    fields.add_opt("url", response.url.as_ref());
    if response.deduplicated == Some(true) {
        fields.add("deduplicated", "yes: an earlier message had the same id");
    }
    fields.render()
}

/// One row per endpoint a URL-group publish fanned out to.
fn render_fan_out(responses: &Vec<PublishResponse>) -> String {
    let mut table = Table::new(&["MESSAGE ID", "URL", "DEDUPLICATED"]);
    for response in responses {
        table.push(vec![
            response.message_id.clone(),
            response.url.clone().unwrap_or_default(),
            if response.deduplicated == Some(true) {
                "yes"
            } else {
                ""
            }
            .to_owned(),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests;

//! `ferry queues …`: queues, which hold enqueued messages back until the
//! queue's parallelism admits them, so an operator can size, pause and watch
//! them and push a message through one by hand.
//!
//! The message flags shared with `ferry schedules create` live here too, in
//! [`MessageArgs`], so that both commands describe a message the same way.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ferry_sdk::wire::{PublishResponse, Queue};
use ferry_sdk::{Client, Method, PublishOptions};

use super::output::{Fields, Format, Table, confirm, show, timestamp};
use super::publish::{FlowArgs, parse_header};

/// Subcommands of `ferry queues`.
#[derive(Debug, clap::Subcommand)]
pub enum QueuesCommand {
    /// List every queue with its parallelism, lag (messages waiting) and
    /// whether it is paused
    List,
    /// Show one queue
    Show {
        /// Queue name
        name: String,
    },
    /// Create a queue or change its settings; a setting left out keeps its
    /// current value (for a new queue: parallelism 1, not paused)
    ///
    /// Prints the queue as it is afterwards.
    Set {
        /// Queue name: 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'
        name: String,
        /// How many of the queue's messages may be in delivery at once;
        /// 1 delivers strictly in order
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        parallelism: Option<u32>,
        /// Whether the queue holds its messages instead of delivering them
        #[arg(long, value_name = "true|false")]
        paused: Option<bool>,
    },
    /// Stop a queue from delivering; enqueued messages wait until it is
    /// resumed
    ///
    /// Prints nothing with --json: the API answers with an empty body.
    Pause {
        /// Queue name
        name: String,
    },
    /// Let a paused queue deliver again
    ///
    /// Prints nothing with --json: the API answers with an empty body.
    Resume {
        /// Queue name
        name: String,
    },
    /// Delete a queue
    ///
    /// Prints nothing with --json: the API answers with an empty body.
    Delete {
        /// Queue name
        name: String,
    },
    /// Enqueue a message: the relay stores it and delivers it to a URL when
    /// the queue's parallelism admits it
    ///
    /// A queue that does not exist yet is created with parallelism 1. Queued
    /// messages cannot be delayed, so there is no --delay.
    Enqueue(Box<EnqueueArgs>),
}

/// Arguments of `ferry queues enqueue`.
#[derive(Debug, clap::Args)]
pub struct EnqueueArgs {
    /// Queue name
    queue: String,

    /// Destination URL the relay delivers the message to, e.g.
    /// `https://api.example.com/jobs?kind=email`
    #[arg(value_name = "URL")]
    destination: String,

    #[command(flatten)]
    message: MessageArgs,

    /// Deduplication id: another message with the same id within the
    /// relay's deduplication window is accepted but not delivered again
    #[arg(long, value_name = "ID")]
    dedup_id: Option<String>,

    /// Once the queue admits the message, it also waits for room under this
    /// flow-control key
    #[command(flatten)]
    flow: FlowArgs,
}

/// How a message is delivered: its body, headers and retry policy. Shared by
/// `ferry queues enqueue` and `ferry schedules create`.
#[derive(Debug, clap::Args)]
pub struct MessageArgs {
    /// Message body, given inline [default: empty body]
    #[arg(long, short = 'd', value_name = "STRING", conflicts_with = "file")]
    data: Option<String>,

    /// Read the message body from a file; `-` reads standard input
    #[arg(long, short = 'f', value_name = "PATH")]
    file: Option<PathBuf>,

    /// Header to deliver with the message, as 'Name: value' (repeat for
    /// several); sent to the relay as Upstash-Forward-Name
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'", value_parser = parse_header)]
    headers: Vec<(String, String)>,

    /// Content-Type of the body, delivered with the message
    #[arg(long, value_name = "MIME_TYPE")]
    content_type: Option<String>,

    /// HTTP method of the delivery request: GET, POST, PUT, PATCH or DELETE
    /// [default: POST]
    #[arg(long, short = 'X', value_name = "METHOD", value_parser = parse_method)]
    method: Option<Method>,

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

    /// URL called with the outcome after every delivery attempt
    #[arg(long, value_name = "URL")]
    callback: Option<String>,

    /// URL called once when the message fails for good (moved to the DLQ)
    #[arg(long, value_name = "URL")]
    failure_callback: Option<String>,

    /// Label to filter the message by later (repeat for several)
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,
}

impl MessageArgs {
    /// Reads the body. Blocking reads are fine here: nothing else runs until
    /// the body is known.
    pub(super) fn body(&self) -> anyhow::Result<Vec<u8>> {
        match (&self.data, &self.file) {
            (Some(data), _) => Ok(data.clone().into_bytes()),
            (None, Some(path)) if path == Path::new("-") => {
                let mut body = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut body)
                    .context("reading the body from standard input")?;
                Ok(body)
            }
            (None, Some(path)) => std::fs::read(path)
                .with_context(|| format!("reading the body from {}", path.display())),
            (None, None) => Ok(Vec::new()),
        }
    }

    /// The publish options these flags set; the rest keep the relay's
    /// defaults.
    pub(super) fn options(&self) -> PublishOptions {
        PublishOptions {
            method: self.method.clone(),
            retries: self.retries,
            retry_delay: self.retry_delay.clone(),
            timeout: self.timeout.clone(),
            callback: self.callback.clone(),
            failure_callback: self.failure_callback.clone(),
            content_type: self.content_type.clone(),
            labels: self.labels.clone(),
            forward_headers: self.headers.clone(),
            ..PublishOptions::default()
        }
    }
}

pub(super) async fn run(client: &Client, cmd: QueuesCommand, format: Format) -> anyhow::Result<()> {
    match cmd {
        QueuesCommand::List => {
            let queues = client.queues().await.context("listing queues")?;
            show(format, &queues, |queues| render_list(queues))
        }
        QueuesCommand::Show { name } => {
            let queue = fetch(client, &name).await?;
            show(format, &queue, render_queue)
        }
        QueuesCommand::Set {
            name,
            parallelism,
            paused,
        } => set(client, &name, parallelism, paused, format).await,
        QueuesCommand::Pause { name } => {
            client
                .pause_queue(&name)
                .await
                .with_context(|| format!("pausing queue {name}"))?;
            confirm(format, &format!("paused queue {name}"))
        }
        QueuesCommand::Resume { name } => {
            client
                .resume_queue(&name)
                .await
                .with_context(|| format!("resuming queue {name}"))?;
            confirm(format, &format!("resumed queue {name}"))
        }
        QueuesCommand::Delete { name } => {
            client
                .delete_queue(&name)
                .await
                .with_context(|| format!("deleting queue {name}"))?;
            confirm(format, &format!("deleted queue {name}"))
        }
        QueuesCommand::Enqueue(args) => enqueue(client, &args, format).await,
    }
}

async fn fetch(client: &Client, name: &str) -> anyhow::Result<Queue> {
    client
        .queue(name)
        .await
        .with_context(|| format!("fetching queue {name}"))
}

/// Upserts the queue. The API resets every setting the request leaves out,
/// so the settings not given on the command line are first read from the
/// queue as it is.
async fn set(
    client: &Client,
    name: &str,
    parallelism: Option<u32>,
    paused: Option<bool>,
    format: Format,
) -> anyhow::Result<()> {
    let current = match client.queue(name).await {
        Ok(queue) => Some(queue),
        Err(ferry_sdk::Error::Http { status: 404, .. }) => None,
        Err(error) => return Err(error).with_context(|| format!("fetching queue {name}")),
    };
    let (parallelism, paused) = merged_settings(current.as_ref(), parallelism, paused);
    client
        .upsert_queue(name, parallelism, paused)
        .await
        .with_context(|| format!("setting up queue {name}"))?;
    let queue = fetch(client, name).await?;
    show(format, &queue, render_queue)
}

/// The settings to send: the ones given, else the queue's current ones, else
/// none (the relay's defaults).
fn merged_settings(
    current: Option<&Queue>,
    parallelism: Option<u32>,
    paused: Option<bool>,
) -> (Option<u32>, Option<bool>) {
    (
        parallelism.or(current.map(|queue| queue.parallelism)),
        paused.or(current.map(|queue| queue.paused)),
    )
}

async fn enqueue(client: &Client, args: &EnqueueArgs, format: Format) -> anyhow::Result<()> {
    let body = args.message.body()?;
    let opts = PublishOptions {
        deduplication_id: args.dedup_id.clone(),
        flow_control: args.flow.flow_control(),
        ..args.message.options()
    };
    let response = client
        .enqueue(&args.queue, &args.destination, body, &opts)
        .await
        .with_context(|| {
            format!(
                "enqueueing to {} via queue {}",
                args.destination, args.queue
            )
        })?;
    show(format, &response, render_enqueued)
}

/// Parses a delivery method, in any case, among those the relay delivers
/// with.
fn parse_method(raw: &str) -> Result<Method, String> {
    let allowed = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    allowed
        .into_iter()
        .find(|method| method.as_str().eq_ignore_ascii_case(raw))
        .ok_or_else(|| format!("expected GET, POST, PUT, PATCH or DELETE, got {raw:?}"))
}

pub(super) fn yes_no(flag: bool) -> &'static str {
    if flag { "yes" } else { "no" }
}

fn render_list(queues: &[Queue]) -> String {
    if queues.is_empty() {
        return "no queues".to_owned();
    }
    let mut table = Table::new(&["NAME", "PARALLELISM", "LAG", "PAUSED", "CREATED"]);
    for queue in queues {
        table.push(vec![
            queue.name.clone(),
            queue.parallelism.to_string(),
            queue.lag.to_string(),
            yes_no(queue.paused).to_owned(),
            timestamp(queue.created_at),
        ]);
    }
    table.render()
}

fn render_queue(queue: &Queue) -> String {
    let mut fields = Fields::default();
    fields.add("name", &queue.name);
    fields.add("parallelism", queue.parallelism);
    fields.add("lag", queue.lag);
    fields.add("paused", yes_no(queue.paused));
    fields.add("created", timestamp(queue.created_at));
    fields.add("updated", timestamp(queue.updated_at));
    fields.render()
}

fn render_enqueued(response: &PublishResponse) -> String {
    let mut fields = Fields::default();
    fields.add("message id", &response.message_id);
    if response.deduplicated == Some(true) {
        fields.add("deduplicated", "yes: an earlier message had the same id");
    }
    fields.render()
}

#[cfg(test)]
mod tests;

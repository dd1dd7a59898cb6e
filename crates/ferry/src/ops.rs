//! Operator commands: `ferry publish`, `ferry dlq …`, `ferry messages …`,
//! `ferry keys …`, `ferry topics …`, `ferry queues …`, `ferry schedules …`,
//! `ferry flow-control …`, `ferry logs` and `ferry workflows …`.
//!
//! They talk to a running gateway over its HTTP API through `ferry-sdk`, never
//! to Redis, so they work against any deployment the operator can reach and
//! need nothing but its URL and an API token. Each command prints a table or
//! a key-value block for people, or the API's JSON with `--json` for scripts.

pub mod dlq;
pub mod flow_control;
pub mod keys;
pub mod logs;
pub mod messages;
mod output;
pub mod publish;
pub mod queues;
pub mod schedules;
pub mod topics;
pub mod workflows;

use anyhow::Context as _;
use ferry_sdk::Client;
use url::Url;

use self::output::Format;

/// The help section that lists the options every operator command takes.
const GLOBAL_OPTIONS: &str = "Global options";

/// Where the gateway is and how to authenticate; shared by every operator
/// command.
#[derive(Clone, clap::Args)]
pub struct OpsArgs {
    /// Base URL of the Ferry gateway, i.e. the root of its QStash v2 API
    /// (requests go to `URL/v2/...`)
    #[arg(
        long,
        env = "FERRY_URL",
        default_value = "http://127.0.0.1:8080",
        global = true,
        help_heading = GLOBAL_OPTIONS
    )]
    pub url: Url,

    /// API token of the gateway, sent as `Authorization: Bearer <TOKEN>`;
    /// required by every operator command
    #[arg(
        long,
        env = "FERRY_TOKEN",
        global = true,
        hide_env_values = true,
        help_heading = GLOBAL_OPTIONS
    )]
    pub token: Option<String>,

    /// Print the API's JSON answer instead of a human-readable table
    #[arg(long, global = true, help_heading = GLOBAL_OPTIONS)]
    pub json: bool,
}

impl std::fmt::Debug for OpsArgs {
    /// The token is a credential, so it never appears in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsArgs")
            .field("url", &self.url.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("json", &self.json)
            .finish()
    }
}

/// The operator commands.
#[derive(Debug, clap::Subcommand)]
pub enum OpsCommand {
    /// Publish a message: the relay stores it and delivers it to a URL
    Publish(Box<publish::PublishArgs>),
    /// List, inspect, retry and delete dead letters (messages whose every
    /// delivery attempt failed)
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Look at or cancel messages that are not delivered yet
    #[command(subcommand)]
    Messages(messages::MessagesCommand),
    /// Show or rotate the keys deliveries are signed with
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Manage URL groups: named sets of endpoints that one publish to the
    /// group's name fans out to
    #[command(subcommand)]
    Topics(topics::TopicsCommand),
    /// Manage queues, which deliver their messages in order with a set
    /// parallelism, and enqueue messages to them
    #[command(subcommand)]
    Queues(queues::QueuesCommand),
    /// Manage schedules, which publish a message whenever a cron pattern
    /// fires
    #[command(subcommand)]
    Schedules(schedules::SchedulesCommand),
    /// Watch and steer flow-control keys, which bound how many deliveries of
    /// the messages published with a key run at once and start per period
    ///
    /// A publisher names a key (`ferry publish --flow-key`, or the
    /// Upstash-Flow-Control-Key header) and its limits: parallelism, the most
    /// deliveries of the key in flight at once, and rate, the most started
    /// per period. The limits hold across every destination and deliverer;
    /// messages over them wait at the relay and none is dropped. Every
    /// publish sets the key's limits again unless they are pinned: `pin`
    /// fixes them so that publishes no longer change them, `unpin` hands them
    /// back to the publishers.
    #[command(subcommand, visible_alias = "flow")]
    FlowControl(flow_control::FlowControlCommand),
    /// Show the event log, newest first: what happened to each message and
    /// when; --follow keeps printing new lines
    Logs(logs::LogsArgs),
    /// List, inspect and cancel Upstash Workflow runs
    #[command(subcommand)]
    Workflows(workflows::WorkflowsCommand),
}

/// Runs one operator command against the gateway named in `args`.
pub async fn run(args: &OpsArgs, cmd: OpsCommand) -> anyhow::Result<()> {
    let client = connect(args)?;
    let format = Format::from_json_flag(args.json);
    match cmd {
        OpsCommand::Publish(publish) => publish::run(&client, &publish, format).await,
        OpsCommand::Dlq(dlq) => dlq::run(&client, dlq, format).await,
        OpsCommand::Messages(messages) => messages::run(&client, messages, format).await,
        OpsCommand::Keys(keys) => keys::run(&client, keys, format).await,
        OpsCommand::Topics(topics) => topics::run(&client, topics, format).await,
        OpsCommand::Queues(queues) => queues::run(&client, queues, format).await,
        OpsCommand::Schedules(schedules) => schedules::run(&client, schedules, format).await,
        OpsCommand::FlowControl(flows) => flow_control::run(&client, flows, format).await,
        OpsCommand::Logs(logs) => logs::run(&client, &logs, format).await,
        OpsCommand::Workflows(workflows) => workflows::run(&client, workflows, format).await,
    }
}

fn connect(args: &OpsArgs) -> anyhow::Result<Client> {
    let token = args
        .token
        .as_deref()
        .filter(|token| !token.is_empty())
        .context("no API token: set FERRY_TOKEN or pass --token")?;
    Client::new(args.url.as_str(), token)
        .with_context(|| format!("setting up a client for {}", args.url))
}

#[cfg(test)]
mod tests;

//! `ferry messages …`: look at or cancel messages before they are delivered,
//! one by id or all that match filters. Cancelling by filter asks for at
//! least one filter or `--all`, so forgetting a flag cannot cancel
//! everything.

use anyhow::Context as _;
use ferry_sdk::wire::Cancelled;
use ferry_sdk::{CancelQuery, Client};

use super::output::{Fields, Format, add_message_fields, show};

/// Subcommands of `ferry messages`.
#[derive(Debug, clap::Subcommand)]
pub enum MessagesCommand {
    /// Show a message that is waiting for delivery or being retried
    Get {
        /// Message id, as returned by publish (msg_…)
        id: String,
    },
    /// Cancel a message so that it is not delivered (again)
    Cancel {
        /// Message id, as returned by publish (msg_…)
        id: String,
    },
    /// Cancel every pending message that matches all the given filters (a
    /// repeated filter matches any of its values), or with --all every
    /// pending message
    CancelMatching(CancelMatchingArgs),
}

/// Arguments of `ferry messages cancel-matching`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("selection").required(true).multiple(true))]
pub struct CancelMatchingArgs {
    /// Only messages for this destination URL
    #[arg(long = "destination", value_name = "URL", group = "selection")]
    destinations: Vec<String>,

    /// Only messages carrying this label
    #[arg(long = "label", value_name = "LABEL", group = "selection")]
    labels: Vec<String>,

    /// Only messages enqueued to this queue
    #[arg(long = "queue", value_name = "NAME", group = "selection")]
    queues: Vec<String>,

    /// Only messages published to this URL group
    #[arg(long = "url-group", value_name = "NAME", group = "selection")]
    url_groups: Vec<String>,

    /// Only messages created by this schedule
    #[arg(long = "schedule", value_name = "ID", group = "selection")]
    schedules: Vec<String>,

    /// Every pending message, with no filter
    #[arg(long, group = "selection", conflicts_with_all = ["destinations", "labels", "queues", "url_groups", "schedules"])]
    all: bool,
}

impl CancelMatchingArgs {
    fn query(&self) -> CancelQuery {
        let filters = [
            ("url", &self.destinations),
            ("label", &self.labels),
            ("queueName", &self.queues),
            ("topicName", &self.url_groups),
            ("scheduleId", &self.schedules),
        ]
        .into_iter()
        .flat_map(|(key, values)| values.iter().map(move |v| (key.to_owned(), v.clone())))
        .collect();
        CancelQuery { filters }
    }
}

pub(super) async fn run(
    client: &Client,
    cmd: MessagesCommand,
    format: Format,
) -> anyhow::Result<()> {
    match cmd {
        MessagesCommand::Get { id } => {
            let message = client
                .message(&id)
                .await
                .with_context(|| format!("fetching message {id}"))?;
            show(format, &message, |message| {
                let mut fields = Fields::default();
                add_message_fields(&mut fields, message);
                fields.render()
            })
        }
        MessagesCommand::Cancel { id } => {
            let cancelled = client
                .cancel(&id)
                .await
                .with_context(|| format!("cancelling message {id}"))?;
            show(format, &cancelled, cancelled_text)
        }
        MessagesCommand::CancelMatching(args) => {
            let cancelled = client
                .cancel_matching(&args.query())
                .await
                .context("cancelling matching messages")?;
            show(format, &cancelled, cancelled_text)
        }
    }
}

fn cancelled_text(cancelled: &Cancelled) -> String {
    format!("cancelled {} message(s)", cancelled.cancelled)
}

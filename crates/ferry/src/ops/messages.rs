//! `ferry messages …`: look at or cancel a message before it is delivered.

use anyhow::Context as _;
use ferry_sdk::Client;

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
            show(format, &cancelled, |cancelled| {
                format!("cancelled {} message(s)", cancelled.cancelled)
            })
        }
    }
}

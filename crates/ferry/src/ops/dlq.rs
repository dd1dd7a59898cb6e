//! `ferry dlq …`: the dead-letter queue, where messages land after their last
//! failed attempt, so an operator can see why they failed and replay or drop
//! them.

use anyhow::Context as _;
use ferry_sdk::wire::{DlqList, DlqMessage, DlqRetryResponse};
use ferry_sdk::{Client, DlqOrder, DlqQuery};

use super::output::{
    Fields, Format, Table, add_message_fields, body_text, header_lines, show, timestamp,
};

/// Subcommands of `ferry dlq`.
#[derive(Debug, clap::Subcommand)]
pub enum DlqCommand {
    /// List dead letters, one page at a time
    List(ListArgs),
    /// Show one dead letter: the message and the last response it got
    Show {
        /// Dead-letter id, as listed by `ferry dlq list` (e.g. 1725323658779-0)
        id: String,
    },
    /// Publish dead letters again as new messages, with their original
    /// settings, and remove them from the DLQ
    Retry {
        /// Dead-letter ids, as listed by `ferry dlq list`
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Delete dead letters for good; fails if some of them did not exist
    Delete {
        /// Dead-letter ids, as listed by `ferry dlq list`
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

/// Arguments of `ferry dlq list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Dead letters per page, 1 to 100 [default: 100]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    count: Option<u32>,

    /// Start after the page that printed this cursor
    #[arg(long)]
    cursor: Option<String>,

    /// Order by the time the message was published [default: earliestFirst]
    #[arg(long, value_enum)]
    order: Option<Order>,

    /// Only dead letters for this destination URL (repeat to match any of
    /// several)
    #[arg(long = "destination", value_name = "URL")]
    destinations: Vec<String>,

    /// Only dead letters whose last response had this HTTP status (repeat to
    /// match any of several)
    #[arg(long = "status", value_name = "CODE")]
    statuses: Vec<u16>,

    /// Only dead letters carrying this label (repeat to match any of several)
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "camelCase")]
enum Order {
    /// Oldest first
    EarliestFirst,
    /// Newest first
    LatestFirst,
}

impl From<Order> for DlqOrder {
    fn from(order: Order) -> Self {
        match order {
            Order::EarliestFirst => Self::EarliestFirst,
            Order::LatestFirst => Self::LatestFirst,
        }
    }
}

pub(super) async fn run(client: &Client, cmd: DlqCommand, format: Format) -> anyhow::Result<()> {
    match cmd {
        DlqCommand::List(args) => list(client, &args, format).await,
        DlqCommand::Show { id } => {
            let dead_letter = client
                .dlq_get(&id)
                .await
                .with_context(|| format!("fetching dead letter {id}"))?;
            show(format, &dead_letter, render_dead_letter)
        }
        DlqCommand::Retry { ids } => {
            let retried = client
                .dlq_retry(&ids)
                .await
                .context("retrying dead letters")?;
            show(format, &retried, render_retried)
        }
        DlqCommand::Delete { ids } => delete(client, ids, format).await,
    }
}

async fn list(client: &Client, args: &ListArgs, format: Format) -> anyhow::Result<()> {
    let page = client
        .dlq_list(&dlq_query(args))
        .await
        .context("listing dead letters")?;
    show(format, &page, render_list)?;
    if let (Format::Human, Some(cursor)) = (format, &page.cursor) {
        // The hint goes to stderr so that the table on stdout stays clean
        // for other tools.
        eprintln!("more dead letters: run again with --cursor {cursor}");
    }
    Ok(())
}

async fn delete(client: &Client, mut ids: Vec<String>, format: Format) -> anyhow::Result<()> {
    // Naming an id twice must not count as a missing dead letter.
    ids.sort_unstable();
    ids.dedup();
    let deleted = client
        .dlq_delete_many(&ids)
        .await
        .context("deleting dead letters")?;
    show(format, &deleted, |deleted| {
        format!("deleted {} dead letter(s)", deleted.deleted)
    })?;
    let n_requested = u64::try_from(ids.len()).unwrap_or(u64::MAX);
    if deleted.deleted < n_requested {
        anyhow::bail!(
            "{} of {n_requested} dead letters did not exist",
            n_requested - deleted.deleted
        );
    }
    Ok(())
}

fn dlq_query(args: &ListArgs) -> DlqQuery {
    let filters = args
        .destinations
        .iter()
        .map(|url| ("url", url.clone()))
        .chain(
            args.statuses
                .iter()
                .map(|status| ("responseStatus", status.to_string())),
        )
        .chain(args.labels.iter().map(|label| ("label", label.clone())))
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    DlqQuery {
        cursor: args.cursor.clone(),
        count: args.count,
        order: args.order.map(DlqOrder::from),
        filters,
    }
}

fn render_list(page: &DlqList) -> String {
    if page.messages.is_empty() {
        return "no dead letters".to_owned();
    }
    let mut table = Table::new(&[
        "DLQ ID",
        "MESSAGE ID",
        "URL",
        "STATUS",
        "ATTEMPTS",
        "CREATED",
    ]);
    for dead_letter in &page.messages {
        let message = &dead_letter.message;
        table.push(vec![
            dead_letter.dlq_id.clone(),
            message.message_id.clone(),
            message.url.clone(),
            dead_letter.response_status.to_string(),
            // A dead letter used up its retries, so it saw the first attempt
            // plus every retry.
            (u64::from(message.max_retries) + 1).to_string(),
            timestamp(message.created_at),
        ]);
    }
    table.render()
}

fn render_dead_letter(dead_letter: &DlqMessage) -> String {
    let mut fields = Fields::default();
    fields.add("dlq id", &dead_letter.dlq_id);
    fields.add("response status", dead_letter.response_status);
    fields.add_opt(
        "response headers",
        dead_letter.response_header.as_ref().map(header_lines),
    );
    fields.add_opt(
        "response body",
        body_text(
            dead_letter.response_body.as_deref(),
            dead_letter.response_body_base64.as_deref(),
        ),
    );
    add_message_fields(&mut fields, &dead_letter.message);
    fields.render()
}

fn render_retried(retried: &DlqRetryResponse) -> String {
    let mut table = Table::new(&["NEW MESSAGE ID"]);
    for response in &retried.responses {
        table.push(vec![response.message_id.clone()]);
    }
    format!(
        "retried {} dead letter(s)\n{}",
        retried.responses.len(),
        table.render()
    )
}

#[cfg(test)]
mod tests;

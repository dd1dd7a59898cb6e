//! `ferry flow-control …`: flow-control keys, which publishers name to share
//! one delivery budget (attempts in flight, attempts started per period)
//! across every destination and deliverer. Messages over a key's limits wait
//! at the relay, so an operator needs to see which keys hold messages back
//! and why, and to steer a key by hand: stop it, fix its limits against what
//! publishers ask for, or let a used-up rate window start over.
//!
//! The limit and period parsers serve `ferry publish --flow-…` too, so both
//! commands read a limit and a period the same way.

use anyhow::Context as _;
use ferry_sdk::wire::{FlowControlInfo, GlobalParallelism};
use ferry_sdk::{Client, FlowPin};

use super::output::{Fields, Format, Table, confirm, show};
use super::queues::yes_no;
use super::schedules::optional_time;

/// Subcommands of `ferry flow-control`.
#[derive(Debug, clap::Subcommand)]
pub enum FlowControlCommand {
    /// List flow-control keys with their waiting messages, attempts in
    /// flight, limits and whether they are paused or pinned
    List {
        /// Only keys whose name contains this text
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
    },
    /// Show one flow-control key: its limits, counters and rate window
    Show {
        /// Flow-control key
        key: String,
    },
    /// Stop a key from starting deliveries; its messages wait until it is
    /// resumed, and attempts already in flight finish
    ///
    /// Prints nothing with --json: the API answers with an empty body.
    Pause {
        /// Flow-control key
        key: String,
    },
    /// Let a paused key start deliveries again
    ///
    /// Prints nothing with --json: the API answers with an empty body.
    Resume {
        /// Flow-control key
        key: String,
    },
    /// Set a key's limits and pin them, so that publishes naming the key no
    /// longer change them
    ///
    /// Pinning parallelism fixes the most attempts in flight; pinning the
    /// rate (--rate, --period or both) fixes the most attempts started per
    /// period. A limit left out keeps its value and stays as pinned as it
    /// was. Every pin starts a new rate window, and creates the key if it
    /// does not exist yet. Prints the key as it is afterwards.
    #[command(group(
        clap::ArgGroup::new("limits")
            .args(["parallelism", "rate", "period"])
            .required(true)
            .multiple(true)
    ))]
    Pin {
        /// Flow-control key
        key: String,
        /// Most deliveries of the key in flight at once
        #[arg(long, value_name = "N", value_parser = parse_limit())]
        parallelism: Option<u32>,
        /// Most deliveries of the key started per period
        #[arg(long, value_name = "N", value_parser = parse_limit())]
        rate: Option<u32>,
        /// The rate's period: whole seconds, or a duration such as 30s, 1m
        /// or 1h, from 1s to 7d
        #[arg(long, value_name = "DURATION", value_parser = parse_period)]
        period: Option<u32>,
    },
    /// Let publishes change a key's parallelism, rate or both again
    ///
    /// The limits keep their values until a publish naming the key sets
    /// others. Prints the key as it is afterwards.
    #[command(group(
        clap::ArgGroup::new("limits")
            .args(["parallelism", "rate"])
            .required(true)
            .multiple(true)
    ))]
    Unpin {
        /// Flow-control key
        key: String,
        /// Unpin the parallelism
        #[arg(long)]
        parallelism: bool,
        /// Unpin the rate and its period
        #[arg(long)]
        rate: bool,
    },
    /// Start a new rate window now, so messages held back by a used-up rate
    /// may start at once
    ///
    /// Prints nothing with --json: the API answers with an empty body.
    ResetRate {
        /// Flow-control key
        key: String,
    },
    /// Show the delivery attempts in flight across the relay, and the bound
    /// on them
    GlobalParallelism,
}

pub(super) async fn run(
    client: &Client,
    cmd: FlowControlCommand,
    format: Format,
) -> anyhow::Result<()> {
    match cmd {
        FlowControlCommand::List { search } => {
            let flows = client
                .flow_controls(search.as_deref())
                .await
                .context("listing flow-control keys")?;
            show(format, &flows, |flows| render_list(flows))
        }
        FlowControlCommand::Show { key } => show_key(client, &key, format).await,
        FlowControlCommand::Pause { key } => {
            client
                .pause_flow_control(&key)
                .await
                .with_context(|| format!("pausing flow-control key {key}"))?;
            confirm(format, &format!("paused flow-control key {key}"))
        }
        FlowControlCommand::Resume { key } => {
            client
                .resume_flow_control(&key)
                .await
                .with_context(|| format!("resuming flow-control key {key}"))?;
            confirm(format, &format!("resumed flow-control key {key}"))
        }
        FlowControlCommand::Pin {
            key,
            parallelism,
            rate,
            period,
        } => {
            let pin = FlowPin {
                parallelism,
                rate,
                period_secs: period,
            };
            client
                .pin_flow_control(&key, &pin)
                .await
                .with_context(|| format!("pinning flow-control key {key}"))?;
            show_key(client, &key, format).await
        }
        FlowControlCommand::Unpin {
            key,
            parallelism,
            rate,
        } => {
            client
                .unpin_flow_control(&key, parallelism, rate)
                .await
                .with_context(|| format!("unpinning flow-control key {key}"))?;
            show_key(client, &key, format).await
        }
        FlowControlCommand::ResetRate { key } => {
            client
                .reset_flow_control_rate(&key)
                .await
                .with_context(|| format!("resetting the rate of flow-control key {key}"))?;
            confirm(format, &format!("reset the rate of flow-control key {key}"))
        }
        FlowControlCommand::GlobalParallelism => {
            let global = client
                .global_parallelism()
                .await
                .context("fetching the global parallelism")?;
            show(format, &global, render_global)
        }
    }
}

async fn show_key(client: &Client, key: &str, format: Format) -> anyhow::Result<()> {
    let flow = client
        .flow_control(key)
        .await
        .with_context(|| format!("fetching flow-control key {key}"))?;
    show(format, &flow, render_key)
}

/// Parses a limit (attempts in flight, or attempts started per period): a
/// whole number from 1.
pub(super) fn parse_limit() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..)
}

/// Parses a rate period into the whole seconds the API takes: a bare number
/// of seconds or a duration such as `1m`, from 1 second to 7 days.
pub(super) fn parse_period(raw: &str) -> Result<u32, String> {
    let ms = ferry_core::flow::period_ms(raw).map_err(|error| error.to_string())?;
    if ms % 1000 != 0 {
        return Err(format!("period {raw} must be whole seconds"));
    }
    u32::try_from(ms / 1000).map_err(|_| format!("period {raw} is too long"))
}

/// A limit as a number, or `none` for the 0 the API reports for no limit.
fn limit(max: impl Into<u64>) -> String {
    match max.into() {
        0 => "none".to_owned(),
        max => max.to_string(),
    }
}

/// Which of a key's limits are pinned.
fn pinned(flow: &FlowControlInfo) -> &'static str {
    match (flow.is_pinned_parallelism, flow.is_pinned_rate) {
        (true, true) => "parallelism, rate",
        (true, false) => "parallelism",
        (false, true) => "rate",
        (false, false) => "no",
    }
}

/// When the current rate window opened; the API reports Unix seconds, 0 for
/// none.
fn window_start(flow: &FlowControlInfo) -> String {
    optional_time((flow.rate_period_start > 0).then(|| flow.rate_period_start * 1000))
}

fn render_list(flows: &[FlowControlInfo]) -> String {
    if flows.is_empty() {
        return "no flow-control keys".to_owned();
    }
    let mut table = Table::new(&[
        "KEY",
        "WAITING",
        "IN FLIGHT",
        "PARALLELISM",
        "STARTED",
        "RATE",
        "PERIOD (S)",
        "PAUSED",
        "PINNED",
    ]);
    for flow in flows {
        table.push(vec![
            flow.flow_control_key.clone(),
            flow.wait_list_size.to_string(),
            flow.parallelism_count.to_string(),
            limit(flow.parallelism_max),
            flow.rate_count.to_string(),
            limit(flow.rate_max),
            flow.rate_period.to_string(),
            yes_no(flow.is_paused).to_owned(),
            pinned(flow).to_owned(),
        ]);
    }
    table.render()
}

fn render_key(flow: &FlowControlInfo) -> String {
    let mut fields = Fields::default();
    fields.add("key", &flow.flow_control_key);
    fields.add("waiting", flow.wait_list_size);
    fields.add("paused", yes_no(flow.is_paused));
    fields.add("in flight", flow.parallelism_count);
    fields.add("parallelism", limit(flow.parallelism_max));
    fields.add("parallelism pinned", yes_no(flow.is_pinned_parallelism));
    fields.add("started this period", flow.rate_count);
    fields.add("rate", limit(flow.rate_max));
    fields.add("period (s)", flow.rate_period);
    fields.add("period started", window_start(flow));
    fields.add("rate pinned", yes_no(flow.is_pinned_rate));
    fields.render()
}

fn render_global(global: &GlobalParallelism) -> String {
    let mut fields = Fields::default();
    fields.add("in flight", global.parallelism_count);
    fields.add("limit", limit(global.parallelism_max));
    fields.render()
}

#[cfg(test)]
mod tests;

//! `ferry logs`: the event log, which records every step of every message
//! (created, delivered, retried, failed, cancelled), so an operator can see
//! why a message did or did not arrive, or watch deliveries as they happen
//! with `--follow`.

use std::collections::HashSet;
use std::io::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use ferry_core::duration::parse_duration;
use ferry_sdk::wire::{LogEvent, LogList};
use ferry_sdk::{Client, LogOrder, LogQuery};
use tokio::time::MissedTickBehavior;

use super::output::{Format, show, timestamp};

/// The largest page the relay serves; follow mode reads new lines in pages
/// this big so that a busy second takes few requests.
const MAX_PAGE: u32 = 1_000;
const HEADING: [&str; 5] = ["TIME", "STATE", "MESSAGE ID", "URL", "STATUS/ERROR"];
/// Space between columns, as in the other commands' tables.
const COLUMN_GAP: &str = "  ";

/// Arguments of `ferry logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Only lines in this state (repeat to match any of several)
    #[arg(long = "state", value_name = "STATE", value_enum, ignore_case = true)]
    states: Vec<State>,

    /// Only lines about this message, as returned by publish (msg_…); repeat
    /// to match any of several
    #[arg(long = "message-id", value_name = "ID")]
    message_ids: Vec<String>,

    /// Only lines about messages to this destination URL, compared exactly
    /// (repeat to match any of several)
    #[arg(long = "destination", value_name = "URL")]
    destinations: Vec<String>,

    /// Only lines about messages carrying this label (repeat to match any of
    /// several)
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,

    /// How many of the latest lines to print, 1 to 1000 [default: 100]; with
    /// --follow, how many to print before waiting for new ones
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    count: Option<u32>,

    /// Print the page of older lines that the previous run pointed to
    #[arg(long, conflicts_with = "follow")]
    cursor: Option<String>,

    /// Keep running and print new lines as they are logged, oldest first,
    /// until Ctrl-C; with --json, one JSON object per line
    #[arg(long, short = 'f')]
    follow: bool,

    /// With --follow, how long to wait between two looks for new lines, as a
    /// duration such as 1s, 500ms or 1m
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1s",
        value_parser = poll_interval,
        requires = "follow"
    )]
    interval: Duration,
}

/// The states a line can be in, as the relay names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
enum State {
    /// The relay accepted the message
    Created,
    /// An attempt failed and another one is scheduled
    Retry,
    /// An attempt failed
    Error,
    /// Not finished yet: RETRY or ERROR
    InProgress,
    /// The destination accepted the message
    Delivered,
    /// The last attempt failed; the message went to the DLQ
    Failed,
    /// Cancelled before it was delivered
    Canceled,
}

impl State {
    /// The value of the `state` query parameter.
    fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Retry => "RETRY",
            Self::Error => "ERROR",
            Self::InProgress => "IN_PROGRESS",
            Self::Delivered => "DELIVERED",
            Self::Failed => "FAILED",
            Self::Canceled => "CANCELED",
        }
    }
}

pub(super) async fn run(client: &Client, args: &LogsArgs, format: Format) -> anyhow::Result<()> {
    if args.follow {
        follow_until_interrupted(client, args, format).await
    } else {
        latest(client, args, format).await
    }
}

async fn latest(client: &Client, args: &LogsArgs, format: Format) -> anyhow::Result<()> {
    let page = client
        .logs(&latest_query(args))
        .await
        .context("reading the event log")?;
    show(format, &page, render_page)?;
    if let (Format::Human, Some(cursor)) = (format, &page.cursor) {
        // The hint goes to stderr so that the table on stdout stays clean
        // for other tools.
        eprintln!("older lines: run again with --cursor {cursor}");
    }
    Ok(())
}

/// Follows the log until Ctrl-C, which is a normal way to stop and so ends
/// the command successfully.
async fn follow_until_interrupted(
    client: &Client,
    args: &LogsArgs,
    format: Format,
) -> anyhow::Result<()> {
    tokio::select! {
        followed = follow(client, args, format) => followed,
        interrupted = tokio::signal::ctrl_c() => interrupted.context("listening for Ctrl-C"),
    }
}

/// Prints the latest lines, then new ones every `args.interval`, until
/// standard output is closed (`ferry logs -f | head` has seen enough).
async fn follow(client: &Client, args: &LogsArgs, format: Format) -> anyhow::Result<()> {
    let mut seen = Seen::default();
    let mut printer = Printer::new(format);
    let first = client
        .logs(&latest_query(args))
        .await
        .context("reading the event log")?;
    // The page is newest first; reversed, lines of the same millisecond
    // also come out in the order they were logged.
    let first = first.events.into_iter().rev().collect();
    if printer.print(&seen.fresh(first))? == Stdout::Closed {
        return Ok(());
    }
    let filters = filters(args);
    let mut ticks = tokio::time::interval(args.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The first tick of an interval is immediate; the latest lines were
    // just read, so the first look for new ones waits a whole interval.
    ticks.tick().await;
    loop {
        ticks.tick().await;
        match newer_lines(client, &filters, seen.next_from()).await {
            Ok(events) => {
                if printer.print(&seen.fresh(events))? == Stdout::Closed {
                    return Ok(());
                }
            }
            Err(error) if is_transient(&error) => {
                let error = anyhow::Error::new(error);
                eprintln!("warning: reading the event log failed, trying again: {error:#}");
            }
            Err(error) => return Err(error).context("reading the event log"),
        }
    }
}

/// Reads every line logged at or after `from` (Unix ms), oldest first,
/// following the relay's cursor to the end.
async fn newer_lines(
    client: &Client,
    filters: &[(String, String)],
    from: Option<u64>,
) -> ferry_sdk::Result<Vec<LogEvent>> {
    let mut query = poll_query(filters, from);
    let mut events = Vec::new();
    loop {
        let page = client.logs(&query).await?;
        events.extend(page.events);
        match page.cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(events),
        }
    }
}

/// Failures that the next look may not see: the relay is restarting,
/// overloaded or unreachable for a moment. Anything else (a revoked token,
/// a rejected filter) would fail the same way every time.
fn is_transient(error: &ferry_sdk::Error) -> bool {
    match error {
        ferry_sdk::Error::Transport(_) => true,
        ferry_sdk::Error::Http { status, .. } => *status == 429 || *status >= 500,
        _ => false,
    }
}

fn poll_interval(raw: &str) -> Result<Duration, String> {
    let interval = parse_duration(raw).map_err(|error| error.to_string())?;
    if interval.is_zero() {
        return Err("the interval must be longer than zero".to_owned());
    }
    Ok(interval)
}

fn filters(args: &LogsArgs) -> Vec<(String, String)> {
    let states = args
        .states
        .iter()
        .map(|state| ("state", state.as_str().to_owned()));
    let message_ids = args.message_ids.iter().map(|id| ("messageId", id.clone()));
    let urls = args.destinations.iter().map(|url| ("url", url.clone()));
    let labels = args.labels.iter().map(|label| ("label", label.clone()));
    states
        .chain(message_ids)
        .chain(urls)
        .chain(labels)
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

/// The latest lines, newest first (the relay's default order).
fn latest_query(args: &LogsArgs) -> LogQuery {
    LogQuery {
        cursor: args.cursor.clone(),
        count: args.count,
        order: None,
        filters: filters(args),
    }
}

/// The lines logged at or after `from`, oldest first. The bound is
/// inclusive, so lines logged in the same millisecond as the newest one
/// already printed, but after it, are not missed; [`Seen`] drops the repeats.
fn poll_query(filters: &[(String, String)], from: Option<u64>) -> LogQuery {
    let mut filters = filters.to_vec();
    filters.extend(from.map(|from| ("fromDate".to_owned(), from.to_string())));
    LogQuery {
        cursor: None,
        count: Some(MAX_PAGE),
        order: Some(LogOrder::EarliestFirst),
        filters,
    }
}

/// What identifies a line across two reads of the log.
type LineKey = (u64, String, String);

fn line_key(event: &LogEvent) -> LineKey {
    (event.time, event.message_id.clone(), event.state.clone())
}

/// The lines follow mode has printed, as far as the next read can return
/// them again: those of the newest millisecond printed.
#[derive(Debug, Default)]
struct Seen {
    /// The time of the newest line printed (Unix ms).
    newest: Option<u64>,
    /// The lines printed whose time is `newest`.
    at_newest: HashSet<LineKey>,
}

impl Seen {
    /// Where the next read starts (inclusive); `None` reads from the start,
    /// since every line there is new when none was printed yet.
    fn next_from(&self) -> Option<u64> {
        self.newest
    }

    /// The lines of `events` not printed yet, oldest first, which are
    /// remembered as printed. Lines older than the newest one printed are
    /// dropped too: printing them would break the time order.
    fn fresh(&mut self, mut events: Vec<LogEvent>) -> Vec<LogEvent> {
        // Stable, so lines of one millisecond keep the order they came in.
        events.sort_by_key(|event| event.time);
        events.retain(|event| self.admit(event));
        events
    }

    fn admit(&mut self, event: &LogEvent) -> bool {
        match self.newest {
            Some(newest) if event.time < newest => false,
            Some(newest) if event.time == newest => self.at_newest.insert(line_key(event)),
            _ => {
                self.newest = Some(event.time);
                self.at_newest = HashSet::from([line_key(event)]);
                true
            }
        }
    }
}

/// Whether standard output still has a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stdout {
    Open,
    Closed,
}

/// Prints follow mode's lines as they come: table rows under one heading,
/// or one JSON object per line.
struct Printer {
    format: Format,
    columns: Columns,
}

impl Printer {
    fn new(format: Format) -> Self {
        Self {
            format,
            columns: Columns::new(),
        }
    }

    fn print(&mut self, events: &[LogEvent]) -> anyhow::Result<Stdout> {
        let text = match self.format {
            Format::Human => self.columns.render(&rows(events)),
            Format::Json => json_lines(events)?,
        };
        write_out(&text)
    }
}

/// Writes `text` to standard output at once, so that a line is never split
/// between two reads of the log. A closed pipe is no error: the reader has
/// seen enough, and follow mode stops.
fn write_out(text: &str) -> anyhow::Result<Stdout> {
    if text.is_empty() {
        return Ok(Stdout::Open);
    }
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => Ok(Stdout::Open),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(Stdout::Closed),
        Err(error) => Err(error).context("writing to standard output"),
    }
}

/// One compact JSON object per line (NDJSON), each ending in a newline.
fn json_lines(events: &[LogEvent]) -> anyhow::Result<String> {
    let mut text = String::new();
    for event in events {
        text += &serde_json::to_string(event).context("encoding a log line as JSON")?;
        text.push('\n');
    }
    Ok(text)
}

/// The one-page table, newest first as the relay lists it.
fn render_page(page: &LogList) -> String {
    if page.events.is_empty() {
        return "no log lines".to_owned();
    }
    Columns::new().render(&rows(&page.events))
}

fn rows(events: &[LogEvent]) -> Vec<Vec<String>> {
    events.iter().map(row).collect()
}

fn row(event: &LogEvent) -> Vec<String> {
    vec![
        timestamp(event.time),
        event.state.clone(),
        event.message_id.clone(),
        event.url.clone(),
        outcome(event),
    ]
}

/// What the destination answered: the HTTP status, the error, or both, on
/// one line so that the table stays one row per line.
fn outcome(event: &LogEvent) -> String {
    let status = event.response_status.map(|status| status.to_string());
    let error = event
        .error
        .as_deref()
        .map(|error| error.split_whitespace().collect::<Vec<_>>().join(" "));
    match (status, error) {
        (Some(status), Some(error)) => format!("{status} {error}"),
        (Some(text), None) | (None, Some(text)) => text,
        (None, None) => String::new(),
    }
}

/// Left-aligned columns whose rows arrive in batches, as in follow mode.
/// Unlike a one-off table, the widths are kept from batch to batch and only
/// grow, so later rows line up with earlier ones unless a cell is wider than
/// any before it.
struct Columns {
    widths: Vec<usize>,
    heading_written: bool,
}

impl Columns {
    fn new() -> Self {
        Self {
            widths: HEADING.iter().map(|cell| cell.len()).collect(),
            heading_written: false,
        }
    }

    /// The lines of `rows`, each ending in a newline, after the heading the
    /// first time.
    fn render(&mut self, rows: &[Vec<String>]) -> String {
        for row in rows {
            for (width, cell) in self.widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut text = String::new();
        if !self.heading_written {
            self.heading_written = true;
            text += &self.line(HEADING.iter().copied());
        }
        for row in rows {
            text += &self.line(row.iter().map(String::as_str));
        }
        text
    }

    fn line<'a>(&self, cells: impl Iterator<Item = &'a str>) -> String {
        let padded: Vec<String> = cells
            .zip(&self.widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("{}\n", padded.join(COLUMN_GAP).trim_end())
    }
}

#[cfg(test)]
mod tests;

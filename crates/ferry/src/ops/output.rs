//! How operator commands print: aligned tables and key-value blocks for
//! people, pretty JSON for scripts, and timestamps in UTC.
//!
//! Hand-written rather than a table crate because the commands only need
//! left-aligned columns.

use std::fmt::Display;
use std::io::Write as _;

use anyhow::Context as _;
use ferry_sdk::wire::{HeaderMap, Message};
use serde::Serialize;

/// Space between table columns.
const COLUMN_GAP: &str = "  ";
const MS_PER_DAY: u64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Human,
    Json,
}

impl Format {
    pub(super) fn from_json_flag(json: bool) -> Self {
        if json { Self::Json } else { Self::Human }
    }
}

/// Prints `value` as pretty JSON or, for people, as `human` renders it.
pub(super) fn show<T: Serialize>(
    format: Format,
    value: &T,
    human: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    let text = match format {
        Format::Json => {
            serde_json::to_string_pretty(value).context("encoding the answer as JSON")?
        }
        Format::Human => human(value),
    };
    emit(&text)
}

/// Writes `text` and a final newline to standard output. A closed pipe
/// (`ferry dlq list | head`) is not an error: the reader has seen enough.
pub(super) fn emit(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.trim_end_matches('\n').as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    match written {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to standard output"),
    }
}

/// Left-aligned columns under an upper-case heading row.
pub(super) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(super) fn new(heading: &[&str]) -> Self {
        Self {
            rows: vec![heading.iter().map(|cell| (*cell).to_owned()).collect()],
        }
    }

    pub(super) fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    pub(super) fn render(&self) -> String {
        let n_columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..n_columns)
            .map(|idx| {
                let cells = self.rows.iter().filter_map(|row| row.get(idx));
                cells.map(|cell| cell.chars().count()).max().unwrap_or(0)
            })
            .collect();
        let lines: Vec<String> = self
            .rows
            .iter()
            .map(|row| {
                let padded: Vec<String> = row
                    .iter()
                    .zip(&widths)
                    .map(|(cell, width)| format!("{cell:<width$}"))
                    .collect();
                padded.join(COLUMN_GAP).trim_end().to_owned()
            })
            .collect();
        lines.join("\n")
    }
}

/// Labelled values, printed one per line with the values aligned; lines of a
/// multi-line value are indented to the value column. Unset optional values
/// are left out.
#[derive(Default)]
pub(super) struct Fields {
    fields: Vec<(&'static str, String)>,
}

impl Fields {
    pub(super) fn add(&mut self, label: &'static str, value: impl Display) {
        self.fields.push((label, value.to_string()));
    }

    pub(super) fn add_opt(&mut self, label: &'static str, value: Option<impl Display>) {
        if let Some(value) = value {
            self.add(label, value);
        }
    }

    pub(super) fn render(&self) -> String {
        let width = self
            .fields
            .iter()
            .map(|(label, _)| label.len())
            .max()
            .unwrap_or(0);
        let indent = " ".repeat(width + COLUMN_GAP.len());
        let lines: Vec<String> = self
            .fields
            .iter()
            .map(|(label, value)| {
                let value = value.replace('\n', &format!("\n{indent}"));
                format!("{label:<width$}{COLUMN_GAP}{value}")
                    .trim_end()
                    .to_owned()
            })
            .collect();
        lines.join("\n")
    }
}

/// Adds every field of a message that is set.
pub(super) fn add_message_fields(fields: &mut Fields, message: &Message) {
    fields.add("message id", &message.message_id);
    fields.add("url", &message.url);
    fields.add("method", &message.method);
    fields.add_opt("url group", message.topic_name.as_ref());
    fields.add_opt("endpoint", message.endpoint_name.as_ref());
    fields.add_opt("queue", message.queue_name.as_ref());
    fields.add_opt("schedule id", message.schedule_id.as_ref());
    fields.add("created", timestamp(message.created_at));
    fields.add("not before", timestamp(message.not_before));
    fields.add("max retries", message.max_retries);
    fields.add_opt("retry delay", message.retry_delay_expression.as_ref());
    fields.add_opt("callback", message.callback.as_ref());
    fields.add_opt("failure callback", message.failure_callback.as_ref());
    fields.add_opt("caller ip", message.caller_ip.as_ref());
    fields.add_opt("flow control key", message.flow_control_key.as_ref());
    fields.add_opt("parallelism", message.parallelism);
    fields.add_opt("rate", message.rate);
    fields.add_opt("period (s)", message.period);
    fields.add_opt(
        "labels",
        (!message.labels.is_empty()).then(|| message.labels.join(", ")),
    );
    fields.add_opt("headers", message.header.as_ref().map(header_lines));
    fields.add_opt(
        "callback headers",
        message.callback_header.as_ref().map(header_lines),
    );
    fields.add_opt(
        "failure callback headers",
        message.failure_callback_header.as_ref().map(header_lines),
    );
    fields.add_opt(
        "body",
        body_text(message.body.as_deref(), message.body_base64.as_deref()),
    );
}

/// One `Name: value` line per header value.
pub(super) fn header_lines(headers: &HeaderMap) -> String {
    let lines: Vec<String> = headers
        .iter()
        .flat_map(|(name, values)| values.iter().map(move |value| format!("{name}: {value}")))
        .collect();
    lines.join("\n")
}

/// A body as the API reports it: text as it is, binary as its base64.
pub(super) fn body_text(text: Option<&str>, base64: Option<&str>) -> Option<String> {
    match (text, base64) {
        (Some(""), _) => Some("(empty)".to_owned()),
        (Some(text), _) => Some(text.to_owned()),
        (None, Some(base64)) => Some(format!("(binary, base64) {base64}")),
        (None, None) => None,
    }
}

/// Formats Unix milliseconds as an RFC 3339 UTC time, e.g.
/// `2023-11-14T22:13:20.123Z`.
pub(super) fn timestamp(unix_ms: u64) -> String {
    let (year, month, day) = civil_date(unix_ms / MS_PER_DAY);
    let ms_of_day = unix_ms % MS_PER_DAY;
    let (hours, minutes) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60);
    let (seconds, millis) = (ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}.{millis:03}Z")
}

/// The proleptic Gregorian date `days` after 1970-01-01.
///
/// Counting from 0000-03-01 puts the leap day at the end of each year, so a
/// 400-year era always has 146 097 days and month lengths follow a fixed
/// pattern from March on.
fn civil_date(days: u64) -> (u64, u64, u64) {
    const DAYS_0000_03_01_TO_EPOCH: u64 = 719_468;
    const DAYS_PER_ERA: u64 = 146_097;
    let days = days + DAYS_0000_03_01_TO_EPOCH;
    let era = days / DAYS_PER_ERA;
    let day_of_era = days % DAYS_PER_ERA;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March = 0; 153 days span each five-month run.
    let march_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

/// Says what a command changed. With `--json` there is nothing to print: the
/// API answers these calls with an empty body, and the exit status tells
/// scripts whether the call succeeded.
pub(super) fn confirm(format: Format, message: &str) -> anyhow::Result<()> {
    match format {
        Format::Human => emit(message),
        Format::Json => Ok(()),
    }
}

#[cfg(test)]
mod tests;

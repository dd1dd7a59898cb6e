//! What `ferry bench` prints: one JSON object with `--json`, otherwise a
//! table with a column per measured relay (Ferry, and the baseline when it
//! ran) and Ferry's fraction of the baseline, then the verdict.

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::Context as _;
use serde::Serialize;

use super::load::Published;
use super::redis_cost::RedisReport;
use super::rss::RssMib;
use super::sink::{Arrivals, Drain};
use super::stats::{self, Percentiles};

#[cfg(test)]
mod tests;

/// The whole result of one invocation.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Report {
    pub(super) settings: Settings,
    pub(super) ferry: RunReport,
    pub(super) baseline: Option<RunReport>,
    /// Ferry's figures divided by the baseline's, when both ran.
    pub(super) ferry_vs_baseline: Option<Ratios>,
    /// Why the run failed; empty when it passed.
    pub(super) problems: Vec<String>,
}

/// How the load was shaped.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Settings {
    /// What was measured, e.g. "spawned ferry serve".
    pub(super) relay: String,
    /// `closed-loop` or `open-loop`.
    pub(super) mode: &'static str,
    pub(super) concurrency: Option<usize>,
    pub(super) rate: Option<f64>,
    pub(super) max_outstanding: Option<usize>,
    pub(super) body_size: usize,
    /// Destination hosts Ferry delivered to (the baseline uses the first).
    pub(super) hosts: u8,
    pub(super) duration_s: f64,
    pub(super) drain_limit_s: f64,
}

/// The measurements of one relay.
#[derive(Debug, Clone, Serialize)]
pub(super) struct RunReport {
    pub(super) published_ok: u64,
    pub(super) published_failed: u64,
    /// Open-loop sends skipped because too many publishes were unanswered.
    pub(super) skipped: u64,
    pub(super) first_failure: Option<String>,
    /// From the first publish to the last answer.
    pub(super) publish_s: f64,
    pub(super) publish_rate: Option<f64>,
    pub(super) publish_latency_ms: Option<Percentiles>,
    /// `None` when nothing was delivered on purpose (publishing only).
    pub(super) deliveries: Option<DeliveryReport>,
    /// CPU time of the relay's processes (or threads) over the run.
    pub(super) cpu_s: Option<f64>,
    /// CPU seconds per 1000 messages (delivered, or published when
    /// deliveries are not checked).
    pub(super) cpu_s_per_1k: Option<f64>,
    /// Resident memory of the relay's processes; `None` when it runs inside
    /// the benchmark (the baseline) or cannot be read.
    pub(super) rss_mib: Option<RssMib>,
    /// Commands, Redis CPU and their spread over the primaries, when the
    /// benchmark knows the relay's Redis (a spawned Ferry).
    pub(super) redis: Option<RedisReport>,
}

/// What reached the sink, counted per message.
#[derive(Debug, Clone, Serialize)]
pub(super) struct DeliveryReport {
    pub(super) delivered_unique: u64,
    /// Unique deliveries per second, from the first publish to the last
    /// first arrival.
    pub(super) e2e_rate: Option<f64>,
    /// From the publish's send (or scheduled) time to arrival at the sink.
    pub(super) e2e_latency_ms: Option<Percentiles>,
    pub(super) lost: u64,
    pub(super) duplicates: u64,
    pub(super) unexpected: u64,
    pub(super) recovered: u64,
    pub(super) signature_failures: u64,
    /// `delivered_per_host[k - 1]`: messages whose first arrival was at
    /// host `127.0.0.k`.
    pub(super) delivered_per_host: Vec<u64>,
    /// Whether every accepted message arrived within the drain limit.
    pub(super) drain_complete: bool,
    pub(super) drain_s: f64,
}

/// Ferry divided by the baseline: below 1 for rates means slower; above 1
/// for CPU per message means costlier.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Ratios {
    pub(super) publish_rate: Option<f64>,
    pub(super) e2e_rate: Option<f64>,
    pub(super) cpu_per_message: Option<f64>,
}

/// What the sink saw, for [`RunReport::new`].
pub(super) struct Observed {
    pub(super) arrivals: Arrivals,
    pub(super) drain: Drain,
    pub(super) signature_failures: u64,
}

impl RunReport {
    pub(super) fn new(
        mut published: Published,
        observed: Option<Observed>,
        cpu_s: Option<f64>,
        rss_mib: Option<RssMib>,
    ) -> Self {
        let publish_us = published.finished_us.saturating_sub(published.started_us);
        let n_ok = published.accepted.len() as u64;
        let deliveries = observed.map(|observed| DeliveryReport::new(&published, observed));
        let n_processed = processed(n_ok, deliveries.as_ref());
        let cpu_s_per_1k = cpu_s
            .filter(|_| n_processed > 0)
            .map(|s| s * 1000.0 / n_processed as f64);
        Self {
            published_ok: n_ok,
            published_failed: published.n_failed,
            skipped: published.n_skipped,
            first_failure: published.first_failure.take(),
            publish_s: publish_us as f64 / 1e6,
            publish_rate: stats::rate(n_ok, publish_us),
            publish_latency_ms: stats::percentiles(&mut published.latencies_us),
            deliveries,
            cpu_s,
            cpu_s_per_1k,
            rss_mib,
            redis: None,
        }
    }

    /// The messages the run's costs are divided by: those delivered, or
    /// those published when deliveries are not checked.
    pub(super) fn processed(&self) -> u64 {
        processed(self.published_ok, self.deliveries.as_ref())
    }

    /// Why this run must fail the benchmark.
    fn problems(&self, label: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.published_ok == 0 {
            let why = self.first_failure.as_deref().unwrap_or("nothing was sent");
            problems.push(format!("{label}: no publish was accepted ({why})"));
        }
        let Some(d) = &self.deliveries else {
            return problems;
        };
        if d.lost > 0 {
            problems.push(format!(
                "{label}: {} accepted messages were never delivered (lost) within the {:.1}s drain",
                d.lost, d.drain_s
            ));
        }
        if d.unexpected > 0 {
            problems.push(format!(
                "{label}: {} deliveries were not messages this benchmark sent",
                d.unexpected
            ));
        }
        if d.signature_failures > 0 {
            problems.push(format!(
                "{label}: {} deliveries failed signature verification",
                d.signature_failures
            ));
        }
        problems
    }
}

impl DeliveryReport {
    fn new(published: &Published, mut observed: Observed) -> Self {
        let accounting = stats::account(&published.accepted, &observed.arrivals.counts);
        let e2e_rate = observed.arrivals.last_first_arrival_us.and_then(|last| {
            stats::rate(
                accounting.delivered_unique,
                last.saturating_sub(published.started_us),
            )
        });
        Self {
            delivered_unique: accounting.delivered_unique,
            e2e_rate,
            e2e_latency_ms: stats::percentiles(&mut observed.arrivals.e2e_us),
            lost: accounting.lost,
            duplicates: accounting.duplicates,
            unexpected: observed.arrivals.n_unexpected,
            recovered: accounting.recovered,
            signature_failures: observed.signature_failures,
            delivered_per_host: observed.arrivals.per_host,
            drain_complete: observed.drain.complete,
            drain_s: observed.drain.elapsed.as_secs_f64(),
        }
    }
}

impl Report {
    pub(super) fn new(settings: Settings, ferry: RunReport, baseline: Option<RunReport>) -> Self {
        let mut problems = ferry.problems("ferry");
        if let Some(baseline) = &baseline {
            problems.extend(baseline.problems("baseline"));
        }
        let ferry_vs_baseline = baseline.as_ref().map(|baseline| Ratios {
            publish_rate: ratio(ferry.publish_rate, baseline.publish_rate),
            e2e_rate: ratio(e2e_rate(&ferry), e2e_rate(baseline)),
            cpu_per_message: ratio(ferry.cpu_s_per_1k, baseline.cpu_s_per_1k),
        });
        Self {
            settings,
            ferry,
            baseline,
            ferry_vs_baseline,
            problems,
        }
    }

    /// Prints the report on stdout. A closed pipe is not an error: the
    /// reader has seen enough.
    pub(super) fn print(&self, json: bool) -> anyhow::Result<()> {
        let text = if json {
            serde_json::to_string_pretty(self).context("encoding the report as JSON")?
        } else {
            self.to_table()
        };
        let mut stdout = std::io::stdout().lock();
        match writeln!(stdout, "{}", text.trim_end()).and_then(|()| stdout.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.context("writing the report"),
        }
    }

    /// The report for people.
    pub(super) fn to_table(&self) -> String {
        let mut text = String::new();
        let s = &self.settings;
        let load = match (s.concurrency, s.rate) {
            (Some(n), _) => format!("closed loop, {n} concurrent publishers"),
            (None, Some(rate)) => format!(
                "open loop, {rate:.0} msg/s (at most {} outstanding)",
                s.max_outstanding.unwrap_or_default()
            ),
            (None, None) => s.mode.to_owned(),
        };
        let hosts = match (s.hosts, &self.baseline) {
            (1, _) => "1 destination host".to_owned(),
            (n, None) => format!("{n} destination hosts"),
            (n, Some(_)) => format!("{n} destination hosts (the baseline uses the first)"),
        };
        // Writing into a `String` cannot fail.
        let _ = writeln!(
            text,
            "ferry bench: {}; {load}; {}-byte bodies; {hosts}; {:.0}s of load, drain up to {:.0}s\n",
            s.relay, s.body_size, s.duration_s, s.drain_limit_s
        );
        text.push_str(&self.table());
        if let Some(redis) = &self.ferry.redis {
            text.push_str(&redis.to_table());
        }
        for (label, run) in self.runs() {
            if let Some(failure) = &run.first_failure {
                let _ = writeln!(text, "\n{label}: first publish failure: {failure}");
            }
        }
        text.push('\n');
        if self.problems.is_empty() {
            let verdict = if self.ferry.deliveries.is_some() {
                "OK: every accepted message was delivered"
            } else {
                "OK: publishing only, deliveries were not checked"
            };
            text.push_str(verdict);
        } else {
            text.push_str("FAILED:");
            for problem in &self.problems {
                let _ = write!(text, "\n  {problem}");
            }
        }
        text.push('\n');
        text
    }

    fn runs(&self) -> Vec<(&'static str, &RunReport)> {
        let mut runs = vec![("ferry", &self.ferry)];
        runs.extend(
            self.baseline
                .as_ref()
                .map(|baseline| ("baseline", baseline)),
        );
        runs
    }

    fn table(&self) -> String {
        let runs = self.runs();
        let ratios = self.ferry_vs_baseline.as_ref();
        let mut header = vec![String::new()];
        header.extend(runs.iter().map(|(label, _)| (*label).to_owned()));
        if ratios.is_some() {
            header.push("ferry/baseline".to_owned());
        }
        let mut rows = vec![header];
        for row in ROWS {
            if row.open_loop_only && self.settings.rate.is_none() {
                continue;
            }
            let mut cells = vec![row.label.to_owned()];
            cells.extend(runs.iter().map(|(_, run)| (row.value)(run)));
            if let Some(ratios) = ratios {
                cells.push(
                    row.ratio
                        .and_then(|pick| pick(ratios))
                        .map(fixed(2))
                        .unwrap_or_default(),
                );
            }
            rows.push(cells);
        }
        align(&rows)
    }
}

fn processed(published_ok: u64, deliveries: Option<&DeliveryReport>) -> u64 {
    deliveries.map_or(published_ok, |d| d.delivered_unique)
}

fn e2e_rate(run: &RunReport) -> Option<f64> {
    run.deliveries.as_ref()?.e2e_rate
}

fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    let denominator = denominator.filter(|d| *d > 0.0)?;
    Some(numerator? / denominator)
}

/// One line of the table.
struct Row {
    label: &'static str,
    value: fn(&RunReport) -> String,
    ratio: Option<fn(&Ratios) -> Option<f64>>,
    open_loop_only: bool,
}

const fn row(label: &'static str, value: fn(&RunReport) -> String) -> Row {
    Row {
        label,
        value,
        ratio: None,
        open_loop_only: false,
    }
}

const ROWS: &[Row] = &[
    row("published ok", |r| r.published_ok.to_string()),
    row("publish failed", |r| r.published_failed.to_string()),
    Row {
        open_loop_only: true,
        ..row("skipped (max outstanding)", |r| r.skipped.to_string())
    },
    Row {
        ratio: Some(|r| r.publish_rate),
        ..row("publish rate (msg/s)", |r| show(r.publish_rate, fixed(0)))
    },
    row("publish p50 (ms)", |r| {
        show(r.publish_latency_ms.map(|p| p.p50), fixed(2))
    }),
    row("publish p90 (ms)", |r| {
        show(r.publish_latency_ms.map(|p| p.p90), fixed(2))
    }),
    row("publish p99 (ms)", |r| {
        show(r.publish_latency_ms.map(|p| p.p99), fixed(2))
    }),
    row("publish max (ms)", |r| {
        show(r.publish_latency_ms.map(|p| p.max), fixed(2))
    }),
    row("delivered (unique)", |r| {
        delivery(r, |d| d.delivered_unique.to_string())
    }),
    Row {
        ratio: Some(|r| r.e2e_rate),
        ..row("e2e rate (msg/s)", |r| {
            delivery(r, |d| show(d.e2e_rate, fixed(0)))
        })
    },
    row("e2e p50 (ms)", |r| {
        delivery(r, |d| show(d.e2e_latency_ms.map(|p| p.p50), fixed(2)))
    }),
    row("e2e p90 (ms)", |r| {
        delivery(r, |d| show(d.e2e_latency_ms.map(|p| p.p90), fixed(2)))
    }),
    row("e2e p99 (ms)", |r| {
        delivery(r, |d| show(d.e2e_latency_ms.map(|p| p.p99), fixed(2)))
    }),
    row("e2e max (ms)", |r| {
        delivery(r, |d| show(d.e2e_latency_ms.map(|p| p.max), fixed(2)))
    }),
    row("lost", |r| delivery(r, |d| d.lost.to_string())),
    row("duplicates", |r| delivery(r, |d| d.duplicates.to_string())),
    row("unexpected", |r| delivery(r, |d| d.unexpected.to_string())),
    row("recovered (publish failed)", |r| {
        delivery(r, |d| d.recovered.to_string())
    }),
    row("signature failures", |r| {
        delivery(r, |d| d.signature_failures.to_string())
    }),
    row("drain (s)", |r| delivery(r, |d| fixed(2)(d.drain_s))),
    row("cpu (s)", |r| show(r.cpu_s, fixed(2))),
    Row {
        ratio: Some(|r| r.cpu_per_message),
        ..row("cpu per 1k msgs (s)", |r| show(r.cpu_s_per_1k, fixed(3)))
    },
    row("rss first (MiB)", |r| rss(r, |m| m.first)),
    row("rss last (MiB)", |r| rss(r, |m| m.last)),
    row("rss max (MiB)", |r| rss(r, |m| m.max)),
];

/// A delivery figure, or `-` when deliveries were not checked.
fn delivery(run: &RunReport, value: fn(&DeliveryReport) -> String) -> String {
    run.deliveries
        .as_ref()
        .map_or_else(|| "-".to_owned(), value)
}

/// A memory figure, or `-` when memory was not measured.
fn rss(run: &RunReport, value: fn(&RssMib) -> f64) -> String {
    show(run.rss_mib.as_ref().map(value), fixed(1))
}

fn show(value: Option<f64>, format: impl Fn(f64) -> String) -> String {
    value.map_or_else(|| "-".to_owned(), format)
}

fn fixed(decimals: usize) -> impl Fn(f64) -> String {
    move |value| format!("{value:.decimals$}")
}

/// Left-aligned first column, right-aligned figures.
fn align(rows: &[Vec<String>]) -> String {
    let n_columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n_columns)
        .map(|idx| {
            rows.iter()
                .filter_map(|row| row.get(idx))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let mut line = String::new();
        for (idx, cell) in row.iter().enumerate() {
            let width = widths[idx];
            if idx == 0 {
                let _ = write!(line, "{cell:<width$}");
            } else {
                let _ = write!(line, "  {cell:>width$}");
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

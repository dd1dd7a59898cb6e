//! The overview: the last hour of activity per minute (from the log), the
//! backlog over the last hour (from the sampler), and the latest backlog
//! per partition, as small charts. The panel is also served alone, for the
//! page's script to refresh it.
//!
//! Ready, in-flight and delayed counts are the relay's, shared by every
//! tenant (the store cannot attribute them without reading each message);
//! waiting messages, dead letters and the activity are the tenant's own.

use askama::Template;
use axum::extract::{Query, State};
use ferry_core::ids::TenantId;
use ferry_store::Store;

use crate::activity::{Counts, Hour};
use crate::chart::Chart;
use crate::page::{self, Chrome, Failure, PageResult};
use crate::sampler::Point;
use crate::session::Operator;
use crate::{Console, format, now_ms};

/// A number with its chart.
pub(crate) struct Card {
    pub(crate) id: &'static str,
    pub(crate) label: &'static str,
    pub(crate) value: u64,
    /// Inline SVG drawn by [`Chart`] from numbers only.
    pub(crate) svg: String,
}

pub(crate) struct PartitionRow {
    pub(crate) partition: u16,
    pub(crate) ready: u64,
    pub(crate) in_flight: u64,
    pub(crate) delayed: u64,
    pub(crate) waiting: u64,
    pub(crate) dead: u64,
}

/// Everything the refreshable part of the overview shows.
pub(crate) struct Panel {
    pub(crate) activity: Vec<Card>,
    pub(crate) partial: bool,
    pub(crate) since: String,
    pub(crate) backlog: Vec<Card>,
    pub(crate) partitions: Vec<PartitionRow>,
    pub(crate) partition_charts: Vec<Card>,
    pub(crate) sampled_at: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    panel: Panel,
}

#[derive(Template)]
#[template(path = "overview_panel.html")]
struct PanelOnly {
    panel: Panel,
}

fn activity_cards(hour: &Hour) -> Vec<Card> {
    let series = |field: fn(&Counts) -> u64| hour.minutes.iter().map(field).collect::<Vec<_>>();
    [
        ("published", "Published", series(|c| c.published)),
        ("delivered", "Delivered", series(|c| c.delivered)),
        ("retried", "Retried", series(|c| c.retried)),
        ("dead", "Dead-lettered", series(|c| c.dead)),
    ]
    .into_iter()
    .map(|(class, label, values)| Card {
        id: class,
        label,
        value: values.iter().sum(),
        svg: Chart {
            title: label,
            class,
            values: &values,
        }
        .bars(),
    })
    .collect()
}

fn backlog_cards(points: &[Point], tenant: &TenantId) -> Vec<Card> {
    let series = |field: &dyn Fn(&Point) -> u64| points.iter().map(field).collect::<Vec<_>>();
    [
        ("in-flight", "In flight (relay)", series(&|p| p.in_flight)),
        ("ready", "Ready (relay)", series(&|p| p.ready)),
        ("delayed", "Delayed (relay)", series(&|p| p.delayed)),
        (
            "waiting",
            "Waiting in your queues and keys",
            series(&|p| p.kept_by(tenant).0),
        ),
        (
            "dead-letters",
            "Your dead letters",
            series(&|p| p.kept_by(tenant).1),
        ),
    ]
    .into_iter()
    .map(|(id, label, values)| Card {
        id,
        label,
        value: values.last().copied().unwrap_or(0),
        svg: Chart {
            title: label,
            class: "gauge",
            values: &values,
        }
        .line(),
    })
    .collect()
}

fn partition_rows(latest: Option<ferry_store::Backlog>, tenant: &TenantId) -> Vec<PartitionRow> {
    let Some(latest) = latest else {
        return Vec::new();
    };
    latest
        .partitions
        .iter()
        .map(|p| {
            let own = latest
                .tenants
                .iter()
                .find(|t| &t.tenant == tenant && t.partition == p.partition);
            PartitionRow {
                partition: p.partition.0,
                ready: p.ready,
                in_flight: p.in_flight,
                delayed: p.delayed,
                waiting: own.map_or(0, |t| t.waiting),
                dead: own.map_or(0, |t| t.dead),
            }
        })
        .collect()
}

fn partition_charts(rows: &[PartitionRow]) -> Vec<Card> {
    let backlog: Vec<u64> = rows
        .iter()
        .map(|r| r.ready + r.in_flight + r.delayed + r.waiting)
        .collect();
    let dead: Vec<u64> = rows.iter().map(|r| r.dead).collect();
    vec![
        Card {
            id: "partition-backlog",
            label: "Backlog per partition",
            value: backlog.iter().sum(),
            svg: Chart {
                title: "Backlog per partition",
                class: "partition",
                values: &backlog,
            }
            .bars(),
        },
        Card {
            id: "partition-dead",
            label: "Your dead letters per partition",
            value: dead.iter().sum(),
            svg: Chart {
                title: "Dead letters per partition",
                class: "dead",
                values: &dead,
            }
            .bars(),
        },
    ]
}

async fn panel<S: Store>(console: &Console<S>, tenant: &TenantId) -> Result<Panel, Failure> {
    let now = now_ms();
    let hour = console
        .inner
        .activity
        .last_hour(&console.inner.store, tenant, now)
        .await
        .map_err(|e| Failure::store(&e))?;
    let points = console.inner.samples.points();
    let partitions = partition_rows(console.inner.samples.latest(), tenant);
    Ok(Panel {
        activity: activity_cards(&hour),
        partial: hour.partial,
        since: format::time(hour.start_ms),
        backlog: backlog_cards(&points, tenant),
        partition_charts: partition_charts(&partitions),
        partitions,
        sampled_at: points
            .last()
            .map_or_else(|| "not sampled yet".to_owned(), |p| format::time(p.at_ms)),
    })
}

pub(crate) async fn page<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
    Query(q): Query<crate::page::NoticeQuery>,
) -> PageResult {
    Ok(page::render(&OverviewPage {
        panel: panel(&console, &operator.tenant).await?,
        chrome: Chrome::new(&operator, "/console").with_notice(q.notice),
    }))
}

pub(crate) async fn panel_only<S: Store>(
    State(console): State<Console<S>>,
    operator: Operator,
) -> PageResult {
    Ok(page::render(&PanelOnly {
        panel: panel(&console, &operator.tenant).await?,
    }))
}

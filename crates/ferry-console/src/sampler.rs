//! The backlog over time: a task samples the store's backlog every few
//! seconds, keeps the last hour in memory for the overview's charts, and
//! sets the backlog gauges on `/metrics`.
//!
//! Backlog counts are gauges, so their history exists only if someone
//! samples them; keeping it in this process costs a few length reads per
//! sample and nothing on the delivery path. Each gateway process samples on
//! its own (the store is shared, so they agree), and a restarted one starts
//! a new history.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use ferry_core::ids::TenantId;
use ferry_store::{Backlog, PartitionBacklog, Store};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::now_ms;

/// How far back the history reaches.
const HISTORY: Duration = Duration::from_secs(3600);

/// One sample, summed over partitions.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) at_ms: u64,
    pub(crate) ready: u64,
    pub(crate) in_flight: u64,
    pub(crate) delayed: u64,
    /// Per tenant: (waiting, dead letters).
    tenants: HashMap<TenantId, (u64, u64)>,
}

impl Point {
    fn of(at_ms: u64, backlog: &Backlog) -> Self {
        let mut tenants: HashMap<TenantId, (u64, u64)> = HashMap::new();
        for kept in &backlog.tenants {
            let entry = tenants.entry(kept.tenant.clone()).or_default();
            entry.0 += kept.waiting;
            entry.1 += kept.dead;
        }
        let sum = |field: fn(&PartitionBacklog) -> u64| backlog.partitions.iter().map(field).sum();
        Self {
            at_ms,
            ready: sum(|p| p.ready),
            in_flight: sum(|p| p.in_flight),
            delayed: sum(|p| p.delayed),
            tenants,
        }
    }

    /// The tenant's (waiting, dead letters) at this point.
    pub(crate) fn kept_by(&self, tenant: &TenantId) -> (u64, u64) {
        self.tenants.get(tenant).copied().unwrap_or_default()
    }
}

#[derive(Debug, Default)]
struct History {
    points: VecDeque<Point>,
    latest: Option<Backlog>,
}

/// The sampled history, shared by the sampler and the console.
#[derive(Debug, Clone, Default)]
pub struct Samples(Arc<RwLock<History>>);

impl Samples {
    fn record(&self, point: Point, backlog: Backlog, capacity: usize) {
        let mut history = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if history.points.len() == capacity {
            history.points.pop_front();
        }
        history.points.push_back(point);
        history.latest = Some(backlog);
    }

    /// Every point of the last hour, oldest first.
    pub(crate) fn points(&self) -> Vec<Point> {
        let history = self.0.read().unwrap_or_else(PoisonError::into_inner);
        history.points.iter().cloned().collect()
    }

    /// The latest sample, if there is one yet.
    pub(crate) fn latest(&self) -> Option<Backlog> {
        let history = self.0.read().unwrap_or_else(PoisonError::into_inner);
        history.latest.clone()
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SharedLabels {
    partition: u16,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
    partition: u16,
}

#[derive(Debug, Clone, Default)]
struct Gauges {
    backlog: Family<SharedLabels, Gauge>,
    waiting: Family<TenantLabels, Gauge>,
    dead: Family<TenantLabels, Gauge>,
}

impl Gauges {
    fn register(registry: &mut Registry) -> Self {
        let gauges = Self::default();
        registry.register(
            "ferry_backlog_messages",
            "Messages per partition by state: ready (not yet read), in_flight (read, outcome not recorded), delayed; shared by all tenants",
            gauges.backlog.clone(),
        );
        registry.register(
            "ferry_waiting_messages",
            "Messages per tenant and partition waiting in queues and behind flow-control keys",
            gauges.waiting.clone(),
        );
        registry.register(
            "ferry_dead_letters",
            "Dead letters per tenant and partition",
            gauges.dead.clone(),
        );
        gauges
    }

    fn set(&self, backlog: &Backlog) {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for p in &backlog.partitions {
            for (state, n) in [
                ("ready", p.ready),
                ("in_flight", p.in_flight),
                ("delayed", p.delayed),
            ] {
                let labels = SharedLabels {
                    partition: p.partition.0,
                    state,
                };
                self.backlog.get_or_create(&labels).set(count(n));
            }
        }
        for kept in &backlog.tenants {
            let labels = TenantLabels {
                tenant: kept.tenant.to_string(),
                partition: kept.partition.0,
            };
            self.waiting.get_or_create(&labels).set(count(kept.waiting));
            self.dead.get_or_create(&labels).set(count(kept.dead));
        }
    }
}

/// Samples the backlog of `tenants` every `every`.
pub struct Sampler<S> {
    store: S,
    tenants: Vec<TenantId>,
    every: Duration,
    samples: Samples,
    gauges: Gauges,
}

impl<S: Store> Sampler<S> {
    /// A sampler whose gauges are in `registry`; start it with [`Sampler::run`].
    pub fn new(store: S, tenants: Vec<TenantId>, every: Duration, registry: &mut Registry) -> Self {
        Self {
            store,
            tenants,
            every,
            samples: Samples::default(),
            gauges: Gauges::register(registry),
        }
    }

    /// The history this sampler fills, for the console.
    pub fn samples(&self) -> Samples {
        self.samples.clone()
    }

    /// Samples until `shutdown` fires. A failed sample is logged and
    /// skipped; the next one tries again.
    pub async fn run(self, shutdown: CancellationToken) {
        let capacity = usize::try_from(HISTORY.as_secs() / self.every.as_secs().max(1))
            .unwrap_or(usize::MAX)
            .max(1);
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match self.store.backlog(&self.tenants).await {
                Ok(backlog) => {
                    self.gauges.set(&backlog);
                    let point = Point::of(now_ms(), &backlog);
                    self.samples.record(point, backlog, capacity);
                }
                Err(e) => tracing::warn!(error = %e, "sampling the backlog failed"),
            }
        }
    }
}

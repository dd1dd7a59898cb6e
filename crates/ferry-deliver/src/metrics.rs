//! Prometheus metrics of the deliverer, registered into the caller's registry.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OutcomeLabel {
    pub(crate) outcome: &'static str,
}

#[derive(Debug, Clone)]
pub struct Metrics {
    pub(crate) attempts: Family<OutcomeLabel, Counter>,
    pub(crate) attempt_seconds: Histogram,
    pub(crate) in_flight: Gauge,
    pub(crate) reclaimed: Counter,
    pub(crate) promoted: Counter,
    pub(crate) lane_waiting: Gauge,
    pub(crate) leases_lost: Counter,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            attempts: Family::default(),
            attempt_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            in_flight: Gauge::default(),
            reclaimed: Counter::default(),
            promoted: Counter::default(),
            lane_waiting: Gauge::default(),
            leases_lost: Counter::default(),
        };
        registry.register(
            "ferry_delivery_attempts",
            "Delivery attempts by outcome (delivered, retry, dead, deferred, gone, flow_waiting), and entries handed back to Redis by a full, slow destination lane (handed_back)",
            metrics.attempts.clone(),
        );
        registry.register(
            "ferry_delivery_attempt_seconds",
            "Duration of delivery attempts, from send to classified response",
            metrics.attempt_seconds.clone(),
        );
        registry.register(
            "ferry_delivery_in_flight",
            "Delivery attempts currently in flight in this process",
            metrics.in_flight.clone(),
        );
        registry.register(
            "ferry_delivery_reclaimed",
            "Entries taken over from deliverers whose lease expired, or found again after this one lost track of them",
            metrics.reclaimed.clone(),
        );
        registry.register(
            "ferry_delivery_promoted",
            "Delayed messages moved to the ready stream when due",
            metrics.promoted.clone(),
        );
        registry.register(
            "ferry_delivery_lane_waiting",
            "Entries waiting in memory for a free slot of their destination's lane",
            metrics.lane_waiting.clone(),
        );
        registry.register(
            "ferry_delivery_leases_lost",
            "Times this deliverer's lease expired before it was renewed (paused, or cut off from Redis), so it continued under a new name",
            metrics.leases_lost.clone(),
        );
        metrics
    }

    pub(crate) fn count(&self, outcome: &'static str) {
        self.attempts.get_or_create(&OutcomeLabel { outcome }).inc();
    }
}

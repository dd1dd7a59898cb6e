//! Prometheus metrics of the gateway.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct Metrics {
    publishes: Family<OutcomeLabel, Counter>,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "ferry_publishes",
            "Publish requests by outcome (created, duplicate, backlog_full)",
            metrics.publishes.clone(),
        );
        metrics
    }

    pub(crate) fn count(&self, outcome: &'static str) {
        self.publishes
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }
}

//! Prometheus metrics of the gateway: publishes by outcome, and every
//! request by route, method and status with its latency.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route's pattern (`/v2/dlq/{id}`), never the path itself, so
    /// ids do not become label values.
    route: String,
    method: &'static str,
    status: u16,
}

type Requests = Family<RequestLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs to about 3 s.
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

#[derive(Debug, Clone)]
pub struct Metrics {
    publishes: Family<OutcomeLabel, Counter>,
    requests: Requests,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            publishes: Family::default(),
            requests: Family::new_with_constructor(latency_histogram),
        };
        registry.register(
            "ferry_publishes",
            "Publish requests by outcome (created, duplicate, backlog_full)",
            metrics.publishes.clone(),
        );
        registry.register(
            "ferry_http_request_duration_seconds",
            "Gateway requests by route pattern, method and status, with the time to the response head",
            metrics.requests.clone(),
        );
        metrics
    }

    pub(crate) fn count(&self, outcome: &'static str) {
        self.publishes
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    pub(crate) fn observe_request(
        &self,
        route: &str,
        method: &http::Method,
        status: u16,
        took: Duration,
    ) {
        let labels = RequestLabels {
            route: route.to_owned(),
            method: method_label(method),
            status,
        };
        self.requests
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }
}

/// Standard methods by name; anything else is `other`, so a client cannot
/// create label values at will.
fn method_label(method: &http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

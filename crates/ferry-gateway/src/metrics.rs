//! Prometheus metrics of the gateway: publishes by outcome, every request
//! by route, method and status with its latency, and open connections per
//! listener.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabel {
    listener: &'static str,
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
    connections: Family<ListenerLabel, Gauge>,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            publishes: Family::default(),
            requests: Family::new_with_constructor(latency_histogram),
            connections: Family::default(),
        };
        registry.register(
            "ferry_http_connections",
            "Connections open on each gateway listener (api, metrics)",
            metrics.connections.clone(),
        );
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

    /// The open-connections gauge of one listener.
    pub(crate) fn connections(&self, listener: &'static str) -> Connections {
        Connections(
            self.connections
                .get_or_create(&ListenerLabel { listener })
                .clone(),
        )
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

/// Counts a listener's open connections.
#[derive(Debug, Clone)]
pub(crate) struct Connections(Gauge);

impl Connections {
    /// Counts a connection as open until the returned guard is dropped.
    pub(crate) fn opened(&self) -> OpenConnection {
        self.0.inc();
        OpenConnection(self.0.clone())
    }
}

/// An open connection, counted until dropped.
pub(crate) struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
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

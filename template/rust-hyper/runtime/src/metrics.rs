//! Prometheus metrics with the names of-watchdog uses: `http_requests_total{code,method}`,
//! `http_request_duration_seconds{code,method}` and `http_requests_in_flight`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    code: String,
    method: String,
}

/// Latency buckets in seconds: 5 ms up to 60 s, enough for a thumbnail and a 16 MP photo.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// The function's request metrics.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RequestLabels, Histogram, fn() -> Histogram>,
    pub(crate) in_flight: Gauge,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: Family<RequestLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(BUCKETS));
        let in_flight = Gauge::default();
        registry.register(
            "http_requests",
            "Requests handled, by status code and method",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to handle a request",
            durations.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "Requests being handled now",
            in_flight.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            in_flight,
        }
    }

    /// Counts one finished request.
    pub(crate) fn observe(&self, method: &http::Method, code: http::StatusCode, took: Duration) {
        let labels = RequestLabels {
            code: code.as_u16().to_string(),
            method: method.as_str().to_string(),
        };
        self.requests.get_or_create(&labels).inc();
        self.durations
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

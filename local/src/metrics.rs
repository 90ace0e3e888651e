//! The gateway's Prometheus metrics, named and labelled as the OpenFaaS gateway's:
//! `function_name` is always `<name>.openfaas-fn`.
//!
//! The OpenFaaS gateway (Go client, Prometheus text format) exports the counter
//! `gateway_function_invocation_started` without a `_total` suffix. This encoder writes
//! OpenMetrics, where every counter's sample ends in `_total`; so that one is exported
//! as an `unknown`-typed metric under its exact upstream name (PromQL's `rate()` works
//! on it the same), and `gateway_function_invocation` as a counter, which gives its
//! upstream name `gateway_function_invocation_total`.

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const NAMESPACE: &str = "openfaas-fn";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    function_name: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FunctionLabels {
    function_name: String,
}

/// A monotonic count exported without the `_total` suffix (see the module doc).
#[derive(Debug, Default, Clone)]
struct UnsuffixedCounter(Arc<AtomicU64>);

impl UnsuffixedCounter {
    fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl TypedMetric for UnsuffixedCounter {
    const TYPE: MetricType = MetricType::Unknown;
}

impl EncodeMetric for UnsuffixedCounter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&(self.0.load(Ordering::Relaxed) as i64))
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Unknown
    }
}

pub struct GatewayMetrics {
    registry: Registry,
    invocations: Family<CodeLabels, Counter>,
    started: Family<FunctionLabels, UnsuffixedCounter>,
    seconds: Family<CodeLabels, Histogram, fn() -> Histogram>,
    service_count: Family<FunctionLabels, Gauge>,
    ready: Family<FunctionLabels, Gauge>,
    desired: Family<FunctionLabels, Gauge>,
    queue_depth: Gauge,
}

impl GatewayMetrics {
    pub fn new() -> GatewayMetrics {
        let mut registry = Registry::default();
        let invocations = Family::<CodeLabels, Counter>::default();
        let started = Family::<FunctionLabels, UnsuffixedCounter>::default();
        let seconds: Family<CodeLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| {
                Histogram::new([
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
                ])
            });
        let service_count = Family::<FunctionLabels, Gauge>::default();
        let ready = Family::<FunctionLabels, Gauge>::default();
        let desired = Family::<FunctionLabels, Gauge>::default();
        let queue_depth = Gauge::default();
        registry.register(
            "gateway_function_invocation",
            "Function invocations by status code",
            invocations.clone(),
        );
        registry.register(
            "gateway_function_invocation_started",
            "The total number of function HTTP requests started",
            started.clone(),
        );
        registry.register(
            "gateway_functions_seconds",
            "Function call duration",
            seconds.clone(),
        );
        registry.register(
            "gateway_service_count",
            "Replicas of each function",
            service_count.clone(),
        );
        registry.register(
            "greyfaas_function_ready_replicas",
            "Replicas passing /_/health",
            ready.clone(),
        );
        registry.register(
            "greyfaas_function_desired_replicas",
            "Replicas the scaler wants",
            desired.clone(),
        );
        registry.register(
            "greyfaas_async_queue_depth",
            "Async invocations waiting",
            queue_depth.clone(),
        );
        GatewayMetrics {
            registry,
            invocations,
            started,
            seconds,
            service_count,
            ready,
            desired,
            queue_depth,
        }
    }

    /// A call to `function` began.
    pub fn started(&self, function: &str) {
        self.started
            .get_or_create(&FunctionLabels {
                function_name: qualified(function),
            })
            .inc();
    }

    pub fn observe(&self, function: &str, code: u16, took: Duration) {
        let labels = CodeLabels {
            function_name: qualified(function),
            code: code.to_string(),
        };
        self.invocations.get_or_create(&labels).inc();
        self.seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub fn set_replicas(&self, function: &str, replicas: usize, ready: usize, desired: usize) {
        let labels = FunctionLabels {
            function_name: qualified(function),
        };
        self.service_count
            .get_or_create(&labels)
            .set(replicas as i64);
        self.ready.get_or_create(&labels).set(ready as i64);
        self.desired.get_or_create(&labels).set(desired as i64);
    }

    pub fn set_queue_depth(&self, depth: usize) {
        self.queue_depth.set(depth as i64);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// `greyscale` → `greyscale.openfaas-fn`.
pub fn qualified(function: &str) -> String {
    format!("{function}.{NAMESPACE}")
}

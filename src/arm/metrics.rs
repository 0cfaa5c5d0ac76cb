//! ARM request metrics: they prove the steady-state promise (one GET per subscription per
//! interval, no PUT) from outside the process.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// HTTP status, or `error` when no response came back.
    pub code: String,
}

#[derive(Clone)]
pub struct ArmMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub retries: Counter,
    /// Seconds spent waiting because ARM said so (`Retry-After`).
    pub throttled_wait_seconds: Counter<f64>,
    pub duration: Histogram,
    /// Policies' visits to a subscription answered from another policy's read, no request.
    pub shared_reads: Counter,
    /// Writes that carried the changes of more than one policy.
    pub merged_writes: Counter,
    /// Requests allowed in flight now (the process's adaptive budget).
    pub concurrency_limit: Gauge,
}

impl Default for ArmMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            retries: Counter::default(),
            throttled_wait_seconds: Counter::default(),
            duration: Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            shared_reads: Counter::default(),
            merged_writes: Counter::default(),
            concurrency_limit: Gauge::default(),
        }
    }
}

impl ArmMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "arm_requests",
            "ARM and token requests by method and HTTP status",
            metrics.requests.clone(),
        );
        registry.register(
            "arm_retries",
            "ARM requests retried",
            metrics.retries.clone(),
        );
        registry.register(
            "arm_throttled_wait_seconds",
            "Seconds waited because ARM asked to (Retry-After)",
            metrics.throttled_wait_seconds.clone(),
        );
        registry.register(
            "arm_request_duration_seconds",
            "ARM request latency",
            metrics.duration.clone(),
        );
        registry.register(
            "arm_shared_reads",
            "Subscription visits answered from a read another policy made (no request)",
            metrics.shared_reads.clone(),
        );
        registry.register(
            "arm_merged_writes",
            "Contact writes that carried more than one policy's changes",
            metrics.merged_writes.clone(),
        );
        registry.register(
            "arm_concurrency_limit",
            "ARM requests allowed in flight now (adapts to 429s and remaining-requests headers)",
            metrics.concurrency_limit.clone(),
        );
        metrics
    }

    /// Requests sent with `method` so far, whatever the answer (for summaries and tests;
    /// Prometheus reads the family itself).
    pub fn count(&self, method: &str) -> u64 {
        let codes = (100..600u16)
            .map(|c| c.to_string())
            .chain(["error".to_owned()]);
        codes
            .filter_map(|code| {
                let labels = RequestLabels {
                    method: method.to_owned(),
                    code,
                };
                self.requests.get(&labels).map(|c| c.get())
            })
            .sum()
    }
}

//! Controller metrics (prometheus-client, no global registry). ARM request counters live in
//! [`crate::arm::metrics`]; together they show "one GET per subscription per interval, no PUT".

use std::time::Duration;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::{Error, arm::metrics::ArmMetrics, controller::status::Pass, outcome::Verdict};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok` or the error's metric label.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub verdict: String,
}

#[derive(Clone)]
pub struct Metrics {
    pub reconciles: Family<ResultLabels, Counter>,
    pub reconcile_duration: Histogram,
    /// Subscriptions by verdict in the latest pass of every policy.
    pub subscriptions: Family<VerdictLabels, Gauge>,
    /// Writes to Azure the controller made (remediations).
    pub remediations: Counter,
    pub arm: ArmMetrics,
    per_policy: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, [i64; 4]>>>,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Metrics {
            reconciles: Family::default(),
            reconcile_duration: Histogram::new([0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0]),
            subscriptions: Family::default(),
            remediations: Counter::default(),
            arm: ArmMetrics::register(registry),
            per_policy: Default::default(),
        };
        registry.register(
            "reconciles",
            "Policy reconciles by result",
            metrics.reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one policy reconcile",
            metrics.reconcile_duration.clone(),
        );
        registry.register(
            "subscriptions",
            "Governed subscriptions by verdict (latest pass)",
            metrics.subscriptions.clone(),
        );
        registry.register(
            "remediations",
            "Security contacts written to Azure",
            metrics.remediations.clone(),
        );
        metrics
    }

    pub fn reconciled<T>(&self, result: &Result<T, Error>, took: Duration) {
        let label = match result {
            Ok(_) => "ok",
            Err(e) => e.metric_label(),
        };
        self.reconciles
            .get_or_create(&ResultLabels {
                result: label.into(),
            })
            .inc();
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    /// Keeps the per-verdict gauges equal to the sum over every live policy's latest pass. A
    /// suspended policy counts for nothing; a blocked one keeps what it last saw.
    pub fn observe_pass(&self, policy: &str, pass: &Pass) {
        let counts = match pass {
            Pass::Swept(results) => {
                let mut counts = [0i64; 4];
                for r in results {
                    counts[verdict_index(r.verdict)] += 1;
                    if r.verdict == Verdict::Remediated {
                        self.remediations.inc();
                    }
                }
                counts
            }
            Pass::Suspended => return self.forget(policy),
            Pass::Started { .. } | Pass::Blocked(_) => return,
        };
        self.set(policy, Some(counts));
    }

    /// Takes a deleted (or suspended) policy out of the gauges.
    pub fn forget(&self, policy: &str) {
        self.set(policy, None);
    }

    fn set(&self, policy: &str, counts: Option<[i64; 4]>) {
        let mut per_policy = self.per_policy.lock().expect("metrics lock");
        let old = match counts {
            Some(counts) => per_policy.insert(policy.to_owned(), counts),
            None => per_policy.remove(policy),
        }
        .unwrap_or_default();
        let counts = counts.unwrap_or_default();
        for (i, verdict) in ["compliant", "non_compliant", "remediated", "failed"]
            .into_iter()
            .enumerate()
        {
            let gauge = self.subscriptions.get_or_create(&VerdictLabels {
                verdict: verdict.into(),
            });
            gauge.inc_by(counts[i] - old[i]);
        }
    }
}

fn verdict_index(v: Verdict) -> usize {
    match v {
        Verdict::Compliant => 0,
        Verdict::NonCompliant => 1,
        Verdict::Remediated => 2,
        Verdict::Failed => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::fixtures::swept;

    fn gauge(m: &Metrics, verdict: &str) -> i64 {
        m.subscriptions
            .get_or_create(&VerdictLabels {
                verdict: verdict.into(),
            })
            .get()
    }

    #[test]
    fn gauges_drop_deleted_and_suspended_policies() {
        let m = Metrics::register(&mut Registry::default());
        m.observe_pass(
            "ns/a",
            &swept(&[("s1", Verdict::Compliant), ("s2", Verdict::Failed)]),
        );
        m.observe_pass("ns/b", &swept(&[("s1", Verdict::Compliant)]));
        assert_eq!((gauge(&m, "compliant"), gauge(&m, "failed")), (2, 1));
        m.observe_pass("ns/a", &Pass::Suspended);
        assert_eq!((gauge(&m, "compliant"), gauge(&m, "failed")), (1, 0));
        m.forget("ns/b");
        assert_eq!(gauge(&m, "compliant"), 0);
        m.forget("ns/b");
        assert_eq!(
            gauge(&m, "compliant"),
            0,
            "forgetting twice changes nothing"
        );
    }
}

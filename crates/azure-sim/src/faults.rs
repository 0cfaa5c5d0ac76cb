//! Fault injection: latency, 5xx errors, 429 storms, connection resets, and a gateway (a
//! proxy, an API-management layer) that answers with its own HTML page instead of ARM.
//!
//! Faults are a list of rules. A rule applies to a request when every scope field it sets
//! (subscription, method, route) matches. For a matching request the latencies of all matching
//! rules add up, then the first matching rule that produces a fault decides it, checking a rule's
//! reset rate first, then its storm, then its error rate. Faults are decided before any Azure
//! logic runs, so a faulted request spends no throttling token and changes no state.
//!
//! A rule without a `route` also applies to the token endpoint (answered in Entra's error
//! shape); scope rules with `route` to fault ARM only.
//!
//! Randomness comes from one `fastrand` generator; with `seed` set, the same sequence of
//! requests sees the same faults (as long as they arrive in the same order).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::error::SimError;
use super::route::RouteKind;

/// Latency injection; every variant is in milliseconds.
///
/// `logNormal` is parameterised by its median and 99th percentile, the two numbers latency
/// reports usually give: `ln(latency) ~ Normal(ln p50, (ln p99 − ln p50) / 2.3263)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Latency {
    Fixed {
        ms: u64,
    },
    #[serde(rename_all = "camelCase")]
    Uniform {
        min_ms: u64,
        max_ms: u64,
    },
    #[serde(rename_all = "camelCase")]
    LogNormal {
        p50_ms: f64,
        p99_ms: f64,
    },
}

/// The z-score of the 99th percentile of a standard normal distribution.
const Z_P99: f64 = 2.326_347_874;

/// No injected delay exceeds this, whatever the distribution's tail says.
const MAX_LATENCY: Duration = Duration::from_secs(60);

impl Latency {
    fn sample(&self, rng: &mut fastrand::Rng) -> Duration {
        let ms = match *self {
            Latency::Fixed { ms } => ms as f64,
            Latency::Uniform { min_ms, max_ms } => rng.u64(min_ms..=max_ms.max(min_ms)) as f64,
            Latency::LogNormal { p50_ms, p99_ms } => {
                let mu = p50_ms.ln();
                let sigma = (p99_ms.ln() - mu) / Z_P99;
                (mu + sigma * standard_normal(rng)).exp()
            }
        };
        Duration::try_from_secs_f64(ms / 1_000.0)
            .unwrap_or(MAX_LATENCY)
            .min(MAX_LATENCY)
    }

    fn validate(&self) -> Result<(), String> {
        match *self {
            Latency::Fixed { .. } => Ok(()),
            Latency::Uniform { min_ms, max_ms } if min_ms <= max_ms => Ok(()),
            Latency::Uniform { .. } => Err("uniform latency needs minMs <= maxMs".into()),
            Latency::LogNormal { p50_ms, p99_ms } if p50_ms > 0.0 && p99_ms >= p50_ms => Ok(()),
            Latency::LogNormal { .. } => Err("logNormal latency needs 0 < p50Ms <= p99Ms".into()),
        }
    }
}

/// Box–Muller: one standard normal sample from two uniform ones.
fn standard_normal(rng: &mut fastrand::Rng) -> f64 {
    // 1 - f64() lies in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - rng.f64();
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A burst of 429s, for the next `requests` matching requests and/or for `seconds` from the
/// moment the rule is set (whichever ends first); with neither, until the faults are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Storm {
    #[serde(default)]
    pub requests: Option<u32>,
    #[serde(default)]
    pub seconds: Option<f64>,
    /// `Retry-After` in seconds.
    pub retry_after_secs: u64,
    /// Also send `x-ms-retry-after-ms` (which azure_core prefers when present).
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
}

/// One scoped set of faults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FaultRule {
    /// Only requests for this subscription (case-insensitive).
    pub subscription: Option<String>,
    /// Only this HTTP method (case-insensitive).
    pub method: Option<String>,
    /// Only this kind of route.
    pub route: Option<RouteKind>,
    pub latency: Option<Latency>,
    /// Probability (0..=1) of answering 500 `InternalServerError` or 503 `ServiceUnavailable`
    /// (even odds between the two).
    pub error_rate: f64,
    /// Probability (0..=1) of closing the TCP connection (with RST) instead of answering.
    pub reset_rate: f64,
    pub storm: Option<Storm>,
    /// Probability (0..=1) that a gateway in front of ARM answers instead, with
    /// `gatewayStatus` and an HTML body: not ARM's JSON, no ARM headers.
    pub gateway_rate: f64,
    /// The gateway's status (404 when unset).
    pub gateway_status: Option<u16>,
}

/// The complete fault configuration, as set through the control API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Seeds the fault generator for reproducible runs; random when absent.
    pub seed: Option<u64>,
    pub rules: Vec<FaultRule>,
}

impl FaultConfig {
    pub(crate) fn validate(&self) -> Result<(), SimError> {
        for (i, rule) in self.rules.iter().enumerate() {
            let invalid =
                |msg: String| Err(SimError::InvalidControl(format!("fault rule {i}: {msg}")));
            for (name, rate) in [
                ("errorRate", rule.error_rate),
                ("resetRate", rule.reset_rate),
                ("gatewayRate", rule.gateway_rate),
            ] {
                if !(0.0..=1.0).contains(&rate) {
                    return invalid(format!("{name} must be within 0..=1, got {rate}"));
                }
            }
            if let Some(latency) = &rule.latency {
                latency.validate().or_else(invalid)?;
            }
            if let Some(Storm {
                seconds: Some(s), ..
            }) = rule.storm
                && !(s.is_finite() && s >= 0.0)
            {
                return invalid(format!("storm.seconds must be >= 0, got {s}"));
            }
        }
        Ok(())
    }
}

/// What to do instead of serving a request normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultAction {
    Reset,
    Storm {
        retry_after_secs: u64,
        retry_after_ms: Option<u64>,
    },
    Error {
        status: u16,
    },
    Gateway {
        status: u16,
    },
}

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct FaultDecision {
    pub(crate) delay: Duration,
    pub(crate) action: Option<FaultAction>,
}

/// The request attributes rules are scoped by.
pub(crate) struct RequestScope<'a> {
    pub(crate) method: &'a str,
    pub(crate) route: RouteKind,
    pub(crate) subscription: Option<&'a str>,
}

struct ActiveRule {
    rule: FaultRule,
    storm_left: Option<u32>,
    storm_until: Option<Instant>,
}

impl ActiveRule {
    fn matches(&self, scope: &RequestScope<'_>) -> bool {
        let rule = &self.rule;
        rule.route.is_none_or(|r| r == scope.route)
            && rule
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(scope.method))
            && rule.subscription.as_deref().is_none_or(|s| {
                scope
                    .subscription
                    .is_some_and(|sub| sub.eq_ignore_ascii_case(s))
            })
    }

    /// Whether the storm still blows, consuming one request of it if so.
    fn storm_hit(&mut self, now: Instant) -> Option<Storm> {
        let storm = self.rule.storm?;
        if self.storm_until.is_some_and(|until| now >= until) || self.storm_left == Some(0) {
            return None;
        }
        if let Some(left) = &mut self.storm_left {
            *left -= 1;
        }
        Some(storm)
    }
}

/// The live fault state (rules, storm progress and the generator).
pub(crate) struct Faults {
    config: FaultConfig,
    rules: Vec<ActiveRule>,
    rng: fastrand::Rng,
}

impl Faults {
    pub(crate) fn new(config: FaultConfig) -> Faults {
        let now = Instant::now();
        let rng = config
            .seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        let rules = config
            .rules
            .iter()
            .map(|rule| ActiveRule {
                rule: rule.clone(),
                storm_left: rule.storm.and_then(|s| s.requests),
                storm_until: rule
                    .storm
                    .and_then(|s| s.seconds)
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .map(|d| now + d),
            })
            .collect();
        Faults { config, rules, rng }
    }

    pub(crate) fn config(&self) -> &FaultConfig {
        &self.config
    }

    pub(crate) fn decide(&mut self, scope: &RequestScope<'_>, now: Instant) -> FaultDecision {
        let mut decision = FaultDecision::default();
        let rng = &mut self.rng;
        for active in self.rules.iter_mut().filter(|r| r.matches(scope)) {
            if let Some(latency) = &active.rule.latency {
                decision.delay += latency.sample(rng);
            }
            if decision.action.is_some() {
                continue;
            }
            if active.rule.reset_rate > 0.0 && rng.f64() < active.rule.reset_rate {
                decision.action = Some(FaultAction::Reset);
            } else if let Some(storm) = active.storm_hit(now) {
                decision.action = Some(FaultAction::Storm {
                    retry_after_secs: storm.retry_after_secs,
                    retry_after_ms: storm.retry_after_ms,
                });
            } else if active.rule.gateway_rate > 0.0 && rng.f64() < active.rule.gateway_rate {
                decision.action = Some(FaultAction::Gateway {
                    status: active.rule.gateway_status.unwrap_or(404),
                });
            } else if active.rule.error_rate > 0.0 && rng.f64() < active.rule.error_rate {
                let status = if rng.bool() { 500 } else { 503 };
                decision.action = Some(FaultAction::Error { status });
            }
        }
        decision.delay = decision.delay.min(MAX_LATENCY);
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope<'a>(method: &'a str, sub: Option<&'a str>) -> RequestScope<'a> {
        RequestScope {
            method,
            route: RouteKind::SecurityContact,
            subscription: sub,
        }
    }

    #[test]
    fn storm_counts_down_and_is_scoped() {
        let mut faults = Faults::new(FaultConfig {
            seed: Some(1),
            rules: vec![FaultRule {
                subscription: Some("S1".into()),
                method: Some("get".into()),
                storm: Some(Storm {
                    requests: Some(2),
                    seconds: None,
                    retry_after_secs: 7,
                    retry_after_ms: None,
                }),
                ..FaultRule::default()
            }],
        });
        let now = Instant::now();
        let storm = Some(FaultAction::Storm {
            retry_after_secs: 7,
            retry_after_ms: None,
        });
        assert_eq!(faults.decide(&scope("PUT", Some("s1")), now).action, None);
        assert_eq!(faults.decide(&scope("GET", Some("s2")), now).action, None);
        assert_eq!(faults.decide(&scope("GET", None), now).action, None);
        assert_eq!(faults.decide(&scope("GET", Some("s1")), now).action, storm);
        assert_eq!(faults.decide(&scope("GET", Some("s1")), now).action, storm);
        assert_eq!(faults.decide(&scope("GET", Some("s1")), now).action, None);
    }

    #[test]
    fn timed_storm_ends() {
        let mut faults = Faults::new(FaultConfig {
            seed: None,
            rules: vec![FaultRule {
                storm: Some(Storm {
                    requests: None,
                    seconds: Some(5.0),
                    retry_after_secs: 1,
                    retry_after_ms: Some(250),
                }),
                ..FaultRule::default()
            }],
        });
        let now = Instant::now();
        assert!(faults.decide(&scope("GET", None), now).action.is_some());
        let later = now + Duration::from_secs(6);
        assert_eq!(faults.decide(&scope("GET", None), later).action, None);
    }

    #[test]
    fn seeded_rates_are_reproducible_and_roughly_right() {
        let config = FaultConfig {
            seed: Some(42),
            rules: vec![FaultRule {
                error_rate: 0.25,
                ..FaultRule::default()
            }],
        };
        let run = || {
            let mut faults = Faults::new(config.clone());
            (0..2_000)
                .map(|_| faults.decide(&scope("GET", None), Instant::now()).action)
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let errors = first.iter().filter(|a| a.is_some()).count();
        assert!((400..600).contains(&errors), "{errors} errors out of 2000");
        assert!(first.contains(&Some(FaultAction::Error { status: 500 })));
        assert!(first.contains(&Some(FaultAction::Error { status: 503 })));
    }

    #[test]
    fn latency_distributions() {
        let mut rng = fastrand::Rng::with_seed(7);
        let fixed = Latency::Fixed { ms: 15 };
        assert_eq!(fixed.sample(&mut rng), Duration::from_millis(15));
        let uniform = Latency::Uniform {
            min_ms: 10,
            max_ms: 20,
        };
        for _ in 0..100 {
            let d = uniform.sample(&mut rng);
            assert!((Duration::from_millis(10)..=Duration::from_millis(20)).contains(&d));
        }
        let log_normal = Latency::LogNormal {
            p50_ms: 100.0,
            p99_ms: 1_000.0,
        };
        let mut samples: Vec<Duration> = (0..20_000).map(|_| log_normal.sample(&mut rng)).collect();
        samples.sort();
        let p50 = samples[10_000].as_secs_f64() * 1_000.0;
        let p99 = samples[19_800].as_secs_f64() * 1_000.0;
        assert!((85.0..115.0).contains(&p50), "p50 {p50}");
        assert!((800.0..1_250.0).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn validation() {
        let bad = FaultConfig {
            seed: None,
            rules: vec![FaultRule {
                error_rate: 1.5,
                ..FaultRule::default()
            }],
        };
        assert!(bad.validate().is_err());
        let bad_latency = FaultConfig {
            seed: None,
            rules: vec![FaultRule {
                latency: Some(Latency::Uniform {
                    min_ms: 5,
                    max_ms: 1,
                }),
                ..FaultRule::default()
            }],
        };
        assert!(bad_latency.validate().is_err());
    }
}

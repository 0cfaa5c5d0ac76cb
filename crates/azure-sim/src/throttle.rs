//! ARM's regional token buckets (2024 onward).
//!
//! Each subscription-scoped request spends one token from the bucket of its operation type
//! (read, write, delete), keyed by subscription and principal; `GET /subscriptions` spends from
//! the tenant reads bucket keyed by tenant and principal. Defaults are the published ARM limits
//! (learn.microsoft.com, "Understand how Azure Resource Manager throttles requests"). The 15× all-principals "global" bucket is not
//! simulated. Remaining counts are what governor's GCRA state says is left *after* this request,
//! which matches ARM's `…-reads: 249` after the first read.

use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use super::error::SimError;

/// One bucket's capacity and refill rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BucketConfig {
    /// Tokens when full (the burst).
    pub bucket: u32,
    /// Tokens added per second; fractions allowed, so tests can make refills negligible.
    pub refill_per_second: f64,
}

impl BucketConfig {
    pub const fn new(bucket: u32, refill_per_second: f64) -> Self {
        BucketConfig {
            bucket,
            refill_per_second,
        }
    }

    fn quota(self) -> Option<Quota> {
        let burst = NonZeroU32::new(self.bucket)?;
        if !(self.refill_per_second.is_finite() && self.refill_per_second > 0.0) {
            return None;
        }
        let period = Duration::try_from_secs_f64(1.0 / self.refill_per_second).ok()?;
        Some(Quota::with_period(period)?.allow_burst(burst))
    }
}

/// All buckets the simulator enforces.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ThrottleConfig {
    pub subscription_reads: BucketConfig,
    pub subscription_writes: BucketConfig,
    pub subscription_deletes: BucketConfig,
    pub tenant_reads: BucketConfig,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            subscription_reads: BucketConfig::new(250, 25.0),
            subscription_writes: BucketConfig::new(200, 10.0),
            subscription_deletes: BucketConfig::new(200, 10.0),
            tenant_reads: BucketConfig::new(250, 25.0),
        }
    }
}

impl ThrottleConfig {
    /// Every bucket gets the same size and refill: handy for tests.
    pub fn uniform(bucket: BucketConfig) -> Self {
        ThrottleConfig {
            subscription_reads: bucket,
            subscription_writes: bucket,
            subscription_deletes: bucket,
            tenant_reads: bucket,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), SimError> {
        for (name, bucket) in [
            ("subscriptionReads", self.subscription_reads),
            ("subscriptionWrites", self.subscription_writes),
            ("subscriptionDeletes", self.subscription_deletes),
            ("tenantReads", self.tenant_reads),
        ] {
            if bucket.quota().is_none() {
                return Err(SimError::InvalidSeed(format!(
                    "throttle.{name} needs bucket >= 1 and a refillPerSecond > 0 (got {bucket:?})"
                )));
            }
        }
        Ok(())
    }
}

/// Which bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpClass {
    SubscriptionRead,
    SubscriptionWrite,
    SubscriptionDelete,
    TenantRead,
}

impl OpClass {
    /// The response header that reports this bucket.
    pub(crate) fn remaining_header(self) -> &'static str {
        match self {
            OpClass::SubscriptionRead => "x-ms-ratelimit-remaining-subscription-reads",
            OpClass::SubscriptionWrite => "x-ms-ratelimit-remaining-subscription-writes",
            OpClass::SubscriptionDelete => "x-ms-ratelimit-remaining-subscription-deletes",
            OpClass::TenantRead => "x-ms-ratelimit-remaining-tenant-reads",
        }
    }

    /// The word ARM uses for the operation type in throttling messages.
    pub(crate) fn verb(self) -> &'static str {
        match self {
            OpClass::SubscriptionRead | OpClass::TenantRead => "read",
            OpClass::SubscriptionWrite => "write",
            OpClass::SubscriptionDelete => "delete",
        }
    }
}

/// The outcome of spending one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spend {
    Allowed { remaining: u32 },
    Throttled { retry_after: Duration },
}

type Limiter = RateLimiter<
    (String, String),
    DefaultKeyedStateStore<(String, String)>,
    DefaultClock,
    StateInformationMiddleware,
>;

struct Buckets {
    subscription_reads: Limiter,
    subscription_writes: Limiter,
    subscription_deletes: Limiter,
    tenant_reads: Limiter,
}

impl Buckets {
    fn new(config: &ThrottleConfig) -> Result<Buckets, SimError> {
        config.validate()?;
        let limiter = |bucket: BucketConfig| -> Result<Limiter, SimError> {
            let quota = bucket.quota().ok_or_else(|| {
                SimError::InvalidSeed(format!("invalid throttle bucket {bucket:?}"))
            })?;
            Ok(RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>())
        };
        Ok(Buckets {
            subscription_reads: limiter(config.subscription_reads)?,
            subscription_writes: limiter(config.subscription_writes)?,
            subscription_deletes: limiter(config.subscription_deletes)?,
            tenant_reads: limiter(config.tenant_reads)?,
        })
    }

    fn limiter(&self, class: OpClass) -> &Limiter {
        match class {
            OpClass::SubscriptionRead => &self.subscription_reads,
            OpClass::SubscriptionWrite => &self.subscription_writes,
            OpClass::SubscriptionDelete => &self.subscription_deletes,
            OpClass::TenantRead => &self.tenant_reads,
        }
    }
}

/// The live buckets; replacing the configuration starts every bucket full again.
pub(crate) struct Throttle {
    buckets: RwLock<Arc<Buckets>>,
    config: RwLock<ThrottleConfig>,
}

impl Throttle {
    pub(crate) fn new(config: &ThrottleConfig) -> Result<Throttle, SimError> {
        Ok(Throttle {
            buckets: RwLock::new(Arc::new(Buckets::new(config)?)),
            config: RwLock::new(*config),
        })
    }

    pub(crate) fn reconfigure(&self, config: &ThrottleConfig) -> Result<(), SimError> {
        let fresh = Arc::new(Buckets::new(config)?);
        *self.buckets.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = *config;
        Ok(())
    }

    pub(crate) fn config(&self) -> ThrottleConfig {
        *self.config.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Spends one token for `principal` in `scope` (a subscription or tenant id).
    pub(crate) fn spend(&self, class: OpClass, scope: &str, principal: &str) -> Spend {
        // Clone the Arc so a concurrent reconfigure never waits on a request.
        let buckets = Arc::clone(&self.buckets.read().unwrap_or_else(|e| e.into_inner()));
        let limiter = buckets.limiter(class);
        let key = (scope.to_ascii_lowercase(), principal.to_ascii_lowercase());
        match limiter.check_key(&key) {
            Ok(snapshot) => Spend::Allowed {
                remaining: snapshot.remaining_burst_capacity(),
            },
            Err(not_until) => Spend::Throttled {
                retry_after: not_until.wait_time_from(limiter.clock().now()),
            },
        }
    }
}

/// `Retry-After` is whole seconds; round up so a client that obeys it finds a token.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_then_throttles_per_key() {
        let config = ThrottleConfig::uniform(BucketConfig::new(3, 0.001));
        let throttle = Throttle::new(&config).expect("valid");
        let spend = || throttle.spend(OpClass::SubscriptionRead, "SUB", "p");
        assert_eq!(spend(), Spend::Allowed { remaining: 2 });
        assert_eq!(spend(), Spend::Allowed { remaining: 1 });
        assert_eq!(spend(), Spend::Allowed { remaining: 0 });
        match spend() {
            Spend::Throttled { retry_after } => assert!(retry_after > Duration::from_secs(900)),
            other => panic!("expected throttling, got {other:?}"),
        }
        // Other principals, subscriptions and operation types have their own buckets.
        assert_eq!(
            throttle.spend(OpClass::SubscriptionRead, "sub", "q"),
            Spend::Allowed { remaining: 2 }
        );
        assert_eq!(
            throttle.spend(OpClass::SubscriptionWrite, "sub", "p"),
            Spend::Allowed { remaining: 2 }
        );
    }

    #[test]
    fn defaults_match_arm() {
        let throttle = Throttle::new(&ThrottleConfig::default()).expect("valid");
        assert_eq!(
            throttle.spend(OpClass::SubscriptionRead, "s", "p"),
            Spend::Allowed { remaining: 249 }
        );
        assert_eq!(
            throttle.spend(OpClass::SubscriptionWrite, "s", "p"),
            Spend::Allowed { remaining: 199 }
        );
    }

    #[test]
    fn rejects_empty_buckets_and_rounds_retry_after_up() {
        assert!(Throttle::new(&ThrottleConfig::uniform(BucketConfig::new(0, 1.0))).is_err());
        assert!(Throttle::new(&ThrottleConfig::uniform(BucketConfig::new(1, 0.0))).is_err());
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(2_001)), 3);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}

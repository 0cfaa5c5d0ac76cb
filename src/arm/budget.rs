//! One request budget for the whole process: every ARM (and Graph) request of every policy,
//! whatever identity it uses, takes a permit here first.
//!
//! * **Adaptive concurrency** (AIMD), in two lanes, because ARM keeps a bucket per subscription
//!   and one per tenant (for each principal): requests to a subscription's resources draw on
//!   that subscription's bucket, listings of subscriptions and management groups (and Microsoft
//!   Graph) on the tenant's. Each lane allows at most `limit` requests in flight, `limit`
//!   between 1 and `--concurrency`, and never more than `--concurrency` in flight in all. A
//!   429 halves its lane's limit; so does, in the tenant lane, a response saying the bucket is
//!   nearly empty (`x-ms-ratelimit-remaining-*` below [`LOW_WATER`]: less than a second of
//!   ARM's refill). A nearly empty *subscription* bucket is no reason to slow the reads of ten
//!   thousand other subscriptions (each has its own; the retry policy honours that one's
//!   `Retry-After`), so there only a 429 counts. At most one cut per [`COOLDOWN`] (one burst
//!   of 429s is one decrease, not thirty); every `limit` good answers in a row raise the
//!   limit by one, back to the maximum.
//! * **Start-up budget**: until every policy has had its first pass (after a start or a new
//!   leadership term), each read a first pass makes (a round it opens at the desk) waits for a
//!   token from a rate limiter (governor, requests per second), so a thousand policies do not
//!   fire at ARM in the same second. Later passes never wait for it.
//!
//! ARM's buckets are per subscription and principal (250 reads, 25 per second refill, see the
//! README's performance notes), so a sweep over many subscriptions rarely drains one: the
//! headers mostly matter for subscriptions a person's scripts are also hammering, and the 429s
//! for tenant-wide throttling.

use std::{
    num::NonZeroU32,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::{HeaderMap, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Fewer remaining requests than this in the caller's bucket is pressure: back off.
pub const LOW_WATER: u64 = 25;
/// Between two decreases: the answers of requests sent before the first one tell nothing new.
pub const COOLDOWN: Duration = Duration::from_secs(1);

/// Which of ARM's buckets a request draws on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `/subscriptions/{id}/…`: that subscription's own bucket.
    Subscription,
    /// Everything else: listings, management groups, Microsoft Graph.
    Tenant,
}

impl Scope {
    /// The bucket a request to `path` draws on.
    pub fn of(path: &str) -> Scope {
        let mut segments = path.trim_start_matches('/').split('/');
        match (segments.next(), segments.next()) {
            (Some(first), Some(id))
                if first.eq_ignore_ascii_case("subscriptions") && !id.is_empty() =>
            {
                Scope::Subscription
            }
            _ => Scope::Tenant,
        }
    }
}

pub struct Budget {
    max: usize,
    /// The hard cap over both lanes.
    permits: Arc<Semaphore>,
    /// Subscription, tenant.
    lanes: [Lane; 2],
    /// The start-up rate and its burst.
    startup: Option<(DefaultDirectRateLimiter, NonZeroU32)>,
    warming: AtomicBool,
    /// Where the current limit (the lower lane's) is shown (Prometheus).
    shown: Option<prometheus_client::metrics::gauge::Gauge>,
}

struct Lane {
    permits: Arc<Semaphore>,
    state: Mutex<State>,
}

impl Lane {
    fn new(max: usize) -> Lane {
        Lane {
            permits: Arc::new(Semaphore::new(max)),
            state: Mutex::new(State {
                limit: max,
                debt: 0,
                good_in_a_row: 0,
                last_decrease: None,
            }),
        }
    }
}

struct State {
    limit: usize,
    /// Permits to take out of circulation as they come back (after a decrease).
    debt: usize,
    good_in_a_row: usize,
    last_decrease: Option<Instant>,
}

/// A request's place in the budget, returned when dropped.
pub struct Slot<'a> {
    lane: &'a Lane,
    permit: Option<OwnedSemaphorePermit>,
    _total: OwnedSemaphorePermit,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut state = self.lane.state.lock().expect("budget");
        if state.debt > 0 {
            state.debt -= 1;
            permit.forget();
        }
    }
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("max", &self.max)
            .field("subscription_limit", &self.limit(Scope::Subscription))
            .field("tenant_limit", &self.limit(Scope::Tenant))
            .field("warming", &self.warming())
            .finish()
    }
}

impl Budget {
    /// At most `max` requests in flight; first passes spread at `startup` requests per second
    /// until [`Budget::settled`].
    pub fn new(max: usize, startup: Option<NonZeroU32>) -> Budget {
        let max = max.max(1);
        Budget {
            max,
            permits: Arc::new(Semaphore::new(max)),
            lanes: [Lane::new(max), Lane::new(max)],
            warming: AtomicBool::new(startup.is_some()),
            startup: startup.map(|rate| {
                // A burst of a tenth of a second's worth: with governor's default (a whole
                // second's), a full bucket plus a second's refill let twice the rate through
                // in one second (195 requests in one second at 100/s, measured).
                let burst = NonZeroU32::new((rate.get() / 10).max(1)).expect("at least 1");
                (
                    RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
                    burst,
                )
            }),
            shown: None,
        }
    }

    /// Shows the current limit in `gauge`.
    pub fn shown_in(mut self, gauge: prometheus_client::metrics::gauge::Gauge) -> Budget {
        gauge.set(self.max as i64);
        self.shown = Some(gauge);
        self
    }

    /// No limit worth speaking of: for the one-shot CLI and tests.
    pub fn unlimited() -> Budget {
        Budget::new(Semaphore::MAX_PERMITS, None)
    }

    fn lane(&self, scope: Scope) -> &Lane {
        match scope {
            Scope::Subscription => &self.lanes[0],
            Scope::Tenant => &self.lanes[1],
        }
    }

    /// Requests of `scope` allowed in flight now.
    pub fn limit(&self, scope: Scope) -> usize {
        self.lane(scope).state.lock().expect("budget").limit
    }

    fn show_limits(&self) {
        if let Some(gauge) = &self.shown {
            let lowest = self
                .lanes
                .iter()
                .map(|l| l.state.lock().expect("budget").limit)
                .min()
                .unwrap_or(self.max);
            gauge.set(lowest as i64);
        }
    }

    pub fn warming(&self) -> bool {
        self.warming.load(Ordering::Relaxed)
    }

    /// Every policy has had its first pass: the start-up rate no longer applies.
    pub fn settled(&self) {
        if self.warming.swap(false, Ordering::Relaxed) {
            tracing::info!("every policy has had its first pass: start-up budget lifted");
        }
    }

    /// A new start (a new leadership term): first passes are spread again.
    pub fn warm(&self) {
        if self.startup.is_some() {
            self.warming.store(true, Ordering::Relaxed);
        }
    }

    /// Waits for `requests` tokens of the start-up rate while warming (a first pass's read
    /// takes one). Only first passes wait here; the passes of
    /// policies already through theirs are never held back, or their own re-reads could use up
    /// the rate and starve the first passes still to come.
    pub async fn first_pass(&self, requests: usize) {
        let Some((rate, burst)) = self.startup.as_ref().filter(|_| self.warming()) else {
            return;
        };
        // governor refuses a request larger than its burst (a tenth of a second's): take it in
        // bursts.
        let burst = burst.get() as usize;
        let mut left = requests.max(1);
        while left > 0 {
            let take = left.min(burst);
            let n = NonZeroU32::new(u32::try_from(take).unwrap_or(u32::MAX)).expect("take > 0");
            if rate.until_n_ready(n).await.is_err() {
                return;
            }
            left -= take;
        }
    }

    /// Waits for a permit: at most its lane's `limit` requests of `scope` in flight, and at
    /// most `--concurrency` in all.
    pub async fn slot(&self, scope: Scope) -> Slot<'_> {
        let lane = self.lane(scope);
        let permit = lane
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the budget's semaphores are never closed");
        let total = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the budget's semaphores are never closed");
        Slot {
            lane,
            permit: Some(permit),
            _total: total,
        }
    }

    /// Learns from an answer to a request of `scope`: its status and, for the tenant's
    /// bucket, ARM's remaining-requests headers.
    pub fn answered(&self, scope: Scope, status: StatusCode, headers: &HeaderMap) {
        let pressed = status == StatusCode::TOO_MANY_REQUESTS
            || (scope == Scope::Tenant && remaining(headers).is_some_and(|left| left < LOW_WATER));
        let lane = self.lane(scope);
        let mut state = lane.state.lock().expect("budget");
        if pressed {
            let now = Instant::now();
            if state
                .last_decrease
                .is_some_and(|at| now.duration_since(at) < COOLDOWN)
            {
                return;
            }
            let lower = (state.limit / 2).max(1);
            let cut = state.limit - lower;
            state.limit = lower;
            state.debt += cut;
            state.good_in_a_row = 0;
            state.last_decrease = Some(now);
            drop(state);
            self.show_limits();
            tracing::debug!(
                ?scope,
                limit = lower,
                "ARM is pressing back: fewer requests in flight"
            );
        } else if status.is_success() || status == StatusCode::NOT_FOUND {
            state.good_in_a_row += 1;
            if state.good_in_a_row >= state.limit && state.limit < self.max {
                state.good_in_a_row = 0;
                state.limit += 1;
                if state.debt > 0 {
                    state.debt -= 1;
                } else {
                    lane.permits.add_permits(1);
                }
                drop(state);
                self.show_limits();
            }
        }
    }
}

/// The smallest `x-ms-ratelimit-remaining-…` count in the answer (reads, writes, deletes,
/// tenant or global buckets alike): the one closest to throttling us.
fn remaining(headers: &HeaderMap) -> Option<u64> {
    headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-ms-ratelimit-remaining-"))
        .filter_map(|(_, value)| value.to_str().ok()?.trim().parse::<u64>().ok())
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    const SUB: Scope = Scope::Subscription;
    const TENANT: Scope = Scope::Tenant;

    #[test]
    fn a_429_halves_once_per_burst_and_good_answers_bring_it_back() {
        let budget = Budget::new(64, None);
        let none = HeaderMap::new();
        budget.answered(SUB, StatusCode::TOO_MANY_REQUESTS, &none);
        assert_eq!(budget.limit(SUB), 32);
        assert_eq!(budget.limit(TENANT), 64, "the other lane is not slowed");
        // The rest of the same burst: no further cut within the cooldown.
        for _ in 0..30 {
            budget.answered(SUB, StatusCode::TOO_MANY_REQUESTS, &none);
        }
        assert_eq!(budget.limit(SUB), 32);
        // limit good answers in a row raise it by one.
        for _ in 0..32 {
            budget.answered(SUB, StatusCode::OK, &none);
        }
        assert_eq!(budget.limit(SUB), 33);
        for _ in 0..10_000 {
            budget.answered(SUB, StatusCode::OK, &none);
        }
        assert_eq!(budget.limit(SUB), 64, "never above the configured maximum");
    }

    #[test]
    fn requests_are_laned_by_the_bucket_they_draw_on() {
        assert_eq!(
            Scope::of("/subscriptions/s1/providers/Microsoft.Security/securityContacts/default"),
            SUB
        );
        assert_eq!(Scope::of("/SUBSCRIPTIONS/s1/providers/x"), SUB);
        assert_eq!(Scope::of("/subscriptions"), TENANT);
        assert_eq!(Scope::of("/subscriptions/"), TENANT);
        assert_eq!(
            Scope::of("/providers/Microsoft.Management/managementGroups/g/descendants"),
            TENANT
        );
        assert_eq!(Scope::of("/v1.0/organization"), TENANT);
    }

    #[test]
    fn a_nearly_empty_tenant_bucket_slows_tenant_requests_and_one_subscription_s_slows_none() {
        let budget = Budget::new(8, None);
        let plenty = headers(&[("x-ms-ratelimit-remaining-tenant-reads", "249")]);
        budget.answered(TENANT, StatusCode::OK, &plenty);
        assert_eq!(budget.limit(TENANT), 8);
        let low = headers(&[("x-ms-ratelimit-remaining-tenant-reads", "12")]);
        budget.answered(TENANT, StatusCode::OK, &low);
        assert_eq!(budget.limit(TENANT), 4);
        assert_eq!(budget.limit(SUB), 8);
        // One subscription's own bucket says nothing about the others'.
        let one_sub_low = headers(&[("x-ms-ratelimit-remaining-subscription-reads", "3")]);
        budget.answered(SUB, StatusCode::OK, &one_sub_low);
        assert_eq!(budget.limit(SUB), 8);
    }

    #[tokio::test]
    async fn a_decrease_takes_permits_out_as_they_come_back() {
        let budget = Budget::new(4, None);
        let slots = vec![
            budget.slot(SUB).await,
            budget.slot(SUB).await,
            budget.slot(SUB).await,
            budget.slot(SUB).await,
        ];
        budget.answered(SUB, StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new());
        assert_eq!(budget.limit(SUB), 2);
        drop(slots);
        // Two of the four came back; the other two were retired.
        assert_eq!(budget.lane(SUB).permits.available_permits(), 2);
        let _a = budget.slot(SUB).await;
        let _b = budget.slot(SUB).await;
        let third = tokio::time::timeout(Duration::from_millis(50), budget.slot(SUB)).await;
        assert!(third.is_err(), "a third request waits while the limit is 2");
        // Both lanes together never exceed the maximum.
        let _c = budget.slot(TENANT).await;
        let _d = budget.slot(TENANT).await;
        let fifth = tokio::time::timeout(Duration::from_millis(50), budget.slot(TENANT)).await;
        assert!(fifth.is_err(), "four in flight in all: the fifth waits");
    }

    #[tokio::test]
    async fn while_warming_first_passes_wait_for_the_start_up_rate_and_not_after() {
        // One request per second: a first pass of one subscription starts at once, the next
        // must wait for the next second's token (only a whole second's stall between the two
        // could let it through, so this does not depend on the machine's speed).
        let budget = Budget::new(64, NonZeroU32::new(1));
        budget.first_pass(1).await;
        let second = tokio::time::timeout(Duration::from_millis(20), budget.first_pass(1)).await;
        assert!(
            second.is_err(),
            "the start-up rate holds the second first pass"
        );
        // Requests themselves never wait for it: passes after the first are not held back.
        let slot = tokio::time::timeout(Duration::from_millis(20), budget.slot(SUB)).await;
        assert!(slot.is_ok());
        drop(slot);
        budget.settled();
        let after = tokio::time::timeout(Duration::from_millis(20), budget.first_pass(500)).await;
        assert!(after.is_ok(), "once settled first passes start at once");
        budget.warm();
        assert!(
            budget.warming(),
            "a new leadership term spreads first passes again"
        );
    }
}

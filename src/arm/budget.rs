//! One request budget for the whole process: every ARM (and Graph) request of every policy,
//! whatever identity it uses, takes a permit here first.
//!
//! * **Adaptive concurrency** (AIMD): at most `limit` requests in flight, `limit` between 1 and
//!   `--concurrency`. A 429, or a response saying the caller's bucket is nearly empty
//!   (`x-ms-ratelimit-remaining-*` below [`LOW_WATER`]: less than a second of ARM's refill),
//!   halves it (at most once per [`COOLDOWN`], so one burst of 429s is one decrease, not
//!   thirty); every `limit` good answers in a row raise it by one, back to the maximum.
//! * **Start-up budget**: until every policy has had its first pass (after a start or a new
//!   leadership term), first passes wait for their requests (one per subscription) from a rate
//!   limiter (governor, requests per second), so a thousand policies do not fire at ARM in the
//!   same second. Later passes never wait for it.
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

pub struct Budget {
    max: usize,
    permits: Arc<Semaphore>,
    state: Mutex<State>,
    startup: Option<(DefaultDirectRateLimiter, NonZeroU32)>,
    warming: AtomicBool,
    /// Where the current limit is shown (Prometheus).
    shown: Option<prometheus_client::metrics::gauge::Gauge>,
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
    budget: &'a Budget,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut state = self.budget.state.lock().expect("budget");
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
            .field("limit", &self.limit())
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
            state: Mutex::new(State {
                limit: max,
                debt: 0,
                good_in_a_row: 0,
                last_decrease: None,
            }),
            warming: AtomicBool::new(startup.is_some()),
            startup: startup.map(|rate| (RateLimiter::direct(Quota::per_second(rate)), rate)),
            shown: None,
        }
    }

    /// Shows the current limit in `gauge`.
    pub fn shown_in(mut self, gauge: prometheus_client::metrics::gauge::Gauge) -> Budget {
        gauge.set(self.max as i64);
        self.shown = Some(gauge);
        self
    }

    fn show(&self, limit: usize) {
        if let Some(gauge) = &self.shown {
            gauge.set(limit as i64);
        }
    }

    /// No limit worth speaking of: for the one-shot CLI and tests.
    pub fn unlimited() -> Budget {
        Budget::new(Semaphore::MAX_PERMITS, None)
    }

    /// Requests allowed in flight now.
    pub fn limit(&self) -> usize {
        self.state.lock().expect("budget").limit
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

    /// Waits until a policy's first pass may start: `requests` (about one per subscription)
    /// taken from the start-up rate while warming. Only first passes wait here; the passes of
    /// policies already through theirs are never held back, or their own re-reads could use up
    /// the rate and starve the first passes still to come.
    pub async fn first_pass(&self, requests: usize) {
        let Some((rate, per_second)) = self.startup.as_ref().filter(|_| self.warming()) else {
            return;
        };
        // governor refuses a request larger than its burst (one second's worth): take it in
        // bursts.
        let burst = per_second.get() as usize;
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

    /// Waits for a permit: at most `limit` requests in flight.
    pub async fn slot(&self) -> Slot<'_> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the budget's semaphore is never closed");
        Slot {
            budget: self,
            permit: Some(permit),
        }
    }

    /// Learns from an answer: its status and ARM's remaining-requests headers.
    pub fn answered(&self, status: StatusCode, headers: &HeaderMap) {
        let pressed = status == StatusCode::TOO_MANY_REQUESTS
            || remaining(headers).is_some_and(|left| left < LOW_WATER);
        let mut state = self.state.lock().expect("budget");
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
            self.show(lower);
            tracing::debug!(
                limit = lower,
                "ARM is pressing back: fewer requests in flight"
            );
        } else if status.is_success() || status == StatusCode::NOT_FOUND {
            state.good_in_a_row += 1;
            if state.good_in_a_row >= state.limit && state.limit < self.max {
                state.good_in_a_row = 0;
                state.limit += 1;
                self.show(state.limit);
                if state.debt > 0 {
                    state.debt -= 1;
                } else {
                    self.permits.add_permits(1);
                }
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

    #[test]
    fn a_429_halves_once_per_burst_and_good_answers_bring_it_back() {
        let budget = Budget::new(64, None);
        let none = HeaderMap::new();
        budget.answered(StatusCode::TOO_MANY_REQUESTS, &none);
        assert_eq!(budget.limit(), 32);
        // The rest of the same burst: no further cut within the cooldown.
        for _ in 0..30 {
            budget.answered(StatusCode::TOO_MANY_REQUESTS, &none);
        }
        assert_eq!(budget.limit(), 32);
        // limit good answers in a row raise it by one.
        for _ in 0..32 {
            budget.answered(StatusCode::OK, &none);
        }
        assert_eq!(budget.limit(), 33);
        for _ in 0..10_000 {
            budget.answered(StatusCode::OK, &none);
        }
        assert_eq!(budget.limit(), 64, "never above the configured maximum");
    }

    #[test]
    fn a_nearly_empty_bucket_is_pressure_whichever_bucket_says_so() {
        let budget = Budget::new(8, None);
        let plenty = headers(&[
            ("x-ms-ratelimit-remaining-subscription-reads", "249"),
            ("x-ms-ratelimit-remaining-subscription-global-reads", "3749"),
        ]);
        budget.answered(StatusCode::OK, &plenty);
        assert_eq!(budget.limit(), 8);
        let low = headers(&[
            ("x-ms-ratelimit-remaining-subscription-reads", "249"),
            ("x-ms-ratelimit-remaining-tenant-reads", "12"),
        ]);
        budget.answered(StatusCode::OK, &low);
        assert_eq!(budget.limit(), 4);
    }

    #[tokio::test]
    async fn a_decrease_takes_permits_out_as_they_come_back() {
        let budget = Budget::new(4, None);
        let slots = vec![
            budget.slot().await,
            budget.slot().await,
            budget.slot().await,
            budget.slot().await,
        ];
        budget.answered(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new());
        assert_eq!(budget.limit(), 2);
        drop(slots);
        // Two of the four came back; the other two were retired.
        assert_eq!(budget.permits.available_permits(), 2);
        let _a = budget.slot().await;
        let _b = budget.slot().await;
        let third = tokio::time::timeout(Duration::from_millis(50), budget.slot()).await;
        assert!(third.is_err(), "a third request waits while the limit is 2");
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
        let slot = tokio::time::timeout(Duration::from_millis(20), budget.slot()).await;
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

//! Request counters by (method, route kind, subscription, status).
//!
//! Tests assert on these ("exactly one GET per subscription and no PUT"), so every request that
//! reaches the Azure side of the simulator is counted once, including the ones answered by an
//! injected fault. A connection reset has no status; it is counted with status 0.
//! Control-API (`/_sim/…`) requests are not counted.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::route::RouteKind;

/// The status recorded for a request answered by closing the connection.
pub const STATUS_RESET: u16 = 0;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    method: String,
    route: RouteKind,
    subscription: Option<String>,
    status: u16,
}

/// One counter line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestCount {
    /// Upper-case HTTP method.
    pub method: String,
    pub route: RouteKind,
    /// Lower-cased subscription id, for subscription-scoped routes.
    pub subscription: Option<String>,
    /// Response status, or [`STATUS_RESET`].
    pub status: u16,
    pub count: u64,
}

/// A snapshot of all counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestCounts {
    pub total: u64,
    pub entries: Vec<RequestCount>,
}

impl RequestCounts {
    /// Sums the entries the predicate accepts.
    pub fn matching(&self, predicate: impl Fn(&RequestCount) -> bool) -> u64 {
        self.entries
            .iter()
            .filter(|entry| predicate(entry))
            .map(|entry| entry.count)
            .sum()
    }

    /// Requests with this method on this route kind, for one subscription (any when `None`),
    /// whatever their status.
    pub fn count(&self, method: &str, route: RouteKind, subscription: Option<&str>) -> u64 {
        self.matching(|entry| {
            entry.method.eq_ignore_ascii_case(method)
                && entry.route == route
                && subscription.is_none_or(|wanted| {
                    entry
                        .subscription
                        .as_deref()
                        .is_some_and(|got| got.eq_ignore_ascii_case(wanted))
                })
        })
    }

    /// Requests answered with this status (use [`STATUS_RESET`] for resets).
    pub fn with_status(&self, status: u16) -> u64 {
        self.matching(|entry| entry.status == status)
    }
}

/// The live counters.
#[derive(Default)]
pub(crate) struct Counters {
    counts: Mutex<BTreeMap<Key, u64>>,
}

impl Counters {
    pub(crate) fn record(
        &self,
        method: &str,
        route: RouteKind,
        subscription: Option<&str>,
        status: u16,
    ) {
        let key = Key {
            method: method.to_ascii_uppercase(),
            route,
            subscription: subscription.map(str::to_ascii_lowercase),
            status,
        };
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default() += 1;
    }

    pub(crate) fn snapshot(&self) -> RequestCounts {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let entries: Vec<RequestCount> = counts
            .iter()
            .map(|(key, &count)| RequestCount {
                method: key.method.clone(),
                route: key.route,
                subscription: key.subscription.clone(),
                status: key.status,
                count,
            })
            .collect();
        RequestCounts {
            total: entries.iter().map(|e| e.count).sum(),
            entries,
        }
    }

    pub(crate) fn reset(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_filters() {
        let counters = Counters::default();
        counters.record("get", RouteKind::SecurityContact, Some("S1"), 200);
        counters.record("GET", RouteKind::SecurityContact, Some("s1"), 200);
        counters.record("GET", RouteKind::SecurityContact, Some("s2"), 404);
        counters.record("PUT", RouteKind::SecurityContact, Some("s2"), 201);
        counters.record("POST", RouteKind::Token, None, 200);
        let snap = counters.snapshot();
        assert_eq!(snap.total, 5);
        assert_eq!(snap.count("GET", RouteKind::SecurityContact, Some("S1")), 2);
        assert_eq!(snap.count("GET", RouteKind::SecurityContact, None), 3);
        assert_eq!(snap.count("PUT", RouteKind::SecurityContact, Some("s1")), 0);
        assert_eq!(snap.with_status(404), 1);
        counters.reset();
        assert_eq!(counters.snapshot(), RequestCounts::default());
    }
}

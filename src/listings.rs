//! Tenant-level listings shared between policies: the subscriptions a principal sees, and the
//! subscriptions under a management group.
//!
//! Every selector policy resolves on every pass, and ARM counts those listings against the
//! principal's *tenant* bucket (25 reads a second to refill), not against a subscription's:
//! a thousand policies listing ten thousand subscriptions (eleven pages of a thousand) and
//! their group each minute would ask for two hundred tenant reads a second. Here one listing
//! serves every policy of the same principal that asks while it is news to it, with the same
//! rule as the desk's shared reads ([`crate::controller`]): made after the asking policy's
//! previous pass ended and within its interval, or, for a policy whose spec changed, made after
//! it asked. Concurrent askers wait for the one listing in flight instead of sending their own.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::arm::{ArmClient, ArmError, wire::Subscription};

/// Which listings a policy accepts.
#[derive(Clone, Copy, Debug)]
pub struct Want {
    /// Only a listing made after this call will do (a new generation).
    pub fresh: bool,
    /// Listings made before this instant are not news (the end of the policy's last pass).
    pub newer_than: Option<Instant>,
    /// The oldest listing accepted: the policy's interval.
    pub max_age: Duration,
}

impl Want {
    /// Any listing made during a one-shot run.
    pub const RUN: Want = Want {
        fresh: false,
        newer_than: None,
        max_age: Duration::MAX,
    };

    fn accepts(&self, at: Instant, asked: Instant) -> bool {
        at >= asked
            || (!self.fresh
                && at.elapsed() <= self.max_age
                && self.newer_than.is_none_or(|t| at > t))
    }
}

struct Listed<T> {
    /// When the first request of the listing was sent.
    at: Instant,
    value: Arc<T>,
}

type Cell<T> = Arc<tokio::sync::Mutex<Option<Listed<T>>>>;
/// (principal, lower-case group id)
type GroupKey = (Arc<str>, String);

/// One per process (or per one-shot run).
#[derive(Default)]
pub struct Listings {
    subscriptions: Mutex<HashMap<Arc<str>, Cell<Vec<Subscription>>>>,
    groups: Mutex<HashMap<GroupKey, Cell<Vec<String>>>>,
    made: AtomicU64,
}

impl Listings {
    /// Listings made (not shared) so far: for tests.
    pub fn made(&self) -> u64 {
        self.made.load(Ordering::Relaxed)
    }

    /// Every subscription `arm`'s principal sees.
    pub async fn subscriptions(
        &self,
        arm: &ArmClient,
        want: Want,
    ) -> Result<Arc<Vec<Subscription>>, ArmError> {
        let cell = self
            .subscriptions
            .lock()
            .expect("listings")
            .entry(arm.principal().clone())
            .or_default()
            .clone();
        self.shared(cell, want, arm.list_subscriptions()).await
    }

    /// The ids of every subscription under `group`, at any depth.
    pub async fn group(
        &self,
        arm: &ArmClient,
        group: &str,
        want: Want,
    ) -> Result<Arc<Vec<String>>, ArmError> {
        let cell = self
            .groups
            .lock()
            .expect("listings")
            .entry((arm.principal().clone(), group.to_ascii_lowercase()))
            .or_default()
            .clone();
        self.shared(cell, want, arm.management_group_subscriptions(group))
            .await
    }

    async fn shared<T>(
        &self,
        cell: Cell<T>,
        want: Want,
        list: impl Future<Output = Result<T, ArmError>>,
    ) -> Result<Arc<T>, ArmError> {
        let asked = Instant::now();
        let mut listed = cell.lock().await;
        if let Some(l) = listed.as_ref().filter(|l| want.accepts(l.at, asked)) {
            return Ok(l.value.clone());
        }
        let at = Instant::now();
        let value = Arc::new(list.await?);
        self.made.fetch_add(1, Ordering::Relaxed);
        *listed = Some(Listed {
            at,
            value: value.clone(),
        });
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(ago: Duration) -> Instant {
        Instant::now() - ago
    }

    #[test]
    fn a_listing_is_news_after_the_last_pass_and_within_the_interval() {
        let minute = Duration::from_secs(60);
        let asked = Instant::now();
        let pass_ended = listed(Duration::from_secs(30));
        let want = Want {
            fresh: false,
            newer_than: Some(pass_ended),
            max_age: minute,
        };
        assert!(want.accepts(listed(Duration::from_secs(10)), asked));
        assert!(
            !want.accepts(listed(Duration::from_secs(40)), asked),
            "made before the policy's last pass ended"
        );
        let first = Want {
            newer_than: None,
            ..want
        };
        assert!(
            !first.accepts(listed(Duration::from_secs(90)), asked),
            "too old"
        );
        let fresh = Want {
            fresh: true,
            ..first
        };
        assert!(!fresh.accepts(listed(Duration::from_secs(1)), asked));
        assert!(fresh.accepts(Instant::now(), asked), "made after it asked");
    }

    /// Ten policies over the same group, resolving together and then one after another: one
    /// listing of the subscriptions and one of the group, not ten of each.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn policies_of_one_principal_share_their_listings() {
        use azure_sim::{
            Access, ManagementGroupSeed, PrincipalSeed, RouteKind, SimConfig, Simulator,
            SubscriptionSeed, management_group_access_key,
        };

        const TENANT: &str = "11571165-0000-0000-0000-0000000000aa";
        let subs: Vec<String> = (0..6)
            .map(|i| format!("11571165-0000-0000-0000-{i:012}"))
            .collect();
        let mut principal = PrincipalSeed::with_secret("lister", "s3cret", Access::ReadWrite);
        principal
            .access
            .insert(management_group_access_key(TENANT), Access::Read);
        let mut config = SimConfig::single_tenant(
            TENANT,
            principal,
            subs.iter().cloned().map(SubscriptionSeed::new).collect(),
        );
        config.tenants[0].management_groups =
            vec![ManagementGroupSeed::new("team", "Team").with_subscriptions(subs[..4].to_vec())];
        let sim = Simulator::start(config).await.unwrap();
        let arm = crate::testing::sim_client(&sim, TENANT, "lister", "s3cret");
        arm.check_credential().await.unwrap();
        let mut spec = crate::testing::spec(&[], &["a@contoso.com"]);
        spec.subscription_selector = Some(crate::crd::SubscriptionSelector {
            management_groups: vec!["team".into()],
            ..Default::default()
        });
        let listings = Listings::default();
        let minute = Want {
            fresh: false,
            newer_than: None,
            max_age: Duration::from_secs(60),
        };
        let listed = |route| sim.state().requests().count("GET", route, None);

        let together = futures::future::join_all(
            (0..10).map(|_| crate::selection::resolve(&arm, &spec, &listings, minute)),
        )
        .await;
        for selection in together {
            assert_eq!(selection.unwrap().subscriptions.len(), 4);
        }
        // One listing of each, in pages of two: 6 subscriptions, 4 under the group.
        assert_eq!(listed(RouteKind::Subscriptions), 3);
        assert_eq!(listed(RouteKind::ManagementGroupDescendants), 2);
        assert_eq!(listings.made(), 2);

        // A policy whose last pass ended after those listings lists again, once.
        let ended = Instant::now();
        let later = Want {
            newer_than: Some(ended),
            ..minute
        };
        for _ in 0..3 {
            crate::selection::resolve(&arm, &spec, &listings, later)
                .await
                .unwrap();
        }
        assert_eq!(listings.made(), 4);
        // A new generation lists for itself.
        crate::selection::resolve(
            &arm,
            &spec,
            &listings,
            Want {
                fresh: true,
                ..minute
            },
        )
        .await
        .unwrap();
        assert_eq!(listings.made(), 6);
    }
}

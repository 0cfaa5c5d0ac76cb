//! `check` and `apply`: one pass over manifests against Azure, no cluster needed.
//!
//! decide overlaps (the operator's rule, manifest order as age) → observe (one GET per
//! subscription, bounded concurrency) → plan (pure) → act (`apply` only: PUT what the plan
//! says, one policy after another on a subscription, each planned against the state the
//! previous write returned) → report. A failing subscription is reported and the others carry
//! on.

use std::{collections::BTreeMap, time::Duration};

use futures::{StreamExt, stream};
use serde::Serialize;

pub use crate::outcome::{Failure, SubscriptionResult, Verdict};
use crate::{
    arm::{ArmClient, ArmError, fresh::Write, wire::ContactProperties},
    cis,
    crd::Mode,
    listings::{Listings, Want},
    manifest::Loaded,
    outcome::reason,
    overlap::{self, Contender, Rank},
    plan, selection,
};

/// Exit codes, part of the public interface.
pub const EXIT_COMPLIANT: u8 = 0;
pub const EXIT_NON_COMPLIANT: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Report only.
    Check,
    /// Enforce once; with `dry_run` only say what would be written.
    Apply { dry_run: bool },
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub results: Vec<SubscriptionResult>,
    pub arm_calls: ArmCalls,
    /// Per policy: what its selector found and its exclusions (only for policies that have
    /// either).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<PolicyScope>,
    /// Tenant contacts (Microsoft Graph), for policies that declare one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<crate::tenant::TenantResult>,
}

/// Which subscriptions one policy governed in this run, beyond the ids it names.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyScope {
    pub policy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection: Option<crate::crd::SelectionStatus>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclusions: Vec<crate::crd::ExclusionStatus>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ArmCalls {
    pub get: u64,
    pub put: u64,
    pub delete: u64,
}

impl Report {
    /// 0 all compliant (after writes), 1 some not compliant, 2 any failure.
    pub fn exit_code(&self) -> u8 {
        let verdicts = || {
            self.results
                .iter()
                .map(|r| r.verdict)
                .chain(self.tenants.iter().map(|t| t.verdict))
        };
        if verdicts().any(|v| v == Verdict::Failed) {
            EXIT_ERROR
        } else if verdicts().any(|v| v == Verdict::NonCompliant) {
            EXIT_NON_COMPLIANT
        } else {
            EXIT_COMPLIANT
        }
    }
}

/// How long the CLI keeps asking an unavailable token endpoint before it reports it.
pub const TOKEN_DEADLINE: Duration = Duration::from_secs(120);

/// Runs `action` for every policy over its subscriptions. First one token, retried while the
/// token endpoint is unavailable for at most `token_deadline`: without a token nothing is
/// read, and every subscription is reported with the one reason.
pub async fn run(
    policies: &[Loaded],
    arm: &ArmClient,
    action: Action,
    concurrency: usize,
    token_deadline: Duration,
) -> Report {
    let (before_get, before_put, before_delete) = (
        arm.metrics().count("GET"),
        arm.metrics().count("PUT"),
        arm.metrics().count("DELETE"),
    );

    let token = token(arm, token_deadline).await;
    // What each policy governs today: its ids plus what its selector finds, without the
    // actively excluded subscriptions (never read).
    let now = k8s_openapi::jiff::Timestamp::now();
    let mut unresolved = Vec::new();
    let mut scopes = Vec::new();
    let mut governed: Vec<Loaded> = Vec::with_capacity(policies.len());
    // Policies selecting the same groups share one listing of each in this run.
    let listings = Listings::default();
    for p in policies {
        let mut p = p.clone();
        let mut scope = PolicyScope {
            policy: p.id(),
            selection: None,
            exclusions: crate::exclusions::statuses(&p.policy.spec, now),
        };
        if token.is_ok() && p.policy.spec.subscription_selector.is_some() {
            match selection::resolve(arm, &p.policy.spec, &listings, Want::RUN).await {
                Ok(found) => {
                    scope.selection = Some(selection::status(&found, None));
                    p.policy.spec.subscriptions = found.subscriptions;
                }
                Err(e) => {
                    let mut failure = Failure::from(&e);
                    failure.message =
                        format!("cannot resolve subscriptionSelector: {}", failure.message);
                    unresolved.push(
                        SubscriptionResult::new(
                            p.id(),
                            p.policy.spec.mode,
                            "(subscriptionSelector)",
                        )
                        .failed(failure),
                    );
                }
            }
        }
        p.policy.spec = crate::exclusions::governed(&p.policy.spec, now).into_owned();
        governed.push(p);
        if scope.selection.is_some() || !scope.exclusions.is_empty() {
            scopes.push(scope);
        }
    }
    let policies = governed.as_slice();
    let (acting, mut results) = match token {
        Ok(()) => hold_back_conflicts(policies),
        Err(e) => (Vec::new(), every_subscription(policies, &Failure::from(&e))),
    };
    results.extend(unresolved);
    let targets = group_by_subscription(&acting);
    let swept: Vec<SubscriptionResult> = stream::iter(targets)
        .map(|(subscription, governing)| async move {
            reconcile_subscription(arm, &subscription, &governing, action).await
        })
        .buffer_unordered(concurrency.max(1))
        .flat_map(stream::iter)
        .collect()
        .await;
    results.extend(swept);
    // Stable output: manifest order, then subscription order within the policy.
    let order: BTreeMap<String, usize> = policies
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id(), i))
        .collect();
    results.sort_by(|a, b| {
        (order.get(&a.policy), &a.subscription).cmp(&(order.get(&b.policy), &b.subscription))
    });

    Report {
        scopes,
        tenants: Vec::new(),
        results,
        arm_calls: ArmCalls {
            get: arm.metrics().count("GET") - before_get,
            put: arm.metrics().count("PUT") - before_put,
            delete: arm.metrics().count("DELETE") - before_delete,
        },
    }
}

/// Every policy's tenant contact (Microsoft Graph), in manifest order. A later policy that
/// shares a tenant with an earlier one where either is Exact is held back (`Conflict`), as for
/// subscriptions. Written only by `apply` (not a dry run) for Enforce policies.
pub async fn tenants(
    policies: &[Loaded],
    graph: &ArmClient,
    action: Action,
) -> Vec<crate::tenant::TenantResult> {
    let mut out = Vec::new();
    let ranked: Vec<(
        &Loaded,
        String,
        crate::overlap::Rank,
        &crate::crd::TenantContact,
    )> = policies
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let rank = crate::overlap::Rank {
                tier: 0,
                age: i as i64,
                namespace: String::new(),
                name: p.id(),
            };
            let contact = p.policy.spec.tenant_contact.as_ref()?;
            Some((p, p.id(), rank, contact))
        })
        .collect();
    for (loaded, id, rank, contact) in &ranked {
        let spec = &loaded.policy.spec;
        if let Some(why) = crate::tenant::conflict(
            (id, rank, contact),
            ranked.iter().map(|(_, i, r, t)| (i.as_str(), r, *t)),
        ) {
            out.push(crate::tenant::TenantResult {
                policy: id.clone(),
                tenant_id: contact.tenant_id.clone(),
                verdict: Verdict::Failed,
                drift: String::new(),
                error: Some(Failure::terminal(crate::outcome::reason::CONFLICT, why)),
            });
            continue;
        }
        let write =
            matches!(action, Action::Apply { dry_run: false }) && spec.mode == Mode::Enforce;
        out.push(crate::tenant::reconcile(graph, id, contact, write).await);
    }
    out
}

/// A token, retrying transient failures (with backoff, honouring `Retry-After`) until
/// `deadline` has passed.
pub(crate) async fn token(arm: &ArmClient, deadline: Duration) -> Result<(), ArmError> {
    let started = tokio::time::Instant::now();
    let mut wait = Duration::from_secs(1);
    loop {
        match arm.check_credential().await {
            Err(e) if e.is_transient() => {
                let pause = e.retry_after().unwrap_or(wait).max(wait);
                if started.elapsed() + pause > deadline {
                    return Err(e);
                }
                tracing::warn!("no Azure token yet, retrying in {}s: {e}", pause.as_secs());
                tokio::time::sleep(pause).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            outcome => return outcome,
        }
    }
}

/// `failure` for every (policy, subscription).
fn every_subscription(policies: &[Loaded], failure: &Failure) -> Vec<SubscriptionResult> {
    policies
        .iter()
        .flat_map(|p| {
            p.policy.spec.subscriptions.iter().map(|s| {
                SubscriptionResult::new(p.id(), p.policy.spec.mode, s.to_ascii_lowercase())
                    .failed(failure.clone())
            })
        })
        .collect()
}

/// The overlap rule of the operator ([`overlap::conflict`]), with manifest order as age: a
/// policy that conflicts with one earlier in the manifests is held back on every subscription
/// and reported as a `Conflict`; the earlier one acts. Returns the policies that act and the
/// results of those held back.
fn hold_back_conflicts(policies: &[Loaded]) -> (Vec<&Loaded>, Vec<SubscriptionResult>) {
    let contenders: Vec<Contender<'_>> = policies
        .iter()
        .enumerate()
        .map(|(position, p)| Contender {
            id: p.id(),
            rank: Rank {
                tier: 0,
                age: position as i64,
                namespace: String::new(),
                name: p.id(),
            },
            spec: &p.policy.spec,
        })
        .collect();
    let mut acting = Vec::new();
    let mut held_back = Vec::new();
    for (policy, contender) in policies.iter().zip(&contenders) {
        match overlap::conflict(contender, &contenders) {
            None => acting.push(policy),
            Some(why) => held_back.extend(every_subscription(
                std::slice::from_ref(policy),
                &Failure::terminal(reason::CONFLICT, why),
            )),
        }
    }
    (acting, held_back)
}

/// Subscription (lower-cased) → the policies governing it, in manifest order.
fn group_by_subscription<'a>(policies: &[&'a Loaded]) -> BTreeMap<String, Vec<&'a Loaded>> {
    let mut map: BTreeMap<String, Vec<&Loaded>> = BTreeMap::new();
    for policy in policies {
        for sub in &policy.policy.spec.subscriptions {
            let entry = map.entry(sub.to_ascii_lowercase()).or_default();
            if !entry.iter().any(|p| std::ptr::eq(*p, *policy)) {
                entry.push(policy);
            }
        }
    }
    map
}

async fn reconcile_subscription(
    arm: &ArmClient,
    subscription: &str,
    governing: &[&Loaded],
    action: Action,
) -> Vec<SubscriptionResult> {
    let mut current: Option<ContactProperties> = match arm.get_contact(subscription).await {
        Ok(contact) => contact.map(|c| c.properties),
        Err(e) => {
            return governing
                .iter()
                .map(|p| {
                    SubscriptionResult::new(p.id(), p.policy.spec.mode, subscription)
                        .failed(Failure::from(&e))
                })
                .collect();
        }
    };
    let mut results = Vec::with_capacity(governing.len());
    for policy in governing {
        let spec = &policy.policy.spec;
        let plan = plan::plan(&spec.contact, current.as_ref());
        let mut result = SubscriptionResult::new(policy.id(), spec.mode, subscription);
        result.verdict = if plan.is_compliant() {
            Verdict::Compliant
        } else {
            Verdict::NonCompliant
        };
        result.drift = plan.drift.clone();
        result.changes = plan.changes.clone();
        let write =
            matches!(action, Action::Apply { dry_run: false }) && spec.mode == Mode::Enforce;
        if write && plan.desired.is_some() {
            // Planned again from a fresh read: the first read may be stale by now.
            let outcome = arm
                .write_fresh(subscription, |fresh| {
                    let plan = plan::plan(&spec.contact, fresh);
                    plan.desired
                        .clone()
                        .map(|desired| (Write::Put(desired), plan))
                })
                .await;
            match outcome {
                Ok(fresh) => {
                    if let Some(plan) = &fresh.written {
                        result.drift = plan.drift.clone();
                        result.changes = plan.changes.clone();
                        result.created = fresh.created;
                    }
                    let check = plan::plan(&spec.contact, fresh.after.as_ref());
                    result.verdict = match (&fresh.written, check.is_compliant()) {
                        (Some(_), true) => Verdict::Remediated,
                        (None, true) => Verdict::Compliant,
                        (_, false) => {
                            result.drift = check.drift;
                            Verdict::NonCompliant
                        }
                    };
                    current = fresh.after;
                }
                Err(e) => result = result.failed(Failure::from(&e)),
            }
        }
        results.push(result);
    }
    let findings = cis::findings(current.as_ref());
    for result in &mut results {
        result.cis = findings.clone();
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{EmailMerge, SecurityContactPolicy};

    fn loaded(name: &str, merge: EmailMerge, phone: Option<&str>) -> Loaded {
        let email = format!("{name}@contoso.com");
        let mut spec = crate::testing::spec(&["S1", "s2"], &[&email]);
        spec.contact.email_merge = merge;
        spec.contact.phone = phone.map(Into::into);
        let mut policy = SecurityContactPolicy::new(name, spec);
        policy.metadata.namespace = Some("ns".into());
        Loaded {
            policy,
            source: "policies.yaml".into(),
            document: 1,
        }
    }

    #[test]
    fn the_later_manifest_is_held_back_and_the_earlier_one_acts() {
        let policies = [
            loaded("first", EmailMerge::Additive, None),
            loaded("second", EmailMerge::Exact, None),
        ];
        let (acting, held_back) = hold_back_conflicts(&policies);
        assert_eq!(
            acting.iter().map(|p| p.id()).collect::<Vec<_>>(),
            ["ns/first"]
        );
        assert_eq!(
            held_back.len(),
            2,
            "every subscription of the held-back policy"
        );
        for r in &held_back {
            assert_eq!(r.policy, "ns/second");
            assert_eq!(r.verdict, Verdict::Failed);
            let error = r.error.as_ref().unwrap();
            assert_eq!(error.reason, reason::CONFLICT);
            assert!(
                error.message.contains("conflicts with ns/first"),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn two_phones_are_never_both_written() {
        let policies = [
            loaded("a", EmailMerge::Additive, Some("+1-555-0100")),
            loaded("b", EmailMerge::Additive, Some("+1-555-0199")),
            loaded("c", EmailMerge::Additive, None),
        ];
        let (acting, held_back) = hold_back_conflicts(&policies);
        let ids: Vec<String> = acting.iter().map(|p| p.id()).collect();
        assert_eq!(
            ids,
            ["ns/a", "ns/c"],
            "additive policies without a phone coexist"
        );
        assert!(held_back.iter().all(|r| r.policy == "ns/b"));
    }
}

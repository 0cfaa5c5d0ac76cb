//! `check` and `apply`: one pass over manifests against Azure, no cluster needed.
//!
//! observe (one GET per subscription, bounded concurrency) → plan (pure) → act (`apply` only:
//! PUT what the plan says, one policy after another on a subscription, each planned against
//! the state the previous write returned) → report. A failing subscription is reported and
//! the others carry on.

use std::collections::BTreeMap;

use futures::{StreamExt, stream};
use serde::Serialize;

pub use crate::outcome::{Failure, SubscriptionResult, Verdict};
use crate::{
    arm::{ArmClient, wire::ContactProperties},
    cis,
    crd::{EmailMerge, Mode},
    manifest::Loaded,
    plan,
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
        if self.results.iter().any(|r| r.verdict == Verdict::Failed) {
            EXIT_ERROR
        } else if self
            .results
            .iter()
            .any(|r| r.verdict == Verdict::NonCompliant)
        {
            EXIT_NON_COMPLIANT
        } else {
            EXIT_COMPLIANT
        }
    }
}

/// Runs `action` for every policy over its subscriptions.
pub async fn run(
    policies: &[Loaded],
    arm: &ArmClient,
    action: Action,
    concurrency: usize,
) -> Report {
    let (before_get, before_put, before_delete) = (
        arm.metrics().count("GET"),
        arm.metrics().count("PUT"),
        arm.metrics().count("DELETE"),
    );

    let targets = group_by_subscription(policies);
    let mut results: Vec<SubscriptionResult> = stream::iter(targets)
        .map(|(subscription, governing)| async move {
            match conflict(&governing) {
                Some(message) => governing
                    .iter()
                    .map(|p| {
                        failed(
                            p,
                            &subscription,
                            Failure::terminal("Conflict", message.clone()),
                        )
                    })
                    .collect(),
                None => reconcile_subscription(arm, &subscription, &governing, action).await,
            }
        })
        .buffer_unordered(concurrency.max(1))
        .flat_map(stream::iter)
        .collect()
        .await;
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
        results,
        arm_calls: ArmCalls {
            get: arm.metrics().count("GET") - before_get,
            put: arm.metrics().count("PUT") - before_put,
            delete: arm.metrics().count("DELETE") - before_delete,
        },
    }
}

/// Subscription (lower-cased) → the policies governing it, in manifest order.
fn group_by_subscription(policies: &[Loaded]) -> BTreeMap<String, Vec<&Loaded>> {
    let mut map: BTreeMap<String, Vec<&Loaded>> = BTreeMap::new();
    for policy in policies {
        for sub in &policy.policy.spec.subscriptions {
            let entry = map.entry(sub.to_ascii_lowercase()).or_default();
            if !entry.iter().any(|p| std::ptr::eq(*p, policy)) {
                entry.push(policy);
            }
        }
    }
    map
}

/// An Exact policy cannot share a subscription: whichever wrote last would undo the other.
fn conflict(governing: &[&Loaded]) -> Option<String> {
    if governing.len() < 2 {
        return None;
    }
    let exact = governing
        .iter()
        .find(|p| p.policy.spec.contact.email_merge == EmailMerge::Exact)?;
    let others: Vec<String> = governing
        .iter()
        .filter(|p| p.id() != exact.id())
        .map(|p| p.id())
        .collect();
    Some(format!(
        "{} uses emailMerge Exact but {} also governs this subscription; nothing was written",
        exact.id(),
        others.join(", ")
    ))
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
                .map(|p| failed(p, subscription, Failure::from(&e)))
                .collect();
        }
    };
    let mut results = Vec::with_capacity(governing.len());
    for policy in governing {
        let spec = &policy.policy.spec;
        let plan = plan::plan(&spec.contact, current.as_ref());
        let mut result = SubscriptionResult {
            policy: policy.id(),
            mode: spec.mode,
            subscription: subscription.to_owned(),
            verdict: if plan.is_compliant() {
                Verdict::Compliant
            } else {
                Verdict::NonCompliant
            },
            drift: plan.drift.clone(),
            changes: plan.changes.clone(),
            created: false,
            error: None,
            cis: Vec::new(),
        };
        let write =
            matches!(action, Action::Apply { dry_run: false }) && spec.mode == Mode::Enforce;
        if let (true, Some(desired)) = (write, &plan.desired) {
            match arm.put_contact(subscription, desired).await {
                Ok(written) => {
                    result.verdict = Verdict::Remediated;
                    result.created = written.created;
                    current = Some(written.contact.properties);
                }
                Err(e) => {
                    result.verdict = Verdict::Failed;
                    result.error = Some(Failure::from(&e));
                }
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

fn failed(policy: &Loaded, subscription: &str, failure: Failure) -> SubscriptionResult {
    SubscriptionResult {
        policy: policy.id(),
        mode: policy.policy.spec.mode,
        subscription: subscription.to_owned(),
        verdict: Verdict::Failed,
        drift: Vec::new(),
        changes: Vec::new(),
        created: false,
        error: Some(failure),
        cis: Vec::new(),
    }
}

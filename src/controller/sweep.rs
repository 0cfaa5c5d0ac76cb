//! One pass of one policy over its subscriptions: observe → plan → act.
//!
//! One GET per subscription (bounded concurrency). Enforce writes only what the plan says, and
//! writes to one subscription are serialized across every policy in the process: under the
//! subscription's lock the contact is read again and re-planned, so two policies never write
//! from the same stale read.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::{StreamExt, stream};

use crate::{
    arm::{ArmClient, wire::ContactProperties},
    cis,
    crd::{Mode, SecurityContactPolicySpec},
    emails,
    outcome::{Failure, SubscriptionResult, Verdict},
    plan,
};

/// One async lock per subscription, shared by every policy.
#[derive(Default)]
pub struct WriteLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl WriteLocks {
    pub fn lock_for(&self, subscription: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().expect("write-lock map");
        map.entry(subscription.to_ascii_lowercase())
            .or_default()
            .clone()
    }
}

pub struct Swept {
    pub results: Vec<SubscriptionResult>,
    /// Addresses this pass added, per subscription (for the Revert ledger).
    pub added: Vec<(String, Vec<String>)>,
}

pub async fn sweep(
    arm: &ArmClient,
    policy_id: &str,
    spec: &SecurityContactPolicySpec,
    locks: &WriteLocks,
    concurrency: usize,
) -> Swept {
    // Owned ids: a stream of borrowed ones trips the compiler's higher-ranked lifetime
    // inference once the future is spawned by the Controller.
    let outcomes: Vec<(SubscriptionResult, Vec<String>)> = stream::iter(spec.subscriptions.clone())
        .map(|sub| async move { one(arm, policy_id, spec, &sub, locks).await })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut results = Vec::with_capacity(outcomes.len());
    let mut added = Vec::new();
    for (result, new) in outcomes {
        if !new.is_empty() {
            added.push((result.subscription.clone(), new));
        }
        results.push(result);
    }
    results.sort_by(|a, b| a.subscription.cmp(&b.subscription));
    Swept { results, added }
}

async fn one(
    arm: &ArmClient,
    policy_id: &str,
    spec: &SecurityContactPolicySpec,
    subscription: &str,
    locks: &WriteLocks,
) -> (SubscriptionResult, Vec<String>) {
    let mut result = SubscriptionResult::new(policy_id, spec.mode, subscription);
    let fail = |result: SubscriptionResult, failure: Failure| (result.failed(failure), Vec::new());

    let observed = match read(arm, subscription).await {
        Ok(o) => o,
        Err(e) => return fail(result, Failure::from(&e)),
    };
    let first = plan::plan(&spec.contact, observed.as_ref());
    if first.is_compliant() || spec.mode == Mode::Audit {
        result.verdict = if first.is_compliant() {
            Verdict::Compliant
        } else {
            Verdict::NonCompliant
        };
        result.cis = cis::findings(observed.as_ref());
        result.drift = first.drift;
        result.changes = first.changes;
        return (result, Vec::new());
    }

    let lock = locks.lock_for(subscription);
    let _guard = lock.lock().await;
    let observed = match read(arm, subscription).await {
        Ok(o) => o,
        Err(e) => return fail(result, Failure::from(&e)),
    };
    let plan = plan::plan(&spec.contact, observed.as_ref());
    result.drift = plan.drift.clone();
    result.changes = plan.changes.clone();
    let Some(desired) = plan.desired else {
        result.cis = cis::findings(observed.as_ref());
        return (result, Vec::new());
    };
    match arm.put_contact(subscription, &desired).await {
        Ok(written) => {
            result.verdict = Verdict::Remediated;
            result.created = written.created;
            result.cis = cis::findings(Some(&written.contact.properties));
            (result, added(observed.as_ref(), &desired))
        }
        Err(e) => fail(result, Failure::from(&e)),
    }
}

/// Addresses in `after` that were not in `before`.
fn added(before: Option<&ContactProperties>, after: &ContactProperties) -> Vec<String> {
    let before = emails::split(before.and_then(|b| b.emails.as_deref()).unwrap_or_default());
    emails::split(after.emails.as_deref().unwrap_or_default())
        .into_iter()
        .filter(|a| !emails::contains(&before, a))
        .collect()
}

async fn read(
    arm: &ArmClient,
    subscription: &str,
) -> Result<Option<ContactProperties>, crate::arm::ArmError> {
    arm.get_contact(subscription)
        .await
        .map(|c| c.map(|c| c.properties))
}

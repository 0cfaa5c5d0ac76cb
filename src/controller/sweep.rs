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
    let outcome = arm
        .write_fresh(subscription, |current| {
            let plan = plan::plan(&spec.contact, current);
            plan.desired.clone().map(|desired| (desired, plan))
        })
        .await;
    let fresh = match outcome {
        Ok(fresh) => fresh,
        Err(e) => return fail(result, Failure::from(&e)),
    };
    result.cis = cis::findings(fresh.after.as_ref());
    let Some((plan, written)) = fresh.written else {
        // Someone else made it compliant between our two reads.
        return (result, Vec::new());
    };
    result.drift = plan.drift;
    result.changes = plan.changes;
    result.created = written.created;
    // Judge on what ARM holds now, not on what we sent.
    let check = plan::plan(&spec.contact, fresh.after.as_ref());
    result.verdict = if check.is_compliant() {
        Verdict::Remediated
    } else {
        result.drift = check.drift;
        Verdict::NonCompliant
    };
    let desired = plan.desired.unwrap_or_default();
    let added = added(fresh.before.as_ref(), &desired, fresh.after.as_ref());
    (result, added)
}

/// Addresses we wrote that were not there before and that ARM now holds: only those may ever be
/// counted as ours.
fn added(
    before: Option<&ContactProperties>,
    desired: &ContactProperties,
    after: Option<&ContactProperties>,
) -> Vec<String> {
    let list = |c: Option<&ContactProperties>| {
        emails::split(c.and_then(|c| c.emails.as_deref()).unwrap_or_default())
    };
    let (before, after) = (list(before), list(after));
    list(Some(desired))
        .into_iter()
        .filter(|a| !emails::contains(&before, a) && emails::contains(&after, a))
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

//! One pass of one policy over its subscriptions: observe → plan → act.
//!
//! Each subscription is a visit to the [`Desk`]: answered from a read shared with the other
//! policies when that read is news to this one, else from a read made under the
//! subscription's write lock, with at most one write that carries every waiting policy's
//! changes. Here the desk's answer becomes this policy's result and Revert ledger news.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{StreamExt, stream};
use tokio_util::sync::CancellationToken;

use super::desk::{Desk, Reply, Share, Visit};
use crate::{
    arm::{ArmClient, wire::ContactProperties},
    cis,
    crd::SecurityContactPolicySpec,
    emails,
    outcome::{SubscriptionResult, Verdict},
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
    /// What the Revert ledger must learn from this pass, per subscription that was read.
    pub ledger: Vec<LedgerNews>,
}

/// What one subscription's pass means for the Revert ledger.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LedgerNews {
    pub subscription: String,
    /// Addresses this pass added (absent before the write, present after it).
    pub added: Vec<String>,
    /// The write created the contact.
    pub created: bool,
    /// The addresses on the contact now; `None` when there is no contact.
    pub present: Option<Vec<String>>,
}

/// How a pass sees the contacts it reads: see [`super::desk`].
#[derive(Clone, Copy, Debug)]
pub struct Freshness {
    /// The spec changed since the last pass (see `newer_than`).
    pub fresh: bool,
    /// Reads made before this are not news to the policy: when its previous pass ended or,
    /// after a spec change, when a pass first saw the change.
    pub newer_than: Option<std::time::Instant>,
    /// The oldest read it accepts: its interval.
    pub max_age: Duration,
    /// A first pass while the start-up budget holds: each read it asks for waits for the
    /// start-up rate (reads shared with other policies cost nothing).
    pub budgeted: bool,
}

#[cfg(test)]
impl Freshness {
    /// Read every subscription now, whatever was read before.
    pub const FRESH: Freshness = Freshness {
        fresh: true,
        newer_than: None,
        max_age: Duration::ZERO,
        budgeted: false,
    };
}

pub async fn sweep(
    arm: &ArmClient,
    policy_id: &str,
    spec: &SecurityContactPolicySpec,
    desk: &Arc<Desk>,
    freshness: Freshness,
    concurrency: usize,
    stop_writing: &CancellationToken,
) -> Swept {
    // Every policy walks its subscriptions in the same (sorted) order, so policies that pass
    // together reach a subscription together and share its round.
    let mut subscriptions = spec.subscriptions.clone();
    subscriptions.sort_unstable_by_key(|s| s.to_ascii_lowercase());
    let visit = Visit {
        policy: policy_id.to_owned(),
        contact: spec.contact.clone(),
        mode: spec.mode,
        fresh: freshness.fresh,
        newer_than: freshness.newer_than,
        max_age: freshness.max_age,
        budgeted: freshness.budgeted,
    };
    let outcomes: Vec<(SubscriptionResult, Option<LedgerNews>)> = stream::iter(subscriptions)
        .map(|sub| {
            let visit = visit.clone();
            async move {
                let reply = desk.visit(arm, &sub, visit, stop_writing).await;
                one(policy_id, spec, &sub, reply)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut results = Vec::with_capacity(outcomes.len());
    let mut ledger = Vec::new();
    for (result, news) in outcomes {
        ledger.extend(news);
        results.push(result);
    }
    results.sort_by(|a, b| a.subscription.cmp(&b.subscription));
    Swept { results, ledger }
}

/// One subscription's result, from what the desk answered.
fn one(
    policy_id: &str,
    spec: &SecurityContactPolicySpec,
    subscription: &str,
    reply: Reply,
) -> (SubscriptionResult, Option<LedgerNews>) {
    let mut result = SubscriptionResult::new(policy_id, spec.mode, subscription);
    let share = match reply {
        Ok(share) => share,
        Err(failure) => return (result.failed(failure), None),
    };
    let mut news = LedgerNews {
        subscription: subscription.to_owned(),
        present: share.after.as_ref().map(addresses),
        ..LedgerNews::default()
    };
    result.cis = cis::findings(share.after.as_ref());
    let Some(plan) = share.written else {
        let now = plan::plan(&spec.contact, share.after.as_ref());
        result.verdict = if now.is_compliant() {
            Verdict::Compliant
        } else {
            Verdict::NonCompliant
        };
        result.drift = now.drift;
        result.changes = now.changes;
        return (result, Some(news));
    };
    result.drift = plan.drift;
    result.changes = plan.changes;
    result.created = share.created;
    result.changed_by = share.changed_by;
    // Judge on what ARM holds now, not on what we sent.
    let check = plan::plan(&spec.contact, share.after.as_ref());
    result.verdict = if check.is_compliant() {
        Verdict::Remediated
    } else {
        result.drift = check.drift;
        Verdict::NonCompliant
    };
    let desired = plan.desired.unwrap_or_default();
    news.added = added(share.before.as_ref(), &desired, share.after.as_ref());
    news.created = share.created;
    (result, Some(news))
}

/// What a write made for a policy and never heard by it (the policy is being deleted) means
/// for its Revert ledger.
pub fn unheard(subscription: &str, share: &Share) -> LedgerNews {
    let desired = share
        .written
        .as_ref()
        .and_then(|plan| plan.desired.clone())
        .unwrap_or_default();
    LedgerNews {
        subscription: subscription.to_owned(),
        added: added(share.before.as_ref(), &desired, share.after.as_ref()),
        created: share.created,
        present: share.after.as_ref().map(addresses),
    }
}

fn addresses(contact: &ContactProperties) -> Vec<String> {
    emails::split(contact.emails.as_deref().unwrap_or_default())
}

/// Addresses we wrote that were not there before and that ARM now holds: only those may ever be
/// counted as ours.
fn added(
    before: Option<&ContactProperties>,
    desired: &ContactProperties,
    after: Option<&ContactProperties>,
) -> Vec<String> {
    let list = |c: Option<&ContactProperties>| c.map(addresses).unwrap_or_default();
    let (before, after) = (list(before), list(after));
    list(Some(desired))
        .into_iter()
        .filter(|a| !emails::contains(&before, a) && emails::contains(&after, a))
        .collect()
}

//! One pass of one policy over its subscriptions: observe → plan → act.
//!
//! One GET per subscription (bounded concurrency). Enforce writes only what the plan says, and
//! writes to one subscription are serialized across every policy in the process: under the
//! subscription's lock the contact is read again and re-planned, so two policies never write
//! from the same stale read.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{StreamExt, stream};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tokio_util::sync::CancellationToken;

use crate::{
    arm::{ArmClient, fresh::Write, wire::ContactProperties},
    cis,
    crd::{Mode, SecurityContactPolicySpec},
    emails,
    outcome::{Failure, SubscriptionResult, Verdict},
    plan,
    validate::parse_interval,
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

pub async fn sweep(
    arm: &ArmClient,
    policy_id: &str,
    spec: &SecurityContactPolicySpec,
    locks: &WriteLocks,
    concurrency: usize,
    stop_writing: &CancellationToken,
) -> Swept {
    // Owned ids: a stream of borrowed ones trips the compiler's higher-ranked lifetime
    // inference once the future is spawned by the Controller.
    let outcomes: Vec<(SubscriptionResult, Option<LedgerNews>)> =
        stream::iter(spec.subscriptions.clone())
            .map(|sub| async move { one(arm, policy_id, spec, &sub, locks, stop_writing).await })
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

async fn one(
    arm: &ArmClient,
    policy_id: &str,
    spec: &SecurityContactPolicySpec,
    subscription: &str,
    locks: &WriteLocks,
    stop_writing: &CancellationToken,
) -> (SubscriptionResult, Option<LedgerNews>) {
    let mut result = SubscriptionResult::new(policy_id, spec.mode, subscription);
    let news = |present: Option<&ContactProperties>| LedgerNews {
        subscription: subscription.to_owned(),
        present: present.map(addresses),
        ..LedgerNews::default()
    };

    let observed = match read(arm, subscription).await {
        Ok(o) => o,
        Err(e) => return (result.failed(Failure::from(&e)), None),
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
        return (result, Some(news(observed.as_ref())));
    }

    let lock = locks.lock_for(subscription);
    let guard = lock.lock().await;
    // Writes before this instant are someone else's (ours come after).
    let before_ours = Timestamp::now();
    let mut stopped = false;
    let outcome = arm
        .write_fresh(subscription, |current| {
            // Checked right before each write: a replica that lost its lease or is shutting
            // down writes nothing more.
            if stop_writing.is_cancelled() {
                stopped = true;
                return None;
            }
            let plan = plan::plan(&spec.contact, current);
            plan.desired
                .clone()
                .map(|desired| (Write::Put(desired), plan))
        })
        .await;
    let fresh = match outcome {
        Ok(fresh) => fresh,
        Err(e) => return (result.failed(Failure::from(&e)), None),
    };
    if stopped {
        let failure = Failure {
            transient: true,
            ..Failure::terminal(
                "Stopping",
                "not written: this replica is shutting down or no longer leads",
            )
        };
        return (result.failed(failure), None);
    }
    result.cis = cis::findings(fresh.after.as_ref());
    let mut news = news(fresh.after.as_ref());
    let Some(plan) = fresh.written else {
        // Someone else made it compliant between our two reads.
        return (result, Some(news));
    };
    result.drift = plan.drift;
    result.changes = plan.changes;
    result.created = fresh.created;
    // Judge on what ARM holds now, not on what we sent.
    let check = plan::plan(&spec.contact, fresh.after.as_ref());
    result.verdict = if check.is_compliant() {
        Verdict::Remediated
    } else {
        result.drift = check.drift;
        Verdict::NonCompliant
    };
    let desired = plan.desired.unwrap_or_default();
    news.added = added(fresh.before.as_ref(), &desired, fresh.after.as_ref());
    news.created = fresh.created;
    // Drift on a contact we govern: ask the Activity Log who made it (one query, only now).
    // Not knowing is no failure: the write stands either way.
    let window = parse_interval(&spec.interval)
        .unwrap_or(Duration::from_secs(900))
        .saturating_mul(2)
        .clamp(
            Duration::from_secs(3600),
            Duration::from_secs(90 * 24 * 3600),
        );
    drop(guard);
    let from = before_ours
        .checked_sub(SignedDuration::try_from(window).unwrap_or(SignedDuration::from_hours(1)))
        .unwrap_or(before_ours);
    match arm
        .last_contact_write(subscription, from, before_ours)
        .await
    {
        Ok(writer) => {
            tracing::debug!(subscription, writer = ?writer, "Activity Log read on drift");
            result.changed_by = writer;
        }
        Err(e) => tracing::debug!(subscription, "Activity Log not read: {}", e.summary()),
    }
    (result, Some(news))
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

async fn read(
    arm: &ArmClient,
    subscription: &str,
) -> Result<Option<ContactProperties>, crate::arm::ArmError> {
    arm.get_contact(subscription)
        .await
        .map(|c| c.map(|c| c.properties))
}

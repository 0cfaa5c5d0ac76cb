//! The status, pure: (generation, previous status, what this pass found, now) → status.
//!
//! kstatus / Flux rules: `Ready` is always present; `Reconciling` and `Stalled` appear only
//! while True; every condition and the status itself carry `observedGeneration`;
//! `lastTransitionTime` moves only when a condition's status flips. Messages hold no
//! timestamps or counters that change between identical passes, so a steady state produces
//! an identical status and no write. The status stays far below 64 KiB whatever the number of
//! subscriptions: counts are totals, the detail list is capped.

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};

use crate::{
    crd::{
        Mode, SecurityContactPolicyStatus, SubscriptionStatus, Summary,
        condition::{READY, RECONCILING, STALLED},
    },
    outcome::{Failure, SubscriptionResult, Verdict},
};

/// Most subscriptions listed in `status.subscriptions`.
pub const MAX_LISTED: usize = 50;
/// Most missing addresses listed per subscription.
pub const MAX_LISTED_EMAILS: usize = 10;
/// Longest message kept, per subscription and per condition.
pub const MAX_MESSAGE: usize = 512;
/// The listed subscriptions stop before their JSON passes this many bytes, so the whole
/// status stays under 64 KiB however long the addresses and messages are.
pub const MAX_LIST_BYTES: usize = 48 * 1024;

pub use crate::outcome::reason;

/// What one reconcile of a policy came to.
#[derive(Clone, Debug)]
pub enum Pass {
    /// A pass on a new generation has begun; written first so people (and Argo CD / Flux)
    /// see progress during a long sweep instead of a stale status.
    Started { subscriptions: usize },
    /// `spec.suspend`: no Azure call was made.
    Suspended,
    /// Nothing was read: the whole policy failed (credentials, conflict with another policy).
    Blocked(Failure),
    /// Every subscription was looked at.
    Swept(Vec<SubscriptionResult>),
}

/// The status after `pass`, keeping transition times from `previous` where nothing flipped.
pub fn next(
    generation: Option<i64>,
    mode: Mode,
    previous: Option<&SecurityContactPolicyStatus>,
    pass: &Pass,
    now: Timestamp,
) -> SecurityContactPolicyStatus {
    let (mut status, verdict) = match pass {
        Pass::Started { subscriptions } => (
            carry_counts(previous),
            Overall::Reconciling(
                reason::PROGRESSING.into(),
                format!("checking {subscriptions} subscription(s) against the new spec"),
            ),
        ),
        Pass::Suspended => (
            carry_counts(previous),
            Overall::NotReady(
                reason::SUSPENDED.into(),
                "suspended: no Azure calls are made".into(),
            ),
        ),
        Pass::Blocked(failure) if failure.transient => (
            carry_counts(previous),
            Overall::Reconciling(failure.reason.clone(), clip(&failure.message)),
        ),
        Pass::Blocked(failure) => (
            carry_counts(previous),
            Overall::Stalled(failure.reason.clone(), clip(&failure.message)),
        ),
        Pass::Swept(results) => summarise(mode, results),
    };
    status.observed_generation = generation;

    let old = previous
        .map(|p| p.conditions.as_slice())
        .unwrap_or_default();
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        let last_transition_time = old
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or(Time(now));
        Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message: message.to_owned(),
            observed_generation: generation,
            last_transition_time,
        }
    };
    status.conditions = match verdict {
        Overall::Ready(message) => vec![condition(READY, "True", reason::COMPLIANT, &message)],
        Overall::NotReady(reason, message) => vec![condition(READY, "False", &reason, &message)],
        Overall::Reconciling(reason, message) => vec![
            condition(READY, "False", &reason, &message),
            condition(RECONCILING, "True", &reason, &message),
        ],
        Overall::Stalled(reason, message) => vec![
            condition(READY, "False", &reason, &message),
            condition(STALLED, "True", &reason, &message),
        ],
    };
    status
}

enum Overall {
    Ready(String),
    NotReady(String, String),
    Reconciling(String, String),
    Stalled(String, String),
}

/// Counts and the failure list stay as last observed while nothing new was learned.
fn carry_counts(previous: Option<&SecurityContactPolicyStatus>) -> SecurityContactPolicyStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.conditions.clear();
    status
}

fn summarise(mode: Mode, results: &[SubscriptionResult]) -> (SecurityContactPolicyStatus, Overall) {
    let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count() as i32;
    let summary = Summary {
        total: results.len() as i32,
        compliant: count(Verdict::Compliant) + count(Verdict::Remediated),
        non_compliant: count(Verdict::NonCompliant),
        failed: count(Verdict::Failed),
    };
    let failures: Vec<&Failure> = results.iter().filter_map(|r| r.error.as_ref()).collect();
    let terminal: Vec<&&Failure> = failures.iter().filter(|f| !f.transient).collect();
    let transient: Vec<&&Failure> = failures.iter().filter(|f| f.transient).collect();
    let compliance = format!("{}/{}", summary.compliant, summary.total);

    let overall = if let Some(first) = terminal.first() {
        Overall::Stalled(
            first.reason.clone(),
            failure_message(&terminal, summary.total),
        )
    } else if let Some(first) = transient.first() {
        Overall::Reconciling(
            first.reason.clone(),
            failure_message(&transient, summary.total),
        )
    } else if summary.non_compliant > 0 {
        let message = format!(
            "{} of {} subscriptions not compliant{}",
            summary.non_compliant,
            summary.total,
            if mode == Mode::Audit {
                " (Audit: nothing is written)"
            } else {
                ""
            }
        );
        Overall::Stalled(reason::NON_COMPLIANT.into(), message)
    } else {
        Overall::Ready(format!("{compliance} subscriptions compliant"))
    };

    let mut listed: Vec<&SubscriptionResult> = results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Failed | Verdict::NonCompliant))
        .collect();
    // Worst first: what a person must fix, then what we are retrying, then drift.
    listed.sort_by_key(|r| {
        let rank = match &r.error {
            Some(f) if !f.transient => 0,
            Some(_) => 1,
            None => 2,
        };
        (rank, r.subscription.clone())
    });
    let entries = listed.into_iter().take(MAX_LISTED).map(|r| {
        let (reason, message) = match &r.error {
            Some(f) => (f.reason.clone(), clip(&f.message)),
            None => (
                reason::NON_COMPLIANT.to_owned(),
                clip(
                    &r.drift
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            ),
        };
        let missing = r
            .drift
            .iter()
            .find_map(|d| match d {
                crate::plan::Drift::ContactMissing { emails }
                | crate::plan::Drift::MissingEmails { emails } => {
                    Some(emails.iter().take(MAX_LISTED_EMAILS).cloned().collect())
                }
                _ => None,
            })
            .unwrap_or_default();
        SubscriptionStatus {
            subscription_id: r.subscription.clone(),
            reason,
            message,
            missing_emails: missing,
        }
    });
    let mut subscriptions = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        bytes += serde_json::to_vec(&entry)
            .map(|v| v.len())
            .unwrap_or(MAX_LIST_BYTES);
        if bytes > MAX_LIST_BYTES {
            break;
        }
        subscriptions.push(entry);
    }

    let status = SecurityContactPolicyStatus {
        observed_generation: None,
        conditions: Vec::new(),
        compliance: Some(compliance),
        summary: Some(summary),
        last_restore: None,
        tenant_contact: None,
        selection: None,
        exclusions: Vec::new(),
        subscriptions,
    };
    (status, overall)
}

fn failure_message(failures: &[&&Failure], total: i32) -> String {
    let first = failures[0];
    let message = if failures.len() == 1 {
        format!("1 of {total} subscriptions failed: {}", first.message)
    } else {
        format!(
            "{} of {total} subscriptions failed; first: {}",
            failures.len(),
            first.message
        )
    };
    clip(&message)
}

fn clip(message: &str) -> String {
    crate::text::clip(message, MAX_MESSAGE)
}

#[cfg(test)]
mod tests;

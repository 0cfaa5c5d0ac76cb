//! What a pass leaves behind, pure: (status before, status after, what happened) → the status
//! to write (only when it changed), the Events to publish (only on transitions and writes), and
//! how to requeue. The reconcile function carries these out and decides nothing itself.

use std::time::Duration;

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Condition, jiff::Timestamp};
use kube::{Resource, runtime::events::EventType};

use crate::{
    controller::status::{self, Pass},
    crd::{
        SecurityContactPolicy, SecurityContactPolicyStatus, SelectionStatus,
        condition::{CONTESTED, READY},
    },
    exclusions,
    outcome::Verdict,
    outcome::reason,
};

/// An Event to publish about the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub type_: EventType,
    pub reason: String,
    pub note: String,
}

impl Note {
    pub fn normal(reason: &str, note: impl Into<String>) -> Self {
        Note {
            type_: EventType::Normal,
            reason: reason.to_owned(),
            note: note.into(),
        }
    }

    pub fn warning(reason: &str, note: impl Into<String>) -> Self {
        Note {
            type_: EventType::Warning,
            reason: reason.to_owned(),
            note: note.into(),
        }
    }
}

/// A pass that must be retried sooner than the interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Retry {
    pub reason: String,
    pub message: String,
    pub retry_after: Option<Duration>,
}

/// Everything a pass writes back to Kubernetes.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The status to write, or `None` when it is what the cluster already holds.
    pub status: Option<SecurityContactPolicyStatus>,
    pub events: Vec<Note>,
    /// `Some` when a transient failure means "try again soon"; `None` means "see you at the
    /// next interval".
    pub retry: Option<Retry>,
}

/// The status to write before a pass on a new generation, so people (and Argo CD / Flux) see
/// progress during a long sweep. `None` when the generation was already observed or the
/// policy is suspended.
pub fn progressing(
    policy: &SecurityContactPolicy,
    now: Timestamp,
) -> Option<SecurityContactPolicyStatus> {
    let generation = policy.meta().generation;
    let previous = policy.status.as_ref();
    if policy.spec.suspend || previous.and_then(|s| s.observed_generation) == generation {
        return None;
    }
    let started = Pass::Started {
        subscriptions: policy.spec.subscriptions.len(),
    };
    let mut next = status::next(generation, policy.spec.mode, previous, &started, now);
    with_exclusions(&mut next, policy, now);
    Some(next)
}

/// The drift this pass restored (the first, by subscription), with who made it.
fn last_restore(pass: &Pass) -> Option<crate::crd::RestoreStatus> {
    let Pass::Swept(results) = pass else {
        return None;
    };
    let r = results.iter().find(|r| r.verdict == Verdict::Remediated)?;
    let changes: Vec<String> = r.changes.iter().map(ToString::to_string).collect();
    let by = r
        .changed_by
        .as_ref()
        .map(|w| format!(" changed by {w},"))
        .unwrap_or_default();
    Some(crate::crd::RestoreStatus {
        subscription_id: r.subscription.clone(),
        changed_by: r.changed_by.as_ref().map(ToString::to_string),
        message: crate::text::clip(
            &format!("{}{by} restored: {}", r.subscription, changes.join(", ")),
            1024,
        ),
    })
}

/// `Contested` while another writer keeps undoing this policy's contact on some
/// subscriptions: True only while so (kstatus ignores condition types it does not know, so
/// this never blocks a rollout), naming the other writer the Activity Log last showed.
fn with_contested(
    status: &mut SecurityContactPolicyStatus,
    holds: Option<&SecurityContactPolicyStatus>,
    contested: &[Contest],
    now: Timestamp,
) {
    let Some(first) = contested.first() else {
        return;
    };
    let writer = first
        .writer
        .as_ref()
        .map_or("another writer".to_owned(), |w| w.to_string());
    let more = if contested.len() > 1 {
        format!(" (and {} more subscriptions)", contested.len() - 1)
    } else {
        String::new()
    };
    let message = format!(
        "{} drifted again {} passes in a row, last changed by {writer}; this policy keeps \
         restoring it, so another writer (an Azure Policy remediation, a pipeline, a person) \
         is fighting it{more}: make them agree or exclude the subscription",
        first.subscription, first.passes
    );
    let since = holds
        .and_then(|h| {
            h.conditions
                .iter()
                .find(|c| c.type_ == CONTESTED && c.status == "True")
        })
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now));
    status
        .conditions
        .push(k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
            type_: CONTESTED.to_owned(),
            status: "True".to_owned(),
            reason: "Contested".to_owned(),
            message: crate::text::clip(&message, 32_768),
            observed_generation: status.observed_generation,
            last_transition_time: since,
        });
}

/// The exclusions as they stand at `now`; an expired one is named in the Ready message, since
/// its subscription is governed again.
fn with_exclusions(
    status: &mut SecurityContactPolicyStatus,
    policy: &SecurityContactPolicy,
    now: Timestamp,
) {
    status.exclusions = exclusions::statuses(&policy.spec, now);
    let expired: Vec<String> = status
        .exclusions
        .iter()
        .filter(|e| e.expired)
        .map(|e| {
            format!(
                "the exclusion of {} expired at {}: it is governed again",
                e.subscription_id,
                e.expires.as_deref().unwrap_or_default()
            )
        })
        .collect();
    if expired.is_empty() {
        return;
    }
    if let Some(ready) = status.conditions.iter_mut().find(|c| c.type_ == READY) {
        ready.message = crate::text::clip(
            &format!("{}; {}", ready.message, expired.join("; ")),
            32_768,
        );
    }
}

/// The record of `pass`. `before` is the status the pass started from (what Events compare
/// against); `written` is what the cluster holds now (the Progressing status, if one was
/// written this pass, else `before`).
/// A subscription whose contact this policy restored pass after pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contest {
    pub subscription: String,
    /// Consecutive passes that found drift and restored it.
    pub passes: u32,
    /// The last other writer the Activity Log named.
    pub writer: Option<crate::arm::ContactWrite>,
}

/// Passes in a row that must restore the same subscription before it is called contested.
pub const CONTESTED_AFTER: u32 = 3;

/// Updates the restore streaks of one policy (`streaks`, by subscription) with a pass's
/// results and returns the subscriptions contested now. A compliant pass ends a streak.
pub fn contests(
    streaks: &mut std::collections::HashMap<String, Contest>,
    results: &[crate::outcome::SubscriptionResult],
) -> Vec<Contest> {
    // A subscription the policy no longer governs is in no fight of this policy's.
    streaks.retain(|s, _| results.iter().any(|r| r.subscription == *s));
    for r in results {
        match r.verdict {
            Verdict::Remediated => {
                let entry = streaks.entry(r.subscription.clone()).or_insert(Contest {
                    subscription: r.subscription.clone(),
                    passes: 0,
                    writer: None,
                });
                entry.passes += 1;
                if r.changed_by.is_some() {
                    entry.writer = r.changed_by.clone();
                }
            }
            Verdict::Compliant => {
                streaks.remove(&r.subscription);
            }
            _ => {}
        }
    }
    contested(streaks)
}

/// The subscriptions contested according to `streaks`, by id.
pub fn contested(streaks: &std::collections::HashMap<String, Contest>) -> Vec<Contest> {
    let mut contested: Vec<Contest> = streaks
        .values()
        .filter(|c| c.passes >= CONTESTED_AFTER)
        .cloned()
        .collect();
    contested.sort_by(|a, b| a.subscription.cmp(&b.subscription));
    contested
}

/// What a pass learned besides its results.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extras<'a> {
    pub selection: Option<&'a SelectionStatus>,
    pub contested: &'a [Contest],
    /// The tenant contact's verdict, when this pass got to it.
    pub tenant: Option<&'a crate::crd::TenantContactStatus>,
}

pub fn record(
    policy: &SecurityContactPolicy,
    written: Option<&SecurityContactPolicyStatus>,
    pass: &Pass,
    extras: Extras<'_>,
    now: Timestamp,
) -> Record {
    let selection = extras.selection;
    let before = policy.status.as_ref();
    let holds = written.or(before);
    let mut next = status::next(policy.meta().generation, policy.spec.mode, holds, pass, now);
    with_exclusions(&mut next, policy, now);
    // What the selector found: this pass's, else the last known (a pass that did not get as
    // far as resolving learned nothing new); none once the selector is gone.
    next.selection = policy.spec.subscription_selector.as_ref().and(
        selection
            .cloned()
            .or_else(|| holds.and_then(|h| h.selection.clone())),
    );
    with_contested(&mut next, holds, extras.contested, now);
    next.last_restore = last_restore(pass).or_else(|| holds.and_then(|h| h.last_restore.clone()));
    next.tenant_contact = policy.spec.tenant_contact.as_ref().and(
        extras
            .tenant
            .cloned()
            .or_else(|| holds.and_then(|h| h.tenant_contact.clone())),
    );
    let events = events(before, &next, pass);
    Record {
        status: (holds != Some(&next)).then_some(next),
        events,
        retry: retry(pass),
    }
}

/// Events on transitions only: a write made to Azure, and the Ready condition changing.
pub fn events(
    before: Option<&SecurityContactPolicyStatus>,
    next: &SecurityContactPolicyStatus,
    pass: &Pass,
) -> Vec<Note> {
    let mut notes = Vec::new();
    if let Pass::Swept(results) = pass {
        let written: Vec<String> = results
            .iter()
            .filter(|r| r.verdict == Verdict::Remediated)
            .map(|r| {
                let changes: Vec<String> = r.changes.iter().map(ToString::to_string).collect();
                let verb = if r.created { "created" } else { "updated" };
                let by = r
                    .changed_by
                    .as_ref()
                    .map(|w| format!(" (changed by {w}; restored)"))
                    .unwrap_or_default();
                format!("{} {verb}: {}{by}", r.subscription, changes.join(", "))
            })
            .collect();
        if !written.is_empty() {
            notes.push(Note::normal("Remediated", written.join("; ")));
        }
    }
    let was_expired = |subscription: &str| {
        before.is_some_and(|b| {
            b.exclusions
                .iter()
                .any(|e| e.expired && e.subscription_id == subscription)
        })
    };
    for e in next.exclusions.iter().filter(|e| e.expired) {
        if !was_expired(&e.subscription_id) {
            notes.push(Note::normal(
                "ExclusionExpired",
                format!(
                    "{}: the exclusion ({}) expired at {}; the subscription is governed again",
                    e.subscription_id,
                    e.reason,
                    e.expires.as_deref().unwrap_or_default()
                ),
            ));
        }
    }
    fn contested(s: Option<&SecurityContactPolicyStatus>) -> Option<&Condition> {
        s.and_then(|s| s.conditions.iter().find(|c| c.type_ == CONTESTED))
    }
    if let (None, Some(c)) = (contested(before), contested(Some(next))) {
        notes.push(Note::warning("Contested", c.message.clone()));
    }
    let ready = |s: Option<&SecurityContactPolicyStatus>| {
        s.and_then(|s| s.conditions.iter().find(|c| c.type_ == READY))
            .map(|c| (c.status.clone(), c.reason.clone()))
    };
    if ready(before) != ready(Some(next))
        && let Some(condition) = next.conditions.iter().find(|c| c.type_ == READY)
    {
        let calm = condition.status == "True" || condition.reason == reason::SUSPENDED;
        let note = if calm { Note::normal } else { Note::warning };
        notes.push(note(&condition.reason, condition.message.clone()));
    }
    notes
}

/// The transient failures of a pass, folded into one retry that waits at least as long as the
/// longest `Retry-After` among them.
pub fn retry(pass: &Pass) -> Option<Retry> {
    let transient: Vec<_> = match pass {
        Pass::Swept(results) => results
            .iter()
            .filter_map(|r| r.error.as_ref())
            .filter(|f| f.transient)
            .collect(),
        Pass::Blocked(f) if f.transient => vec![f],
        _ => Vec::new(),
    };
    let first = transient.first()?;
    Some(Retry {
        reason: first.reason.clone(),
        message: first.message.clone(),
        retry_after: transient.iter().filter_map(|f| f.retry_after).max(),
    })
}

/// Backoff after `attempt` failed passes in a row: 5 s doubling to 5 min, never sooner than
/// ARM's `Retry-After`, and never later than `cap` whatever `Retry-After` says (a hostile or
/// broken `Retry-After: 99999999` must not stop drift checks for months). `jitter` in
/// [0.9, 1.1] spreads retries of many policies.
pub fn backoff(
    attempt: u32,
    retry_after: Option<Duration>,
    cap: Duration,
    jitter: f64,
) -> Duration {
    let doubling = Duration::from_secs(5)
        .saturating_mul(1u32 << attempt.clamp(1, 7).saturating_sub(1))
        .min(Duration::from_secs(300));
    doubling
        .mul_f64(jitter)
        .max(retry_after.unwrap_or_default())
        .min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        controller::fixtures::{PolicyBuilder, swept},
        outcome::Failure,
    };

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn a_new_generation_shows_progress_once() {
        let fresh = PolicyBuilder::new("p").generation(2).build();
        let progressing = progressing(&fresh, at(0)).expect("new generation");
        let reconciling = progressing
            .conditions
            .iter()
            .find(|c| c.type_ == "Reconciling")
            .expect("Reconciling");
        assert_eq!(reconciling.reason, reason::PROGRESSING);
        assert_eq!(progressing.observed_generation, Some(2));

        let seen = PolicyBuilder::new("p")
            .generation(2)
            .status(progressing)
            .build();
        assert_eq!(super::progressing(&seen, at(1)), None);
        let suspended = PolicyBuilder::new("p").generation(3).suspended().build();
        assert_eq!(super::progressing(&suspended, at(1)), None);
    }

    #[test]
    fn steady_state_writes_nothing_and_says_nothing() {
        let pass = swept(&[("s1", Verdict::Compliant)]);
        let first = record(
            &PolicyBuilder::new("p").build(),
            None,
            &pass,
            Extras::default(),
            at(0),
        );
        let status = first.status.clone().expect("first status");
        assert_eq!(
            first.events.len(),
            1,
            "Ready became True: {:?}",
            first.events
        );
        assert_eq!(first.events[0].reason, reason::COMPLIANT);

        let steady = PolicyBuilder::new("p").status(status).build();
        let again = record(&steady, None, &pass, Extras::default(), at(600));
        assert_eq!(
            again,
            Record {
                status: None,
                events: vec![],
                retry: None
            }
        );
    }

    #[test]
    fn a_write_is_announced_and_recorded_even_when_ready_does_not_flip() {
        let before = record(
            &PolicyBuilder::new("p").build(),
            None,
            &swept(&[("s1", Verdict::Compliant)]),
            Extras::default(),
            at(0),
        )
        .status
        .unwrap();
        let policy = PolicyBuilder::new("p").status(before).build();
        let r = record(
            &policy,
            None,
            &swept(&[("s1", Verdict::Remediated)]),
            Extras::default(),
            at(60),
        );
        // Still 1/1 compliant: the only news is what was restored (status.lastRestore).
        let written = r.status.expect("the restore is recorded");
        assert_eq!(
            written
                .last_restore
                .as_ref()
                .map(|l| l.subscription_id.as_str()),
            Some("s1")
        );
        assert_eq!(
            SecurityContactPolicyStatus {
                last_restore: None,
                ..written
            },
            policy.status.clone().unwrap(),
            "nothing else changed"
        );
        assert_eq!(r.events.len(), 1);
        assert_eq!(r.events[0].reason, "Remediated");
        assert_eq!(r.events[0].type_, EventType::Normal);
    }

    #[test]
    fn events_compare_with_the_status_before_the_progressing_write() {
        // New generation: Progressing was written this pass, then the sweep came back
        // compliant. Ready went False(Progressing) -> True within the pass, but the event
        // compares with what people saw before the pass.
        let policy = PolicyBuilder::new("p").generation(1).build();
        let progressing = progressing(&policy, at(0)).unwrap();
        let r = record(
            &policy,
            Some(&progressing),
            &swept(&[("s1", Verdict::Compliant)]),
            Extras::default(),
            at(1),
        );
        assert!(r.status.is_some(), "Progressing must be replaced");
        assert_eq!(
            r.events
                .iter()
                .map(|n| n.reason.as_str())
                .collect::<Vec<_>>(),
            [reason::COMPLIANT]
        );
    }

    #[test]
    fn transient_failures_retry_after_the_longest_retry_after() {
        let mut pass = swept(&[("s1", Verdict::Failed), ("s2", Verdict::Failed)]);
        if let Pass::Swept(results) = &mut pass {
            for (r, secs) in results.iter_mut().zip([3, 9]) {
                r.error = Some(Failure {
                    transient: true,
                    retry_after: Some(Duration::from_secs(secs)),
                    ..Failure::terminal("TooManyRequests", "throttled")
                });
            }
        }
        let retry = retry(&pass).expect("transient");
        assert_eq!(retry.reason, "TooManyRequests");
        assert_eq!(retry.retry_after, Some(Duration::from_secs(9)));
        let blocked = Pass::Blocked(Failure::terminal(reason::CONFLICT, "older policy"));
        assert_eq!(
            super::retry(&blocked),
            None,
            "a person must act: no fast retry"
        );
    }

    #[test]
    fn backoff_doubles_to_five_minutes_and_caps_retry_after() {
        let hour = Duration::from_secs(3600);
        let waits: Vec<u64> = (1..=9)
            .map(|n| backoff(n, None, hour, 1.0).as_secs())
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        let retry_after = Some(Duration::from_secs(30));
        assert_eq!(backoff(1, retry_after, hour, 1.0), Duration::from_secs(30));
        let absurd = Some(Duration::from_secs(99_999_999));
        assert_eq!(
            backoff(1, absurd, Duration::from_secs(600), 1.0),
            Duration::from_secs(600)
        );
    }

    #[test]
    fn three_restores_in_a_row_are_contested_naming_the_writer_and_a_compliant_pass_ends_it() {
        let writer = crate::arm::ContactWrite {
            caller: "ops-admin@contoso.com".into(),
            at: "2026-11-28T10:02:13.1234567Z".into(),
        };
        let restored = || {
            let mut r =
                crate::outcome::SubscriptionResult::new("ns/p", crate::crd::Mode::Enforce, "s1");
            r.verdict = Verdict::Remediated;
            r.changed_by = Some(writer.clone());
            r
        };
        let mut streaks = std::collections::HashMap::new();
        assert!(contests(&mut streaks, &[restored()]).is_empty());
        assert!(contests(&mut streaks, &[restored()]).is_empty());
        let contested = contests(&mut streaks, &[restored()]);
        assert_eq!(contested.len(), 1);
        assert_eq!(contested[0].passes, 3);

        let policy = PolicyBuilder::new("p").build();
        let r = record(
            &policy,
            None,
            &Pass::Swept(vec![restored()]),
            Extras {
                selection: None,
                contested: &contested,
                tenant: None,
            },
            at(0),
        );
        let status = r.status.expect("a status");
        let c = status
            .conditions
            .iter()
            .find(|c| c.type_ == CONTESTED)
            .expect("Contested");
        assert_eq!(c.status, "True");
        assert!(
            c.message
                .contains("last changed by ops-admin@contoso.com at 10:02 UTC on 2026-11-28"),
            "{}",
            c.message
        );
        assert!(r.events.iter().any(|n| n.reason == "Contested"));
        let restore = status.last_restore.as_ref().expect("status.lastRestore");
        assert_eq!(
            restore.changed_by.as_deref(),
            Some("ops-admin@contoso.com at 10:02 UTC on 2026-11-28")
        );
        let remediated = r.events.iter().find(|n| n.reason == "Remediated").unwrap();
        assert!(
            remediated.note.contains("changed by ops-admin@contoso.com"),
            "{}",
            remediated.note
        );

        let mut fine = restored();
        fine.verdict = Verdict::Compliant;
        assert!(contests(&mut streaks, &[fine]).is_empty());
        let calm = record(
            &PolicyBuilder::new("p").status(status).build(),
            None,
            &swept(&[("s1", Verdict::Compliant)]),
            Extras::default(),
            at(60),
        );
        assert!(
            !calm
                .status
                .expect("Contested goes away")
                .conditions
                .iter()
                .any(|c| c.type_ == CONTESTED)
        );
    }
}

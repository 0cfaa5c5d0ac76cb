//! Deletion. Orphan leaves Azure as it is. Revert takes off each subscription the addresses
//! this policy added (the ledger), unless another live policy requires them; what comes off is
//! decided by the engine ([`crate::plan::revert`]) from a fresh read under the subscription's
//! write lock. A contact this policy created and that holds nothing else is deleted; a
//! contact someone else created is never left without an address.
//!
//! Deletion never loses track: while Revert cannot run (the token endpoint is down, ARM
//! throttles) the finalizer stays and the pass is retried with backoff, the ledger kept. When
//! it cannot run without a person (the credentials are gone, the ledger is unreadable), the
//! policy shows `Stalled` with what to do, and the annotation [`FINISH_AS_ORPHAN`] lets that
//! person finish the deletion as Orphan. A subscription that can no longer be written (403,
//! gone) is reported and skipped, so deletion never hangs on it.

use k8s_openapi::jiff::Timestamp;
use kube::{Resource, ResourceExt, runtime::controller::Action};

use super::{
    FINISH_AS_ORPHAN,
    context::Context,
    events, gate, ledger,
    reconcile::{patch_status, policy_id, update_ledger},
    record::Note,
    status::{self, Pass},
    sweep,
};
use crate::{
    Error, Result,
    arm::{ArmError, fresh::Write},
    crd::{DeletionPolicy, Mode, SecurityContactPolicy},
    emails, exclusions,
    outcome::Failure,
    overlap::{self, Contender},
    plan::{self, RevertAction},
};

/// Why Revert stopped before it was done.
enum Halt {
    /// Retrying may help (throttling, ARM or the token endpoint unavailable).
    Retry(Failure, Error),
    /// A person must act; the failure says what to do.
    Blocked(Failure),
}

pub async fn cleanup(policy: &SecurityContactPolicy, ctx: &Context) -> Result<Action> {
    // Nothing more is written for this policy. What rounds wrote for it and it never heard
    // is its own as much as what it wrote itself: into the ledger before Revert reads it.
    let unheard = ctx.desk.withdraw(&policy_id(policy));
    if !unheard.is_empty()
        && policy.spec.deletion_policy == DeletionPolicy::Revert
        && policy.spec.mode == Mode::Enforce
    {
        let news: Vec<_> = unheard
            .iter()
            .map(|(sub, share)| sweep::unheard(sub, share))
            .collect();
        update_ledger(policy, ctx, &news).await?;
    }
    let mut notes = Vec::new();
    let halt = revert(policy, ctx, &mut notes).await;
    events::publish(ctx, policy, &notes).await;
    let (failure, error) = match halt {
        None => {
            ledger::delete(&ctx.ledgers, policy).await?;
            ctx.forget(policy);
            ctx.metrics.forget(&policy_id(policy));
            if let Some(uid) = policy.uid() {
                ctx.ledger_cache.lock().expect("ledger cache").remove(&uid);
                ctx.selections.lock().expect("selections").remove(&uid);
                ctx.streaks.lock().expect("streaks").remove(&uid);
                ctx.passes.lock().expect("passes").remove(&uid);
            }
            return Ok(Action::await_change());
        }
        Some(Halt::Retry(failure, error)) => (failure, error),
        Some(Halt::Blocked(failure)) => {
            let error = Error::CleanupBlocked(failure.message.clone());
            (failure, error)
        }
    };
    // Say on the policy itself why it is still there; the finalizer stays.
    let blocked = Pass::Blocked(failure);
    let next = status::next(
        policy.meta().generation,
        policy.spec.mode,
        policy.status.as_ref(),
        &blocked,
        Timestamp::now(),
    );
    if policy.status.as_ref() != Some(&next) {
        patch_status(policy, ctx, &next).await?;
    }
    Err(error)
}

/// What a person can do when Revert cannot finish.
fn way_out(policy: &SecurityContactPolicy) -> String {
    format!(
        "fix it and Revert resumes, or finish the deletion without Revert (the addresses stay): \
         kubectl annotate securitycontactpolicy {} -n {} {FINISH_AS_ORPHAN}=true",
        policy.name_any(),
        policy.namespace().unwrap_or_default()
    )
}

fn blocked(policy: &SecurityContactPolicy, reason: &str, why: &str) -> Halt {
    Halt::Blocked(Failure::terminal(
        reason,
        format!("cannot revert: {why}; {}", way_out(policy)),
    ))
}

fn retry_arm(e: ArmError) -> Halt {
    Halt::Retry(Failure::from(&e), Error::Arm(e))
}

/// Reverts what the ledger says; `None` when done.
async fn revert(
    policy: &SecurityContactPolicy,
    ctx: &Context,
    notes: &mut Vec<Note>,
) -> Option<Halt> {
    if policy
        .annotations()
        .get(FINISH_AS_ORPHAN)
        .map(String::as_str)
        == Some("true")
    {
        if policy.spec.deletion_policy == DeletionPolicy::Revert {
            notes.push(Note::warning(
                "RevertAbandoned",
                format!("{FINISH_AS_ORPHAN}=true: deletion finished as Orphan; the addresses this policy added stay"),
            ));
        }
        return None;
    }
    if policy.spec.deletion_policy == DeletionPolicy::Orphan || policy.spec.mode == Mode::Audit {
        return None;
    }
    // "Still required by another live policy" is judged on the whole cache, not on the part a
    // restart has listed so far.
    if ctx.store.wait_until_ready().await.is_err() {
        let f = Failure {
            transient: true,
            ..Failure::terminal("ShuttingDown", "the operator is stopping")
        };
        return Some(Halt::Retry(f, Error::Shutdown));
    }
    let record = match ledger::load(&ctx.ledgers, policy).await {
        Ok(record) => record,
        Err(e @ Error::LedgerUnreadable { .. }) => {
            return Some(blocked(policy, "LedgerUnreadable", &e.to_string()));
        }
        Err(e) => {
            let f = Failure {
                transient: true,
                ..Failure::terminal("LedgerUnavailable", e.to_string())
            };
            return Some(Halt::Retry(f, e));
        }
    };
    if record.is_empty() {
        return None;
    }
    // Only subscriptions the namespace may still revert through this identity: an access
    // object withdrawn since the addresses were added withdraws Revert too.
    let judge = ctx.access.judge();
    let now = k8s_openapi::jiff::Timestamp::now();
    // An actively excluded subscription is never read or written, Revert included.
    let governed = exclusions::governed(&policy.spec, now);
    let excluded = |s: &str| {
        policy
            .spec
            .subscriptions
            .iter()
            .any(|p| p.eq_ignore_ascii_case(s))
            && !governed
                .subscriptions
                .iter()
                .any(|g| g.eq_ignore_ascii_case(s))
    };
    let (subscriptions, refused): (Vec<&String>, Vec<&String>) = record
        .subscriptions()
        .filter(|s| !excluded(s))
        .partition(|s| judge.permits_revert(policy, s));
    if !refused.is_empty() {
        notes.push(Note::warning(
            "RevertSkipped",
            format!(
                "{}{}: not reverted: no SecurityContactAccess lets namespace {} revert there",
                refused[0],
                if refused.len() > 1 {
                    format!(" (and {} more)", refused.len() - 1)
                } else {
                    String::new()
                },
                policy.namespace().unwrap_or_default()
            ),
        ));
    }
    if subscriptions.is_empty() {
        return None;
    }
    let arm = match ctx
        .clients
        .client_for(&ctx.client, &ctx.azure, policy)
        .await
    {
        Ok(arm) => arm,
        Err(f) if f.transient => {
            let e = Error::Transient {
                reason: f.reason.clone(),
                message: f.message.clone(),
                retry_after: f.retry_after,
            };
            return Some(Halt::Retry(f, e));
        }
        Err(f) => return Some(blocked(policy, &f.reason, &f.message)),
    };
    match arm.check_credential().await {
        Ok(()) => {}
        Err(e) if e.is_transient() => return Some(retry_arm(e)),
        Err(e) => return Some(blocked(policy, e.reason(), &e.summary())),
    }

    let all = ctx.store.state();
    // A policy that may not act has no say in what stays, nor one that excludes the
    // subscription.
    let governed_others: Vec<_> = gate::live_others(policy, all.iter().map(AsRef::as_ref))
        .filter_map(|p| {
            judge
                .standing(p)
                .ok()
                .map(|tier| (p, tier, ctx.governed(p, now)))
        })
        .collect();
    let others: Vec<Contender<'_>> = governed_others
        .iter()
        .map(|(p, tier, spec)| gate::contender(p, spec, *tier))
        .collect();
    let required = overlap::Required::new(&others);
    let mut reverted = Vec::new();
    for subscription in subscriptions {
        let added = record.added(subscription);
        let required = required.on(subscription);
        if added.iter().all(|a| emails::contains(required, a)) {
            continue;
        }
        let created = record.created(subscription);
        let lock = ctx.desk.locks.lock_for(subscription);
        let _guard = lock.lock().await;
        let mut left = None;
        let mut stopped = false;
        let outcome = arm
            .write_fresh(subscription, |current| {
                if ctx.stop_writing.is_cancelled() {
                    stopped = true;
                    return None;
                }
                let r = plan::revert(current, &added, required, created)?;
                match r.action {
                    RevertAction::Put(desired) => Some((Write::Put(desired), (r.removed, false))),
                    RevertAction::Delete => Some((Write::Delete, (r.removed, true))),
                    RevertAction::LeaveLast => {
                        left = Some(r.removed);
                        None
                    }
                }
            })
            .await;
        // Whatever other policies last read of this contact may no longer hold.
        ctx.desk.forget(subscription);
        if stopped {
            let f = Failure {
                transient: true,
                ..Failure::terminal(
                    "Stopping",
                    "this replica is shutting down or no longer leads",
                )
            };
            return Some(Halt::Retry(f, Error::Shutdown));
        }
        match outcome {
            Ok(fresh) => match fresh.written {
                Some((removed, true)) => reverted.push(format!(
                    "{subscription}: removed {} and deleted the contact this policy created",
                    removed.join(", ")
                )),
                Some((removed, false)) => {
                    reverted.push(format!("{subscription}: removed {}", removed.join(", ")))
                }
                None => {}
            },
            Err(e) if e.is_transient() => return Some(retry_arm(e)),
            Err(e) => notes.push(Note::warning(
                "RevertSkipped",
                format!("{subscription}: {}", e.summary()),
            )),
        }
        if let Some(removed) = left {
            notes.push(Note::warning(
                "RevertSkipped",
                format!(
                    "{subscription}: left {}: it is the only address on a contact this policy did not create",
                    removed.join(", ")
                ),
            ));
        }
    }
    if !reverted.is_empty() {
        notes.push(Note::normal("Reverted", reverted.join("; ")));
    }
    None
}

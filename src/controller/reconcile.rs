//! One reconcile of one policy: gather → decide → act → record.
//!
//! `finalizer()` is the only top-level action: Apply for a live policy, Cleanup (see
//! [`super::cleanup`]) for one being deleted. Apply gathers the policy and the other policies
//! the operator sees, asks [`gate`] whether a pass may run, writes a Progressing status on a
//! new generation, sweeps the subscriptions (observe → plan → act, in [`super::sweep`]), and
//! carries out what [`record`] decided: the status (only when it changed), the Events (only on
//! transitions) and the requeue. ARM has no watch, so the requeue after `interval` ± 10 % is
//! the drift detector. Transient failures return an error after the status is written, and
//! [`error_policy`] backs off.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        controller::Action,
        finalizer::{Event as Finalizer, finalizer},
    },
};

use super::{
    FIELD_MANAGER, FINALIZER, cleanup,
    context::Context,
    events,
    gate::{self, Gate},
    ledger,
    record::{self, Note, Retry},
    sweep,
};
use crate::{
    Error, Result,
    controller::status::Pass,
    crd::{
        DeletionPolicy, Mode, SecurityContactPolicy, SecurityContactPolicyStatus, SelectionStatus,
        TenantContactStatus,
    },
    exclusions,
    outcome::Failure,
    outcome::Verdict,
    selection,
    validate::parse_interval,
};

/// Used when the spec's interval cannot be read (admission normally prevents that).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(900);
/// No requeue waits longer than this, whatever ARM's `Retry-After` says.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(600);

pub async fn reconcile(policy: Arc<SecurityContactPolicy>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let api: Api<SecurityContactPolicy> =
        Api::namespaced(ctx.client.clone(), &policy.namespace().unwrap_or_default());
    let result = finalizer(&api, FINALIZER, policy, |event| async {
        match event {
            Finalizer::Apply(p) => apply(&p, &ctx).await,
            Finalizer::Cleanup(p) => cleanup::cleanup(&p, &ctx).await,
        }
    })
    .await
    .map_err(Error::from_finalizer);
    ctx.metrics.reconciled(&result, started.elapsed());
    result
}

/// Backoff for failed passes: 5 s doubling to 5 min with ±10 % jitter, never sooner than the
/// `Retry-After` ARM gave, never later than the interval or 10 minutes.
pub fn error_policy(
    policy: Arc<SecurityContactPolicy>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let attempt = ctx.failed(&policy);
    let cap = interval(&policy).min(MAX_RETRY_WAIT);
    let wait = record::backoff(attempt, error.retry_after(), cap, jitter());
    tracing::warn!(policy = %policy.name_any(), attempt, wait_s = wait.as_secs(), "pass failed: {error}");
    Action::requeue(wait)
}

async fn apply(policy: &SecurityContactPolicy, ctx: &Context) -> Result<Action> {
    // Gather and decide. Overlaps are judged on the whole cache: after a restart the watch
    // lists policies one by one, and a newer Exact policy must not write before the older one
    // it conflicts with is known.
    ctx.store
        .wait_until_ready()
        .await
        .map_err(|_| Error::Shutdown)?;
    // A first pass that has said what it wants waits for the others (see
    // `Context::gathering`) without holding a worker; when they have, every policy runs.
    if ctx.waits_for_others(policy) {
        return Ok(Action::await_change());
    }
    let id = policy_id(policy);
    let judge = ctx.access.judge();
    let now = Timestamp::now();
    let all = ctx.store.state();
    let gate = gate::gate(
        policy,
        all.iter().map(AsRef::as_ref),
        |p| judge.standing(p),
        |p| ctx.governed(p, now),
    );
    let progressing = record::progressing(policy, now);

    // Act.
    if let Some(status) = &progressing {
        patch_status(policy, ctx, status).await?;
    }
    let mut notes = Vec::new();
    let mut selection = None;
    let mut tenant = None;
    let pass = match gate {
        Gate::Suspended => Pass::Suspended,
        Gate::Blocked(failure) => Pass::Blocked(failure),
        Gate::Run => {
            let learned = Learned {
                selection: &mut selection,
                tenant: &mut tenant,
                notes: &mut notes,
            };
            // A new generation reads afresh: what others read before the edit does not count.
            let uid = policy.uid().unwrap_or_default();
            let fresh =
                progressing.is_some() || ctx.fresh_due.lock().expect("fresh due").remove(&uid);
            match sweep(policy, ctx, &id, now, fresh, learned).await? {
                Some(pass) => pass,
                None => {
                    if fresh {
                        ctx.fresh_due.lock().expect("fresh due").insert(uid);
                    }
                    return Ok(Action::await_change());
                }
            }
        }
    };
    // Whatever the pass was, this policy has said what it wants; a policy that did not sweep
    // wants nothing written for it meanwhile.
    ctx.introduce(policy);
    // The last policy to say what it wants may be one that cannot sweep: first passes go now.
    ctx.gathering();
    if !matches!(pass, Pass::Swept(_)) {
        ctx.desk.withdraw(&id);
    }

    // Record.
    // Restore streaks: the same subscription restored pass after pass is contested.
    let contested = match &pass {
        Pass::Swept(results) => {
            let mut streaks = ctx.streaks.lock().expect("streaks");
            let mine = streaks.entry(policy.uid().unwrap_or_default()).or_default();
            record::contests(mine, results)
        }
        // A pass cut short by something passing (throttling, an outage) learned nothing:
        // keep what was known. Suspended or refused, nothing is fighting anyone.
        Pass::Blocked(failure) if failure.transient => ctx
            .streaks
            .lock()
            .expect("streaks")
            .get(&policy.uid().unwrap_or_default())
            .map(record::contested)
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut record = record::record(
        policy,
        progressing.as_ref(),
        &pass,
        record::Extras {
            selection: selection.as_ref(),
            contested: &contested,
            tenant: tenant.as_ref(),
        },
        Timestamp::now(),
    );
    record.events.splice(0..0, notes);
    if let Some(status) = &record.status {
        patch_status(policy, ctx, status).await?;
    }
    events::publish(ctx, policy, &record.events).await;
    ctx.metrics.observe_pass(&id, &pass);
    ctx.had_pass(policy);
    match record.retry {
        Some(Retry {
            reason,
            message,
            retry_after,
        }) => Err(Error::Transient {
            reason,
            message,
            retry_after,
        }),
        None => {
            ctx.forget(policy);
            // ARM has no watch: the next pass is the drift check, due after the interval or
            // when an exclusion expires, whichever comes first.
            let mut wait = interval(policy).mul_f64(jitter());
            if let Some(expiry) = exclusions::next_expiry(&policy.spec, now) {
                let until = expiry.duration_since(now).as_secs_f64().max(0.0);
                wait = wait.min(Duration::from_secs_f64(until) + Duration::from_secs(1));
            }
            Ok(Action::requeue(wait))
        }
    }
}

/// What a pass learns besides its subscription results.
struct Learned<'a> {
    selection: &'a mut Option<SelectionStatus>,
    tenant: &'a mut Option<TenantContactStatus>,
    notes: &'a mut Vec<Note>,
}

/// Credentials, then one sweep over the subscriptions; addresses the sweep added are put in
/// the Revert ledger right after (never before) the write that added them. `None`: a first
/// pass that has said what it wants and now waits for the other policies to.
async fn sweep(
    policy: &SecurityContactPolicy,
    ctx: &Context,
    id: &str,
    now: Timestamp,
    fresh: bool,
    learned: Learned<'_>,
) -> Result<Option<Pass>> {
    let Learned {
        selection: selection_status,
        tenant: tenant_status,
        notes,
    } = learned;
    let arm = match ctx
        .clients
        .client_for(&ctx.client, &ctx.azure, policy)
        .await
    {
        Ok(arm) => arm,
        Err(failure) => return Ok(Some(Pass::Blocked(failure))),
    };
    // One token for the whole pass: if the token endpoint is down or refuses us, say so once
    // (Reconciling TokenEndpointUnavailable, or Stalled CredentialsInvalid) instead of once
    // per subscription.
    if let Err(e) = arm.check_credential().await {
        return Ok(Some(Pass::Blocked(Failure::from(&e))));
    }
    let uid = policy.uid().unwrap_or_default();
    let previous = ctx.passes.lock().expect("passes").get(&uid).copied();
    // What this pass accepts from reads (and listings) made by others: those made after its
    // previous pass ended or, for a new generation, after a pass first saw it (what was read
    // before was read for the spec as it was).
    let newer_than = |fresh: bool| {
        if fresh {
            let seen = ctx.edit_seen(policy).unwrap_or_else(Instant::now);
            Some(previous.map_or(seen, |end| end.max(seen)))
        } else {
            previous
        }
    };
    // A selector is resolved afresh on every pass; what joined or left is said once. Listings
    // describe Azure, not the spec: one made since this policy's previous pass serves an
    // edited policy too (a new group is a listing of its own), so an edit does not wait for
    // eleven pages of subscriptions before its first read.
    if policy.spec.subscription_selector.is_some() {
        let want = crate::listings::Want {
            fresh: false,
            newer_than: previous,
            max_age: interval(policy),
        };
        let fresh = match selection::resolve(&arm, &policy.spec, &ctx.listings, want).await {
            Ok(fresh) => fresh,
            Err(e) => {
                let mut failure = Failure::from(&e);
                failure.message =
                    format!("cannot resolve subscriptionSelector: {}", failure.message);
                return Ok(Some(Pass::Blocked(failure)));
            }
        };
        let before = ctx.selected(policy, fresh.subscriptions.clone());
        let shown = selection::status(&fresh, before.as_deref().map(Vec::as_slice));
        for (reason, list) in [
            ("SubscriptionsJoined", &shown.joined),
            ("SubscriptionsLeft", &shown.left),
        ] {
            if !list.is_empty() {
                notes.push(Note::normal(reason, list.join(", ")));
            }
        }
        *selection_status = Some(shown);
        // The fresh selection may now overlap another policy: decide again before writing.
        let judge = ctx.access.judge();
        let all = ctx.store.state();
        if let Gate::Blocked(failure) = gate::gate(
            policy,
            all.iter().map(AsRef::as_ref),
            |p| judge.standing(p),
            |p| ctx.governed(p, now),
        ) {
            return Ok(Some(Pass::Blocked(failure)));
        }
    }
    let governed = ctx.governed(policy, now);
    // What this policy wants stands for the rounds other policies open (one write carries
    // every policy's addresses); in Audit it wants nothing written.
    if policy.spec.mode == Mode::Enforce {
        ctx.desk.stand(
            arm.principal(),
            id,
            &governed.contact,
            &governed.subscriptions,
        );
    } else {
        ctx.desk.withdraw(id);
    }
    let first = previous.is_none();
    if first {
        ctx.introduce(policy);
        if ctx.gathering() {
            return Ok(None);
        }
    }
    let freshness = sweep::Freshness {
        fresh,
        newer_than: newer_than(fresh),
        max_age: interval(policy),
        // A first pass since this controller started: its reads are spread by the start-up
        // budget.
        budgeted: first,
    };
    let swept = sweep::sweep(
        &arm,
        id,
        &governed,
        &ctx.desk,
        freshness,
        ctx.concurrency,
        &ctx.stop_writing,
    )
    .await;
    ctx.passes
        .lock()
        .expect("passes")
        .insert(uid, Instant::now());
    if policy.spec.deletion_policy == DeletionPolicy::Revert {
        update_ledger(policy, ctx, &swept.ledger).await?;
    }
    if let Some(contact) = &policy.spec.tenant_contact {
        let result = tenant_pass(policy, contact, &arm, ctx, id).await;
        if result.verdict == Verdict::Remediated {
            notes.push(Note::normal(
                "TenantContactRemediated",
                format!("tenant {}: restored ({})", result.tenant_id, result.drift),
            ));
        }
        *tenant_status = Some(TenantContactStatus {
            tenant_id: result.tenant_id,
            verdict: match (&result.error, result.verdict) {
                (Some(f), _) => f.reason.clone(),
                (None, Verdict::Remediated | Verdict::Compliant) => "Compliant".into(),
                (None, _) => "NonCompliant".into(),
            },
            message: match &result.error {
                Some(f) => f.message.clone(),
                None if result.verdict == Verdict::NonCompliant => result.drift,
                None => String::new(),
            },
        });
    }
    Ok(Some(Pass::Swept(swept.results)))
}

/// The tenant contact through Microsoft Graph, with this policy's identity, unless an older
/// policy manages the same tenant and one of them is Exact.
async fn tenant_pass(
    policy: &SecurityContactPolicy,
    contact: &crate::crd::TenantContact,
    arm: &crate::arm::ArmClient,
    ctx: &Context,
    id: &str,
) -> crate::tenant::TenantResult {
    let judge = ctx.access.judge();
    let all = ctx.store.state();
    let ranked: Vec<(String, crate::overlap::Rank, &crate::crd::TenantContact)> =
        gate::live_others(policy, all.iter().map(AsRef::as_ref))
            .filter(|p| !p.spec.suspend)
            .filter_map(|p| {
                let tier = judge.standing(p).ok()?;
                let t = p.spec.tenant_contact.as_ref()?;
                Some((policy_id(p), gate::contender(p, &p.spec, tier).rank, t))
            })
            .collect();
    let mine = gate::contender(policy, &policy.spec, judge.standing(policy).unwrap_or(1)).rank;
    if let Some(why) = crate::tenant::conflict(
        (id, &mine, contact),
        ranked.iter().map(|(i, r, t)| (i.as_str(), r, *t)),
    ) {
        return crate::tenant::TenantResult {
            policy: id.to_owned(),
            tenant_id: contact.tenant_id.clone(),
            verdict: Verdict::Failed,
            drift: String::new(),
            error: Some(Failure::terminal(crate::outcome::reason::CONFLICT, why)),
        };
    }
    let write = policy.spec.mode == Mode::Enforce && !ctx.stop_writing.is_cancelled();
    crate::tenant::reconcile(&ctx.azure.graph_for(arm), id, contact, write).await
}

/// Teaches the Revert ledger what this pass did: addresses added and contacts created, and
/// addresses that are no longer there (a person removed them: no longer ours). Read from the
/// API once per process, written only when it changed.
pub(crate) async fn update_ledger(
    policy: &SecurityContactPolicy,
    ctx: &Context,
    news: &[sweep::LedgerNews],
) -> Result<()> {
    let uid = policy.uid().unwrap_or_default();
    let cached = ctx
        .ledger_cache
        .lock()
        .expect("ledger cache")
        .get(&uid)
        .cloned();
    let mut ledger = match cached {
        Some(ledger) => ledger,
        None => ledger::load(&ctx.ledgers, policy).await?,
    };
    let mut changed = false;
    for n in news {
        changed |= ledger.retain(&n.subscription, n.present.as_deref());
        changed |= ledger.record(&n.subscription, &n.added);
        if n.created {
            changed |= ledger.record_created(&n.subscription);
        }
    }
    if changed {
        ledger::save(&ctx.ledgers, policy, &ledger).await?;
    }
    ctx.ledger_cache
        .lock()
        .expect("ledger cache")
        .insert(uid, ledger);
    Ok(())
}

/// Server-side apply on `/status` under one field manager.
pub(crate) async fn patch_status(
    policy: &SecurityContactPolicy,
    ctx: &Context,
    status: &SecurityContactPolicyStatus,
) -> Result<()> {
    let api: Api<SecurityContactPolicy> =
        Api::namespaced(ctx.client.clone(), &policy.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "apiVersion": SecurityContactPolicy::api_version(&()),
        "kind": SecurityContactPolicy::kind(&()),
        "status": status,
    });
    api.patch_status(
        &policy.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await
    .map_err(Error::kube(format!(
        "patch status of {}",
        policy_id(policy)
    )))?;
    Ok(())
}

pub(crate) fn policy_id(policy: &SecurityContactPolicy) -> String {
    format!(
        "{}/{}",
        policy.namespace().unwrap_or_default(),
        policy.name_any()
    )
}

fn interval(policy: &SecurityContactPolicy) -> Duration {
    parse_interval(&policy.spec.interval).unwrap_or(DEFAULT_INTERVAL)
}

/// A factor in [0.9, 1.1]: policies created together spread out instead of firing together.
fn jitter() -> f64 {
    0.9 + fastrand::f64() * 0.2
}

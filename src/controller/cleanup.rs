//! Deletion. Orphan leaves Azure as it is. Revert takes off each subscription the addresses
//! this policy added (the ledger), unless another live policy requires them; what comes off is
//! decided by the engine ([`crate::plan::revert`]) from a fresh read under the subscription's
//! write lock. A subscription that can no longer be written (403, gone) is reported and
//! skipped so deletion never hangs on it.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, ResourceExt, runtime::controller::Action};

use super::{context::Context, events, gate, ledger, record::Note};
use crate::{
    Error, Result,
    crd::{DeletionPolicy, Mode, SecurityContactPolicy},
    emails,
    overlap::{self, Contender},
    plan,
};

pub async fn cleanup(policy: &SecurityContactPolicy, ctx: &Context) -> Result<Action> {
    let outcome = revert(policy, ctx).await;
    if outcome.is_ok() {
        ctx.forget(policy);
        ctx.metrics.forget(&super::reconcile::policy_id(policy));
    }
    outcome
}

async fn revert(policy: &SecurityContactPolicy, ctx: &Context) -> Result<Action> {
    if policy.spec.deletion_policy == DeletionPolicy::Orphan || policy.spec.mode == Mode::Audit {
        return Ok(Action::await_change());
    }
    let namespace = policy.namespace().unwrap_or_default();
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &namespace);
    let record = ledger::load(&cms, policy).await?;
    if record.is_empty() {
        return Ok(Action::await_change());
    }
    // "Still required by another live policy" must be judged on the whole cache, not on the
    // part a restart has listed so far.
    ctx.store
        .wait_until_ready()
        .await
        .map_err(|_| Error::Shutdown)?;
    let arm = match ctx
        .clients
        .client_for(&ctx.client, &ctx.azure, policy)
        .await
    {
        Ok(arm) => arm,
        Err(f) if f.transient => {
            return Err(Error::Transient {
                reason: f.reason,
                message: f.message,
                retry_after: None,
            });
        }
        Err(f) => {
            let note = Note::warning("RevertSkipped", format!("cannot revert: {}", f.message));
            events::publish(ctx, policy, &[note]).await;
            ledger::delete(&cms, policy).await?;
            return Ok(Action::await_change());
        }
    };
    let all = ctx.store.state();
    let others: Vec<Contender<'_>> = gate::live_others(policy, all.iter().map(AsRef::as_ref))
        .map(gate::contender)
        .collect();
    let mut notes = Vec::new();
    let mut reverted = Vec::new();
    for subscription in record.subscriptions() {
        let added = record.added(subscription);
        let required = overlap::required_elsewhere(subscription, &others);
        if added.iter().all(|a| emails::contains(&required, a)) {
            continue;
        }
        let lock = ctx.locks.lock_for(subscription);
        let _guard = lock.lock().await;
        let outcome = arm
            .write_fresh(subscription, |current| {
                plan::revert(current, &added, &required).map(|r| (r.desired, r.removed))
            })
            .await;
        match outcome {
            Ok(fresh) => {
                if let Some((removed, _)) = fresh.written {
                    reverted.push(format!("{subscription}: removed {}", removed.join(", ")));
                }
            }
            Err(e) if e.is_transient() => {
                events::publish(ctx, policy, &notes).await;
                return Err(Error::Arm(e));
            }
            Err(e) => notes.push(Note::warning(
                "RevertSkipped",
                format!("{subscription}: {}", e.summary()),
            )),
        }
    }
    if !reverted.is_empty() {
        notes.push(Note::normal("Reverted", reverted.join("; ")));
    }
    events::publish(ctx, policy, &notes).await;
    ledger::delete(&cms, policy).await?;
    Ok(Action::await_change())
}

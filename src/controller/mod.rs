//! The operator: a kube-runtime `Controller` over `SecurityContactPolicy`.
//!
//! reconcile = finalizer → apply | cleanup.
//! apply = credentials → observe (one GET per subscription) → plan (pure) → act (PUT only what
//! the plan says) → status (pure, written with server-side apply only when it changed) →
//! Events on transitions → requeue after `interval` ± 10 %. ARM has no watch, so the requeue
//! is the drift detector. Transient failures return an error after the status is written, and
//! the error policy backs off, never sooner than ARM's `Retry-After`.

pub mod credentials;
pub mod ledger;
pub mod overlap;
pub mod sweep;

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt;
use k8s_openapi::{api::core::v1::ConfigMap, jiff::Timestamp};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        events::{Event, EventType, Recorder, Reporter},
        finalizer::{Event as Finalizer, finalizer},
        reflector::{self, ObjectRef, Store, reflector},
        watcher,
    },
};
use tokio_util::sync::CancellationToken;

use crate::{
    Error, Result,
    connect::Azure,
    crd::{
        DeletionPolicy, Mode, SecurityContactPolicy, SecurityContactPolicyStatus, condition::READY,
    },
    emails,
    metrics::Metrics,
    outcome::{Failure, Verdict},
    status::{self, Pass, reason},
    validate::parse_interval,
};

pub const FINALIZER: &str = "securitycontact.dev/cleanup";
pub const FIELD_MANAGER: &str = "security-contact-operator";
/// Setting this annotation to a new value asks for an immediate pass (like Flux's
/// `reconcile.fluxcd.io/requestedAt`).
pub const RECONCILE_REQUEST: &str = "securitycontact.dev/reconcile-requested-at";

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub azure: Azure,
    pub recorder: Recorder,
    pub store: Store<SecurityContactPolicy>,
    pub metrics: Metrics,
    pub concurrency: usize,
    pub locks: sweep::WriteLocks,
    pub clients: credentials::ClientCache,
    /// Consecutive failed passes per policy, for the error policy's backoff.
    failures: Mutex<HashMap<ObjectRef<SecurityContactPolicy>, u32>>,
}

pub struct Options {
    pub namespace: Option<String>,
    pub concurrency: usize,
    /// Policies reconciled at once.
    pub workers: u16,
    /// Reconcile only while holding the leader lease (`--leader-elect`).
    pub leadership: Option<crate::leader::Leadership>,
}

/// Runs the controller until `shutdown` is cancelled. `ready` is set once the CRD was found
/// and the watch started.
pub async fn run(
    client: Client,
    azure: Azure,
    metrics: Metrics,
    options: Options,
    ready: Arc<std::sync::atomic::AtomicBool>,
    shutdown: CancellationToken,
) -> Result<()> {
    let api: Api<SecurityContactPolicy> = match &options.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    if let Err(e) = api.list(&kube::api::ListParams::default().limit(1)).await {
        return Err(Error::Config(format!(
            "cannot list SecurityContactPolicies ({e}); is the CRD installed? \
             `security-contact-operator crd | kubectl apply --server-side -f -`"
        )));
    }

    let (reader, writer) = reflector::store();
    // Status writes must not trigger a pass (that would re-read Azure after every status
    // change), but finalizer and deletion changes must: a generation-only predicate would
    // swallow those, so the predicate hashes all four.
    let trigger = reflector(
        writer,
        watcher(api, watcher::Config::default().any_semantic()),
    )
    .default_backoff()
    .applied_objects()
    .predicate_filter(relevant_change, Default::default());

    let reporter = Reporter {
        controller: FIELD_MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client,
        azure,
        store: reader.clone(),
        metrics,
        concurrency: options.concurrency,
        locks: Default::default(),
        clients: Default::default(),
        failures: Default::default(),
    });
    // Ready once the CRD answers, leader or not: standbys must not stall rollouts.
    ready.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut leadership = options.leadership;
    if let Some(lease) = &mut leadership {
        tracing::info!(
            identity = lease.identity(),
            "standby: waiting for the leader lease"
        );
        tokio::select! {
            acquired = lease.acquired() => acquired?,
            _ = shutdown.cancelled() => {
                if let Some(lease) = leadership {
                    lease.step_down().await;
                }
                return Ok(());
            }
        }
        tracing::info!(identity = lease.identity(), "leading: reconciling");
    }
    let lost = leadership.as_ref().map(|l| l.lost());
    let stop = {
        let shutdown = shutdown.clone();
        async move {
            match lost {
                Some(lost) => tokio::select! { _ = lost => {}, _ = shutdown.cancelled() => {} },
                None => shutdown.cancelled().await,
            }
        }
    };
    tracing::info!(
        namespace = options.namespace.as_deref().unwrap_or("(all)"),
        "controller started"
    );
    Controller::for_stream(trigger, reader)
        .with_config(kube::runtime::controller::Config::default().concurrency(options.workers))
        .graceful_shutdown_on(stop)
        .run(reconcile, error_policy, ctx)
        .for_each(|outcome| async move {
            if let Err(e) = outcome {
                tracing::debug!("reconcile ended: {e}");
            }
        })
        .await;
    if let Some(lease) = leadership {
        let lost_it = !lease.is_leader() && !shutdown.is_cancelled();
        lease.step_down().await;
        if lost_it {
            // Exit non-zero so Kubernetes restarts this replica as a standby.
            return Err(Error::Config(
                "lost the leader lease; exiting to rejoin as a standby".into(),
            ));
        }
    }
    Ok(())
}

fn relevant_change(p: &SecurityContactPolicy) -> Option<u64> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    p.metadata.uid.hash(&mut h);
    p.metadata.generation.hash(&mut h);
    p.metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
        .hash(&mut h);
    p.finalizers().hash(&mut h);
    p.annotations().get(RECONCILE_REQUEST).hash(&mut h);
    Some(h.finish())
}

pub async fn reconcile(policy: Arc<SecurityContactPolicy>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let namespace = policy.namespace().unwrap_or_default();
    let api: Api<SecurityContactPolicy> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, policy, |event| async {
        match event {
            Finalizer::Apply(p) => apply(&p, &ctx).await,
            Finalizer::Cleanup(p) => cleanup(&p, &ctx).await,
        }
    })
    .await
    .map_err(Error::from_finalizer);
    ctx.metrics.reconciled(&result, started.elapsed());
    result
}

/// Forgets a policy's backoff state: after a good pass, or once it is deleted.
fn forget(ctx: &Context, policy: &SecurityContactPolicy) {
    ctx.failures
        .lock()
        .expect("failure map")
        .remove(&ObjectRef::from_obj(policy));
}

/// Backoff for failed passes: 5 s doubling to 5 min with ±10 % jitter, never sooner than the
/// `Retry-After` ARM gave.
pub fn error_policy(
    policy: Arc<SecurityContactPolicy>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let key = ObjectRef::from_obj(&*policy);
    let attempt = {
        let mut failures = ctx.failures.lock().expect("failure map");
        let n = failures.entry(key).or_default();
        *n = n.saturating_add(1);
        *n
    };
    let backoff = Duration::from_secs(5)
        .saturating_mul(1 << attempt.min(6).saturating_sub(1))
        .min(Duration::from_secs(300));
    let wait = jitter(backoff).max(error.retry_after().unwrap_or_default());
    tracing::warn!(policy = %policy.name_any(), attempt, wait_s = wait.as_secs(), "pass failed: {error}");
    Action::requeue(wait)
}

fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.9 + fastrand::f64() * 0.2)
}

async fn apply(policy: &SecurityContactPolicy, ctx: &Context) -> Result<Action> {
    let id = format!(
        "{}/{}",
        policy.namespace().unwrap_or_default(),
        policy.name_any()
    );
    let spec = &policy.spec;
    let interval = parse_interval(&spec.interval).unwrap_or(Duration::from_secs(900));

    let generation = policy.meta().generation;
    let new_generation = policy.status.as_ref().and_then(|s| s.observed_generation) != generation;
    let mut written = None;
    if new_generation && !spec.suspend {
        let started = Pass::Started {
            subscriptions: spec.subscriptions.len(),
        };
        let progressing = status::next(
            generation,
            spec.mode,
            policy.status.as_ref(),
            &started,
            Timestamp::now(),
        );
        patch_status(policy, ctx, &progressing).await?;
        written = Some(progressing);
    }

    let mut added = Vec::new();
    let pass = if spec.suspend {
        Pass::Suspended
    } else if let Some(why) =
        overlap::conflict(policy, ctx.store.state().iter().map(|p| p.as_ref()))
    {
        Pass::Blocked(Failure::terminal(reason::CONFLICT, why))
    } else {
        match ctx
            .clients
            .client_for(&ctx.client, &ctx.azure, policy)
            .await
        {
            Err(failure) => Pass::Blocked(failure),
            Ok(arm) => match arm.check_credential().await {
                Err(e) if !e.is_transient() => Pass::Blocked(Failure::from(&e)),
                _ => {
                    let swept = sweep::sweep(&arm, &id, spec, &ctx.locks, ctx.concurrency).await;
                    added = swept.added;
                    Pass::Swept(swept.results)
                }
            },
        }
    };

    if spec.deletion_policy == DeletionPolicy::Revert && !added.is_empty() {
        record_added(policy, ctx, &added).await?;
    }

    let previous = written.as_ref().or(policy.status.as_ref());
    let next = status::next(generation, spec.mode, previous, &pass, Timestamp::now());
    if previous != Some(&next) {
        patch_status(policy, ctx, &next).await?;
    }
    // Transitions are judged against the status before this pass, not the Progressing one.
    publish_events(policy, ctx, policy.status.as_ref(), &next, &pass).await;
    ctx.metrics.observe_pass(&id, &pass);

    let transient = match &pass {
        Pass::Swept(results) => results
            .iter()
            .filter_map(|r| r.error.as_ref())
            .filter(|f| f.transient)
            .collect(),
        Pass::Blocked(f) if f.transient => vec![f],
        _ => Vec::new(),
    };
    if let Some(first) = transient.first() {
        let retry_after = transient.iter().filter_map(|f| f.retry_after).max();
        return Err(Error::Transient {
            reason: first.reason.clone(),
            message: first.message.clone(),
            retry_after,
        });
    }
    forget(ctx, policy);
    Ok(Action::requeue(jitter(interval)))
}

async fn record_added(
    policy: &SecurityContactPolicy,
    ctx: &Context,
    added: &[(String, Vec<String>)],
) -> Result<()> {
    let api: Api<ConfigMap> =
        Api::namespaced(ctx.client.clone(), &policy.namespace().unwrap_or_default());
    let mut record = ledger::load(&api, policy).await?;
    let mut changed = false;
    for (subscription, addresses) in added {
        changed |= record.record(subscription, addresses);
    }
    if changed {
        ledger::save(&api, policy, &record).await?;
    }
    Ok(())
}

/// Deletion. Orphan leaves Azure as it is. Revert takes off each subscription the addresses
/// this policy added, unless another live policy requires them. A subscription that can no
/// longer be written (403, gone) is reported and skipped so deletion never hangs on it.
async fn cleanup(policy: &SecurityContactPolicy, ctx: &Context) -> Result<Action> {
    let outcome = revert(policy, ctx).await;
    if outcome.is_ok() {
        forget(ctx, policy);
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
            warn_event(
                ctx,
                policy,
                "RevertSkipped",
                &format!("cannot revert: {}", f.message),
            )
            .await;
            ledger::delete(&cms, policy).await?;
            return Ok(Action::await_change());
        }
    };
    let others: Vec<Arc<SecurityContactPolicy>> = ctx
        .store
        .state()
        .into_iter()
        .filter(|p| p.meta().deletion_timestamp.is_none() && p.meta().uid != policy.meta().uid)
        .collect();
    let mut reverted = Vec::new();
    for subscription in record.subscriptions() {
        let still_required: Vec<String> = others
            .iter()
            .filter(|p| {
                p.spec.mode == Mode::Enforce
                    && p.spec
                        .subscriptions
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(subscription))
            })
            .flat_map(|p| p.spec.contact.emails.clone())
            .collect();
        let remove = ledger::to_remove(&record.added(subscription), &still_required);
        if remove.is_empty() {
            continue;
        }
        let _guard_lock = ctx.locks.lock_for(subscription);
        let _guard = _guard_lock.lock().await;
        let outcome = async {
            let Some(contact) = arm.get_contact(subscription).await? else {
                return Ok(false);
            };
            let mut properties = contact.properties;
            let current = emails::split(properties.emails.as_deref().unwrap_or_default());
            let kept: Vec<&String> = current
                .iter()
                .filter(|a| !emails::contains(&remove, a))
                .collect();
            if kept.len() == current.len() {
                return Ok(false);
            }
            properties.emails = Some(emails::join(&kept));
            arm.put_contact(subscription, &properties)
                .await
                .map(|_| true)
        }
        .await;
        match outcome {
            Ok(true) => reverted.push(format!("{subscription}: removed {}", remove.join(", "))),
            Ok(false) => {}
            Err(e) if e.is_transient() => return Err(Error::Arm(e)),
            Err(e) => {
                warn_event(
                    ctx,
                    policy,
                    "RevertSkipped",
                    &format!("{subscription}: {}", e.summary()),
                )
                .await
            }
        }
    }
    if !reverted.is_empty() {
        event(
            ctx,
            policy,
            EventType::Normal,
            "Reverted",
            &reverted.join("; "),
        )
        .await;
    }
    ledger::delete(&cms, policy).await?;
    Ok(Action::await_change())
}

async fn patch_status(
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
    .map_err(Error::Kube)?;
    Ok(())
}

/// Events on transitions only: the Ready condition changing, and writes made to Azure.
async fn publish_events(
    policy: &SecurityContactPolicy,
    ctx: &Context,
    previous: Option<&SecurityContactPolicyStatus>,
    next: &SecurityContactPolicyStatus,
    pass: &Pass,
) {
    if let Pass::Swept(results) = pass {
        let written: Vec<String> = results
            .iter()
            .filter(|r| r.verdict == Verdict::Remediated)
            .map(|r| {
                let changes: Vec<String> = r.changes.iter().map(ToString::to_string).collect();
                let verb = if r.created { "created" } else { "updated" };
                format!("{} {verb}: {}", r.subscription, changes.join(", "))
            })
            .collect();
        if !written.is_empty() {
            event(
                ctx,
                policy,
                EventType::Normal,
                "Remediated",
                &written.join("; "),
            )
            .await;
        }
    }
    let ready = |s: Option<&SecurityContactPolicyStatus>| {
        s.and_then(|s| s.conditions.iter().find(|c| c.type_ == READY))
            .map(|c| (c.status.clone(), c.reason.clone()))
    };
    let (before, after) = (ready(previous), ready(Some(next)));
    if before != after
        && let Some(condition) = next.conditions.iter().find(|c| c.type_ == READY)
    {
        let type_ = if condition.status == "True" || condition.reason == reason::SUSPENDED {
            EventType::Normal
        } else {
            EventType::Warning
        };
        event(ctx, policy, type_, &condition.reason, &condition.message).await;
    }
}

async fn warn_event(ctx: &Context, policy: &SecurityContactPolicy, reason: &str, note: &str) {
    event(ctx, policy, EventType::Warning, reason, note).await;
}

async fn event(
    ctx: &Context,
    policy: &SecurityContactPolicy,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    // Event notes are capped at 1 KiB by the API server.
    let mut note = note.to_owned();
    if note.len() > 1000 {
        let mut end = 997;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note = format!("{}...", &note[..end]);
    }
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &policy.object_ref(&())).await {
        tracing::warn!("cannot publish event: {e}");
    }
}

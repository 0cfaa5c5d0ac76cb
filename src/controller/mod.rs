//! The operator: a kube-runtime `Controller` over `SecurityContactPolicy`.
//!
//! Files by concern: [`reconcile`] (gather → decide → act → record, and the error policy),
//! [`cleanup`] (deletion and Revert), [`gate`] and [`record`] (the pass's decisions, pure),
//! [`status`] (the status, pure), [`sweep`] (observe → plan → act over the subscriptions),
//! [`desk`] (reads shared between policies, merged writes),
//! [`credentials`], [`ledger`], [`events`] and [`context`]. This file wires the `Controller`:
//! the watch, its trigger predicate, leadership and shutdown.

pub(crate) mod access;
pub(crate) mod cleanup;
pub(crate) mod context;
pub(crate) mod credentials;
pub(crate) mod desk;
pub(crate) mod events;
pub(crate) mod gate;
pub(crate) mod ledger;
pub(crate) mod reconcile;
pub(crate) mod record;
pub(crate) mod status;
pub(crate) mod sweep;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod soak;
#[cfg(test)]
mod tests;

use std::{
    hash::{Hash, Hasher},
    sync::Arc,
    time::Duration,
};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;
use kube::{
    Api, Client, ResourceExt,
    runtime::{
        Controller, WatchStreamExt,
        reflector::{self, reflector},
        watcher,
    },
};
use tokio_util::sync::CancellationToken;

pub use context::Context;
pub use reconcile::{error_policy, reconcile};

use crate::{
    Error, Result,
    access::{SecurityContactAccess, TrustedNamespaces},
    admin::Health,
    connect::Azure,
    crd::SecurityContactPolicy,
    metrics::Metrics,
};

pub const FINALIZER: &str = "securitycontact.dev/cleanup";
pub const FIELD_MANAGER: &str = "security-contact-operator";
/// Setting this annotation to a new value asks for an immediate pass (like Flux's
/// `reconcile.fluxcd.io/requestedAt`).
pub const RECONCILE_REQUEST: &str = "securitycontact.dev/reconcile-requested-at";
/// Set to `"true"` on a policy whose Revert cannot finish (credentials gone, ledger
/// unreadable) to finish its deletion as Orphan: the addresses it added stay.
pub const FINISH_AS_ORPHAN: &str = "securitycontact.dev/finish-as-orphan";

pub struct Options {
    pub namespace: Option<String>,
    pub concurrency: usize,
    /// Policies reconciled at once.
    pub workers: u16,
    /// Reconcile only while holding the leader lease (`--leader-elect`).
    pub leadership: Option<crate::leader::Leadership>,
    /// Where the Revert ledgers live: the operator's own namespace.
    pub ledger_namespace: String,
    /// Namespaces whose policies may use the operator's identity without an access object.
    pub trusted: TrustedNamespaces,
}

/// Runs the controller until `shutdown` is cancelled, feeding the probes in `health`. On
/// shutdown (or lost leadership) it stops taking work and stops writing, lets the passes in
/// flight finish, and releases the lease before returning.
pub async fn run(
    client: Client,
    azure: Azure,
    metrics: Metrics,
    options: Options,
    health: Arc<Health>,
    shutdown: CancellationToken,
) -> Result<()> {
    // The heartbeat beats only while this future is polled: a wedged runtime fails /healthz.
    let heartbeat = async {
        loop {
            health.beat();
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    };
    tokio::select! {
        r = controller(client, azure, metrics, options, &health, shutdown) => r,
        never = heartbeat => never,
    }
}

async fn controller(
    client: Client,
    azure: Azure,
    metrics: Metrics,
    options: Options,
    health: &Arc<Health>,
    shutdown: CancellationToken,
) -> Result<()> {
    let api: Api<SecurityContactPolicy> = match &options.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    api.list(&kube::api::ListParams::default().limit(1))
        .await
        .map_err(Error::CrdMissing)?;

    let (reader, writer) = reflector::store();
    // Status writes must not trigger a pass (that would re-read Azure after every status
    // change), but finalizer and deletion changes must: a generation-only predicate would
    // swallow those, so the predicate hashes all four.
    let watch_health = health.clone();
    let trigger = reflector(
        writer,
        watcher(api, watcher::Config::default().any_semantic()),
    )
    .default_backoff()
    .inspect(move |event| match event {
        Ok(_) => watch_health.watch_ok(),
        Err(_) => watch_health.watch_failed(),
    })
    .applied_objects()
    .predicate_filter(relevant_change, Default::default());

    // Who may use the operator's identity: access objects (a change re-runs every policy, so
    // a withdrawn access stops writes at once) and namespace labels (for their selectors).
    let accesses: Api<SecurityContactAccess> = Api::all(client.clone());
    accesses
        .list(&kube::api::ListParams::default().limit(1))
        .await
        .map_err(Error::kube(
            "list SecurityContactAccesses (is their CRD installed? `security-contact-operator crd`)",
        ))?;
    let namespaces: Api<PartialObjectMeta<Namespace>> = Api::all(client.clone());
    namespaces
        .list(&kube::api::ListParams::default().limit(1))
        .await
        .map_err(Error::kube("list namespaces"))?;
    // Both caches are fed by tasks of their own and are complete before the first pass. (A
    // kube-runtime store wakes only the last of several concurrent `wait_until_ready` callers,
    // so reconciles must not be the ones waiting.)
    let (access_reader, access_writer) = reflector::store();
    let (access_changed, access_changes) = futures::channel::mpsc::unbounded::<()>();
    let _access_watch = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(
        reflector(access_writer, watcher(accesses, Default::default()))
            .default_backoff()
            .touched_objects()
            .for_each(move |change| {
                if change.is_ok() {
                    let _ = access_changed.unbounded_send(());
                }
                async {}
            }),
    ));
    let (namespace_reader, namespace_writer) = reflector::store();
    let (namespace_changed, namespace_changes) = futures::channel::mpsc::unbounded::<()>();
    let _namespace_watch = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(
        reflector(namespace_writer, watcher(namespaces, Default::default()))
            .default_backoff()
            .touched_objects()
            .for_each(move |change| {
                if change.is_ok() {
                    let _ = namespace_changed.unbounded_send(());
                }
                async {}
            }),
    ));
    let access = access::AccessView::new(options.trusted.clone(), access_reader, namespace_reader);

    let ctx = Arc::new(Context::new(
        client,
        azure,
        reader.clone(),
        access,
        metrics,
        options.concurrency,
        &options.ledger_namespace,
    ));
    tokio::select! {
        ready = ctx.access.wait_until_ready() => if !ready {
            return Err(Error::Shutdown);
        },
        _ = shutdown.cancelled() => return Ok(()),
    }
    // Ready once the CRD answers, leader or not: standbys must not stall rollouts.
    health.set_ready();
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
    // A namespace's labels decide what its policies may do with the operator's identity: when
    // they change, no write carries a policy's standing wish until its next pass has been
    // through the gate again (access objects do the same below, and re-run every policy).
    let _forget_wishes = {
        let desk = ctx.desk.clone();
        tokio_util::task::AbortOnDropHandle::new(tokio::spawn(namespace_changes.for_each(
            move |()| {
                desk.clear_wishes();
                async {}
            },
        )))
    };
    let access_changes = {
        let desk = ctx.desk.clone();
        access_changes.inspect(move |()| desk.clear_wishes())
    };
    // First passes wait for every policy to say what it wants, at most GATHER_MAX; then every
    // policy runs.
    let (gathered, gathered_changes) = futures::channel::mpsc::unbounded::<()>();
    ctx.when_gathered(gathered);
    let _gather_cap = {
        let ctx = ctx.clone();
        tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
            tokio::time::sleep(context::GATHER_MAX).await;
            ctx.gathered("the wait is over");
        }))
    };
    let lost = leadership.as_ref().map(|l| l.lost());
    let stop = {
        let shutdown = shutdown.clone();
        let stop_writing = ctx.stop_writing.clone();
        async move {
            match lost {
                Some(lost) => tokio::select! { _ = lost => {}, _ = shutdown.cancelled() => {} },
                None => shutdown.cancelled().await,
            }
            // Passes in flight finish, but make no further write.
            stop_writing.cancel();
        }
    };
    tracing::info!(
        namespace = options.namespace.as_deref().unwrap_or("(all)"),
        "controller started"
    );
    Controller::for_stream(trigger, reader)
        .with_config(kube::runtime::controller::Config::default().concurrency(options.workers))
        .reconcile_all_on(futures::stream::select(access_changes, gathered_changes))
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
            return Err(Error::Leadership(
                "lost the leader lease; exiting to rejoin as a standby",
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
    p.annotations().get(FINISH_AS_ORPHAN).hash(&mut h);
    Some(h.finish())
}

//! Leader election on a `coordination.k8s.io` Lease, through kube-lease-manager.
//!
//! Only the leader reconciles (and so writes to Azure). Standby replicas stay Ready, as in
//! controller-runtime, so rollouts never stall on them. A leader that loses its lease stops
//! reconciling and the process exits non-zero, to come back as a standby; on a normal shutdown
//! it releases the lease so a standby takes over at once instead of after the lease expires.
//!
//! One writer, even under a partition: kube-lease-manager only logs a failed renewal and keeps
//! saying "leader", so a leader cut off from the API server would go on writing its cached
//! specs while a standby takes the expired lease. So this module watches the Lease itself and
//! keeps its own renew deadline: leadership counts only while a renewal by this replica was
//! seen less than `duration − grace/2` (¾ of the lease) ago, which ends before the lease can
//! expire for the others (`duration`), and leadership lost that way is final for this process.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{
    Api, Client,
    runtime::{WatchStreamExt, watcher},
};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::{
    sync::{Notify, watch},
    task::JoinHandle,
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use crate::{Error, Result};

pub const LEASE_NAME: &str = "security-contact-operator";

pub struct Leadership {
    /// Ends the election task, which then releases the lease.
    stop: CancellationToken,
    task: JoinHandle<()>,
    /// Leadership as this process acts on it: the manager says so *and* a renewal by this
    /// replica was seen before the renew deadline.
    leading: watch::Receiver<bool>,
    watchdog: JoinHandle<()>,
    identity: String,
}

/// Starts competing for the lease; `duration` is how long a silent leader keeps it (seconds).
pub async fn compete(
    client: Client,
    namespace: &str,
    identity: String,
    duration: u64,
) -> Result<Leadership> {
    // Renew at half the duration (kube-lease-manager renews `grace` before expiry). Our own
    // renew deadline is `duration - grace/2`: a renewal may come up to a quarter of the lease
    // late before this replica stops writing, and it stops a quarter of the lease before a
    // standby may take over. A tighter grace made a loaded machine drop healthy leaders.
    let grace = (duration / 2).clamp(1, duration.saturating_sub(1).max(1));
    let manager = LeaseManagerBuilder::new(client.clone(), LEASE_NAME)
        .with_namespace(namespace)
        .with_identity(identity.clone())
        .with_duration(duration)
        .with_grace(grace)
        .build()
        .await
        .map_err(lease_error)?;
    let (says_tx, says) = watch::channel(false);
    let released = Arc::new(Notify::new());
    let stop = CancellationToken::new();
    let task = tokio::spawn(elect(manager, says_tx, released.clone(), stop.clone()));
    let renew_deadline = Duration::from_secs(duration) - Duration::from_millis(grace * 500);
    let (leading_tx, leading) = watch::channel(false);
    let watchdog = tokio::spawn(watchdog(
        Api::namespaced(client, namespace),
        identity.clone(),
        says,
        released,
        renew_deadline,
        leading_tx,
    ));
    Ok(Leadership {
        stop,
        task,
        leading,
        watchdog,
        identity,
    })
}

fn lease_error(source: LeaseManagerError) -> Error {
    Error::LeaderElection {
        lease: LEASE_NAME,
        source,
    }
}

/// Drives kube-lease-manager: take the lease when free, renew it while held, release it on
/// `stop`. A standby's manager sleeps until the holder's lease would expire; a released lease
/// (seen by the watchdog) wakes it at once, so a graceful hand-over takes a moment, not a lease.
async fn elect(
    manager: LeaseManager,
    says: watch::Sender<bool>,
    released: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = released.notified() => {
                // The manager's cached view says "held by another until expiry" and it would
                // sleep until then. `release()` is its one public way to re-read the Lease: as
                // a standby it patches nothing (the lease is neither ours nor expired) and then
                // forces a sync, so the next `changed()` sees the lease free and takes it.
                if let Err(e) = manager.release().await {
                    tracing::debug!("leader election: re-reading the released lease: {e}");
                }
            }
            changed = manager.changed() => match changed {
                Ok(leader) => {
                    let _ = says.send(leader);
                }
                Err(e) => {
                    tracing::warn!("leader election: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
        }
    }
    let _ = says.send(false);
    match manager.release().await {
        Ok(()) => tracing::info!("released the leader lease"),
        Err(e) => tracing::warn!("could not release the leader lease: {e}"),
    }
}

/// Keeps `leading` true only while the manager says "leader" and the last renewal by
/// `identity` that the Lease watch delivered is younger than `renew_deadline`. Once lost
/// after having led, it stays lost: the process exits and comes back as a standby. A lease
/// released by its holder wakes this replica's manager.
async fn watchdog(
    leases: Api<Lease>,
    identity: String,
    mut manager: watch::Receiver<bool>,
    released: Arc<Notify>,
    renew_deadline: Duration,
    leading: watch::Sender<bool>,
) {
    let config = watcher::Config::default().fields(&format!("metadata.name={LEASE_NAME}"));
    let mut renewals = std::pin::pin!(watcher(leases, config).default_backoff().applied_objects());
    let mut last_renewal: Option<Instant> = None;
    let mut last_seen = None;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut led = false;
    loop {
        tokio::select! {
            event = renewals.next() => match event {
                Some(Ok(lease)) => {
                    let spec = lease.spec.unwrap_or_default();
                    let holder = spec.holder_identity.unwrap_or_default();
                    let renewed = spec.renew_time.map(|t| t.0);
                    if holder == identity && renewed.is_some() && renewed != last_seen {
                        last_renewal = Some(Instant::now());
                        last_seen = renewed;
                    }
                    if holder.is_empty() && !*manager.borrow() {
                        released.notify_one();
                    }
                }
                Some(Err(e)) => tracing::debug!("leader lease watch: {e}"),
                None => return,
            },
            changed = manager.changed() => if changed.is_err() { return },
            _ = tick.tick() => {}
        }
        let fresh = last_renewal.is_some_and(|at| at.elapsed() < renew_deadline);
        // Lost after having led is final: this process exits and rejoins as a standby.
        let lost_before = led && !*leading.borrow();
        let now_leading = *manager.borrow() && fresh && !lost_before;
        if now_leading != *leading.borrow() {
            if !now_leading && led {
                tracing::warn!(
                    identity,
                    "leader lease not renewed within {renew_deadline:?}: no more writes from this replica"
                );
            }
            led |= now_leading;
            if leading.send(now_leading).is_err() {
                return;
            }
        }
    }
}

impl Leadership {
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Waits until this process holds the lease.
    pub async fn acquired(&mut self) -> Result<()> {
        self.leading
            .wait_for(|leader| *leader)
            .await
            .map(|_| ())
            .map_err(|_| Error::Leadership("election stopped before the lease was acquired"))
    }

    /// Resolves when the lease is lost, or not renewed in time (or the election task ends).
    pub fn lost(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut state = self.leading.clone();
        async move {
            let _ = state.wait_for(|leader| !*leader).await;
        }
    }

    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Releases the lease: the election task stops renewing and releases it, so a standby
    /// takes over at once.
    pub async fn step_down(self) {
        let Leadership {
            stop,
            task,
            watchdog,
            ..
        } = self;
        stop.cancel();
        if let Err(e) = task.await {
            tracing::warn!("leader election task failed: {e}");
        }
        watchdog.abort();
    }
}

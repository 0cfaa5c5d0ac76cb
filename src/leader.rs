//! Leader election on a `coordination.k8s.io` Lease, through kube-lease-manager.
//!
//! Only the leader reconciles (and so writes to Azure). Standby replicas stay Ready, as in
//! controller-runtime, so rollouts never stall on them. A leader that loses its lease stops
//! reconciling and the process exits non-zero, to come back as a standby; on a normal shutdown
//! it releases the lease so a standby takes over at once instead of after the lease expires.

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::{sync::watch, task::JoinHandle};

use crate::{Error, Result};

pub const LEASE_NAME: &str = "security-contact-operator";

pub struct Leadership {
    state: watch::Receiver<bool>,
    task: JoinHandle<std::result::Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
    identity: String,
}

/// Starts competing for the lease; `duration` is how long a silent leader keeps it (seconds).
pub async fn compete(
    client: Client,
    namespace: &str,
    identity: String,
    duration: u64,
) -> Result<Leadership> {
    // Renew well before expiry: a third of the duration, at least one second.
    let grace = (duration / 3).clamp(1, duration.saturating_sub(1).max(1));
    let manager = LeaseManagerBuilder::new(client, LEASE_NAME)
        .with_namespace(namespace)
        .with_identity(identity.clone())
        .with_duration(duration)
        .with_grace(grace)
        .build()
        .await
        .map_err(lease_error)?;
    let (state, task) = manager.watch().await;
    Ok(Leadership {
        state,
        task,
        identity,
    })
}

fn lease_error(source: LeaseManagerError) -> Error {
    Error::LeaderElection {
        lease: LEASE_NAME,
        source,
    }
}

impl Leadership {
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Waits until this process holds the lease.
    pub async fn acquired(&mut self) -> Result<()> {
        self.state
            .wait_for(|leader| *leader)
            .await
            .map(|_| ())
            .map_err(|_| Error::Leadership("election stopped before the lease was acquired"))
    }

    /// Resolves when the lease is lost (or the election task ends).
    pub fn lost(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut state = self.state.clone();
        async move {
            let _ = state.wait_for(|leader| !*leader).await;
        }
    }

    pub fn is_leader(&self) -> bool {
        *self.state.borrow()
    }

    /// Releases the lease (dropping the receiver ends the election task, which releases it).
    pub async fn step_down(self) {
        let Leadership { state, task, .. } = self;
        drop(state);
        match task.await {
            Ok(Ok(_)) => tracing::info!("released the leader lease"),
            Ok(Err(e)) => tracing::warn!("could not release the leader lease: {e}"),
            Err(e) => tracing::warn!("leader election task failed: {e}"),
        }
    }
}

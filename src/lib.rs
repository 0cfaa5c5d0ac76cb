//! security-contact-operator keeps Microsoft Defender for Cloud *security contacts* right on
//! every Azure subscription an organisation owns.
//!
//! The crate reads as a pipeline: [`crd`] declares what is wanted, [`arm`] observes and writes
//! Azure, [`plan`] decides per subscription and [`overlap`] between policies (both pure),
//! [`cis`] grades the baseline (pure); [`oneshot`] (the CLI) and [`controller`] (the operator)
//! compose them. The local Azure simulator is a crate of its own (`crates/azure-sim`), linked
//! in only for `simulate` and `--azure-sim` (cargo feature `azure-sim`, on by default).

pub mod access;
pub mod admin;
pub mod arm;
pub mod audit;
pub(crate) mod cis;
pub mod cli;
pub mod connect;
pub mod controller;
pub mod crd;
pub mod emails;
#[cfg(feature = "azure-sim")]
pub mod embedded;
pub mod exclusions;
pub mod leader;
pub mod listings;
pub mod manifest;
pub mod metrics;
pub mod oneshot;
pub(crate) mod outcome;
pub(crate) mod overlap;
pub(crate) mod plan;
pub mod probe;
pub mod report;
pub mod selection;
pub mod tenant;
#[cfg(test)]
mod testing;
mod text;
pub mod validate;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// Every failure the crate reports. Variants are named by what failed and carry the call or
/// object involved; `#[source]` keeps the cause. Messages never contain a secret or token.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Arm(#[from] arm::ArmError),

    /// A Kubernetes API call failed; `call` names the verb and the object.
    #[error("Kubernetes API: {call}: {source}")]
    Kube {
        call: String,
        #[source]
        source: kube::Error,
    },

    /// No usable kubeconfig or in-cluster configuration.
    #[error("cannot configure a Kubernetes client: {0}")]
    KubeConfig(#[source] kube::Error),

    /// The operator cannot list its own resource: usually the CRD is not installed.
    #[error(
        "cannot list SecurityContactPolicies ({0}); is the CRD installed? \
         `security-contact-operator crd | kubectl apply --server-side -f -`"
    )]
    CrdMissing(#[source] kube::Error),

    #[error("--ca-file {}: {source}", path.display())]
    CaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("--admin-addr {addr}: {source}")]
    AdminBind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    #[error("admin server stopped: {0}")]
    AdminServe(#[source] std::io::Error),

    #[error("leader election (Lease {lease}): {source}")]
    LeaderElection {
        lease: &'static str,
        #[source]
        source: kube_lease_manager::LeaseManagerError,
    },

    /// The election task ended before this replica led, or the lease was lost while leading;
    /// the process exits non-zero so Kubernetes restarts it as a standby.
    #[error("leader election: {0}")]
    Leadership(&'static str),

    /// The Revert ledger of a policy cannot be decoded.
    #[error("ledger ConfigMap {name} is unreadable: {source}")]
    LedgerUnreadable {
        name: String,
        #[source]
        source: serde_json::Error,
    },

    /// A deletion cannot finish without a person; the policy's status says what to do.
    #[error("{0}")]
    CleanupBlocked(String),

    /// The policy cache closed before it was filled: the process is stopping.
    #[error("the policy cache closed: shutting down")]
    Shutdown,

    /// `--azure-sim` could not start the embedded simulator.
    #[error("cannot start the embedded Azure simulator: {0}")]
    EmbeddedSimulator(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// A pass that must be retried (throttling, ARM or token endpoint unavailable); the status
    /// already says so.
    #[error("{reason}: {message}")]
    Transient {
        reason: String,
        message: String,
        retry_after: Option<Duration>,
    },

    /// Boxed: the finalizer error embeds this type.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    /// A failed Kubernetes call, named by what it did (`"patch status of ns/name"`).
    pub fn kube(call: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let call = call.into();
        move |source| Error::Kube { call, source }
    }

    /// Unwraps the finalizer helper's wrapping so metrics and logs see the real cause.
    pub fn from_finalizer(e: kube::runtime::finalizer::Error<Error>) -> Self {
        use kube::runtime::finalizer::Error as F;
        match e {
            F::ApplyFailed(inner) | F::CleanupFailed(inner) => inner,
            other => Error::Finalizer(Box::new(other)),
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Transient { retry_after, .. } => *retry_after,
            Error::Arm(e) => e.retry_after(),
            _ => None,
        }
    }

    /// Low-cardinality label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Arm(_) => "arm",
            Error::Kube { .. } => "kube",
            Error::KubeConfig(_) => "kube_config",
            Error::CrdMissing(_) => "crd_missing",
            Error::CaFile { .. } => "ca_file",
            Error::AdminBind { .. } | Error::AdminServe(_) => "admin",
            Error::LeaderElection { .. } | Error::Leadership(_) => "leader_election",
            Error::LedgerUnreadable { .. } => "ledger",
            Error::EmbeddedSimulator(_) => "embedded_simulator",
            Error::Shutdown => "shutdown",
            Error::CleanupBlocked(_) => "cleanup_blocked",
            Error::Transient { .. } => "transient",
            Error::Finalizer(_) => "finalizer",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

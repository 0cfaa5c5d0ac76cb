//! security-contact-operator keeps Microsoft Defender for Cloud *security contacts* right on
//! every Azure subscription an organisation owns.
//!
//! The crate reads as a pipeline: [`crd`] declares what is wanted, [`arm`] observes and writes
//! Azure, [`plan`] decides (pure), [`cis`] grades the baseline (pure), and the CLI in [`oneshot`]
//! composes them. [`simulator`] is a faithful local Azure (ARM + Entra over HTTPS).

pub mod admin;
pub mod arm;
pub mod cis;
pub mod cli;
pub mod connect;
pub mod controller;
pub mod crd;
pub mod emails;
pub mod leader;
pub mod manifest;
pub mod metrics;
pub mod oneshot;
pub mod outcome;
pub mod plan;
pub mod report;
pub mod simulator;
pub mod status;
pub mod validate;

/// Every failure the crate reports. Variants are named by what failed; `#[source]` keeps the
/// cause. Messages never contain a secret or token.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidPolicy(#[from] validate::Invalid),

    #[error("{0}")]
    Arm(#[from] arm::ArmError),

    #[error("azure simulator: {0}")]
    Simulator(#[from] simulator::SimError),

    #[error("configuration: {0}")]
    Config(String),

    #[error("Kubernetes API: {0}")]
    Kube(#[source] kube::Error),

    /// A pass that must be retried (throttling, ARM or token endpoint unavailable); the status
    /// already says so.
    #[error("{reason}: {message}")]
    Transient {
        reason: String,
        message: String,
        retry_after: Option<std::time::Duration>,
    },

    /// Boxed: the finalizer error embeds this type.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    /// Unwraps the finalizer helper's wrapping so metrics and logs see the real cause.
    pub fn from_finalizer(e: kube::runtime::finalizer::Error<Error>) -> Self {
        use kube::runtime::finalizer::Error as F;
        match e {
            F::ApplyFailed(inner) | F::CleanupFailed(inner) => inner,
            other => Error::Finalizer(Box::new(other)),
        }
    }

    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::Transient { retry_after, .. } => *retry_after,
            Error::Arm(e) => e.retry_after(),
            _ => None,
        }
    }

    /// Low-cardinality label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::InvalidPolicy(_) => "invalid_policy",
            Error::Arm(_) => "arm",
            Error::Simulator(_) => "simulator",
            Error::Config(_) => "config",
            Error::Kube(_) => "kube",
            Error::Transient { .. } => "transient",
            Error::Finalizer(_) => "finalizer",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

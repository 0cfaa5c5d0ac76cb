//! security-contact-operator keeps Microsoft Defender for Cloud *security contacts* right on
//! every Azure subscription an organisation owns.
//!
//! The crate reads as a pipeline: [`crd`] declares what is wanted, [`arm`] observes and writes
//! Azure, [`plan`] decides (pure), [`cis`] grades the baseline (pure), and the CLI in [`oneshot`]
//! composes them. [`simulator`] is a faithful local Azure (ARM + Entra over HTTPS).

pub mod arm;
pub mod cis;
pub mod crd;
pub mod emails;
pub mod plan;
pub mod validate;

/// Every failure the crate reports. Variants are named by what failed; `#[source]` keeps the
/// cause. Messages never contain a secret or token.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidPolicy(#[from] validate::Invalid),

    #[error("{0}")]
    Arm(#[from] arm::ArmError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

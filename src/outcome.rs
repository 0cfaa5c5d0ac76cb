//! What happened to one subscription in one pass, shared by the CLI and the controller.

use std::time::Duration;

use serde::Serialize;

use crate::{
    arm::ArmError,
    cis::Finding,
    crd::Mode,
    plan::{Drift, FieldChange},
};

/// Reasons (one CamelCase word) shared by the CLI's report and the policy's conditions.
pub mod reason {
    pub const COMPLIANT: &str = "Compliant";
    pub const NON_COMPLIANT: &str = "NonCompliant";
    pub const SUSPENDED: &str = "Suspended";
    pub const CONFLICT: &str = "Conflict";
    pub const CREDENTIALS_INVALID: &str = "CredentialsInvalid";
    /// The policy's namespace may not use the operator's identity for what it asks.
    pub const NOT_ALLOWED: &str = "NotAllowed";
    pub const PROGRESSING: &str = "Progressing";
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Verdict {
    Compliant,
    /// Drift found and not written (check, Audit mode, or a dry run).
    NonCompliant,
    /// Drift found and written; compliant now.
    Remediated,
    /// The subscription could not be read or written.
    Failed,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionResult {
    pub policy: String,
    pub mode: Mode,
    pub subscription: String,
    pub verdict: Verdict,
    pub drift: Vec<Drift>,
    pub changes: Vec<FieldChange>,
    /// A write created the contact (ARM answered 201).
    pub created: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    /// Who last changed the contact before we restored it (Activity Log), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<crate::arm::ContactWrite>,
    /// CIS baseline of the contact as it is after this run.
    pub cis: Vec<Finding>,
}

impl SubscriptionResult {
    /// A subscription not looked at yet: compliant until the pass says otherwise.
    pub fn new(policy: impl Into<String>, mode: Mode, subscription: impl Into<String>) -> Self {
        SubscriptionResult {
            policy: policy.into(),
            mode,
            subscription: subscription.into(),
            verdict: Verdict::Compliant,
            drift: Vec::new(),
            changes: Vec::new(),
            created: false,
            error: None,
            changed_by: None,
            cis: Vec::new(),
        }
    }

    /// This subscription could not be read or written.
    pub fn failed(mut self, failure: Failure) -> Self {
        self.verdict = Verdict::Failed;
        self.error = Some(failure);
        self
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Failure {
    /// One CamelCase word, e.g. `AuthorizationFailed`.
    pub reason: String,
    /// Stable across retries (no request ids), so an unchanged failure never rewrites status.
    pub message: String,
    /// ARM's request ids, for support: shown by the CLI, logged, never put in a status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_ids: Option<String>,
    /// Retrying may help (throttling, 5xx, unreachable); otherwise a person must act.
    pub transient: bool,
    /// How long ARM asked us to wait.
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// A failure a person must fix (conflict, bad credentials, ...).
    pub fn terminal(reason: &str, message: impl Into<String>) -> Self {
        Failure {
            reason: reason.to_owned(),
            message: message.into(),
            request_ids: None,
            transient: false,
            retry_after: None,
        }
    }
}

impl From<&ArmError> for Failure {
    fn from(e: &ArmError) -> Self {
        Failure {
            reason: e.reason().to_owned(),
            message: e.summary(),
            request_ids: e.request_ids(),
            transient: e.is_transient(),
            retry_after: e.retry_after(),
        }
    }
}

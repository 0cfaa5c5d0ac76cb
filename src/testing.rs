//! Builders shared by the unit tests.

use crate::crd::{ContactSpec, DeletionPolicy, EmailMerge, Mode, SecurityContactPolicySpec};

/// An Enforce, Additive, Orphan spec requiring `emails` on `subscriptions`, checked every 15 min.
pub fn spec(subscriptions: &[&str], emails: &[&str]) -> SecurityContactPolicySpec {
    SecurityContactPolicySpec {
        mode: Mode::Enforce,
        subscriptions: subscriptions.iter().map(|s| (*s).to_owned()).collect(),
        subscription_selector: None,
        contact: ContactSpec {
            emails: emails.iter().map(|e| (*e).to_owned()).collect(),
            email_merge: EmailMerge::Additive,
            notify_roles: None,
            alert_minimal_severity: None,
            attack_path_minimal_risk_level: None,
            phone: None,
        },
        interval: "15m".into(),
        deletion_policy: DeletionPolicy::Orphan,
        suspend: false,
        exclusions: Vec::new(),
        tenant_contact: None,
        credentials: None,
    }
}

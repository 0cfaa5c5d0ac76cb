//! Test builders on the real types (controller-rs's `fixtures.rs` pattern):
//! `PolicyBuilder::new("p").exact().revert().finalized().build()`.

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

use super::{FINALIZER, status::Pass};
use crate::{
    crd::{
        Credentials, DeletionPolicy, EmailMerge, SecretRef, SecurityContactPolicy,
        SecurityContactPolicyStatus,
    },
    outcome::{SubscriptionResult, Verdict},
};

pub const NAMESPACE: &str = "ns";

pub struct PolicyBuilder(SecurityContactPolicy);

impl PolicyBuilder {
    /// An Enforce + Additive + Orphan policy in namespace `ns`, generation 1, created at a
    /// fixed time, requiring `secops@contoso.com` on subscription `s1`.
    pub fn new(name: &str) -> Self {
        let mut p = SecurityContactPolicy::new(
            name,
            crate::testing::spec(&["s1"], &["secops@contoso.com"]),
        );
        p.metadata.namespace = Some(NAMESPACE.into());
        p.metadata.uid = Some(format!("uid-{name}"));
        p.metadata.generation = Some(1);
        p.metadata.resource_version = Some("1".into());
        PolicyBuilder(p).created(0)
    }

    pub fn namespace(mut self, namespace: &str) -> Self {
        self.0.metadata.namespace = Some(namespace.into());
        self
    }

    pub fn created(mut self, seconds: i64) -> Self {
        self.0.metadata.creation_timestamp = Some(Time(
            Timestamp::from_second(1_800_000_000 + seconds).expect("valid time"),
        ));
        self
    }

    pub fn subscriptions(mut self, subscriptions: &[&str]) -> Self {
        self.0.spec.subscriptions = subscriptions.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub fn emails(mut self, emails: &[&str]) -> Self {
        self.0.spec.contact.emails = emails.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub fn merge(mut self, merge: EmailMerge) -> Self {
        self.0.spec.contact.email_merge = merge;
        self
    }

    pub fn mode(mut self, mode: crate::crd::Mode) -> Self {
        self.0.spec.mode = mode;
        self
    }

    pub fn exact(self) -> Self {
        self.merge(EmailMerge::Exact)
    }

    pub fn revert(mut self) -> Self {
        self.0.spec.deletion_policy = DeletionPolicy::Revert;
        self
    }

    pub fn suspended(mut self) -> Self {
        self.0.spec.suspend = true;
        self
    }

    pub fn generation(mut self, generation: i64) -> Self {
        self.0.metadata.generation = Some(generation);
        self
    }

    pub fn finalized(mut self) -> Self {
        self.0.metadata.finalizers = Some(vec![FINALIZER.into()]);
        self
    }

    pub fn deleting(mut self) -> Self {
        self.0.metadata.deletion_timestamp = self.0.metadata.creation_timestamp.clone();
        self
    }

    /// Credentials from the Secret `name` in the policy's namespace.
    pub fn secret(mut self, name: &str) -> Self {
        self.0.spec.credentials = Some(Credentials {
            secret_ref: Some(SecretRef { name: name.into() }),
            workload_identity: None,
        });
        self
    }

    pub fn annotate(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(key.into(), value.into());
        self
    }

    pub fn status(mut self, status: SecurityContactPolicyStatus) -> Self {
        self.0.status = Some(status);
        self
    }

    pub fn build(self) -> SecurityContactPolicy {
        self.0
    }
}

/// A swept pass over subscriptions with the given verdicts (no drift detail, no errors).
pub fn swept(results: &[(&str, Verdict)]) -> Pass {
    Pass::Swept(
        results
            .iter()
            .map(|(subscription, verdict)| {
                let mut r = SubscriptionResult::new("ns/p", Default::default(), *subscription);
                r.verdict = *verdict;
                r
            })
            .collect(),
    )
}

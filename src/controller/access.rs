//! What the controller knows of who may use the operator's identity: the cluster's
//! `SecurityContactAccess` objects and namespace labels (two watched caches), and the trusted
//! namespaces. [`crate::access`] decides; this only gathers.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    ResourceExt,
    core::PartialObjectMeta,
    runtime::reflector::{ObjectRef, Store},
};

use crate::{
    access::{Grants, SecurityContactAccess, TrustedNamespaces},
    crd::SecurityContactPolicy,
};

pub struct AccessView {
    pub trusted: TrustedNamespaces,
    accesses: Store<SecurityContactAccess>,
    namespaces: Store<PartialObjectMeta<Namespace>>,
}

impl AccessView {
    pub fn new(
        trusted: TrustedNamespaces,
        accesses: Store<SecurityContactAccess>,
        namespaces: Store<PartialObjectMeta<Namespace>>,
    ) -> AccessView {
        AccessView {
            trusted,
            accesses,
            namespaces,
        }
    }

    /// Fixed contents, for tests: `accesses` and `namespaces` (name, labels), both listed.
    #[cfg(test)]
    pub fn fixed(
        trusted: TrustedNamespaces,
        accesses: &[SecurityContactAccess],
        namespaces: &[(&str, &[(&str, &str)])],
    ) -> AccessView {
        use kube::runtime::{reflector, watcher::Event};
        let (access_store, mut writer) = reflector::store();
        writer.apply_watcher_event(&Event::Init);
        for a in accesses {
            writer.apply_watcher_event(&Event::InitApply(a.clone()));
        }
        writer.apply_watcher_event(&Event::InitDone);
        let (namespace_store, mut ns_writer) = reflector::store();
        ns_writer.apply_watcher_event(&Event::Init);
        for (name, labels) in namespaces {
            let mut meta = PartialObjectMeta::<Namespace>::default();
            meta.metadata.name = Some((*name).to_owned());
            meta.metadata.labels = Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            );
            ns_writer.apply_watcher_event(&Event::InitApply(meta));
        }
        ns_writer.apply_watcher_event(&Event::InitDone);
        AccessView::new(trusted, access_store, namespace_store)
    }

    /// Both caches listed: before that, a missing access object could mean "not listed yet".
    /// Awaited once, before the controller starts: a kube-runtime store wakes only the last of
    /// several concurrent waiters.
    pub async fn wait_until_ready(&self) -> bool {
        self.accesses.wait_until_ready().await.is_ok()
            && self.namespaces.wait_until_ready().await.is_ok()
    }

    /// A judge for one pass, over the access objects as they are now.
    pub fn judge(&self) -> Judge<'_> {
        let accesses = self.accesses.state();
        Judge {
            view: self,
            grants: Grants::new(self.trusted.clone(), accesses.iter().map(AsRef::as_ref)),
        }
    }

    fn labels(&self, namespace: &str) -> BTreeMap<String, String> {
        self.namespaces
            .get(&ObjectRef::new(namespace))
            .map(|n| n.labels().clone())
            .unwrap_or_default()
    }
}

/// The access rule applied to whole policies.
pub struct Judge<'a> {
    view: &'a AccessView,
    grants: Grants,
}

impl Judge<'_> {
    /// `Err` says which access the policy lacks.
    pub fn check(&self, policy: &SecurityContactPolicy) -> Result<(), String> {
        let namespace = policy.namespace().unwrap_or_default();
        self.grants
            .check(&namespace, &self.view.labels(&namespace), &policy.spec)
    }

    /// [`super::gate::Standing`]: may it act, and with which precedence.
    pub fn standing(&self, policy: &SecurityContactPolicy) -> super::gate::Standing {
        self.check(policy)?;
        let namespace = policy.namespace().unwrap_or_default();
        Ok(if self.view.trusted.contains(&namespace) {
            0
        } else {
            1
        })
    }

    pub fn permits_revert(&self, policy: &SecurityContactPolicy, subscription: &str) -> bool {
        let namespace = policy.namespace().unwrap_or_default();
        self.grants.permits_revert(
            &namespace,
            &self.view.labels(&namespace),
            &policy.spec,
            subscription,
        )
    }
}

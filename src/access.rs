//! Who may act through the operator's own Azure identity: the cluster-scoped
//! `SecurityContactAccess` API and the rule that reads it, pure.
//!
//! The operator's identity can typically write the security contact of many subscriptions. If
//! every namespace could point a policy at any subscription and have the operator act for it,
//! anyone allowed to create a `SecurityContactPolicy` could replace another team's addresses,
//! raise the alert threshold, or read their contact in Audit: a confused deputy. So a policy
//! without its own `spec.credentials` acts only when
//!
//! * its namespace is one the operator trusts outright (`--operator-identity-namespaces`, by
//!   default the operator's own namespace), or
//! * for **every** subscription it names, some access object selects its namespace, lists that
//!   subscription, and allows its mode, email merge and deletion policy.
//!
//! Access objects are cluster-scoped, so only whoever may write cluster-scoped objects of this
//! group (cluster admins; the chart grants it to no one) can widen what a namespace may do. A
//! policy with its own credentials acts as the identity its namespace holds (a Secret there,
//! or a workload identity federated to a ServiceAccount there) and needs no access object.

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    fmt::Write as _,
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{
    CustomResource, KubeSchema, ResourceExt,
    core::{Selector, SelectorExt},
};
use serde::{Deserialize, Serialize};

use crate::crd::{
    DeletionPolicy, EmailMerge, MANAGEMENT_GROUP_PATTERN, Mode, SUBSCRIPTION_ID_PATTERN,
    SecurityContactPolicySpec,
};

/// A namespace name (DNS-1123 label).
pub const NAMESPACE_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// Lets the policies of some namespaces act through the operator's own Azure identity, on
/// some subscriptions, with some modes, merges and deletion policies.
// clippy reads the repeated `type_ = "string"` of the printer columns as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "securitycontact.dev",
    version = "v1alpha1",
    kind = "SecurityContactAccess",
    plural = "securitycontactaccesses",
    shortname = "sca",
    category = "azure",
    category = "security",
    derive = "PartialEq",
    doc = "Lets the SecurityContactPolicies of some namespaces act through the operator's own Azure identity, on the subscriptions and with the modes, merges and deletion policies listed. Cluster-scoped: only cluster admins should be able to write it.",
    printcolumn(
        name = "Namespaces",
        type_ = "string",
        json_path = ".spec.namespaces.names"
    ),
    printcolumn(name = "Modes", type_ = "string", json_path = ".spec.modes"),
    printcolumn(name = "Merges", type_ = "string", json_path = ".spec.emailMerges"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new(
    "(has(self.subscriptions) && size(self.subscriptions) > 0) || (has(self.managementGroups) && size(self.managementGroups) > 0)"
).message("grant subscriptions, managementGroups, or both"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecurityContactAccessSpec {
    /// The namespaces whose policies this access applies to.
    pub namespaces: NamespaceSelection,

    /// Subscriptions those policies may govern through the operator's identity, by id.
    #[serde(default)]
    #[schemars(length(max = 10000), extend("x-kubernetes-list-type" = "set"))]
    #[schemars(inner(regex(pattern = SUBSCRIPTION_ID_PATTERN), length(max = 36)))]
    pub subscriptions: Vec<String>,

    /// Management groups those policies may select (`subscriptionSelector.managementGroups`):
    /// every subscription under them, as Azure lists them on each pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), extend("x-kubernetes-list-type" = "set"))]
    #[schemars(inner(regex(pattern = MANAGEMENT_GROUP_PATTERN), length(min = 1, max = 90)))]
    pub management_groups: Vec<String>,

    /// Whether those policies may manage the tenant's own notification addresses
    /// (`spec.tenantContact`, Microsoft Graph): tenant-wide, so never granted by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tenant_contacts: bool,

    /// Modes allowed (default both: Audit only reads, Enforce writes).
    #[serde(default = "default_modes")]
    #[schemars(length(min = 1, max = 2), extend("x-kubernetes-list-type" = "set"))]
    pub modes: Vec<Mode>,

    /// Email merges allowed. Default Additive only: Exact removes every address it does not
    /// list, so a namespace gets it only when granted explicitly.
    #[serde(default = "default_merges")]
    #[schemars(length(min = 1, max = 2), extend("x-kubernetes-list-type" = "set"))]
    pub email_merges: Vec<EmailMerge>,

    /// Deletion policies allowed. Default Orphan only: Revert removes addresses on deletion.
    #[serde(default = "default_deletion_policies")]
    #[schemars(length(min = 1, max = 2), extend("x-kubernetes-list-type" = "set"))]
    pub deletion_policies: Vec<DeletionPolicy>,
}

/// Namespaces by name, by label, or both (a namespace matching either is selected).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("has(self.names) || has(self.selector)")
    .message("namespaces needs names, a selector, or both"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceSelection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), extend("x-kubernetes-list-type" = "set"))]
    #[schemars(inner(regex(pattern = NAMESPACE_PATTERN), length(max = 63)))]
    pub names: Option<Vec<String>>,

    /// A label selector over Namespace objects. Whoever may label namespaces can then widen
    /// this access: use names unless namespace labels are as closely held as this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

fn default_modes() -> Vec<Mode> {
    vec![Mode::Audit, Mode::Enforce]
}

fn default_merges() -> Vec<EmailMerge> {
    vec![EmailMerge::Additive]
}

fn default_deletion_policies() -> Vec<DeletionPolicy> {
    vec![DeletionPolicy::Orphan]
}

/// The access CRD as YAML, exactly as committed under `crds/`.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    serde_saphyr::to_string(&SecurityContactAccess::crd()).expect("the CRD serialises to YAML")
}

/// Namespaces whose policies may use the operator's identity without an access object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustedNamespaces {
    /// `*`: every namespace (the behaviour before access objects; for single-team clusters).
    Any,
    Only(BTreeSet<String>),
}

impl TrustedNamespaces {
    /// From `--operator-identity-namespaces`: `*` for any, else names; empty means `own`.
    pub fn from_flag(values: &[String], own: &str) -> TrustedNamespaces {
        let values: Vec<&str> = values
            .iter()
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .collect();
        if values.contains(&"*") {
            TrustedNamespaces::Any
        } else if values.is_empty() {
            TrustedNamespaces::Only(BTreeSet::from([own.to_owned()]))
        } else {
            TrustedNamespaces::Only(values.into_iter().map(str::to_owned).collect())
        }
    }

    pub fn contains(&self, namespace: &str) -> bool {
        match self {
            TrustedNamespaces::Any => true,
            TrustedNamespaces::Only(names) => names.contains(namespace),
        }
    }
}

/// One access object, prepared for look-ups: a hash set of subscriptions, a parsed selector.
#[derive(Debug)]
struct Grant {
    name: String,
    names: HashSet<String>,
    /// `None` when there is no selector or it does not parse (then it selects nothing).
    selector: Option<Selector>,
    subscriptions: HashSet<String>,
    management_groups: HashSet<String>,
    tenant_contacts: bool,
    modes: Vec<Mode>,
    merges: Vec<EmailMerge>,
    deletion_policies: Vec<DeletionPolicy>,
}

impl Grant {
    fn new(access: &SecurityContactAccess) -> Grant {
        let spec = &access.spec;
        Grant {
            name: access.name_any(),
            names: spec.namespaces.names.iter().flatten().cloned().collect(),
            selector: spec
                .namespaces
                .selector
                .clone()
                .and_then(|s| Selector::try_from(s).ok()),
            subscriptions: spec
                .subscriptions
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            management_groups: spec
                .management_groups
                .iter()
                .map(|g| g.to_ascii_lowercase())
                .collect(),
            tenant_contacts: spec.tenant_contacts,
            modes: spec.modes.clone(),
            merges: spec.email_merges.clone(),
            deletion_policies: spec.deletion_policies.clone(),
        }
    }

    fn selects(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.names.contains(namespace) || self.selector.as_ref().is_some_and(|s| s.matches(labels))
    }

    fn allows(&self, mode: Mode, merge: EmailMerge, deletion: DeletionPolicy) -> bool {
        self.modes.contains(&mode)
            && self.merges.contains(&merge)
            && self.deletion_policies.contains(&deletion)
    }
}

/// Every access object and the trusted namespaces, as one pass sees them.
#[derive(Debug)]
pub struct Grants {
    trusted: TrustedNamespaces,
    grants: Vec<Grant>,
}

/// What a policy asks of the operator's identity.
#[derive(Clone, Copy, Debug)]
struct Ask {
    mode: Mode,
    merge: EmailMerge,
    deletion: DeletionPolicy,
}

impl Ask {
    fn of(spec: &SecurityContactPolicySpec) -> Ask {
        Ask {
            mode: spec.mode,
            merge: spec.contact.email_merge,
            deletion: spec.deletion_policy,
        }
    }
}

impl Grants {
    pub fn new<'a>(
        trusted: TrustedNamespaces,
        accesses: impl IntoIterator<Item = &'a SecurityContactAccess>,
    ) -> Grants {
        Grants {
            trusted,
            grants: accesses.into_iter().map(Grant::new).collect(),
        }
    }

    /// Whether a policy in `namespace` (with those `labels`) may act at all. `Err` says, for
    /// a person, which access it lacks. Policies with their own credentials always may.
    pub fn check(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        spec: &SecurityContactPolicySpec,
    ) -> Result<(), String> {
        if spec.credentials.is_some() || self.trusted.contains(namespace) {
            return Ok(());
        }
        let ask = Ask::of(spec);
        let selecting: Vec<&Grant> = self
            .grants
            .iter()
            .filter(|g| g.selects(namespace, labels))
            .collect();
        if selecting.is_empty() {
            return Err(format!(
                "no SecurityContactAccess lets namespace {namespace} use the operator's Azure \
                 identity: a cluster admin must create one naming this namespace and these \
                 subscriptions, or give the policy its own spec.credentials"
            ));
        }
        if spec.tenant_contact.is_some()
            && !selecting
                .iter()
                .any(|a| a.tenant_contacts && a.allows(ask.mode, ask.merge, ask.deletion))
        {
            return Err(format!(
                "no SecurityContactAccess for namespace {namespace} allows tenantContacts (the \
                 tenant's own notification addresses, tenant-wide) with mode {:?}, emailMerge \
                 {:?} and deletionPolicy {:?}; this policy makes no Azure call until a cluster \
                 admin grants it",
                ask.mode, ask.merge, ask.deletion
            ));
        }
        if let Some(selector) = &spec.subscription_selector {
            if selector.all_visible || selector.management_groups.is_empty() {
                return Err(format!(
                    "a subscriptionSelector over every visible subscription (allVisible, or \
                     matchTags without managementGroups) may use the operator's Azure identity \
                     only in a trusted namespace, and {namespace} is not one: select \
                     managementGroups a SecurityContactAccess grants, or give the policy its \
                     own spec.credentials"
                ));
            }
            if let Some(group) = selector.management_groups.iter().find(|g| {
                !selecting.iter().any(|a| {
                    a.management_groups.contains(&g.to_ascii_lowercase())
                        && a.allows(ask.mode, ask.merge, ask.deletion)
                })
            }) {
                return Err(format!(
                    "no SecurityContactAccess for namespace {namespace} allows mode {:?} with \
                     emailMerge {:?} and deletionPolicy {:?} on management group {group}; this \
                     policy makes no Azure call until a cluster admin grants it",
                    ask.mode, ask.merge, ask.deletion
                ));
            }
        }
        let refused: Vec<&String> = spec
            .subscriptions
            .iter()
            .filter(|s| !permits(&selecting, s, ask))
            .collect();
        let Some(first) = refused.first() else {
            return Ok(());
        };
        let names = selecting
            .iter()
            .map(|g| g.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let covering: Vec<&&Grant> = selecting
            .iter()
            .filter(|g| g.subscriptions.contains(&first.to_ascii_lowercase()))
            .collect();
        let mut message = if covering.is_empty() {
            format!(
                "no SecurityContactAccess for namespace {namespace} ({names}) includes \
                 subscription {first}"
            )
        } else {
            let offers = covering
                .iter()
                .map(|g| {
                    format!(
                        "{} allows modes {}, emailMerges {}, deletionPolicies {}",
                        g.name,
                        list(&g.modes),
                        list(&g.merges),
                        list(&g.deletion_policies)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            format!(
                "no SecurityContactAccess for namespace {namespace} allows mode {:?} with \
                 emailMerge {:?} and deletionPolicy {:?} on subscription {first} ({offers})",
                ask.mode, ask.merge, ask.deletion
            )
        };
        if refused.len() > 1 {
            let _ = write!(message, " (and {} more subscriptions)", refused.len() - 1);
        }
        message.push_str("; this policy makes no Azure call until a cluster admin grants it");
        Err(message)
    }

    /// Whether Revert may write `subscription` for a policy being deleted: the policy's
    /// namespace is trusted, or an access still allows Enforce with Revert there.
    pub fn permits_revert(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        spec: &SecurityContactPolicySpec,
        subscription: &str,
    ) -> bool {
        if spec.credentials.is_some() || self.trusted.contains(namespace) {
            return true;
        }
        let selecting: Vec<&Grant> = self
            .grants
            .iter()
            .filter(|g| g.selects(namespace, labels))
            .collect();
        let ask = Ask {
            mode: Mode::Enforce,
            merge: spec.contact.email_merge,
            deletion: DeletionPolicy::Revert,
        };
        // A subscription a selector found: allowed while every group of the selector is
        // still granted Revert (where it sits now is not known without asking Azure).
        let by_groups = spec.subscription_selector.as_ref().is_some_and(|sel| {
            !sel.all_visible
                && !sel.management_groups.is_empty()
                && sel.management_groups.iter().all(|g| {
                    selecting.iter().any(|a| {
                        a.management_groups.contains(&g.to_ascii_lowercase())
                            && a.allows(ask.mode, ask.merge, ask.deletion)
                    })
                })
        });
        by_groups || permits(&selecting, subscription, ask)
    }
}

fn permits(grants: &[&Grant], subscription: &str, ask: Ask) -> bool {
    let id = subscription.to_ascii_lowercase();
    grants
        .iter()
        .any(|g| g.subscriptions.contains(&id) && g.allows(ask.mode, ask.merge, ask.deletion))
}

fn list<T: std::fmt::Debug>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| format!("{i:?}"))
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{crd::Credentials, crd::SecretRef, testing::spec};

    const S1: &str = "00000000-0000-0000-0000-000000000001";
    const S2: &str = "00000000-0000-0000-0000-000000000002";

    fn access(name: &str, names: &[&str], subscriptions: &[&str]) -> SecurityContactAccess {
        SecurityContactAccess::new(
            name,
            SecurityContactAccessSpec {
                namespaces: NamespaceSelection {
                    names: Some(names.iter().map(|s| (*s).to_owned()).collect()),
                    selector: None,
                },
                subscriptions: subscriptions.iter().map(|s| (*s).to_owned()).collect(),
                management_groups: Vec::new(),
                tenant_contacts: false,
                modes: default_modes(),
                email_merges: default_merges(),
                deletion_policies: default_deletion_policies(),
            },
        )
    }

    fn trusted(names: &[&str]) -> TrustedNamespaces {
        TrustedNamespaces::Only(names.iter().map(|s| (*s).to_owned()).collect())
    }

    fn no_labels() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    #[test]
    fn without_access_only_the_trusted_namespace_may_use_the_operator_identity() {
        let grants = Grants::new(trusted(&["security"]), []);
        let p = spec(&[S1], &["a@contoso.com"]);
        assert!(grants.check("security", &no_labels(), &p).is_ok());
        let refused = grants.check("team-a", &no_labels(), &p).unwrap_err();
        assert!(
            refused.contains("no SecurityContactAccess lets namespace team-a"),
            "{refused}"
        );
        assert!(!grants.permits_revert("team-a", &no_labels(), &p, S1));
    }

    #[test]
    fn own_credentials_need_no_access() {
        let grants = Grants::new(trusted(&["security"]), []);
        let mut p = spec(&[S1], &["a@contoso.com"]);
        p.credentials = Some(Credentials {
            secret_ref: Some(SecretRef { name: "x".into() }),
            workload_identity: None,
        });
        assert!(grants.check("team-a", &no_labels(), &p).is_ok());
    }

    #[test]
    fn star_trusts_every_namespace() {
        let trusted = TrustedNamespaces::from_flag(&["*".into()], "ops");
        assert_eq!(trusted, TrustedNamespaces::Any);
        assert_eq!(
            TrustedNamespaces::from_flag(&[], "ops"),
            TrustedNamespaces::Only(BTreeSet::from(["ops".to_owned()]))
        );
        let grants = Grants::new(trusted, []);
        assert!(
            grants
                .check("anyone", &no_labels(), &spec(&[S1], &["a@contoso.com"]))
                .is_ok()
        );
    }

    #[test]
    fn every_subscription_must_be_granted_and_the_message_names_the_first_missing() {
        let a = access("team-a-s1", &["team-a"], &[S1]);
        let grants = Grants::new(trusted(&[]), [&a]);
        assert!(
            grants
                .check("team-a", &no_labels(), &spec(&[S1], &["a@contoso.com"]))
                .is_ok()
        );
        let why = grants
            .check("team-a", &no_labels(), &spec(&[S1, S2], &["a@contoso.com"]))
            .unwrap_err();
        assert!(
            why.contains(&format!("includes subscription {S2}")),
            "{why}"
        );
        assert!(why.contains("team-a-s1"), "{why}");
        assert!(
            grants
                .check("team-b", &no_labels(), &spec(&[S1], &["a@contoso.com"]))
                .is_err()
        );
    }

    #[test]
    fn exact_and_revert_must_be_granted_explicitly() {
        let a = access("team-a-s1", &["team-a"], &[S1]);
        let grants = Grants::new(trusted(&[]), [&a]);
        let mut exact = spec(&[S1], &["a@contoso.com"]);
        exact.contact.email_merge = EmailMerge::Exact;
        let why = grants.check("team-a", &no_labels(), &exact).unwrap_err();
        assert!(why.contains("emailMerge Exact"), "{why}");
        assert!(
            why.contains("team-a-s1 allows modes Audit/Enforce, emailMerges Additive"),
            "{why}"
        );

        let mut revert = spec(&[S1], &["a@contoso.com"]);
        revert.deletion_policy = DeletionPolicy::Revert;
        assert!(grants.check("team-a", &no_labels(), &revert).is_err());
        assert!(!grants.permits_revert("team-a", &no_labels(), &revert, S1));

        let mut wide = access("team-a-wide", &["team-a"], &[S1]);
        wide.spec.email_merges = vec![EmailMerge::Additive, EmailMerge::Exact];
        wide.spec.deletion_policies = vec![DeletionPolicy::Orphan, DeletionPolicy::Revert];
        let grants = Grants::new(trusted(&[]), [&a, &wide]);
        assert!(grants.check("team-a", &no_labels(), &exact).is_ok());
        assert!(grants.check("team-a", &no_labels(), &revert).is_ok());
        assert!(grants.permits_revert("team-a", &no_labels(), &revert, S1));
        assert!(!grants.permits_revert("team-a", &no_labels(), &revert, S2));
    }

    #[test]
    fn audit_only_access_refuses_enforce() {
        let mut a = access("read-only", &["team-a"], &[S1]);
        a.spec.modes = vec![Mode::Audit];
        let grants = Grants::new(trusted(&[]), [&a]);
        let mut audit = spec(&[S1], &["a@contoso.com"]);
        audit.mode = Mode::Audit;
        assert!(grants.check("team-a", &no_labels(), &audit).is_ok());
        let why = grants
            .check("team-a", &no_labels(), &spec(&[S1], &["a@contoso.com"]))
            .unwrap_err();
        assert!(why.contains("mode Enforce"), "{why}");
    }

    #[test]
    fn grants_add_up_across_access_objects_and_ids_ignore_case() {
        let a = access("s1", &["team-a"], &[S1]);
        let b = access("s2", &["team-a"], &[&S2.to_uppercase()]);
        let grants = Grants::new(trusted(&[]), [&a, &b]);
        assert!(
            grants
                .check("team-a", &no_labels(), &spec(&[S1, S2], &["a@contoso.com"]))
                .is_ok()
        );
    }

    #[test]
    fn a_selector_matches_namespace_labels_and_a_broken_one_matches_nothing() {
        let mut a = access("by-label", &[], &[S1]);
        a.spec.namespaces.names = None;
        a.spec.namespaces.selector = Some(LabelSelector {
            match_labels: Some(BTreeMap::from([("team".into(), "a".into())])),
            ..Default::default()
        });
        let mut broken = a.clone();
        broken.metadata.name = Some("broken".into());
        broken.spec.namespaces.selector = Some(LabelSelector {
            match_expressions: Some(vec![
                k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
                    key: "team".into(),
                    operator: "Sideways".into(),
                    values: None,
                },
            ]),
            ..Default::default()
        });
        let labelled = BTreeMap::from([("team".to_owned(), "a".to_owned())]);
        let p = spec(&[S1], &["a@contoso.com"]);
        let grants = Grants::new(trusted(&[]), [&a]);
        assert!(grants.check("anything", &labelled, &p).is_ok());
        assert!(grants.check("anything", &no_labels(), &p).is_err());
        let grants = Grants::new(trusted(&[]), [&broken]);
        assert!(grants.check("anything", &labelled, &p).is_err());
    }

    #[test]
    fn a_selector_needs_its_management_groups_granted_and_never_all_visible() {
        let mut a = access("team-a-groups", &["team-a"], &[]);
        a.spec.management_groups = vec!["Team-A-Apps".into()];
        let grants = Grants::new(trusted(&["security"]), [&a]);
        let selecting = |groups: &[&str], all_visible: bool| {
            let mut p = spec(&[], &["a@contoso.com"]);
            p.subscription_selector = Some(crate::crd::SubscriptionSelector {
                management_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                all_visible,
                ..Default::default()
            });
            p
        };
        assert!(
            grants
                .check("team-a", &no_labels(), &selecting(&["team-a-apps"], false))
                .is_ok()
        );
        let why = grants
            .check(
                "team-a",
                &no_labels(),
                &selecting(&["team-a-apps", "root"], false),
            )
            .unwrap_err();
        assert!(why.contains("management group root"), "{why}");
        let why = grants
            .check("team-a", &no_labels(), &selecting(&[], true))
            .unwrap_err();
        assert!(why.contains("only in a trusted namespace"), "{why}");
        assert!(
            grants
                .check("security", &no_labels(), &selecting(&[], true))
                .is_ok()
        );
    }
}

//! The `SecurityContactPolicy` API (`securitycontact.dev/v1alpha1`).
//!
//! Field names here are the public contract. Every constraint that can be checked at admission
//! lives in this file as schema (patterns, enums, bounds, list semantics) or CEL, so a bad
//! manifest is rejected by the API server with a clear message and never reaches the
//! controller. [`crate::validate`] enforces exactly the same rules for the one-shot CLI, and a
//! property test keeps the two in step.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "securitycontact.dev";
pub const VERSION: &str = "v1alpha1";
pub const KIND: &str = "SecurityContactPolicy";

/// Bounds shared by the schema and the Rust validator. Every string and list is bounded so the
/// API server's CEL cost estimator accepts the rules, and so a status or ARM body stays small.
pub mod limits {
    pub const MAX_SUBSCRIPTIONS: usize = 10_000;
    pub const MAX_EMAILS: usize = 50;
    pub const MAX_EMAIL_LEN: usize = 254;
    pub const MAX_PHONE_LEN: usize = 40;
    pub const MAX_INTERVAL_LEN: usize = 16;
    pub const MAX_SECRET_NAME_LEN: usize = 253;
    pub const MAX_EXCLUSIONS: usize = 1000;
    /// Characters of an exclusion's reason (JSON Schema counts characters, not bytes).
    pub const MAX_REASON_LEN: usize = 256;
    /// Shortest accepted `interval`. One minute is the sensible floor in production; seconds
    /// are accepted down to this value so end-to-end tests can watch several intervals pass.
    pub const MIN_INTERVAL_SECS: u64 = 5;
    pub const MAX_INTERVAL_SECS: u64 = 24 * 60 * 60;
}

/// Subscription id as ARM prints it (`common/v1/types.json` `SubscriptionId`).
pub const SUBSCRIPTION_ID_PATTERN: &str =
    "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$";

/// The WHATWG HTML "valid e-mail address" pattern (the one browsers, `validator` and `garde`
/// use), with the final domain-label group made mandatory so a dot is required in the domain.
/// It is RE2-compatible, so the API server and the `regex` crate read it the same way.
pub const EMAIL_PATTERN: &str = r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+$";

/// Digits, spaces and the punctuation people write phone numbers with.
pub const PHONE_PATTERN: &str = r"^[0-9+()./ -]*$";

/// Whole seconds, minutes and hours, e.g. `90s`, `15m`, `1h30m` (a subset of Go durations, so
/// CEL's `duration()` parses every accepted value).
pub const INTERVAL_PATTERN: &str = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";

/// A Kubernetes object name (DNS-1123 subdomain).
pub const SECRET_NAME_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// A management group id: letters, digits, `-`, `_`, `(`, `)`, `.` (up to 90 characters; not
/// ending in a period).
pub const MANAGEMENT_GROUP_PATTERN: &str = r"^[a-zA-Z0-9_().-]*[a-zA-Z0-9_()-]$";

/// An Entra tenant: a GUID or a domain name.
pub const TENANT_PATTERN: &str = r"^([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+)$";

pub const DEFAULT_INTERVAL: &str = "15m";

/// Declares the Defender for Cloud security contact that a set of subscriptions must have.
// clippy reads the repeated `type_ = "string"` of the printer columns as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "securitycontact.dev",
    version = "v1alpha1",
    kind = "SecurityContactPolicy",
    namespaced,
    shortname = "scp",
    category = "azure",
    category = "security",
    status = "SecurityContactPolicyStatus",
    derive = "PartialEq",
    doc = "Keeps the Microsoft Defender for Cloud security contact of a set of Azure subscriptions as declared.",
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Compliant", type_ = "string", json_path = ".status.compliance"),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new(
    "!(self.mode == 'Audit' && self.deletionPolicy == 'Revert')"
).message("deletionPolicy Revert needs mode Enforce: an Audit policy never writes, so it has nothing to revert").field_path(".deletionPolicy"))]
#[x_kube(validation = Rule::new(
    "(has(self.subscriptions) && size(self.subscriptions) > 0) || has(self.subscriptionSelector) || has(self.tenantContact)"
).message("name subscriptions, a subscriptionSelector, a tenantContact, or several"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecurityContactPolicySpec {
    /// Enforce (default) remediates drift; Audit only reports it and never writes to Azure.
    #[serde(default)]
    pub mode: Mode,

    /// Subscriptions this policy governs, by id. Combined with `subscriptionSelector` (the
    /// union, then `exclusions`); at least one of the two is required.
    #[serde(default)]
    #[schemars(length(max = 10000), extend("x-kubernetes-list-type" = "set"))]
    #[schemars(inner(regex(pattern = SUBSCRIPTION_ID_PATTERN), length(max = 36)))]
    pub subscriptions: Vec<String>,

    /// Subscriptions found in Azure on every pass: under management groups, by tag, or every
    /// one the identity can see. Only subscriptions that can raise alerts are selected
    /// (Enabled, Warned, PastDue); Disabled and Deleted ones are counted and skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_selector: Option<SubscriptionSelector>,

    /// The security contact every subscription must have.
    pub contact: ContactSpec,

    /// How often Azure is re-read to catch drift (ARM has no watch): `1m`..`24h`, e.g. `15m`,
    /// `1h30m`. Seconds are accepted down to 5s for tests.
    #[serde(default = "default_interval")]
    #[schemars(length(max = 16), regex(pattern = INTERVAL_PATTERN))]
    #[x_kube(validation = Rule::new(
        "self != '' && duration(self) >= duration('5s') && duration(self) <= duration('24h')"
    ).message("interval must be between 5s and 24h, e.g. 15m"))]
    pub interval: String,

    /// What happens in Azure when this policy is deleted: Orphan (default) leaves the contacts
    /// as they are; Revert removes only the addresses this policy added.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Stop all Azure calls for this policy while true.
    #[serde(default)]
    pub suspend: bool,

    /// Subscriptions left alone, each with the reason and optionally until when (as Azure
    /// Policy exemptions have). An excluded subscription is never read or written; once
    /// `expires` has passed, the exclusion stops applying and is reported as expired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["subscription"]))]
    pub exclusions: Vec<Exclusion>,

    /// Microsoft Entra ID's own notification addresses for a tenant (Microsoft Graph
    /// `organization`): technical and security/compliance notifications go there, not to the
    /// subscription contacts. Same Audit/Enforce and merge semantics as `contact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_contact: Option<TenantContact>,

    /// Azure credentials for this policy; the operator's own identity when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
}

fn default_interval() -> String {
    DEFAULT_INTERVAL.to_owned()
}

/// Subscriptions found in Azure. The criteria given all apply: under any of
/// `managementGroups` (or, without groups, among every visible subscription) and carrying
/// every tag of `matchTags`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new(
    "(has(self.managementGroups) && size(self.managementGroups) > 0) || (has(self.matchTags) && size(self.matchTags) > 0) || (has(self.allVisible) && self.allVisible)"
).message("subscriptionSelector needs managementGroups, matchTags or allVisible: true"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionSelector {
    /// Management group ids: every subscription under them, at any depth.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), extend("x-kubernetes-list-type" = "set"))]
    #[schemars(inner(regex(pattern = MANAGEMENT_GROUP_PATTERN), length(min = 1, max = 90)))]
    pub management_groups: Vec<String>,

    /// Subscription tags that must all be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 20))]
    pub match_tags: BTreeMap<String, String>,

    /// Every subscription the identity can see (narrowed by `matchTags` if given).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_visible: bool,
}

/// The tenant's notification addresses. A list left out is not managed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new(
    "has(self.technicalNotificationMails) || has(self.securityComplianceNotificationMails)"
).message("tenantContact needs technicalNotificationMails, securityComplianceNotificationMails, or both"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantContact {
    /// The Entra tenant (directory) id.
    #[schemars(length(max = 36), regex(pattern = SUBSCRIPTION_ID_PATTERN))]
    pub tenant_id: String,

    /// `technicalNotificationMails`: technical notices about the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 50), extend("x-kubernetes-list-type" = "set"))]
    #[schemars(inner(regex(pattern = EMAIL_PATTERN), length(max = 254)))]
    pub technical_notification_mails: Option<Vec<String>>,

    /// `securityComplianceNotificationMails`: security and compliance notices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 50), extend("x-kubernetes-list-type" = "set"))]
    #[schemars(inner(regex(pattern = EMAIL_PATTERN), length(max = 254)))]
    pub security_compliance_notification_mails: Option<Vec<String>>,

    /// Additive (default) keeps every other address on each list; Exact makes each managed
    /// list exactly these.
    #[serde(default)]
    pub merge: EmailMerge,
}

/// A subscription this policy leaves alone, and why.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Exclusion {
    #[schemars(length(max = 36), regex(pattern = SUBSCRIPTION_ID_PATTERN))]
    pub subscription: String,

    /// Why it is excluded, for the people reading the status (e.g. a ticket).
    #[schemars(length(min = 1, max = 256))]
    pub reason: String,

    /// When the exclusion stops applying (RFC 3339, e.g. `2027-03-31T00:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Time>,
}

/// The required contact. A field left out is not managed: its Azure value is kept on write.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new(
    "self.emails.all(e, self.emails.filter(f, f.lowerAscii() == e.lowerAscii()).size() == 1)"
).message("emails must be unique ignoring case").field_path(".emails"))]
// No `reason: FieldValueDuplicate` above: the API server then prints a bare "Duplicate value"
// instead of the message.
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactSpec {
    /// Addresses that must receive Defender for Cloud notifications (a set, 1..50).
    #[schemars(length(min = 1, max = 50), extend("x-kubernetes-list-type" = "set"))]
    #[schemars(inner(regex(pattern = EMAIL_PATTERN), length(max = 254)))]
    pub emails: Vec<String>,

    /// Additive (default) keeps every other address already on the contact; Exact makes the
    /// list exactly `emails`.
    #[serde(default)]
    pub email_merge: EmailMerge,

    /// Roles whose holders are notified too (notifications by role turned On).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4), extend("x-kubernetes-list-type" = "set"))]
    pub notify_roles: Option<Vec<Role>>,

    /// Alerts of this severity or higher are emailed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_minimal_severity: Option<Severity>,

    /// Attack paths of this risk level or higher are emailed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack_path_minimal_risk_level: Option<RiskLevel>,

    /// Phone number of the security contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 40), regex(pattern = PHONE_PATTERN))]
    pub phone: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    #[default]
    Enforce,
    Audit,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EmailMerge {
    #[default]
    Additive,
    Exact,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DeletionPolicy {
    #[default]
    Orphan,
    Revert,
}

/// `SecurityContactRole` in the ARM spec.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    AccountAdmin,
    ServiceAdmin,
    Owner,
    Contributor,
}

/// Alert severity; "High" means High only, "Low" means every alert.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    High,
    Medium,
    Low,
}

/// Attack-path risk level; "Critical" means Critical only, "Low" means every attack path.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RiskLevel {
    Critical,
    High,
    Medium,
    Low,
}

/// The policy's own Azure identity, instead of the operator's: exactly one source.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("has(self.secretRef) != has(self.workloadIdentity)")
    .message("credentials needs exactly one of secretRef or workloadIdentity"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Credentials {
    /// A Secret in the policy's namespace with keys `tenantId`, `clientId`, `clientSecret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,

    /// An Entra application federated to a ServiceAccount in the policy's namespace: the
    /// operator asks the API server for a short-lived token of that ServiceAccount (audience
    /// `api://AzureADTokenExchange`) and exchanges it with Entra. No secret is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<WorkloadIdentity>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_NAME_PATTERN))]
    pub name: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadIdentity {
    /// The Entra application (client) id whose federated credential names
    /// `system:serviceaccount:<this namespace>:<serviceAccountName>`.
    #[schemars(length(max = 36), regex(pattern = SUBSCRIPTION_ID_PATTERN))]
    pub client_id: String,

    /// The Entra tenant: its id, or a verified domain such as `contoso.onmicrosoft.com`.
    #[schemars(length(min = 1, max = 253), regex(pattern = TENANT_PATTERN))]
    pub tenant_id: String,

    /// A ServiceAccount in the policy's namespace. The namespace must let the operator create
    /// tokens for it (a Role with `create` on `serviceaccounts/token`, `resourceNames: [this]`).
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_NAME_PATTERN))]
    pub service_account_name: String,
}

/// Observed state, written by the controller. kstatus-readable: `observedGeneration` at the top
/// and on each condition; `Ready` always present; `Reconciling`/`Stalled` only while True.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContactPolicyStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// Compliant subscriptions out of those governed, e.g. `"3/4"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance: Option<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,

    /// The last drift this policy restored, and who made it when the Activity Log said so
    /// (e.g. "emails changed by ops-admin@contoso.com at 10:02 UTC on 2026-11-28, restored").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restore: Option<RestoreStatus>,

    /// The tenant contact's verdict, when the spec has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_contact: Option<TenantContactStatus>,

    /// What `subscriptionSelector` found on the last pass that could resolve it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<SelectionStatus>,

    /// The exclusions of the spec as they stand: active ones are not governed, expired ones
    /// are governed again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000))]
    pub exclusions: Vec<ExclusionStatus>,

    /// Up to 50 subscriptions that are not compliant or could not be checked, worst first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub subscriptions: Vec<SubscriptionStatus>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStatus {
    pub subscription_id: String,
    /// Who changed it and when, from the Activity Log; absent when it did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
    pub message: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TenantContactStatus {
    pub tenant_id: String,
    /// Compliant, NonCompliant (Audit, or a write that did not stick), Remediated is not kept
    /// (a restored contact is Compliant), or a failure reason such as `AuthorizationFailed`.
    pub verdict: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
// i32, not usize: the API server warns on non-Kubernetes integer formats.
pub struct SelectionStatus {
    /// Subscriptions named by id or selected (before exclusions).
    pub resolved: i32,
    /// Found by the selector, before the state filter.
    pub found: i32,
    /// Selected on the last pass and not the one before (up to 20 shown).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub joined: Vec<String>,
    /// Selected on the pass before and not the last one (up to 20 shown).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub left: Vec<String>,
    /// Selected although `Warned` or `PastDue`, by state.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub degraded: BTreeMap<String, i32>,
    /// Found but skipped (`Disabled`, `Deleted`), by state.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, i32>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExclusionStatus {
    pub subscription_id: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// True once `expires` has passed: the subscription is governed again.
    pub expired: bool,
}

/// Counts over every governed subscription (the list above is truncated, these are not).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
// i32, not u32: the API server warns on the non-Kubernetes format "uint32".
pub struct Summary {
    pub total: i32,
    pub compliant: i32,
    pub non_compliant: i32,
    pub failed: i32,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionStatus {
    pub subscription_id: String,
    /// One CamelCase word, e.g. `NonCompliant`, `AuthorizationFailed`.
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_emails: Vec<String>,
}

/// Status condition types and reasons (kstatus / Flux vocabulary).
pub mod condition {
    pub const READY: &str = "Ready";
    pub const RECONCILING: &str = "Reconciling";
    pub const STALLED: &str = "Stalled";
    /// True while another writer keeps undoing what this policy restores.
    pub const CONTESTED: &str = "Contested";
}

/// The CRD as YAML, exactly as committed under `crds/` and printed by the `crd` subcommand.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    serde_saphyr::to_string(&SecurityContactPolicy::crd()).expect("the CRD serialises to YAML")
}

impl Severity {
    /// Least inclusive first.
    pub const ORDER: &'static [&'static str] = &["High", "Medium", "Low"];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "High",
            Severity::Medium => "Medium",
            Severity::Low => "Low",
        }
    }
}

impl RiskLevel {
    /// Least inclusive first.
    pub const ORDER: &'static [&'static str] = &["Critical", "High", "Medium", "Low"];

    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Critical => "Critical",
            RiskLevel::High => "High",
            RiskLevel::Medium => "Medium",
            RiskLevel::Low => "Low",
        }
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::AccountAdmin => "AccountAdmin",
            Role::ServiceAdmin => "ServiceAdmin",
            Role::Owner => "Owner",
            Role::Contributor => "Contributor",
        }
    }
}

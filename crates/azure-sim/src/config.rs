//! The simulator's starting world: tenants, principals, subscriptions, contacts and grants.
//!
//! A seed is plain data, readable from YAML (camelCase keys) or built in Rust by tests and
//! benchmarks. Unknown YAML keys are rejected so that a typo in a seed fails loudly instead of
//! silently seeding a different world.
//!
//! ```yaml
//! subscriptionPageSize: 2            # optional, like every top-level key
//! descendantPageSize: 2              # items per page of management group descendants
//! activityLogPageSize: 2             # events per page of the Activity Log
//! tokenLifetimeSeconds: 3599
//! armAudience: https://management.azure.com
//! throttle:
//!   subscriptionReads: { bucket: 250, refillPerSecond: 25 }   # also subscriptionWrites,
//! faults: { seed: 7, rules: [] }                              # subscriptionDeletes, tenantReads
//! oidcIssuers:                         # issuers' keys, for federated credentials (all tenants)
//!   - issuer: https://kubernetes.default.svc.cluster.local
//!     # the JWKS its jwks_uri serves (a Kubernetes API server's /openid/v1/jwks; n shortened)
//!     jwks: { keys: [{ use: sig, kty: RSA, kid: k1, alg: RS256, n: sXch, e: AQAB }] }
//! tenants:
//!   - id: 00000000-0000-0000-0000-0000000000aa
//!     principals:
//!       - clientId: my-app
//!         clientSecret: my-secret             # and/or federatedCredentials
//!         federatedCredentials:
//!           - name: operator
//!             issuer: https://kubernetes.default.svc.cluster.local   # = the token's iss, exactly
//!             subject: system:serviceaccount:sco-system:security-contact-operator
//!             audiences: [api://AzureADTokenExchange]                # the default
//!         objectId: 00000000-0000-0000-0000-0000000000b1
//!         access:
//!           "*": read                          # every subscription without its own entry
//!           11111111-1111-1111-1111-111111111111: readWrite
//!           "managementGroup:platform": read   # descendants of platform and of its subgroups
//!     subscriptions:
//!       - id: 11111111-1111-1111-1111-111111111111
//!         displayName: prod
//!         state: Enabled                      # Warned, PastDue, Disabled, Deleted
//!         securityRegistered: true
//!         tags: { env: prod }
//!         contact:                            # the stored properties; omit for "no contact"
//!           emails: a@contoso.com;b@contoso.com
//!           isEnabled: true
//!           notificationsByRole: { state: "On", roles: [Owner] }
//!           notificationsSources: [{ sourceType: Alert, minimalSeverity: Medium }]
//!     managementGroups:                       # the tenant root group (id = tenant id) is implicit
//!       - id: platform
//!         displayName: Platform
//!         subscriptions: [11111111-1111-1111-1111-111111111111]   # at most one group each
//!       - id: platform-prod
//!         displayName: Production
//!         parent: platform                    # absent: a child of the tenant root group
//! organizations:                  # each tenant's Microsoft Graph `organization` (all optional)
//!   00000000-0000-0000-0000-0000000000aa:
//!     displayName: Contoso
//!     technicalNotificationMails: [it-admin@contoso.com]
//!     securityComplianceNotificationMails: []
//!     securityComplianceNotificationPhones: ["+1 555 0100"]
//!     marketingNotificationEmails: []
//!     verifiedDomains: [contoso.onmicrosoft.com, contoso.com]   # the first is the initial one
//! graphPermissions:               # Microsoft Graph application permissions, by client id
//!   my-app: [Organization.ReadWrite.All]
//! ```
//!
//! `organizations` and `graphPermissions` are top-level maps (keyed by tenant id and client id)
//! rather than fields of a tenant and a principal, so that Rust code building [`TenantSeed`]s
//! and [`PrincipalSeed`]s field by field keeps compiling. A client id's Graph permissions apply
//! in every tenant where it has a principal. A tenant without an entry has an organization
//! named after its id, with no notification contacts.
//!
//! A subscription listed in no group belongs to the tenant root group. Grants on management
//! groups (`managementGroup:<id>` keys, the root being `managementGroup:<tenant id>`) only
//! allow reading descendants; they do not reach the subscriptions below them, whose grants
//! stay those of their own keys and `"*"`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::SimError;
use super::faults::FaultConfig;
use super::throttle::ThrottleConfig;

/// The resource ARM tokens are issued for; scopes must be `<audience>/.default`.
pub const DEFAULT_ARM_AUDIENCE: &str = "https://management.azure.com";

/// The resource Microsoft Graph tokens are issued for: their `aud` (Graph takes v1.0 access
/// tokens, whose audience is the resource URI;
/// <https://learn.microsoft.com/graph/auth-v2-service>).
pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";

/// The client-credentials scope for Microsoft Graph: `https://graph.microsoft.com/.default`
/// (<https://learn.microsoft.com/graph/auth-v2-service>).
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Microsoft Graph's well-known application id, which Entra also accepts as the resource of a
/// scope (`00000003-0000-0000-c000-000000000000/.default`).
pub(crate) const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// Entra's real token lifetime is about an hour; `azure_identity` refreshes tokens that expire
/// within 300 s, so anything shorter than that would make it fetch a token on every call.
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 3599;

/// Small on purpose, so that every client exercises `nextLink` paging.
pub const DEFAULT_SUBSCRIPTION_PAGE_SIZE: usize = 2;

/// Items per page of management group descendants; small for the same reason.
pub const DEFAULT_DESCENDANT_PAGE_SIZE: usize = 2;

/// Events per page of the Activity Log; small for the same reason (one write is two events,
/// `Started` and `Succeeded`).
pub const DEFAULT_ACTIVITY_LOG_PAGE_SIZE: usize = 2;

/// Prefix of the `access` keys that grant reading a management group's descendants:
/// `managementGroup:<group id>` (see [`management_group_access_key`]).
pub const MANAGEMENT_GROUP_ACCESS_PREFIX: &str = "managementGroup:";

/// The `access` key of a grant on a management group (the tenant root group's id is the
/// tenant id).
pub fn management_group_access_key(group: &str) -> String {
    format!("{MANAGEMENT_GROUP_ACCESS_PREFIX}{group}")
}

/// The group id of a `managementGroup:<id>` access key (prefix matched case-insensitively).
pub(crate) fn management_group_of_key(key: &str) -> Option<&str> {
    let prefix = MANAGEMENT_GROUP_ACCESS_PREFIX.len();
    key.get(..prefix)
        .filter(|p| p.eq_ignore_ascii_case(MANAGEMENT_GROUP_ACCESS_PREFIX))
        .and_then(|_| key.get(prefix..))
}

/// The audience Entra expects in tokens exchanged through a federated identity credential
/// (<https://learn.microsoft.com/graph/api/resources/federatedidentitycredential>).
pub const DEFAULT_FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Entra's limit of federated identity credentials per application
/// (<https://learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations>).
pub const MAX_FEDERATED_CREDENTIALS: usize = 20;

/// Everything needed to start a simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SimConfig {
    /// Listening address; port 0 picks a free port.
    pub bind: SocketAddr,
    /// The directories and everything in them.
    pub tenants: Vec<TenantSeed>,
    /// ARM token-bucket sizes and refill rates.
    pub throttle: ThrottleConfig,
    /// Faults active from the first request on (usually none).
    pub faults: FaultConfig,
    /// Subscriptions per page of `GET /subscriptions`.
    pub subscription_page_size: usize,
    /// Items per page of management group descendants when the request has no `$top`.
    pub descendant_page_size: usize,
    /// Events per page of the Activity Log (`…/eventtypes/management/values`).
    pub activity_log_page_size: usize,
    /// `expires_in` of issued tokens.
    pub token_lifetime_seconds: u64,
    /// The ARM audience accepted in token scopes (no trailing slash).
    pub arm_audience: String,
    /// Serve an `etag` on contacts and honour `If-Match` on PUT and DELETE (412
    /// `PreconditionFailed` on a mismatch). Off by default: the 2023-12-01-preview spec
    /// declares no etag for this resource (a list payload of the real service once carried
    /// one; whether ARM enforces `If-Match` here is UNVERIFIED).
    pub etags: bool,
    /// OIDC issuers and their signing keys, for verifying the client assertions presented
    /// against federated credentials. Top-level rather than per tenant: an issuer belongs to
    /// the outside world, and every tenant's credentials may trust it. More can be added at
    /// runtime ([`super::SimState::set_oidc_issuer`]).
    pub oidc_issuers: Vec<OidcIssuerSeed>,
    /// Each tenant's Microsoft Graph `organization`, by tenant id; tenants without an entry get
    /// [`OrganizationSeed::default`] (display name: the tenant id). Changed at runtime with
    /// [`super::SimState::set_organization`] or Graph's `PATCH /v1.0/organization/{id}`.
    pub organizations: BTreeMap<String, OrganizationSeed>,
    /// Microsoft Graph application permissions (app roles consented for the app, e.g.
    /// `Organization.ReadWrite.All`), by client id; they become the `roles` of the Graph tokens
    /// the principal gets. Changed at runtime with [`super::SimState::set_graph_permissions`].
    pub graph_permissions: BTreeMap<String, Vec<String>>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tenants: Vec::new(),
            throttle: ThrottleConfig::default(),
            faults: FaultConfig::default(),
            subscription_page_size: DEFAULT_SUBSCRIPTION_PAGE_SIZE,
            descendant_page_size: DEFAULT_DESCENDANT_PAGE_SIZE,
            activity_log_page_size: DEFAULT_ACTIVITY_LOG_PAGE_SIZE,
            token_lifetime_seconds: DEFAULT_TOKEN_LIFETIME_SECS,
            arm_audience: DEFAULT_ARM_AUDIENCE.to_owned(),
            etags: false,
            oidc_issuers: Vec::new(),
            organizations: BTreeMap::new(),
            graph_permissions: BTreeMap::new(),
        }
    }
}

/// A tenant's Microsoft Graph `organization`
/// (<https://learn.microsoft.com/graph/api/resources/organization>): the properties the
/// simulator keeps; every other property of the resource is served as Graph serves an unset
/// one (`null` or `[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct OrganizationSeed {
    /// `displayName`; the tenant id when absent.
    pub display_name: Option<String>,
    /// `technicalNotificationMails`: where Microsoft sends technical notifications.
    pub technical_notification_mails: Vec<String>,
    /// `securityComplianceNotificationMails`.
    pub security_compliance_notification_mails: Vec<String>,
    /// `securityComplianceNotificationPhones`.
    pub security_compliance_notification_phones: Vec<String>,
    /// `marketingNotificationEmails`.
    pub marketing_notification_emails: Vec<String>,
    /// Names of the `verifiedDomains`; the first is the initial (and default) domain. When
    /// empty: `<tenant id without dashes>.onmicrosoft.com`.
    pub verified_domains: Vec<String>,
}

/// An OIDC issuer the simulated Entra can verify assertions of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcIssuerSeed {
    /// The issuer URL, exactly as the tokens' `iss` claim carries it (for a Kubernetes API
    /// server, its `--service-account-issuer`).
    pub issuer: String,
    /// The issuer's JSON Web Key Set: the document its `jwks_uri` serves (a Kubernetes API
    /// server's `/openid/v1/jwks`). Real Entra fetches it through
    /// `<issuer>/.well-known/openid-configuration`; the simulator is handed it instead.
    pub jwks: serde_json::Value,
}

impl OidcIssuerSeed {
    /// An issuer and its JWKS document.
    pub fn new(issuer: impl Into<String>, jwks: serde_json::Value) -> Self {
        OidcIssuerSeed {
            issuer: issuer.into(),
            jwks,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.issuer.is_empty() {
            return Err("an OIDC issuer has an empty issuer URL".into());
        }
        super::federation::IssuerKeys::from_jwks(&self.jwks)
            .map(drop)
            .map_err(|e| format!("OIDC issuer {}: {e}", self.issuer))
    }
}

/// A federated identity credential of an application: Entra issues the application a token
/// for a client assertion whose `iss` equals `issuer` and `sub` equals `subject` (both exactly,
/// case included) and whose `aud` contains one of `audiences`, once the assertion's signature
/// verifies against the issuer's JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FederatedCredentialSeed {
    /// Unique among the application's credentials.
    pub name: String,
    /// The OIDC issuer URL.
    pub issuer: String,
    /// The external identity, e.g. `system:serviceaccount:<namespace>:<name>`.
    pub subject: String,
    /// Accepted `aud` values; `["api://AzureADTokenExchange"]` when omitted.
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
}

fn default_audiences() -> Vec<String> {
    vec![DEFAULT_FEDERATED_AUDIENCE.to_owned()]
}

impl FederatedCredentialSeed {
    /// A credential with the default audience.
    pub fn new(
        name: impl Into<String>,
        issuer: impl Into<String>,
        subject: impl Into<String>,
    ) -> Self {
        FederatedCredentialSeed {
            name: name.into(),
            issuer: issuer.into(),
            subject: subject.into(),
            audiences: default_audiences(),
        }
    }

    /// Trusts the projected tokens of a Kubernetes service account: subject
    /// `system:serviceaccount:<namespace>:<service_account>`, audience
    /// `api://AzureADTokenExchange`, named `<namespace>-<service_account>`.
    pub fn kubernetes(
        issuer: impl Into<String>,
        namespace: impl AsRef<str>,
        service_account: impl AsRef<str>,
    ) -> Self {
        let (namespace, service_account) = (namespace.as_ref(), service_account.as_ref());
        FederatedCredentialSeed::new(
            format!("{namespace}-{service_account}"),
            issuer,
            format!("system:serviceaccount:{namespace}:{service_account}"),
        )
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        let what = || format!("federated credential {:?}", self.name);
        if self.name.is_empty() {
            return Err("a federated credential has an empty name".into());
        }
        if self.issuer.is_empty() || self.subject.is_empty() {
            return Err(format!("{} needs an issuer and a subject", what()));
        }
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err(format!("{} needs non-empty audiences", what()));
        }
        Ok(())
    }

    /// Checks a principal's whole list: each credential valid, names unique, one credential
    /// per issuer and subject, at most [`MAX_FEDERATED_CREDENTIALS`].
    pub(crate) fn validate_all(credentials: &[FederatedCredentialSeed]) -> Result<(), String> {
        if credentials.len() > MAX_FEDERATED_CREDENTIALS {
            return Err(format!(
                "at most {MAX_FEDERATED_CREDENTIALS} federated credentials per application"
            ));
        }
        let mut names = HashSet::new();
        let mut pairs = HashSet::new();
        for credential in credentials {
            credential.validate()?;
            if !names.insert(credential.name.as_str()) {
                return Err(format!(
                    "federated credential name {:?} appears twice",
                    credential.name
                ));
            }
            if !pairs.insert((credential.issuer.as_str(), credential.subject.as_str())) {
                return Err(format!(
                    "issuer {} and subject {} appear in two federated credentials",
                    credential.issuer, credential.subject
                ));
            }
        }
        Ok(())
    }
}

/// One Entra tenant with its app registrations and subscriptions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantSeed {
    /// Tenant id as used in the token URL (a GUID in real life).
    pub id: String,
    /// Service principals that can get tokens in this tenant.
    #[serde(default)]
    pub principals: Vec<PrincipalSeed>,
    /// Subscriptions homed in this tenant.
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionSeed>,
    /// Management groups below the tenant root group (whose id is the tenant id), in any
    /// order; parents need not come first.
    #[serde(default)]
    pub management_groups: Vec<ManagementGroupSeed>,
}

/// A management group of a tenant. Its id is unique across all tenants (ARM addresses groups
/// without a tenant: `/providers/Microsoft.Management/managementGroups/<id>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagementGroupSeed {
    /// The group id (its `name`): up to 90 letters, digits, `-`, `_`, `(`, `)` and `.`, not
    /// ending with `.`.
    pub id: String,
    /// `properties.displayName`; the id when empty, as ARM sets it when none is given
    /// (`CreateManagementGroupRequest.displayName`, learn.microsoft.com Azure SDK reference).
    #[serde(default)]
    pub display_name: String,
    /// The parent group's id; `None` (or the tenant id) for a child of the tenant root group.
    #[serde(default)]
    pub parent: Option<String>,
    /// Ids of the subscriptions directly in this group (each in at most one group).
    #[serde(default)]
    pub subscriptions: Vec<String>,
}

impl ManagementGroupSeed {
    /// A group directly below the tenant root group, holding no subscriptions.
    pub fn new(id: impl Into<String>, display_name: impl Into<String>) -> Self {
        ManagementGroupSeed {
            id: id.into(),
            display_name: display_name.into(),
            parent: None,
            subscriptions: Vec::new(),
        }
    }

    /// The same group below `parent`.
    pub fn under(mut self, parent: impl Into<String>) -> Self {
        self.parent = Some(parent.into());
        self
    }

    /// The same group holding `subscriptions`.
    pub fn with_subscriptions<S: Into<String>>(
        mut self,
        subscriptions: impl IntoIterator<Item = S>,
    ) -> Self {
        self.subscriptions = subscriptions.into_iter().map(Into::into).collect();
        self
    }

    /// Checks the id's form: 1–90 of `[a-zA-Z0-9-_.()]` (the check of Microsoft's
    /// Azure/enterprise-azure-policy-as-code, `Test-HydrationManagementGroupName`); refusing a
    /// trailing `.`, as ARM does for resource group names, is UNVERIFIED for groups.
    pub(crate) fn validate_id(id: &str) -> Result<(), String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_().".contains(c);
        if id.is_empty() || id.len() > 90 || !id.chars().all(allowed) || id.ends_with('.') {
            return Err(format!(
                "management group id {id:?} is not a valid group id"
            ));
        }
        Ok(())
    }
}

/// A service principal (app registration) and what it may do.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrincipalSeed {
    /// The application (client) id.
    pub client_id: String,
    /// Accepted client secret, if the principal may use one.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Object id shown in `AuthorizationFailed` messages; a random one when absent.
    #[serde(default)]
    pub object_id: Option<String>,
    /// Federated identity credentials: the external identities whose signed assertions
    /// (e.g. projected service-account tokens) the principal may sign in with.
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredentialSeed>,
    /// Role grants by subscription id; the key `"*"` covers every subscription of the tenant
    /// that has no entry of its own. Keys `managementGroup:<group id>` (see
    /// [`management_group_access_key`]) grant reading that group's descendants and those of
    /// every group below it (any level that can read does); they confer nothing on
    /// subscriptions, and `"*"` confers nothing on groups.
    #[serde(default)]
    pub access: BTreeMap<String, Access>,
}

impl PrincipalSeed {
    /// A principal that signs in with `client_secret` and has `access` on every subscription
    /// of its tenant.
    pub fn with_secret(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        access: Access,
    ) -> Self {
        PrincipalSeed {
            client_id: client_id.into(),
            client_secret: Some(client_secret.into()),
            access: [("*".to_owned(), access)].into_iter().collect(),
            ..PrincipalSeed::default()
        }
    }

    /// A principal without a secret that signs in with assertions matching `credentials`, and
    /// has `access` on every subscription of its tenant.
    pub fn federated(
        client_id: impl Into<String>,
        credentials: Vec<FederatedCredentialSeed>,
        access: Access,
    ) -> Self {
        PrincipalSeed {
            client_id: client_id.into(),
            federated_credentials: credentials,
            access: [("*".to_owned(), access)].into_iter().collect(),
            ..PrincipalSeed::default()
        }
    }
}

/// What a principal's role assignment on a subscription allows for security contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Access {
    /// No role: requests get 403 and the subscription is not listed.
    #[default]
    None,
    /// Reader-like: `securityContacts/read`.
    Read,
    /// Security Admin / Contributor-like: read, write and delete.
    ReadWrite,
}

impl Access {
    pub(crate) fn can_read(self) -> bool {
        matches!(self, Access::Read | Access::ReadWrite)
    }

    pub(crate) fn can_write(self) -> bool {
        self == Access::ReadWrite
    }
}

/// `Subscription.state` as ARM reports it (a closed enum in the spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SubscriptionState {
    #[default]
    Enabled,
    Warned,
    PastDue,
    Disabled,
    Deleted,
}

impl SubscriptionState {
    /// Disabled and deleted subscriptions are read-only in ARM.
    pub(crate) fn is_read_only(self) -> bool {
        matches!(
            self,
            SubscriptionState::Disabled | SubscriptionState::Deleted
        )
    }
}

/// One subscription and its Defender for Cloud state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionSeed {
    /// Subscription id (GUID).
    pub id: String,
    /// `displayName` in `GET /subscriptions`.
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub state: SubscriptionState,
    /// Whether the Microsoft.Security resource provider is registered.
    #[serde(default = "yes")]
    pub security_registered: bool,
    /// `tags` in `GET /subscriptions`.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The stored `properties` of the `default` security contact, exactly as a client would
    /// read them back; absent or null means no contact exists (GET answers 404).
    #[serde(default)]
    pub contact: Option<serde_json::Value>,
}

fn yes() -> bool {
    true
}

impl SubscriptionSeed {
    /// An enabled, registered subscription without a contact.
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        SubscriptionSeed {
            display_name: format!("Subscription {id}"),
            id,
            state: SubscriptionState::Enabled,
            security_registered: true,
            tags: BTreeMap::new(),
            contact: None,
        }
    }
}

impl SimConfig {
    /// One tenant, one principal that signs in with a client secret and may read and write
    /// every subscription, and `subscriptions`: the world most benchmarks and replays need.
    pub fn single_tenant(
        tenant: impl Into<String>,
        principal: PrincipalSeed,
        subscriptions: Vec<SubscriptionSeed>,
    ) -> Self {
        SimConfig {
            tenants: vec![TenantSeed {
                id: tenant.into(),
                principals: vec![principal],
                subscriptions,
                management_groups: Vec::new(),
            }],
            ..SimConfig::default()
        }
    }

    /// Parses a YAML seed and checks it for consistency.
    pub fn from_yaml_str(yaml: &str) -> Result<SimConfig, SimError> {
        let config: SimConfig = serde_saphyr::from_str(yaml).map_err(SimError::SeedYaml)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a YAML seed file.
    pub fn from_yaml_file(path: &Path) -> Result<SimConfig, SimError> {
        let yaml = std::fs::read_to_string(path).map_err(|source| SimError::File {
            path: path.to_owned(),
            source,
        })?;
        SimConfig::from_yaml_str(&yaml)
    }

    /// Rejects seeds that cannot describe a real directory: `Simulator::start` calls this too,
    /// so seeds built in Rust get the same checks as YAML ones.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |msg: String| Err(SimError::InvalidSeed(msg));
        if self.subscription_page_size == 0 {
            return bad("subscriptionPageSize must be at least 1".into());
        }
        if self.descendant_page_size == 0 {
            return bad("descendantPageSize must be at least 1".into());
        }
        if self.activity_log_page_size == 0 {
            return bad("activityLogPageSize must be at least 1".into());
        }
        if self.token_lifetime_seconds == 0 {
            return bad("tokenLifetimeSeconds must be at least 1".into());
        }
        self.throttle.validate()?;
        self.faults.validate()?;
        let mut issuers = HashSet::new();
        for issuer in &self.oidc_issuers {
            issuer.validate().map_err(SimError::InvalidSeed)?;
            if !issuers.insert(issuer.issuer.as_str()) {
                return bad(format!("OIDC issuer {} appears twice", issuer.issuer));
            }
        }

        let mut tenant_ids = HashSet::new();
        let mut subscription_ids = HashSet::new();
        // Group ids are global; every tenant id is taken by its root group.
        let mut group_ids: HashSet<String> = self
            .tenants
            .iter()
            .map(|t| t.id.to_ascii_lowercase())
            .collect();
        for tenant in &self.tenants {
            // azure_identity refuses other characters in the token URL.
            if tenant.id.is_empty()
                || !tenant
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            {
                return bad(format!(
                    "tenant id {:?} is not a valid tenant id",
                    tenant.id
                ));
            }
            if !tenant_ids.insert(tenant.id.to_ascii_lowercase()) {
                return bad(format!("tenant {} appears twice", tenant.id));
            }
            let mut own = HashSet::new();
            for sub in &tenant.subscriptions {
                if uuid::Uuid::parse_str(&sub.id).is_err() {
                    return bad(format!("subscription id {:?} is not a GUID", sub.id));
                }
                if !subscription_ids.insert(sub.id.to_ascii_lowercase()) {
                    return bad(format!("subscription {} appears twice", sub.id));
                }
                own.insert(sub.id.to_ascii_lowercase());
                if let Some(contact) = &sub.contact
                    && !(contact.is_object() || contact.is_null())
                {
                    return bad(format!(
                        "contact of subscription {} must be a properties object",
                        sub.id
                    ));
                }
            }
            let groups =
                validate_hierarchy(tenant, &own, &mut group_ids).map_err(SimError::InvalidSeed)?;
            let mut clients = HashSet::new();
            for principal in &tenant.principals {
                if principal.client_id.is_empty() {
                    return bad(format!(
                        "a principal of tenant {} has no clientId",
                        tenant.id
                    ));
                }
                if !clients.insert(principal.client_id.to_ascii_lowercase()) {
                    return bad(format!(
                        "client id {} appears twice in tenant {}",
                        principal.client_id, tenant.id
                    ));
                }
                FederatedCredentialSeed::validate_all(&principal.federated_credentials).map_err(
                    |e| SimError::InvalidSeed(format!("principal {}: {e}", principal.client_id)),
                )?;
                for key in principal.access.keys() {
                    if let Some(group) = management_group_of_key(key) {
                        if !groups.contains(&group.to_ascii_lowercase()) {
                            return bad(format!(
                                "principal {} has access to {key}, which is not a management group of tenant {}",
                                principal.client_id, tenant.id
                            ));
                        }
                        continue;
                    }
                    if key != "*" && !own.contains(&key.to_ascii_lowercase()) {
                        return bad(format!(
                            "principal {} has access to {key}, which is not a subscription of tenant {}",
                            principal.client_id, tenant.id
                        ));
                    }
                }
            }
        }
        for tenant in self.organizations.keys() {
            if !tenant_ids.contains(&tenant.to_ascii_lowercase()) {
                return bad(format!(
                    "organizations names {tenant}, which is not a tenant"
                ));
            }
        }
        for (client_id, permissions) in &self.graph_permissions {
            let known = self.tenants.iter().any(|t| {
                t.principals
                    .iter()
                    .any(|p| p.client_id.eq_ignore_ascii_case(client_id))
            });
            if !known {
                return bad(format!(
                    "graphPermissions names {client_id}, which is no tenant's principal"
                ));
            }
            if permissions.iter().any(|p| p.trim().is_empty()) {
                return bad(format!(
                    "graphPermissions of {client_id} holds an empty permission"
                ));
            }
        }
        Ok(())
    }
}

/// Checks a tenant's management groups: ids well-formed and unique across all tenants
/// (`taken` holds the ids seen so far, tenant ids included), parents in the same tenant, no
/// cycles, subscriptions of this tenant in at most one group. Returns the lower-cased ids of
/// the tenant's groups, its root group included.
fn validate_hierarchy(
    tenant: &TenantSeed,
    own_subscriptions: &HashSet<String>,
    taken: &mut HashSet<String>,
) -> Result<HashSet<String>, String> {
    let root = tenant.id.to_ascii_lowercase();
    let mut parents: HashMap<String, String> = HashMap::new();
    for group in &tenant.management_groups {
        ManagementGroupSeed::validate_id(&group.id)?;
        let id = group.id.to_ascii_lowercase();
        if !taken.insert(id.clone()) {
            return Err(format!(
                "management group {} appears twice or is a tenant's root group",
                group.id
            ));
        }
        let parent = group
            .parent
            .as_deref()
            .map_or_else(|| root.clone(), str::to_ascii_lowercase);
        parents.insert(id, parent);
    }
    for group in &tenant.management_groups {
        // Walking up must reach the root within as many steps as there are groups.
        let mut current = group.id.to_ascii_lowercase();
        let mut reached_root = false;
        for _ in 0..=parents.len() {
            let Some(parent) = parents.get(&current) else {
                break;
            };
            if *parent == root {
                reached_root = true;
                break;
            }
            if !parents.contains_key(parent) {
                return Err(format!(
                    "management group {current} has parent {parent}, which is not a management group of tenant {}",
                    tenant.id
                ));
            }
            current = parent.clone();
        }
        if !reached_root {
            return Err(format!("management group {} is its own ancestor", group.id));
        }
    }
    let mut placed = HashSet::new();
    for group in &tenant.management_groups {
        for sub in &group.subscriptions {
            let sub = sub.to_ascii_lowercase();
            if !own_subscriptions.contains(&sub) {
                return Err(format!(
                    "management group {} holds {sub}, which is not a subscription of tenant {}",
                    group.id, tenant.id
                ));
            }
            if !placed.insert(sub.clone()) {
                return Err(format!("subscription {sub} is in two management groups"));
            }
        }
    }
    let mut ids: HashSet<String> = parents.into_keys().collect();
    ids.insert(root);
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
subscriptionPageSize: 3
tenants:
  - id: 00000000-0000-0000-0000-0000000000aa
    principals:
      - clientId: app-1
        clientSecret: s3cret
        access:
          11111111-1111-1111-1111-111111111111: readWrite
          "*": read
    subscriptions:
      - id: 11111111-1111-1111-1111-111111111111
        displayName: One
        contact:
          emails: a@contoso.com;b@contoso.com
          isEnabled: true
          notificationsSources:
            - sourceType: Alert
              minimalSeverity: High
      - id: 22222222-2222-2222-2222-222222222222
        state: Disabled
        securityRegistered: false
"#;

    #[test]
    fn parses_a_yaml_seed() {
        let config = SimConfig::from_yaml_str(SEED).expect("seed parses");
        assert_eq!(config.subscription_page_size, 3);
        assert_eq!(config.token_lifetime_seconds, DEFAULT_TOKEN_LIFETIME_SECS);
        let tenant = &config.tenants[0];
        let principal = &tenant.principals[0];
        assert_eq!(principal.client_secret.as_deref(), Some("s3cret"));
        assert_eq!(principal.access["*"], Access::Read);
        let one = &tenant.subscriptions[0];
        assert!(one.security_registered);
        assert_eq!(
            one.contact
                .as_ref()
                .and_then(|c| c["notificationsSources"][0]["minimalSeverity"].as_str()),
            Some("High")
        );
        let two = &tenant.subscriptions[1];
        assert_eq!(two.state, SubscriptionState::Disabled);
        assert!(!two.security_registered);
        assert!(two.contact.is_none());
    }

    #[test]
    fn module_doc_example_is_a_valid_seed() {
        let yaml: String = include_str!("config.rs")
            .lines()
            .skip_while(|line| *line != "//! ```yaml")
            .skip(1)
            .take_while(|line| *line != "//! ```")
            .map(|line| {
                format!(
                    "{}\n",
                    line.trim_start_matches("//!")
                        .strip_prefix(' ')
                        .unwrap_or("")
                )
            })
            .collect();
        assert!(yaml.contains("tenants:"));
        let config = SimConfig::from_yaml_str(&yaml).expect("documented seed parses");
        assert_eq!(config.faults.seed, Some(7));
        assert_eq!(config.descendant_page_size, 2);
        assert_eq!(config.tenants[0].principals[0].access["*"], Access::Read);
        assert_eq!(
            config.tenants[0].principals[0].access[&management_group_access_key("platform")],
            Access::Read
        );
        let groups = &config.tenants[0].management_groups;
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[1].parent.as_deref(), Some("platform"));
        assert_eq!(config.activity_log_page_size, 2);
        let org = &config.organizations["00000000-0000-0000-0000-0000000000aa"];
        assert_eq!(org.technical_notification_mails, ["it-admin@contoso.com"]);
        assert_eq!(org.verified_domains.len(), 2);
        assert_eq!(
            config.graph_permissions["my-app"],
            ["Organization.ReadWrite.All"]
        );
    }

    #[test]
    fn organizations_and_graph_permissions_must_name_known_tenants_and_principals() {
        let invalid = |extra: &str| {
            matches!(
                SimConfig::from_yaml_str(&format!("{SEED}{extra}")),
                Err(SimError::InvalidSeed(_))
            )
        };
        assert!(!invalid(
            "organizations: { 00000000-0000-0000-0000-0000000000AA: { displayName: X } }\ngraphPermissions: { APP-1: [Organization.Read.All] }\n"
        ));
        assert!(invalid("organizations: { nope: {} }\n"));
        assert!(invalid(
            "graphPermissions: { nobody: [Organization.Read.All] }\n"
        ));
        assert!(invalid("graphPermissions: { app-1: [\"\"] }\n"));
        assert!(matches!(
            SimConfig::from_yaml_str(&format!(
                "{SEED}organizations: {{ 00000000-0000-0000-0000-0000000000aa: {{ technicalMails: [] }} }}\n"
            )),
            Err(SimError::SeedYaml(_))
        ));
    }

    const FEDERATED_SEED: &str = r#"
oidcIssuers:
  - issuer: https://oidc.example/cluster/
    jwks: {"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "n": "sXch", "e": "AQAB"}]}
tenants:
  - id: t1
    principals:
      - clientId: app-1
        federatedCredentials:
          - name: operator
            issuer: https://oidc.example/cluster/
            subject: system:serviceaccount:ns:sa
          - name: other
            issuer: https://oidc.example/cluster/
            subject: system:serviceaccount:ns:other
            audiences: [api://custom]
"#;

    #[test]
    fn parses_federated_credentials_and_oidc_issuers() {
        let config = SimConfig::from_yaml_str(FEDERATED_SEED).expect("seed parses");
        assert_eq!(
            config.oidc_issuers[0].issuer,
            "https://oidc.example/cluster/"
        );
        assert_eq!(config.oidc_issuers[0].jwks["keys"][0]["kid"], "k1");
        let credentials = &config.tenants[0].principals[0].federated_credentials;
        assert_eq!(
            credentials[0],
            FederatedCredentialSeed {
                name: "operator".into(),
                ..FederatedCredentialSeed::kubernetes("https://oidc.example/cluster/", "ns", "sa")
            }
        );
        assert_eq!(credentials[0].audiences, [DEFAULT_FEDERATED_AUDIENCE]);
        assert_eq!(credentials[1].audiences, ["api://custom"]);
        let k8s = FederatedCredentialSeed::kubernetes("https://i", "sco-system", "op");
        assert_eq!(
            (k8s.name.as_str(), k8s.subject.as_str()),
            ("sco-system-op", "system:serviceaccount:sco-system:op")
        );
    }

    #[test]
    fn rejects_inconsistent_federation() {
        let invalid = |yaml: String| {
            matches!(
                SimConfig::from_yaml_str(&yaml),
                Err(SimError::InvalidSeed(_))
            )
        };
        assert!(invalid(
            FEDERATED_SEED.replace("name: other", "name: operator")
        ));
        assert!(invalid(FEDERATED_SEED.replace("ns:other", "ns:sa")));
        assert!(invalid(
            FEDERATED_SEED.replace("audiences: [api://custom]", "audiences: []")
        ));
        assert!(invalid(FEDERATED_SEED.replace(
            "subject: system:serviceaccount:ns:sa",
            "subject: \"\""
        )));
        assert!(invalid(
            FEDERATED_SEED.replace("\"kty\": \"RSA\"", "\"kty\": \"oct\"")
        ));
        let twice = FEDERATED_SEED.replace(
            "tenants:",
            "  - issuer: https://oidc.example/cluster/\n    jwks: {\"keys\": []}\ntenants:",
        );
        assert!(invalid(twice));
        let typo = FEDERATED_SEED.replace("subject: system:serviceaccount:ns:sa", "subjet: x");
        assert!(matches!(
            SimConfig::from_yaml_str(&typo),
            Err(SimError::SeedYaml(_))
        ));
        let many: Vec<FederatedCredentialSeed> = (0..=MAX_FEDERATED_CREDENTIALS)
            .map(|i| FederatedCredentialSeed::new(format!("c{i}"), "https://i", format!("s{i}")))
            .collect();
        assert!(FederatedCredentialSeed::validate_all(&many).is_err());
        assert!(FederatedCredentialSeed::validate_all(&many[1..]).is_ok());
    }

    #[test]
    fn rejects_typos_and_inconsistencies() {
        let typo = SEED.replace("displayName: One", "displayNam: One");
        assert!(matches!(
            SimConfig::from_yaml_str(&typo),
            Err(SimError::SeedYaml(_))
        ));
        let not_guid = SEED.replace("22222222-2222-2222-2222-222222222222", "sub-2");
        assert!(matches!(
            SimConfig::from_yaml_str(&not_guid),
            Err(SimError::InvalidSeed(_))
        ));
        let foreign = SEED.replace(
            "11111111-1111-1111-1111-111111111111: readWrite",
            "33333333-3333-3333-3333-333333333333: readWrite",
        );
        assert!(matches!(
            SimConfig::from_yaml_str(&foreign),
            Err(SimError::InvalidSeed(_))
        ));
    }

    const GROUPS_SEED: &str = r#"
tenants:
  - id: t1
    principals:
      - clientId: app
        access: { "managementGroup:t1": read, "MANAGEMENTGROUP:Apps": readWrite }
    subscriptions:
      - id: 11111111-1111-1111-1111-111111111111
      - id: 22222222-2222-2222-2222-222222222222
    managementGroups:
      - id: apps
        parent: platform
        subscriptions: [22222222-2222-2222-2222-222222222222]
      - id: platform
        displayName: Platform
        subscriptions: [11111111-1111-1111-1111-111111111111]
  - id: t2
    subscriptions:
      - id: 33333333-3333-3333-3333-333333333333
    managementGroups:
      - id: t2-group
        parent: t2
"#;

    #[test]
    fn parses_management_groups() {
        let config = SimConfig::from_yaml_str(GROUPS_SEED).expect("seed parses");
        let groups = &config.tenants[0].management_groups;
        assert_eq!(
            groups[0],
            ManagementGroupSeed::new("apps", "")
                .under("platform")
                .with_subscriptions(["22222222-2222-2222-2222-222222222222"])
        );
        assert_eq!(groups[1].parent, None);
        assert_eq!(
            management_group_of_key("MANAGEMENTGROUP:Apps"),
            Some("Apps")
        );
        assert_eq!(management_group_of_key("11111111"), None);
    }

    #[test]
    fn rejects_inconsistent_management_groups() {
        let invalid = |yaml: String| {
            matches!(
                SimConfig::from_yaml_str(&yaml),
                Err(SimError::InvalidSeed(_))
            )
        };
        assert!(!invalid(GROUPS_SEED.to_owned()));
        // A subscription in two groups.
        assert!(invalid(GROUPS_SEED.replace(
            "subscriptions: [22222222-2222-2222-2222-222222222222]",
            "subscriptions: [11111111-1111-1111-1111-111111111111]"
        )));
        // A subscription of another tenant.
        assert!(invalid(GROUPS_SEED.replace(
            "subscriptions: [22222222-2222-2222-2222-222222222222]",
            "subscriptions: [33333333-3333-3333-3333-333333333333]"
        )));
        // Unknown parent, a parent in another tenant, a cycle, a self-parent.
        assert!(invalid(
            GROUPS_SEED.replace("parent: platform", "parent: nope")
        ));
        assert!(invalid(
            GROUPS_SEED.replace("parent: platform", "parent: t2-group")
        ));
        assert!(invalid(
            GROUPS_SEED.replace("parent: platform", "parent: t2")
        ));
        assert!(invalid(GROUPS_SEED.replace(
            "        displayName: Platform\n",
            "        displayName: Platform\n        parent: apps\n"
        )));
        assert!(invalid(
            GROUPS_SEED.replace("parent: platform", "parent: apps")
        ));
        // Ids: a tenant's root, taken in another tenant, twice, malformed.
        assert!(invalid(GROUPS_SEED.replace("- id: apps", "- id: t2")));
        assert!(invalid(GROUPS_SEED.replace("- id: t2-group", "- id: APPS")));
        assert!(invalid(
            GROUPS_SEED.replace("- id: t2-group", "- id: t2-group.")
        ));
        assert!(invalid(GROUPS_SEED.replace("- id: t2-group", "- id: a/b")));
        // Grants on groups outside the tenant.
        assert!(invalid(
            GROUPS_SEED.replace("managementGroup:t1", "managementGroup:t2-group")
        ));
        assert!(invalid(
            GROUPS_SEED.replace("managementGroup:t1", "managementGroup:nope")
        ));
        assert!(invalid(format!("descendantPageSize: 0\n{GROUPS_SEED}")));
        assert!(matches!(
            SimConfig::from_yaml_str(&GROUPS_SEED.replace("parent: t2", "parnet: t2")),
            Err(SimError::SeedYaml(_))
        ));
    }
}

//! The simulated world and the control object tests use to read and steer it.
//!
//! All mutable state sits behind short-lived `std::sync` locks that are never held across an
//! `.await`, so the request path stays simple and a benchmark with thousands of subscriptions
//! still only contends on map look-ups.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use url::Url;

use super::activity_log::{self, Actor, ContactWrite, ContactWriteRecord};
use super::config::{
    Access, FederatedCredentialSeed, ManagementGroupSeed, OidcIssuerSeed, SimConfig,
    SubscriptionState, management_group_access_key, management_group_of_key,
};
use super::counters::{Counters, RequestCounts};
use super::error::SimError;
use super::faults::{FaultConfig, Faults};
use super::federation::IssuerKeys;
use super::graph::{Organization, OrganizationWrite, OrganizationWriteRecord};
use super::throttle::{Throttle, ThrottleConfig};
use super::tokens::TokenStore;

pub(crate) struct Principal {
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<String>,
    pub(crate) object_id: String,
    pub(crate) federated_credentials: Vec<FederatedCredentialSeed>,
    /// Lower-cased subscription id, `"*"` or `managementgroup:<group id>` → grant.
    access: HashMap<String, Access>,
    /// Microsoft Graph application permissions (the `roles` of its Graph tokens).
    pub(crate) graph_permissions: Vec<String>,
}

pub(crate) struct Tenant {
    pub(crate) id: String,
    pub(crate) principals: Vec<Principal>,
    /// The Microsoft Graph `organization`.
    pub(crate) organization: Organization,
    /// Changes to the organization, oldest first.
    organization_writes: Vec<OrganizationWriteRecord>,
}

/// At most this many organization changes are kept per tenant; the oldest go first.
const MAX_ORGANIZATION_WRITES: usize = 10_000;

impl Tenant {
    pub(crate) fn record_organization_write(&mut self, record: OrganizationWriteRecord) {
        if self.organization_writes.len() >= MAX_ORGANIZATION_WRITES {
            self.organization_writes.remove(0);
        }
        self.organization_writes.push(record);
    }
}

pub(crate) struct Subscription {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) display_name: String,
    pub(crate) state: SubscriptionState,
    pub(crate) security_registered: bool,
    pub(crate) tags: BTreeMap<String, String>,
    /// The stored `properties` of the `default` contact.
    pub(crate) contact: Option<serde_json::Value>,
    /// Bumped on every change of the contact; its etag when etags are on.
    pub(crate) contact_version: u64,
    /// The management group directly holding the subscription; `None` for the tenant root group.
    pub(crate) management_group: Option<String>,
}

impl Subscription {
    /// The id of the group directly holding the subscription (the tenant id for the root).
    pub(crate) fn parent_group(&self) -> &str {
        self.management_group.as_deref().unwrap_or(&self.tenant_id)
    }
}

/// A management group below a tenant root group (root groups are implicit: one per tenant,
/// its id the tenant id).
pub(crate) struct ManagementGroup {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) display_name: String,
    /// The parent group's id, as stored (the tenant id for a child of the root).
    pub(crate) parent: String,
}

/// A known management group: its id as stored and its tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupRef {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
}

/// One entry of a management group's descendants.
pub(crate) enum Descendant<'a> {
    Group(&'a ManagementGroup),
    Subscription(&'a Subscription),
}

/// Tenants, principals, subscriptions and management groups, in seed order, and the OIDC
/// issuers' keys.
pub(crate) struct World {
    tenants: Vec<Tenant>,
    subscriptions: Vec<Subscription>,
    /// Management groups below the roots, in creation order.
    groups: Vec<ManagementGroup>,
    /// Lower-cased subscription id → position in `subscriptions`.
    index: HashMap<String, usize>,
    /// Issuer URL (exact) → its verification keys.
    pub(crate) issuers: HashMap<String, IssuerKeys>,
    /// Successful writes to security contacts, in recording order (the Activity Log).
    contact_writes: Vec<ContactWriteRecord>,
    /// The `seq` of the last recorded contact write.
    last_write_seq: u64,
}

impl World {
    fn from_config(config: &SimConfig) -> Result<World, SimError> {
        let mut world = World {
            tenants: Vec::new(),
            subscriptions: Vec::new(),
            groups: Vec::new(),
            index: HashMap::new(),
            issuers: HashMap::new(),
            contact_writes: Vec::new(),
            last_write_seq: 0,
        };
        for issuer in &config.oidc_issuers {
            let keys = IssuerKeys::from_jwks(&issuer.jwks).map_err(SimError::InvalidSeed)?;
            world.issuers.insert(issuer.issuer.clone(), keys);
        }
        for tenant in &config.tenants {
            for sub in &tenant.subscriptions {
                world
                    .index
                    .insert(sub.id.to_ascii_lowercase(), world.subscriptions.len());
                world.subscriptions.push(Subscription {
                    id: sub.id.clone(),
                    tenant_id: tenant.id.clone(),
                    display_name: sub.display_name.clone(),
                    state: sub.state,
                    security_registered: sub.security_registered,
                    tags: sub.tags.clone(),
                    contact: sub.contact.clone().filter(|c| !c.is_null()),
                    contact_version: 0,
                    management_group: None,
                });
            }
            // Parents may be named in any case and before they are declared: store them as
            // the group (or tenant) spells its own id.
            let canonical: HashMap<String, &str> = tenant
                .management_groups
                .iter()
                .map(|g| (g.id.to_ascii_lowercase(), g.id.as_str()))
                .chain([(tenant.id.to_ascii_lowercase(), tenant.id.as_str())])
                .collect();
            for group in &tenant.management_groups {
                let parent = group.parent.as_deref().unwrap_or(&tenant.id);
                world.groups.push(ManagementGroup {
                    id: group.id.clone(),
                    tenant_id: tenant.id.clone(),
                    display_name: display_name_or_id(&group.display_name, &group.id),
                    parent: canonical
                        .get(&parent.to_ascii_lowercase())
                        .map_or_else(|| parent.to_owned(), |p| (*p).to_owned()),
                });
                for sub in &group.subscriptions {
                    if let Some(sub) = world.subscription_mut(sub) {
                        sub.management_group = Some(group.id.clone());
                    }
                }
            }
            let organization = config
                .organizations
                .iter()
                .find(|(id, _)| id.eq_ignore_ascii_case(&tenant.id))
                .map(|(_, seed)| seed.clone())
                .unwrap_or_default();
            world.tenants.push(Tenant {
                id: tenant.id.clone(),
                organization: Organization::from_seed(&tenant.id, &organization),
                organization_writes: Vec::new(),
                principals: tenant
                    .principals
                    .iter()
                    .map(|p| Principal {
                        client_id: p.client_id.clone(),
                        client_secret: p.client_secret.clone(),
                        object_id: p
                            .object_id
                            .clone()
                            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                        federated_credentials: p.federated_credentials.clone(),
                        access: p
                            .access
                            .iter()
                            .map(|(sub, access)| (sub.to_ascii_lowercase(), *access))
                            .collect(),
                        graph_permissions: config
                            .graph_permissions
                            .iter()
                            .find(|(client, _)| client.eq_ignore_ascii_case(&p.client_id))
                            .map(|(_, permissions)| permissions.clone())
                            .unwrap_or_default(),
                    })
                    .collect(),
            });
        }
        Ok(world)
    }

    pub(crate) fn tenant(&self, id: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.id.eq_ignore_ascii_case(id))
    }

    pub(crate) fn tenant_mut(&mut self, id: &str) -> Option<&mut Tenant> {
        self.tenants
            .iter_mut()
            .find(|t| t.id.eq_ignore_ascii_case(id))
    }

    fn tenant_or_err(&mut self, id: &str) -> Result<&mut Tenant, SimError> {
        self.tenant_mut(id)
            .ok_or_else(|| SimError::UnknownTenant(id.to_owned()))
    }

    /// Records a successful write to a contact (numbering it).
    pub(crate) fn record_contact_write(&mut self, record: ContactWriteRecord) {
        activity_log::store(&mut self.contact_writes, &mut self.last_write_seq, record);
    }

    /// Every recorded contact write, oldest first.
    pub(crate) fn contact_writes(&self) -> &[ContactWriteRecord] {
        &self.contact_writes
    }

    pub(crate) fn principal(&self, tenant_id: &str, client_id: &str) -> Option<&Principal> {
        self.tenant(tenant_id)?
            .principals
            .iter()
            .find(|p| p.client_id.eq_ignore_ascii_case(client_id))
    }

    fn principal_mut(&mut self, tenant_id: &str, client_id: &str) -> Option<&mut Principal> {
        self.tenants
            .iter_mut()
            .find(|t| t.id.eq_ignore_ascii_case(tenant_id))?
            .principals
            .iter_mut()
            .find(|p| p.client_id.eq_ignore_ascii_case(client_id))
    }

    fn principal_or_err(
        &mut self,
        tenant_id: &str,
        client_id: &str,
    ) -> Result<&mut Principal, SimError> {
        self.principal_mut(tenant_id, client_id)
            .ok_or_else(|| SimError::UnknownPrincipal(format!("{client_id} in tenant {tenant_id}")))
    }

    pub(crate) fn subscription(&self, id: &str) -> Option<&Subscription> {
        let i = *self.index.get(&id.to_ascii_lowercase())?;
        self.subscriptions.get(i)
    }

    pub(crate) fn subscription_mut(&mut self, id: &str) -> Option<&mut Subscription> {
        let i = *self.index.get(&id.to_ascii_lowercase())?;
        self.subscriptions.get_mut(i)
    }

    /// The principal's effective grant on a subscription of its own tenant.
    pub(crate) fn access(&self, tenant_id: &str, client_id: &str, subscription: &str) -> Access {
        let Some(principal) = self.principal(tenant_id, client_id) else {
            return Access::None;
        };
        let home = self
            .subscription(subscription)
            .is_some_and(|s| s.tenant_id.eq_ignore_ascii_case(tenant_id));
        if !home {
            return Access::None;
        }
        principal
            .access
            .get(&subscription.to_ascii_lowercase())
            .or_else(|| principal.access.get("*"))
            .copied()
            .unwrap_or_default()
    }

    /// Subscriptions `GET /subscriptions` shows the principal: those it holds any role on.
    pub(crate) fn visible_subscriptions(
        &self,
        tenant_id: &str,
        client_id: &str,
    ) -> Vec<&Subscription> {
        self.subscriptions
            .iter()
            .filter(|s| self.access(tenant_id, client_id, &s.id) != Access::None)
            .collect()
    }

    fn subscription_or_err(&mut self, id: &str) -> Result<&mut Subscription, SimError> {
        self.subscription_mut(id)
            .ok_or_else(|| SimError::UnknownSubscription(id.to_owned()))
    }

    /// A management group by id (case-insensitive), tenant root groups included.
    pub(crate) fn group(&self, id: &str) -> Option<GroupRef> {
        if let Some(tenant) = self.tenant(id) {
            return Some(GroupRef {
                id: tenant.id.clone(),
                tenant_id: tenant.id.clone(),
            });
        }
        self.groups
            .iter()
            .find(|g| g.id.eq_ignore_ascii_case(id))
            .map(|g| GroupRef {
                id: g.id.clone(),
                tenant_id: g.tenant_id.clone(),
            })
    }

    /// The parent of a group below a root; `None` for a root or an unknown id.
    fn parent_of_group(&self, id: &str) -> Option<&str> {
        self.groups
            .iter()
            .find(|g| g.id.eq_ignore_ascii_case(id))
            .map(|g| g.parent.as_str())
    }

    /// The group and its ancestors up to and including the tenant root group.
    fn ancestry<'a>(&'a self, id: &'a str) -> Vec<&'a str> {
        let mut chain = vec![id];
        let mut current = id;
        // The hierarchy has no cycles; the bound only guards against a bug making one.
        while let Some(parent) = self.parent_of_group(current) {
            if chain.len() > self.groups.len() {
                break;
            }
            chain.push(parent);
            current = parent;
        }
        chain
    }

    /// Whether the principal may read the group's descendants: a grant that can read on the
    /// group or on one of its ancestors. Grants on subscriptions and `"*"` do not count.
    pub(crate) fn can_read_group(&self, tenant_id: &str, client_id: &str, group: &str) -> bool {
        let Some(principal) = self.principal(tenant_id, client_id) else {
            return false;
        };
        self.ancestry(group).into_iter().any(|id| {
            principal
                .access
                .get(&management_group_access_key(id).to_ascii_lowercase())
                .is_some_and(|access| access.can_read())
        })
    }

    /// Every group and subscription below `group`, level by level: at each group its child
    /// groups (in creation order), then its subscriptions (in seed order). A parent always
    /// comes before its children.
    pub(crate) fn descendants(&self, group: &str) -> Vec<Descendant<'_>> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([group]);
        while let Some(current) = queue.pop_front() {
            if !seen.insert(current.to_ascii_lowercase()) {
                continue;
            }
            for child in self
                .groups
                .iter()
                .filter(|g| g.parent.eq_ignore_ascii_case(current))
            {
                out.push(Descendant::Group(child));
                queue.push_back(&child.id);
            }
            out.extend(
                self.subscriptions
                    .iter()
                    .filter(|s| s.parent_group().eq_ignore_ascii_case(current))
                    .map(Descendant::Subscription),
            );
        }
        out
    }

    /// The stored group id of `group` if it is a group (or root) of `tenant_id`.
    fn group_in_tenant(&self, group: &str, tenant_id: &str) -> Result<String, SimError> {
        self.group(group)
            .filter(|g| g.tenant_id.eq_ignore_ascii_case(tenant_id))
            .map(|g| g.id)
            .ok_or_else(|| {
                SimError::UnknownManagementGroup(format!("{group} in tenant {tenant_id}"))
            })
    }
}

fn display_name_or_id(display_name: &str, id: &str) -> String {
    if display_name.is_empty() {
        id.to_owned()
    } else {
        display_name.to_owned()
    }
}

/// A change to a subscription, as a person or a billing event would make it; only the fields
/// present change, and nothing changes unless all of them can.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SubscriptionUpdate {
    /// `Subscription.state` (Disabled/Deleted make the subscription read-only; it stays
    /// listed among its group's descendants).
    pub state: Option<SubscriptionState>,
    /// Whether Microsoft.Security is registered.
    pub security_registered: Option<bool>,
    /// `displayName` (in `GET /subscriptions` and among descendants).
    pub display_name: Option<String>,
    /// Replaces all `tags` (an empty map removes them).
    pub tags: Option<BTreeMap<String, String>>,
    /// Moves the subscription into this management group of its tenant (the tenant id: the
    /// tenant root group).
    pub management_group: Option<String>,
}

/// Everything the request handlers share.
pub(crate) struct Shared {
    world: Mutex<World>,
    pub(crate) tokens: TokenStore,
    pub(crate) counters: Counters,
    faults: Mutex<Faults>,
    pub(crate) throttle: Throttle,
    /// `https://127.0.0.1:PORT/`, used for `nextLink` and `WWW-Authenticate`.
    pub(crate) base_url: Url,
    pub(crate) page_size: usize,
    /// Default page size of management group descendants.
    pub(crate) descendant_page_size: usize,
    pub(crate) token_lifetime: Duration,
    pub(crate) arm_audience: String,
    pub(crate) etags: bool,
    /// Events per page of the Activity Log.
    pub(crate) activity_log_page_size: usize,
}

impl Shared {
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        // A panic elsewhere must not wedge the simulator: the world stays usable.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Handle on a running simulator's state, for tests and the control API.
///
/// Cloning is cheap; all clones see the same world. Edits made here behave like a person
/// changing things in the Azure portal: they are not counted as requests and spend no
/// throttling tokens.
#[derive(Clone)]
pub struct SimState {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState")
            .field("base_url", &self.shared.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl SimState {
    pub(crate) fn new(config: &SimConfig, base_url: Url) -> Result<SimState, SimError> {
        config.validate()?;
        Ok(SimState {
            shared: Arc::new(Shared {
                world: Mutex::new(World::from_config(config)?),
                tokens: TokenStore::default(),
                counters: Counters::default(),
                faults: Mutex::new(Faults::new(config.faults.clone())),
                throttle: Throttle::new(&config.throttle)?,
                base_url,
                page_size: config.subscription_page_size,
                descendant_page_size: config.descendant_page_size,
                token_lifetime: Duration::from_secs(config.token_lifetime_seconds),
                arm_audience: config.arm_audience.trim_end_matches('/').to_owned(),
                etags: config.etags,
                activity_log_page_size: config.activity_log_page_size,
            }),
        })
    }

    /// Snapshot of the request counters.
    pub fn requests(&self) -> RequestCounts {
        self.shared.counters.snapshot()
    }

    /// Zeroes the request counters.
    pub fn reset_requests(&self) {
        self.shared.counters.reset();
    }

    /// The stored `properties` of the subscription's `default` contact (`None` when absent).
    pub fn contact(&self, subscription: &str) -> Result<Option<serde_json::Value>, SimError> {
        let world = self.shared.world();
        let sub = world
            .subscription(subscription)
            .ok_or_else(|| SimError::UnknownSubscription(subscription.to_owned()))?;
        Ok(sub.contact.clone())
    }

    /// Replaces the contact's `properties` as a person in the portal would; returns whether the
    /// contact was created. The write is recorded in the Activity Log with the caller
    /// [`super::DEFAULT_PORTAL_CALLER`] (see [`SimState::set_contact_as`]).
    pub fn set_contact(
        &self,
        subscription: &str,
        properties: serde_json::Value,
    ) -> Result<bool, SimError> {
        self.set_contact_as(subscription, properties, None)
    }

    /// [`SimState::set_contact`] by a named person: `caller` (e.g. `ops-admin@contoso.com`)
    /// becomes the Activity Log `caller` of the write; `None` or an empty name records
    /// [`super::DEFAULT_PORTAL_CALLER`].
    pub fn set_contact_as(
        &self,
        subscription: &str,
        properties: serde_json::Value,
        caller: Option<&str>,
    ) -> Result<bool, SimError> {
        if !properties.is_object() {
            return Err(SimError::InvalidControl(
                "contact properties must be a JSON object".into(),
            ));
        }
        let now = SystemTime::now();
        let mut world = self.shared.world();
        let sub = world.subscription_or_err(subscription)?;
        sub.contact_version += 1;
        let created = sub.contact.replace(properties).is_none();
        let record = ContactWriteRecord::new(
            &sub.id,
            &sub.tenant_id,
            Actor::person(caller),
            now,
            now,
            false,
            if created { 201 } else { 200 },
            uuid::Uuid::new_v4().to_string(),
            None,
        );
        world.record_contact_write(record);
        Ok(created)
    }

    /// Deletes the contact as a person in the portal would; returns whether one existed. The
    /// delete is recorded with the caller [`super::DEFAULT_PORTAL_CALLER`].
    pub fn delete_contact(&self, subscription: &str) -> Result<bool, SimError> {
        self.delete_contact_as(subscription, None)
    }

    /// [`SimState::delete_contact`] by a named person (see [`SimState::set_contact_as`]).
    pub fn delete_contact_as(
        &self,
        subscription: &str,
        caller: Option<&str>,
    ) -> Result<bool, SimError> {
        let now = SystemTime::now();
        let mut world = self.shared.world();
        let sub = world.subscription_or_err(subscription)?;
        sub.contact_version += 1;
        let existed = sub.contact.take().is_some();
        let record = ContactWriteRecord::new(
            &sub.id,
            &sub.tenant_id,
            Actor::person(caller),
            now,
            now,
            true,
            if existed { 200 } else { 204 },
            uuid::Uuid::new_v4().to_string(),
            None,
        );
        world.record_contact_write(record);
        Ok(existed)
    }

    /// Every successful write to the subscription's contact still in the Activity Log (the
    /// last 90 days), oldest first: ARM `PUT`s and `DELETE`s (caller: the service principal's
    /// object id) and portal edits (caller: the person's name).
    pub fn contact_writes(&self, subscription: &str) -> Result<Vec<ContactWrite>, SimError> {
        let world = self.shared.world();
        if world.subscription(subscription).is_none() {
            return Err(SimError::UnknownSubscription(subscription.to_owned()));
        }
        let now = SystemTime::now();
        Ok(world
            .contact_writes()
            .iter()
            .filter(|r| r.subscription_id.eq_ignore_ascii_case(subscription))
            .filter(|r| r.at + activity_log::RETENTION >= now)
            .map(ContactWriteRecord::public)
            .collect())
    }

    /// The tenant's Microsoft Graph `organization`, as `GET /v1.0/organization/{id}` answers it
    /// (without `@odata.context`).
    pub fn organization(&self, tenant: &str) -> Result<serde_json::Value, SimError> {
        let mut world = self.shared.world();
        let tenant = world.tenant_or_err(tenant)?;
        Ok(tenant.organization.resource(&tenant.id))
    }

    /// Changes the tenant's organization as a person in the Entra admin center would (see
    /// [`SimState::set_organization_as`]); recorded with the caller
    /// [`super::DEFAULT_PORTAL_CALLER`].
    pub fn set_organization(
        &self,
        tenant: &str,
        changes: serde_json::Value,
    ) -> Result<(), SimError> {
        self.set_organization_as(tenant, changes, None)
    }

    /// Changes the properties present in `changes` (a JSON object; the others keep their
    /// values): `technicalNotificationMails`, `securityComplianceNotificationMails`,
    /// `securityComplianceNotificationPhones`, `marketingNotificationEmails` (arrays of strings,
    /// not checked as addresses, so odd values can be seeded), `privacyProfile`, `displayName`
    /// and `verifiedDomains` (names; the first is the initial domain). All or nothing. The
    /// change is recorded for [`SimState::organization_writes`] with `caller` (default
    /// [`super::DEFAULT_PORTAL_CALLER`]).
    pub fn set_organization_as(
        &self,
        tenant: &str,
        changes: serde_json::Value,
        caller: Option<&str>,
    ) -> Result<(), SimError> {
        let mut world = self.shared.world();
        let tenant = world.tenant_or_err(tenant)?;
        let (next, properties) = tenant
            .organization
            .patched(&changes, true)
            .map_err(|e| SimError::InvalidControl(e.to_string()))?;
        tenant.organization = next;
        tenant.record_organization_write(OrganizationWriteRecord {
            actor: Actor::person(caller),
            at: SystemTime::now(),
            properties,
        });
        Ok(())
    }

    /// Every recorded change to the tenant's organization (Graph `PATCH`es and control-API
    /// edits), oldest first.
    pub fn organization_writes(&self, tenant: &str) -> Result<Vec<OrganizationWrite>, SimError> {
        let mut world = self.shared.world();
        Ok(world
            .tenant_or_err(tenant)?
            .organization_writes
            .iter()
            .map(OrganizationWriteRecord::public)
            .collect())
    }

    /// Replaces the Microsoft Graph application permissions of the tenant's principal (the
    /// `roles` of the Graph tokens issued from now on; tokens already issued keep theirs, until
    /// they expire or [`SimState::expire_tokens`]).
    pub fn set_graph_permissions(
        &self,
        tenant: &str,
        client_id: &str,
        permissions: Vec<String>,
    ) -> Result<(), SimError> {
        if permissions.iter().any(|p| p.trim().is_empty()) {
            return Err(SimError::InvalidControl(
                "a Graph permission is empty".into(),
            ));
        }
        let mut world = self.shared.world();
        world.principal_or_err(tenant, client_id)?.graph_permissions = permissions;
        Ok(())
    }

    /// The Microsoft Graph application permissions of the tenant's principal.
    pub fn graph_permissions(
        &self,
        tenant: &str,
        client_id: &str,
    ) -> Result<Vec<String>, SimError> {
        let mut world = self.shared.world();
        Ok(world
            .principal_or_err(tenant, client_id)?
            .graph_permissions
            .clone())
    }

    /// The fault configuration in force.
    pub fn faults(&self) -> FaultConfig {
        self.shared.faults().config().clone()
    }

    /// Replaces all fault rules (restarting storms and the generator).
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), SimError> {
        faults.validate()?;
        *self.shared.faults() = Faults::new(faults);
        Ok(())
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        *self.shared.faults() = Faults::new(FaultConfig::default());
    }

    /// The throttling configuration in force.
    pub fn throttle(&self) -> ThrottleConfig {
        self.shared.throttle.config()
    }

    /// Replaces the token buckets; every bucket starts full.
    pub fn set_throttle(&self, throttle: ThrottleConfig) -> Result<(), SimError> {
        self.shared.throttle.reconfigure(&throttle)
    }

    /// Grants (or with [`Access::None`] revokes) a principal's role on a subscription of its
    /// tenant, or, with a `managementGroup:<id>` scope (see
    /// [`super::management_group_access_key`]), on a management group of its tenant.
    pub fn set_access(&self, scope: &str, client_id: &str, access: Access) -> Result<(), SimError> {
        let mut world = self.shared.world();
        let tenant_id = match management_group_of_key(scope) {
            Some(group) => {
                world
                    .group(group)
                    .ok_or_else(|| SimError::UnknownManagementGroup(group.to_owned()))?
                    .tenant_id
            }
            None => world
                .subscription(scope)
                .ok_or_else(|| SimError::UnknownSubscription(scope.to_owned()))?
                .tenant_id
                .clone(),
        };
        let principal = world
            .tenants
            .iter_mut()
            .filter(|t| t.id.eq_ignore_ascii_case(&tenant_id))
            .flat_map(|t| t.principals.iter_mut())
            .find(|p| p.client_id.eq_ignore_ascii_case(client_id))
            .ok_or_else(|| SimError::UnknownPrincipal(client_id.to_owned()))?;
        principal.access.insert(scope.to_ascii_lowercase(), access);
        Ok(())
    }

    /// Changes `Subscription.state` (Disabled/Deleted make the subscription read-only).
    pub fn set_subscription_state(
        &self,
        subscription: &str,
        state: SubscriptionState,
    ) -> Result<(), SimError> {
        self.shared.world().subscription_or_err(subscription)?.state = state;
        Ok(())
    }

    /// Registers or unregisters the Microsoft.Security resource provider.
    pub fn set_security_registered(
        &self,
        subscription: &str,
        registered: bool,
    ) -> Result<(), SimError> {
        self.shared
            .world()
            .subscription_or_err(subscription)?
            .security_registered = registered;
        Ok(())
    }

    /// Replaces a subscription's `tags`.
    pub fn set_subscription_tags(
        &self,
        subscription: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<(), SimError> {
        self.update_subscription(
            subscription,
            SubscriptionUpdate {
                tags: Some(tags),
                ..SubscriptionUpdate::default()
            },
        )
    }

    /// Moves a subscription into a management group of its tenant (the tenant id: the tenant
    /// root group). Real ARM does this with `PUT …/managementGroups/{group}/subscriptions/{sub}`.
    pub fn set_subscription_management_group(
        &self,
        subscription: &str,
        group: &str,
    ) -> Result<(), SimError> {
        self.update_subscription(
            subscription,
            SubscriptionUpdate {
                management_group: Some(group.to_owned()),
                ..SubscriptionUpdate::default()
            },
        )
    }

    /// Applies every field present in `update`, or none when one of them is invalid.
    pub fn update_subscription(
        &self,
        subscription: &str,
        update: SubscriptionUpdate,
    ) -> Result<(), SimError> {
        let mut world = self.shared.world();
        let tenant_id = world
            .subscription(subscription)
            .ok_or_else(|| SimError::UnknownSubscription(subscription.to_owned()))?
            .tenant_id
            .clone();
        let group = match &update.management_group {
            Some(group) => Some(world.group_in_tenant(group, &tenant_id)?),
            None => None,
        };
        let sub = world.subscription_or_err(subscription)?;
        if let Some(state) = update.state {
            sub.state = state;
        }
        if let Some(registered) = update.security_registered {
            sub.security_registered = registered;
        }
        if let Some(display_name) = update.display_name {
            sub.display_name = display_name;
        }
        if let Some(tags) = update.tags {
            sub.tags = tags;
        }
        if let Some(group) = group {
            sub.management_group = (!group.eq_ignore_ascii_case(&tenant_id)).then_some(group);
        }
        Ok(())
    }

    /// Creates or replaces a management group of `tenant` (its display name, parent and the
    /// subscriptions directly in it: listed ones move here from wherever they were, and ones
    /// no longer listed go back to the tenant root group; child groups stay). Returns whether
    /// the group is new. Refused: a tenant id (root groups are fixed), a group of another
    /// tenant, a parent outside the tenant or below the group itself, a subscription of
    /// another tenant.
    pub fn put_management_group(
        &self,
        tenant: &str,
        group: ManagementGroupSeed,
    ) -> Result<bool, SimError> {
        ManagementGroupSeed::validate_id(&group.id).map_err(SimError::InvalidControl)?;
        let mut world = self.shared.world();
        let tenant_id = world
            .tenant(tenant)
            .ok_or_else(|| SimError::UnknownTenant(tenant.to_owned()))?
            .id
            .clone();
        if world.tenant(&group.id).is_some() {
            return Err(SimError::InvalidControl(format!(
                "{} is a tenant root group, which cannot be replaced",
                group.id
            )));
        }
        let existing = world
            .groups
            .iter()
            .position(|g| g.id.eq_ignore_ascii_case(&group.id));
        if let Some(other) = existing
            .map(|i| &world.groups[i].tenant_id)
            .filter(|t| !t.eq_ignore_ascii_case(&tenant_id))
        {
            return Err(SimError::InvalidControl(format!(
                "management group {} belongs to tenant {other}",
                group.id
            )));
        }
        let id = existing.map_or_else(|| group.id.clone(), |i| world.groups[i].id.clone());
        let parent = world
            .group_in_tenant(group.parent.as_deref().unwrap_or(&tenant_id), &tenant_id)
            .map_err(|e| SimError::InvalidControl(format!("parent: {e}")))?;
        if world
            .ancestry(&parent)
            .iter()
            .any(|ancestor| ancestor.eq_ignore_ascii_case(&id))
        {
            return Err(SimError::InvalidControl(format!(
                "management group {id} cannot be placed below itself ({parent})"
            )));
        }
        let mut members = HashSet::new();
        for sub in &group.subscriptions {
            let known = world
                .subscription(sub)
                .ok_or_else(|| SimError::UnknownSubscription(sub.clone()))?;
            if !known.tenant_id.eq_ignore_ascii_case(&tenant_id) {
                return Err(SimError::InvalidControl(format!(
                    "subscription {sub} is not in tenant {tenant_id}"
                )));
            }
            members.insert(sub.to_ascii_lowercase());
        }

        let display_name = display_name_or_id(&group.display_name, &id);
        match existing {
            Some(i) => {
                let stored = &mut world.groups[i];
                stored.display_name = display_name;
                stored.parent = parent;
            }
            None => world.groups.push(ManagementGroup {
                id: id.clone(),
                tenant_id,
                display_name,
                parent,
            }),
        }
        for sub in &mut world.subscriptions {
            if members.contains(&sub.id.to_ascii_lowercase()) {
                sub.management_group = Some(id.clone());
            } else if sub
                .management_group
                .as_deref()
                .is_some_and(|g| g.eq_ignore_ascii_case(&id))
            {
                sub.management_group = None;
            }
        }
        Ok(existing.is_none())
    }

    /// A management group below a root, as a seed (`parent` always set: the tenant id for a
    /// child of the root); `None` for unknown ids and for tenant root groups.
    pub fn management_group(&self, id: &str) -> Option<ManagementGroupSeed> {
        let world = self.shared.world();
        let group = world
            .groups
            .iter()
            .find(|g| g.id.eq_ignore_ascii_case(id))?;
        Some(ManagementGroupSeed {
            id: group.id.clone(),
            display_name: group.display_name.clone(),
            parent: Some(group.parent.clone()),
            subscriptions: world
                .subscriptions
                .iter()
                .filter(|s| {
                    s.management_group
                        .as_deref()
                        .is_some_and(|g| g.eq_ignore_ascii_case(&group.id))
                })
                .map(|s| s.id.clone())
                .collect(),
        })
    }

    /// The tenant of a management group (a tenant id names its root group).
    pub fn management_group_tenant(&self, id: &str) -> Option<String> {
        self.shared.world().group(id).map(|g| g.tenant_id)
    }

    /// Ids of all tenants, in seed order.
    pub fn tenant_ids(&self) -> Vec<String> {
        self.shared
            .world()
            .tenants
            .iter()
            .map(|t| t.id.clone())
            .collect()
    }

    /// Expires every issued token, so the next ARM call gets `ExpiredAuthenticationToken`.
    pub fn expire_tokens(&self) {
        self.shared.tokens.expire_all();
    }

    /// Adds an OIDC issuer or replaces its JWKS (after a key rotation, say); returns whether
    /// the issuer is new. Assertions are checked against the new keys from the next request on.
    pub fn set_oidc_issuer(&self, issuer: OidcIssuerSeed) -> Result<bool, SimError> {
        issuer.validate().map_err(SimError::InvalidControl)?;
        let keys = IssuerKeys::from_jwks(&issuer.jwks).map_err(SimError::InvalidControl)?;
        Ok(self
            .shared
            .world()
            .issuers
            .insert(issuer.issuer, keys)
            .is_none())
    }

    /// Adds a federated identity credential to a principal, replacing the one of the same
    /// name; returns whether it is new. The principal's credentials must stay valid together
    /// (one per issuer and subject, at most [`super::MAX_FEDERATED_CREDENTIALS`]).
    pub fn add_federated_credential(
        &self,
        tenant: &str,
        client_id: &str,
        credential: FederatedCredentialSeed,
    ) -> Result<bool, SimError> {
        let mut world = self.shared.world();
        let principal = world.principal_or_err(tenant, client_id)?;
        let mut credentials: Vec<FederatedCredentialSeed> = principal
            .federated_credentials
            .iter()
            .filter(|c| c.name != credential.name)
            .cloned()
            .collect();
        let created = credentials.len() == principal.federated_credentials.len();
        credentials.push(credential);
        FederatedCredentialSeed::validate_all(&credentials).map_err(SimError::InvalidControl)?;
        principal.federated_credentials = credentials;
        Ok(created)
    }

    /// Removes a principal's federated credential by name; returns whether it existed.
    pub fn remove_federated_credential(
        &self,
        tenant: &str,
        client_id: &str,
        name: &str,
    ) -> Result<bool, SimError> {
        let mut world = self.shared.world();
        let principal = world.principal_or_err(tenant, client_id)?;
        let before = principal.federated_credentials.len();
        principal.federated_credentials.retain(|c| c.name != name);
        Ok(principal.federated_credentials.len() != before)
    }

    /// A principal's federated credentials.
    pub fn federated_credentials(
        &self,
        tenant: &str,
        client_id: &str,
    ) -> Result<Vec<FederatedCredentialSeed>, SimError> {
        let mut world = self.shared.world();
        Ok(world
            .principal_or_err(tenant, client_id)?
            .federated_credentials
            .clone())
    }

    /// All subscription ids, in seed order.
    pub fn subscription_ids(&self) -> Vec<String> {
        self.shared
            .world()
            .subscriptions
            .iter()
            .map(|s| s.id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PrincipalSeed, SubscriptionSeed, TenantSeed};

    const SUB_A: &str = "aaaaaaaa-0000-0000-0000-000000000001";
    const SUB_B: &str = "aaaaaaaa-0000-0000-0000-000000000002";
    const SUB_OTHER: &str = "bbbbbbbb-0000-0000-0000-000000000001";

    fn state() -> SimState {
        let config = SimConfig {
            tenants: vec![
                TenantSeed {
                    id: "t1".into(),
                    principals: vec![PrincipalSeed {
                        client_id: "app".into(),
                        access: [
                            ("*".to_owned(), Access::Read),
                            (SUB_B.to_owned(), Access::ReadWrite),
                        ]
                        .into_iter()
                        .collect(),
                        ..PrincipalSeed::default()
                    }],
                    subscriptions: vec![SubscriptionSeed::new(SUB_A), SubscriptionSeed::new(SUB_B)],
                    management_groups: Vec::new(),
                },
                TenantSeed {
                    id: "t2".into(),
                    principals: vec![],
                    subscriptions: vec![SubscriptionSeed::new(SUB_OTHER)],
                    management_groups: Vec::new(),
                },
            ],
            ..SimConfig::default()
        };
        SimState::new(&config, Url::parse("https://127.0.0.1:1/").expect("url")).expect("state")
    }

    #[test]
    fn wildcard_and_specific_grants_stay_in_the_tenant() {
        let state = state();
        let world = state.shared.world();
        assert_eq!(world.access("t1", "APP", SUB_A), Access::Read);
        assert_eq!(
            world.access("t1", "app", &SUB_B.to_uppercase()),
            Access::ReadWrite
        );
        assert_eq!(world.access("t1", "app", SUB_OTHER), Access::None);
        assert_eq!(world.access("t2", "app", SUB_OTHER), Access::None);
        assert_eq!(world.visible_subscriptions("t1", "app").len(), 2);
    }

    #[test]
    fn control_edits() {
        let state = state();
        assert_eq!(state.contact(SUB_A).expect("known"), None);
        let props = serde_json::json!({"emails": "x@contoso.com"});
        assert!(state.set_contact(SUB_A, props.clone()).expect("set"));
        assert!(!state.set_contact(SUB_A, props.clone()).expect("set"));
        assert_eq!(state.contact(SUB_A).expect("known"), Some(props));
        assert!(state.delete_contact(SUB_A).expect("known"));
        assert!(!state.delete_contact(SUB_A).expect("known"));
        assert!(matches!(
            state.contact("nope"),
            Err(SimError::UnknownSubscription(_))
        ));
        state.set_access(SUB_A, "app", Access::None).expect("grant");
        assert_eq!(
            state.shared.world().access("t1", "app", SUB_A),
            Access::None
        );
        assert!(matches!(
            state.set_access(SUB_OTHER, "app", Access::Read),
            Err(SimError::UnknownPrincipal(_))
        ));
    }

    fn names(world: &World, group: &str) -> Vec<String> {
        world
            .descendants(group)
            .iter()
            .map(|d| match d {
                Descendant::Group(g) => format!("{}<{}", g.id, g.parent),
                Descendant::Subscription(s) => format!("{}<{}", s.id, s.parent_group()),
            })
            .collect()
    }

    fn hierarchy() -> SimState {
        let yaml = format!(
            r#"
tenants:
  - id: t1
    principals:
      - clientId: app
        access: {{ "*": readWrite, "managementGroup:G1": read }}
    subscriptions: [{{ id: {SUB_A} }}, {{ id: {SUB_B} }}]
    managementGroups:
      - {{ id: g2, displayName: Two, parent: G1, subscriptions: [{SUB_B}] }}
      - {{ id: G1, subscriptions: [{SUB_A}] }}
  - id: t2
    subscriptions: [{{ id: {SUB_OTHER} }}]
    managementGroups: [{{ id: other }}]
"#
        );
        let config = SimConfig::from_yaml_str(&yaml).expect("seed");
        SimState::new(&config, Url::parse("https://127.0.0.1:1/").expect("url")).expect("state")
    }

    #[test]
    fn descendants_are_listed_level_by_level_with_their_parents() {
        let state = hierarchy();
        let world = state.shared.world();
        assert_eq!(
            names(&world, "t1"),
            [
                "G1<t1".to_owned(),
                "g2<G1".to_owned(),
                format!("{SUB_A}<G1"),
                format!("{SUB_B}<g2"),
            ]
        );
        assert_eq!(names(&world, "g2"), [format!("{SUB_B}<g2")]);
        assert_eq!(
            names(&world, "t2"),
            ["other<t2".to_owned(), format!("{SUB_OTHER}<t2")]
        );
        assert_eq!(world.group("G2").map(|g| g.id), Some("g2".to_owned()));
        assert_eq!(
            world.group("T1").map(|g| g.tenant_id),
            Some("t1".to_owned())
        );
        assert_eq!(world.group("nope"), None);
        drop(world);
        // Display names default to the id.
        assert_eq!(
            state.management_group("g1").map(|g| g.display_name),
            Some("G1".into())
        );
    }

    #[test]
    fn group_grants_reach_down_not_up_nor_to_subscriptions() {
        let state = hierarchy();
        {
            let world = state.shared.world();
            assert!(world.can_read_group("t1", "app", "G1"));
            assert!(world.can_read_group("t1", "app", "g2"));
            assert!(!world.can_read_group("t1", "app", "t1"));
            assert!(!world.can_read_group("t1", "nobody", "g2"));
            // Group keys do not change subscription grants.
            assert_eq!(world.access("t1", "app", SUB_A), Access::ReadWrite);
        }
        let root = management_group_access_key("t1");
        state.set_access(&root, "app", Access::Read).expect("grant");
        assert!(state.shared.world().can_read_group("t1", "app", "t1"));
        state
            .set_access(&management_group_access_key("g1"), "app", Access::None)
            .expect("revoke");
        // Still readable through the root grant.
        assert!(state.shared.world().can_read_group("t1", "app", "g2"));
        assert!(matches!(
            state.set_access("managementGroup:nope", "app", Access::Read),
            Err(SimError::UnknownManagementGroup(_))
        ));
        assert!(matches!(
            state.set_access(&management_group_access_key("other"), "app", Access::Read),
            Err(SimError::UnknownPrincipal(_))
        ));
    }

    #[test]
    fn put_management_group_moves_subscriptions_and_refuses_bad_hierarchies() {
        let state = hierarchy();
        let g3 = ManagementGroupSeed::new("g3", "Three")
            .under("g2")
            .with_subscriptions([SUB_A.to_uppercase()]);
        assert!(
            state
                .put_management_group("T1", g3.clone())
                .expect("create")
        );
        assert!(!state.put_management_group("t1", g3).expect("replace"));
        {
            let world = state.shared.world();
            assert_eq!(
                names(&world, "g2"),
                [
                    "g3<g2".to_owned(),
                    format!("{SUB_B}<g2"),
                    format!("{SUB_A}<g3")
                ]
            );
            assert_eq!(
                names(&world, "G1"),
                [
                    "g2<G1".to_owned(),
                    "g3<g2".to_owned(),
                    format!("{SUB_B}<g2"),
                    format!("{SUB_A}<g3")
                ]
            );
        }
        // Replacing g2 without SUB_B sends SUB_B back to the root; g3 stays below g2.
        state
            .put_management_group("t1", ManagementGroupSeed::new("g2", "").under("G1"))
            .expect("replace");
        assert_eq!(
            state.management_group("g2"),
            Some(ManagementGroupSeed {
                id: "g2".into(),
                display_name: "g2".into(),
                parent: Some("G1".into()),
                subscriptions: vec![],
            })
        );
        assert_eq!(
            state
                .shared
                .world()
                .subscription(SUB_B)
                .map(|s| s.parent_group().to_owned()),
            Some("t1".into())
        );
        let refused = |tenant: &str, seed: ManagementGroupSeed| {
            state.put_management_group(tenant, seed).is_err()
        };
        assert!(
            refused("t1", ManagementGroupSeed::new("G1", "").under("g3")),
            "cycle"
        );
        assert!(
            refused("t1", ManagementGroupSeed::new("g1", "").under("g1")),
            "own parent"
        );
        assert!(
            refused("t1", ManagementGroupSeed::new("t1", "root")),
            "root"
        );
        assert!(
            refused("t1", ManagementGroupSeed::new("t2", "root")),
            "other root"
        );
        assert!(
            refused("t1", ManagementGroupSeed::new("other", "")),
            "other tenant's"
        );
        assert!(
            refused("t1", ManagementGroupSeed::new("x", "").under("other")),
            "parent elsewhere"
        );
        assert!(
            refused("t1", ManagementGroupSeed::new("x", "").under("nope")),
            "unknown parent"
        );
        assert!(refused(
            "t1",
            ManagementGroupSeed::new("x", "").with_subscriptions([SUB_OTHER])
        ));
        assert!(refused("t1", ManagementGroupSeed::new("bad/id", "")));
        assert!(matches!(
            state.put_management_group("t9", ManagementGroupSeed::new("x", "")),
            Err(SimError::UnknownTenant(_))
        ));
        assert_eq!(state.management_group("x"), None);
        assert_eq!(
            state.management_group("G1").and_then(|g| g.parent),
            Some("t1".into())
        );
    }

    #[test]
    fn subscription_updates_are_all_or_nothing() {
        let state = hierarchy();
        let tags: BTreeMap<String, String> = [("env".to_owned(), "prod".to_owned())].into();
        let bad = SubscriptionUpdate {
            tags: Some(tags.clone()),
            management_group: Some("other".into()),
            ..SubscriptionUpdate::default()
        };
        assert!(matches!(
            state.update_subscription(SUB_A, bad),
            Err(SimError::UnknownManagementGroup(_))
        ));
        assert!(
            state
                .shared
                .world()
                .subscription(SUB_A)
                .is_some_and(|s| s.tags.is_empty())
        );
        let good = SubscriptionUpdate {
            state: Some(SubscriptionState::Deleted),
            display_name: Some("renamed".into()),
            tags: Some(tags.clone()),
            management_group: Some("g2".into()),
            ..SubscriptionUpdate::default()
        };
        state.update_subscription(SUB_A, good).expect("update");
        {
            let world = state.shared.world();
            let sub = world.subscription(SUB_A).expect("known");
            assert_eq!(
                (
                    sub.state,
                    sub.display_name.as_str(),
                    &sub.tags,
                    sub.parent_group()
                ),
                (SubscriptionState::Deleted, "renamed", &tags, "g2")
            );
        }
        state
            .set_subscription_management_group(SUB_A, "T1")
            .expect("to the root");
        state
            .set_subscription_tags(SUB_A, BTreeMap::new())
            .expect("untag");
        let world = state.shared.world();
        let sub = world.subscription(SUB_A).expect("known");
        assert_eq!((sub.management_group.as_deref(), sub.tags.len()), (None, 0));
    }
}

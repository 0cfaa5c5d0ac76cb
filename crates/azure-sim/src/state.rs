//! The simulated world and the control object tests use to read and steer it.
//!
//! All mutable state sits behind short-lived `std::sync` locks that are never held across an
//! `.await`, so the request path stays simple and a benchmark with thousands of subscriptions
//! still only contends on map look-ups.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use url::Url;

use super::config::{
    Access, FederatedCredentialSeed, OidcIssuerSeed, SimConfig, SubscriptionState,
};
use super::counters::{Counters, RequestCounts};
use super::error::SimError;
use super::faults::{FaultConfig, Faults};
use super::federation::IssuerKeys;
use super::throttle::{Throttle, ThrottleConfig};
use super::tokens::TokenStore;

pub(crate) struct Principal {
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<String>,
    pub(crate) object_id: String,
    pub(crate) federated_credentials: Vec<FederatedCredentialSeed>,
    /// Lower-cased subscription id (or `"*"`) → grant.
    access: HashMap<String, Access>,
}

pub(crate) struct Tenant {
    pub(crate) id: String,
    pub(crate) principals: Vec<Principal>,
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
}

/// Tenants, principals and subscriptions, in seed order, and the OIDC issuers' keys.
pub(crate) struct World {
    tenants: Vec<Tenant>,
    subscriptions: Vec<Subscription>,
    /// Lower-cased subscription id → position in `subscriptions`.
    index: HashMap<String, usize>,
    /// Issuer URL (exact) → its verification keys.
    pub(crate) issuers: HashMap<String, IssuerKeys>,
}

impl World {
    fn from_config(config: &SimConfig) -> Result<World, SimError> {
        let mut world = World {
            tenants: Vec::new(),
            subscriptions: Vec::new(),
            index: HashMap::new(),
            issuers: HashMap::new(),
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
                });
            }
            world.tenants.push(Tenant {
                id: tenant.id.clone(),
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
                    })
                    .collect(),
            });
        }
        Ok(world)
    }

    pub(crate) fn tenant(&self, id: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.id.eq_ignore_ascii_case(id))
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
    pub(crate) token_lifetime: Duration,
    pub(crate) arm_audience: String,
    pub(crate) etags: bool,
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
                token_lifetime: Duration::from_secs(config.token_lifetime_seconds),
                arm_audience: config.arm_audience.trim_end_matches('/').to_owned(),
                etags: config.etags,
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
    /// contact was created.
    pub fn set_contact(
        &self,
        subscription: &str,
        properties: serde_json::Value,
    ) -> Result<bool, SimError> {
        if !properties.is_object() {
            return Err(SimError::InvalidControl(
                "contact properties must be a JSON object".into(),
            ));
        }
        let mut world = self.shared.world();
        let sub = world.subscription_or_err(subscription)?;
        sub.contact_version += 1;
        Ok(sub.contact.replace(properties).is_none())
    }

    /// Deletes the contact; returns whether one existed.
    pub fn delete_contact(&self, subscription: &str) -> Result<bool, SimError> {
        let mut world = self.shared.world();
        let sub = world.subscription_or_err(subscription)?;
        sub.contact_version += 1;
        Ok(sub.contact.take().is_some())
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

    /// Grants (or with [`Access::None`] revokes) a principal's role on a subscription of its tenant.
    pub fn set_access(
        &self,
        subscription: &str,
        client_id: &str,
        access: Access,
    ) -> Result<(), SimError> {
        let mut world = self.shared.world();
        let tenant_id = world
            .subscription(subscription)
            .ok_or_else(|| SimError::UnknownSubscription(subscription.to_owned()))?
            .tenant_id
            .clone();
        let principal = world
            .tenants
            .iter_mut()
            .filter(|t| t.id.eq_ignore_ascii_case(&tenant_id))
            .flat_map(|t| t.principals.iter_mut())
            .find(|p| p.client_id.eq_ignore_ascii_case(client_id))
            .ok_or_else(|| SimError::UnknownPrincipal(client_id.to_owned()))?;
        principal
            .access
            .insert(subscription.to_ascii_lowercase(), access);
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
                },
                TenantSeed {
                    id: "t2".into(),
                    principals: vec![],
                    subscriptions: vec![SubscriptionSeed::new(SUB_OTHER)],
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
}

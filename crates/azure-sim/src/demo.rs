//! The demo world (`demo.yaml`): one tenant, one principal, and a subscription for each
//! situation the operator must handle. The CLI builds a real `ClientSecretCredential` from the
//! constants below.
//!
//! Management groups: [`DEMO_MG_PLATFORM`] below the tenant root group holds
//! [`DEMO_SUB_COMPLIANT`] and [`DEMO_SUB_CONTACT_MISSING`]; [`DEMO_MG_APPS`] below it holds
//! [`DEMO_SUB_PORTAL_EDITED`]; the other subscriptions sit in the root group
//! ([`DEMO_TENANT_ID`]), on which the demo principal has read.
//!
//! The compliant contact everywhere is `security@contoso.com`, enabled, Owner notified, alerts
//! from `Medium`, attack paths from `Critical`.
//!
//! Microsoft Graph: the demo tenant's `organization` (display name `Contoso`, domain
//! `contoso.onmicrosoft.com`) has `technicalNotificationMails: ["it-admin@contoso.com"]` and
//! no `securityComplianceNotificationMails`; the demo principal holds
//! `Organization.ReadWrite.All`, so a token for [`crate::GRAPH_SCOPE`] reads and updates it.

use super::config::SimConfig;
use super::error::SimError;

const DEMO_YAML: &str = include_str!("demo.yaml");

/// Tenant of the demo principal and all demo subscriptions.
pub const DEMO_TENANT_ID: &str = "00000000-0000-0000-0000-0000000000aa";
/// Client id of the demo principal.
pub const DEMO_CLIENT_ID: &str = "00000000-0000-0000-0000-0000000000c1";
/// Client secret of the demo principal (only valid against the simulator).
pub const DEMO_CLIENT_SECRET: &str = "sim-demo-secret-not-a-real-one";
/// Object id of the demo principal, as `AuthorizationFailed` messages show it.
pub const DEMO_OBJECT_ID: &str = "00000000-0000-0000-0000-0000000000b1";

/// Contact already exactly as desired: nothing to do.
pub const DEMO_SUB_COMPLIANT: &str = "10000000-0000-0000-0000-000000000001";
/// No contact at all: GET answers 404, the operator creates it (PUT → 201).
pub const DEMO_SUB_CONTACT_MISSING: &str = "10000000-0000-0000-0000-000000000002";
/// A person added a foreign address in the portal: `emails` is comma-separated with stray
/// spaces and a case-variant duplicate (`"security@contoso.com, mallory@fabrikam.example ,  Security@Contoso.com"`).
pub const DEMO_SUB_PORTAL_EDITED: &str = "10000000-0000-0000-0000-000000000003";
/// Contact present but `isEnabled: false`.
pub const DEMO_SUB_CONTACT_DISABLED: &str = "10000000-0000-0000-0000-000000000004";
/// Alerts only from `High` (weaker than `Medium`), no attack-path source, owners not notified.
pub const DEMO_SUB_WEAK_SEVERITY: &str = "10000000-0000-0000-0000-000000000005";
/// The principal has read access only: listed, GET works (404, no contact), PUT gets 403
/// `AuthorizationFailed`.
pub const DEMO_SUB_READ_ONLY: &str = "10000000-0000-0000-0000-000000000006";
/// The principal has no role: not listed by `GET /subscriptions`, and any request on it gets
/// 403 `AuthorizationFailed`.
pub const DEMO_SUB_NO_ACCESS: &str = "10000000-0000-0000-0000-000000000007";
/// Microsoft.Security is not registered: 404 `Subscription Not Registered`.
pub const DEMO_SUB_NOT_REGISTERED: &str = "10000000-0000-0000-0000-000000000008";
/// The subscription is `Disabled`: reads work (no contact), writes get 409
/// `ReadOnlyDisabledSubscription`.
pub const DEMO_SUB_DISABLED: &str = "10000000-0000-0000-0000-000000000009";

/// Management group below the tenant root group, holding [`DEMO_SUB_COMPLIANT`],
/// [`DEMO_SUB_CONTACT_MISSING`] and the group [`DEMO_MG_APPS`].
pub const DEMO_MG_PLATFORM: &str = "contoso-platform";
/// Management group below [`DEMO_MG_PLATFORM`], holding [`DEMO_SUB_PORTAL_EDITED`].
pub const DEMO_MG_APPS: &str = "contoso-apps";

impl SimConfig {
    /// The demo world described in this module.
    pub fn demo() -> SimConfig {
        // The YAML is compiled in and checked by the tests below, so a failure here is a
        // build defect, not a runtime condition; an empty world would hide it.
        #[allow(clippy::expect_used)]
        SimConfig::try_demo().expect("the compiled-in demo.yaml is valid (checked by tests)")
    }

    /// The demo world, reporting a parse failure instead of hiding it.
    pub fn try_demo() -> Result<SimConfig, SimError> {
        SimConfig::from_yaml_str(DEMO_YAML)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Access, SubscriptionState, management_group_access_key};

    #[test]
    fn demo_yaml_matches_the_constants() {
        let config = SimConfig::try_demo().expect("demo.yaml parses and validates");
        let tenant = &config.tenants[0];
        assert_eq!(tenant.id, DEMO_TENANT_ID);
        let principal = &tenant.principals[0];
        assert_eq!(principal.client_id, DEMO_CLIENT_ID);
        assert_eq!(principal.client_secret.as_deref(), Some(DEMO_CLIENT_SECRET));
        assert_eq!(principal.object_id.as_deref(), Some(DEMO_OBJECT_ID));
        assert_eq!(principal.access[DEMO_SUB_READ_ONLY], Access::Read);
        assert_eq!(principal.access[DEMO_SUB_NO_ACCESS], Access::None);

        let sub = |id: &str| {
            tenant
                .subscriptions
                .iter()
                .find(|s| s.id == id)
                .unwrap_or_else(|| panic!("demo subscription {id} missing"))
        };
        assert!(sub(DEMO_SUB_COMPLIANT).contact.is_some());
        assert!(sub(DEMO_SUB_CONTACT_MISSING).contact.is_none());
        let portal = sub(DEMO_SUB_PORTAL_EDITED)
            .contact
            .clone()
            .unwrap_or_default();
        assert!(portal["emails"].as_str().is_some_and(|e| e.contains(", ")));
        let disabled = sub(DEMO_SUB_CONTACT_DISABLED)
            .contact
            .clone()
            .unwrap_or_default();
        assert_eq!(disabled["isEnabled"], false);
        let weak = sub(DEMO_SUB_WEAK_SEVERITY)
            .contact
            .clone()
            .unwrap_or_default();
        assert_eq!(weak["notificationsSources"][0]["minimalSeverity"], "High");
        assert!(!sub(DEMO_SUB_NOT_REGISTERED).security_registered);
        assert_eq!(sub(DEMO_SUB_DISABLED).state, SubscriptionState::Disabled);
        assert_eq!(tenant.subscriptions.len(), 9);
        assert_eq!(config.tenants.len(), 1);

        assert_eq!(
            principal.access[&management_group_access_key(DEMO_TENANT_ID)],
            Access::Read
        );
        let group = |id: &str| {
            tenant
                .management_groups
                .iter()
                .find(|g| g.id == id)
                .unwrap_or_else(|| panic!("demo management group {id} missing"))
        };
        assert_eq!(group(DEMO_MG_PLATFORM).parent, None);
        assert_eq!(
            group(DEMO_MG_PLATFORM).subscriptions,
            [DEMO_SUB_COMPLIANT, DEMO_SUB_CONTACT_MISSING]
        );
        assert_eq!(
            group(DEMO_MG_APPS).parent.as_deref(),
            Some(DEMO_MG_PLATFORM)
        );
        assert_eq!(group(DEMO_MG_APPS).subscriptions, [DEMO_SUB_PORTAL_EDITED]);
        assert_eq!(tenant.management_groups.len(), 2);

        let org = &config.organizations[DEMO_TENANT_ID];
        assert_eq!(org.technical_notification_mails, ["it-admin@contoso.com"]);
        assert!(org.security_compliance_notification_mails.is_empty());
        assert_eq!(
            config.graph_permissions[DEMO_CLIENT_ID],
            ["Organization.ReadWrite.All"]
        );
    }
}

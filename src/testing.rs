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

/// A client of the simulator `sim` as the app `client_id` with `secret` in `tenant`, through
/// the real credential code and the simulator's CA.
pub fn sim_client(
    sim: &azure_sim::SimHandle,
    tenant: &str,
    client_id: &str,
    secret: &str,
) -> crate::arm::ArmClient {
    use crate::arm::{
        ArmClient,
        cloud::{Cloud, Endpoints},
        credential::Identity,
        http_client,
        metrics::ArmMetrics,
    };
    let url = sim.url();
    let http = http_client(
        std::time::Duration::from_secs(10),
        Some(sim.ca_pem().as_bytes()),
    )
    .expect("http client");
    let endpoints = Endpoints::with_overrides(Cloud::Public, Some(url.clone()), Some(url));
    let credential = Identity::ClientSecret {
        tenant_id: tenant.into(),
        client_id: client_id.into(),
        client_secret: secret.into(),
    }
    .credential(&http, &endpoints.authority_host)
    .expect("credential");
    ArmClient::new(
        http,
        endpoints.arm,
        endpoints.scope,
        credential,
        ArmMetrics::default(),
    )
}

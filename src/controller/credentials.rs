//! Which ARM client a policy uses: the operator's own identity, or the client secret in the
//! Secret its `spec.credentials.secretRef` names (read with one GET, never watched).
//!
//! Clients built from a Secret are cached by the Secret's resourceVersion, so tokens are cached
//! across passes and a rotated secret takes effect on the next pass.

use std::{collections::HashMap, sync::Mutex};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

use crate::{
    arm::{ArmClient, credential::Identity},
    connect::Azure,
    crd::SecurityContactPolicy,
    outcome::Failure,
    outcome::reason::CREDENTIALS_INVALID,
};

pub const KEYS: [&str; 3] = ["tenantId", "clientId", "clientSecret"];

#[derive(Default)]
pub struct ClientCache {
    /// (namespace, secret name) → (resourceVersion, client)
    clients: Mutex<HashMap<(String, String), (String, ArmClient)>>,
}

impl ClientCache {
    /// The client for `policy`, or a `CredentialsInvalid` failure a person can act on. The
    /// failure names the Secret and the missing key, never a value.
    pub async fn client_for(
        &self,
        kube: &kube::Client,
        azure: &Azure,
        policy: &SecurityContactPolicy,
    ) -> Result<ArmClient, Failure> {
        let Some(credentials) = &policy.spec.credentials else {
            return Ok(azure.arm.clone());
        };
        let namespace = policy.namespace().unwrap_or_default();
        let name = &credentials.secret_ref.name;
        let invalid = |why: String| Failure::terminal(CREDENTIALS_INVALID, why);
        let secret = Api::<Secret>::namespaced(kube.clone(), &namespace)
            .get_opt(name)
            .await
            .map_err(|e| Failure {
                transient: !matches!(&e, kube::Error::Api(s) if s.code == 403),
                ..invalid(format!("cannot read Secret {namespace}/{name}: {e}"))
            })?
            .ok_or_else(|| invalid(format!("Secret {namespace}/{name} not found")))?;
        let version = secret.resource_version().unwrap_or_default();
        let key = (namespace.clone(), name.clone());
        if let Some((v, client)) = self.clients.lock().expect("cache lock").get(&key)
            && *v == version
        {
            return Ok(client.clone());
        }
        let value = |k: &str| -> Result<String, Failure> {
            let bytes = secret
                .data
                .as_ref()
                .and_then(|d| d.get(k))
                .map(|b| b.0.clone())
                .or_else(|| {
                    secret
                        .string_data
                        .as_ref()
                        .and_then(|d| d.get(k))
                        .map(|s| s.clone().into_bytes())
                })
                .filter(|b| !b.is_empty())
                .ok_or_else(|| {
                    invalid(format!(
                        "Secret {namespace}/{name} has no key {k} (needs {})",
                        KEYS.join(", ")
                    ))
                })?;
            String::from_utf8(bytes)
                .map(|s| s.trim().to_owned())
                .map_err(|_| {
                    invalid(format!(
                        "Secret {namespace}/{name} key {k} is not UTF-8 text"
                    ))
                })
        };
        let identity = Identity::ClientSecret {
            tenant_id: value("tenantId")?,
            client_id: value("clientId")?,
            client_secret: value("clientSecret")?,
        };
        let client = azure
            .client_for(&identity)
            .map_err(|e| invalid(format!("Secret {namespace}/{name}: {}", e.summary())))?;
        self.clients
            .lock()
            .expect("cache lock")
            .insert(key, (version, client.clone()));
        Ok(client)
    }
}

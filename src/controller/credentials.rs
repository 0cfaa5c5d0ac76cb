//! Which ARM client a policy uses: the operator's own identity; the client secret in the
//! Secret its `spec.credentials.secretRef` names (read with one GET, never watched); or the
//! Entra application federated to a ServiceAccount of its namespace
//! (`spec.credentials.workloadIdentity`), whose tokens the operator requests from the API
//! server (TokenRequest) and exchanges with Entra as client assertions.
//!
//! Clients built from a Secret are cached by the Secret's resourceVersion, so tokens are cached
//! across passes and a rotated secret takes effect on the next pass. A ServiceAccount token is
//! cached until 80 % of its lifetime has passed; every pass asks the cache, so a namespace that
//! withdraws its grant stops the policy at the next refresh.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use azure_identity::ClientAssertion;
use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::{Secret, ServiceAccount},
};
use kube::{Api, ResourceExt, api::PostParams};

use crate::{
    arm::{
        ArmClient,
        credential::{Assertion, Identity},
    },
    connect::Azure,
    crd::{SecurityContactPolicy, WorkloadIdentity},
    outcome::Failure,
    outcome::reason::CREDENTIALS_INVALID,
};

/// The audience Entra expects on a federated assertion.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
/// Lifetime asked of the API server (it may shorten it; 10 min is its floor).
const TOKEN_SECONDS: i64 = 3600;

pub const KEYS: [&str; 3] = ["tenantId", "clientId", "clientSecret"];

/// (namespace, ServiceAccount, client id, tenant): one token source and client each.
type FederatedKey = (String, String, String, String);

#[derive(Default)]
pub struct ClientCache {
    /// (namespace, secret name) → (resourceVersion, client)
    clients: Mutex<HashMap<(String, String), (String, ArmClient)>>,
    federated: Mutex<HashMap<FederatedKey, (Arc<ServiceAccountToken>, ArmClient)>>,
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
        if let Some(wi) = &credentials.workload_identity {
            return self.federated_client(kube, azure, &namespace, wi).await;
        }
        let Some(secret_ref) = &credentials.secret_ref else {
            return Err(Failure::terminal(
                CREDENTIALS_INVALID,
                "spec.credentials needs secretRef or workloadIdentity",
            ));
        };
        let name = &secret_ref.name;
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

impl ClientCache {
    async fn federated_client(
        &self,
        kube: &kube::Client,
        azure: &Azure,
        namespace: &str,
        wi: &WorkloadIdentity,
    ) -> Result<ArmClient, Failure> {
        let key = (
            namespace.to_owned(),
            wi.service_account_name.clone(),
            wi.client_id.clone(),
            wi.tenant_id.clone(),
        );
        let cached = self
            .federated
            .lock()
            .expect("cache lock")
            .get(&key)
            .cloned();
        let (source, client) = match cached {
            Some(entry) => entry,
            None => {
                let source = Arc::new(ServiceAccountToken::new(
                    kube.clone(),
                    namespace,
                    &wi.service_account_name,
                ));
                let identity = Identity::Federated {
                    tenant_id: wi.tenant_id.clone(),
                    client_id: wi.client_id.clone(),
                    assertion: Assertion(source.clone()),
                };
                let client = azure.client_for(&identity).map_err(|e| {
                    Failure::terminal(
                        CREDENTIALS_INVALID,
                        format!("workload identity {}: {}", wi.client_id, e.summary()),
                    )
                })?;
                self.federated
                    .lock()
                    .expect("cache lock")
                    .insert(key, (source.clone(), client.clone()));
                (source, client)
            }
        };
        // Ask for (or reuse) the ServiceAccount token now, so a missing grant or account is
        // reported as such rather than as an Entra failure.
        source.token().await?;
        Ok(client)
    }
}

/// Short-lived tokens of one ServiceAccount, audience [`TOKEN_EXCHANGE_AUDIENCE`], from the
/// API server's TokenRequest API; cached until 80 % of their lifetime has passed.
pub struct ServiceAccountToken {
    api: Api<ServiceAccount>,
    namespace: String,
    name: String,
    cached: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl fmt::Debug for ServiceAccountToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServiceAccount {}/{}", self.namespace, self.name)
    }
}

impl ServiceAccountToken {
    pub fn new(kube: kube::Client, namespace: &str, name: &str) -> ServiceAccountToken {
        ServiceAccountToken {
            api: Api::namespaced(kube, namespace),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            cached: Default::default(),
        }
    }

    /// A token good for a while yet, or a failure that names what a person must do.
    pub async fn token(&self) -> Result<String, Failure> {
        let mut cached = self.cached.lock().await;
        if let Some((token, refresh_at)) = cached.as_ref()
            && Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![TOKEN_EXCHANGE_AUDIENCE.to_owned()],
                expiration_seconds: Some(TOKEN_SECONDS),
                bound_object_ref: None,
            },
            ..Default::default()
        };
        let answer = self
            .api
            .create_token_request(&self.name, &PostParams::default(), &request)
            .await
            .map_err(|e| self.failure(e))?;
        let status = answer.status.ok_or_else(|| {
            Failure::terminal(
                CREDENTIALS_INVALID,
                format!("the API server returned no token for {self:?}"),
            )
        })?;
        let lifetime = status
            .expiration_timestamp
            .0
            .duration_since(k8s_openapi::jiff::Timestamp::now())
            .as_secs_f64()
            .clamp(0.0, TOKEN_SECONDS as f64);
        let refresh_at = Instant::now() + Duration::from_secs_f64(lifetime * 0.8);
        *cached = Some((status.token.clone(), refresh_at));
        Ok(status.token)
    }

    fn failure(&self, e: kube::Error) -> Failure {
        let (ns, sa) = (&self.namespace, &self.name);
        match &e {
            kube::Error::Api(s) if s.code == 403 => Failure::terminal(
                CREDENTIALS_INVALID,
                format!(
                    "the operator may not request tokens for ServiceAccount {ns}/{sa}: namespace \
                     {ns} must grant it with a Role allowing create on serviceaccounts/token for \
                     resourceNames [{sa}] and a RoleBinding to the operator's ServiceAccount \
                     (examples/tenancy/team-workload-identity.yaml)"
                ),
            ),
            kube::Error::Api(s) if s.code == 404 => Failure::terminal(
                CREDENTIALS_INVALID,
                format!("ServiceAccount {ns}/{sa} not found"),
            ),
            _ => Failure {
                transient: true,
                ..Failure::terminal(
                    CREDENTIALS_INVALID,
                    format!("cannot request a token for ServiceAccount {ns}/{sa}: {e}"),
                )
            },
        }
    }
}

#[async_trait::async_trait]
impl ClientAssertion for ServiceAccountToken {
    async fn secret(
        &self,
        _: Option<azure_core::http::ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        self.token().await.map_err(|f| {
            azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, f.message)
        })
    }
}

//! Which Azure identity to use, and building it with the real `azure_identity` code.
//!
//! Selection follows the standard variables, in `DefaultAzureCredential`'s order for the
//! sources we support: a client secret, then workload identity (AKS), then managed identity.

use std::{fmt, path::PathBuf, sync::Arc};

use azure_core::{
    cloud::{CloudConfiguration, CustomConfiguration},
    credentials::{Secret, TokenCredential},
    http::{ClientOptions, RetryOptions, Transport},
};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use url::Url;

use super::{ArmError, token::Credential};

/// An identity, before any token is requested. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Identity {
    ClientSecret {
        tenant_id: String,
        client_id: String,
        client_secret: String,
    },
    WorkloadIdentity {
        tenant_id: String,
        client_id: String,
        token_file: PathBuf,
    },
    ManagedIdentity {
        client_id: Option<String>,
    },
    /// An application whose federated credential trusts the assertions `assertion` supplies
    /// (a ServiceAccount token the operator requests for a policy's namespace).
    Federated {
        tenant_id: String,
        client_id: String,
        assertion: Assertion,
    },
}

/// A source of client assertions, compared by identity (two handles are equal only when they
/// are the same source).
#[derive(Clone)]
pub struct Assertion(pub Arc<dyn ClientAssertion>);

impl PartialEq for Assertion {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Assertion {}

impl fmt::Debug for Assertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The source's own Debug, never an assertion (it is a bearer token).
        self.0.fmt(f)
    }
}

#[async_trait::async_trait]
impl ClientAssertion for Assertion {
    async fn secret(
        &self,
        options: Option<azure_core::http::ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        self.0.secret(options).await
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::ClientSecret {
                tenant_id,
                client_id,
                ..
            } => f
                .debug_struct("ClientSecret")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("client_secret", &"<redacted>")
                .finish(),
            Identity::WorkloadIdentity {
                tenant_id,
                client_id,
                token_file,
            } => f
                .debug_struct("WorkloadIdentity")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("token_file", token_file)
                .finish(),
            Identity::ManagedIdentity { client_id } => f
                .debug_struct("ManagedIdentity")
                .field("client_id", client_id)
                .finish(),
            Identity::Federated {
                tenant_id,
                client_id,
                assertion,
            } => f
                .debug_struct("Federated")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("assertion", assertion)
                .finish(),
        }
    }
}

impl Identity {
    /// Picks the identity the standard variables describe. `var` is the environment (a
    /// parameter so tests need not touch the process environment).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Identity {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        match (get("AZURE_TENANT_ID"), get("AZURE_CLIENT_ID")) {
            (Some(tenant_id), Some(client_id)) => {
                if let Some(client_secret) = get("AZURE_CLIENT_SECRET") {
                    return Identity::ClientSecret {
                        tenant_id,
                        client_id,
                        client_secret,
                    };
                }
                if let Some(file) = get("AZURE_FEDERATED_TOKEN_FILE") {
                    return Identity::WorkloadIdentity {
                        tenant_id,
                        client_id,
                        token_file: PathBuf::from(file),
                    };
                }
                Identity::ManagedIdentity {
                    client_id: Some(client_id),
                }
            }
            (_, client_id) => Identity::ManagedIdentity { client_id },
        }
    }

    /// Who Azure sees: tenant and application (or managed identity). Two identities with the
    /// same principal have the same rights, so what one read the other may see.
    pub fn principal(&self) -> String {
        match self {
            Identity::ClientSecret {
                tenant_id,
                client_id,
                ..
            }
            | Identity::WorkloadIdentity {
                tenant_id,
                client_id,
                ..
            }
            | Identity::Federated {
                tenant_id,
                client_id,
                ..
            } => format!("app:{tenant_id}/{client_id}"),
            Identity::ManagedIdentity { client_id } => {
                format!("mi:{}", client_id.as_deref().unwrap_or("system"))
            }
        }
    }

    /// A short description for logs (no secret).
    pub fn describe(&self) -> String {
        match self {
            Identity::ClientSecret {
                tenant_id,
                client_id,
                ..
            } => {
                format!("client secret of {client_id} in tenant {tenant_id}")
            }
            Identity::WorkloadIdentity {
                tenant_id,
                client_id,
                ..
            } => {
                format!("workload identity {client_id} in tenant {tenant_id}")
            }
            Identity::ManagedIdentity {
                client_id: Some(id),
            } => format!("managed identity {id}"),
            Identity::ManagedIdentity { client_id: None } => {
                "system-assigned managed identity".into()
            }
            Identity::Federated {
                tenant_id,
                client_id,
                assertion,
            } => {
                format!("application {client_id} in tenant {tenant_id} federated to {assertion:?}")
            }
        }
    }

    /// Builds the real `azure_identity` credential. Token requests go through `http` (so an
    /// extra CA applies) to `authority_host`, without azure_core's own retries: a failed
    /// token request is classified at once ([`Credential::token`]) and the caller decides
    /// when to try again, so an Entra outage is reported in seconds instead of minutes. The
    /// credential caches tokens until near expiry. `redact` are the values this identity was
    /// built from that must never appear in a message (a Secret's keys).
    pub fn credential(
        &self,
        http: &reqwest::Client,
        authority_host: &Url,
    ) -> Result<Credential, ArmError> {
        let mut custom = CustomConfiguration::default();
        custom.authority_host = authority_host.as_str().trim_end_matches('/').to_owned();
        let cloud = Arc::new(CloudConfiguration::from(custom));
        let identity = self.clone();
        Credential::new(http, self.redactions(), move |transport| {
            let client_options = ClientOptions {
                transport: Some(Transport::new(transport)),
                cloud: Some(cloud),
                retry: RetryOptions::none(),
                ..Default::default()
            };
            match identity {
                Identity::ClientSecret {
                    tenant_id,
                    client_id,
                    client_secret,
                } => ClientSecretCredential::new(
                    &tenant_id,
                    client_id,
                    Secret::new(client_secret),
                    Some(ClientSecretCredentialOptions { client_options }),
                )
                .map(|c| c as Arc<dyn TokenCredential>),
                Identity::WorkloadIdentity {
                    tenant_id,
                    client_id,
                    token_file,
                } => WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
                    credential_options: ClientAssertionCredentialOptions { client_options },
                    client_id: Some(client_id),
                    tenant_id: Some(tenant_id),
                    token_file_path: Some(token_file),
                }))
                .map(|c| c as Arc<dyn TokenCredential>),
                Identity::Federated {
                    tenant_id,
                    client_id,
                    assertion,
                } => ClientAssertionCredential::new(
                    tenant_id,
                    client_id,
                    assertion,
                    Some(ClientAssertionCredentialOptions { client_options }),
                )
                .map(|c| c as Arc<dyn TokenCredential>),
                Identity::ManagedIdentity { client_id } => {
                    ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                        user_assigned_id: client_id.map(UserAssignedId::ClientId),
                        client_options,
                    }))
                    .map(|c| c as Arc<dyn TokenCredential>)
                }
            }
        })
    }

    /// The values a message must never show: the secret always; for a client secret also the
    /// ids, since they may come from a Secret where a person pasted the secret into the wrong
    /// key.
    fn redactions(&self) -> Vec<(String, String)> {
        match self {
            Identity::ClientSecret {
                tenant_id,
                client_id,
                client_secret,
            } => vec![
                (client_secret.clone(), "<clientSecret>".into()),
                (tenant_id.clone(), "<tenantId>".into()),
                (client_id.clone(), "<clientId>".into()),
            ],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn client_secret_first() {
        let id = Identity::from_env(env(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s3cr3t"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
        ]));
        assert!(matches!(id, Identity::ClientSecret { .. }));
        assert!(!format!("{id:?}").contains("s3cr3t"));
        assert!(!id.describe().contains("s3cr3t"));
    }

    #[test]
    fn workload_then_managed() {
        let id = Identity::from_env(env(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
        ]));
        assert!(matches!(id, Identity::WorkloadIdentity { .. }));
        assert_eq!(
            Identity::from_env(env(&[("AZURE_CLIENT_ID", "c")])),
            Identity::ManagedIdentity {
                client_id: Some("c".into())
            }
        );
        assert_eq!(
            Identity::from_env(env(&[])),
            Identity::ManagedIdentity { client_id: None }
        );
    }
}

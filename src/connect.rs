//! From command-line flags to an authenticated ARM client: the cloud, endpoint overrides, an
//! extra CA, the identity from the standard variables, or the embedded simulator.

use std::{path::PathBuf, time::Duration};

use url::Url;

use crate::{
    Error, Result,
    arm::{
        ArmClient,
        cloud::{Cloud, Endpoints},
        credential::Identity,
        http_client,
        metrics::ArmMetrics,
    },
    simulator::{self, SimConfig, SimHandle, Simulator},
};

/// Azure access flags, shared by `check`, `apply` and `run`. The names are public interface.
#[derive(clap::Args, Clone, Debug)]
pub struct AzureArgs {
    /// Run an embedded Azure simulator seeded with demo data (no Azure account needed).
    #[arg(long, conflicts_with_all = ["arm_endpoint", "authority_host", "ca_file"])]
    pub azure_sim: bool,

    /// Azure cloud whose endpoints and token scope to use.
    #[arg(long, value_enum, default_value = "public", env = "AZURE_CLOUD")]
    pub azure_cloud: Cloud,

    /// ARM endpoint, overriding the cloud's (e.g. a proxy or a simulator).
    #[arg(long, value_name = "URL", env = "SCO_ARM_ENDPOINT")]
    pub arm_endpoint: Option<Url>,

    /// Entra authority host, overriding the cloud's.
    #[arg(long, value_name = "URL", env = "AZURE_AUTHORITY_HOST")]
    pub authority_host: Option<Url>,

    /// Extra CA certificate(s) (PEM) trusted for both ARM and the authority host.
    #[arg(long, value_name = "PEM", env = "SCO_CA_FILE")]
    pub ca_file: Option<PathBuf>,

    /// Most ARM requests in flight at once, across subscriptions.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,

    /// Per-request timeout, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub request_timeout: u64,
}

/// A connected ARM client; holds the embedded simulator (if any) alive.
pub struct Azure {
    /// The operator's own identity.
    pub arm: ArmClient,
    pub simulator: Option<SimHandle>,
    http: reqwest::Client,
    endpoints: Endpoints,
    metrics: ArmMetrics,
}

impl Azure {
    /// A client for another identity (a policy's own credentials), same endpoints and CA.
    pub fn client_for(
        &self,
        identity: &Identity,
    ) -> std::result::Result<ArmClient, crate::arm::ArmError> {
        let credential = identity.credential(&self.http, &self.endpoints.authority_host)?;
        Ok(ArmClient::new(
            self.http.clone(),
            self.endpoints.arm.clone(),
            self.endpoints.scope.clone(),
            credential,
            self.metrics.clone(),
        ))
    }
}

impl AzureArgs {
    pub async fn connect(&self, metrics: ArmMetrics) -> Result<Azure> {
        let timeout = Duration::from_secs(self.request_timeout.max(1));
        if self.azure_sim {
            let handle = Simulator::start(SimConfig::demo()).await?;
            let url = handle.url().clone();
            let endpoints =
                Endpoints::with_overrides(self.azure_cloud, Some(url.clone()), Some(url));
            let identity = Identity::ClientSecret {
                tenant_id: simulator::DEMO_TENANT_ID.to_owned(),
                client_id: simulator::DEMO_CLIENT_ID.to_owned(),
                client_secret: simulator::DEMO_CLIENT_SECRET.to_owned(),
            };
            tracing::info!(url = %handle.url(), "embedded Azure simulator started (demo data)");
            let ca = handle.ca_pem().as_bytes().to_vec();
            return assemble(
                endpoints,
                &identity,
                Some(&ca),
                timeout,
                metrics,
                Some(handle),
            );
        }
        let ca = match &self.ca_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| Error::Config(format!("--ca-file {}: {e}", path.display())))?,
            ),
            None => None,
        };
        let endpoints = Endpoints::with_overrides(
            self.azure_cloud,
            self.arm_endpoint.clone(),
            self.authority_host.clone(),
        );
        let identity = Identity::from_env(|name| std::env::var(name).ok());
        tracing::info!(arm = %endpoints.arm, identity = identity.describe(), "using Azure");
        assemble(endpoints, &identity, ca.as_deref(), timeout, metrics, None)
    }
}

fn assemble(
    endpoints: Endpoints,
    identity: &Identity,
    extra_ca: Option<&[u8]>,
    timeout: Duration,
    metrics: ArmMetrics,
    simulator: Option<SimHandle>,
) -> Result<Azure> {
    let http = http_client(timeout, extra_ca)?;
    let credential = identity.credential(&http, &endpoints.authority_host)?;
    let arm = ArmClient::new(
        http.clone(),
        endpoints.arm.clone(),
        endpoints.scope.clone(),
        credential,
        metrics.clone(),
    );
    Ok(Azure {
        arm,
        simulator,
        http,
        endpoints,
        metrics,
    })
}

//! From command-line flags to an authenticated ARM client: the cloud, endpoint overrides, an
//! extra CA, the identity from the standard variables, or (feature `azure-sim`) the embedded
//! simulator.

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
};

/// Azure access flags, shared by `check`, `apply` and `run`. The names are public interface.
#[derive(clap::Args, Clone, Debug)]
pub struct AzureArgs {
    /// Run an embedded Azure simulator seeded with demo data (no Azure account needed).
    #[cfg(feature = "azure-sim")]
    #[arg(long, conflicts_with_all = ["arm_endpoint", "authority_host", "graph_endpoint", "ca_file"])]
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

    /// Microsoft Graph endpoint, overriding the cloud's (for spec.tenantContact).
    #[arg(long, value_name = "URL", env = "SCO_GRAPH_ENDPOINT")]
    pub graph_endpoint: Option<Url>,

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

/// Where Azure is and who we are there.
pub struct Target {
    pub endpoints: Endpoints,
    pub identity: Identity,
    /// Extra CA certificate(s), PEM, trusted for ARM and the authority host.
    pub extra_ca: Option<Vec<u8>>,
}

/// A connected ARM client, and what it needs to build clients for other identities.
pub struct Azure {
    /// The operator's own identity.
    pub arm: ArmClient,
    http: reqwest::Client,
    endpoints: Endpoints,
    metrics: ArmMetrics,
    budget: std::sync::Arc<crate::arm::budget::Budget>,
    /// Whatever must live as long as the connection: the embedded simulator under
    /// `--azure-sim`. Opaque, so nothing of the operator depends on the simulator's types.
    _keep_alive: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl Azure {
    pub fn connect(
        target: Target,
        timeout: Duration,
        metrics: ArmMetrics,
        keep_alive: Option<Box<dyn std::any::Any + Send + Sync>>,
    ) -> Result<Azure> {
        let Target {
            endpoints,
            identity,
            extra_ca,
        } = target;
        let http = http_client(timeout, extra_ca.as_deref())?;
        let credential = identity.credential(&http, &endpoints.authority_host)?;
        let arm = ArmClient::new(
            http.clone(),
            endpoints.arm.clone(),
            endpoints.scope.clone(),
            credential,
            metrics.clone(),
        )
        .with_principal(identity.principal());
        Ok(Azure {
            arm,
            http,
            endpoints,
            metrics,
            budget: std::sync::Arc::new(crate::arm::budget::Budget::unlimited()),
            _keep_alive: keep_alive,
        })
    }

    /// Every client of this connection (the operator's and each policy's) counts its
    /// requests against `budget`: one budget for the process.
    pub fn with_budget(mut self, budget: crate::arm::budget::Budget) -> Azure {
        let budget = std::sync::Arc::new(budget);
        self.arm = self.arm.with_budget(budget.clone());
        self.budget = budget;
        self
    }

    pub fn budget(&self) -> &crate::arm::budget::Budget {
        &self.budget
    }

    /// `arm`'s identity, talking to Microsoft Graph instead (same HTTP client, retries and
    /// error handling: Graph's error body has ARM's `{"error": {"code", "message"}}` shape).
    pub fn graph_for(&self, arm: &ArmClient) -> ArmClient {
        arm.elsewhere(
            self.endpoints.graph.clone(),
            self.endpoints.graph_scope.clone(),
        )
    }

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
        )
        .with_principal(identity.principal())
        .with_budget(self.budget.clone()))
    }
}

impl AzureArgs {
    pub async fn connect(&self, metrics: ArmMetrics) -> Result<Azure> {
        let timeout = Duration::from_secs(self.request_timeout.max(1));
        #[cfg(feature = "azure-sim")]
        if self.azure_sim {
            let (simulator, target) = crate::embedded::start(self.azure_cloud).await?;
            return Azure::connect(target, timeout, metrics, Some(Box::new(simulator)));
        }
        Azure::connect(self.target()?, timeout, metrics, None)
    }

    /// The target the flags and the standard `AZURE_*` variables describe.
    fn target(&self) -> Result<Target> {
        let extra_ca = match &self.ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|source| Error::CaFile {
                path: path.clone(),
                source,
            })?),
            None => None,
        };
        let endpoints = Endpoints::with_overrides(
            self.azure_cloud,
            self.arm_endpoint.clone(),
            self.authority_host.clone(),
        )
        .with_graph(self.graph_endpoint.clone());
        let identity = Identity::from_env(|name| std::env::var(name).ok());
        tracing::info!(arm = %endpoints.arm, identity = identity.describe(), "using Azure");
        Ok(Target {
            endpoints,
            identity,
            extra_ca,
        })
    }
}

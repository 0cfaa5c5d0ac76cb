//! Command-line interface: one binary, subcommands. Flag names are public interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::connect::AzureArgs;

#[derive(Parser, Debug)]
#[command(name = "security-contact-operator", version, about, long_about = None)]
pub struct Cli {
    /// Log filter (tracing EnvFilter syntax). Default: `info` for `run` and `simulate`,
    /// `warn` for the one-shot commands, whose output is the report.
    #[arg(long, env = "SCO_LOG", global = true)]
    pub log_level: Option<String>,

    #[arg(long, value_enum, default_value = "plain", global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

impl Command {
    pub fn default_log_filter(&self) -> &'static str {
        match self {
            Command::Run(_) => "warn,security_contact_operator=info",
            #[cfg(feature = "azure-sim")]
            Command::Simulate(_) => "warn,security_contact_operator=info,azure_sim=info",
            _ => "warn",
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Audit policy manifests against Azure and never write.
    /// Exit 0 all compliant, 1 some non-compliant, 2 any error.
    Check(OneShotArgs),
    /// Enforce policy manifests once and print what changed.
    /// Exit 0 all compliant after the writes, 1 some non-compliant, 2 any error.
    Apply {
        #[command(flatten)]
        args: OneShotArgs,
        /// Print what would be written, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Grade every subscription the identity can see (or those under --management-group)
    /// against CIS 8.1.12-8.1.15, with no manifest; never writes.
    /// Exit 0 all compliant, 1 some non-compliant, 2 any error.
    Audit(AuditArgs),
    /// Print the CustomResourceDefinitions (SecurityContactPolicy, SecurityContactAccess; YAML).
    Crd,
    /// Serve a local Azure simulator (ARM + Entra token endpoint over HTTPS).
    #[cfg(feature = "azure-sim")]
    Simulate(SimulateArgs),
    /// Run the operator: reconcile SecurityContactPolicies in the cluster.
    Run(RunArgs),
    /// GET a URL once (the chart's `helm test` hook checks `/readyz` with it: the image has
    /// no shell and no curl). Exit 0 on a 2xx answer, 1 otherwise.
    Probe {
        /// The URL, e.g. http://security-contact-operator:8080/readyz
        url: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 10, value_name = "SECONDS")]
        timeout: u64,
    },
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Watch one namespace only (all namespaces when omitted).
    #[arg(long, env = "SCO_NAMESPACE")]
    pub namespace: Option<String>,

    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, default_value = "0.0.0.0:8080", env = "SCO_ADMIN_ADDR")]
    pub admin_addr: std::net::SocketAddr,

    /// Policies reconciled at once. Passes wait on ARM, not on the CPU, and ARM's load is
    /// bounded by the request budget (`--concurrency`), not by this.
    #[arg(long, default_value_t = 64)]
    pub workers: u16,

    /// Reconcile only while holding a Lease, so several replicas can run (one active).
    #[arg(long)]
    pub leader_elect: bool,

    /// Namespace of the leader Lease (default: the pod's namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub leader_elect_namespace: String,

    /// Namespace of the Revert ledgers (ConfigMaps): the operator's own (default: the pod's
    /// namespace). Kept apart from the policies so deleting their namespace cannot lose them.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub ledger_namespace: String,

    /// Namespaces whose policies may act through the operator's own Azure identity without a
    /// SecurityContactAccess (comma-separated; default: the operator's own namespace, the
    /// ledger namespace). `*` trusts every namespace: only for clusters with a single team.
    #[arg(
        long,
        env = "SCO_OPERATOR_IDENTITY_NAMESPACES",
        value_delimiter = ',',
        value_name = "NAMESPACE,..."
    )]
    pub operator_identity_namespaces: Vec<String>,

    /// Start-up budget: after a start (or a new leadership term) each read a policy's first
    /// pass makes waits for a token from this many per second, so a restart does not fire
    /// every policy at once; reads shared with other policies and later passes never wait.
    /// 0 lifts it.
    /// After that, only `--concurrency` (one budget for the whole process, adapting to 429s
    /// and ARM's remaining-requests headers) applies.
    #[arg(
        long,
        env = "SCO_STARTUP_BUDGET",
        default_value_t = 100,
        value_name = "REQUESTS_PER_SECOND"
    )]
    pub startup_budget: u32,

    /// Seconds a silent leader keeps the Lease before a standby may take it.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(2..=300))]
    pub leader_elect_lease_seconds: u64,

    #[command(flatten)]
    pub azure: AzureArgs,
}

#[derive(clap::Args, Debug)]
pub struct OneShotArgs {
    /// Policy manifests: files or directories (multi-document YAML).
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,

    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Output,

    /// How long to keep asking an unavailable token endpoint (Entra, IMDS) before reporting
    /// it (exit 2), in seconds.
    #[arg(long, default_value_t = crate::oneshot::TOKEN_DEADLINE.as_secs(), value_name = "SECONDS")]
    pub token_timeout: u64,

    #[command(flatten)]
    pub azure: AzureArgs,
}

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// Audit the subscriptions under this management group, at any depth (repeatable);
    /// every visible subscription when omitted.
    #[arg(long = "management-group", value_name = "ID")]
    pub management_groups: Vec<String>,

    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Output,

    /// How long to keep asking an unavailable token endpoint (Entra, IMDS) before reporting
    /// it (exit 2), in seconds.
    #[arg(long, default_value_t = crate::oneshot::TOKEN_DEADLINE.as_secs(), value_name = "SECONDS")]
    pub token_timeout: u64,

    #[command(flatten)]
    pub azure: AzureArgs,
}

#[cfg(feature = "azure-sim")]
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: std::net::SocketAddr,
    /// Seed file (YAML); the demo world when omitted.
    #[arg(long, value_name = "YAML")]
    pub seed: Option<PathBuf>,
    /// Where to write the simulator's CA certificate (PEM).
    #[arg(long, value_name = "PEM", default_value = "azure-sim-ca.pem")]
    pub ca_out: PathBuf,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
    /// SARIF 2.1.0 (GitHub code scanning and other SARIF consumers).
    Sarif,
    /// JUnit XML (CI test reports).
    Junit,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Plain,
    Json,
}

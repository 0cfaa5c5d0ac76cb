//! Entry point: parse, set up logging, dispatch. Nothing else.

use std::process::ExitCode;

use clap::Parser;
use security_contact_operator::{
    Result,
    access::{self, TrustedNamespaces},
    admin,
    arm::{budget::Budget, metrics::ArmMetrics},
    audit,
    cli::{AuditArgs, Cli, Command, LogFormat, OneShotArgs, Output, RunArgs},
    controller, crd, leader, manifest,
    metrics::Metrics,
    oneshot::{self, Action, EXIT_ERROR},
    probe, report,
};

#[tokio::main]
async fn main() -> ExitCode {
    let Cli {
        log_level,
        log_format,
        command,
    } = Cli::parse();
    init_tracing(
        log_level.as_deref().unwrap_or(command.default_log_filter()),
        log_format,
    );
    let code = match command {
        Command::Crd => {
            emit(&format!("{}---\n{}", crd::crd_yaml(), access::crd_yaml()));
            0
        }
        Command::Check(args) => one_shot(args, Action::Check).await,
        Command::Audit(args) => run_audit(args).await,
        Command::Apply { args, dry_run } => one_shot(args, Action::Apply { dry_run }).await,
        #[cfg(feature = "azure-sim")]
        Command::Simulate(args) => {
            exit_code(security_contact_operator::embedded::simulate(args, shutdown_signal()).await)
        }
        Command::Run(args) => exit_code(run(args).await),
        Command::Probe { url, timeout } => {
            match probe::probe(&url, std::time::Duration::from_secs(timeout)).await {
                Ok(seen) => {
                    println!("{seen}");
                    0
                }
                Err(seen) => {
                    eprintln!("probe failed: {seen}");
                    1
                }
            }
        }
    };
    ExitCode::from(code)
}

/// Writes a report to stdout. A reader that went away (`| head`) is not an error worth a
/// panic: the exit code still says what the report said.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// 0 on success; an error is printed and gives [`EXIT_ERROR`].
fn exit_code(outcome: Result<()>) -> u8 {
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_ERROR
        }
    }
}

async fn run_audit(args: AuditArgs) -> u8 {
    let AuditArgs {
        management_groups,
        output,
        token_timeout,
        azure,
    } = args;
    let concurrency = usize::from(azure.concurrency);
    let azure = match azure.connect(ArmMetrics::default()).await {
        Ok(a) => a,
        Err(e) => return exit_code(Err(e)),
    };
    let target = audit::Target { management_groups };
    let (report, scope) = audit::run(
        &azure.arm,
        &target,
        concurrency,
        std::time::Duration::from_secs(token_timeout),
    )
    .await;
    match output {
        Output::Table => {
            emit(&format!(
                "{}\n{}",
                audit::summary(&scope),
                report::text(&report)
            ));
        }
        Output::Json => {
            let mut value = serde_json::to_value(&report).expect("the report serialises");
            value["scope"] = serde_json::to_value(&scope).expect("the scope is JSON");
            emit(&format!("{value:#}\n"));
        }
        Output::Sarif => emit(&format!("{}\n", report::sarif(&report))),
        Output::Junit => emit(&report::junit(&report)),
    }
    report.exit_code()
}

async fn one_shot(args: OneShotArgs, action: Action) -> u8 {
    let OneShotArgs {
        files,
        output,
        token_timeout,
        azure,
    } = args;
    // Every manifest is read and checked before anything is sent to Azure.
    let policies = match manifest::load(&files) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: invalid manifest(s):\n{e}");
            return EXIT_ERROR;
        }
    };
    let concurrency = usize::from(azure.concurrency);
    let azure = match azure.connect(ArmMetrics::default()).await {
        Ok(a) => a,
        Err(e) => return exit_code(Err(e)),
    };
    let token_deadline = std::time::Duration::from_secs(token_timeout);
    let mut result = oneshot::run(&policies, &azure.arm, action, concurrency, token_deadline).await;
    if policies
        .iter()
        .any(|p| p.policy.spec.tenant_contact.is_some())
    {
        result.tenants = oneshot::tenants(&policies, &azure.graph_for(&azure.arm), action).await;
    }
    match output {
        Output::Table => emit(&report::text(&result)),
        Output::Json => emit(&format!("{}\n", report::json(&result))),
        Output::Sarif => {
            // Code scanning places each result on the manifest that declared the policy.
            let cwd = std::env::current_dir().unwrap_or_default();
            let manifests = policies
                .iter()
                .map(|p| {
                    let path = p.source.strip_prefix(&cwd).unwrap_or(&p.source);
                    let path = path.to_string_lossy().replace('\\', "/");
                    (p.id(), path.trim_start_matches("./").to_owned())
                })
                .collect();
            emit(&format!(
                "{}\n",
                report::sarif_with_manifests(&result, &manifests)
            ));
        }
        Output::Junit => emit(&report::junit(&result)),
    }
    result.exit_code()
}

async fn run(args: RunArgs) -> Result<()> {
    let RunArgs {
        namespace,
        admin_addr,
        workers,
        leader_elect,
        leader_elect_namespace,
        leader_elect_lease_seconds,
        startup_budget,
        ledger_namespace,
        operator_identity_namespaces,
        azure,
    } = args;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        on_signal.cancel();
    });
    let mut registry =
        prometheus_client::registry::Registry::with_prefix("security_contact_operator");
    let metrics = Metrics::register(&mut registry);
    let client = kube::Client::try_default()
        .await
        .map_err(security_contact_operator::Error::KubeConfig)?;
    let concurrency = usize::from(azure.concurrency);
    // After a stop signal, passes in flight get an ARM request's timeout (and then some) to
    // finish their writes; past that the process exits anyway, so that an API server that is
    // gone cannot keep a stopping replica alive until the kubelet's SIGKILL.
    let grace = std::time::Duration::from_secs(azure.request_timeout.max(1))
        + std::time::Duration::from_secs(5);
    let budget = Budget::new(concurrency, std::num::NonZeroU32::new(startup_budget))
        .shown_in(metrics.arm.concurrency_limit.clone());
    let azure = azure
        .connect(metrics.arm.clone())
        .await?
        .with_budget(budget);
    let health = std::sync::Arc::new(admin::Health::default());
    let leadership = if leader_elect {
        Some(
            leader::compete(
                client.clone(),
                &leader_elect_namespace,
                identity(),
                leader_elect_lease_seconds,
            )
            .await?,
        )
    } else {
        None
    };
    let options = controller::Options {
        namespace,
        concurrency,
        workers,
        leadership,
        trusted: TrustedNamespaces::from_flag(&operator_identity_namespaces, &ledger_namespace),
        ledger_namespace,
    };
    // Either ending ends the other (an operator without probes, or probes without an
    // operator, must not keep running), and both are joined: dropping the operator mid-pass
    // would cut writes in flight and never release the lease.
    let admin = async {
        let r = admin::serve(admin_addr, registry, health.clone(), shutdown.clone()).await;
        shutdown.cancel();
        r
    };
    let operator = async {
        let r = controller::run(
            client,
            azure,
            metrics,
            options,
            health.clone(),
            shutdown.clone(),
        )
        .await;
        shutdown.cancel();
        r
    };
    let overdue = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        }
    };
    tokio::select! {
        (admin, operator) = async { tokio::join!(admin, operator) } => operator.and(admin),
        () = overdue => {
            tracing::warn!(
                grace_s = grace.as_secs(),
                "still stopping after the grace period (is the API server gone?): exiting now"
            );
            Ok(())
        }
    }
}

/// This replica's name in the leader Lease: the pod name, else host and pid.
fn identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    })
}

/// SIGINT (Ctrl-C) or SIGTERM (how Kubernetes stops a pod; as PID 1 an unhandled SIGTERM is
/// ignored and the pod waits out its whole grace period).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

fn init_tracing(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Plain => builder.compact().init(),
        LogFormat::Json => builder.json().init(),
    }
}

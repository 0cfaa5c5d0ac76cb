//! Entry point: parse, set up logging, dispatch. Nothing else.

use std::process::ExitCode;

use clap::Parser;
use security_contact_operator::{
    admin,
    arm::metrics::ArmMetrics,
    cli::{Cli, Command, LogFormat, OneShotArgs, Output, RunArgs, SimulateArgs},
    controller, crd, leader, manifest,
    metrics::Metrics,
    oneshot::{self, Action, EXIT_ERROR},
    report, simulator,
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
            print!("{}", crd::crd_yaml());
            0
        }
        Command::Check(args) => one_shot(args, Action::Check).await,
        Command::Apply { args, dry_run } => one_shot(args, Action::Apply { dry_run }).await,
        Command::Simulate(args) => simulate(args).await,
        Command::Run(args) => run(args).await,
    };
    ExitCode::from(code)
}

async fn one_shot(args: OneShotArgs, action: Action) -> u8 {
    let OneShotArgs {
        files,
        output,
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
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let result = oneshot::run(&policies, &azure.arm, action, concurrency).await;
    match output {
        Output::Table => print!("{}", report::text(&result)),
        Output::Json => println!("{}", report::json(&result)),
    }
    result.exit_code()
}

async fn run(args: RunArgs) -> u8 {
    let RunArgs {
        namespace,
        admin_addr,
        workers,
        leader_elect,
        leader_elect_namespace,
        leader_elect_lease_seconds,
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
    let outcome = async {
        let client = kube::Client::try_default()
            .await
            .map_err(security_contact_operator::Error::Kube)?;
        let concurrency = usize::from(azure.concurrency);
        let azure = azure.connect(metrics.arm.clone()).await?;
        let ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let leadership = if leader_elect {
            let lease = &leader_elect_namespace;
            Some(
                leader::compete(
                    client.clone(),
                    lease,
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
        };
        let admin = admin::serve(admin_addr, registry, ready.clone(), shutdown.clone());
        let operator = controller::run(client, azure, metrics, options, ready, shutdown.clone());
        // Either ending ends the process: an operator without probes, or probes without an
        // operator, must not keep running.
        tokio::select! {
            r = admin => r,
            r = operator => r,
        }
    }
    .await;
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_ERROR
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

async fn simulate(args: SimulateArgs) -> u8 {
    let SimulateArgs {
        listen,
        seed,
        ca_out,
    } = args;
    let config = match seed {
        Some(path) => simulator::SimConfig::from_yaml_file(&path),
        None => Ok(simulator::SimConfig::demo()),
    };
    let outcome = match config {
        Ok(mut config) => {
            config.bind = listen;
            let ca = ca_out.display().to_string();
            let on_ready = |sim: &simulator::SimHandle| {
                let url = sim.url();
                println!("Azure simulator (ARM + Entra) listening on {url}");
                println!("CA certificate written to {ca}");
                println!("Use it with the demo identity:");
                println!(
                    "  AZURE_TENANT_ID={} AZURE_CLIENT_ID={} AZURE_CLIENT_SECRET={} \\",
                    simulator::DEMO_TENANT_ID,
                    simulator::DEMO_CLIENT_ID,
                    simulator::DEMO_CLIENT_SECRET
                );
                println!(
                    "  security-contact-operator check -f examples/ --arm-endpoint {url} --authority-host {url} --ca-file {ca}"
                );
                println!("Press Ctrl-C to stop.");
            };
            simulator::serve_until(config, &ca_out, on_ready, shutdown_signal()).await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_ERROR
        }
    }
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

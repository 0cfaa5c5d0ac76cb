//! The local Azure simulator inside the binary (cargo feature `azure-sim`): `--azure-sim`
//! starts one in-process and connects as its demo identity; `simulate` serves one for other
//! programs. The operator's own code never sees the simulator's types: this module hands back
//! a [`Target`] like any real cloud, and the simulator's handle only as something to keep alive.

use azure_sim::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TENANT_ID, SimConfig, SimHandle, Simulator,
};

use crate::{
    Error, Result,
    arm::{
        cloud::{Cloud, Endpoints},
        credential::Identity,
    },
    cli::SimulateArgs,
    connect::Target,
};

fn failed(e: azure_sim::SimError) -> Error {
    Error::EmbeddedSimulator(Box::new(e))
}

/// Starts the demo world on a free loopback port; the handle serves until dropped.
pub async fn start(cloud: Cloud) -> Result<(SimHandle, Target)> {
    let handle = Simulator::start(SimConfig::demo()).await.map_err(failed)?;
    let url = handle.url();
    tracing::info!(%url, "embedded Azure simulator started (demo data)");
    let target = Target {
        endpoints: Endpoints::with_overrides(cloud, Some(url.clone()), Some(url.clone()))
            .with_graph(Some(url)),
        identity: Identity::ClientSecret {
            tenant_id: DEMO_TENANT_ID.to_owned(),
            client_id: DEMO_CLIENT_ID.to_owned(),
            client_secret: DEMO_CLIENT_SECRET.to_owned(),
        },
        extra_ca: Some(handle.ca_pem().as_bytes().to_vec()),
    };
    Ok((handle, target))
}

/// `simulate`: serves a simulator until `shutdown`, printing how to use it.
pub async fn simulate(args: SimulateArgs, shutdown: impl Future<Output = ()>) -> Result<()> {
    let SimulateArgs {
        listen,
        seed,
        ca_out,
    } = args;
    let mut config = match seed {
        Some(path) => SimConfig::from_yaml_file(&path).map_err(failed)?,
        None => SimConfig::demo(),
    };
    config.bind = listen;
    let ca = ca_out.display().to_string();
    let on_ready = |sim: &SimHandle| {
        let url = sim.url();
        println!("Azure simulator (ARM + Entra) listening on {url}");
        println!("CA certificate written to {ca}");
        println!("Use it with the demo identity:");
        println!(
            "  AZURE_TENANT_ID={DEMO_TENANT_ID} AZURE_CLIENT_ID={DEMO_CLIENT_ID} AZURE_CLIENT_SECRET={DEMO_CLIENT_SECRET} \\"
        );
        println!(
            "  security-contact-operator check -f examples/ --arm-endpoint {url} --authority-host {url} --ca-file {ca}"
        );
        println!("Press Ctrl-C to stop.");
    };
    azure_sim::serve_until(config, &ca_out, on_ready, shutdown)
        .await
        .map_err(failed)
}

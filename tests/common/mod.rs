//! What the CLI tests share: run the real binary, against a simulator through the public
//! flags, with a policy written to a temporary directory.
#![allow(dead_code)] // each test binary uses a different subset

use std::{path::Path, process::Output};

use azure_sim::{self as simulator, RouteKind, SimHandle};

pub const BIN: &str = env!("CARGO_BIN_EXE_security-contact-operator");

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(args).env_remove("RUST_LOG").env_remove("SCO_LOG");
    for var in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run the binary");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// `apply`/`check` against `sim` through the public endpoint flags, demo identity.
pub async fn against(sim: &SimHandle, dir: &Path, command: &[&str], secret: &str) -> Run {
    let ca = dir.join("ca.pem");
    sim.write_ca(&ca).unwrap();
    let url = sim.url().to_string();
    let manifests = dir.join("policies");
    let mut args: Vec<String> = command.iter().map(|s| (*s).to_owned()).collect();
    args.extend([
        "-f".into(),
        manifests.display().to_string(),
        "--arm-endpoint".into(),
        url.clone(),
        "--authority-host".into(),
        url,
        "--ca-file".into(),
        ca.display().to_string(),
    ]);
    let env = [
        ("AZURE_TENANT_ID", simulator::DEMO_TENANT_ID),
        ("AZURE_CLIENT_ID", simulator::DEMO_CLIENT_ID),
        ("AZURE_CLIENT_SECRET", secret),
    ];
    let args2 = args.clone();
    let env2: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args2.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env2.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run(&args, &env)
    })
    .await
    .unwrap()
}

pub fn write_policy(dir: &Path, subscriptions: &[&str]) {
    let manifests = dir.join("policies");
    std::fs::create_dir_all(&manifests).unwrap();
    let subs: Vec<String> = subscriptions.iter().map(|s| format!("    - {s}")).collect();
    std::fs::write(
        manifests.join("secops.yaml"),
        format!(
            "apiVersion: securitycontact.dev/v1alpha1
kind: SecurityContactPolicy
metadata: {{name: secops, namespace: security}}
spec:
  subscriptions:
{}
  contact:
    emails: [secops@contoso.com]
    notifyRoles: [Owner]
    alertMinimalSeverity: High
",
            subs.join("\n")
        ),
    )
    .unwrap();
}

pub fn gets_and_puts(sim: &SimHandle, sub: &str) -> (u64, u64) {
    let r = sim.state().requests();
    (
        r.count("GET", RouteKind::SecurityContact, Some(sub)),
        r.count("PUT", RouteKind::SecurityContact, Some(sub)),
    )
}

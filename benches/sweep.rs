//! Sweep benchmark: the real binary (`check`, then `apply` twice) against the simulator with a
//! fixed ARM latency L, over N subscriptions at concurrency C. Prints figures, asserts none:
//! wall time against the ideal N·L/C, ARM calls per subscription, and the client's peak RSS.
//!
//!   cargo bench --bench sweep                 # N = 1 000 and 10 000, L = 20 ms, C = 32 and 64
//!   cargo test --bench sweep                  # a 50-subscription smoke run (keeps it building)

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use azure_sim::{
    Access, FaultConfig, FaultRule, Latency, PrincipalSeed, SimConfig, Simulator, SubscriptionSeed,
};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_security-contact-operator");
const TENANT: &str = "00000000-0000-0000-0000-0000000000aa";
const CLIENT: &str = "bench-client";
const SECRET: &str = "bench-secret";

struct Figures {
    wall: Duration,
    gets: u64,
    puts: u64,
    peak_rss_kib: u64,
    exit: i32,
}

fn world(n: usize) -> (SimConfig, Vec<String>) {
    let subs: Vec<String> = (0..n)
        .map(|i| format!("{:08x}-0000-4000-8000-{:012x}", i, i))
        .collect();
    let seeds = subs
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut seed = SubscriptionSeed::new(id.clone());
            // A third compliant, a third drifted, a third without a contact.
            seed.contact = match i % 3 {
                0 => Some(json!({"emails": "secops@contoso.com", "isEnabled": true})),
                1 => Some(json!({"emails": "someone@contoso.com", "isEnabled": true})),
                _ => None,
            };
            seed
        })
        .collect();
    let config = SimConfig::single_tenant(
        TENANT,
        PrincipalSeed::with_secret(CLIENT, SECRET, Access::ReadWrite),
        seeds,
    );
    (config, subs)
}

fn run(dir: &Path, url: &str, command: &str, concurrency: usize) -> Figures {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args([command, "-o", "json", "-f"])
        .arg(dir.join("policy.yaml"))
        .args([
            "--arm-endpoint",
            url,
            "--authority-host",
            url,
            "--concurrency",
            &concurrency.to_string(),
        ])
        .arg("--ca-file")
        .arg(dir.join("ca.pem"))
        .env("AZURE_TENANT_ID", TENANT)
        .env("AZURE_CLIENT_ID", CLIENT)
        .env("AZURE_CLIENT_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the binary");
    let status_file = format!("/proc/{}/status", child.id());
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    // VmHWM is the high-water mark, so the last reading before exit is the peak.
    let mut peak = 0;
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text.lines().find_map(|l| l.strip_prefix("VmHWM:"))
        {
            peak = kib
                .trim()
                .trim_end_matches(" kB")
                .trim()
                .parse()
                .unwrap_or(peak);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed();
    let report: serde_json::Value =
        serde_json::from_str(&reader.join().unwrap()).expect("JSON report");
    Figures {
        wall,
        gets: report["armCalls"]["get"].as_u64().unwrap_or(0),
        puts: report["armCalls"]["put"].as_u64().unwrap_or(0),
        peak_rss_kib: peak,
        exit,
    }
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if full { &[1_000, 10_000] } else { &[50] };
    let concurrencies: &[usize] = if full { &[32, 64] } else { &[8] };
    let latency = Duration::from_millis(20);
    println!(
        "sweep benchmark: ARM latency L = {} ms (simulator), figures only",
        latency.as_millis()
    );
    println!(
        "{:>6} {:>4} {:<10} {:>9} {:>9} {:>6} {:>8} {:>8} {:>9}",
        "N", "C", "command", "wall s", "ideal s", "ratio", "GET/sub", "PUT/sub", "RSS MiB"
    );
    for &n in sizes {
        for &c in concurrencies {
            let (mut config, subs) = world(n);
            config.faults = FaultConfig {
                seed: Some(1),
                rules: vec![FaultRule {
                    latency: Some(Latency::Fixed {
                        ms: latency.as_millis() as u64,
                    }),
                    ..Default::default()
                }],
            };
            let sim = Simulator::start(config).await.expect("simulator");
            let dir = tempfile::tempdir().unwrap();
            sim.write_ca(&dir.path().join("ca.pem")).unwrap();
            let list: Vec<String> = subs.iter().map(|s| format!("    - {s}")).collect();
            std::fs::write(
                dir.path().join("policy.yaml"),
                format!(
                    "apiVersion: securitycontact.dev/v1alpha1\nkind: SecurityContactPolicy\nmetadata: {{name: bench}}\nspec:\n  subscriptions:\n{}\n  contact:\n    emails: [secops@contoso.com]\n",
                    list.join("\n")
                ),
            )
            .unwrap();
            let url = sim.url().to_string();
            for command in ["check", "apply", "apply"] {
                let path = dir.path().to_owned();
                let url = url.clone();
                let f = tokio::task::spawn_blocking(move || run(&path, &url, command, c))
                    .await
                    .unwrap();
                // One request per subscription (a GET, plus a PUT where the plan says so) at C
                // in flight: the ideal is (requests) · L / C.
                let ideal = (f.gets + f.puts) as f64 * latency.as_secs_f64() / c as f64;
                println!(
                    "{:>6} {:>4} {:<10} {:>9.2} {:>9.2} {:>6.2} {:>8.2} {:>8.2} {:>9.1}",
                    n,
                    c,
                    if command == "apply" && f.puts == 0 {
                        "apply(2nd)"
                    } else {
                        command
                    },
                    f.wall.as_secs_f64(),
                    ideal,
                    f.wall.as_secs_f64() / ideal.max(1e-9),
                    f.gets as f64 / n as f64,
                    f.puts as f64 / n as f64,
                    f.peak_rss_kib as f64 / 1024.0,
                );
                if f.exit == 2 {
                    println!("    (exit 2: some subscriptions failed)");
                }
            }
            sim.shutdown().await;
        }
    }
}

//! Fleet benchmark: the real binary against the simulator over HTTPS with a fixed ARM latency,
//! at the sizes of a large tenant. Prints figures and the goal each one is held to; asserts
//! nothing (docs/benchmarks.md records the figures with the command that produced them).
//!
//! Sections, all by default, or those named as arguments:
//!
//! * `sweep`: `check` over N subscriptions at latency L and concurrency C: wall time against
//!   the ideal N·L/C, CPU time, peak RSS, GETs per subscription.
//! * `peers`: the same audit in the same world by Microsoft's Python SDK (azure-identity +
//!   azure-mgmt-security, api-version 2023-12-01-preview; `benches/peers/`): asyncio at the
//!   same concurrency (a client per subscription, then one shared session), and a sequential
//!   loop over a sample, extrapolated to N.
//! * `operator`: `run` against a real kube-apiserver + etcd (`scripts/dev-cluster`) and the
//!   simulator: subscriptions in management groups, policies whose selectors overlap. Idle and
//!   steady RSS, requests per subscription to converge, GETs per subscription per interval,
//!   PUTs and status writes at steady state, spec edit → first ARM call, converging 1 000
//!   subscriptions after an edit, and the request rate in the first minute after a restart.
//!
//! ```text
//! cargo bench --bench fleet                        # everything, full size
//! cargo bench --bench fleet -- sweep peers         # some sections
//! cargo test --bench fleet                         # smoke: tiny sizes, every section (CI)
//! ```
//!
//! Sizes can be changed for a run (documented smaller runs): `FLEET_N`, `FLEET_LATENCY_MS`,
//! `FLEET_CONCURRENCY`, `FLEET_SAMPLE`, `FLEET_OP_GROUPS`, `FLEET_OP_SUBS_PER_GROUP`,
//! `FLEET_OP_POLICIES`, `FLEET_OP_LATENCY_MS`, `FLEET_OP_INTERVAL`, `FLEET_OP_WINDOW`
//! (intervals), `FLEET_OP_EDITS`, `FLEET_OP_RESTART_SECS`, `FLEET_OP_CONVERGE_TIMEOUT_SECS`,
//! `FLEET_OPERATOR_ARGS` (extra `run` flags, space-separated), `FLEET_BIN` (another build
//! of the binary), and `FLEET_OPERATOR_LOG` (keep the operator's log at this path).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use azure_sim::{
    Access, FaultConfig, FaultRule, Latency, ManagementGroupSeed, PrincipalSeed, RequestCounts,
    RouteKind, SimConfig, SimHandle, Simulator, SubscriptionSeed, TenantSeed,
    management_group_access_key,
};
use futures::{StreamExt, TryStreamExt};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams, WatchEvent, WatchParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use security_contact_operator::crd::SecurityContactPolicy;
use serde_json::{Value, json};

const BUILT_BIN: &str = env!("CARGO_BIN_EXE_security-contact-operator");

/// The binary under test: this build's, or `FLEET_BIN` (to measure another build, e.g. the
/// previous release, with the same harness).
fn bin() -> String {
    std::env::var("FLEET_BIN").unwrap_or_else(|_| BUILT_BIN.to_owned())
}
const REPO: &str = env!("CARGO_MANIFEST_DIR");
const TENANT: &str = "00000000-0000-0000-0000-0000000000aa";
const CLIENT: &str = "bench-client";
const SECRET: &str = "bench-secret";

/// Sizes of one run.
struct Scale {
    smoke: bool,
    n: usize,
    latency_ms: u64,
    concurrency: usize,
    sample: usize,
    groups: usize,
    subs_per_group: usize,
    policies: usize,
    op_latency_ms: u64,
    interval: String,
    window_intervals: u32,
    edits: usize,
    restart_secs: u64,
    converge_timeout: Duration,
    operator_args: Vec<String>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Scale {
    fn new(smoke: bool) -> Scale {
        fn pick<T>(smoke: bool, full: T, small: T) -> T {
            if smoke { small } else { full }
        }
        Scale {
            smoke,
            n: env_or("FLEET_N", pick(smoke, 10_000, 20)),
            latency_ms: env_or("FLEET_LATENCY_MS", pick(smoke, 200, 0)),
            concurrency: env_or("FLEET_CONCURRENCY", 64),
            sample: env_or("FLEET_SAMPLE", pick(smoke, 200, 5)),
            groups: env_or("FLEET_OP_GROUPS", pick(smoke, 100, 2)),
            subs_per_group: env_or("FLEET_OP_SUBS_PER_GROUP", pick(smoke, 100, 10)),
            policies: env_or("FLEET_OP_POLICIES", pick(smoke, 1_000, 3)),
            op_latency_ms: env_or("FLEET_OP_LATENCY_MS", pick(smoke, 50, 0)),
            interval: env_or("FLEET_OP_INTERVAL", pick(smoke, "1m", "5s").to_owned()),
            window_intervals: env_or("FLEET_OP_WINDOW", pick(smoke, 3, 4)),
            edits: env_or("FLEET_OP_EDITS", pick(smoke, 100, 2)),
            restart_secs: env_or("FLEET_OP_RESTART_SECS", pick(smoke, 60, 5)),
            converge_timeout: Duration::from_secs(env_or(
                "FLEET_OP_CONVERGE_TIMEOUT_SECS",
                pick(smoke, 1_800, 120),
            )),
            operator_args: std::env::var("FLEET_OPERATOR_ARGS")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        }
    }

    fn interval(&self) -> Duration {
        parse_interval(&self.interval)
    }
}

/// `1m`, `90s`, `1h30m` (the CRD's interval form).
fn parse_interval(text: &str) -> Duration {
    let mut total = 0;
    let mut digits = String::new();
    for c in text.chars() {
        match c {
            '0'..='9' => digits.push(c),
            'h' | 'm' | 's' => {
                let n: u64 = digits.parse().expect("interval");
                total += n * match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                digits.clear();
            }
            _ => panic!("interval {text:?}"),
        }
    }
    Duration::from_secs(total)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = !args.iter().any(|a| a == "--bench");
    let named: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |section: &str| named.is_empty() || named.contains(&section);
    let scale = Scale::new(smoke);
    println!(
        "fleet benchmark ({}): figures only, nothing asserted; binary {}; machine: {} cores, load average {}",
        if smoke { "smoke sizes" } else { "full sizes" },
        bin(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    if wanted("sweep") || wanted("peers") {
        sweep_and_peers(&scale, wanted("sweep"), wanted("peers")).await;
    }
    if wanted("operator") {
        operator(&scale).await;
    }
}

// ------------------------------------------------------------------------------------------
// Processes and /proc

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Fields of `/proc/<pid>/stat` after the command name (index 0 is field 3, `state`).
fn stat_fields(pid: &str) -> Vec<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = text.rsplit_once(')').map_or("", |(_, rest)| rest);
    after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect()
}

/// CPU ticks (user + system) of the children this process has waited for: the difference
/// around one child's wait is that child's CPU time, read after it exited.
fn reaped_children_ticks() -> u64 {
    let f = stat_fields("self");
    f.get(13).copied().unwrap_or(0) + f.get(14).copied().unwrap_or(0)
}

/// CPU ticks (user + system) of a live process.
fn process_ticks(pid: u32) -> u64 {
    let f = stat_fields(&pid.to_string());
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

/// `VmRSS` and `VmHWM` of a live process, KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A child run to its end: wall time, CPU time, peak RSS (the last `VmHWM` read while it ran)
/// and its stdout.
struct Run {
    wall: Duration,
    cpu: Duration,
    peak_rss_kib: u64,
    exit: i32,
    stdout: String,
}

fn run_child(mut command: Command) -> Run {
    let ticks = clock_ticks_per_second();
    let started = Instant::now();
    let before = reaped_children_ticks();
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let pid = child.id();
    let mut peak = 0;
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        let (_, hwm) = memory_kib(pid);
        peak = peak.max(hwm);
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed();
    let cpu = (reaped_children_ticks() - before) as f64 / ticks;
    Run {
        wall,
        cpu: Duration::from_secs_f64(cpu),
        peak_rss_kib: peak,
        exit,
        stdout: reader.join().unwrap(),
    }
}

// ------------------------------------------------------------------------------------------
// Simulator counters

fn sub_id(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

fn marker_id(i: usize) -> String {
    format!("{i:08x}-0000-4000-9000-{i:012x}")
}

/// Requests by kind, from one snapshot of the counters.
#[derive(Clone, Copy, Default, Debug)]
struct Tally {
    contact_get: u64,
    contact_put: u64,
    contact_other: u64,
    subscriptions_list: u64,
    descendants: u64,
    token: u64,
    throttled: u64,
    total: u64,
}

impl Tally {
    fn of(counts: &RequestCounts) -> Tally {
        let route = |kind: RouteKind, method: Option<&str>| {
            counts.matching(|e| {
                e.route == kind && method.is_none_or(|m| e.method.eq_ignore_ascii_case(m))
            })
        };
        let contact_all = route(RouteKind::SecurityContact, None);
        let contact_get = route(RouteKind::SecurityContact, Some("GET"));
        let contact_put = route(RouteKind::SecurityContact, Some("PUT"));
        Tally {
            contact_get,
            contact_put,
            contact_other: contact_all - contact_get - contact_put,
            subscriptions_list: route(RouteKind::Subscriptions, None),
            descendants: route(RouteKind::ManagementGroupDescendants, None),
            token: route(RouteKind::Token, None),
            throttled: counts.with_status(429),
            total: counts.total,
        }
    }

    fn since(self, earlier: Tally) -> Tally {
        Tally {
            contact_get: self.contact_get - earlier.contact_get,
            contact_put: self.contact_put - earlier.contact_put,
            contact_other: self.contact_other - earlier.contact_other,
            subscriptions_list: self.subscriptions_list - earlier.subscriptions_list,
            descendants: self.descendants - earlier.descendants,
            token: self.token - earlier.token,
            throttled: self.throttled - earlier.throttled,
            total: self.total - earlier.total,
        }
    }

    /// ARM requests (everything but tokens).
    fn arm(self) -> u64 {
        self.total - self.token
    }
}

fn latency_rule(ms: u64) -> FaultConfig {
    FaultConfig {
        seed: Some(1),
        rules: if ms == 0 {
            Vec::new()
        } else {
            vec![FaultRule {
                latency: Some(Latency::Fixed { ms }),
                ..Default::default()
            }]
        },
    }
}

fn pass_or_short(pass: bool) -> &'static str {
    if pass { "pass" } else { "short" }
}

// ------------------------------------------------------------------------------------------
// sweep + peers

async fn sweep_and_peers(scale: &Scale, sweep: bool, peers: bool) {
    let n = scale.n;
    let c = scale.concurrency;
    let latency = Duration::from_millis(scale.latency_ms);
    let subs: Vec<String> = (0..n).map(sub_id).collect();
    let seeds = subs
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut seed = SubscriptionSeed::new(id.clone());
            // A third compliant, a third drifted, a third without a contact (as benches/sweep.rs).
            seed.contact = match i % 3 {
                0 => Some(json!({"emails": "secops@contoso.com", "isEnabled": true})),
                1 => Some(json!({"emails": "someone@contoso.com", "isEnabled": true})),
                _ => None,
            };
            seed
        })
        .collect();
    let mut config = SimConfig::single_tenant(
        TENANT,
        PrincipalSeed::with_secret(CLIENT, SECRET, Access::ReadWrite),
        seeds,
    );
    config.faults = latency_rule(scale.latency_ms);
    let sim = Simulator::start(config).await.expect("simulator");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    sim.write_ca(&ca).unwrap();
    let url = sim.url().to_string();
    let ideal = n as f64 * latency.as_secs_f64() / c as f64;
    println!(
        "\n== sweep and peers: N = {n} subscriptions, L = {} ms (simulator, every route), C = {c}, ideal N·L/C = {ideal:.2} s",
        latency.as_millis()
    );
    println!(
        "{:<34} {:>9} {:>7} {:>8} {:>8} {:>8} {:>7} {:>9}",
        "client", "wall s", "/ideal", "CPU s", "RSS MiB", "GET/sub", "tokens", "failed"
    );
    let row = |name: &str, wall: f64, cpu: f64, rss: Option<u64>, t: Tally, subs: usize, failed| {
        println!(
            "{:<34} {:>9.2} {:>7} {:>8.2} {:>8} {:>8.2} {:>7} {:>9}",
            name,
            wall,
            if ideal > 0.0 {
                format!("{:.2}", wall / ideal)
            } else {
                "-".into()
            },
            cpu,
            rss.map_or("-".into(), |k| format!("{:.1}", mib(k))),
            t.contact_get as f64 / subs.max(1) as f64,
            t.token,
            failed,
        );
    };
    let mut ours = None;
    if sweep {
        let list: Vec<String> = subs.iter().map(|s| format!("    - {s}")).collect();
        std::fs::write(
            dir.path().join("policy.yaml"),
            format!(
                "apiVersion: securitycontact.dev/v1alpha1\nkind: SecurityContactPolicy\nmetadata: {{name: bench}}\nspec:\n  subscriptions:\n{}\n  contact:\n    emails: [secops@contoso.com]\n",
                list.join("\n")
            ),
        )
        .unwrap();
        let before = Tally::of(&sim.state().requests());
        let mut command = Command::new(bin());
        command
            .args(["check", "-o", "json", "-f"])
            .arg(dir.path().join("policy.yaml"))
            .args(["--arm-endpoint", &url, "--authority-host", &url])
            .args(["--concurrency", &c.to_string()])
            .arg("--ca-file")
            .arg(&ca)
            .env("AZURE_TENANT_ID", TENANT)
            .env("AZURE_CLIENT_ID", CLIENT)
            .env("AZURE_CLIENT_SECRET", SECRET)
            .stderr(Stdio::null());
        let run = tokio::task::spawn_blocking(move || run_child(command))
            .await
            .unwrap();
        let t = Tally::of(&sim.state().requests()).since(before);
        let report: Value = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
        let failed = report["summary"]["failed"].as_u64().unwrap_or(0);
        row(
            "security-contact-operator check",
            run.wall.as_secs_f64(),
            run.cpu.as_secs_f64(),
            Some(run.peak_rss_kib),
            t,
            n,
            failed,
        );
        if run.exit == 2 {
            println!("    (exit 2: some subscriptions failed)");
        }
        ours = Some(run);
    }
    if peers {
        let subs_file = dir.path().join("subscriptions.txt");
        std::fs::write(&subs_file, subs.join("\n")).unwrap();
        let venv = Command::new(format!("{REPO}/benches/peers/venv.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run benches/peers/venv.sh");
        assert!(
            venv.status.success(),
            "benches/peers/venv.sh failed: the Python peer needs python3 and PyPI"
        );
        let python =
            PathBuf::from(String::from_utf8(venv.stdout).unwrap().trim()).join("bin/python");
        let mut peer_rows = Vec::new();
        for mode in ["asyncio", "asyncio-shared", "sequential"] {
            let before = Tally::of(&sim.state().requests());
            let mut command = Command::new(&python);
            command
                .arg(format!("{REPO}/benches/peers/python_sdk.py"))
                .arg(mode)
                .args(["--url", &url, "--tenant", TENANT, "--client-id", CLIENT])
                .arg("--ca")
                .arg(&ca)
                .arg("--subscriptions")
                .arg(&subs_file)
                .args(["--concurrency", &c.to_string()])
                .args(["--sample", &scale.sample.to_string()])
                .env("AZURE_CLIENT_SECRET", SECRET)
                .stderr(Stdio::inherit());
            let run = tokio::task::spawn_blocking(move || run_child(command))
                .await
                .unwrap();
            let t = Tally::of(&sim.state().requests()).since(before);
            let out: Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| {
                panic!("python_sdk.py {mode} printed no JSON ({e}): {}", run.stdout)
            });
            let read = out["subscriptions"].as_u64().unwrap_or(0) as usize;
            let failed = out["failed"].as_u64().unwrap_or(0);
            let name = match mode {
                "asyncio" => "python SDK asyncio (client/sub)",
                "asyncio-shared" => "python SDK asyncio (shared session)",
                _ => "python SDK sequential (sample)",
            };
            row(
                name,
                run.wall.as_secs_f64(),
                run.cpu.as_secs_f64(),
                Some(run.peak_rss_kib),
                t,
                read,
                failed,
            );
            println!(
                "    audit alone (inside the script, imports excluded): wall {:.2} s, CPU {:.2} s; {} found, {} without contact{}",
                out["wallSeconds"].as_f64().unwrap_or(0.0),
                out["cpuSeconds"].as_f64().unwrap_or(0.0),
                out["found"],
                out["missing"],
                out["firstError"]
                    .as_str()
                    .map_or(String::new(), |e| format!("; first error: {e}")),
            );
            if mode == "sequential" && read > 0 {
                let factor = n as f64 / read as f64;
                println!(
                    "    extrapolated to N = {n} (× {factor:.1}): wall {:.0} s ({:.1} min), CPU {:.1} s; per subscription {:.0} ms",
                    out["wallSeconds"].as_f64().unwrap_or(0.0) * factor,
                    out["wallSeconds"].as_f64().unwrap_or(0.0) * factor / 60.0,
                    out["cpuSeconds"].as_f64().unwrap_or(0.0) * factor,
                    out["wallSeconds"].as_f64().unwrap_or(0.0) * 1000.0 / read as f64,
                );
            }
            peer_rows.push((mode, run, out));
        }
        if let Some(packages) = peer_rows.first().map(|(_, _, out)| out["packages"].clone()) {
            println!(
                "    python {}, {}",
                peer_rows[0].2["python"].as_str().unwrap_or("?"),
                packages
            );
        }
    }
    if let Some(run) = &ours
        && ideal > 0.0
    {
        let ratio = run.wall.as_secs_f64() / ideal;
        println!(
            "goal sweep ≤ 1.10 × ideal: {} ({ratio:.2})",
            pass_or_short(ratio <= 1.10)
        );
    }
    sim.shutdown().await;
}

// ------------------------------------------------------------------------------------------
// operator

/// A control plane from `scripts/dev-cluster`, torn down on drop (and by dev-cluster's own
/// watcher when this process dies first).
struct Cluster {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("sco-fleet-")
            .tempdir()
            .unwrap();
        let started = Instant::now();
        let out = Command::new(format!("{REPO}/scripts/dev-cluster"))
            .arg("up")
            .env("SCO_CLUSTER_DIR", dir.path())
            .env("SCO_CLUSTER_OWNER_PID", std::process::id().to_string())
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/dev-cluster up");
        assert!(out.status.success(), "scripts/dev-cluster up failed");
        let env = std::fs::read_to_string(dir.path().join("env")).expect("dev-cluster env");
        let bin = env
            .lines()
            .find_map(|l| l.strip_prefix("SCO_CP_BIN="))
            .map(|v| PathBuf::from(v.trim_matches('"').trim_matches('\'')))
            .expect("SCO_CP_BIN in the env file");
        let kubeconfig = dir.path().join("kubeconfig");
        let kubectl = |args: &[&str]| {
            let out = Command::new(bin.join("kubectl"))
                .args(args)
                .env("KUBECONFIG", &kubeconfig)
                .output()
                .expect("kubectl");
            assert!(
                out.status.success(),
                "kubectl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        kubectl(&["apply", "--server-side", "-f", &format!("{REPO}/crds/")]);
        kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/securitycontactpolicies.securitycontact.dev",
        ]);
        println!(
            "control plane up with the CRD in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Cluster { dir, kubeconfig }
    }

    async fn client(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("kube config");
        Client::try_from(config).expect("kube client")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(format!("{REPO}/scripts/dev-cluster"))
            .arg("down")
            .env("SCO_CLUSTER_DIR", self.dir.path())
            .stderr(Stdio::null())
            .status();
    }
}

/// The world of the operator section: `groups` management groups of `subs_per_group`
/// subscriptions, under parents of ten groups each; `markers` subscriptions in no group.
struct Fleet {
    groups: Vec<Vec<String>>,
    parents: usize,
    markers: Vec<String>,
}

impl Fleet {
    fn new(scale: &Scale) -> Fleet {
        let groups = (0..scale.groups)
            .map(|g| {
                (0..scale.subs_per_group)
                    .map(|j| sub_id(g * scale.subs_per_group + j))
                    .collect()
            })
            .collect();
        let parents = scale.groups.div_ceil(10);
        // One policy per parent group; every other policy selects a group, and the first
        // `edits` of those also name a marker subscription that no other policy covers.
        let selecting = scale.policies.saturating_sub(parents);
        let markers = (0..scale.edits.min(selecting)).map(marker_id).collect();
        Fleet {
            groups,
            parents,
            markers,
        }
    }

    fn group_name(g: usize) -> String {
        format!("fleet-g{g:03}")
    }

    fn parent_name(p: usize) -> String {
        format!("fleet-p{p:02}")
    }

    fn all_subscriptions(&self) -> Vec<String> {
        self.groups
            .iter()
            .flatten()
            .chain(self.markers.iter())
            .cloned()
            .collect()
    }

    fn sim_config(&self, latency_ms: u64) -> SimConfig {
        let mut seeds: Vec<SubscriptionSeed> = Vec::new();
        for (i, id) in self.all_subscriptions().into_iter().enumerate() {
            let mut seed = SubscriptionSeed::new(id);
            // Half start with a person's address, which Additive policies keep.
            if i % 2 == 0 {
                seed.contact = Some(json!({"emails": "person@fabrikam.com", "isEnabled": true}));
            }
            seeds.push(seed);
        }
        let mut management_groups: Vec<ManagementGroupSeed> = (0..self.parents)
            .map(|p| ManagementGroupSeed::new(Self::parent_name(p), format!("Fleet parent {p}")))
            .collect();
        for (g, subs) in self.groups.iter().enumerate() {
            management_groups.push(
                ManagementGroupSeed::new(Self::group_name(g), format!("Fleet group {g}"))
                    .under(Self::parent_name(g / 10))
                    .with_subscriptions(subs.clone()),
            );
        }
        let mut principal = PrincipalSeed::with_secret(CLIENT, SECRET, Access::ReadWrite);
        // Management Group Reader on the tenant root group: every group below it.
        principal
            .access
            .insert(management_group_access_key(TENANT), Access::Read);
        SimConfig {
            tenants: vec![TenantSeed {
                id: TENANT.into(),
                principals: vec![principal],
                subscriptions: seeds,
                management_groups,
            }],
            faults: latency_rule(latency_ms),
            // The simulator's default pages of 2 exist to exercise paging; here the listings
            // should cost what a real tenant's do, not thousands of pages.
            subscription_page_size: 1_000,
            descendant_page_size: 1_000,
            ..SimConfig::default()
        }
    }
}

/// One policy of the fleet: what it selects and the address it adds.
#[derive(Clone)]
struct PolicyPlan {
    name: String,
    /// A management group (child or parent).
    group: String,
    /// The subscriptions the group holds, at any depth.
    covers: Vec<String>,
    marker: Option<String>,
    address: String,
}

impl PolicyPlan {
    fn spec(&self, interval: &str) -> Value {
        let mut spec = json!({
            "subscriptionSelector": {"managementGroups": [self.group]},
            "contact": {"emails": [self.address]},
            "interval": interval,
        });
        if let Some(marker) = &self.marker {
            spec["subscriptions"] = json!([marker]);
        }
        spec
    }
}

fn plan_policies(scale: &Scale, fleet: &Fleet) -> Vec<PolicyPlan> {
    let selecting = scale.policies.saturating_sub(fleet.parents);
    let mut plans = Vec::new();
    for i in 0..scale.policies {
        let (group, covers) = if i < selecting {
            let g = i % fleet.groups.len();
            (Fleet::group_name(g), fleet.groups[g].clone())
        } else {
            let p = i - selecting;
            let covers = fleet
                .groups
                .iter()
                .enumerate()
                .filter(|(g, _)| g / 10 == p)
                .flat_map(|(_, subs)| subs.clone())
                .collect();
            (Fleet::parent_name(p), covers)
        };
        plans.push(PolicyPlan {
            name: format!("fleet-{i:04}"),
            group,
            covers,
            marker: fleet.markers.get(i).cloned(),
            address: format!("team-{i:04}@contoso.com"),
        });
    }
    plans
}

/// The operator process.
struct Operator {
    child: Child,
    log: PathBuf,
    admin: String,
}

impl Operator {
    fn start(
        scale: &Scale,
        ns: &str,
        sim: &SimHandle,
        ca: &Path,
        kubeconfig: &Path,
        log: PathBuf,
    ) -> Operator {
        let admin = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let url = sim.url().to_string();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(bin())
            .args(["run", "--namespace", ns])
            .args(["--arm-endpoint", &url, "--authority-host", &url])
            .args(["--graph-endpoint", &url])
            .arg("--ca-file")
            .arg(ca)
            .args(["--operator-identity-namespaces", ns])
            .args(["--ledger-namespace", ns, "--leader-elect-namespace", ns])
            .args(["--admin-addr", &admin])
            .args(&scale.operator_args)
            .env("KUBECONFIG", kubeconfig)
            .env("AZURE_TENANT_ID", TENANT)
            .env("AZURE_CLIENT_ID", CLIENT)
            .env("AZURE_CLIENT_SECRET", SECRET)
            .env("SCO_LOG", "info")
            .env_remove("RUST_LOG")
            .env_remove("POD_NAME")
            .env_remove("POD_NAMESPACE")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start the operator");
        Operator { child, log, admin }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&mut self) -> Duration {
        let started = Instant::now();
        let url = format!("http://{}/readyz", self.admin);
        loop {
            if let Ok(r) = reqwest::get(&url).await
                && r.status().is_success()
            {
                return started.elapsed();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the operator exited ({status}):\n{}", self.log_tail());
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the operator is not ready:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Counts watch events on the policies (MODIFIED ones are writes: status or spec).
#[derive(Default)]
struct WatchCounts {
    modified: AtomicU64,
    added: AtomicU64,
}

fn watch_policies(api: Api<SecurityContactPolicy>, counts: Arc<WatchCounts>) {
    tokio::spawn(async move {
        let mut version = api
            .list_metadata(&Default::default())
            .await
            .ok()
            .and_then(|l| l.metadata.resource_version)
            .unwrap_or_else(|| "0".into());
        loop {
            let Ok(stream) = api
                .watch(&WatchParams::default().timeout(290), &version)
                .await
            else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            let mut stream = stream.boxed();
            while let Ok(Some(event)) = stream.try_next().await {
                match event {
                    WatchEvent::Added(p) => {
                        counts.added.fetch_add(1, Ordering::Relaxed);
                        version = p.metadata.resource_version.unwrap_or(version);
                    }
                    WatchEvent::Modified(p) => {
                        counts.modified.fetch_add(1, Ordering::Relaxed);
                        version = p.metadata.resource_version.unwrap_or(version);
                    }
                    WatchEvent::Deleted(p) => {
                        version = p.metadata.resource_version.unwrap_or(version);
                    }
                    WatchEvent::Bookmark(b) => version = b.metadata.resource_version,
                    WatchEvent::Error(_) => break,
                }
            }
        }
    });
}

/// Whether every subscription's contact carries every address expected of it.
fn unconverged(sim: &SimHandle, expected: &BTreeMap<String, Vec<String>>) -> usize {
    expected
        .iter()
        .filter(|(sub, addresses)| {
            let emails = sim
                .state()
                .contact(sub)
                .ok()
                .flatten()
                .and_then(|c| c["emails"].as_str().map(str::to_ascii_lowercase))
                .unwrap_or_default();
            let have: Vec<&str> = emails.split(';').map(str::trim).collect();
            !addresses.iter().all(|a| have.contains(&a.as_str()))
        })
        .count()
}

fn expected_addresses(plans: &[PolicyPlan]) -> BTreeMap<String, Vec<String>> {
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for plan in plans {
        for sub in plan.covers.iter().chain(plan.marker.iter()) {
            expected
                .entry(sub.clone())
                .or_default()
                .push(plan.address.clone());
        }
    }
    expected
}

/// Waits until `expected` holds in the simulator; the time it took, or `None` at the timeout
/// (with how many subscriptions were still short).
async fn wait_converged(
    sim: &SimHandle,
    expected: &BTreeMap<String, Vec<String>>,
    since: Instant,
    timeout: Duration,
    poll: Duration,
) -> Result<Duration, usize> {
    loop {
        let short = unconverged(sim, expected);
        if short == 0 {
            return Ok(since.elapsed());
        }
        if since.elapsed() > timeout {
            return Err(short);
        }
        tokio::time::sleep(poll).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn operator(scale: &Scale) {
    let fleet = Fleet::new(scale);
    let plans = plan_policies(scale, &fleet);
    let all = fleet.all_subscriptions();
    let n = all.len();
    let interval = scale.interval();
    let latency = Duration::from_millis(scale.op_latency_ms);
    let coverage: Vec<usize> = expected_addresses(&plans).values().map(Vec::len).collect();
    println!(
        "\n== operator: {} subscriptions ({} groups × {} under {} parent groups, + {} markers), {} policies (each subscription covered by {}..={}), interval {}, L = {} ms",
        n,
        scale.groups,
        scale.subs_per_group,
        fleet.parents,
        fleet.markers.len(),
        plans.len(),
        coverage.iter().min().unwrap_or(&0),
        coverage.iter().max().unwrap_or(&0),
        scale.interval,
        latency.as_millis(),
    );
    let help = Command::new(bin())
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let budget_flag = help.contains("--startup-budget");
    let flag_value = |flag: &str, default: &str| {
        scale
            .operator_args
            .iter()
            .position(|a| a == flag)
            .and_then(|i| scale.operator_args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_owned())
    };
    let budget: f64 = flag_value("--startup-budget", "100")
        .parse()
        .unwrap_or(100.0);
    println!(
        "operator flags: --workers {} --concurrency {}{}{}",
        flag_value("--workers", "64 (default)"),
        flag_value("--concurrency", "32 (default)"),
        if budget_flag {
            format!(" --startup-budget {budget}")
        } else {
            " (this build has no --startup-budget)".into()
        },
        if scale.operator_args.is_empty() {
            String::new()
        } else {
            format!("; extra: {}", scale.operator_args.join(" "))
        },
    );

    let cluster = Cluster::start();
    let client = cluster.client().await;
    let ns = format!("fleet-{}", std::process::id());
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .expect("create namespace");
    let api: Api<SecurityContactPolicy> = Api::namespaced(client.clone(), &ns);

    let sim = Simulator::start(fleet.sim_config(scale.op_latency_ms))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    sim.write_ca(&ca).unwrap();
    let log = std::env::var_os("FLEET_OPERATOR_LOG")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("operator.log"));
    let mut op = Operator::start(scale, &ns, &sim, &ca, &cluster.kubeconfig, log.clone());
    let ready = op.wait_ready().await;
    tokio::time::sleep(if scale.smoke {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    })
    .await;
    let (idle_rss, _) = memory_kib(op.pid());
    println!(
        "idle (no policy): ready after {:.1} s, RSS {:.1} MiB",
        ready.as_secs_f64(),
        mib(idle_rss)
    );

    let watch = Arc::new(WatchCounts::default());
    watch_policies(api.clone(), watch.clone());

    // Converge: every policy created at once (16 requests in flight), then wait until every
    // subscription carries the address of every policy covering it.
    sim.state().reset_requests();
    let started = Instant::now();
    futures::stream::iter(plans.iter())
        .map(|plan| {
            let api = api.clone();
            let object: SecurityContactPolicy = serde_json::from_value(json!({
                "apiVersion": "securitycontact.dev/v1alpha1",
                "kind": "SecurityContactPolicy",
                "metadata": {"name": plan.name},
                "spec": plan.spec(&scale.interval),
            }))
            .unwrap();
            async move {
                api.create(&PostParams::default(), &object)
                    .await
                    .unwrap_or_else(|e| panic!("create {}: {e}", object.metadata.name.unwrap()))
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let created = started.elapsed();
    let expected = expected_addresses(&plans);
    let poll = if scale.smoke {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(1)
    };
    let converged = wait_converged(&sim, &expected, started, scale.converge_timeout, poll).await;
    let t = Tally::of(&sim.state().requests());
    let (rss, hwm) = memory_kib(op.pid());
    let k_mean = coverage.iter().sum::<usize>() as f64 / n.max(1) as f64;
    match converged {
        Ok(took) => println!(
            "converge: {} policies created in {:.1} s; all {n} subscriptions hold every address after {:.1} s",
            plans.len(),
            created.as_secs_f64(),
            took.as_secs_f64()
        ),
        Err(short) => println!(
            "converge: NOT converged after {:.0} s: {short} of {n} subscriptions still short",
            scale.converge_timeout.as_secs_f64()
        ),
    }
    let per_sub = |x: u64| x as f64 / n.max(1) as f64;
    println!(
        "converge requests per subscription (k = {k_mean:.1} policies each): {:.2} (GET {:.2}, PUT {:.2}, other contact {:.2}); listings: {} GET /subscriptions pages, {} descendants pages; {} tokens; {} answered 429",
        per_sub(t.contact_get + t.contact_put + t.contact_other),
        per_sub(t.contact_get),
        per_sub(t.contact_put),
        per_sub(t.contact_other),
        t.subscriptions_list,
        t.descendants,
        t.token,
        t.throttled,
    );
    println!(
        "converge: operator RSS {:.1} MiB, peak {:.1} MiB",
        mib(rss),
        mib(hwm)
    );
    let converge_requests = per_sub(t.contact_get + t.contact_put + t.contact_other);

    // Steady state: let the status writes of convergence settle (every policy has passed
    // once more after converging, so two intervals at least, then no MODIFIED event for a
    // while, at most three intervals), then watch `window_intervals` intervals.
    let quiet = if scale.smoke {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(15)
    };
    let settle_started = Instant::now();
    let mut last = watch.modified.load(Ordering::Relaxed);
    let mut quiet_since = Instant::now();
    while settle_started.elapsed() < 3 * interval {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = watch.modified.load(Ordering::Relaxed);
        if now != last {
            last = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= quiet && settle_started.elapsed() >= 2 * interval {
            break;
        }
    }
    let window = interval * scale.window_intervals;
    let before = Tally::of(&sim.state().requests());
    let modified_before = watch.modified.load(Ordering::Relaxed);
    let cpu_before = process_ticks(op.pid());
    tokio::time::sleep(window).await;
    let steady = Tally::of(&sim.state().requests()).since(before);
    let status_writes = watch.modified.load(Ordering::Relaxed) - modified_before;
    let cpu = (process_ticks(op.pid()) - cpu_before) as f64 / clock_ticks_per_second();
    let (steady_rss, steady_hwm) = memory_kib(op.pid());
    let intervals = window.as_secs_f64() / interval.as_secs_f64();
    let gets_per_interval = per_sub(steady.contact_get) / intervals;
    println!(
        "steady state over {:.0} s ({} intervals, after {:.0} s settling): {:.2} GET per subscription per interval; {} PUT; {} status writes (MODIFIED events); listings {} GET /subscriptions pages, {} descendants pages; {} answered 429; operator CPU {:.1} % of a core; RSS {:.1} MiB, peak {:.1} MiB",
        window.as_secs_f64(),
        scale.window_intervals,
        settle_started.elapsed().as_secs_f64() - window.as_secs_f64(),
        gets_per_interval,
        steady.contact_put,
        status_writes,
        steady.subscriptions_list,
        steady.descendants,
        steady.throttled,
        100.0 * cpu / window.as_secs_f64(),
        mib(steady_rss),
        mib(steady_hwm),
    );

    // Spec edit → first ARM call: each edited policy alone covers its marker subscription, so
    // the marker's first contact GET after the edit is that policy's. The simulator counts a
    // request when it answers, L after it arrived: the figure is answered − L.
    let mut latencies = Vec::new();
    let mut missed = 0;
    let edits_budget = if scale.smoke {
        Duration::from_secs(60)
    } else {
        Duration::from_secs(900)
    };
    let edit_timeout = Duration::from_secs(if scale.smoke { 20 } else { 60 }).max(interval * 2);
    let edits_started = Instant::now();
    let mut poll_cost = Duration::ZERO;
    let mut polls = 0u32;
    for (i, plan) in plans.iter().enumerate().filter(|(_, p)| p.marker.is_some()) {
        if edits_started.elapsed() > edits_budget {
            println!(
                "edits: stopped after {} edits, past the {:.0} s budget",
                latencies.len() + missed,
                edits_budget.as_secs_f64()
            );
            break;
        }
        let marker = plan.marker.as_deref().unwrap();
        let count = |c: &RequestCounts| c.count("GET", RouteKind::SecurityContact, Some(marker));
        let baseline = count(&sim.state().requests());
        let edited = format!("team-{i:04}-v2@contoso.com");
        let sent = Instant::now();
        api.patch(
            &plan.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"contact": {"emails": [edited]}}})),
        )
        .await
        .expect("edit a policy");
        let seen = loop {
            let t0 = Instant::now();
            let now = count(&sim.state().requests());
            poll_cost += t0.elapsed();
            polls += 1;
            if now > baseline {
                break Some(sent.elapsed());
            }
            if sent.elapsed() > edit_timeout {
                break None;
            }
            // A snapshot copies every counter: poll no more than half the time.
            tokio::time::sleep(t0.elapsed().max(Duration::from_millis(5))).await;
        };
        match seen {
            Some(d) => latencies.push(d.saturating_sub(latency)),
            None => missed += 1,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    latencies.sort();
    let p99 = percentile(&latencies, 99.0);
    println!(
        "edit → first ARM call for that policy ({} edits, {} saw none within {:.0} s): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (polled every max(5 ms, snapshot time); a counter snapshot took {:.1} ms)",
        latencies.len(),
        missed,
        edit_timeout.as_secs_f64(),
        percentile(&latencies, 50.0).as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        poll_cost.as_secs_f64() * 1000.0 / polls.max(1) as f64,
    );

    // Converge the widest policy's subscriptions (a parent group: ten groups) after an edit.
    let wide = plans
        .iter()
        .enumerate()
        .max_by_key(|(_, p)| p.covers.len())
        .map(|(i, p)| (i, p.clone()));
    let mut wide_converge = None;
    if let Some((i, mut plan)) = wide {
        plan.address = format!("team-{i:04}-wide@contoso.com");
        let expected: BTreeMap<String, Vec<String>> = plan
            .covers
            .iter()
            .map(|s| (s.clone(), vec![plan.address.clone()]))
            .collect();
        let before = Tally::of(&sim.state().requests());
        let started = Instant::now();
        api.patch(
            &plan.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"contact": {"emails": [plan.address]}}})),
        )
        .await
        .expect("edit the wide policy");
        let result = wait_converged(
            &sim,
            &expected,
            started,
            scale.converge_timeout,
            Duration::from_millis(250),
        )
        .await;
        let t = Tally::of(&sim.state().requests()).since(before);
        match result {
            Ok(took) => {
                wide_converge = Some(took);
                println!(
                    "edit of {} ({} subscriptions) → all hold the new address after {:.1} s ({} GET, {} PUT meanwhile, fleet-wide)",
                    plan.name,
                    plan.covers.len(),
                    took.as_secs_f64(),
                    t.contact_get,
                    t.contact_put
                )
            }
            Err(short) => println!(
                "edit of {} ({} subscriptions): {short} still short after {:.0} s",
                plan.name,
                plan.covers.len(),
                scale.converge_timeout.as_secs_f64()
            ),
        }
    }

    // Restart: the process is killed and started again; the request rate each second of the
    // first `restart_secs` seconds.
    op.kill();
    let before = sim.state().requests();
    let mut op = Operator::start(scale, &ns, &sim, &ca, &cluster.kubeconfig, log);
    let restarted = Instant::now();
    let mut previous = Tally::of(&before);
    let mut rates = Vec::new();
    let mut next = restarted + Duration::from_secs(1);
    while restarted.elapsed() < Duration::from_secs(scale.restart_secs) {
        tokio::time::sleep_until(next.into()).await;
        next += Duration::from_secs(1);
        let t = Tally::of(&sim.state().requests());
        rates.push(t.since(previous).arm());
        previous = t;
    }
    let restart_total = previous.since(Tally::of(&before));
    let peak = rates.iter().copied().max().unwrap_or(0);
    let mean = restart_total.arm() as f64 / rates.len().max(1) as f64;
    println!(
        "restart: first {} s: {} ARM requests ({} contact GET, {} PUT, {} listing pages, {} answered 429), mean {:.0}/s, peak {}/s; per second: {:?}",
        rates.len(),
        restart_total.arm(),
        restart_total.contact_get,
        restart_total.contact_put,
        restart_total.subscriptions_list + restart_total.descendants,
        restart_total.throttled,
        mean,
        peak,
        rates,
    );
    let (rss_after, _) = memory_kib(op.pid());
    println!(
        "restart: RSS after {} s: {:.1} MiB",
        rates.len(),
        mib(rss_after)
    );
    op.kill();

    println!("goals:");
    println!(
        "  RSS < 32 MiB idle: {} ({:.1} MiB)",
        pass_or_short(mib(idle_rss) < 32.0),
        mib(idle_rss)
    );
    println!(
        "  RSS < 128 MiB at {} policies × {} subscriptions: {} ({:.1} MiB steady, peak {:.1} MiB)",
        plans.len(),
        n,
        pass_or_short(mib(steady_hwm) < 128.0),
        mib(steady_rss),
        mib(steady_hwm),
    );
    // Intervals carry ±10 % jitter, and policies created together pass in step: a window of
    // W intervals holds W ± 1 of a subscription's reads. Below 1.0 would be as wrong as above
    // (drift found later than the interval promises).
    let resolution = (1.0 / f64::from(scale.window_intervals.max(1))).max(0.10);
    println!(
        "  1.0 GET per subscription per interval: {} ({gets_per_interval:.2}; ± {resolution:.2} is the window's resolution)",
        pass_or_short((gets_per_interval - 1.0).abs() <= resolution)
    );
    println!(
        "  ≤ 3 requests per subscription to converge k = {k_mean:.1} policies: {} ({converge_requests:.2})",
        pass_or_short(converged.is_ok() && converge_requests <= 3.0)
    );
    println!(
        "  0 PUT and 0 status writes at steady state: {} ({} PUT, {} status writes)",
        pass_or_short(steady.contact_put == 0 && status_writes == 0),
        steady.contact_put,
        status_writes
    );
    println!(
        "  edit → first call p99 < 1 s: {} ({:.0} ms, {} of {} edits seen)",
        pass_or_short(missed == 0 && !latencies.is_empty() && p99 < Duration::from_secs(1)),
        p99.as_secs_f64() * 1000.0,
        latencies.len(),
        latencies.len() + missed
    );
    println!(
        "  restart within the start-up budget ({budget}/s): {} (peak {peak}/s, mean {mean:.0}/s){}",
        pass_or_short(budget_flag && peak as f64 <= budget * 1.1),
        if budget_flag {
            ""
        } else {
            "; this build has no --startup-budget"
        }
    );
    if let Some(took) = wide_converge {
        println!(
            "  (figure, no goal) converge 1 000 subscriptions after an edit: {:.1} s",
            took.as_secs_f64()
        );
    }
    sim.shutdown().await;
    drop(cluster);
}

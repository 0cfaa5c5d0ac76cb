//! Test support for the end-to-end tier: a real kube-apiserver + etcd (started once per test
//! binary through `scripts/dev-cluster`), the CRD installed from `crds/`, and per test a fresh
//! namespace, an Azure simulator over HTTPS and the operator binary (`run`) as a child process
//! authenticating through the real azure_identity client-secret flow.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    sync::OnceLock,
    time::{Duration, Instant},
};

use azure_sim::{
    Access, PrincipalSeed, SimConfig, SimHandle, Simulator, SubscriptionSeed, TenantSeed,
};
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use security_contact_operator::crd::SecurityContactPolicy;
use serde_json::{Value, json};

pub const TENANT: &str = "0000000e-2e00-0000-0000-0000000000aa";
pub const OPERATOR_ID: &str = "0000000e-2e00-0000-0000-0000000000c1";
pub const OPERATOR_SECRET: &str = "operator-secret-e2e";
pub const TEAM_ID: &str = "0000000e-2e00-0000-0000-0000000000c2";
pub const TEAM_SECRET: &str = "team-secret-e2e-S3cr3t";

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_security-contact-operator");

/// A control plane started by `scripts/dev-cluster` in a private state directory.
pub struct Cluster {
    dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub bin: PathBuf,
    owned: bool,
}

static SHARED: OnceLock<Cluster> = OnceLock::new();

/// The control plane shared by every test of this binary, started on first use.
pub fn shared() -> &'static Cluster {
    SHARED.get_or_init(|| {
        Cluster::start(
            &std::env::temp_dir().join(format!("sco-e2e-{}", std::process::id())),
            false,
        )
    })
}

impl Cluster {
    /// Starts a control plane whose state lives in `dir`; it stops when this test process
    /// exits (the owner pid), and on drop when `owned`.
    pub fn start(dir: &Path, owned: bool) -> Cluster {
        let started = Instant::now();
        let out = Command::new(format!("{REPO}/scripts/dev-cluster"))
            .arg("up")
            .env("SCO_CLUSTER_DIR", dir)
            .env("SCO_CLUSTER_OWNER_PID", std::process::id().to_string())
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/dev-cluster up");
        assert!(
            out.status.success(),
            "scripts/dev-cluster up failed (see stderr above)"
        );
        let env = std::fs::read_to_string(dir.join("env")).expect("dev-cluster env file");
        let bin = env
            .lines()
            .find_map(|l| l.strip_prefix("SCO_CP_BIN="))
            .map(|v| PathBuf::from(v.trim_matches('"').trim_matches('\'')))
            .expect("SCO_CP_BIN in env");
        let cluster = Cluster {
            dir: dir.to_owned(),
            kubeconfig: dir.join("kubeconfig"),
            bin,
            owned,
        };
        let crd = cluster.kubectl(&["apply", "--server-side", "-f", &format!("{REPO}/crds/")]);
        assert!(
            crd.status.success(),
            "CRD install: {}",
            String::from_utf8_lossy(&crd.stderr)
        );
        let wait = cluster.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/securitycontactpolicies.securitycontact.dev",
            "crd/securitycontactaccesses.securitycontact.dev",
        ]);
        assert!(
            wait.status.success(),
            "CRD not Established: {}",
            String::from_utf8_lossy(&wait.stderr)
        );
        eprintln!(
            "e2e: control plane up with the CRD Established in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        cluster
    }

    pub fn kubectl(&self, args: &[&str]) -> std::process::Output {
        Command::new(self.bin.join("kubectl"))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .expect("run kubectl")
    }

    /// A client for the current test's runtime (hyper connections belong to one runtime).
    pub async fn client(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("kube config");
        Client::try_from(config).expect("kube client")
    }

    /// Stops kube-apiserver and starts it again with the same command line (same port,
    /// certificates and etcd), as a crash-and-restart would.
    pub fn restart_apiserver(&self) {
        let pid_file = self.dir.join("apiserver.pid");
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let status = Command::new("kill").arg(pid.to_string()).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.join("apiserver.log"))
            .unwrap();
        // Detached on purpose, like dev-cluster's own start: `dev-cluster down` (or the owner-pid
        // watcher) stops it through the pid file written below.
        #[allow(clippy::zombie_processes)]
        let child = Command::new("setsid")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("restart kube-apiserver");
        std::fs::write(&pid_file, child.id().to_string()).unwrap();
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let out = self.kubectl(&["get", "--raw", "/readyz"]);
            if out.status.success() {
                return;
            }
            assert!(Instant::now() < deadline, "apiserver not ready again");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.owned {
            let _ = Command::new(format!("{REPO}/scripts/dev-cluster"))
                .arg("down")
                .env("SCO_CLUSTER_DIR", &self.dir)
                .status();
        }
    }
}

/// Subscription seeds: id and the contact it starts with (None = no contact).
pub fn world(subscriptions: &[(&str, Option<Value>)]) -> SimConfig {
    SimConfig {
        tenants: vec![TenantSeed {
            id: TENANT.into(),
            principals: vec![
                PrincipalSeed {
                    object_id: Some("0000000e-2e00-0000-0000-0000000000b1".into()),
                    ..PrincipalSeed::with_secret(OPERATOR_ID, OPERATOR_SECRET, Access::ReadWrite)
                },
                PrincipalSeed {
                    object_id: Some("0000000e-2e00-0000-0000-0000000000b2".into()),
                    ..PrincipalSeed::with_secret(TEAM_ID, TEAM_SECRET, Access::ReadWrite)
                },
            ],
            subscriptions: subscriptions
                .iter()
                .map(|(id, contact)| {
                    let mut seed = SubscriptionSeed::new(*id);
                    seed.contact = contact.clone();
                    seed
                })
                .collect(),
            management_groups: Vec::new(),
        }],
        ..Default::default()
    }
}

/// One test's world: a namespace, a simulator, and the operator watching that namespace.
pub struct Env {
    pub cluster: &'static Cluster,
    pub ns: String,
    pub client: Client,
    pub sim: SimHandle,
    operator: Child,
    pub operator_log: PathBuf,
    pub admin_addr: String,
    /// Further operator replicas (leader-election tests), with their logs.
    replicas: Vec<(Child, PathBuf)>,
    operator_args: Vec<String>,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Env {
    pub async fn new(name: &str, sim: SimConfig) -> Env {
        Self::on(shared(), name, sim).await
    }

    pub async fn on(cluster: &'static Cluster, name: &str, sim: SimConfig) -> Env {
        let ns = create_namespace(cluster, name).await;
        Self::start(cluster, ns, sim, &cluster.kubeconfig, &[]).await
    }

    /// The operator watching `ns` (already created), talking to the API server as `kubeconfig`
    /// says (e.g. a ServiceAccount token, to run it under the chart's RBAC). `client` stays admin.
    /// The operator as a ServiceAccount under the chart's RBAC (`kubeconfig` holds its token).
    pub async fn with_kubeconfig(
        cluster: &'static Cluster,
        ns: String,
        sim: SimConfig,
        kubeconfig: &Path,
    ) -> Env {
        // A ServiceAccount may write ConfigMaps only where the chart's ledger Role is: the
        // release namespace, here the test's.
        Self::start(
            cluster,
            ns,
            sim,
            kubeconfig,
            &["--ledger-namespace", "{ns}"],
        )
        .await
    }

    /// Like [`Env::with_args`], the first operator reaching the API server through `kubeconfig`
    /// (e.g. a [`Proxy`]'s).
    pub async fn with_args_via(
        name: &str,
        sim: SimConfig,
        extra_args: &[&str],
        kubeconfig: &Path,
    ) -> Env {
        let cluster = shared();
        let ns = create_namespace(cluster, name).await;
        Self::start(cluster, ns, sim, kubeconfig, extra_args).await
    }

    /// Like [`Env::new`], with extra `run` flags (`{ns}` stands for the test's namespace).
    pub async fn with_args(name: &str, sim: SimConfig, extra_args: &[&str]) -> Env {
        let cluster = shared();
        let ns = create_namespace(cluster, name).await;
        Self::start(cluster, ns, sim, &cluster.kubeconfig, extra_args).await
    }

    /// Starts one more operator process with the same flags; returns its index.
    pub fn spawn_replica(&mut self) -> usize {
        let admin = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let log = self
            ._dir
            .path()
            .join(format!("replica-{}.log", self.replicas.len() + 1));
        let child = spawn_operator(&self.operator_args, &admin, &self.kubeconfig, &log);
        self.replicas.push((child, log));
        self.replicas.len() - 1
    }

    /// The logs of every operator process: the first one, then the replicas.
    pub fn logs(&self) -> Vec<String> {
        std::iter::once(&self.operator_log)
            .chain(self.replicas.iter().map(|(_, log)| log))
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect()
    }

    /// Kills operator process `i` (0 = the first) with SIGKILL: no chance to hand over.
    pub fn kill_operator(&mut self, i: usize) {
        let child = self.process(i);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM to operator `i` (0 = the first, then the replicas); waits for it to exit.
    pub fn stop_operator(&mut self, i: usize, within: Duration) -> std::process::ExitStatus {
        let child = self.process(i);
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "operator {i} ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Another replica talking to the API server through `kubeconfig`.
    pub fn spawn_replica_with(&mut self, kubeconfig: &Path) -> usize {
        let kubeconfig = std::mem::replace(&mut self.kubeconfig, kubeconfig.to_owned());
        let i = self.spawn_replica();
        self.kubeconfig = kubeconfig;
        i
    }

    fn process(&mut self, i: usize) -> &mut Child {
        if i == 0 {
            &mut self.operator
        } else {
            &mut self.replicas[i - 1].0
        }
    }

    /// The operator watching `ns` (already created) on `cluster`, through `kubeconfig`.
    pub async fn start(
        cluster: &'static Cluster,
        ns: String,
        sim: SimConfig,
        kubeconfig: &Path,
        extra_args: &[&str],
    ) -> Env {
        let client = cluster.client().await;
        let sim = Simulator::start(sim).await.expect("simulator");
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        sim.write_ca(&ca).unwrap();
        let admin_addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let url = sim.url().to_string();
        let mut operator_args: Vec<String> = [
            "run",
            "--namespace",
            &ns,
            "--arm-endpoint",
            &url,
            "--authority-host",
            &url,
            "--graph-endpoint",
            &url,
        ]
        .map(str::to_owned)
        .to_vec();
        operator_args.extend(["--ca-file".to_owned(), ca.display().to_string()]);
        // The test namespace plays the platform team's own: trusted with the operator's
        // identity, unless the test says who is trusted.
        if !extra_args.contains(&"--operator-identity-namespaces") {
            operator_args.extend(["--operator-identity-namespaces".to_owned(), ns.clone()]);
        }
        operator_args.extend(extra_args.iter().map(|a| a.replace("{ns}", &ns)));
        let operator_log = dir.path().join("operator.log");
        let operator = spawn_operator(&operator_args, &admin_addr, kubeconfig, &operator_log);
        Env {
            cluster,
            ns,
            client,
            sim,
            operator,
            operator_log,
            admin_addr,
            replicas: Vec::new(),
            operator_args,
            kubeconfig: kubeconfig.to_owned(),
            _dir: dir,
        }
    }

    pub fn api(&self) -> Api<SecurityContactPolicy> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Creates or updates a policy from its spec (server-side apply).
    pub async fn apply(&self, name: &str, spec: Value) -> SecurityContactPolicy {
        let object = json!({
            "apiVersion": "securitycontact.dev/v1alpha1",
            "kind": "SecurityContactPolicy",
            "metadata": {"name": name},
            "spec": spec,
        });
        self.api()
            .patch(
                name,
                &PatchParams::apply("e2e-test").force(),
                &Patch::Apply(object),
            )
            .await
            .unwrap_or_else(|e| panic!("apply {name}: {e}"))
    }

    /// Waits until `check` holds for the policy, failing with the last state seen.
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&SecurityContactPolicy) -> bool,
    ) -> SecurityContactPolicy {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let current = self.api().get_opt(name).await.expect("get policy");
            if let Some(p) = &current
                && check(p)
            {
                return p.clone();
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {name} to be {what}; last seen: {}\noperator log:\n{}",
                    serde_json::to_string_pretty(&current.map(|p| p.status)).unwrap(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn wait_condition(
        &self,
        name: &str,
        type_: &str,
        status: &str,
        reason: &str,
    ) -> SecurityContactPolicy {
        self.wait_for(name, &format!("{type_}={status} ({reason})"), |p| {
            condition(p, type_).is_some_and(|(s, r)| s == status && r == reason)
                && p.status.as_ref().and_then(|s| s.observed_generation) == p.metadata.generation
        })
        .await
    }

    pub async fn wait_gone(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.api().get_opt(name).await.expect("get").is_some() {
            assert!(
                Instant::now() < deadline,
                "{name} was never deleted\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The contact's `emails` in the simulator, split.
    pub fn emails(&self, subscription: &str) -> Vec<String> {
        self.sim
            .state()
            .contact(subscription)
            .unwrap()
            .and_then(|c| c["emails"].as_str().map(str::to_owned))
            .map(|e| e.split(';').map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// Event reasons and notes recorded for a policy.
    pub async fn events(&self, name: &str) -> Vec<(String, String)> {
        let api: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), &self.ns);
        let list = api.list(&Default::default()).await.expect("list events");
        list.items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect()
    }

    /// Sends SIGTERM to the operator (as the kubelet does) and waits for it to exit.
    pub fn terminate_operator(&mut self, within: Duration) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.operator.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.operator.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the operator ignored SIGTERM\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The first operator process's resident and peak memory (KiB), from /proc.
    pub fn operator_memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.operator.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Waits until the contact's `emails` in the simulator are exactly `expected`.
    pub async fn wait_emails(&self, subscription: &str, expected: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.emails(subscription) != expected {
            assert!(
                Instant::now() < deadline,
                "{subscription} never got {expected:?}: {:?}",
                self.emails(subscription)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.operator_log).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for child in
            std::iter::once(&mut self.operator).chain(self.replicas.iter_mut().map(|(c, _)| c))
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The operator binary (`run`) as a child process authenticating with the operator's secret.
fn spawn_operator(args: &[String], admin_addr: &str, kubeconfig: &Path, log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    Command::new(BIN)
        .args(args)
        .args(["--admin-addr", admin_addr])
        .env("KUBECONFIG", kubeconfig)
        .env("AZURE_TENANT_ID", TENANT)
        .env("AZURE_CLIENT_ID", OPERATOR_ID)
        .env("AZURE_CLIENT_SECRET", OPERATOR_SECRET)
        .env("SCO_LOG", "info,security_contact_operator=debug")
        .env_remove("RUST_LOG")
        .env_remove("POD_NAME")
        .env_remove("POD_NAMESPACE")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("start the operator")
}

/// Creates a fresh namespace named after `name`; returns its name.
pub async fn create_namespace(cluster: &Cluster, name: &str) -> String {
    let ns = format!("{name}-{}", fastrand::u32(..) % 100_000);
    let namespaces: Api<Namespace> = Api::all(cluster.client().await);
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .expect("create namespace");
    ns
}

/// The message of a condition (panics when the policy has none of that type).
pub fn condition_message(p: &SecurityContactPolicy, type_: &str) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
        .map(|c| c.message.clone())
        .unwrap_or_else(|| panic!("no {type_} condition"))
}

/// `(status, reason)` of a condition.
pub fn condition(p: &SecurityContactPolicy, type_: &str) -> Option<(String, String)> {
    p.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

pub fn resource_version(p: &SecurityContactPolicy) -> String {
    p.resource_version().unwrap_or_default()
}

/// A TCP proxy in front of the API server that a test can cut, as a network partition would:
/// established connections are dropped and new ones are closed at once.
pub struct Proxy {
    pub kubeconfig: PathBuf,
    cut: Arc<std::sync::atomic::AtomicBool>,
    connections: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    _dir: tempfile::TempDir,
}

impl Proxy {
    /// Starts the proxy and writes a kubeconfig that reaches the API server through it.
    pub async fn start(cluster: &Cluster) -> Proxy {
        let admin = std::fs::read_to_string(&cluster.kubeconfig).unwrap();
        let server = admin
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: "))
            .expect("server in kubeconfig")
            .to_owned();
        let upstream = server.trim_start_matches("https://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let connections: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Default::default();
        {
            let (cut, connections) = (cut.clone(), connections.clone());
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if cut.load(std::sync::atomic::Ordering::SeqCst) {
                        continue; // dropped: the connection closes at once
                    }
                    let upstream = upstream.clone();
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    connections.lock().unwrap().push(task.abort_handle());
                }
            });
        }
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            admin.replace(&server, &format!("https://{addr}")),
        )
        .unwrap();
        Proxy {
            kubeconfig,
            cut,
            connections,
            _dir: dir,
        }
    }

    /// The partition: nothing gets through any more.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }
}

//! The Helm chart (`charts/security-contact-operator`): `helm lint` passes, `helm template`
//! renders what the real API server accepts (server-side dry run), the RBAC is exactly the
//! least-privilege list, and the operator does its whole job (finalizer, status, Secret,
//! ledger ConfigMap, Events, Revert on delete) authenticated as the chart's ServiceAccount, with
//! nothing but the chart's Role or ClusterRole.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{
    Api,
    api::{DeleteParams, PostParams},
    config::Kubeconfig,
};
use serde_json::{Value, json};

use crate::support::{Cluster, Env, TEAM_ID, TEAM_SECRET, TENANT, create_namespace, shared, world};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const CHART: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/charts/security-contact-operator"
);
const BIN: &str = env!("CARGO_BIN_EXE_security-contact-operator");
const SUB: &str = "c4a70000-0000-0000-0000-00000000000a";

/// helm from `tests/control-plane/build.sh helm` (cached after the first build).
fn helm_bin() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| {
        let out = Command::new(format!("{REPO}/tests/control-plane/build.sh"))
            .arg("helm")
            .stderr(Stdio::inherit())
            .output()
            .expect("run tests/control-plane/build.sh helm");
        assert!(out.status.success(), "build.sh helm failed (see stderr)");
        let dir = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(dir.trim()).join("helm")
    })
}

fn helm(args: &[&str]) -> String {
    let out = Command::new(helm_bin())
        .args(args)
        .output()
        .expect("run helm");
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `helm template` of the chart into `ns`, with `--set` pairs and extra flags.
pub(crate) fn template(ns: &str, sets: &[String], extra: &[&str]) -> String {
    let mut args = vec!["template", "sco", CHART, "--namespace", ns];
    for set in sets {
        args.extend(["--set", set.as_str()]);
    }
    args.extend(extra);
    helm(&args)
}

/// The rendered documents, empty ones dropped.
pub(crate) fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .expect("rendered YAML parses")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn kinds(docs: &[Value]) -> Vec<&str> {
    docs.iter().filter_map(|d| d["kind"].as_str()).collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} rendered: {:?}", kinds(docs)))
}

/// The `kind` document called `name`.
pub(crate) fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered: {:?}", kinds(docs)))
}

/// The ledger Role: ConfigMaps in the release namespace, and nowhere else.
fn ledger_rules() -> Value {
    json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "patch", "delete"]}])
}

/// kubectl with `input` on stdin.
pub(crate) fn kubectl_with(
    cluster: &Cluster,
    kubeconfig: &Path,
    args: &[&str],
    input: &str,
) -> Output {
    let mut child = Command::new(cluster.bin.join("kubectl"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub(crate) fn apply(cluster: &Cluster, manifests: &str, dry_run: bool) {
    let mut args = vec!["apply", "--server-side", "--field-manager=chart-e2e"];
    if dry_run {
        args.push("--dry-run=server");
    }
    args.extend(["-f", "-"]);
    let out = kubectl_with(cluster, &cluster.kubeconfig, &args, manifests);
    assert!(
        out.status.success(),
        "kubectl {args:?} rejected the chart:\n{}\n--- manifests ---\n{manifests}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the operator reads cluster-wide in every mode: access objects and namespace labels.
fn access_rules() -> Value {
    json!([
        {"apiGroups": ["securitycontact.dev"], "resources": ["securitycontactaccesses"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
    ])
}

/// No rule in `docs` mentions Secrets.
fn grants_no_secrets(docs: &[Value]) -> bool {
    !docs
        .iter()
        .filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole")
        .any(|d| d["rules"].to_string().contains("\"secrets\""))
}

/// The verbs the operator needs (src/controller), and not one more.
fn least_privilege() -> Value {
    json!([
        {"apiGroups": ["securitycontact.dev"], "resources": ["securitycontactpolicies"],
         "verbs": ["get", "list", "watch", "patch", "update"]},
        {"apiGroups": ["securitycontact.dev"], "resources": ["securitycontactpolicies/status"],
         "verbs": ["get", "patch", "update"]},
        {"apiGroups": ["securitycontact.dev"], "resources": ["securitycontactpolicies/finalizers"],
         "verbs": ["update"]},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    ])
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs kube-apiserver + etcd: run through scripts/test"]
async fn chart_lints_renders_and_the_api_server_accepts_it() {
    let started = Instant::now();
    let cluster = shared();
    for sets in [&[][..], &["--set", "watchNamespace=team"][..]] {
        let mut args = vec!["lint", "--strict", CHART];
        args.extend(sets);
        helm(&args);
    }
    let ns = create_namespace(cluster, "chart-render").await;

    // Default values: cluster-wide, with the CRD the chart ships.
    let default = template(&ns, &[], &["--kube-version", "1.33.0", "--include-crds"]);
    let docs = documents(&default);
    let mut rendered = kinds(&docs);
    rendered.sort_unstable();
    assert_eq!(
        rendered,
        [
            "ClusterRole",
            "ClusterRole",
            "ClusterRole",
            "ClusterRole",
            "ClusterRoleBinding",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "Deployment",
            // The `helm test` hook (templates/tests/test-readyz.yaml): `helm template` renders tests.
            "Pod",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]
    );
    let main = "sco-security-contact-operator";
    assert_eq!(
        named(&docs, "ClusterRole", main)["rules"],
        least_privilege()
    );
    assert_eq!(
        named(&docs, "ClusterRole", &format!("{main}-access"))["rules"],
        access_rules()
    );
    assert!(grants_no_secrets(&docs), "Secrets only where asked");
    // Users: namespace admins/editors manage policies; no one but cluster admins grants access.
    let edit = named(&docs, "ClusterRole", &format!("{main}-edit"));
    assert_eq!(
        edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"],
        "true"
    );
    for d in &docs {
        let name = d["metadata"]["name"].as_str().unwrap_or_default();
        if d["kind"] == "ClusterRole" && (name.ends_with("-edit") || name.ends_with("-view")) {
            assert!(
                !d["rules"].to_string().contains("securitycontactaccesses"),
                "{name} must not grant access objects"
            );
        }
    }
    let ledger = named(&docs, "Role", "sco-security-contact-operator-ledger");
    assert_eq!(ledger["rules"], ledger_rules());
    assert_eq!(ledger["metadata"]["namespace"], ns.as_str());
    let deployment = kind(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["terminationGracePeriodSeconds"], 40);
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        !args.iter().any(|a| a.starts_with("--namespace")),
        "{args:?}"
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["ports"][0]["name"], "http");
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"],
        json!(["ALL"])
    );
    apply(cluster, &default, true);

    // One namespace, and every optional piece the API server knows (not the ServiceMonitor,
    // whose CRD this control plane does not have).
    let sets: Vec<String> = [
        format!("watchNamespace={ns}"),
        "azure.workloadIdentity=true".into(),
        "azure.clientId=00000000-0000-0000-0000-0000000000c1".into(),
        "azure.tenantId=00000000-0000-0000-0000-0000000000aa".into(),
        "azure.cloud=usgov".into(),
        "azure.armEndpoint=https://arm.example.test/".into(),
        "azure.authorityHost=https://login.example.test/".into(),
        "azure.graphEndpoint=https://graph.example.test/".into(),
        "azure.existingSecret=azure-credentials".into(),
        "caBundle.configMap=proxy-ca".into(),
        "networkPolicy.enabled=true".into(),
        "networkPolicy.apiServer.cidrs={10.0.0.1/32}".into(),
        "logFormat=plain".into(),
        format!("secretCredentials.namespaces={{{ns}}}"),
        "operatorIdentity.namespaces={security,platform}".into(),
    ]
    .into();
    let scoped = template(&ns, &sets, &["--kube-version", "1.33.0"]);
    let docs = documents(&scoped);
    let mut rendered = kinds(&docs);
    rendered.sort_unstable();
    assert_eq!(
        rendered,
        [
            "ClusterRole",
            "ClusterRole",
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "NetworkPolicy",
            // The `helm test` hook (templates/tests/test-readyz.yaml): `helm template` renders tests.
            "Pod",
            "Role",
            "Role",
            "Role",
            "RoleBinding",
            "RoleBinding",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]
    );
    let watch = named(&docs, "Role", "sco-security-contact-operator");
    assert_eq!(watch["rules"], least_privilege());
    assert_eq!(watch["metadata"]["namespace"], ns.as_str());
    let sa = kind(&docs, "ServiceAccount");
    assert_eq!(
        sa["metadata"]["annotations"]["azure.workload.identity/client-id"],
        "00000000-0000-0000-0000-0000000000c1"
    );
    let template_meta = &kind(&docs, "Deployment")["spec"]["template"]["metadata"];
    assert_eq!(
        template_meta["labels"]["azure.workload.identity/use"],
        "true"
    );
    let container = &kind(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert!(args.contains(&format!("--namespace={ns}")), "{args:?}");
    assert!(
        args.contains(&"--operator-identity-namespaces=security,platform".to_owned()),
        "{args:?}"
    );
    let secrets_role = named(&docs, "Role", "sco-security-contact-operator-secrets");
    assert_eq!(secrets_role["metadata"]["namespace"], ns.as_str());
    assert_eq!(
        secrets_role["rules"],
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])
    );
    apply(cluster, &scoped, true);

    // The rendered command line is one the binary accepts: it gets past argument parsing and
    // fails only for want of a cluster (clap's own errors end in a `--help` hint).
    let out = Command::new(BIN)
        .args(&args)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !stderr.contains("--help") && !stderr.contains("Usage:"),
        "the binary rejected the chart's arguments {args:?}:\n{stderr}"
    );

    // Leader election: the flags, and a Role for leases only, in the release namespace.
    let elected = template(
        &ns,
        &["leaderElection.enabled=true".into(), "replicas=2".into()],
        &[],
    );
    let docs = documents(&elected);
    let lease_role = docs
        .iter()
        .find(|d| {
            d["kind"] == "Role"
                && d["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("-leader-election"))
        })
        .expect("a leader-election Role");
    assert_eq!(
        lease_role["rules"],
        json!([{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list", "watch", "create", "patch"]}])
    );
    let elected_args =
        kind(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"].clone();
    assert!(
        elected_args
            .as_array()
            .unwrap()
            .contains(&json!("--leader-elect")),
        "{elected_args}"
    );
    assert_eq!(kind(&docs, "Deployment")["spec"]["replicas"], 2);
    apply(cluster, &elected, true);

    // values.schema.json: a bad value is refused before anything renders, saying which.
    let bad = Command::new(helm_bin())
        .args(["template", "sco", CHART, "--set", "logFormat=xml"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(said.contains("logFormat"), "{said}");
    let typo = Command::new(helm_bin())
        .args([
            "template",
            "sco",
            CHART,
            "--set",
            "leaderElection.enable=true",
        ])
        .output()
        .unwrap();
    assert!(
        !typo.status.success(),
        "a misspelt value must not be ignored silently"
    );
    // NOTES.txt (rendered by a client-side dry-run install) tells who may use the operator's
    // identity and warns about "*".
    let install = |sets: &[&str]| {
        let mut args = vec![
            "install",
            "sco",
            CHART,
            "--dry-run=client",
            "--namespace",
            &ns,
        ];
        for set in sets {
            args.extend(["--set", set]);
        }
        let out = Command::new(helm_bin())
            .args(&args)
            .env("KUBECONFIG", &cluster.kubeconfig)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        text[text.find("NOTES:").expect("NOTES rendered")..].to_owned()
    };
    let notes = install(&[]);
    assert!(notes.contains(&format!("policies in {ns},")), "{notes}");
    assert!(notes.contains("readable nowhere"), "{notes}");
    let everyone = install(&["operatorIdentity.namespaces={*}"]);
    assert!(everyone.contains("EVERY namespace"), "{everyone}");

    // Secrets cluster-wide when asked; a scope the chart does not know is refused.
    let wide = documents(&template(
        &ns,
        &["secretCredentials.scope=cluster".into()],
        &[],
    ));
    assert_eq!(
        named(
            &wide,
            "ClusterRole",
            "sco-security-contact-operator-secrets"
        )["rules"],
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])
    );
    let bogus = Command::new(helm_bin())
        .args([
            "template",
            "sco",
            CHART,
            "--set",
            "secretCredentials.scope=everywhere",
        ])
        .output()
        .unwrap();
    assert!(!bogus.status.success());
    assert!(
        // The schema refuses it first (the template's own `fail` stays for --skip-schema-validation).
        String::from_utf8_lossy(&bogus.stderr)
            .contains("'/secretCredentials/scope': value must be one of 'namespaces', 'cluster'"),
        "{}",
        String::from_utf8_lossy(&bogus.stderr)
    );

    let monitor = template(&ns, &["serviceMonitor.enabled=true".into()], &[]);
    assert!(kinds(&documents(&monitor)).contains(&"ServiceMonitor"));

    // kubeVersion: >=1.33.0-0 is enforced.
    let old = Command::new(helm_bin())
        .args(["template", "sco", CHART, "--kube-version", "1.32.9"])
        .output()
        .unwrap();
    assert!(
        !old.status.success(),
        "the chart must refuse Kubernetes 1.32"
    );
    eprintln!(
        "chart: lint + render + server dry run in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// A kubeconfig for the ServiceAccount `sa` in `ns`: a TokenRequest token, the admin
/// kubeconfig's server and CA.
pub(crate) fn service_account_kubeconfig(cluster: &Cluster, ns: &str, sa: &str, path: &Path) {
    let out = cluster.kubectl(&["create", "token", sa, "-n", ns, "--duration=1h"]);
    assert!(
        out.status.success(),
        "kubectl create token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let admin = Kubeconfig::read_from(&cluster.kubeconfig).expect("admin kubeconfig");
    let server = admin.clusters[0].cluster.as_ref().expect("cluster entry");
    let mut entry = json!({"server": server.server});
    if let Some(data) = &server.certificate_authority_data {
        entry["certificate-authority-data"] = json!(data);
    }
    if let Some(file) = &server.certificate_authority {
        entry["certificate-authority"] = json!(file);
    }
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": entry}],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": sa, "context": {"cluster": "e2e", "user": sa, "namespace": ns}}],
        "current-context": sa,
    });
    std::fs::write(path, serde_json::to_vec_pretty(&kubeconfig).unwrap()).unwrap();
}

/// `kubectl auth can-i` as the ServiceAccount (a SelfSubjectAccessReview with its token).
pub(crate) fn can_i(cluster: &Cluster, kubeconfig: &Path, args: &[&str]) -> bool {
    let out = Command::new(cluster.bin.join("kubectl"))
        .args(["auth", "can-i"])
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("kubectl auth can-i");
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        answer == "yes" || answer == "no",
        "kubectl auth can-i {args:?}: {answer} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    answer == "yes"
}

async fn operator_under_chart_rbac(cluster_wide: bool) {
    let started = Instant::now();
    let cluster = shared();
    let ns = create_namespace(
        cluster,
        if cluster_wide {
            "chart-crb"
        } else {
            "chart-rb"
        },
    )
    .await;
    // A per-test name: the ClusterRole and ClusterRoleBinding are cluster-scoped.
    let fullname = format!("sco-{ns}");
    let mut sets = vec![format!("fullnameOverride={fullname}")];
    if cluster_wide {
        sets.push("secretCredentials.scope=cluster".into());
    } else {
        sets.push(format!("watchNamespace={ns}"));
        sets.push(format!("secretCredentials.namespaces={{{ns}}}"));
    }
    let rbac = template(
        &ns,
        &sets,
        &[
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/rbac.yaml",
            "--show-only",
            "templates/ledger-rbac.yaml",
            "--show-only",
            "templates/access-rbac.yaml",
            "--show-only",
            "templates/secret-rbac.yaml",
        ],
    );
    let mut expected = if cluster_wide {
        vec![
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
        ]
    } else {
        vec![
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "Role",
            "RoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
        ]
    };
    expected.sort_unstable();
    let rendered_docs = documents(&rbac);
    let mut rendered = kinds(&rendered_docs);
    rendered.sort_unstable();
    assert_eq!(rendered, expected);
    apply(cluster, &rbac, false);

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    service_account_kubeconfig(cluster, &ns, &fullname, &kubeconfig);

    // RBAC reaches the authorizer through an informer: wait until the binding is in effect,
    // or the operator's first LIST would be refused.
    let policies = "securitycontactpolicies.securitycontact.dev";
    let deadline = Instant::now() + Duration::from_secs(30);
    while !can_i(cluster, &kubeconfig, &["watch", policies, "-n", &ns]) {
        assert!(
            Instant::now() < deadline,
            "the chart's binding never took effect"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let n = ["-n", ns.as_str()];
    let granted: &[&[&str]] = &[
        &["list", policies],
        &["patch", policies],
        &["patch", policies, "--subresource=status"],
        &["get", "secrets/team-credentials"],
        &["create", "configmaps"],
        &["delete", "configmaps"],
        &["create", "events.events.k8s.io"],
        &["list", "securitycontactaccesses.securitycontact.dev"],
        &["watch", "namespaces"],
    ];
    let refused: &[&[&str]] = &[
        &["list", "secrets"],
        &["watch", "secrets"],
        &["create", "secrets"],
        &["list", "configmaps"],
        &["create", policies],
        &["delete", policies],
        &["create", "events"],
        &["get", "pods"],
        &["create", "leases.coordination.k8s.io"],
        &["create", "securitycontactaccesses.securitycontact.dev"],
        &["update", "securitycontactaccesses.securitycontact.dev"],
        &["create", "serviceaccounts", "--subresource=token"],
    ];
    for check in granted {
        assert!(
            can_i(cluster, &kubeconfig, &[*check, &n[..]].concat()),
            "the chart must grant {check:?}"
        );
    }
    for check in refused {
        assert!(
            !can_i(cluster, &kubeconfig, &[*check, &n[..]].concat()),
            "the chart must not grant {check:?}"
        );
    }
    assert_eq!(
        can_i(
            cluster,
            &kubeconfig,
            &["list", policies, "--all-namespaces"]
        ),
        cluster_wide,
        "cluster-wide watch only without watchNamespace"
    );
    assert_eq!(
        can_i(cluster, &kubeconfig, &["get", "secrets", "-n", "default"]),
        cluster_wide,
        "secrets outside the watched namespace only without watchNamespace"
    );

    // The policy brings its own client secret, so the operator must GET that Secret.
    let secrets: Api<Secret> = Api::namespaced(cluster.client().await, &ns);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "team-credentials"},
                "stringData": {"tenantId": TENANT, "clientId": TEAM_ID, "clientSecret": TEAM_SECRET},
            }))
            .unwrap(),
        )
        .await
        .unwrap();

    let env = Env::with_kubeconfig(
        cluster,
        ns.clone(),
        world(&[(
            SUB,
            Some(json!({"emails": "person@fabrikam.com", "isEnabled": true})),
        )]),
        &kubeconfig,
    )
    .await;
    env.apply(
        "chart",
        json!({
            "subscriptions": [SUB],
            "deletionPolicy": "Revert",
            "credentials": {"secretRef": {"name": "team-credentials"}},
            "contact": {"emails": ["ours@contoso.com"]},
        }),
    )
    .await;
    let ready = env
        .wait_condition("chart", "Ready", "True", "Compliant")
        .await;
    assert!(
        ready
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"securitycontact.dev/cleanup".to_owned())
    );
    assert_eq!(env.emails(SUB), ["person@fabrikam.com", "ours@contoso.com"]);
    // The ledger lives in the release namespace (here the same as the policy's).
    let configmaps: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    let ledger_name = format!("scp-ledger-{}", ready.metadata.uid.clone().unwrap());
    assert!(
        configmaps.get_opt(&ledger_name).await.unwrap().is_some(),
        "the Revert ledger was written"
    );

    env.api()
        .delete("chart", &DeleteParams::default())
        .await
        .unwrap();
    env.wait_gone("chart").await;
    assert_eq!(env.emails(SUB), ["person@fabrikam.com"], "Revert ran");
    assert!(
        configmaps.get_opt(&ledger_name).await.unwrap().is_none(),
        "the ledger was deleted"
    );
    let events = env.events("chart").await;
    for reason in ["Remediated", "Reverted"] {
        assert!(
            events.iter().any(|(r, _)| r == reason),
            "no {reason} Event: {events:?}"
        );
    }
    let log = env.log();
    let forbidden: Vec<&str> = log
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("forbidden"))
        .collect();
    assert!(
        forbidden.is_empty(),
        "the operator was refused something under the chart's RBAC:\n{}",
        forbidden.join("\n")
    );
    drop(env);

    for kind in ["clusterrolebinding", "clusterrole"] {
        for name in [
            fullname.clone(),
            format!("{fullname}-access"),
            format!("{fullname}-secrets"),
        ] {
            let _ = cluster.kubectl(&["delete", kind, &name, "--ignore-not-found"]);
        }
    }
    eprintln!(
        "chart: operator under the chart's {} in {:.1}s",
        if cluster_wide { "ClusterRole" } else { "Role" },
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs kube-apiserver + etcd: run through scripts/test"]
async fn chart_role_is_enough_for_the_operator() {
    operator_under_chart_rbac(false).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs kube-apiserver + etcd: run through scripts/test"]
async fn chart_cluster_role_is_enough_for_the_operator() {
    operator_under_chart_rbac(true).await;
}

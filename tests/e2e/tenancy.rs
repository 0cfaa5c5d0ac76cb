//! Multi-tenant clusters, end to end: the operator under the chart's RBAC, a ServiceAccount
//! per team, SecurityContactAccess objects written by the admin, and workload identity through
//! a real TokenRequest verified by the simulator against the API server's own keys.
//!
//! These tests run on a control plane of their own: access objects are cluster-scoped, and a
//! change to one re-runs every policy of every operator that sees it, which would disturb the
//! request counts other tests assert on the shared control plane.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::OnceLock,
    time::{Duration, Instant},
};

use azure_sim::{Access, FederatedCredentialSeed, OidcIssuerSeed, PrincipalSeed, RouteKind};
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use security_contact_operator::{access::SecurityContactAccess, crd::SecurityContactPolicy};
use serde_json::{Value, json};

use crate::{
    chart::{apply, can_i, kubectl_with, service_account_kubeconfig, template},
    support::{Cluster, Env, TENANT, condition, condition_message, create_namespace, world},
};

const S: &str = "7e4a0000-0000-0000-0000-00000000000a";
const OTHER_APP: &str = "0000000e-2e00-0000-0000-0000000000c3";
const TEAM_APP: &str = "0000000e-2e00-0000-0000-0000000000c4";
/// What is on S before any team arrives: the security team's addresses and phone.
const SOC: &str = "soc@contoso.com";
const PHONE: &str = "+1 555 0100";

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        Cluster::start(
            &std::env::temp_dir().join(format!("sco-e2e-tenancy-{}", std::process::id())),
            false,
        )
    })
}

async fn client_from(kubeconfig: &Path) -> Client {
    let config = Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    Client::try_from(
        kube::Config::from_custom_kubeconfig(config, &KubeConfigOptions::default())
            .await
            .expect("config"),
    )
    .expect("client")
}

/// The operator's identity as the chart makes it, watching `watch` and released into
/// `release`: its ServiceAccount, the watch Role, the ledger Role and the access ClusterRole.
/// Returns the kubeconfig of that ServiceAccount and the ServiceAccount's name.
async fn operator_identity(
    cluster: &Cluster,
    release: &str,
    watch: &str,
    dir: &Path,
) -> (PathBuf, String) {
    let fullname = format!("sco-{watch}");
    let rbac = template(
        release,
        &[
            format!("fullnameOverride={fullname}"),
            format!("watchNamespace={watch}"),
        ],
        &[
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/rbac.yaml",
            "--show-only",
            "templates/ledger-rbac.yaml",
            "--show-only",
            "templates/access-rbac.yaml",
        ],
    );
    apply(cluster, &rbac, false);
    let kubeconfig = dir.join(format!("{fullname}.kubeconfig"));
    service_account_kubeconfig(cluster, release, &fullname, &kubeconfig);
    wait_allowed(
        cluster,
        &kubeconfig,
        &["list", "securitycontactaccesses.securitycontact.dev"],
    )
    .await;
    wait_allowed(
        cluster,
        &kubeconfig,
        &[
            "watch",
            "securitycontactpolicies.securitycontact.dev",
            "-n",
            watch,
        ],
    )
    .await;
    (kubeconfig, fullname)
}

/// A team member: a ServiceAccount that may manage policies in `ns` and nothing else.
async fn team_member(cluster: &Cluster, ns: &str, dir: &Path) -> PathBuf {
    let manifests = format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: developer, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: policy-author, namespace: {ns}}}
rules:
  - apiGroups: [securitycontact.dev]
    resources: [securitycontactpolicies]
    verbs: [get, list, watch, create, update, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: policy-author, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: policy-author}}
subjects: [{{kind: ServiceAccount, name: developer, namespace: {ns}}}]
"#
    );
    apply(cluster, &manifests, false);
    let kubeconfig = dir.join(format!("developer-{ns}.kubeconfig"));
    service_account_kubeconfig(cluster, ns, "developer", &kubeconfig);
    wait_allowed(
        cluster,
        &kubeconfig,
        &[
            "create",
            "securitycontactpolicies.securitycontact.dev",
            "-n",
            ns,
        ],
    )
    .await;
    kubeconfig
}

/// RBAC reaches the authorizer through an informer: wait until a grant is in effect.
async fn wait_allowed(cluster: &Cluster, kubeconfig: &Path, check: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !can_i(cluster, kubeconfig, check) {
        assert!(Instant::now() < deadline, "never allowed: {check:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Server-side applies a policy as whoever `client` is.
async fn apply_policy(client: &Client, ns: &str, name: &str, spec: Value) {
    let api: Api<SecurityContactPolicy> = Api::namespaced(client.clone(), ns);
    api.patch(
        name,
        &PatchParams::apply("e2e-team").force(),
        &Patch::Apply(json!({
            "apiVersion": "securitycontact.dev/v1alpha1",
            "kind": "SecurityContactPolicy",
            "metadata": {"name": name},
            "spec": spec,
        })),
    )
    .await
    .expect("apply the policy");
}

async fn apply_access(client: &Client, name: &str, spec: Value) {
    let api: Api<SecurityContactAccess> = Api::all(client.clone());
    api.patch(
        name,
        &PatchParams::apply("e2e-admin").force(),
        &Patch::Apply(json!({
            "apiVersion": "securitycontact.dev/v1alpha1",
            "kind": "SecurityContactAccess",
            "metadata": {"name": name},
            "spec": spec,
        })),
    )
    .await
    .expect("apply the access");
}

/// Every ARM request the simulator has answered (token requests not included).
fn arm_requests(env: &Env) -> u64 {
    env.sim
        .state()
        .requests()
        .matching(|r| r.route != RouteKind::Token)
}

fn token_requests(env: &Env) -> u64 {
    env.sim
        .state()
        .requests()
        .count("POST", RouteKind::Token, None)
}

/// Everything a person could read about the policy: its status, its Events, the operator's log.
async fn visible(env: &Env, name: &str) -> String {
    let policy = env.api().get(name).await.unwrap();
    format!(
        "{}\n{:?}\n{}",
        serde_json::to_string(&policy.status).unwrap(),
        env.events(name).await,
        env.log()
    )
}

fn contact_with_soc() -> Option<Value> {
    Some(json!({"emails": SOC, "phone": PHONE, "isEnabled": true,
        "notificationsByRole": {"state": "On", "roles": ["Owner"]}}))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs kube-apiserver + etcd: run through scripts/test"]
async fn a_team_gets_exactly_what_an_access_object_grants() {
    let started = Instant::now();
    let cluster = cluster();
    let admin = cluster.client().await;
    let dir = tempfile::tempdir().unwrap();
    let security = create_namespace(cluster, "security").await;
    let team_a = create_namespace(cluster, "team-a").await;
    let (operator_kubeconfig, _) = operator_identity(cluster, &security, &team_a, dir.path()).await;
    let developer = team_member(cluster, &team_a, dir.path()).await;
    assert!(
        !can_i(
            cluster,
            &developer,
            &["create", "securitycontactaccesses.securitycontact.dev"]
        ),
        "a team member may not grant itself access"
    );
    let developer = client_from(&developer).await;

    let mut env = Env::start(
        cluster,
        team_a.clone(),
        world(&[(S, contact_with_soc())]),
        &operator_kubeconfig,
        &[
            "--operator-identity-namespaces",
            &security,
            "--ledger-namespace",
            &security,
        ],
    )
    .await;

    // Before: nothing stopped team-a from replacing every address through the operator's
    // identity (Exact) or reading the contact (Audit). Now: Stalled NotAllowed, no Azure call.
    apply_policy(
        &developer,
        &team_a,
        "grab",
        json!({"mode": "Audit", "subscriptions": [S],
               "contact": {"emails": ["attacker@fabrikam.com"], "emailMerge": "Exact"}}),
    )
    .await;
    let stalled = env
        .wait_condition("grab", "Stalled", "True", "NotAllowed")
        .await;
    let (_, reason) = condition(&stalled, "Ready").unwrap();
    assert_eq!(reason, "NotAllowed");
    assert_eq!(arm_requests(&env), 0, "Audit read nothing");
    apply_policy(
        &developer,
        &team_a,
        "grab",
        json!({"mode": "Enforce", "subscriptions": [S],
               "contact": {"emails": ["attacker@fabrikam.com"], "emailMerge": "Exact"}}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = env.api().get("grab").await.unwrap();
        let observed = p.status.as_ref().and_then(|s| s.observed_generation);
        if observed == p.metadata.generation {
            assert_eq!(condition(&p, "Stalled").unwrap().1, "NotAllowed");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Enforce edit was never observed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(arm_requests(&env), 0, "Enforce wrote nothing, read nothing");
    assert_eq!(env.emails(S), [SOC], "the contact is as it was");
    let seen = visible(&env, "grab").await;
    for secret in [SOC, PHONE] {
        assert!(
            !seen.contains(secret),
            "{secret} leaked into status, Events or logs"
        );
    }
    eprintln!(
        "tenancy: team-a Audit/Enforce Exact on S without access: Stalled NotAllowed, {} ARM requests, {} token requests",
        arm_requests(&env),
        token_requests(&env)
    );

    // The admin grants team-a Additive (and Revert) on S: Additive works, Exact stays refused,
    // and the older not-allowed Exact policy holds no one back.
    let access = format!("{team_a}-additive");
    apply_access(
        &admin,
        &access,
        json!({"namespaces": {"names": [team_a]}, "subscriptions": [S],
               "emailMerges": ["Additive"], "deletionPolicies": ["Orphan", "Revert"]}),
    )
    .await;
    apply_policy(
        &developer,
        &team_a,
        "oncall",
        json!({"subscriptions": [S], "interval": "5s", "deletionPolicy": "Revert",
               "contact": {"emails": ["team-a@contoso.com"]}}),
    )
    .await;
    env.wait_condition("oncall", "Ready", "True", "Compliant")
        .await;
    assert_eq!(env.emails(S), [SOC, "team-a@contoso.com"]);
    let grab = env.api().get("grab").await.unwrap();
    let (_, grab_reason) = condition(&grab, "Stalled").unwrap();
    let grab_message = condition_message(&grab, "Stalled");
    assert_eq!(grab_reason, "NotAllowed");
    assert!(
        grab_message.contains(&format!(
            "{access} allows modes Audit/Enforce, emailMerges Additive"
        )),
        "{grab_message}"
    );

    // The admin withdraws the access: the next pass is NotAllowed and writes nothing more.
    let accesses: Api<SecurityContactAccess> = Api::all(admin.clone());
    accesses
        .delete(&access, &DeleteParams::default())
        .await
        .unwrap();
    env.wait_condition("oncall", "Stalled", "True", "NotAllowed")
        .await;
    let puts = env
        .sim
        .state()
        .requests()
        .count("PUT", RouteKind::SecurityContact, None);
    // A person takes team-a's address off; team-a's policy may no longer put it back.
    env.sim
        .state()
        .set_contact(S, contact_with_soc().unwrap())
        .unwrap();
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        env.sim
            .state()
            .requests()
            .count("PUT", RouteKind::SecurityContact, None),
        puts,
        "no write after the access was withdrawn (two intervals)"
    );
    assert_eq!(env.emails(S), [SOC]);

    // Revert no longer touches S: add the address back by hand, delete the policy.
    env.sim
        .state()
        .set_contact(
            S,
            json!({"emails": format!("{SOC};team-a@contoso.com"), "phone": PHONE, "isEnabled": true}),
        )
        .unwrap();
    let arm_before = arm_requests(&env);
    let policies: Api<SecurityContactPolicy> = Api::namespaced(developer.clone(), &team_a);
    policies
        .delete("oncall", &DeleteParams::default())
        .await
        .unwrap();
    env.wait_gone("oncall").await;
    assert_eq!(arm_requests(&env), arm_before, "Revert made no call on S");
    assert_eq!(env.emails(S), [SOC, "team-a@contoso.com"]);
    policies
        .delete("grab", &DeleteParams::default())
        .await
        .unwrap();
    env.wait_gone("grab").await;
    env.terminate_operator(Duration::from_secs(10));
    eprintln!(
        "tenancy: access grant, refusal, withdrawal and Revert in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// The API server's service-account issuer and its public keys (what Entra would fetch from
/// the issuer's discovery document).
async fn issuer_and_keys(admin: &Client) -> (String, Value) {
    let get = |path: &str| http::Request::get(path).body(Vec::new()).unwrap();
    let discovery: Value = serde_json::from_str(
        &admin
            .request_text(get("/.well-known/openid-configuration"))
            .await
            .expect("OIDC discovery"),
    )
    .unwrap();
    let jwks: Value = serde_json::from_str(
        &admin
            .request_text(get("/openid/v1/jwks"))
            .await
            .expect("JWKS"),
    )
    .unwrap();
    (discovery["issuer"].as_str().unwrap().to_owned(), jwks)
}

fn federated_app(
    client_id: &str,
    object_id: &str,
    issuer: &str,
    namespace: &str,
    sa: &str,
) -> PrincipalSeed {
    PrincipalSeed {
        client_id: client_id.into(),
        client_secret: None,
        object_id: Some(object_id.into()),
        federated_credentials: vec![FederatedCredentialSeed::kubernetes(issuer, namespace, sa)],
        access: BTreeMap::from([("*".to_owned(), Access::ReadWrite)]),
    }
}

/// The token grant of `examples/tenancy/team-workload-identity.yaml` (its ServiceAccount,
/// Role and RoleBinding), for `namespace` and the operator's ServiceAccount.
fn example_grant(namespace: &str, operator_sa: &str, operator_ns: &str) -> String {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/tenancy/team-workload-identity.yaml"
    ))
    .unwrap();
    let docs: Vec<String> = example
        .split("\n---\n")
        .filter(|d| !d.contains("kind: SecurityContactPolicy"))
        .map(|d| {
            d.replace("namespace: team-b", &format!("namespace: {namespace}"))
                .replace(
                    "    name: security-contact-operator\n    namespace: security-contact-operator",
                    &format!("    name: {operator_sa}\n    namespace: {operator_ns}"),
                )
        })
        .collect();
    let out = docs.join("\n---\n");
    assert!(
        out.contains(operator_sa),
        "the example's subject was replaced"
    );
    out
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs kube-apiserver + etcd: run through scripts/test"]
async fn workload_identity_is_bound_to_its_namespace() {
    let started = Instant::now();
    let cluster = cluster();
    let admin = cluster.client().await;
    let dir = tempfile::tempdir().unwrap();
    let release = create_namespace(cluster, "sco").await;
    let team_a = create_namespace(cluster, "wi-a").await;
    let team_b = create_namespace(cluster, "wi-b").await;
    let (issuer, jwks) = issuer_and_keys(&admin).await;

    // Entra: team-a's application trusts team-a's azure-writer; another application trusts a
    // different subject. Neither has a secret.
    let mut sim = world(&[(S, contact_with_soc())]);
    sim.oidc_issuers = vec![OidcIssuerSeed {
        issuer: issuer.clone(),
        jwks,
    }];
    sim.tenants[0].principals.push(federated_app(
        TEAM_APP,
        "0000000e-2e00-0000-0000-0000000000b4",
        &issuer,
        &team_a,
        "azure-writer",
    ));
    sim.tenants[0].principals.push(federated_app(
        OTHER_APP,
        "0000000e-2e00-0000-0000-0000000000b3",
        &issuer,
        &team_a,
        "someone-else",
    ));

    let (kubeconfig_a, operator_a) =
        operator_identity(cluster, &release, &team_a, dir.path()).await;
    assert!(
        !can_i(
            cluster,
            &kubeconfig_a,
            &[
                "create",
                "serviceaccounts",
                "--subresource=token",
                "-n",
                &team_a
            ]
        ),
        "the chart grants no TokenRequest anywhere"
    );
    let grant = example_grant(&team_a, &operator_a, &release);
    let out = kubectl_with(
        cluster,
        &cluster.kubeconfig,
        &["apply", "--server-side", "-f", "-"],
        &grant,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_allowed(
        cluster,
        &kubeconfig_a,
        &[
            "create",
            "serviceaccounts/azure-writer",
            "--subresource=token",
            "-n",
            &team_a,
        ],
    )
    .await;

    let env = Env::start(
        cluster,
        team_a.clone(),
        sim.clone(),
        &kubeconfig_a,
        &[
            "--operator-identity-namespaces",
            &release,
            "--ledger-namespace",
            &release,
        ],
    )
    .await;
    let identity = |client_id: &str| {
        json!({"workloadIdentity": {"clientId": client_id, "tenantId": TENANT,
               "serviceAccountName": "azure-writer"}})
    };
    env.apply(
        "own",
        json!({"subscriptions": [S], "contact": {"emails": ["team-a@contoso.com"]},
               "credentials": identity(TEAM_APP)}),
    )
    .await;
    env.wait_condition("own", "Ready", "True", "Compliant")
        .await;
    assert_eq!(env.emails(S), [SOC, "team-a@contoso.com"]);
    let tokens = token_requests(&env);
    assert!(tokens >= 1, "a token was exchanged");

    // An application federated to another subject: Entra's "no matching federated identity
    // record" (AADSTS700213 for the subject, one of the AADSTS70021x family), as
    // CredentialsInvalid.
    env.apply(
        "other-app",
        json!({"subscriptions": [S], "contact": {"emails": ["x@contoso.com"]},
               "credentials": identity(OTHER_APP)}),
    )
    .await;
    let refused = env
        .wait_condition("other-app", "Stalled", "True", "CredentialsInvalid")
        .await;
    let message = condition_message(&refused, "Stalled");
    assert!(message.contains("AADSTS700213"), "{message}");
    assert!(
        message.contains("No matching federated identity record"),
        "{message}"
    );
    assert_eq!(env.emails(S), [SOC, "team-a@contoso.com"]);
    drop(env);

    // team-b names team-a's ServiceAccount: the operator may request no token in team-b, so
    // none is minted, and the policy says which Role team-b would need.
    let (kubeconfig_b, _) = operator_identity(cluster, &release, &team_b, dir.path()).await;
    let env_b = Env::start(
        cluster,
        team_b.clone(),
        sim,
        &kubeconfig_b,
        &[
            "--operator-identity-namespaces",
            &release,
            "--ledger-namespace",
            &release,
        ],
    )
    .await;
    env_b
        .apply(
            "borrowed",
            json!({"subscriptions": [S], "contact": {"emails": ["team-b@contoso.com"]},
                   "credentials": identity(TEAM_APP)}),
        )
        .await;
    let refused = env_b
        .wait_condition("borrowed", "Stalled", "True", "CredentialsInvalid")
        .await;
    let message = condition_message(&refused, "Stalled");
    assert!(
        message.contains(&format!(
            "may not request tokens for ServiceAccount {team_b}/azure-writer"
        )),
        "{message}"
    );
    assert_eq!(
        token_requests(&env_b),
        0,
        "no token was minted or exchanged"
    );
    assert_eq!(arm_requests(&env_b), 0);
    eprintln!(
        "tenancy: workload identity (TokenRequest → simulator verifying iss/sub/aud/signature) in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

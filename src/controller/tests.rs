//! The middle tier: `reconcile` against a mocked Kubernetes API server (tower-test behind a
//! real `kube::Client`) and the Azure simulator over real HTTPS. Each test asserts the exact
//! Kubernetes requests a pass makes, in order; no control plane is needed.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use azure_sim::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_SUB_COMPLIANT, DEMO_SUB_CONTACT_MISSING,
    DEMO_SUB_READ_ONLY, DEMO_TENANT_ID, RouteKind, SimConfig, SimHandle, Simulator,
};
use http::{Request, Response};
use kube::{
    Client,
    client::Body,
    runtime::{reflector, watcher},
};
use serde_json::{Value, json};

use super::{
    FINALIZER, access::AccessView, context::Context, fixtures::PolicyBuilder, ledger,
    reconcile::reconcile,
};
use crate::{
    access::{
        NamespaceSelection, SecurityContactAccess, SecurityContactAccessSpec, TrustedNamespaces,
    },
    arm::{
        cloud::{Cloud, Endpoints},
        credential::Identity,
    },
    connect::{Azure, Target},
    crd::SecurityContactPolicy,
    metrics::Metrics,
};

/// One request the operator sent to the API server.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    body: Value,
}

impl Seen {
    /// `"PATCH /apis/…/status"`: what the assertions compare.
    fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

const POLICIES: &str = "/apis/securitycontact.dev/v1alpha1/namespaces/ns/securitycontactpolicies";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/ns/events";
/// The operator's own namespace, where the Revert ledgers live.
const OPERATOR_NAMESPACE: &str = "operator";
const CONFIGMAPS: &str = "/api/v1/namespaces/operator/configmaps";

/// A fake API server holding one policy: it applies the finalizer JSON patch and status
/// patches to it, keeps ConfigMaps, accepts Events, and records every request.
struct ApiServer {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl ApiServer {
    fn start(policy: &SecurityContactPolicy) -> (Client, ApiServer) {
        Self::with_configmaps(policy, serde_json::Map::new())
    }

    /// Like [`ApiServer::start`], with ConfigMaps (by name, in the operator's namespace).
    fn with_configmaps(
        policy: &SecurityContactPolicy,
        configmaps: serde_json::Map<String, Value>,
    ) -> (Client, ApiServer) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let mut object = serde_json::to_value(policy).expect("policy JSON");
        let mut configmaps = configmaps;
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let method = request.method().to_string();
                let path = request.uri().path().to_owned();
                let bytes = request
                    .into_body()
                    .collect_bytes()
                    .await
                    .expect("request body");
                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let (code, answer) = respond(&method, &path, &body, &mut object, &mut configmaps);
                log.lock().unwrap().push(Seen { method, path, body });
                let response = Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                    .unwrap();
                send.send_response(response);
            }
        });
        (Client::new(service, "default"), ApiServer { seen })
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn lines(&self) -> Vec<String> {
        self.seen().iter().map(Seen::line).collect()
    }
}

fn respond(
    method: &str,
    path: &str,
    body: &Value,
    policy: &mut Value,
    configmaps: &mut serde_json::Map<String, Value>,
) -> (u16, Value) {
    let not_found = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "reason": "NotFound", "code": 404, "message": format!("{path} not found")});
    let name = path.rsplit('/').next().unwrap_or_default().to_owned();
    match method {
        "PATCH" if path.starts_with(POLICIES) && path.ends_with("/status") => {
            policy["status"] = body["status"].clone();
            (200, policy.clone())
        }
        "PATCH" if path.starts_with(POLICIES) => {
            // The finalizer helper's JSON patch: test, then add or remove metadata.finalizers.
            let removes = body
                .as_array()
                .is_some_and(|ops| ops.iter().any(|op| op["op"] == "remove"));
            let mut finalizers = policy["metadata"]["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if removes {
                finalizers.retain(|f| f != FINALIZER);
            } else {
                finalizers.push(json!(FINALIZER));
            }
            policy["metadata"]["finalizers"] = Value::Array(finalizers);
            (200, policy.clone())
        }
        "POST" if path == EVENTS => (201, body.clone()),
        "GET" if path.starts_with(CONFIGMAPS) => match configmaps.get(&name) {
            Some(cm) => (200, cm.clone()),
            None => (404, not_found),
        },
        "PATCH" if path.starts_with(CONFIGMAPS) => {
            configmaps.insert(name, body.clone());
            (200, body.clone())
        }
        "DELETE" if path.starts_with(CONFIGMAPS) => match configmaps.remove(&name) {
            Some(_) => (
                200,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
            ),
            None => (404, not_found),
        },
        "GET" if path.starts_with("/api/v1/namespaces/ns/secrets/") => (404, not_found),
        _ => (404, not_found),
    }
}

/// The operator's context against `client`, the simulator's demo world and a store that
/// holds `policies`.
fn context(client: Client, sim: &SimHandle, policies: &[&SecurityContactPolicy]) -> Arc<Context> {
    let (ctx, mut writer) = listing(client, sim, policies);
    writer.apply_watcher_event(&watcher::Event::InitDone);
    ctx
}

/// Like [`context`], but the store is still being listed: it holds `policies` and is not
/// ready until the returned writer sees `InitDone`.
fn listing(
    client: Client,
    sim: &SimHandle,
    policies: &[&SecurityContactPolicy],
) -> (
    Arc<Context>,
    reflector::store::Writer<SecurityContactPolicy>,
) {
    let trusted = TrustedNamespaces::from_flag(&[], super::fixtures::NAMESPACE);
    listing_with(client, sim, policies, AccessView::fixed(trusted, &[], &[]))
}

/// Like [`context`], with who may use the operator's identity given by `access`.
fn context_with(
    client: Client,
    sim: &SimHandle,
    policies: &[&SecurityContactPolicy],
    access: AccessView,
) -> Arc<Context> {
    let (ctx, mut writer) = listing_with(client, sim, policies, access);
    writer.apply_watcher_event(&watcher::Event::InitDone);
    ctx
}

fn listing_with(
    client: Client,
    sim: &SimHandle,
    policies: &[&SecurityContactPolicy],
    access: AccessView,
) -> (
    Arc<Context>,
    reflector::store::Writer<SecurityContactPolicy>,
) {
    let url = sim.url();
    let target = Target {
        endpoints: Endpoints::with_overrides(Cloud::Public, Some(url.clone()), Some(url)),
        identity: Identity::ClientSecret {
            tenant_id: DEMO_TENANT_ID.into(),
            client_id: DEMO_CLIENT_ID.into(),
            client_secret: DEMO_CLIENT_SECRET.into(),
        },
        extra_ca: Some(sim.ca_pem().as_bytes().to_vec()),
    };
    let metrics = Metrics::register(&mut prometheus_client::registry::Registry::default());
    let azure = Azure::connect(target, Duration::from_secs(10), metrics.arm.clone(), None)
        .expect("connect to the simulator");
    let (reader, mut writer) = reflector::store();
    writer.apply_watcher_event(&watcher::Event::Init);
    for p in policies {
        writer.apply_watcher_event(&watcher::Event::InitApply((*p).clone()));
    }
    (
        Arc::new(Context::new(
            client,
            azure,
            reader,
            access,
            metrics,
            4,
            OPERATOR_NAMESPACE,
        )),
        writer,
    )
}

async fn simulator() -> SimHandle {
    Simulator::start(SimConfig::demo())
        .await
        .expect("simulator")
}

fn puts(sim: &SimHandle) -> u64 {
    sim.state()
        .requests()
        .count("PUT", RouteKind::SecurityContact, None)
}

fn gets(sim: &SimHandle) -> u64 {
    sim.state()
        .requests()
        .count("GET", RouteKind::SecurityContact, None)
}

/// Reconciles `policy` once and returns the requests the API server saw.
async fn pass(
    sim: &SimHandle,
    policy: &SecurityContactPolicy,
) -> (
    ApiServer,
    Result<kube::runtime::controller::Action, crate::Error>,
) {
    let (client, server) = ApiServer::start(policy);
    let ctx = context(client, sim, &[policy]);
    let result = reconcile(Arc::new(policy.clone()), ctx).await;
    (server, result)
}

fn status_of(seen: &Seen) -> crate::crd::SecurityContactPolicyStatus {
    serde_json::from_value(seen.body["status"].clone()).expect("status body")
}

/// The status of the last status patch the server saw.
fn last_status(server: &ApiServer) -> crate::crd::SecurityContactPolicyStatus {
    let seen = server.seen();
    let patch = seen
        .iter()
        .rev()
        .find(|s| s.path.ends_with("/status"))
        .expect("a status patch");
    status_of(patch)
}

fn condition<'a>(
    status: &'a crate::crd::SecurityContactPolicyStatus,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

#[tokio::test]
async fn the_finalizer_is_added_first_and_nothing_else_happens() {
    let sim = simulator().await;
    let policy = PolicyBuilder::new("p")
        .subscriptions(&[DEMO_SUB_CONTACT_MISSING])
        .build();
    let (server, result) = pass(&sim, &policy).await;
    result.expect("reconcile");
    let seen = server.seen();
    assert_eq!(server.lines(), [format!("PATCH {POLICIES}/p")]);
    let ops = seen[0].body.as_array().expect("a JSON patch");
    assert!(
        ops.iter()
            .any(|op| op["op"] == "add" && op["path"].as_str().unwrap().contains("finalizers")),
        "{ops:?}"
    );
    assert_eq!(
        gets(&sim) + puts(&sim),
        0,
        "no Azure call before the finalizer"
    );
}

#[tokio::test]
async fn a_new_generation_writes_progressing_once_then_the_verdict() {
    let sim = simulator().await;
    let policy = PolicyBuilder::new("p")
        .subscriptions(&[DEMO_SUB_CONTACT_MISSING])
        .generation(3)
        .finalized()
        .build();
    let (server, result) = pass(&sim, &policy).await;
    result.expect("reconcile");
    assert_eq!(
        server.lines(),
        [
            format!("PATCH {POLICIES}/p/status"),
            format!("PATCH {POLICIES}/p/status"),
            format!("POST {EVENTS}"),
            format!("POST {EVENTS}"),
        ]
    );
    let seen = server.seen();
    let progressing = status_of(&seen[0]);
    let reconciling = condition(&progressing, "Reconciling").expect("Reconciling");
    assert_eq!(
        (reconciling.status.as_str(), reconciling.reason.as_str()),
        ("True", "Progressing")
    );
    assert_eq!(progressing.observed_generation, Some(3));
    let done = status_of(&seen[1]);
    assert_eq!(condition(&done, "Ready").unwrap().status, "True");
    assert!(condition(&done, "Reconciling").is_none());
    assert_eq!(done.observed_generation, Some(3));
    // SSA under one field manager, forced.
    assert_eq!(seen[1].body["kind"], "SecurityContactPolicy");
    let reasons: Vec<&str> = seen[2..]
        .iter()
        .map(|s| s.body["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["Remediated", "Compliant"]);
    assert!(
        seen[2].body["note"]
            .as_str()
            .unwrap()
            .contains(&format!("{DEMO_SUB_CONTACT_MISSING} created")),
        "{}",
        seen[2].body["note"]
    );
    assert_eq!(puts(&sim), 1);
}

#[tokio::test]
async fn steady_state_makes_no_kubernetes_request_at_all() {
    let sim = simulator().await;
    let first = PolicyBuilder::new("p")
        .subscriptions(&[DEMO_SUB_COMPLIANT])
        .emails(&["security@contoso.com"])
        .finalized()
        .build();
    let (server, result) = pass(&sim, &first).await;
    result.expect("first pass");
    let status = last_status(&server);

    let steady = PolicyBuilder::new("p")
        .subscriptions(&[DEMO_SUB_COMPLIANT])
        .emails(&["security@contoso.com"])
        .finalized()
        .status(status)
        .build();
    sim.state().reset_requests();
    let (server, result) = pass(&sim, &steady).await;
    result.expect("steady pass");
    assert_eq!(
        server.lines(),
        Vec::<String>::new(),
        "no status patch, no Event"
    );
    assert_eq!((gets(&sim), puts(&sim)), (1, 0), "one GET, no PUT");
}

#[tokio::test]
async fn a_repaired_drift_is_one_event_and_one_status_write_naming_it() {
    let sim = simulator().await;
    let policy = |status| {
        let b = PolicyBuilder::new("p")
            .subscriptions(&[DEMO_SUB_COMPLIANT])
            .emails(&["security@contoso.com"])
            .finalized();
        match status {
            Some(s) => b.status(s).build(),
            None => b.build(),
        }
    };
    let (server, _) = pass(&sim, &policy(None)).await;
    let status = last_status(&server);

    // A person disables the contact in the portal; the next pass repairs it.
    sim.state()
        .set_contact(
            DEMO_SUB_COMPLIANT,
            json!({"emails": "security@contoso.com", "isEnabled": false}),
        )
        .unwrap();
    let (server, result) = pass(&sim, &policy(Some(status))).await;
    result.expect("repair pass");
    // One status write, recording what was restored (status.lastRestore), and one Event.
    assert_eq!(
        server.lines(),
        [
            format!("PATCH {POLICIES}/p/status"),
            format!("POST {EVENTS}")
        ]
    );
    let restored = status_of(&server.seen()[0]);
    assert_eq!(
        restored.last_restore.expect("lastRestore").subscription_id,
        DEMO_SUB_COMPLIANT
    );
    assert_eq!(server.seen()[1].body["reason"], "Remediated");
    // The next pass finds it compliant: no request at all.
    let (server, _) = pass(&sim, &policy(Some(restored_status(&server)))).await;
    assert!(server.lines().is_empty(), "{:?}", server.lines());
}

fn restored_status(server: &ApiServer) -> crate::crd::SecurityContactPolicyStatus {
    last_status(server)
}

#[tokio::test]
async fn the_revert_ledger_is_written_only_after_a_successful_put() {
    let sim = simulator().await;
    // The read-only subscription answers the PUT with 403: nothing was added, nothing recorded.
    let policy = PolicyBuilder::new("p")
        .subscriptions(&[DEMO_SUB_CONTACT_MISSING, DEMO_SUB_READ_ONLY])
        .revert()
        .finalized()
        .status(Default::default())
        .generation(1)
        .build();
    let mut policy = policy;
    policy.status.as_mut().unwrap().observed_generation = Some(1);
    let (server, result) = pass(&sim, &policy).await;
    result.expect("reconcile");
    let ledger = format!("{CONFIGMAPS}/{}", ledger::name(&policy));
    let lines = server.lines();
    assert_eq!(
        lines[..2],
        [format!("GET {ledger}"), format!("PATCH {ledger}")],
        "{lines:#?}"
    );
    assert!(
        lines[2..].iter().all(|l| !l.contains(CONFIGMAPS)),
        "{lines:#?}"
    );
    let recorded = server.seen()[1].body["data"]["ledger.json"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(recorded.contains("secops@contoso.com"), "{recorded}");
    assert!(recorded.contains(DEMO_SUB_CONTACT_MISSING), "{recorded}");
    assert!(!recorded.contains(DEMO_SUB_READ_ONLY), "{recorded}");

    // When every PUT fails, the ledger is read (to forget what is gone) but never written.
    let sim = simulator().await;
    let policy = PolicyBuilder::new("q")
        .subscriptions(&[DEMO_SUB_READ_ONLY])
        .revert()
        .finalized()
        .build();
    let (server, _) = pass(&sim, &policy).await;
    assert!(
        !server
            .lines()
            .iter()
            .any(|l| l.starts_with("PATCH") && l.contains(CONFIGMAPS)),
        "{:#?}",
        server.lines()
    );
}

/// Two policies on one subscription: an older Additive one, and a newer Exact one that it
/// holds back.
fn older_additive_and_newer_exact() -> (SecurityContactPolicy, SecurityContactPolicy) {
    let old = PolicyBuilder::new("old")
        .subscriptions(&[DEMO_SUB_COMPLIANT])
        .emails(&["security@contoso.com"])
        .finalized()
        .build();
    let new = PolicyBuilder::new("new")
        .created(10)
        .subscriptions(&[DEMO_SUB_COMPLIANT])
        .emails(&["only@contoso.com"])
        .exact()
        .finalized()
        .build();
    (old, new)
}

#[tokio::test]
async fn a_blocked_policy_makes_no_azure_call() {
    let sim = simulator().await;
    let (old, new) = older_additive_and_newer_exact();
    let (client, server) = ApiServer::start(&new);
    let ctx = context(client, &sim, &[&old, &new]);
    reconcile(Arc::new(new.clone()), ctx)
        .await
        .expect("a conflict is a verdict, not an error");
    assert_eq!(sim.state().requests().total, 0, "no token, no GET, no PUT");
    let last = last_status(&server);
    let stalled = condition(&last, "Stalled").expect("Stalled");
    assert_eq!(stalled.reason, "Conflict");
    assert!(stalled.message.contains("ns/old"), "{}", stalled.message);
}

#[tokio::test]
async fn no_decision_before_every_policy_is_known() {
    // After a restart the watch lists the newer Exact policy first; the older Additive one it
    // conflicts with is still to come. The newer one must not write in between.
    let sim = simulator().await;
    let (old, new) = older_additive_and_newer_exact();
    let (client, server) = ApiServer::start(&new);
    let (ctx, mut writer) = listing(client, &sim, &[&new]);
    let pass = tokio::spawn(reconcile(Arc::new(new.clone()), ctx));
    for _ in 0..20 {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!pass.is_finished(), "the pass waits for the cache");
    assert_eq!(sim.state().requests().total, 0);
    assert!(server.lines().is_empty());

    writer.apply_watcher_event(&watcher::Event::InitApply(old));
    writer.apply_watcher_event(&watcher::Event::InitDone);
    pass.await.unwrap().expect("a conflict is a verdict");
    assert_eq!(puts(&sim), 0, "the newer Exact policy never wrote");
    let stalled = last_status(&server);
    assert_eq!(condition(&stalled, "Stalled").unwrap().reason, "Conflict");
}

/// A ledger ConfigMap saying `policy` added `addresses` to `subscription`.
fn ledger_of(
    policy: &SecurityContactPolicy,
    subscription: &str,
    addresses: &[&str],
) -> serde_json::Map<String, Value> {
    let mut l = ledger::Ledger::default();
    let addresses: Vec<String> = addresses.iter().map(|a| (*a).to_owned()).collect();
    l.record(subscription, &addresses);
    let data = serde_json::to_string(&l).unwrap();
    let mut map = serde_json::Map::new();
    map.insert(ledger::name(policy), json!({"data": {"ledger.json": data}}));
    map
}

fn emails_on(sim: &SimHandle, subscription: &str) -> String {
    sim.state().contact(subscription).unwrap().unwrap()["emails"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn deleting_revert_policy(name: &str) -> PolicyBuilder {
    PolicyBuilder::new(name)
        .subscriptions(&[DEMO_SUB_COMPLIANT])
        .revert()
        .finalized()
        .deleting()
}

#[tokio::test]
async fn revert_under_a_token_outage_keeps_everything_then_removes_exactly_ours() {
    let sim = simulator().await;
    sim.state()
        .set_contact(
            DEMO_SUB_COMPLIANT,
            json!({"emails": "security@contoso.com;secops@contoso.com", "isEnabled": true}),
        )
        .unwrap();
    let policy = deleting_revert_policy("p").build();
    let ledger_cm = ledger_of(&policy, DEMO_SUB_COMPLIANT, &["secops@contoso.com"]);
    let ledger_path = format!("{CONFIGMAPS}/{}", ledger::name(&policy));

    // Entra is down: nothing is dropped, the finalizer stays, the policy says why.
    sim.state()
        .set_faults(azure_sim::FaultConfig {
            seed: Some(1),
            rules: vec![azure_sim::FaultRule {
                route: Some(RouteKind::Token),
                error_rate: 1.0,
                ..Default::default()
            }],
        })
        .unwrap();
    let (client, server) = ApiServer::with_configmaps(&policy, ledger_cm.clone());
    let ctx = context(client, &sim, &[&policy]);
    let error = reconcile(Arc::new(policy.clone()), ctx)
        .await
        .expect_err("Revert must be retried");
    assert!(
        error
            .to_string()
            .contains("the token endpoint is unavailable"),
        "{error}"
    );
    let lines = server.lines();
    assert!(
        !lines.contains(&format!("DELETE {ledger_path}")),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l == &format!("PATCH {POLICIES}/p")),
        "the finalizer stays: {lines:#?}"
    );
    let status = last_status(&server);
    let reconciling = condition(&status, "Reconciling").expect("Reconciling");
    assert_eq!(reconciling.reason, "TokenEndpointUnavailable");
    assert_eq!(gets(&sim), 0);

    // Entra is back: exactly our address comes off, then the ledger and the finalizer go.
    sim.state().clear_faults();
    let (client, server) = ApiServer::with_configmaps(&policy, ledger_cm);
    let ctx = context(client, &sim, &[&policy]);
    reconcile(Arc::new(policy.clone()), ctx)
        .await
        .expect("Revert completes");
    assert_eq!(emails_on(&sim, DEMO_SUB_COMPLIANT), "security@contoso.com");
    let lines = server.lines();
    assert!(
        lines.contains(&format!("DELETE {ledger_path}")),
        "{lines:#?}"
    );
    assert_eq!(
        lines.last().unwrap(),
        &format!("PATCH {POLICIES}/p"),
        "finalizer last"
    );
    let reverted = server
        .seen()
        .into_iter()
        .find(|s| s.body["reason"] == "Reverted")
        .expect("a Reverted event");
    let note = reverted.body["note"].as_str().unwrap().to_owned();
    assert!(note.contains("removed secops@contoso.com"), "{note}");
}

#[tokio::test]
async fn revert_without_credentials_is_stalled_with_the_way_out_until_a_person_takes_it() {
    let sim = simulator().await;
    let policy = deleting_revert_policy("p").secret("gone").build();
    let ledger_cm = ledger_of(&policy, DEMO_SUB_COMPLIANT, &["secops@contoso.com"]);
    let ledger_path = format!("{CONFIGMAPS}/{}", ledger::name(&policy));

    let (client, server) = ApiServer::with_configmaps(&policy, ledger_cm.clone());
    let ctx = context(client, &sim, &[&policy]);
    reconcile(Arc::new(policy.clone()), ctx)
        .await
        .expect_err("the finalizer stays while a person must act");
    let status = last_status(&server);
    let stalled = condition(&status, "Stalled").expect("Stalled");
    assert_eq!(stalled.reason, "CredentialsInvalid");
    assert!(
        stalled.message.contains("Secret ns/gone not found"),
        "{}",
        stalled.message
    );
    let way_out =
        "kubectl annotate securitycontactpolicy p -n ns securitycontact.dev/finish-as-orphan=true";
    assert!(stalled.message.contains(way_out), "{}", stalled.message);
    assert!(!server.lines().contains(&format!("DELETE {ledger_path}")));

    // The person annotates: deletion finishes as Orphan, without a single Azure call.
    let annotated = deleting_revert_policy("p")
        .secret("gone")
        .annotate(super::FINISH_AS_ORPHAN, "true")
        .build();
    let (client, server) = ApiServer::with_configmaps(&annotated, ledger_cm);
    let ctx = context(client, &sim, &[&annotated]);
    reconcile(Arc::new(annotated), ctx).await.expect("finished");
    let lines = server.lines();
    assert!(
        lines.contains(&format!("DELETE {ledger_path}")),
        "{lines:#?}"
    );
    assert_eq!(lines.last().unwrap(), &format!("PATCH {POLICIES}/p"));
    assert!(
        server
            .seen()
            .iter()
            .any(|s| s.body["reason"] == "RevertAbandoned")
    );
    assert_eq!(sim.state().requests().total, 0);
}

#[tokio::test]
async fn an_unreadable_ledger_is_stalled_not_silently_dropped() {
    let sim = simulator().await;
    let policy = deleting_revert_policy("p").build();
    let mut cm = serde_json::Map::new();
    cm.insert(
        ledger::name(&policy),
        json!({"data": {"ledger.json": "{not json"}}),
    );
    let (client, server) = ApiServer::with_configmaps(&policy, cm);
    let ctx = context(client, &sim, &[&policy]);
    reconcile(Arc::new(policy.clone()), ctx)
        .await
        .expect_err("stays");
    let status = last_status(&server);
    let stalled = condition(&status, "Stalled").expect("Stalled");
    assert_eq!(stalled.reason, "LedgerUnreadable");
    assert!(
        stalled.message.contains("finish-as-orphan=true"),
        "{}",
        stalled.message
    );
    assert!(
        !server.lines().iter().any(|l| l.starts_with("DELETE")),
        "{:#?}",
        server.lines()
    );
}

#[tokio::test]
async fn revert_deletes_a_contact_it_created_and_that_holds_nothing_else() {
    let sim = simulator().await;
    let policy = PolicyBuilder::new("p")
        .subscriptions(&[DEMO_SUB_CONTACT_MISSING])
        .revert()
        .finalized()
        .build();
    // A pass creates the contact and records that it did.
    let (client, server) = ApiServer::start(&policy);
    let ctx = context(client, &sim, &[&policy]);
    reconcile(Arc::new(policy.clone()), ctx).await.unwrap();
    let recorded = server
        .seen()
        .into_iter()
        .find(|s| s.method == "PATCH" && s.path.starts_with(CONFIGMAPS))
        .expect("ledger written");
    let data = recorded.body["data"]["ledger.json"].as_str().unwrap();
    assert!(data.contains("created"), "{data}");
    let mut cms = serde_json::Map::new();
    cms.insert(ledger::name(&policy), recorded.body.clone());

    let deleting = PolicyBuilder::new("p")
        .subscriptions(&[DEMO_SUB_CONTACT_MISSING])
        .revert()
        .finalized()
        .deleting()
        .build();
    let (client, _server) = ApiServer::with_configmaps(&deleting, cms);
    let ctx = context(client, &sim, &[&deleting]);
    reconcile(Arc::new(deleting), ctx).await.unwrap();
    assert_eq!(sim.state().contact(DEMO_SUB_CONTACT_MISSING).unwrap(), None);
}

/// The operator's side of "a person's edit during a 429 wait survives": the sweep waits out
/// Retry-After, then plans again from a fresh read.
#[tokio::test]
async fn a_person_s_edit_during_a_429_wait_survives_the_operator_s_retry() {
    let sim = Arc::new(simulator().await);
    let sub = azure_sim::DEMO_SUB_PORTAL_EDITED;
    sim.state()
        .set_faults(azure_sim::FaultConfig {
            seed: Some(4),
            rules: vec![azure_sim::FaultRule {
                subscription: Some(sub.into()),
                method: Some("PUT".into()),
                route: Some(RouteKind::SecurityContact),
                storm: Some(azure_sim::Storm {
                    requests: Some(1),
                    seconds: None,
                    retry_after_secs: 2,
                    retry_after_ms: None,
                }),
                ..Default::default()
            }],
        })
        .unwrap();
    let (client, _server) = ApiServer::start(&PolicyBuilder::new("p").build());
    let ctx = context(client, &sim, &[]);
    let spec = crate::testing::spec(&[sub], &["secops@contoso.com"]);
    let person = {
        let sim = sim.clone();
        tokio::spawn(async move {
            while sim
                .state()
                .requests()
                .matching(|c| c.method == "PUT" && c.status == 429)
                == 0
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let mut contact = sim.state().contact(sub).unwrap().unwrap();
            contact["emails"] = json!(format!(
                "{};newhire@contoso.com",
                contact["emails"].as_str().unwrap()
            ));
            sim.state().set_contact(sub, contact).unwrap();
        })
    };
    let swept = super::sweep::sweep(
        &ctx.azure.arm,
        "ns/p",
        &spec,
        &ctx.desk,
        super::sweep::Freshness::FRESH,
        4,
        &ctx.stop_writing,
    )
    .await;
    person.await.unwrap();
    assert_eq!(
        swept.results[0].verdict,
        crate::outcome::Verdict::Remediated
    );
    let emails = emails_on(&sim, sub);
    for kept in [
        "newhire@contoso.com",
        "mallory@fabrikam.example",
        "secops@contoso.com",
    ] {
        assert!(emails.contains(kept), "{kept} lost: {emails}");
    }
}

/// The operator trusts only its own namespace; `ns` (the policies') gets what `accesses` say.
fn tenancy(accesses: &[SecurityContactAccess]) -> AccessView {
    AccessView::fixed(
        TrustedNamespaces::from_flag(&[], OPERATOR_NAMESPACE),
        accesses,
        &[(super::fixtures::NAMESPACE, &[("team", "a")])],
    )
}

fn access_to(subscription: &str) -> SecurityContactAccess {
    SecurityContactAccess::new(
        "team-a-additive",
        SecurityContactAccessSpec {
            namespaces: NamespaceSelection {
                names: None,
                selector: Some(
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
                        match_labels: Some([("team".to_owned(), "a".to_owned())].into()),
                        ..Default::default()
                    },
                ),
            },
            subscriptions: vec![subscription.to_owned()],
            management_groups: Vec::new(),
            tenant_contacts: false,
            modes: vec![crate::crd::Mode::Audit, crate::crd::Mode::Enforce],
            email_merges: vec![crate::crd::EmailMerge::Additive],
            deletion_policies: vec![crate::crd::DeletionPolicy::Orphan],
        },
    )
}

#[tokio::test]
async fn a_namespace_without_access_is_stalled_not_allowed_and_azure_is_never_called() {
    let sim = simulator().await;
    for policy in [
        PolicyBuilder::new("p")
            .subscriptions(&[DEMO_SUB_COMPLIANT])
            .mode(crate::crd::Mode::Audit)
            .exact()
            .finalized()
            .build(),
        PolicyBuilder::new("p")
            .subscriptions(&[DEMO_SUB_COMPLIANT])
            .exact()
            .finalized()
            .build(),
    ] {
        let (client, server) = ApiServer::start(&policy);
        let ctx = context_with(client, &sim, &[&policy], tenancy(&[]));
        reconcile(Arc::new(policy.clone()), ctx)
            .await
            .expect("NotAllowed is a verdict, not an error");
        let status = last_status(&server);
        let stalled = condition(&status, "Stalled").expect("Stalled");
        assert_eq!(stalled.reason, "NotAllowed");
        assert!(
            stalled
                .message
                .contains("no SecurityContactAccess lets namespace ns"),
            "{}",
            stalled.message
        );
        let everything =
            serde_json::to_string(&server.seen().iter().map(|s| &s.body).collect::<Vec<_>>())
                .unwrap();
        assert!(
            !everything.contains("@"),
            "no address of the subscription reaches the API server: {everything}"
        );
    }
    assert_eq!(
        sim.state().requests().total,
        0,
        "no token, no GET, no PUT, in Audit as in Enforce"
    );
}

#[tokio::test]
async fn an_access_object_lets_additive_through_and_refuses_exact() {
    let sim = simulator().await;
    let additive = PolicyBuilder::new("p")
        .subscriptions(&[DEMO_SUB_CONTACT_MISSING])
        .finalized()
        .build();
    let (client, server) = ApiServer::start(&additive);
    let grant = access_to(DEMO_SUB_CONTACT_MISSING);
    let ctx = context_with(
        client,
        &sim,
        &[&additive],
        tenancy(std::slice::from_ref(&grant)),
    );
    reconcile(Arc::new(additive), ctx).await.expect("a pass");
    assert_eq!(puts(&sim), 1, "the granted Additive write happened");
    let ready = last_status(&server);
    assert_eq!(condition(&ready, "Ready").unwrap().status, "True");

    let exact = PolicyBuilder::new("p")
        .subscriptions(&[DEMO_SUB_CONTACT_MISSING])
        .exact()
        .finalized()
        .build();
    let requests = sim.state().requests().total;
    let (client, server) = ApiServer::start(&exact);
    let ctx = context_with(client, &sim, &[&exact], tenancy(&[grant]));
    reconcile(Arc::new(exact), ctx).await.expect("a verdict");
    let stalled = last_status(&server);
    let stalled = condition(&stalled, "Stalled").expect("Stalled");
    assert_eq!(stalled.reason, "NotAllowed");
    assert!(
        stalled
            .message
            .contains("team-a-additive allows modes Audit/Enforce, emailMerges Additive"),
        "{}",
        stalled.message
    );
    assert_eq!(sim.state().requests().total, requests, "Exact made no call");
}

#[tokio::test]
async fn revert_without_access_leaves_azure_alone_and_finishes() {
    let sim = simulator().await;
    sim.state()
        .set_contact(
            DEMO_SUB_COMPLIANT,
            json!({"emails": "security@contoso.com;secops@contoso.com", "isEnabled": true}),
        )
        .unwrap();
    let before = emails_on(&sim, DEMO_SUB_COMPLIANT);
    let policy = deleting_revert_policy("p").build();
    let ledger_cm = ledger_of(&policy, DEMO_SUB_COMPLIANT, &["secops@contoso.com"]);
    let (client, server) = ApiServer::with_configmaps(&policy, ledger_cm);
    // The access that allowed it is gone (only Orphan is granted now).
    let ctx = context_with(
        client,
        &sim,
        &[&policy],
        tenancy(&[access_to(DEMO_SUB_COMPLIANT)]),
    );
    reconcile(Arc::new(policy.clone()), ctx)
        .await
        .expect("finished");
    assert_eq!(sim.state().requests().total, 0, "Revert never touched it");
    assert_eq!(emails_on(&sim, DEMO_SUB_COMPLIANT), before);
    let lines = server.lines();
    assert!(
        lines.contains(&format!("DELETE {CONFIGMAPS}/{}", ledger::name(&policy))),
        "{lines:#?}"
    );
    assert!(
        server
            .seen()
            .iter()
            .any(|s| s.body["reason"] == "RevertSkipped"
                && s.body["note"]
                    .as_str()
                    .unwrap()
                    .contains("no SecurityContactAccess")),
        "a RevertSkipped event says why"
    );
}

#[tokio::test]
async fn a_not_allowed_policy_s_wishes_do_not_keep_addresses_on_revert() {
    // `other` (not allowed) also requires secops@contoso.com; Revert removes it anyway.
    let sim = simulator().await;
    sim.state()
        .set_contact(
            DEMO_SUB_COMPLIANT,
            json!({"emails": "security@contoso.com;secops@contoso.com", "isEnabled": true}),
        )
        .unwrap();
    let policy = deleting_revert_policy("p").build();
    let other = PolicyBuilder::new("other")
        .namespace("team-b")
        .subscriptions(&[DEMO_SUB_COMPLIANT])
        .finalized()
        .build();
    let ledger_cm = ledger_of(&policy, DEMO_SUB_COMPLIANT, &["secops@contoso.com"]);
    let (client, _server) = ApiServer::with_configmaps(&policy, ledger_cm);
    let ctx = context_with(
        client,
        &sim,
        &[&policy, &other],
        AccessView::fixed(
            TrustedNamespaces::from_flag(&[], super::fixtures::NAMESPACE),
            &[],
            &[],
        ),
    );
    reconcile(Arc::new(policy), ctx).await.expect("finished");
    assert!(
        !emails_on(&sim, DEMO_SUB_COMPLIANT).contains("secops@contoso.com"),
        "team-b may not use the operator's identity, so its wish keeps nothing"
    );
}

//! Our status as its real consumers read it. The policies' objects are captured from the API
//! server in each state the operator produces (Ready, Reconciling, Stalled, Suspended, and a
//! spec the operator has not yet observed), then judged by kstatus
//! (`sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute`) and by Argo CD's own Lua health harness
//! running the chart's `argocd-health.lua`: both from their Go modules, built by
//! `scripts/status-consumers` (tests/consumers). Their verdicts must follow from our conditions.
//!
//! `SCO_BLESS_STATUS_FIXTURES=1` also writes the captured objects, volatile fields stripped, to
//! `tests/fixtures/status/`, where `go test` in tests/consumers judges them without a cluster.

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use azure_sim::{FaultConfig, FaultRule, RouteKind};
use serde_json::{Value, json};

use crate::support::{Env, world};

const HEALTHY: &str = "e2e00000-0000-0000-0000-0000000000c1";
const THROTTLED: &str = "e2e00000-0000-0000-0000-0000000000c2";
const DRIFTED: &str = "e2e00000-0000-0000-0000-0000000000c3";

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The consumers binary, built (or found in the cache) once per test process.
fn consumers_bin() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new(format!("{REPO}/scripts/status-consumers"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/status-consumers");
        assert!(
            out.status.success(),
            "scripts/status-consumers failed (see stderr above)"
        );
        let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        assert!(path.is_file(), "no binary at {}", path.display());
        path
    })
}

/// kstatus's and Argo CD's verdicts on one object, as the consumers binary prints them.
#[derive(Debug)]
struct Verdicts {
    kstatus: (String, String),
    argocd: (String, String),
}

fn judge(object: &Value) -> Verdicts {
    let mut child = Command::new(consumers_bin())
        .args([
            "--health-lua",
            &format!("{REPO}/charts/security-contact-operator/argocd-health.lua"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the consumers binary");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(object).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "consumers binary: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one object in, one verdict out: {stdout}");
    let line: Value = serde_json::from_str(lines[0]).unwrap();
    for who in ["kstatus", "argocd"] {
        assert!(
            line[who].get("error").is_none(),
            "{who} could not judge the object: {line}\n{object:#}"
        );
    }
    let pair = |who: &str| {
        (
            line[who]["status"].as_str().unwrap().to_owned(),
            line[who]["message"].as_str().unwrap().to_owned(),
        )
    };
    Verdicts {
        kstatus: pair("kstatus"),
        argocd: pair("argocd"),
    }
}

/// The policy exactly as the API server returns it (raw JSON, not through our Rust types,
/// which could drop or add fields the consumers would see).
async fn get_raw(env: &Env, name: &str) -> Value {
    let request = http::Request::get(format!(
        "/apis/securitycontact.dev/v1alpha1/namespaces/{}/securitycontactpolicies/{name}",
        env.ns
    ))
    .body(Vec::new())
    .unwrap();
    let text = env
        .client
        .request_text(request)
        .await
        .unwrap_or_else(|e| panic!("GET {name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn conditions(object: &Value) -> &[Value] {
    object["status"]["conditions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn find<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    conditions(object).iter().find(|c| c["type"] == type_)
}

fn is_true(object: &Value, type_: &str) -> bool {
    find(object, type_).is_some_and(|c| c["status"] == "True")
}

fn observed(object: &Value) -> bool {
    object["status"]["observedGeneration"] == object["metadata"]["generation"]
}

/// Polls the raw object until `check` holds, returning that very capture.
async fn capture(env: &Env, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let object = get_raw(env, name).await;
        if check(&object) {
            return object;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {name} to be {what}; last seen:\n{:#}",
            object["status"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What both consumers must say, derived from our own conditions only (the contract the
/// status module promises: src/controller/status.rs and the chart's health script header).
fn expected(object: &Value) -> ((&'static str, String), (&'static str, String)) {
    let message = |type_: &str| {
        find(object, type_).unwrap()["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    if !observed(object) {
        // Both consumers only know the spec moved on; their messages name the generation.
        let generation = object["metadata"]["generation"].as_i64().unwrap();
        return (
            ("InProgress", format!("generation is {generation}")),
            ("Progressing", format!("generation {generation}")),
        );
    }
    if is_true(object, "Stalled") {
        let m = message("Stalled");
        return (("Failed", m.clone()), ("Degraded", m));
    }
    if is_true(object, "Reconciling") {
        let m = message("Reconciling");
        return (("InProgress", m.clone()), ("Progressing", m));
    }
    let ready = find(object, "Ready").expect("Ready is always present");
    if ready["reason"] == "Suspended" {
        // kstatus knows no suspension: a Ready=False condition is InProgress to it, with the
        // condition's message.
        let m = message("Ready");
        return (("InProgress", m.clone()), ("Suspended", m));
    }
    assert_eq!(ready["status"], "True", "no other state is expected here");
    (
        ("Current", "Resource is Ready".to_owned()),
        ("Healthy", message("Ready")),
    )
}

/// Judges `object` and checks both verdicts against our conditions; returns them.
fn assert_consumers_agree(state: &str, object: &Value) -> Verdicts {
    let verdicts = judge(object);
    let ((k_status, k_message), (a_status, a_message)) = expected(object);
    eprintln!(
        "consumers: {state}: kstatus {:?}, Argo CD {:?}",
        verdicts.kstatus, verdicts.argocd
    );
    let context = || format!("{state}: {verdicts:?}\nobject: {object:#}");
    assert_eq!(
        verdicts.kstatus.0,
        k_status,
        "kstatus status, {}",
        context()
    );
    assert!(
        verdicts.kstatus.1.contains(&k_message),
        "kstatus message should contain {k_message:?}, {}",
        context()
    );
    assert_eq!(verdicts.argocd.0, a_status, "Argo CD status, {}", context());
    assert!(
        verdicts.argocd.1.contains(&a_message),
        "Argo CD message should contain {a_message:?}, {}",
        context()
    );
    bless(state, object);
    verdicts
}

/// With SCO_BLESS_STATUS_FIXTURES=1, saves the capture without what changes from run to run.
fn bless(state: &str, object: &Value) {
    if std::env::var_os("SCO_BLESS_STATUS_FIXTURES").is_none_or(|v| v != "1") {
        return;
    }
    let mut object = object.clone();
    let metadata = object["metadata"].as_object_mut().unwrap();
    for volatile in [
        "uid",
        "resourceVersion",
        "managedFields",
        "creationTimestamp",
    ] {
        metadata.remove(volatile);
    }
    // The test namespace has a random suffix.
    metadata.insert("namespace".into(), json!("consumers"));
    if let Some(conditions) = object["status"]["conditions"].as_array_mut() {
        for c in conditions {
            c["lastTransitionTime"] = json!("2026-01-01T00:00:00Z");
        }
    }
    let dir = PathBuf::from(format!("{REPO}/tests/fixtures/status"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = serde_json::to_string_pretty(&object).unwrap();
    text.push('\n');
    std::fs::write(dir.join(format!("{state}.json")), text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs kube-apiserver + etcd: run through scripts/test"]
async fn kstatus_and_argocd_read_our_status_as_our_conditions_say() {
    // Build (or find) the consumers before the clock of any wait starts.
    tokio::task::spawn_blocking(consumers_bin).await.unwrap();
    let env = Env::new(
        "consumers",
        world(&[
            (HEALTHY, None),
            (THROTTLED, None),
            (
                DRIFTED,
                Some(json!({"emails": "someone@contoso.com", "isEnabled": true})),
            ),
        ]),
    )
    .await;
    // Every security-contact call for THROTTLED answers 500/503 until the faults are cleared:
    // the operator keeps retrying, so the policy stays Reconciling long enough to capture.
    env.sim
        .state()
        .set_faults(FaultConfig {
            seed: Some(7),
            rules: vec![FaultRule {
                subscription: Some(THROTTLED.into()),
                route: Some(RouteKind::SecurityContact),
                error_rate: 1.0,
                ..Default::default()
            }],
        })
        .unwrap();

    let emails = json!({"emails": ["secops@contoso.com"]});
    env.apply(
        "healthy",
        json!({"subscriptions": [HEALTHY], "interval": "5s", "contact": emails}),
    )
    .await;
    env.apply(
        "progressing",
        json!({"subscriptions": [THROTTLED], "interval": "5s", "contact": emails}),
    )
    .await;
    env.apply(
        "degraded",
        json!({"mode": "Audit", "subscriptions": [DRIFTED], "contact": emails}),
    )
    .await;
    env.apply(
        "suspended",
        json!({"suspend": true, "subscriptions": [HEALTHY], "contact": emails}),
    )
    .await;

    let healthy = capture(&env, "healthy", "Ready=True", |o| {
        observed(o) && find(o, "Ready").is_some_and(|c| c["status"] == "True")
    })
    .await;
    let v = assert_consumers_agree("healthy", &healthy);
    assert_eq!(
        (v.kstatus.0.as_str(), v.argocd.0.as_str()),
        ("Current", "Healthy")
    );

    let progressing = capture(&env, "progressing", "Reconciling=True", |o| {
        observed(o) && is_true(o, "Reconciling")
    })
    .await;
    let v = assert_consumers_agree("progressing", &progressing);
    assert_eq!(
        (v.kstatus.0.as_str(), v.argocd.0.as_str()),
        ("InProgress", "Progressing")
    );

    // Once ARM's retries are spent the pass ends on a transient failure: still Reconciling,
    // now with the failure's reason and message, until ARM answers again.
    let retrying = capture(&env, "progressing", "Reconciling=True on a failure", |o| {
        observed(o)
            && find(o, "Reconciling")
                .is_some_and(|c| c["status"] == "True" && c["reason"] != "Progressing")
    })
    .await;
    let v = assert_consumers_agree("retrying", &retrying);
    assert_eq!(
        (v.kstatus.0.as_str(), v.argocd.0.as_str()),
        ("InProgress", "Progressing")
    );

    let degraded = capture(&env, "degraded", "Stalled=True", |o| {
        observed(o) && is_true(o, "Stalled")
    })
    .await;
    let v = assert_consumers_agree("degraded", &degraded);
    assert_eq!(
        (v.kstatus.0.as_str(), v.argocd.0.as_str()),
        ("Failed", "Degraded")
    );

    let suspended = capture(&env, "suspended", "Ready=False (Suspended)", |o| {
        observed(o) && find(o, "Ready").is_some_and(|c| c["reason"] == "Suspended")
    })
    .await;
    let v = assert_consumers_agree("suspended", &suspended);
    assert_eq!(v.argocd.0, "Suspended");

    // A spec edit: the PATCH response is the object right after the write, before the
    // operator can have looked at it, so it deterministically shows a status one generation
    // behind (observedGeneration < generation) under conditions that still say Ready=True.
    let request = http::Request::patch(format!(
        "/apis/securitycontact.dev/v1alpha1/namespaces/{}/securitycontactpolicies/healthy?fieldManager=e2e-test&force=true",
        env.ns
    ))
    .header("content-type", "application/apply-patch+yaml")
    .body(
        serde_json::to_vec(&json!({
            "apiVersion": "securitycontact.dev/v1alpha1",
            "kind": "SecurityContactPolicy",
            "metadata": {"name": "healthy"},
            "spec": {"subscriptions": [HEALTHY], "interval": "5s",
                     "contact": {"emails": ["secops@contoso.com", "soc@contoso.com"]}},
        }))
        .unwrap(),
    )
    .unwrap();
    let behind: Value =
        serde_json::from_str(&env.client.request_text(request).await.unwrap()).unwrap();
    assert!(
        !observed(&behind) && find(&behind, "Ready").is_some_and(|c| c["status"] == "True"),
        "the PATCH response should still carry the previous generation's Ready=True: {behind:#}"
    );
    let v = assert_consumers_agree("behind", &behind);
    assert_eq!(
        (v.kstatus.0.as_str(), v.argocd.0.as_str()),
        ("InProgress", "Progressing")
    );

    // The throttled policy converges once ARM answers again, and both consumers follow.
    env.sim.state().clear_faults();
    let recovered = capture(&env, "progressing", "Ready=True after the faults", |o| {
        observed(o) && find(o, "Ready").is_some_and(|c| c["status"] == "True")
    })
    .await;
    let v = assert_consumers_agree("recovered", &recovered);
    assert_eq!(
        (v.kstatus.0.as_str(), v.argocd.0.as_str()),
        ("Current", "Healthy")
    );
}

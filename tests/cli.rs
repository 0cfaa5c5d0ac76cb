//! The one-shot CLI as a user runs it: the real binary, real HTTPS, the real azure_identity
//! client-secret flow, against the simulator started here and reached only through the public
//! flags `--arm-endpoint`, `--authority-host` and `--ca-file`.

mod common;

use azure_sim::{
    self as simulator, FaultConfig, FaultRule, RouteKind, SimConfig, Simulator, Storm,
};
use common::{against, gets_and_puts, run, write_policy};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn apply_against_any_arm_endpoint_then_second_apply_is_read_only() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let subs = [
        simulator::DEMO_SUB_PORTAL_EDITED,
        simulator::DEMO_SUB_CONTACT_MISSING,
        simulator::DEMO_SUB_NO_ACCESS,
        simulator::DEMO_SUB_COMPLIANT,
    ];
    write_policy(dir.path(), &subs);
    // ARM throttles the first read of one subscription for 5 s and says so with Retry-After:
    // a client that waits as told gets exactly one 429; one that retries early gets more.
    sim.state()
        .set_faults(FaultConfig {
            seed: Some(7),
            rules: vec![FaultRule {
                subscription: Some(simulator::DEMO_SUB_CONTACT_MISSING.into()),
                method: Some("GET".into()),
                route: Some(RouteKind::SecurityContact),
                storm: Some(Storm {
                    requests: None,
                    seconds: Some(5.0),
                    retry_after_secs: 5,
                    retry_after_ms: None,
                }),
                ..Default::default()
            }],
        })
        .unwrap();

    let first = against(&sim, dir.path(), &["apply"], simulator::DEMO_CLIENT_SECRET).await;
    assert_eq!(
        first.code, 2,
        "a 403 subscription makes the run exit 2\n{}\n{}",
        first.stdout, first.stderr
    );
    let throttled = sim.state().requests().matching(|c| {
        c.status == 429 && c.subscription.as_deref() == Some(simulator::DEMO_SUB_CONTACT_MISSING)
    });
    assert_eq!(throttled, 1, "Retry-After must be waited out, not raced");
    assert!(
        first.stdout.contains("AuthorizationFailed"),
        "{}",
        first.stdout
    );

    // Additive kept the address a person added, normalised ',' to ';' and appended ours.
    let edited = sim
        .state()
        .contact(simulator::DEMO_SUB_PORTAL_EDITED)
        .unwrap()
        .unwrap();
    assert_eq!(
        edited["emails"],
        "security@contoso.com;mallory@fabrikam.example;secops@contoso.com"
    );
    // The missing contact was created (201) with exactly the 2023-12-01-preview body.
    let created = sim
        .state()
        .contact(simulator::DEMO_SUB_CONTACT_MISSING)
        .unwrap()
        .unwrap();
    assert_eq!(
        created,
        json!({
            "emails": "secops@contoso.com",
            "isEnabled": true,
            "notificationsByRole": {"state": "On", "roles": ["Owner"]},
            "notificationsSources": [{"sourceType": "Alert", "minimalSeverity": "High"}]
        })
    );
    assert!(sim.state().requests().with_status(201) >= 1);
    assert!(first.stdout.contains("Created"), "{}", first.stdout);
    // The 403 did not stop the others. A write costs: the check's GET, a fresh GET the PUT is
    // planned from, the PUT, and a GET reading back what ARM holds.
    assert_eq!(gets_and_puts(&sim, simulator::DEMO_SUB_COMPLIANT), (3, 1));

    sim.state().clear_faults();
    sim.state().reset_requests();
    let second = against(&sim, dir.path(), &["apply"], simulator::DEMO_CLIENT_SECRET).await;
    assert_eq!(second.code, 2, "{}", second.stdout);
    for sub in subs {
        assert_eq!(
            gets_and_puts(&sim, sub),
            (1, 0),
            "second apply on {sub}: one GET, no PUT"
        );
    }
    assert!(
        second.stdout.contains("ARM calls: 4 GET, 0 PUT, 0 DELETE"),
        "{}",
        second.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_secret_is_reported_without_the_secret() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_policy(dir.path(), &[simulator::DEMO_SUB_COMPLIANT]);
    let secret = "wrong-Secret-Value-1234567890";
    let out = against(&sim, dir.path(), &["check", "-o", "json"], secret).await;
    assert_eq!(out.code, 2);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON report");
    assert_eq!(
        report["results"][0]["error"]["reason"],
        "CredentialsInvalid"
    );
    assert!(out.stdout.contains("AADSTS7000215"), "{}", out.stdout);
    assert!(
        !out.stdout.contains(secret) && !out.stderr.contains(secret),
        "the secret leaked"
    );
    assert_eq!(
        sim.state()
            .requests()
            .count("GET", RouteKind::SecurityContact, None),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_manifests_are_rejected_before_any_arm_call() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_policy(dir.path(), &["not-a-guid"]);
    std::fs::write(
        dir.path().join("policies/typo.yaml"),
        "apiVersion: securitycontact.dev/v1alpha1\nkind: SecurityContactPolicy\nmetadata: {name: t}\n\
         spec:\n  subscriptions: [10000000-0000-0000-0000-000000000001]\n  contact:\n    emails: [ops@contoso]\n    emailz: []\n",
    )
    .unwrap();
    let out = against(&sim, dir.path(), &["apply"], simulator::DEMO_CLIENT_SECRET).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("secops.yaml (document 1): spec.subscriptions[0]: must be a subscription id (GUID) (got \"not-a-guid\")"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("typo.yaml (document 1): spec.contact.emailz: unknown field `emailz`"),
        "{}",
        out.stderr
    );
    assert_eq!(
        sim.state().requests().matching(|_| true),
        0,
        "nothing may reach ARM"
    );
}

#[test]
fn check_on_the_embedded_simulator_follows_the_exit_codes() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let out = run(&["check", "--azure-sim", "-f", examples], &[]);
    assert_eq!(
        out.code, 1,
        "drift but no error\n{}{}",
        out.stdout, out.stderr
    );
    for expected in [
        "Compliant",
        "NonCompliant",
        "CIS 12-15",
        "CIS 8.1.12, 8.1.13, 8.1.14, 8.1.15 failed: no security contact",
    ] {
        assert!(
            out.stdout.contains(expected),
            "missing {expected:?} in\n{}",
            out.stdout
        );
    }
    let failures = format!("{examples}/failures");
    let out = run(&["check", "--azure-sim", "-f", &failures], &[]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.contains("ProviderNotRegistered"));
}

#[test]
fn crd_subcommand_prints_the_committed_crds() {
    let out = run(&["crd"], &[]);
    assert_eq!(out.code, 0);
    let read = |file: &str| {
        std::fs::read_to_string(format!("{}/crds/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    };
    let committed = format!(
        "{}---\n{}",
        read("securitycontactpolicies.securitycontact.dev.yaml"),
        read("securitycontactaccesses.securitycontact.dev.yaml")
    );
    assert_eq!(out.stdout, committed);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_the_diff_and_writes_nothing() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_policy(
        dir.path(),
        &[
            simulator::DEMO_SUB_PORTAL_EDITED,
            simulator::DEMO_SUB_CONTACT_MISSING,
        ],
    );
    let out = against(
        &sim,
        dir.path(),
        &["apply", "--dry-run"],
        simulator::DEMO_CLIENT_SECRET,
    )
    .await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains(r#"would change emails: (unset) -> "secops@contoso.com""#),
        "{}",
        out.stdout
    );
    assert_eq!(
        sim.state()
            .requests()
            .count("PUT", RouteKind::SecurityContact, None),
        0
    );
    assert!(
        sim.state()
            .contact(simulator::DEMO_SUB_CONTACT_MISSING)
            .unwrap()
            .is_none()
    );
}

/// `audit` through the public endpoint flags, demo identity, no manifest.
async fn audit(sim: &simulator::SimHandle, extra: &[&str]) -> common::Run {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    sim.write_ca(&ca).unwrap();
    let url = sim.url().to_string();
    let ca = ca.display().to_string();
    let mut args = vec![
        "audit",
        "--arm-endpoint",
        &url,
        "--authority-host",
        &url,
        "--ca-file",
        &ca,
    ];
    args.extend(extra);
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(
            &args,
            &[
                ("AZURE_TENANT_ID", simulator::DEMO_TENANT_ID),
                ("AZURE_CLIENT_ID", simulator::DEMO_CLIENT_ID),
                ("AZURE_CLIENT_SECRET", simulator::DEMO_CLIENT_SECRET),
            ],
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_grades_every_visible_subscription_with_no_manifest() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let out = audit(&sim, &["-o", "json"]).await;
    // The demo world has a subscription without Microsoft.Security registered: exit 2.
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let scope = &report["scope"];
    assert_eq!(scope["source"], "all visible subscriptions");
    assert_eq!(scope["skipped"]["Disabled"], 1, "{scope}");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len() as u64, scope["graded"].as_u64().unwrap());
    let verdict = |id: &str| {
        results
            .iter()
            .find(|r| r["subscription"] == id)
            .map(|r| r["verdict"].as_str().unwrap().to_owned())
    };
    assert_eq!(verdict(simulator::DEMO_SUB_COMPLIANT).unwrap(), "Compliant");
    assert_eq!(
        verdict(simulator::DEMO_SUB_CONTACT_MISSING).unwrap(),
        "NonCompliant"
    );
    // One list, one read per graded subscription, nothing written.
    let reads = sim
        .state()
        .requests()
        .count("GET", RouteKind::SecurityContact, None);
    assert_eq!(reads, scope["graded"].as_u64().unwrap());
    // One listing of the visible subscriptions, in as many pages as ARM (here) makes of them.
    let pages = scope["found"]
        .as_u64()
        .unwrap()
        .div_ceil(SimConfig::demo().subscription_page_size as u64);
    assert_eq!(
        sim.state()
            .requests()
            .count("GET", RouteKind::Subscriptions, None),
        pages
    );
    assert_eq!(
        sim.state()
            .requests()
            .count("PUT", RouteKind::SecurityContact, None),
        0
    );

    let table = audit(&sim, &[]).await;
    assert!(
        table.stdout.starts_with(
            "audited 7 of 8 subscriptions (all visible subscriptions); skipped 1 Disabled"
        ),
        "{}",
        table.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tenant_contact_is_checked_then_applied_through_graph() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("policies");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(
        manifests.join("tenant.yaml"),
        format!(
            "apiVersion: securitycontact.dev/v1alpha1
kind: SecurityContactPolicy
metadata: {{name: tenant, namespace: security}}
spec:
  tenantContact:
    tenantId: {}
    securityComplianceNotificationMails: [secops@contoso.com]
  contact:
    emails: [secops@contoso.com]
",
            simulator::DEMO_TENANT_ID
        ),
    )
    .unwrap();
    let url = sim.url().to_string();
    let check = against(
        &sim,
        dir.path(),
        &["check", "--graph-endpoint", &url],
        simulator::DEMO_CLIENT_SECRET,
    )
    .await;
    assert_eq!(check.code, 1, "{}\n{}", check.stdout, check.stderr);
    assert!(
        check.stdout.contains(&format!(
            "security/tenant: tenant contact of {}: NonCompliant securityComplianceNotificationMails missing secops@contoso.com",
            simulator::DEMO_TENANT_ID
        )),
        "{}",
        check.stdout
    );

    let apply = against(
        &sim,
        dir.path(),
        &["apply", "--graph-endpoint", &url],
        simulator::DEMO_CLIENT_SECRET,
    )
    .await;
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert!(
        apply.stdout.contains("Remediated restored"),
        "{}",
        apply.stdout
    );
    let org = sim.state().organization(simulator::DEMO_TENANT_ID).unwrap();
    assert_eq!(
        org["securityComplianceNotificationMails"],
        json!(["secops@contoso.com"])
    );
    // Additive: the technical list was not managed and is as it was.
    assert_eq!(
        org["technicalNotificationMails"],
        json!(["it-admin@contoso.com"])
    );
    let graph = sim
        .state()
        .requests()
        .matching(|c| c.route == RouteKind::GraphOrganization);
    assert_eq!(graph, 1 + 3, "check: GET; apply: GET, PATCH, GET read-back");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_on_the_examples_shows_selector_exclusions_and_the_tenant_contact() {
    let out = run(
        &[
            "check",
            "-f",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples"),
            "--azure-sim",
        ],
        &[],
    );
    assert_eq!(
        out.code, 1,
        "non-compliant examples\n{}\n{}",
        out.stdout, out.stderr
    );
    for line in [
        "security/platform-fleet: subscriptionSelector found 3 subscription(s)",
        "security/platform-fleet: 10000000-0000-0000-0000-000000000002 excluded until 2027-03-31T00:00:00Z: SEC-481",
        "security/platform-fleet: tenant contact of 00000000-0000-0000-0000-0000000000aa: NonCompliant",
    ] {
        assert!(
            out.stdout.contains(line),
            "missing {line:?} in\n{}",
            out.stdout
        );
    }
}

//! The fault suite: ARM and Entra misbehaving the way real ones do, and what must still hold.
//! Every address a person added survives, nothing is created over a contact we could not read,
//! and an outage is never reported as bad credentials. The operator's side of these faults is
//! in `tests/e2e/` and `src/controller/tests.rs`; this file drives the real binary.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use azure_sim::{
    self as simulator, FaultConfig, FaultRule, RouteKind, SimConfig, Simulator, Storm,
};
use common::{against, write_policy};

fn always(route: RouteKind) -> FaultRule {
    FaultRule {
        route: Some(route),
        error_rate: 1.0,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn token_endpoint_down_is_an_outage_reported_within_the_deadline() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let subs = [
        simulator::DEMO_SUB_COMPLIANT,
        simulator::DEMO_SUB_CONTACT_MISSING,
        simulator::DEMO_SUB_PORTAL_EDITED,
    ];
    write_policy(dir.path(), &subs);
    // Entra answers 500/503 AADSTS90033 ("A transient error has occurred") to every request.
    sim.state()
        .set_faults(FaultConfig {
            seed: Some(3),
            rules: vec![always(RouteKind::Token)],
        })
        .unwrap();
    let started = Instant::now();
    let out = against(
        &sim,
        dir.path(),
        &["check", "--token-timeout", "4"],
        simulator::DEMO_CLIENT_SECRET,
    )
    .await;
    let took = started.elapsed();
    println!("{}\n{}\ntook {took:?}", out.stdout, out.stderr);
    assert_eq!(out.code, 2, "an outage is an error");
    assert!(
        !out.stdout.contains("CredentialsInvalid"),
        "an outage is not bad credentials:\n{}",
        out.stdout
    );
    for sub in subs {
        let row = out
            .stdout
            .lines()
            .find(|l| l.contains(sub))
            .unwrap_or_else(|| panic!("no row for {sub}:\n{}", out.stdout));
        assert!(row.contains("TokenEndpointUnavailable"), "{row}");
        assert!(row.contains("AADSTS90033"), "{row}");
        assert!(row.contains("will retry"), "{row}");
    }
    let requests = sim.state().requests();
    let tokens = requests.count("POST", RouteKind::Token, None);
    assert!(
        (2..=6).contains(&tokens),
        "retried within the deadline, one fetch at a time, not one per subscription: {tokens}"
    );
    assert_eq!(
        requests.count("GET", RouteKind::SecurityContact, None),
        0,
        "nothing is read without a token"
    );
    assert!(took < Duration::from_secs(30), "bounded: took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_404_is_not_no_contact_and_creates_nothing() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sub = simulator::DEMO_SUB_PORTAL_EDITED;
    write_policy(dir.path(), &[sub]);
    let before = sim.state().contact(sub).unwrap();
    // A proxy in front of ARM answers the GET with its own HTML 404 page.
    sim.state()
        .set_faults(FaultConfig {
            seed: Some(5),
            rules: vec![FaultRule {
                subscription: Some(sub.into()),
                method: Some("GET".into()),
                gateway_rate: 1.0,
                ..always(RouteKind::SecurityContact)
            }],
        })
        .unwrap();
    let out = against(&sim, dir.path(), &["apply"], simulator::DEMO_CLIENT_SECRET).await;
    println!("{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.code, 2, "{}", out.stdout);
    let row = out.stdout.lines().find(|l| l.contains(sub)).unwrap();
    assert!(row.contains("UnexpectedResponse"), "{row}");
    assert_eq!(
        sim.state()
            .requests()
            .count("PUT", RouteKind::SecurityContact, None),
        0,
        "nothing written over a contact we could not read"
    );
    assert_eq!(
        sim.state().contact(sub).unwrap(),
        before,
        "the contact is untouched"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_s_edit_during_a_429_wait_survives_the_retry() {
    let sim = Arc::new(Simulator::start(SimConfig::demo()).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let sub = simulator::DEMO_SUB_PORTAL_EDITED;
    write_policy(dir.path(), &[sub]);
    // ARM throttles our first PUT and asks for 3 s.
    sim.state()
        .set_faults(FaultConfig {
            seed: Some(9),
            rules: vec![FaultRule {
                subscription: Some(sub.into()),
                method: Some("PUT".into()),
                route: Some(RouteKind::SecurityContact),
                storm: Some(Storm {
                    requests: Some(1),
                    seconds: None,
                    retry_after_secs: 3,
                    retry_after_ms: None,
                }),
                ..Default::default()
            }],
        })
        .unwrap();
    let apply = {
        let dir = dir.path().to_owned();
        let sim = sim.clone();
        tokio::spawn(
            async move { against(&sim, &dir, &["apply"], simulator::DEMO_CLIENT_SECRET).await },
        )
    };
    // While we wait out the Retry-After, a person adds an address in the portal.
    let throttled = || {
        sim.state()
            .requests()
            .matching(|c| c.method == "PUT" && c.status == 429)
    };
    for _ in 0..1000 {
        if throttled() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(throttled(), 1, "the PUT was throttled");
    let mut edited = sim.state().contact(sub).unwrap().unwrap();
    edited["emails"] = format!("{};newhire@contoso.com", edited["emails"].as_str().unwrap()).into();
    sim.state().set_contact(sub, edited).unwrap();

    let out = apply.await.unwrap();
    println!("{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let emails = sim.state().contact(sub).unwrap().unwrap()["emails"]
        .as_str()
        .unwrap()
        .to_owned();
    for kept in [
        "newhire@contoso.com",
        "mallory@fabrikam.example",
        "secops@contoso.com",
    ] {
        assert!(emails.contains(kept), "{kept} lost: {emails}");
    }
}

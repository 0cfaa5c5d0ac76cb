//! The fault suite: ARM and Entra misbehaving the way real ones do, and what must still hold.
//! Every address a person added survives, nothing is created over a contact we could not read,
//! and an outage is never reported as bad credentials. The operator's side of these faults is
//! in `tests/e2e/` and `src/controller/tests.rs`; this file drives the real binary.

mod common;

use std::time::{Duration, Instant};

use azure_sim::{self as simulator, FaultConfig, FaultRule, RouteKind, SimConfig, Simulator};
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

//! The soak: a policy's passes against an ARM that fails 30 % of contact requests with 5xx,
//! resets connections and has latency spikes, while people edit the same contacts all the
//! time. Ten simulated minutes (60 passes at a 10 s interval, run back to back). What must hold
//! at the end: every address a person added is still there, every required address is there,
//! and no write was wasted (at most one successful PUT per drift that needed one).

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use azure_sim::{
    Access, FaultConfig, FaultRule, Latency, PrincipalSeed, RouteKind, STATUS_RESET, SimConfig,
    Simulator, SubscriptionSeed,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{
    desk::Desk,
    sweep::{self, Freshness},
};
use crate::{arm::RetryPolicy, emails};

const TENANT: &str = "50a50a50-0000-0000-0000-0000000000aa";
const CLIENT: &str = "soak-operator";
const SECRET: &str = "soak-secret";
const REQUIRED: [&str; 2] = ["secops@contoso.com", "soc@contoso.com"];
const PASSES: usize = 60;

fn subscription(i: usize) -> String {
    format!("50a50a50-0000-0000-0000-{i:012}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_simulated_minutes_of_faults_and_human_edits_lose_nothing() {
    let subs: Vec<String> = (0..20).map(subscription).collect();
    let seeds = subs
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut seed = SubscriptionSeed::new(id.clone());
            if i % 2 == 0 {
                seed.contact = Some(
                    json!({"emails": format!("owner{i}@fabrikam.example"), "isEnabled": true}),
                );
            }
            seed
        })
        .collect();
    let sim = Arc::new(
        Simulator::start(SimConfig {
            etags: true,
            ..SimConfig::single_tenant(
                TENANT,
                PrincipalSeed::with_secret(CLIENT, SECRET, Access::ReadWrite),
                seeds,
            )
        })
        .await
        .unwrap(),
    );
    sim.state()
        .set_faults(FaultConfig {
            seed: Some(20261128),
            rules: vec![FaultRule {
                route: Some(RouteKind::SecurityContact),
                error_rate: 0.3,
                reset_rate: 0.05,
                latency: Some(Latency::LogNormal {
                    p50_ms: 2.0,
                    p99_ms: 150.0,
                }),
                ..Default::default()
            }],
        })
        .unwrap();

    let arm = crate::testing::sim_client(&sim, TENANT, CLIENT, SECRET).with_retry(RetryPolicy {
        max_retries: 8,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(40),
        ..Default::default()
    });
    let mut spec = crate::testing::spec(&[], &REQUIRED);
    spec.subscriptions = subs.clone();

    // People, all the while: add their own addresses, take one of ours off, disable the contact.
    let added: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Default::default();
    let drifts = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let people = {
        let (sim, subs, added, drifts, done) = (
            sim.clone(),
            subs.clone(),
            added.clone(),
            drifts.clone(),
            done.clone(),
        );
        tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(7);
            let mut edits = 0u64;
            while !done.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(rng.u64(2..15))).await;
                let sub = &subs[rng.usize(..subs.len())];
                let Some(mut contact) = sim.state().contact(sub).unwrap() else {
                    continue;
                };
                let mut list = emails::split(contact["emails"].as_str().unwrap_or_default());
                match rng.u8(..100) {
                    0..60 => {
                        let address = format!("person{edits}@fabrikam.example");
                        list.push(address.clone());
                        added
                            .lock()
                            .unwrap()
                            .entry(sub.clone())
                            .or_default()
                            .push(address);
                    }
                    60..85 => {
                        let before = list.len();
                        list.retain(|a| !REQUIRED.iter().any(|r| r.eq_ignore_ascii_case(a)));
                        if list.len() == before {
                            continue;
                        }
                        drifts.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {
                        if contact["isEnabled"] == json!(false) {
                            continue;
                        }
                        contact["isEnabled"] = json!(false);
                        drifts.fetch_add(1, Ordering::SeqCst);
                    }
                }
                contact["emails"] = json!(emails::join(&list));
                sim.state().set_contact(sub, contact).unwrap();
                edits += 1;
            }
            edits
        })
    };

    let started = Instant::now();
    let desk = Arc::new(Desk::default());
    let never = CancellationToken::new();
    let mut failed_results = 0;
    for _ in 0..PASSES {
        let swept = sweep::sweep(&arm, "soak/p", &spec, &desk, Freshness::FRESH, 8, &never).await;
        failed_results += swept.results.iter().filter(|r| r.error.is_some()).count();
    }
    done.store(true, Ordering::SeqCst);
    let edits = people.await.unwrap();
    // The faults stop; one last pass settles what the last edits drifted.
    let faulted = sim.state().requests();
    sim.state().clear_faults();
    let last = sweep::sweep(&arm, "soak/p", &spec, &desk, Freshness::FRESH, 8, &never).await;
    assert!(
        last.results.iter().all(|r| r.error.is_none()),
        "{:?}",
        last.results
            .iter()
            .filter_map(|r| r.error.as_ref())
            .collect::<Vec<_>>()
    );

    let requests = sim.state().requests();
    let mut lost = Vec::new();
    for sub in &subs {
        let contact = sim.state().contact(sub).unwrap().expect("a contact");
        let present = emails::split(contact["emails"].as_str().unwrap_or_default());
        for required in REQUIRED {
            assert!(
                emails::contains(&present, required),
                "{sub}: {required} missing: {present:?}"
            );
        }
        assert_eq!(contact["isEnabled"], json!(true), "{sub}");
        for address in added.lock().unwrap().get(sub).into_iter().flatten() {
            if !emails::contains(&present, address) {
                lost.push(format!("{sub}: {address}"));
            }
        }
    }
    let puts_ok = requests.matching(|c| c.method == "PUT" && (200..300).contains(&c.status));
    let drifts = drifts.load(Ordering::SeqCst);
    let figures = format!(
        "soak: {PASSES} passes (10 simulated minutes) in {:.1}s; {} ARM requests ({} contact GET, {} PUT, {} PUT applied); \
         injected: {} 5xx, {} resets, {} throttled; {} precondition failures (412); \
         {edits} human edits ({drifts} drifting ours, {} addresses added by people); \
         {failed_results} subscription-passes failed and were retried next pass; addresses lost: {}",
        started.elapsed().as_secs_f64(),
        requests.total,
        requests.count("GET", RouteKind::SecurityContact, None),
        requests.count("PUT", RouteKind::SecurityContact, None),
        puts_ok,
        faulted.with_status(500) + faulted.with_status(503),
        faulted.with_status(STATUS_RESET),
        faulted.with_status(429),
        requests.with_status(412),
        added.lock().unwrap().values().map(Vec::len).sum::<usize>(),
        lost.len(),
    );
    println!("{figures}");
    assert!(lost.is_empty(), "{figures}\nlost: {lost:?}");
    assert!(
        faulted.with_status(500) + faulted.with_status(503) > 100,
        "{figures}"
    );
    assert!(faulted.with_status(STATUS_RESET) > 0, "{figures}");
    // No wasted write: the first pass writes each subscription once (none had our addresses),
    // after that only a person's drift justifies a write.
    assert!(
        puts_ok <= subs.len() as u64 + drifts,
        "duplicated writes: {puts_ok} PUTs applied for {} needed\n{figures}",
        subs.len() as u64 + drifts
    );
}

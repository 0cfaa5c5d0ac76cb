//! The ARM client on the wire: real HTTPS and the real azure_identity client-secret flow
//! against the simulator, with faults injected.

use std::{sync::Arc, time::Duration};

use azure_sim::{
    self as simulator, FaultConfig, FaultRule, RouteKind, SimConfig, SimHandle, Simulator, Storm,
};
use security_contact_operator::arm::{
    ArmClient, ArmError, RetryPolicy, credential::Identity, http_client, metrics::ArmMetrics,
};

fn client(sim: &SimHandle, retry: RetryPolicy) -> ArmClient {
    let http = http_client(Duration::from_secs(10), Some(sim.ca_pem().as_bytes())).unwrap();
    let identity = Identity::ClientSecret {
        tenant_id: simulator::DEMO_TENANT_ID.into(),
        client_id: simulator::DEMO_CLIENT_ID.into(),
        client_secret: simulator::DEMO_CLIENT_SECRET.into(),
    };
    let credential = identity.credential(&http, &sim.url()).unwrap();
    ArmClient::new(
        http,
        sim.url(),
        "https://management.azure.com/.default".into(),
        credential,
        ArmMetrics::default(),
    )
    .with_retry(retry)
}

fn quick() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        ..Default::default()
    }
}

fn only(sub: &str, rule: FaultRule) -> FaultConfig {
    FaultConfig {
        seed: Some(3),
        rules: vec![FaultRule {
            subscription: Some(sub.into()),
            route: Some(RouteKind::SecurityContact),
            ..rule
        }],
    }
}

#[tokio::test]
async fn subscriptions_are_listed_across_next_link_pages() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let arm = client(&sim, quick());
    let subs = arm.list_subscriptions().await.unwrap();
    // The demo identity has a role on every subscription but the no-access one.
    assert_eq!(subs.len(), 8, "{subs:?}");
    assert!(
        !subs
            .iter()
            .any(|s| s.subscription_id == simulator::DEMO_SUB_NO_ACCESS)
    );
    let pages = sim
        .state()
        .requests()
        .count("GET", RouteKind::Subscriptions, None);
    assert_eq!(pages, 4, "page size 2 over 8 subscriptions");
}

#[tokio::test]
async fn throttling_is_retried_within_the_budget() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let sub = simulator::DEMO_SUB_COMPLIANT;
    let storm = Storm {
        requests: Some(2),
        seconds: None,
        retry_after_secs: 1,
        retry_after_ms: Some(50),
    };
    sim.state()
        .set_faults(only(
            sub,
            FaultRule {
                storm: Some(storm),
                ..Default::default()
            },
        ))
        .unwrap();
    let arm = client(&sim, quick());
    let contact = arm.get_contact(sub).await.unwrap().expect("a contact");
    assert_eq!(
        contact.properties.emails.as_deref(),
        Some("security@contoso.com")
    );
    assert_eq!(arm.metrics().retries.get(), 2);
    // x-ms-retry-after-ms (50 ms) is preferred over Retry-After (1 s): 2 waits of 50 ms.
    assert!((arm.metrics().throttled_wait_seconds.get() - 0.1).abs() < 1e-9);
}

#[tokio::test]
async fn a_longer_retry_after_than_the_budget_is_handed_back_not_slept() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let sub = simulator::DEMO_SUB_COMPLIANT;
    let storm = Storm {
        requests: None,
        seconds: None,
        retry_after_secs: 3600,
        retry_after_ms: None,
    };
    sim.state()
        .set_faults(only(
            sub,
            FaultRule {
                storm: Some(storm),
                ..Default::default()
            },
        ))
        .unwrap();
    let arm = client(
        &sim,
        RetryPolicy {
            max_retry_after: Duration::from_secs(600),
            ..quick()
        },
    );
    let started = std::time::Instant::now();
    let err = arm.get_contact(sub).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(err.reason(), "Throttled");
    assert_eq!(arm.metrics().retries.get(), 0);
    assert!(
        started.elapsed() < Duration::from_secs(600),
        "it must not have waited"
    );
}

#[tokio::test]
async fn connection_resets_are_transient_and_retried_then_reported() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let sub = simulator::DEMO_SUB_COMPLIANT;
    sim.state()
        .set_faults(only(
            sub,
            FaultRule {
                reset_rate: 1.0,
                ..Default::default()
            },
        ))
        .unwrap();
    let arm = client(&sim, quick());
    let err = arm.get_contact(sub).await.unwrap_err();
    assert!(matches!(err, ArmError::Transport { .. }), "{err}");
    assert!(err.is_transient());
    assert_eq!(
        arm.metrics().retries.get(),
        3,
        "every retry of the budget was used"
    );
    // The other subscriptions are unaffected.
    assert!(
        arm.get_contact(simulator::DEMO_SUB_PORTAL_EDITED)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn contacts_are_read_concurrently_in_input_order() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let arm = Arc::new(client(&sim, quick()));
    let subs: Vec<String> = [
        simulator::DEMO_SUB_CONTACT_MISSING,
        simulator::DEMO_SUB_COMPLIANT,
        simulator::DEMO_SUB_NOT_REGISTERED,
        simulator::DEMO_SUB_NO_ACCESS,
    ]
    .map(str::to_owned)
    .to_vec();
    let results = arm.get_contacts(&subs, 2).await;
    assert!(
        matches!(results[0], Ok(None)),
        "404 without a subscription-level code: no contact"
    );
    assert!(matches!(results[1], Ok(Some(_))));
    assert_eq!(
        results[2].as_ref().unwrap_err().reason(),
        "ProviderNotRegistered"
    );
    assert_eq!(
        results[3].as_ref().unwrap_err().reason(),
        "AuthorizationFailed"
    );
}

/// A Secret whose `tenantId` holds the client secret by mistake: Entra echoes the tenant in
/// its answer ("Tenant '…' not found"), and that text must reach no status, Event or log.
#[tokio::test]
async fn a_secret_pasted_into_the_tenant_id_never_reaches_a_message() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let http = http_client(Duration::from_secs(10), Some(sim.ca_pem().as_bytes())).unwrap();
    let pasted = "Zq8~secret-pasted-in-the-wrong-key";
    for identity in [
        Identity::ClientSecret {
            tenant_id: pasted.into(),
            client_id: simulator::DEMO_CLIENT_ID.into(),
            client_secret: pasted.into(),
        },
        Identity::ClientSecret {
            tenant_id: simulator::DEMO_TENANT_ID.into(),
            client_id: pasted.into(),
            client_secret: simulator::DEMO_CLIENT_SECRET.into(),
        },
    ] {
        let outcome = identity.credential(&http, &sim.url()).map(|credential| {
            ArmClient::new(
                http.clone(),
                sim.url(),
                "https://management.azure.com/.default".into(),
                credential,
                ArmMetrics::default(),
            )
        });
        let error = match outcome {
            Err(e) => e,
            Ok(arm) => arm.check_credential().await.expect_err("refused"),
        };
        let shown = format!("{error} | {error:?} | {}", error.summary());
        assert!(!shown.contains(pasted), "the secret leaked: {shown}");
        assert!(!error.is_transient(), "a refusal is not an outage: {shown}");
    }
}

#[tokio::test]
async fn the_activity_log_names_the_last_writer_before_a_given_time() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let arm = client(&sim, quick());
    let sub = simulator::DEMO_SUB_COMPLIANT;
    let start = k8s_openapi::jiff::Timestamp::now();
    sim.state()
        .set_contact_as(
            sub,
            serde_json::json!({"emails": "x@contoso.com", "isEnabled": true}),
            Some("ops-admin@contoso.com"),
        )
        .unwrap();
    // The log is queried to whole seconds: wait so the edit is inside the window.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let until = k8s_openapi::jiff::Timestamp::now();
    let writer = arm
        .last_contact_write(
            sub,
            start
                .checked_sub(k8s_openapi::jiff::SignedDuration::from_hours(1))
                .unwrap(),
            until,
        )
        .await
        .unwrap()
        .expect("the edit is in the log");
    assert_eq!(writer.caller, "ops-admin@contoso.com");
    assert!(
        writer.to_string().starts_with("ops-admin@contoso.com at "),
        "{writer}"
    );
    // Before the edit, nobody wrote it.
    let before = arm
        .last_contact_write(
            sub,
            start
                .checked_sub(k8s_openapi::jiff::SignedDuration::from_hours(1))
                .unwrap(),
            start
                .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(2))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(before, None);
    assert_eq!(
        sim.state()
            .requests()
            .count("GET", RouteKind::ActivityLog, Some(sub)),
        2
    );
}

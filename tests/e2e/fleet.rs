//! Fleet targeting end to end: a policy that selects a management group picks up a
//! subscription moved into it on the next pass (and says so), and an exclusion that expires
//! starts being enforced at its expiry time.

use std::time::Instant;

use azure_sim::{ManagementGroupSeed, management_group_access_key};
use k8s_openapi::jiff::{Timestamp, ToSpan};
use serde_json::json;

use crate::support::{Env, TENANT, condition_message, world};

const IN_GROUP: &str = "f1ee7000-0000-0000-0000-00000000000a";
const JOINS: &str = "f1ee7000-0000-0000-0000-00000000000b";
const EXEMPT: &str = "f1ee7000-0000-0000-0000-00000000000c";
const GROUP: &str = "e2e-fleet";

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs kube-apiserver + etcd: run through scripts/test"]
async fn a_selector_follows_its_management_group_and_an_expired_exclusion_is_enforced() {
    let started = Instant::now();
    let person = |e: &str| Some(json!({"emails": e, "isEnabled": true}));
    let mut sim = world(&[
        (IN_GROUP, person("person@fabrikam.com")),
        (JOINS, person("person@fabrikam.com")),
        (EXEMPT, person("person@fabrikam.com")),
    ]);
    let tenant = &mut sim.tenants[0];
    tenant.management_groups = vec![ManagementGroupSeed {
        subscriptions: vec![IN_GROUP.into(), EXEMPT.into()],
        ..ManagementGroupSeed::new(GROUP, "E2E fleet")
    }];
    // The operator may read the group (Management Group Reader on it).
    tenant.principals[0]
        .access
        .insert(management_group_access_key(GROUP), azure_sim::Access::Read);
    let env = Env::new("fleet", sim).await;

    let expires = Timestamp::now()
        .checked_add(12.seconds())
        .unwrap()
        .round(k8s_openapi::jiff::Unit::Second)
        .unwrap();
    env.apply(
        "fleet",
        json!({
            "subscriptionSelector": {"managementGroups": [GROUP]},
            "exclusions": [{"subscription": EXEMPT, "reason": "SEC-9 handover", "expires": expires.to_string()}],
            "interval": "5s",
            "contact": {"emails": ["soc@contoso.com"]},
        }),
    )
    .await;
    let ready = env
        .wait_condition("fleet", "Ready", "True", "Compliant")
        .await;
    let status = ready.status.clone().unwrap();
    assert_eq!(status.summary.as_ref().unwrap().total, 1, "{status:?}");
    let selection = status.selection.clone().expect("status.selection");
    assert_eq!(selection.resolved, 2, "{selection:?}");
    assert_eq!(status.exclusions.len(), 1);
    assert!(!status.exclusions[0].expired);
    assert_eq!(
        env.emails(IN_GROUP),
        ["person@fabrikam.com", "soc@contoso.com"]
    );
    assert_eq!(
        env.emails(EXEMPT),
        ["person@fabrikam.com"],
        "excluded: untouched"
    );
    assert_eq!(
        env.sim.state().requests().count(
            "GET",
            azure_sim::RouteKind::SecurityContact,
            Some(EXEMPT)
        ),
        0,
        "an excluded subscription is never read"
    );

    // A subscription moves into the group: the next pass selects and fixes it.
    env.sim
        .state()
        .set_subscription_management_group(JOINS, GROUP)
        .unwrap();
    env.wait_emails(JOINS, &["person@fabrikam.com", "soc@contoso.com"])
        .await;
    let events = env.events("fleet").await;
    assert!(
        events
            .iter()
            .any(|(reason, note)| reason == "SubscriptionsJoined" && note.contains(JOINS)),
        "{events:?}"
    );
    let joined = env
        .wait_for("fleet", "showing the join", |p| {
            p.status
                .as_ref()
                .and_then(|s| s.selection.as_ref())
                .is_some_and(|s| s.joined.iter().any(|j| j == JOINS))
        })
        .await;
    assert_eq!(joined.status.unwrap().selection.unwrap().resolved, 3);

    // The exclusion expires: a pass is due then, and the subscription is governed again.
    env.wait_emails(EXEMPT, &["person@fabrikam.com", "soc@contoso.com"])
        .await;
    let expired = env
        .wait_for("fleet", "showing the expired exclusion", |p| {
            p.status
                .as_ref()
                .is_some_and(|s| s.exclusions.iter().any(|e| e.expired))
        })
        .await;
    let ready = condition_message(&expired, "Ready");
    assert!(
        ready.contains(&format!("the exclusion of {EXEMPT} expired")),
        "{ready}"
    );
    assert!(
        env.events("fleet")
            .await
            .iter()
            .any(|(reason, note)| reason == "ExclusionExpired" && note.contains("SEC-9 handover")),
    );
    eprintln!(
        "fleet: group join picked up and exclusion expiry enforced in {:.1}s (tenant {TENANT})",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs kube-apiserver + etcd: run through scripts/test"]
async fn drift_names_who_made_it_and_a_fight_is_contested() {
    let started = Instant::now();
    const SUB: &str = "f1ee7000-0000-0000-0000-00000000000d";
    let env = Env::new(
        "contested",
        world(&[(
            SUB,
            Some(json!({"emails": "person@fabrikam.com", "isEnabled": true})),
        )]),
    )
    .await;
    env.apply(
        "fought",
        json!({"subscriptions": [SUB], "interval": "5s", "contact": {"emails": ["soc@contoso.com"]}}),
    )
    .await;
    env.wait_emails(SUB, &["person@fabrikam.com", "soc@contoso.com"])
        .await;
    // Let one quiet pass go by: adopting the contact is no fight.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;

    // Someone keeps taking our address off in the portal; each time the next pass puts it
    // back, and the third time in a row the policy says it is contested, and by whom.
    for round in 1..=3 {
        env.sim
            .state()
            .set_contact_as(
                SUB,
                json!({"emails": "person@fabrikam.com", "isEnabled": true}),
                Some("ops-admin@contoso.com"),
            )
            .unwrap();
        env.wait_emails(SUB, &["person@fabrikam.com", "soc@contoso.com"])
            .await;
        // The Event follows the write (after the Activity Log query and the status).
        let deadline = Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let events = env.events("fought").await;
            if events.iter().any(|(reason, note)| {
                reason == "Remediated" && note.contains("changed by ops-admin@contoso.com")
            }) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: no attributed Remediated Event: {events:?}\nActivity Log requests: {:?}\nwrites: {:?}\noperator log:\n{}",
                env.sim
                    .state()
                    .requests()
                    .entries
                    .iter()
                    .filter(|e| e.route == azure_sim::RouteKind::ActivityLog)
                    .collect::<Vec<_>>(),
                env.sim.state().contact_writes(SUB),
                env.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    let contested = env
        .wait_for("fought", "Contested", |p| {
            p.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Contested" && c.status == "True")
            })
        })
        .await;
    let message = condition_message(&contested, "Contested");
    assert!(
        message.contains("ops-admin@contoso.com") && message.contains("3 passes in a row"),
        "{message}"
    );
    assert!(
        env.events("fought")
            .await
            .iter()
            .any(|(reason, _)| reason == "Contested")
    );
    // The Activity Log is asked only on drift: 4 restores (adoption + 3), at most 4 queries.
    let queries =
        env.sim
            .state()
            .requests()
            .count("GET", azure_sim::RouteKind::ActivityLog, Some(SUB));
    assert!((1..=4).contains(&queries), "{queries} Activity Log queries");
    eprintln!(
        "fleet: drift attributed and Contested after 3 rounds in {:.1}s ({queries} Activity Log queries)",
        started.elapsed().as_secs_f64()
    );
}

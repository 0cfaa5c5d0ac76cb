use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::crd::{ContactSpec, EmailMerge, RiskLevel, Role, Severity};

fn spec(emails: &[&str]) -> ContactSpec {
    crate::testing::spec(&[], emails).contact
}

fn exact(mut s: ContactSpec) -> ContactSpec {
    s.email_merge = EmailMerge::Exact;
    s
}

fn props(value: serde_json::Value) -> ContactProperties {
    serde_json::from_value(value).expect("valid properties")
}

fn enabled(emails: &str) -> ContactProperties {
    props(json!({"emails": emails, "isEnabled": true}))
}

#[test]
fn missing_contact_is_created_with_only_declared_fields() {
    let mut s = spec(&["secops@contoso.com", "soc@contoso.com"]);
    s.notify_roles = Some(vec![Role::Owner]);
    s.alert_minimal_severity = Some(Severity::High);
    let p = plan(&s, None);
    assert_eq!(
        p.drift,
        vec![Drift::ContactMissing {
            emails: s.emails.clone()
        }]
    );
    let body = serde_json::to_value(p.desired.unwrap()).unwrap();
    assert_eq!(
        body,
        json!({
            "emails": "secops@contoso.com;soc@contoso.com",
            "isEnabled": true,
            "notificationsByRole": {"state": "On", "roles": ["Owner"]},
            "notificationsSources": [{"sourceType": "Alert", "minimalSeverity": "High"}]
        })
    );
}

#[test]
fn compliant_contact_is_a_no_op() {
    let p = plan(
        &spec(&["secops@contoso.com"]),
        Some(&enabled("secops@contoso.com")),
    );
    assert!(p.is_compliant());
    assert_eq!(p.desired, None);
    assert!(p.changes.is_empty());
}

#[test]
fn additive_appends_missing_and_keeps_foreign_in_order() {
    let current = enabled("zed@x.io, alice@x.io");
    let p = plan(&spec(&["secops@contoso.com"]), Some(&current));
    assert_eq!(
        p.drift,
        vec![Drift::MissingEmails {
            emails: vec!["secops@contoso.com".into()]
        }]
    );
    assert_eq!(
        p.desired.unwrap().emails.as_deref(),
        Some("zed@x.io;alice@x.io;secops@contoso.com")
    );
    assert_eq!(
        p.changes,
        vec![FieldChange {
            field: "emails",
            from: Some("zed@x.io, alice@x.io".into()),
            to: Some("zed@x.io;alice@x.io;secops@contoso.com".into()),
        }]
    );
}

#[test]
fn exact_removes_foreign_and_writes_declared_order() {
    let current = enabled("zed@x.io;SecOps@Contoso.com");
    let p = plan(&exact(spec(&["secops@contoso.com"])), Some(&current));
    assert_eq!(
        p.drift,
        vec![Drift::UnexpectedEmails {
            emails: vec!["zed@x.io".into()]
        }]
    );
    assert_eq!(
        p.desired.unwrap().emails.as_deref(),
        Some("secops@contoso.com")
    );
}

#[test]
fn exact_with_same_set_in_other_order_and_case_is_compliant() {
    let current = enabled(" B@x.io , a@X.io ");
    assert!(plan(&exact(spec(&["a@x.io", "b@x.io"])), Some(&current)).is_compliant());
}

#[test]
fn separators_spaces_and_case_never_cause_a_write() {
    for value in [
        "a@x.io;b@x.io",
        "a@x.io, b@x.io",
        " B@X.IO ;a@x.io",
        "a@x.io,,b@x.io;",
    ] {
        let p = plan(&spec(&["b@x.io", "a@x.io"]), Some(&enabled(value)));
        assert!(
            p.is_compliant(),
            "{value:?} should be compliant: {:?}",
            p.drift
        );
    }
}

#[test]
fn comma_separated_value_is_normalised_when_written_anyway() {
    let current = props(json!({"emails": "a@x.io , b@x.io", "isEnabled": false}));
    let p = plan(&spec(&["a@x.io"]), Some(&current));
    assert_eq!(p.drift, vec![Drift::Disabled]);
    let desired = p.desired.unwrap();
    assert_eq!(desired.emails.as_deref(), Some("a@x.io;b@x.io"));
    assert_eq!(desired.is_enabled, Some(true));
}

#[test]
fn disabled_or_absent_is_enabled_is_drift_in_both_merges() {
    for current in [
        props(json!({"emails": "a@x.io", "isEnabled": false})),
        props(json!({"emails": "a@x.io"})),
    ] {
        for s in [spec(&["a@x.io"]), exact(spec(&["a@x.io"]))] {
            assert_eq!(plan(&s, Some(&current)).drift, vec![Drift::Disabled]);
        }
    }
}

#[test]
fn unmanaged_fields_are_kept_as_is_on_write() {
    let current = props(json!({
        "emails": "a@x.io",
        "isEnabled": true,
        "phone": "(214)275-4038",
        "notificationsByRole": {"state": "Off", "roles": []},
        "notificationsSources": [
            {"sourceType": "AttackPath", "minimalRiskLevel": "Critical"},
            {"sourceType": "Alert", "minimalSeverity": "Medium"}
        ],
        "futureField": 42
    }));
    let desired = plan(&spec(&["a@x.io", "b@x.io"]), Some(&current))
        .desired
        .unwrap();
    let mut expected = current.clone();
    expected.emails = Some("a@x.io;b@x.io".into());
    assert_eq!(desired, expected);
}

#[test]
fn severity_additive_keeps_more_inclusive_level() {
    let mut s = spec(&["a@x.io"]);
    s.alert_minimal_severity = Some(Severity::High);
    for (current, compliant) in [
        ("High", true),
        ("Medium", true),
        ("Low", true),
        ("Critical", false),
    ] {
        let c = props(json!({"emails": "a@x.io", "isEnabled": true,
            "notificationsSources": [{"sourceType": "Alert", "minimalSeverity": current}]}));
        assert_eq!(plan(&s, Some(&c)).is_compliant(), compliant, "{current}");
    }
    s.alert_minimal_severity = Some(Severity::Low);
    let c = props(json!({"emails": "a@x.io", "isEnabled": true,
        "notificationsSources": [{"sourceType": "Alert", "minimalSeverity": "High"}]}));
    let p = plan(&s, Some(&c));
    assert_eq!(
        p.drift,
        vec![Drift::AlertSeverity {
            current: Some("High".into()),
            wanted: Severity::Low
        }]
    );
    assert_eq!(p.desired.unwrap().alert_minimal_severity(), Some("Low"));
}

#[test]
fn severity_exact_requires_equality() {
    let mut s = exact(spec(&["a@x.io"]));
    s.alert_minimal_severity = Some(Severity::High);
    let c = props(json!({"emails": "a@x.io", "isEnabled": true,
        "notificationsSources": [{"sourceType": "Alert", "minimalSeverity": "Low"}]}));
    let p = plan(&s, Some(&c));
    assert_eq!(p.desired.unwrap().alert_minimal_severity(), Some("High"));
}

#[test]
fn missing_alert_source_is_added_after_existing_sources() {
    let mut s = spec(&["a@x.io"]);
    s.alert_minimal_severity = Some(Severity::Medium);
    let c = props(json!({"emails": "a@x.io", "isEnabled": true,
        "notificationsSources": [{"sourceType": "AttackPath", "minimalRiskLevel": "High"}]}));
    let desired = plan(&s, Some(&c)).desired.unwrap();
    assert_eq!(
        serde_json::to_value(desired.notifications_sources).unwrap(),
        json!([
            {"sourceType": "AttackPath", "minimalRiskLevel": "High"},
            {"sourceType": "Alert", "minimalSeverity": "Medium"}
        ])
    );
}

#[test]
fn attack_path_levels_follow_or_higher_semantics() {
    let mut s = spec(&["a@x.io"]);
    s.attack_path_minimal_risk_level = Some(RiskLevel::High);
    for (current, compliant) in [
        ("Critical", false),
        ("High", true),
        ("Low", true),
        ("Bogus", false),
    ] {
        let c = props(json!({"emails": "a@x.io", "isEnabled": true,
            "notificationsSources": [{"sourceType": "AttackPath", "minimalRiskLevel": current}]}));
        assert_eq!(plan(&s, Some(&c)).is_compliant(), compliant, "{current}");
    }
    let mut e = exact(s);
    e.attack_path_minimal_risk_level = Some(RiskLevel::High);
    let c = props(json!({"emails": "a@x.io", "isEnabled": true,
        "notificationsSources": [{"sourceType": "AttackPath", "minimalRiskLevel": "Low"}]}));
    assert!(!plan(&e, Some(&c)).is_compliant());
}

#[test]
fn roles_additive_requires_state_on_and_keeps_other_roles() {
    let mut s = spec(&["a@x.io"]);
    s.notify_roles = Some(vec![Role::Owner]);
    let off = props(json!({"emails": "a@x.io", "isEnabled": true,
        "notificationsByRole": {"state": "Off", "roles": ["Owner", "Contributor"]}}));
    let p = plan(&s, Some(&off));
    assert_eq!(
        p.drift,
        vec![Drift::RolesNotNotified {
            missing: vec!["Owner".into()],
            state_on: false
        }]
    );
    let by_role = p.desired.unwrap().notifications_by_role.unwrap();
    assert_eq!(by_role.state.as_deref(), Some("On"));
    assert_eq!(by_role.roles.unwrap(), vec!["Owner", "Contributor"]);

    let other = props(json!({"emails": "a@x.io", "isEnabled": true,
        "notificationsByRole": {"state": "On", "roles": ["AccountAdmin"]}}));
    let by_role = plan(&s, Some(&other))
        .desired
        .unwrap()
        .notifications_by_role
        .unwrap();
    assert_eq!(by_role.roles.unwrap(), vec!["AccountAdmin", "Owner"]);

    let superset = props(json!({"emails": "a@x.io", "isEnabled": true,
        "notificationsByRole": {"state": "On", "roles": ["AccountAdmin", "Owner"]}}));
    assert!(plan(&s, Some(&superset)).is_compliant());
}

#[test]
fn roles_exact_requires_same_set() {
    let mut s = exact(spec(&["a@x.io"]));
    s.notify_roles = Some(vec![Role::Owner]);
    let c = props(json!({"emails": "a@x.io", "isEnabled": true,
        "notificationsByRole": {"state": "On", "roles": ["Owner", "Contributor"]}}));
    let p = plan(&s, Some(&c));
    assert_eq!(
        p.drift,
        vec![Drift::UnexpectedRoles {
            roles: vec!["Contributor".into()]
        }]
    );
    assert_eq!(
        p.desired
            .unwrap()
            .notifications_by_role
            .unwrap()
            .roles
            .unwrap(),
        vec!["Owner"]
    );
}

#[test]
fn phone_is_managed_only_when_declared() {
    let c = props(json!({"emails": "a@x.io", "isEnabled": true, "phone": "+1-555-0100"}));
    assert!(plan(&spec(&["a@x.io"]), Some(&c)).is_compliant());
    let mut s = spec(&["a@x.io"]);
    s.phone = Some("+1-555-0199".into());
    let p = plan(&s, Some(&c));
    assert_eq!(p.desired.unwrap().phone.as_deref(), Some("+1-555-0199"));
    assert_eq!(p.changes.len(), 1);
    assert_eq!(
        p.changes[0].to_string(),
        r#"phone: "+1-555-0100" -> "+1-555-0199""#
    );
}

#[test]
fn drift_reads_like_a_sentence() {
    let d = Drift::AlertSeverity {
        current: None,
        wanted: Severity::High,
    };
    assert_eq!(d.to_string(), "alert minimal severity unset (wanted High)");
    let d = Drift::MissingEmails {
        emails: vec!["a@x.io".into(), "b@x.io".into()],
    };
    assert_eq!(d.to_string(), "missing emails a@x.io, b@x.io");
}

// ---------------------------------------------------------------------------------------
// Properties

const POOL: &[&str] = &[
    "alice@contoso.com",
    "bob@contoso.com",
    "secops@contoso.com",
    "soc@fabrikam.io",
    "it@fabrikam.io",
    "ceo@tailspin.dev",
];

fn address() -> impl Strategy<Value = String> {
    (prop::sample::select(POOL), any::<bool>()).prop_map(|(a, upper)| {
        if upper {
            a.to_uppercase()
        } else {
            a.to_owned()
        }
    })
}

/// An ARM `emails` value as people and tools leave it: any separator, stray spaces, any case.
fn arm_emails() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            address(),
            prop::sample::select(&[";", ",", " ; ", ", ", ";;"][..]),
        ),
        0..6,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .map(|(a, sep)| format!("{a}{sep}"))
            .collect()
    })
}

fn level<T: Clone + std::fmt::Debug + 'static>(
    all: &'static [T],
) -> impl Strategy<Value = Option<T>> {
    prop::option::of(prop::sample::select(all))
}

fn contact_spec() -> impl Strategy<Value = ContactSpec> {
    (
        prop::sample::subsequence(POOL, 1..4),
        any::<bool>(),
        prop::option::of(prop::sample::subsequence(
            &[
                Role::Owner,
                Role::Contributor,
                Role::AccountAdmin,
                Role::ServiceAdmin,
            ][..],
            1..3,
        )),
        level(&[Severity::High, Severity::Medium, Severity::Low]),
        level(&[
            RiskLevel::Critical,
            RiskLevel::High,
            RiskLevel::Medium,
            RiskLevel::Low,
        ]),
        prop::option::of(prop::sample::select(&["+1-555-0100", "(214)275-4038"][..])),
    )
        .prop_map(
            |(emails, is_exact, roles, severity, risk, phone)| ContactSpec {
                emails: emails.into_iter().map(str::to_owned).collect(),
                email_merge: if is_exact {
                    EmailMerge::Exact
                } else {
                    EmailMerge::Additive
                },
                notify_roles: roles,
                alert_minimal_severity: severity,
                attack_path_minimal_risk_level: risk,
                phone: phone.map(str::to_owned),
            },
        )
}

fn observed() -> impl Strategy<Value = Option<ContactProperties>> {
    let roles =
        prop::sample::subsequence(&["Owner", "Contributor", "AccountAdmin", "Admin"][..], 0..3);
    let sev = prop::option::of(prop::sample::select(
        &["High", "Medium", "Low", "Critical"][..],
    ));
    let risk = prop::option::of(prop::sample::select(
        &["Critical", "High", "Medium", "Low"][..],
    ));
    prop::option::of(
        (
            arm_emails(),
            prop::option::of(any::<bool>()),
            prop::option::of((prop::sample::select(&["On", "Off"][..]), roles)),
            sev,
            risk,
            prop::option::of(prop::sample::select(
                &["", "+1-555-0100", "(214)275-4038"][..],
            )),
        )
            .prop_map(|(emails, is_enabled, by_role, sev, risk, phone)| {
                let mut sources = Vec::new();
                if let Some(s) = sev {
                    sources.push(json!({"sourceType": "Alert", "minimalSeverity": s}));
                }
                if let Some(r) = risk {
                    sources.push(json!({"sourceType": "AttackPath", "minimalRiskLevel": r}));
                }
                let mut v = json!({"emails": emails, "notificationsSources": sources});
                if let Some(b) = is_enabled {
                    v["isEnabled"] = json!(b);
                }
                if let Some((state, roles)) = by_role {
                    v["notificationsByRole"] = json!({"state": state, "roles": roles});
                }
                if let Some(p) = phone {
                    v["phone"] = json!(p);
                }
                props(v)
            }),
    )
}

fn split(p: &ContactProperties) -> Vec<String> {
    emails::split(p.emails.as_deref().unwrap_or_default())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn additive_never_removes_an_address(s in contact_spec(), current in observed()) {
        let mut s = s;
        s.email_merge = EmailMerge::Additive;
        if let (Some(current), Some(desired)) = (&current, plan(&s, current.as_ref()).desired) {
            let after = split(&desired);
            for address in split(current) {
                prop_assert!(emails::contains(&after, &address), "{address} removed");
            }
        }
    }

    #[test]
    fn applying_a_plan_then_replanning_is_a_no_op(s in contact_spec(), current in observed()) {
        let first = plan(&s, current.as_ref());
        prop_assert_eq!(first.is_compliant(), first.desired.is_none());
        if let Some(desired) = first.desired {
            let again = plan(&s, Some(&desired));
            prop_assert!(again.is_compliant(), "still drifting: {:?}", again.drift);
            prop_assert_eq!(again.desired, None);
        }
    }

    #[test]
    fn order_case_and_separators_never_cause_a_write(
        s in contact_spec(),
        current in observed(),
        seed in any::<u64>(),
    ) {
        // Converge first, then shuffle, re-case and re-separate the stored list.
        let converged = plan(&s, current.as_ref()).desired.or(current).unwrap_or_default();
        let mut addresses = split(&converged);
        let mut rng = fastrand::Rng::with_seed(seed);
        rng.shuffle(&mut addresses);
        let rewritten: Vec<String> = addresses
            .iter()
            .map(|a| if rng.bool() { a.to_uppercase() } else { a.to_lowercase() })
            .collect();
        let separator = *rng.choice([";", ",", " , ", " ; "].iter()).unwrap();
        let mut perturbed = converged.clone();
        perturbed.emails = Some(format!(" {} ", rewritten.join(separator)));
        prop_assert_eq!(plan(&s, Some(&converged)).desired, None);
        let after = plan(&s, Some(&perturbed));
        prop_assert_eq!(after.desired, None, "perturbed {:?} drifted: {:?}", perturbed.emails, after.drift);
    }

    #[test]
    fn exact_writes_exactly_the_declared_set(s in contact_spec(), current in observed()) {
        let mut s = s;
        s.email_merge = EmailMerge::Exact;
        if let Some(desired) = plan(&s, current.as_ref()).desired {
            prop_assert!(emails::same_set(&split(&desired), &s.emails));
        }
    }

    #[test]
    fn revert_removes_only_ours_and_spares_what_others_require(
        current in observed(),
        ours in prop::sample::subsequence(POOL, 0..4),
        theirs in prop::sample::subsequence(POOL, 0..3),
        created in any::<bool>(),
    ) {
        let ours: Vec<String> = ours.iter().map(|a| a.to_uppercase()).collect();
        let theirs: Vec<String> = theirs.iter().map(|a| (*a).to_owned()).collect();
        let Some(current) = current else {
            prop_assert_eq!(revert(None, &ours, &theirs, created), None);
            return Ok(());
        };
        let before = split(&current);
        let ours_to_go = |a: &String| emails::contains(&ours, a) && !emails::contains(&theirs, a);
        match revert(Some(&current), &ours, &theirs, created) {
            None => prop_assert!(!before.iter().any(ours_to_go)),
            Some(r) => {
                prop_assert!(!r.removed.is_empty());
                prop_assert!(r.removed.iter().all(ours_to_go));
                match r.action {
                    RevertAction::Put(desired) => {
                        let after = split(&desired);
                        prop_assert!(!after.is_empty(), "never an empty address list");
                        for a in &before {
                            prop_assert_eq!(!emails::contains(&after, a), ours_to_go(a), "{} handled wrongly", a);
                        }
                        let mut unchanged = desired.clone();
                        unchanged.emails = current.emails.clone();
                        prop_assert_eq!(unchanged, current, "only the emails change");
                    }
                    RevertAction::Delete => {
                        prop_assert!(created, "only a contact we created is deleted");
                        prop_assert!(before.iter().all(ours_to_go), "nothing else was on it");
                    }
                    RevertAction::LeaveLast => {
                        prop_assert!(!created);
                        prop_assert!(before.iter().all(ours_to_go));
                    }
                }
            }
        }
    }
}

#[test]
fn revert_takes_off_our_address_and_keeps_a_persons() {
    let current = enabled("person@contoso.com;ours@contoso.com;shared@contoso.com");
    let r = revert(
        Some(&current),
        &["OURS@contoso.com".into(), "shared@contoso.com".into()],
        &["shared@contoso.com".into()],
        false,
    )
    .expect("something to remove");
    assert_eq!(r.removed, ["ours@contoso.com"]);
    let RevertAction::Put(desired) = r.action else {
        panic!("expected a PUT, got {:?}", r.action)
    };
    assert_eq!(
        desired.emails.as_deref(),
        Some("person@contoso.com;shared@contoso.com")
    );
    assert_eq!(
        revert(
            Some(&enabled("person@contoso.com")),
            &["ours@contoso.com".into()],
            &[],
            false
        ),
        None
    );
}

#[test]
fn revert_of_the_last_address_deletes_only_a_contact_we_created() {
    let ours = ["ours@contoso.com".to_owned()];
    let only_ours = enabled("ours@contoso.com");
    let revert_of = |created| {
        revert(Some(&only_ours), &ours, &[], created)
            .unwrap()
            .action
    };
    assert_eq!(revert_of(true), RevertAction::Delete);
    assert_eq!(revert_of(false), RevertAction::LeaveLast);
}

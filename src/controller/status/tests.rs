use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

use super::*;
use crate::{
    crd::Mode,
    outcome::{Failure, SubscriptionResult, Verdict},
    plan::Drift,
};

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

fn result(sub: &str, verdict: Verdict) -> SubscriptionResult {
    SubscriptionResult {
        policy: "ns/p".into(),
        mode: Mode::Enforce,
        subscription: sub.into(),
        verdict,
        drift: Vec::new(),
        changes: Vec::new(),
        created: false,
        error: None,
        changed_by: None,
        cis: Vec::new(),
    }
}

fn failed(sub: &str, reason: &str, transient: bool) -> SubscriptionResult {
    let mut r = result(sub, Verdict::Failed);
    r.error = Some(Failure {
        reason: reason.into(),
        message: format!("{reason} on {sub}"),
        request_ids: Some("x-ms-request-id 1".into()),
        transient,
        retry_after: None,
    });
    r
}

fn drifted(sub: &str) -> SubscriptionResult {
    let mut r = result(sub, Verdict::NonCompliant);
    r.drift = vec![Drift::MissingEmails {
        emails: vec!["secops@contoso.com".into()],
    }];
    r
}

fn types(s: &SecurityContactPolicyStatus) -> Vec<(&str, &str, &str)> {
    s.conditions
        .iter()
        .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str()))
        .collect()
}

#[test]
fn all_compliant_is_ready() {
    let pass = Pass::Swept(vec![
        result("a", Verdict::Compliant),
        result("b", Verdict::Remediated),
    ]);
    let s = next(Some(3), Mode::Enforce, None, &pass, t(0));
    assert_eq!(types(&s), vec![("Ready", "True", "Compliant")]);
    assert_eq!(s.conditions[0].message, "2/2 subscriptions compliant");
    assert_eq!(s.conditions[0].observed_generation, Some(3));
    assert_eq!(s.observed_generation, Some(3));
    assert_eq!(s.compliance.as_deref(), Some("2/2"));
    assert!(s.subscriptions.is_empty());
}

#[test]
fn audit_drift_is_stalled_non_compliant_with_missing_addresses() {
    let pass = Pass::Swept(vec![result("a", Verdict::Compliant), drifted("b")]);
    let s = next(Some(1), Mode::Audit, None, &pass, t(0));
    assert_eq!(
        types(&s),
        vec![
            ("Ready", "False", "NonCompliant"),
            ("Stalled", "True", "NonCompliant")
        ]
    );
    assert_eq!(
        s.conditions[0].message,
        "1 of 2 subscriptions not compliant (Audit: nothing is written)"
    );
    assert_eq!(
        s.subscriptions[0].missing_emails,
        vec!["secops@contoso.com"]
    );
    assert_eq!(s.compliance.as_deref(), Some("1/2"));
}

#[test]
fn transient_failures_are_reconciling_and_terminal_ones_stalled() {
    let s = next(
        Some(1),
        Mode::Enforce,
        None,
        &Pass::Swept(vec![failed("a", "Throttled", true)]),
        t(0),
    );
    assert_eq!(
        types(&s),
        vec![
            ("Ready", "False", "Throttled"),
            ("Reconciling", "True", "Throttled")
        ]
    );

    let pass = Pass::Swept(vec![
        failed("a", "Throttled", true),
        failed("b", "AuthorizationFailed", false),
    ]);
    let s = next(Some(1), Mode::Enforce, None, &pass, t(0));
    assert_eq!(
        types(&s),
        vec![
            ("Ready", "False", "AuthorizationFailed"),
            ("Stalled", "True", "AuthorizationFailed")
        ]
    );
    // Worst first; request ids never reach the status.
    assert_eq!(s.subscriptions[0].subscription_id, "b");
    assert!(
        !serde_json::to_string(&s)
            .unwrap()
            .contains("x-ms-request-id")
    );
}

#[test]
fn blocked_and_suspended_keep_last_counts() {
    let swept = next(
        Some(1),
        Mode::Enforce,
        None,
        &Pass::Swept(vec![result("a", Verdict::Compliant)]),
        t(0),
    );
    let blocked = Pass::Blocked(Failure::terminal(
        "CredentialsInvalid",
        "Secret azure-creds has no key clientSecret",
    ));
    let s = next(Some(2), Mode::Enforce, Some(&swept), &blocked, t(10));
    assert_eq!(
        types(&s),
        vec![
            ("Ready", "False", "CredentialsInvalid"),
            ("Stalled", "True", "CredentialsInvalid")
        ]
    );
    assert_eq!(s.compliance.as_deref(), Some("1/1"));
    let s = next(Some(3), Mode::Enforce, Some(&s), &Pass::Suspended, t(20));
    assert_eq!(types(&s), vec![("Ready", "False", "Suspended")]);
}

#[test]
fn transition_time_moves_only_when_status_flips() {
    let ok = Pass::Swept(vec![result("a", Verdict::Compliant)]);
    let first = next(Some(1), Mode::Enforce, None, &ok, t(0));
    let again = next(Some(1), Mode::Enforce, Some(&first), &ok, t(60));
    assert_eq!(
        again, first,
        "an identical pass must yield an identical status (no write)"
    );

    let bad = Pass::Swept(vec![failed("a", "AuthorizationFailed", false)]);
    let flipped = next(Some(1), Mode::Enforce, Some(&again), &bad, t(120));
    assert_eq!(flipped.conditions[0].last_transition_time, Time(t(120)));
    // Same status, new reason: the time stays.
    let other = Pass::Swept(vec![failed("a", "ProviderNotRegistered", false)]);
    let s = next(Some(1), Mode::Enforce, Some(&flipped), &other, t(180));
    assert_eq!(s.conditions[0].last_transition_time, Time(t(120)));
    assert_eq!(s.conditions[0].reason, "ProviderNotRegistered");
}

#[test]
fn status_stays_small_at_ten_thousand_subscriptions() {
    let results: Vec<SubscriptionResult> = (0..10_000)
        .map(|i| {
            let sub = format!("{i:08}-0000-0000-0000-000000000000");
            match i % 3 {
                0 => result(&sub, Verdict::Compliant),
                1 => {
                    let mut r = drifted(&sub);
                    r.drift = vec![Drift::MissingEmails {
                        emails: (0..50)
                            .map(|n| format!("{}{n}@contoso.com", "x".repeat(200)))
                            .collect(),
                    }];
                    r
                }
                _ => {
                    let mut r = failed(&sub, "AuthorizationFailed", false);
                    r.error.as_mut().unwrap().message = "y".repeat(5000);
                    r
                }
            }
        })
        .collect();
    let s = next(Some(1), Mode::Enforce, None, &Pass::Swept(results), t(0));
    let size = serde_json::to_vec(&s).unwrap().len();
    assert!(size < 64 * 1024, "status is {size} bytes");
    assert!(!s.subscriptions.is_empty() && s.subscriptions.len() <= MAX_LISTED);
    assert_eq!(s.summary.unwrap().total, 10_000);
}

#[test]
fn a_started_pass_is_reconciling_and_keeps_the_counts() {
    let swept = next(
        Some(1),
        Mode::Enforce,
        None,
        &Pass::Swept(vec![result("a", Verdict::Compliant)]),
        t(0),
    );
    let s = next(
        Some(2),
        Mode::Enforce,
        Some(&swept),
        &Pass::Started { subscriptions: 3 },
        t(5),
    );
    assert_eq!(
        types(&s),
        vec![
            ("Ready", "False", "Progressing"),
            ("Reconciling", "True", "Progressing")
        ]
    );
    assert_eq!(
        s.conditions[1].message,
        "checking 3 subscription(s) against the new spec"
    );
    assert_eq!(s.observed_generation, Some(2));
    assert_eq!(s.compliance.as_deref(), Some("1/1"));
    // Done: Reconciling disappears, Ready flips back with a new transition time.
    let done = next(
        Some(2),
        Mode::Enforce,
        Some(&s),
        &Pass::Swept(vec![result("a", Verdict::Compliant)]),
        t(9),
    );
    assert_eq!(types(&done), vec![("Ready", "True", "Compliant")]);
    assert_eq!(done.conditions[0].last_transition_time, Time(t(9)));
}

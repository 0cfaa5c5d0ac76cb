//! Policies that govern the same subscription, pure.
//!
//! Two Additive policies coexist: each only adds its own addresses and accepts a more
//! inclusive level. An Exact policy cannot share a subscription (whichever wrote last would
//! undo the other), nor can two policies that both set a different phone. The *newer* policy
//! (creation time, then namespace/name) is the one held back, so the older keeps working and
//! nothing flaps.

use kube::{Resource, ResourceExt};

use crate::crd::{EmailMerge, SecurityContactPolicy};

/// Why `this` must not act, naming the policy it conflicts with; `None` when it may.
pub fn conflict<'a>(
    this: &SecurityContactPolicy,
    all: impl IntoIterator<Item = &'a SecurityContactPolicy>,
) -> Option<String> {
    let key = |p: &SecurityContactPolicy| (p.creation_timestamp(), p.namespace(), p.name_any());
    let id = |p: &SecurityContactPolicy| {
        format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any())
    };
    let mut reasons = Vec::new();
    for other in all {
        let same = other.namespace() == this.namespace() && other.name_any() == this.name_any();
        if same || other.meta().deletion_timestamp.is_some() || key(other) > key(this) {
            continue;
        }
        let shared: Vec<&String> = this
            .spec
            .subscriptions
            .iter()
            .filter(|s| {
                other
                    .spec
                    .subscriptions
                    .iter()
                    .any(|o| o.eq_ignore_ascii_case(s))
            })
            .collect();
        let Some(first) = shared.first() else {
            continue;
        };
        let why = if this.spec.contact.email_merge == EmailMerge::Exact {
            "this policy uses emailMerge Exact"
        } else if other.spec.contact.email_merge == EmailMerge::Exact {
            "it uses emailMerge Exact"
        } else if matches!((&this.spec.contact.phone, &other.spec.contact.phone), (Some(a), Some(b)) if a.trim() != b.trim())
        {
            "both set a different phone"
        } else {
            continue;
        };
        let more = if shared.len() > 1 {
            format!(" and {} more", shared.len() - 1)
        } else {
            String::new()
        };
        reasons.push(format!(
            "conflicts with {} on subscription {first}{more}: {why}; the older policy wins and this one writes nothing",
            id(other)
        ));
    }
    reasons.sort();
    reasons.into_iter().next()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

    use super::*;
    use crate::crd::{ContactSpec, SecurityContactPolicySpec};

    fn policy(name: &str, created: i64, subs: &[&str], merge: EmailMerge) -> SecurityContactPolicy {
        let mut p = SecurityContactPolicy::new(
            name,
            SecurityContactPolicySpec {
                mode: Default::default(),
                subscriptions: subs.iter().map(|s| (*s).to_owned()).collect(),
                contact: ContactSpec {
                    emails: vec!["a@contoso.com".into()],
                    email_merge: merge,
                    notify_roles: None,
                    alert_minimal_severity: None,
                    attack_path_minimal_risk_level: None,
                    phone: None,
                },
                interval: "15m".into(),
                deletion_policy: Default::default(),
                suspend: false,
                credentials: None,
            },
        );
        p.metadata.namespace = Some("ns".into());
        p.metadata.creation_timestamp = Some(Time(
            Timestamp::from_second(1_800_000_000 + created).unwrap(),
        ));
        p
    }

    #[test]
    fn two_additive_policies_coexist() {
        let a = policy("a", 0, &["s1"], EmailMerge::Additive);
        let b = policy("b", 1, &["S1"], EmailMerge::Additive);
        assert_eq!(conflict(&b, [&a, &b]), None);
        assert_eq!(conflict(&a, [&a, &b]), None);
    }

    #[test]
    fn exact_holds_back_the_newer_policy_only() {
        let old = policy("old", 0, &["s1", "s2"], EmailMerge::Additive);
        let new = policy("new", 5, &["s2", "s1"], EmailMerge::Exact);
        assert_eq!(conflict(&old, [&old, &new]), None);
        let why = conflict(&new, [&old, &new]).unwrap();
        assert_eq!(
            why,
            "conflicts with ns/old on subscription s2 and 1 more: this policy uses emailMerge Exact; \
             the older policy wins and this one writes nothing"
        );
    }

    #[test]
    fn different_phones_conflict_and_deleting_policies_do_not_count() {
        let mut old = policy("old", 0, &["s1"], EmailMerge::Additive);
        let mut new = policy("new", 1, &["s1"], EmailMerge::Additive);
        old.spec.contact.phone = Some("+1-555-0100".into());
        new.spec.contact.phone = Some("+1-555-0199".into());
        assert!(
            conflict(&new, [&old, &new])
                .unwrap()
                .contains("both set a different phone")
        );
        old.metadata.deletion_timestamp = old.metadata.creation_timestamp.clone();
        assert_eq!(conflict(&new, [&old, &new]), None);
    }
}

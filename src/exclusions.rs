//! `spec.exclusions`, pure: which subscriptions a policy governs at a given time. An active
//! exclusion takes its subscription out of everything (no read, no write, no overlap, no
//! count); once its `expires` has passed it stops applying and is reported as expired. The
//! clock is a parameter.

use std::borrow::Cow;

use k8s_openapi::jiff::Timestamp;

use crate::crd::{ExclusionStatus, SecurityContactPolicySpec};

fn active(expires: Option<Timestamp>, now: Timestamp) -> bool {
    expires.is_none_or(|t| t > now)
}

/// The spec as it applies at `now`: its subscriptions without the actively excluded ones.
/// Borrowed when nothing is excluded.
pub fn governed(
    spec: &SecurityContactPolicySpec,
    now: Timestamp,
) -> Cow<'_, SecurityContactPolicySpec> {
    let excluded: Vec<String> = spec
        .exclusions
        .iter()
        .filter(|e| active(e.expires.as_ref().map(|t| t.0), now))
        .map(|e| e.subscription.to_ascii_lowercase())
        .collect();
    if excluded.is_empty()
        || !spec
            .subscriptions
            .iter()
            .any(|s| excluded.contains(&s.to_ascii_lowercase()))
    {
        return Cow::Borrowed(spec);
    }
    let mut governed = spec.clone();
    governed
        .subscriptions
        .retain(|s| !excluded.contains(&s.to_ascii_lowercase()));
    Cow::Owned(governed)
}

/// Every exclusion as the status shows it at `now`.
pub fn statuses(spec: &SecurityContactPolicySpec, now: Timestamp) -> Vec<ExclusionStatus> {
    spec.exclusions
        .iter()
        .map(|e| ExclusionStatus {
            subscription_id: e.subscription.to_ascii_lowercase(),
            reason: e.reason.clone(),
            expires: e.expires.as_ref().map(|t| t.0.to_string()),
            expired: !active(e.expires.as_ref().map(|t| t.0), now),
        })
        .collect()
}

/// When the next active exclusion expires, so a pass can be due then.
pub fn next_expiry(spec: &SecurityContactPolicySpec, now: Timestamp) -> Option<Timestamp> {
    spec.exclusions
        .iter()
        .filter_map(|e| e.expires.as_ref().map(|t| t.0))
        .filter(|t| *t > now)
        .min()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::{crd::Exclusion, testing::spec};

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn with_exclusions() -> SecurityContactPolicySpec {
        let mut s = spec(&["s1", "s2", "s3"], &["a@contoso.com"]);
        s.exclusions = vec![
            Exclusion {
                subscription: "S1".into(),
                reason: "legacy, ticket SEC-1".into(),
                expires: None,
            },
            Exclusion {
                subscription: "s2".into(),
                reason: "migration".into(),
                expires: Some(Time(at(100))),
            },
        ];
        s
    }

    #[test]
    fn an_active_exclusion_removes_its_subscription_and_an_expired_one_does_not() {
        let s = with_exclusions();
        assert_eq!(governed(&s, at(0)).subscriptions, ["s3"]);
        assert_eq!(governed(&s, at(100)).subscriptions, ["s2", "s3"]);
        let shown = statuses(&s, at(100));
        assert_eq!(shown.len(), 2);
        assert!(!shown[0].expired);
        assert!(shown[1].expired);
        assert_eq!(shown[1].reason, "migration");
    }

    #[test]
    fn the_next_pass_is_due_when_the_next_exclusion_expires() {
        let s = with_exclusions();
        assert_eq!(next_expiry(&s, at(0)), Some(at(100)));
        assert_eq!(next_expiry(&s, at(100)), None);
    }

    #[test]
    fn no_exclusion_borrows_the_spec() {
        let s = spec(&["s1"], &["a@contoso.com"]);
        assert!(matches!(governed(&s, at(0)), Cow::Borrowed(_)));
    }
}

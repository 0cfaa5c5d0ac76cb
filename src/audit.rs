//! `audit`: the first thing to run on a real tenant, with nothing written down first. Every
//! subscription the identity can see (or every one under some management groups) is read
//! once and graded against CIS Microsoft Azure Foundations 8.1.12–8.1.15, whose 8.1.13 is the
//! rule this tool exists for: at least one valid additional email address. Nothing is
//! written.
//!
//! Only subscriptions that can still raise alerts are graded: `Enabled`, `Warned` and
//! `PastDue` (the last two are shown as such); `Disabled` and `Deleted` ones are counted and
//! skipped.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, stream};
use serde::Serialize;

use crate::{
    arm::{ArmClient, ArmError},
    cis,
    crd::Mode,
    oneshot::{ArmCalls, Report},
    outcome::{Failure, SubscriptionResult, Verdict},
};

/// The policy name audit results carry.
pub const AUDIT: &str = "audit";

/// Where the subscriptions came from and what was left out, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// `all visible subscriptions`, or the management groups asked for.
    pub source: String,
    /// Subscriptions found (before the state filter).
    pub found: usize,
    pub graded: usize,
    /// Graded although not fully active: `Warned` or `PastDue`, by state.
    pub degraded: BTreeMap<String, usize>,
    /// Not graded: `Disabled` or `Deleted`, by state.
    pub skipped: BTreeMap<String, usize>,
}

/// What to audit.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// Management group ids; every visible subscription when empty.
    pub management_groups: Vec<String>,
}

/// States whose subscriptions are graded; anything else is skipped.
const GRADED_STATES: [&str; 3] = ["Enabled", "Warned", "PastDue"];

/// Whether a subscription in `state` is graded. A subscription whose state ARM does not say
/// (not in the caller's list, but under a group it can read) is graded: its read will tell.
pub fn graded(state: Option<&str>) -> bool {
    state.is_none_or(|s| GRADED_STATES.iter().any(|g| g.eq_ignore_ascii_case(s)))
}

/// Grades one subscription's contact (`None`: it has none).
pub fn grade(
    subscription: &str,
    contact: Option<&crate::arm::wire::ContactProperties>,
) -> SubscriptionResult {
    let mut result = SubscriptionResult::new(AUDIT, Mode::Audit, subscription);
    result.cis = cis::findings(contact);
    if result.cis.iter().any(|f| !f.passed) {
        result.verdict = Verdict::NonCompliant;
    }
    result
}

/// Lists the target, reads every graded subscription's contact (at most `concurrency` reads
/// in flight) and grades it. A token comes first (retried as `check` does for up to
/// `token_deadline`), so a refused credential is reported once.
pub async fn run(
    arm: &ArmClient,
    target: &Target,
    concurrency: usize,
    token_deadline: std::time::Duration,
) -> (Report, Scope) {
    let before = arm.metrics().count("GET");
    let calls = |arm: &ArmClient| ArmCalls {
        get: arm.metrics().count("GET") - before,
        ..ArmCalls::default()
    };
    let failed = |what: &str, e: &ArmError| {
        let report = Report {
            scopes: Vec::new(),
            tenants: Vec::new(),
            results: vec![
                SubscriptionResult::new(AUDIT, Mode::Audit, what).failed(Failure::from(e)),
            ],
            arm_calls: calls(arm),
        };
        (report, Scope::default())
    };
    if let Err(e) = crate::oneshot::token(arm, token_deadline).await {
        return failed("(token)", &e);
    }
    let visible = match arm.list_subscriptions().await {
        Ok(list) => list,
        Err(e) => return failed("/subscriptions", &e),
    };
    let states: BTreeMap<String, Option<String>> = visible
        .iter()
        .map(|s| (s.subscription_id.to_ascii_lowercase(), s.state.clone()))
        .collect();
    let (source, ids): (String, BTreeSet<String>) = if target.management_groups.is_empty() {
        (
            "all visible subscriptions".into(),
            states.keys().cloned().collect(),
        )
    } else {
        let mut ids = BTreeSet::new();
        for group in &target.management_groups {
            match arm.management_group_subscriptions(group).await {
                Ok(found) => ids.extend(found),
                Err(e) => {
                    return failed(
                        &format!("/providers/Microsoft.Management/managementGroups/{group}"),
                        &e,
                    );
                }
            }
        }
        (
            format!("management groups {}", target.management_groups.join(", ")),
            ids,
        )
    };

    let mut scope = Scope {
        source,
        found: ids.len(),
        ..Scope::default()
    };
    let mut to_grade = Vec::new();
    for id in ids {
        let state = states.get(&id).cloned().flatten();
        match state.as_deref() {
            s if !graded(s) => {
                *scope
                    .skipped
                    .entry(s.unwrap_or_default().to_owned())
                    .or_default() += 1;
            }
            Some(s) if !s.eq_ignore_ascii_case("Enabled") => {
                *scope.degraded.entry(s.to_owned()).or_default() += 1;
                to_grade.push(id);
            }
            _ => to_grade.push(id),
        }
    }
    scope.graded = to_grade.len();
    let results: Vec<SubscriptionResult> = stream::iter(to_grade)
        .map(|id| async move {
            match arm.get_contact(&id).await {
                Ok(contact) => grade(&id, contact.as_ref().map(|c| &c.properties)),
                Err(e) => {
                    SubscriptionResult::new(AUDIT, Mode::Audit, &id).failed(Failure::from(&e))
                }
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    (
        Report {
            scopes: Vec::new(),
            tenants: Vec::new(),
            results,
            arm_calls: calls(arm),
        },
        scope,
    )
}

/// One line for people: what was audited and what was left out.
pub fn summary(scope: &Scope) -> String {
    let counts = |m: &BTreeMap<String, usize>| {
        m.iter()
            .map(|(state, n)| format!("{n} {state}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut line = format!(
        "audited {} of {} subscriptions ({})",
        scope.graded, scope.found, scope.source
    );
    if !scope.degraded.is_empty() {
        line.push_str(&format!("; graded though {}", counts(&scope.degraded)));
    }
    if !scope.skipped.is_empty() {
        line.push_str(&format!("; skipped {}", counts(&scope.skipped)));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::wire::ContactProperties;

    #[test]
    fn only_subscriptions_that_can_alert_are_graded() {
        for s in ["Enabled", "Warned", "PastDue", "enabled"] {
            assert!(graded(Some(s)), "{s}");
        }
        for s in ["Disabled", "Deleted", ""] {
            assert!(!graded(Some(s)), "{s}");
        }
        assert!(graded(None));
    }

    #[test]
    fn a_missing_contact_fails_every_check() {
        let r = grade("s", None);
        assert_eq!(r.verdict, Verdict::NonCompliant);
        assert_eq!(r.cis.len(), 4);
        assert!(r.cis.iter().all(|f| !f.passed));
    }

    #[test]
    fn a_contact_meeting_every_check_is_compliant() {
        let contact: ContactProperties = serde_json::from_value(serde_json::json!({
            "emails": "soc@contoso.com",
            "isEnabled": true,
            "notificationsByRole": {"state": "On", "roles": ["Owner"]},
            "notificationsSources": [
                {"sourceType": "Alert", "minimalSeverity": "Medium"},
                {"sourceType": "AttackPath", "minimalRiskLevel": "Critical"}
            ]
        }))
        .unwrap();
        let r = grade("s", Some(&contact));
        assert_eq!(r.verdict, Verdict::Compliant, "{:?}", r.cis);
    }

    #[test]
    fn the_summary_names_what_was_left_out() {
        let scope = Scope {
            source: "all visible subscriptions".into(),
            found: 5,
            graded: 3,
            degraded: BTreeMap::from([("Warned".into(), 1)]),
            skipped: BTreeMap::from([("Disabled".into(), 2)]),
        };
        assert_eq!(
            summary(&scope),
            "audited 3 of 5 subscriptions (all visible subscriptions); graded though 1 Warned; skipped 2 Disabled"
        );
    }
}

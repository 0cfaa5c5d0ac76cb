//! The tenant's own notification addresses (Microsoft Graph `organization`), pure: what differs
//! from `spec.tenantContact` and the PATCH that fixes it. The same merge rules as a
//! subscription contact: Additive adds what is missing and keeps every other address, Exact
//! makes each managed list exactly as declared; a list the spec leaves out is not managed.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{
    crd::{EmailMerge, TenantContact},
    emails,
};

/// The organization's lists as Graph returns them (`GET /v1.0/organization/{id}`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    #[serde(default)]
    pub technical_notification_mails: Vec<String>,
    #[serde(default)]
    pub security_compliance_notification_mails: Vec<String>,
}

/// One managed list that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListDrift {
    /// The Graph property, e.g. `technicalNotificationMails`.
    pub field: &'static str,
    pub missing: Vec<String>,
    /// Exact only: addresses present that the spec does not declare.
    pub unexpected: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TenantPlan {
    pub drift: Vec<ListDrift>,
    /// The PATCH body (only the lists that change); `None` when compliant.
    pub patch: Option<Value>,
}

impl TenantPlan {
    pub fn is_compliant(&self) -> bool {
        self.drift.is_empty()
    }

    /// For people: `technicalNotificationMails missing a@x; ...`.
    pub fn describe(&self) -> String {
        self.drift
            .iter()
            .map(|d| {
                let mut parts = Vec::new();
                if !d.missing.is_empty() {
                    parts.push(format!("missing {}", d.missing.join(", ")));
                }
                if !d.unexpected.is_empty() {
                    parts.push(format!("unexpected {}", d.unexpected.join(", ")));
                }
                format!("{} {}", d.field, parts.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

pub fn plan(spec: &TenantContact, current: &Organization) -> TenantPlan {
    let lists = [
        (
            "technicalNotificationMails",
            spec.technical_notification_mails.as_ref(),
            &current.technical_notification_mails,
        ),
        (
            "securityComplianceNotificationMails",
            spec.security_compliance_notification_mails.as_ref(),
            &current.security_compliance_notification_mails,
        ),
    ];
    let mut plan = TenantPlan::default();
    let mut patch = Map::new();
    for (field, wanted, present) in lists {
        let Some(wanted) = wanted else { continue };
        let missing: Vec<String> = wanted
            .iter()
            .filter(|w| !emails::contains(present, w))
            .cloned()
            .collect();
        let unexpected: Vec<String> = match spec.merge {
            EmailMerge::Exact => present
                .iter()
                .filter(|p| !emails::contains(wanted, p))
                .cloned()
                .collect(),
            EmailMerge::Additive => Vec::new(),
        };
        if missing.is_empty() && unexpected.is_empty() {
            continue;
        }
        let desired: Vec<String> = match spec.merge {
            EmailMerge::Exact => wanted.clone(),
            EmailMerge::Additive => present.iter().chain(&missing).cloned().collect(),
        };
        patch.insert(field.to_owned(), Value::from(desired));
        plan.drift.push(ListDrift {
            field,
            missing,
            unexpected,
        });
    }
    plan.patch = (!patch.is_empty()).then_some(Value::Object(patch));
    plan
}

/// What one run did with one policy's tenant contact.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantResult {
    pub policy: String,
    pub tenant_id: String,
    pub verdict: crate::outcome::Verdict,
    /// What differs (before a write), for people.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub drift: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::outcome::Failure>,
}

/// Why `this` (a policy's id, rank and tenant contact) must leave the tenant alone: an older
/// policy manages the same tenant and one of the two is Exact.
pub fn conflict<'a>(
    this: (&str, &crate::overlap::Rank, &TenantContact),
    others: impl IntoIterator<Item = (&'a str, &'a crate::overlap::Rank, &'a TenantContact)>,
) -> Option<String> {
    let (_, rank, mine) = this;
    others
        .into_iter()
        .filter(|(_, r, t)| *r < rank && t.tenant_id.eq_ignore_ascii_case(&mine.tenant_id))
        .find(|(_, _, t)| t.merge == EmailMerge::Exact || mine.merge == EmailMerge::Exact)
        .map(|(id, _, _)| {
            format!(
                "the tenant contact of {} is also managed by {id}, and one of them is Exact; the \
                 older policy wins and this one leaves the tenant alone",
                mine.tenant_id
            )
        })
}

/// One policy's tenant contact through Graph: read, plan, and (when `write`) PATCH what
/// differs and read again. `write` is false for Audit, `check` and dry runs.
pub async fn reconcile(
    graph: &crate::arm::ArmClient,
    policy: &str,
    spec: &TenantContact,
    write: bool,
) -> TenantResult {
    use crate::outcome::{Failure, Verdict};
    let mut result = TenantResult {
        policy: policy.to_owned(),
        tenant_id: spec.tenant_id.clone(),
        verdict: Verdict::Compliant,
        drift: String::new(),
        error: None,
    };
    let failed = |mut r: TenantResult, e: &crate::arm::ArmError| {
        r.verdict = Verdict::Failed;
        r.error = Some(Failure::from(e));
        r
    };
    let current = match graph.get_organization(&spec.tenant_id).await {
        Ok(org) => org,
        Err(e) => return failed(result, &e),
    };
    let first = plan(spec, &current);
    if first.is_compliant() {
        return result;
    }
    result.drift = first.describe();
    let Some(patch) = first.patch.filter(|_| write) else {
        result.verdict = Verdict::NonCompliant;
        return result;
    };
    if let Err(e) = graph.patch_organization(&spec.tenant_id, &patch).await {
        return failed(result, &e);
    }
    // Judge on what Graph holds now, not on what we sent.
    result.verdict = match graph.get_organization(&spec.tenant_id).await {
        Ok(after) if plan(spec, &after).is_compliant() => Verdict::Remediated,
        Ok(_) => Verdict::NonCompliant,
        Err(e) => return failed(result, &e),
    };
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(merge: EmailMerge) -> TenantContact {
        TenantContact {
            tenant_id: "00000000-0000-0000-0000-0000000000aa".into(),
            technical_notification_mails: Some(vec!["soc@contoso.com".into()]),
            security_compliance_notification_mails: None,
            merge,
        }
    }

    fn org(technical: &[&str], security: &[&str]) -> Organization {
        Organization {
            technical_notification_mails: technical.iter().map(|s| (*s).to_owned()).collect(),
            security_compliance_notification_mails: security
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }
    }

    #[test]
    fn additive_adds_and_keeps_everyone_else_and_leaves_unmanaged_lists_alone() {
        let p = plan(
            &spec(EmailMerge::Additive),
            &org(&["it@contoso.com"], &["x@y.io"]),
        );
        assert_eq!(
            p.patch,
            Some(
                serde_json::json!({"technicalNotificationMails": ["it@contoso.com", "soc@contoso.com"]})
            )
        );
        assert_eq!(
            p.describe(),
            "technicalNotificationMails missing soc@contoso.com"
        );
        assert!(plan(&spec(EmailMerge::Additive), &org(&["SOC@contoso.com"], &[])).is_compliant());
    }

    #[test]
    fn exact_replaces_the_managed_list() {
        let p = plan(
            &spec(EmailMerge::Exact),
            &org(&["it@contoso.com", "soc@contoso.com"], &[]),
        );
        assert_eq!(
            p.patch,
            Some(serde_json::json!({"technicalNotificationMails": ["soc@contoso.com"]}))
        );
        assert_eq!(p.drift[0].unexpected, ["it@contoso.com"]);
    }
}

//! Baseline findings per subscription, graded against the CIS Microsoft Azure Foundations
//! Benchmark (v5.0.0 / v6.0.0 numbering), independent of any policy.
//!
//! Definitions are precise where other tools (Prowler, Azure Policy built-ins) are not: severity and
//! risk use "this level or higher" semantics, a subscription without a contact fails every
//! check instead of being skipped, and a disabled contact notifies nobody, so it fails too.

use serde::Serialize;

use crate::{
    arm::wire::ContactProperties,
    crd::{RiskLevel, Severity},
    emails,
};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// CIS v5/v6 recommendation id, e.g. `8.1.13`.
    pub id: &'static str,
    pub title: &'static str,
    pub passed: bool,
    pub detail: String,
}

pub const OWNER_NOTIFIED: &str = "8.1.12";
pub const ADDITIONAL_EMAIL: &str = "8.1.13";
pub const ALERT_SEVERITY: &str = "8.1.14";
pub const ATTACK_PATH_RISK: &str = "8.1.15";

type Check = fn(&ContactProperties) -> Result<String, String>;

/// Grades one subscription's contact (`None` = the subscription has none).
pub fn findings(contact: Option<&ContactProperties>) -> Vec<Finding> {
    let finding = |id, title, result: Result<String, String>| Finding {
        id,
        title,
        passed: result.is_ok(),
        detail: result.unwrap_or_else(|why| why),
    };
    let checks: [(&'static str, &'static str, Check); 4] = [
        (
            OWNER_NOTIFIED,
            "Email notifications to subscription owners are on",
            owner_notified,
        ),
        (
            ADDITIONAL_EMAIL,
            "A valid additional email address is set",
            additional_email,
        ),
        (
            ALERT_SEVERITY,
            "Alert notifications have a minimal severity",
            alert_severity,
        ),
        (
            ATTACK_PATH_RISK,
            "Attack-path notifications have a minimal risk level",
            attack_path_risk,
        ),
    ];
    checks
        .into_iter()
        .map(|(id, title, check)| {
            let result = match contact {
                None => Err("no security contact".to_owned()),
                Some(c) if c.is_enabled == Some(false) => Err("contact disabled".to_owned()),
                Some(c) => check(c),
            };
            finding(id, title, result)
        })
        .collect()
}

fn owner_notified(c: &ContactProperties) -> Result<String, String> {
    match c.roles_notified() {
        None => Err("notifications by role are off".to_owned()),
        Some(roles) if emails::contains(roles, "Owner") => {
            Ok(format!("roles notified: {}", roles.join(", ")))
        }
        Some(roles) => Err(format!(
            "Owner not among roles notified ({})",
            roles.join(", ")
        )),
    }
}

fn additional_email(c: &ContactProperties) -> Result<String, String> {
    let all = emails::split(c.emails.as_deref().unwrap_or_default());
    let valid: Vec<&String> = all.iter().filter(|a| emails::is_valid(a)).collect();
    match (valid.len(), all.len()) {
        (0, 0) => Err("no additional email address".to_owned()),
        (0, _) => Err(format!("no valid address among {}", all.join(", "))),
        (n, _) => Ok(format!("{n} valid address(es)")),
    }
}

fn alert_severity(c: &ContactProperties) -> Result<String, String> {
    level(
        c.alert_minimal_severity(),
        Severity::ORDER,
        "alert minimal severity",
    )
}

fn attack_path_risk(c: &ContactProperties) -> Result<String, String> {
    level(
        c.attack_path_minimal_risk_level(),
        RiskLevel::ORDER,
        "attack-path minimal risk level",
    )
}

fn level(value: Option<&str>, known: &[&str], what: &str) -> Result<String, String> {
    match value {
        None => Err(format!("{what} not set")),
        Some(v) if known.iter().any(|k| k.eq_ignore_ascii_case(v)) => {
            Ok(format!("{what} {v} or higher"))
        }
        Some(v) => Err(format!("{what} {v:?} is not a known level")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn grade(v: serde_json::Value) -> Vec<(&'static str, bool)> {
        let c: ContactProperties = serde_json::from_value(v).unwrap();
        findings(Some(&c))
            .into_iter()
            .map(|f| (f.id, f.passed))
            .collect()
    }

    #[test]
    fn missing_contact_fails_everything_with_a_reason() {
        let f = findings(None);
        assert_eq!(f.len(), 4);
        assert!(
            f.iter()
                .all(|f| !f.passed && f.detail == "no security contact")
        );
    }

    #[test]
    fn fully_configured_contact_passes_everything() {
        let graded = grade(json!({
            "emails": "secops@contoso.com", "isEnabled": true,
            "notificationsByRole": {"state": "On", "roles": ["Owner"]},
            "notificationsSources": [
                {"sourceType": "Alert", "minimalSeverity": "Medium"},
                {"sourceType": "AttackPath", "minimalRiskLevel": "High"}]
        }));
        assert_eq!(
            graded,
            vec![
                (OWNER_NOTIFIED, true),
                (ADDITIONAL_EMAIL, true),
                (ALERT_SEVERITY, true),
                (ATTACK_PATH_RISK, true)
            ]
        );
    }

    #[test]
    fn each_check_fails_on_its_own() {
        let graded = grade(json!({
            "emails": "not-an-address", "isEnabled": true,
            "notificationsByRole": {"state": "On", "roles": ["Contributor"]},
            "notificationsSources": [{"sourceType": "Alert", "minimalSeverity": "Critical"}]
        }));
        assert!(graded.iter().all(|(_, passed)| !passed), "{graded:?}");
        // Empty strings, as the real service returns them, are "not set".
        let graded = grade(json!({"emails": "", "phone": "", "isEnabled": true}));
        assert!(graded.iter().all(|(_, passed)| !passed));
    }

    #[test]
    fn disabled_contact_fails_everything() {
        let c: ContactProperties = serde_json::from_value(json!({
            "emails": "secops@contoso.com", "isEnabled": false,
            "notificationsByRole": {"state": "On", "roles": ["Owner"]}
        }))
        .unwrap();
        assert!(
            findings(Some(&c))
                .iter()
                .all(|f| !f.passed && f.detail == "contact disabled")
        );
    }
}

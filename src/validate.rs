//! The admission rules of the CRD, in Rust, for the one-shot CLI (which has no API server).
//!
//! Serde already enforces types, enums and unknown fields (`deny_unknown_fields`); this checks
//! what the schema adds: patterns, lengths, list bounds, set semantics and the CEL rules. It
//! must accept and reject exactly what the generated CRD does: `tests/validation_parity.rs`
//! compares the two on generated manifests.

use std::{fmt, sync::LazyLock, time::Duration};

use regex::Regex;

use crate::{
    crd::{
        DeletionPolicy, INTERVAL_PATTERN, MANAGEMENT_GROUP_PATTERN, Mode, PHONE_PATTERN,
        SECRET_NAME_PATTERN, SUBSCRIPTION_ID_PATTERN, SecurityContactPolicySpec, TENANT_PATTERN,
        limits,
    },
    emails,
};

/// One rule a manifest breaks, naming the field and the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON path below the object root, e.g. `spec.contact.emails[1]`.
    pub field: String,
    pub value: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (got {})", self.field, self.message, self.value)
    }
}

/// All the rules a manifest breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Invalid(pub Vec<Violation>);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("; "))
    }
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("CRD patterns are valid regexes")
}

static SUBSCRIPTION_RE: LazyLock<Regex> = LazyLock::new(|| regex(SUBSCRIPTION_ID_PATTERN));
static PHONE_RE: LazyLock<Regex> = LazyLock::new(|| regex(PHONE_PATTERN));
static INTERVAL_RE: LazyLock<Regex> = LazyLock::new(|| regex(INTERVAL_PATTERN));
static SECRET_NAME_RE: LazyLock<Regex> = LazyLock::new(|| regex(SECRET_NAME_PATTERN));
static TENANT_RE: LazyLock<Regex> = LazyLock::new(|| regex(TENANT_PATTERN));
static MANAGEMENT_GROUP_RE: LazyLock<Regex> = LazyLock::new(|| regex(MANAGEMENT_GROUP_PATTERN));

/// Checks a spec against every schema and CEL rule of the CRD.
pub fn validate(spec: &SecurityContactPolicySpec) -> Result<(), Invalid> {
    let mut v = Checker::default();

    let subs = &spec.subscriptions;
    v.count(
        "spec.subscriptions",
        subs.len(),
        0,
        limits::MAX_SUBSCRIPTIONS,
    );
    if subs.is_empty() && spec.subscription_selector.is_none() && spec.tenant_contact.is_none() {
        v.fail(
            "spec",
            "",
            "name subscriptions, a subscriptionSelector, a tenantContact, or several",
        );
    }
    if let Some(selector) = &spec.subscription_selector {
        let groups = &selector.management_groups;
        v.count(
            "spec.subscriptionSelector.managementGroups",
            groups.len(),
            0,
            100,
        );
        for (i, g) in groups.iter().enumerate() {
            let field = format!("spec.subscriptionSelector.managementGroups[{i}]");
            if g.is_empty() || g.len() > 90 || !MANAGEMENT_GROUP_RE.is_match(g) {
                v.fail(
                    &field,
                    g,
                    "must be a management group id (letters, digits, - _ ( ) ., not ending in '.')",
                );
            }
            if groups[..i].contains(g) {
                v.fail(&field, g, "duplicate management group");
            }
        }
        v.count(
            "spec.subscriptionSelector.matchTags",
            selector.match_tags.len(),
            0,
            20,
        );
        if groups.is_empty() && selector.match_tags.is_empty() && !selector.all_visible {
            v.fail(
                "spec.subscriptionSelector",
                "",
                "subscriptionSelector needs managementGroups, matchTags or allVisible: true",
            );
        }
    }
    for (i, sub) in subs.iter().enumerate() {
        let field = format!("spec.subscriptions[{i}]");
        if !SUBSCRIPTION_RE.is_match(sub) {
            v.fail(&field, sub, "must be a subscription id (GUID)");
        }
        if subs[..i].contains(sub) {
            v.fail(&field, sub, "duplicate subscription");
        }
    }

    v.count(
        "spec.exclusions",
        spec.exclusions.len(),
        0,
        limits::MAX_EXCLUSIONS,
    );
    for (i, e) in spec.exclusions.iter().enumerate() {
        let field = format!("spec.exclusions[{i}]");
        if e.subscription.len() > 36 || !SUBSCRIPTION_RE.is_match(&e.subscription) {
            v.fail(
                format!("{field}.subscription"),
                &e.subscription,
                "must be a subscription id (GUID)",
            );
        }
        if spec.exclusions[..i]
            .iter()
            .any(|o| o.subscription == e.subscription)
        {
            v.fail(&field, &e.subscription, "duplicate exclusion");
        }
        if e.reason.is_empty() || e.reason.chars().count() > limits::MAX_REASON_LEN {
            v.fail(
                format!("{field}.reason"),
                &e.reason,
                "must say why, in 1 to 256 characters",
            );
        }
    }

    if let Some(tenant) = &spec.tenant_contact {
        if tenant.tenant_id.len() > 36 || !SUBSCRIPTION_RE.is_match(&tenant.tenant_id) {
            v.fail(
                "spec.tenantContact.tenantId",
                &tenant.tenant_id,
                "must be a tenant id (GUID)",
            );
        }
        let lists = [
            (
                "technicalNotificationMails",
                &tenant.technical_notification_mails,
            ),
            (
                "securityComplianceNotificationMails",
                &tenant.security_compliance_notification_mails,
            ),
        ];
        for (name, list) in lists {
            let Some(list) = list else { continue };
            let path = format!("spec.tenantContact.{name}");
            v.count(&path, list.len(), 1, limits::MAX_EMAILS);
            for (i, email) in list.iter().enumerate() {
                if !emails::is_valid(email) {
                    v.fail(
                        format!("{path}[{i}]"),
                        email,
                        "must be an email address like secops@contoso.com",
                    );
                }
                if list[..i].contains(email) {
                    v.fail(format!("{path}[{i}]"), email, "duplicate address");
                }
            }
        }
        if lists.iter().all(|(_, l)| l.is_none()) {
            v.fail(
                "spec.tenantContact",
                "",
                "tenantContact needs technicalNotificationMails, securityComplianceNotificationMails, or both",
            );
        }
    }

    let contact = &spec.contact;
    v.count(
        "spec.contact.emails",
        contact.emails.len(),
        1,
        limits::MAX_EMAILS,
    );
    for (i, email) in contact.emails.iter().enumerate() {
        let field = format!("spec.contact.emails[{i}]");
        if !emails::is_valid(email) {
            v.fail(
                &field,
                email,
                "must be an email address like secops@contoso.com",
            );
        }
        if emails::contains(&contact.emails[..i], email) {
            v.fail(&field, email, "emails must be unique ignoring case");
        }
    }

    if let Some(roles) = &contact.notify_roles {
        v.count("spec.contact.notifyRoles", roles.len(), 1, 4);
        for (i, role) in roles.iter().enumerate() {
            if roles[..i].contains(role) {
                v.fail(
                    format!("spec.contact.notifyRoles[{i}]"),
                    role.as_str(),
                    "duplicate role",
                );
            }
        }
    }

    if let Some(phone) = &contact.phone
        && (phone.len() > limits::MAX_PHONE_LEN || !PHONE_RE.is_match(phone))
    {
        v.fail(
            "spec.contact.phone",
            phone,
            "must be at most 40 digits, spaces and + ( ) - . / characters",
        );
    }

    if parse_interval(&spec.interval).is_none() {
        v.fail(
            "spec.interval",
            &spec.interval,
            "interval must be between 5s and 24h, e.g. 15m",
        );
    }

    if let Some(credentials) = &spec.credentials {
        let name_rule = "must be a Kubernetes object name (lowercase letters, digits, '-' and '.')";
        let name_ok = |name: &str| {
            !name.is_empty()
                && name.len() <= limits::MAX_SECRET_NAME_LEN
                && SECRET_NAME_RE.is_match(name)
        };
        if let Some(secret) = &credentials.secret_ref
            && !name_ok(&secret.name)
        {
            v.fail("spec.credentials.secretRef.name", &secret.name, name_rule);
        }
        if let Some(wi) = &credentials.workload_identity {
            if wi.client_id.len() > 36 || !SUBSCRIPTION_RE.is_match(&wi.client_id) {
                v.fail(
                    "spec.credentials.workloadIdentity.clientId",
                    &wi.client_id,
                    "must be an application (client) id, a GUID",
                );
            }
            if wi.tenant_id.is_empty()
                || wi.tenant_id.len() > 253
                || !TENANT_RE.is_match(&wi.tenant_id)
            {
                v.fail(
                    "spec.credentials.workloadIdentity.tenantId",
                    &wi.tenant_id,
                    "must be a tenant id (GUID) or a domain such as contoso.onmicrosoft.com",
                );
            }
            if !name_ok(&wi.service_account_name) {
                v.fail(
                    "spec.credentials.workloadIdentity.serviceAccountName",
                    &wi.service_account_name,
                    name_rule,
                );
            }
        }
        if credentials.secret_ref.is_some() == credentials.workload_identity.is_some() {
            v.fail(
                "spec.credentials",
                "",
                "credentials needs exactly one of secretRef or workloadIdentity",
            );
        }
    }

    if spec.mode == Mode::Audit && spec.deletion_policy == DeletionPolicy::Revert {
        v.fail(
            "spec.deletionPolicy",
            "Revert",
            "deletionPolicy Revert needs mode Enforce: an Audit policy never writes, so it has nothing to revert",
        );
    }

    v.finish()
}

/// Parses an `interval` the way the CRD accepts it (`1h30m`, `15m`, `90s`), within 5s..24h.
pub fn parse_interval(text: &str) -> Option<Duration> {
    if text.is_empty() || text.len() > limits::MAX_INTERVAL_LEN || !INTERVAL_RE.is_match(text) {
        return None;
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            _ => 1,
        };
        let n: u64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        digits.clear();
    }
    (limits::MIN_INTERVAL_SECS..=limits::MAX_INTERVAL_SECS)
        .contains(&total)
        .then(|| Duration::from_secs(total))
}

#[derive(Default)]
struct Checker(Vec<Violation>);

impl Checker {
    fn fail(&mut self, field: impl Into<String>, value: &str, message: &str) {
        self.0.push(Violation {
            field: field.into(),
            value: format!("{value:?}"),
            message: message.to_owned(),
        });
    }

    fn count(&mut self, field: &str, n: usize, min: usize, max: usize) {
        if n < min || n > max {
            let message = if n < min {
                format!("must have at least {min} item(s)")
            } else {
                format!("must have at most {max} items")
            };
            self.0.push(Violation {
                field: field.to_owned(),
                value: format!("{n} items"),
                message,
            });
        }
    }

    fn finish(self) -> Result<(), Invalid> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Invalid(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SecurityContactPolicySpec {
        crate::testing::spec(
            &["6f1c2a4e-93b1-4c9e-8a57-0d4b9e2f7a10"],
            &["secops@contoso.com"],
        )
    }

    #[test]
    fn a_good_spec_passes() {
        assert_eq!(validate(&spec()), Ok(()));
    }

    #[test]
    fn violations_name_field_and_value() {
        let mut s = spec();
        s.subscriptions.push("not-a-guid".into());
        s.contact.emails.push("SecOps@Contoso.com".into());
        s.contact.emails.push("bob@localhost".into());
        let err = validate(&s).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(
                r#"spec.subscriptions[1]: must be a subscription id (GUID) (got "not-a-guid")"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"spec.contact.emails[1]: emails must be unique ignoring case (got "SecOps@Contoso.com")"#), "{text}");
        assert!(
            text.contains(r#"spec.contact.emails[2]: must be an email address"#),
            "{text}"
        );
        assert_eq!(err.0.len(), 3);
    }

    #[test]
    fn list_bounds() {
        let mut s = spec();
        s.contact.emails.clear();
        s.subscriptions.clear();
        assert_eq!(validate(&s).unwrap_err().0.len(), 2);
        let mut s = spec();
        s.contact.emails = (0..51).map(|i| format!("u{i}@contoso.com")).collect();
        assert!(validate(&s).unwrap_err().to_string().contains("at most 50"));
    }

    #[test]
    fn audit_cannot_revert() {
        let mut s = spec();
        s.mode = Mode::Audit;
        s.deletion_policy = DeletionPolicy::Revert;
        assert!(
            validate(&s)
                .unwrap_err()
                .to_string()
                .contains("needs mode Enforce")
        );
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_interval("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_interval("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_interval("24h"), Some(Duration::from_secs(86400)));
        for bad in [
            "",
            "4s",
            "25h",
            "24h1s",
            "15",
            "m",
            "1m1h",
            "1.5h",
            "15min",
            "99999999999999999999h",
        ] {
            assert_eq!(parse_interval(bad), None, "{bad:?}");
        }
    }
}

//! Rendering a one-shot run for people (a table), machines (JSON), code scanning (SARIF 2.1.0,
//! [`sarif`]) and CI test reports (JUnit XML, [`junit`]). Pure.
//!
//! SARIF and JUnit grade every (policy, subscription) result against the same checks, derived
//! from the report's data alone (so any command producing a [`Report`] gets them):
//!
//! | id | name | fails when |
//! |---|---|---|
//! | `SCO-READ` | SubscriptionReadable | the verdict is `Failed`: ARM refused or failed the read or the write, or the policy was held back |
//! | `SCO-POLICY` | ContactMatchesPolicy | drift stands: verdict `NonCompliant`, or `Failed` after a read that found drift |
//! | `SCO-EMAIL-1` | AdditionalEmailConfigured | the standing drift misses the contact or addresses the policy requires, or CIS 8.1.13 fails (no valid address, or a disabled contact, which mails nobody) |
//! | `CIS-<id>` | from the finding's title | that CIS finding failed; one rule per finding id seen in the report |
//!
//! A `Remediated` result has no standing drift (its drift is what was fixed); CIS findings are
//! graded on the contact as it is after the run. A subscription that could not be read is
//! `SCO-READ` only: its other checks are skipped, not passed.

use std::fmt::Write;

use crate::{
    cis,
    crd::Mode,
    oneshot::{Report, SubscriptionResult, Verdict},
};

mod junit;
mod sarif;

pub use junit::junit;
pub use sarif::{sarif, sarif_with_manifests};

/// The parts of a [`Report`], so that other commands and tests can build one by hand.
pub use crate::{
    cis::Finding,
    plan::{Drift, FieldChange},
};

/// The table `check`/`apply` print: one row per (policy, subscription), then what would change
/// or changed, failed CIS checks, and a summary with the ARM calls made.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let policy_width = report
        .results
        .iter()
        .map(|r| r.policy.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        out,
        "{:<policy_width$}  {:<36}  {:<12}  {:<11}  DETAILS",
        "POLICY", "SUBSCRIPTION", "VERDICT", "CIS 12-15"
    );
    for r in &report.results {
        let cis: String = if r.cis.is_empty() {
            "-".to_owned()
        } else {
            r.cis
                .iter()
                .map(|f| if f.passed { "✓" } else { "✗" })
                .collect::<Vec<_>>()
                .join("  ")
        };
        let details = match (&r.error, r.verdict) {
            (Some(e), _) => match &e.request_ids {
                Some(ids) => format!("{}: {} ({ids})", e.reason, e.message),
                None => format!("{}: {}", e.reason, e.message),
            },
            (None, Verdict::Compliant) => String::new(),
            (None, _) => r
                .drift
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        };
        let verdict = match (r.verdict, r.created) {
            (Verdict::Remediated, true) => "Created".to_owned(),
            (v, _) => format!("{v:?}"),
        };
        let _ = writeln!(
            out,
            "{:<policy_width$}  {:<36}  {:<12}  {:<11}  {}",
            r.policy, r.subscription, verdict, cis, details
        );
        let indent = " ".repeat(policy_width + 2);
        let verb = if r.verdict == Verdict::Remediated {
            "changed"
        } else {
            "would change"
        };
        for change in &r.changes {
            let _ = writeln!(out, "{indent}{verb} {change}");
        }
        // Failed checks sharing a cause ("no security contact") are said once.
        let mut failed: Vec<(Vec<&str>, &str)> = Vec::new();
        for finding in r.cis.iter().filter(|f| !f.passed) {
            match failed
                .iter_mut()
                .find(|(_, detail)| *detail == finding.detail)
            {
                Some((ids, _)) => ids.push(finding.id),
                None => failed.push((vec![finding.id], &finding.detail)),
            }
        }
        for (ids, detail) in failed {
            let _ = writeln!(out, "{indent}CIS {} failed: {detail}", ids.join(", "));
        }
    }
    if !report.scopes.is_empty() {
        out.push('\n');
    }
    for scope in &report.scopes {
        if let Some(sel) = &scope.selection {
            let counts = |m: &std::collections::BTreeMap<String, i32>| {
                m.iter()
                    .map(|(state, n)| format!("{n} {state}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut line = format!(
                "{}: subscriptionSelector found {} subscription(s); {} with the ids named, before exclusions",
                scope.policy, sel.found, sel.resolved
            );
            if !sel.degraded.is_empty() {
                let _ = write!(line, "; selected though {}", counts(&sel.degraded));
            }
            if !sel.skipped.is_empty() {
                let _ = write!(line, "; skipped {}", counts(&sel.skipped));
            }
            let _ = writeln!(out, "{line}");
        }
        for e in &scope.exclusions {
            let until = e
                .expires
                .as_deref()
                .map(|t| format!(" until {t}"))
                .unwrap_or_default();
            let state = if e.expired {
                "EXPIRED, governed again"
            } else {
                "excluded"
            };
            let _ = writeln!(
                out,
                "{}: {} {state}{until}: {}",
                scope.policy, e.subscription_id, e.reason
            );
        }
    }
    if !report.tenants.is_empty() {
        out.push('\n');
    }
    for t in &report.tenants {
        let details = match (&t.error, t.verdict) {
            (Some(e), _) => format!("{}: {}", e.reason, e.message),
            (None, Verdict::Compliant) => String::new(),
            (None, Verdict::Remediated) => format!("restored: {}", t.drift),
            (None, _) => t.drift.clone(),
        };
        let _ = writeln!(
            out,
            "{}: tenant contact of {}: {:?} {details}",
            t.policy, t.tenant_id, t.verdict
        );
    }
    let count = |v: Verdict| report.results.iter().filter(|r| r.verdict == v).count();
    let calls = &report.arm_calls;
    let _ = writeln!(
        out,
        "\n{} result(s): {} compliant, {} remediated, {} non-compliant, {} failed. ARM calls: {} GET, {} PUT, {} DELETE.",
        report.results.len(),
        count(Verdict::Compliant),
        count(Verdict::Remediated),
        count(Verdict::NonCompliant),
        count(Verdict::Failed),
        calls.get,
        calls.put,
        calls.delete,
    );
    out
}

pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("the report serialises")
}

/// Rule ids of our own checks. Stable: code scanning keys its alerts on them.
pub const RULE_READ: &str = "SCO-READ";
pub const RULE_POLICY: &str = "SCO-POLICY";
pub const RULE_EMAIL: &str = "SCO-EMAIL-1";
/// A CIS finding `8.1.13` is rule `CIS-8.1.13`.
const CIS_RULE_PREFIX: &str = "CIS-";

/// Where the project lives: Cargo's `repository` when the manifest declares one.
fn repository() -> &'static str {
    option_env!("CARGO_PKG_REPOSITORY")
        .filter(|r| !r.is_empty())
        .unwrap_or("https://github.com/security-contact-operator/security-contact-operator")
}

/// The README section describing these checks (help for our own rules).
fn readme_help() -> String {
    format!("{}#sarif-and-junit-reports", repository())
}

/// What the CIS checks grade: Defender for Cloud's email notification settings.
const CIS_HELP_URI: &str =
    "https://learn.microsoft.com/azure/defender-for-cloud/configure-email-notifications";

/// One check a result is graded against.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    id: String,
    /// PascalCase, as SARIF wants a rule's name.
    name: String,
    short: String,
    full: String,
    help: String,
    help_uri: String,
    /// A CIS finding (baseline, outside the policy's verdict) rather than one of ours.
    cis: Option<&'static str>,
}

/// The rules of a report: ours always (so ids and indexes are the same in every run), then
/// one per CIS finding id seen, in recommendation order.
fn rules(report: &Report) -> Vec<Rule> {
    let mut rules = vec![
        Rule {
            id: RULE_READ.to_owned(),
            name: "SubscriptionReadable".to_owned(),
            short:
                "The subscription's security contact could be read (and written, when enforcing)"
                    .to_owned(),
            full: "Fails when Azure Resource Manager refused or failed the read of the \
                   subscription's security contact, or the write that enforcing needed \
                   (missing role assignment, Microsoft.Security not registered, disabled \
                   subscription, throttling, outage, invalid credentials), or when the policy \
                   was held back because it conflicts with an earlier one. Until it passes, \
                   nothing else can be judged for the subscription."
                .to_owned(),
            help: "Read the reason: grant the identity Security Admin (or Reader for check) on \
                   the subscription, register Microsoft.Security, or resolve the conflict \
                   between policies; then run again."
                .to_owned(),
            help_uri: readme_help(),
            cis: None,
        },
        Rule {
            id: RULE_POLICY.to_owned(),
            name: "ContactMatchesPolicy".to_owned(),
            short: "The security contact matches what the policy declares".to_owned(),
            full: "The subscription's Microsoft Defender for Cloud security contact differs from \
                   the contact its SecurityContactPolicy declares: addresses, roles notified, \
                   alert minimal severity, attack-path minimal risk level, phone, or the contact \
                   is disabled or missing. The result lists the drift and the field-level \
                   changes that apply writes."
                .to_owned(),
            help: "Run `security-contact-operator apply` with the policy (or let the operator \
                   reconcile an Enforce policy) to write the listed changes."
                .to_owned(),
            help_uri: readme_help(),
            cis: None,
        },
        Rule {
            id: RULE_EMAIL.to_owned(),
            name: "AdditionalEmailConfigured".to_owned(),
            short: "At least one valid additional email address is configured".to_owned(),
            full: "Defender for Cloud mails security alerts to the contact's additional email \
                   addresses. Fails when the subscription has no contact, when addresses the \
                   policy requires are missing, or when the contact has no valid address: \
                   alerts then reach at most the roles notified."
                .to_owned(),
            help: "Declare the security team's address in the policy's contact.emails and apply \
                   it."
            .to_owned(),
            help_uri: readme_help(),
            cis: None,
        },
    ];
    let mut seen: Vec<&Finding> = Vec::new();
    for finding in report.results.iter().flat_map(|r| &r.cis) {
        if !seen.iter().any(|s| s.id == finding.id) {
            seen.push(finding);
        }
    }
    seen.sort_by(|a, b| recommendation_order(a.id).cmp(&recommendation_order(b.id)));
    rules.extend(seen.into_iter().map(|f| Rule {
        id: format!("{CIS_RULE_PREFIX}{}", f.id),
        name: pascal_case(f.title),
        short: f.title.to_owned(),
        full: format!(
            "CIS Microsoft Azure Foundations Benchmark recommendation {}: {}. Graded on the \
             subscription's security contact as it is after the run; a subscription without a \
             contact, or with a disabled one, fails it.",
            f.id, f.title
        ),
        help: match cis_field(f.id) {
            Some((_, spec)) => format!(
                "Declare {spec} in a SecurityContactPolicy for the subscription and apply it."
            ),
            None => "Configure the contact in Defender for Cloud's email notifications.".to_owned(),
        },
        help_uri: CIS_HELP_URI.to_owned(),
        cis: Some(f.id),
    }));
    rules
}

/// `8.1.9` before `8.1.12`: numeric segments compare as numbers.
fn recommendation_order(id: &str) -> Vec<(u64, &str)> {
    id.split('.')
        .map(|s| (s.parse().unwrap_or(u64::MAX), s))
        .collect()
}

/// "Alert notifications have a minimal severity" → "AlertNotificationsHaveAMinimalSeverity".
fn pascal_case(title: &str) -> String {
    title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// The ARM field (prefix) a CIS check grades and the policy field that manages it.
fn cis_field(id: &str) -> Option<(&'static str, &'static str)> {
    match id {
        cis::OWNER_NOTIFIED => Some(("notificationsByRole", "notifyRoles: [Owner]")),
        cis::ADDITIONAL_EMAIL => Some(("emails", "emails")),
        cis::ALERT_SEVERITY => Some(("notificationsSources[Alert]", "alertMinimalSeverity")),
        cis::ATTACK_PATH_RISK => Some((
            "notificationsSources[AttackPath]",
            "attackPathMinimalRiskLevel",
        )),
        _ => None,
    }
}

/// A failing check or an error, said twice: one line, and labelled lists for the details.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Problem {
    /// What the problem is called in JUnit's `type`: the failure reason or the rule's name.
    kind: String,
    summary: String,
    sections: Vec<(String, Vec<String>)>,
}

impl Problem {
    /// The whole problem on one line (SARIF's message; GitHub shows it as a paragraph).
    fn one_line(&self) -> String {
        let mut out = self.summary.clone();
        for (title, items) in &self.sections {
            let _ = write!(out, " {}: {}.", capitalise(title), items.join("; "));
        }
        out
    }

    /// The whole problem over several lines (JUnit's failure text).
    fn lines(&self) -> String {
        let mut out = format!("{}\n", self.summary);
        for (title, items) in &self.sections {
            let _ = writeln!(out, "{title}:");
            for item in items {
                let _ = writeln!(out, "  - {item}");
            }
        }
        out
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// With what is worth keeping (what was changed, a CIS detail).
    Pass(Vec<String>),
    Fail(Problem),
    /// The subscription could not be read or written.
    Error(Problem),
    /// Not judged: why.
    Skipped(String),
}

/// One (policy, subscription) result graded against one rule.
struct Check<'r> {
    rule: usize,
    result: &'r SubscriptionResult,
    outcome: Outcome,
}

/// Every result against every rule, in report order, then rule order.
fn checks<'r>(report: &'r Report, rules: &[Rule]) -> Vec<Check<'r>> {
    report
        .results
        .iter()
        .flat_map(|result| {
            rules.iter().enumerate().map(move |(rule, r)| Check {
                rule,
                result,
                outcome: evaluate(r, result),
            })
        })
        .collect()
}

/// The contact was read, so the checks other than `SCO-READ` can be judged: every verdict but
/// `Failed`, and a `Failed` that failed on the write (its read left findings or drift).
fn judged(r: &SubscriptionResult) -> bool {
    r.verdict != Verdict::Failed || !r.cis.is_empty() || !r.drift.is_empty()
}

/// The drift that still holds after the run: a remediated result's drift was fixed.
fn standing_drift(r: &SubscriptionResult) -> &[Drift] {
    match r.verdict {
        Verdict::Remediated => &[],
        _ => &r.drift,
    }
}

/// How the changes read: done, or what `apply` would write (an Audit policy never writes).
fn changes_verb(r: &SubscriptionResult) -> &'static str {
    match (r.verdict, r.created, r.mode) {
        (Verdict::Remediated, true, _) => "created with",
        (Verdict::Remediated, false, _) => "changed",
        (_, _, Mode::Audit) => "enforcing would change",
        (_, _, Mode::Enforce) => "apply would change",
    }
}

fn not_judged(r: &SubscriptionResult) -> String {
    match &r.error {
        Some(e) => format!(
            "not judged: the subscription could not be read ({})",
            e.reason
        ),
        None => "not judged: the subscription could not be read".to_owned(),
    }
}

fn strings<T: ToString>(items: impl IntoIterator<Item = T>) -> Vec<String> {
    items.into_iter().map(|i| i.to_string()).collect()
}

fn evaluate(rule: &Rule, r: &SubscriptionResult) -> Outcome {
    let who = format!("subscription {} (policy {})", r.subscription, r.policy);
    if rule.id == RULE_READ {
        return match (&r.error, r.verdict) {
            (Some(e), _) => {
                let mut sections = Vec::new();
                if let Some(ids) = &e.request_ids {
                    sections.push(("ARM request ids".to_owned(), vec![ids.clone()]));
                }
                Outcome::Error(Problem {
                    kind: e.reason.clone(),
                    summary: format!("{who} failed: {}: {}", e.reason, e.message),
                    sections,
                })
            }
            (None, Verdict::Failed) => Outcome::Error(Problem {
                kind: "Failed".to_owned(),
                summary: format!("{who} failed"),
                sections: Vec::new(),
            }),
            (None, _) => Outcome::Pass(Vec::new()),
        };
    }
    if !judged(r) {
        return Outcome::Skipped(not_judged(r));
    }
    let write_failed = |sections: &mut Vec<(String, Vec<String>)>| {
        if let Some(e) = &r.error {
            sections.push((
                "write failed".to_owned(),
                vec![format!("{}: {}", e.reason, e.message)],
            ));
        }
    };
    if rule.id == RULE_POLICY {
        let drift = standing_drift(r);
        if drift.is_empty() {
            let done = if r.verdict == Verdict::Remediated {
                r.changes
                    .iter()
                    .map(|c| format!("{} {c}", changes_verb(r)))
                    .collect()
            } else {
                Vec::new()
            };
            return Outcome::Pass(done);
        }
        let mut sections = vec![("drift".to_owned(), strings(drift))];
        if !r.changes.is_empty() {
            sections.push((changes_verb(r).to_owned(), strings(&r.changes)));
        }
        write_failed(&mut sections);
        return Outcome::Fail(Problem {
            kind: rule.name.clone(),
            summary: format!(
                "The security contact of {who} differs from the policy ({:?} mode, {:?}).",
                r.mode, r.verdict
            ),
            sections,
        });
    }
    if rule.id == RULE_EMAIL {
        return additional_email(rule, r, &who);
    }
    let Some(id) = rule.cis else {
        return Outcome::Skipped(format!("no check is known for rule {}", rule.id));
    };
    let Some(finding) = r.cis.iter().find(|f| f.id == id) else {
        return Outcome::Skipped(format!("CIS {id} was not graded for this subscription"));
    };
    if finding.passed {
        return Outcome::Pass(vec![finding.detail.clone()]);
    }
    // What would fix it: the policy's own changes to the graded fields (or to isEnabled), or,
    // when it has none, the policy field to declare.
    let relevant: Vec<String> = match cis_field(id) {
        Some((prefix, _)) if r.verdict != Verdict::Remediated => r
            .changes
            .iter()
            .filter(|c| c.field.starts_with(prefix) || c.field == "isEnabled")
            .map(ToString::to_string)
            .collect(),
        _ => Vec::new(),
    };
    let mut sections = Vec::new();
    if relevant.is_empty() {
        let declare = match cis_field(id) {
            Some((_, spec)) => format!(
                "policy {} does not set what this needs: declare {spec} in its contact and apply it",
                r.policy
            ),
            None => format!("policy {} does not manage this check", r.policy),
        };
        sections.push(("to fix".to_owned(), vec![declare]));
    } else {
        sections.push((changes_verb(r).to_owned(), relevant));
        write_failed(&mut sections);
    }
    Outcome::Fail(Problem {
        kind: rule.name.clone(),
        summary: format!(
            "CIS {id} ({}) fails on {who}: {}.",
            finding.title, finding.detail
        ),
        sections,
    })
}

/// `SCO-EMAIL-1`: fails when the standing drift misses the contact or addresses the policy
/// requires, or when no valid address gets mail: CIS 8.1.13 failed (no address, none valid,
/// or the contact is disabled). The same whether the report has drift (check, apply) or CIS
/// findings only (audit).
fn additional_email(rule: &Rule, r: &SubscriptionResult, who: &str) -> Outcome {
    let drift = standing_drift(r);
    let mut why: Vec<String> = drift
        .iter()
        .filter(|d| {
            matches!(
                d,
                Drift::ContactMissing { .. } | Drift::MissingEmails { .. }
            )
        })
        .map(ToString::to_string)
        .collect();
    let contact_missing = drift
        .iter()
        .any(|d| matches!(d, Drift::ContactMissing { .. }));
    let cis = r.cis.iter().find(|f| f.id == cis::ADDITIONAL_EMAIL);
    // "No security contact" is said once, by the drift.
    if let Some(f) = cis
        && !f.passed
        && !contact_missing
    {
        why.push(format!("CIS {}: {}", f.id, f.detail));
    }
    if why.is_empty() {
        return Outcome::Pass(cis.map(|f| f.detail.clone()).into_iter().collect());
    }
    let mut sections = vec![("why".to_owned(), why)];
    let fix: Vec<String> = match r.verdict {
        Verdict::Remediated => Vec::new(),
        _ => r
            .changes
            .iter()
            .filter(|c| c.field == "emails" || c.field == "isEnabled")
            .map(ToString::to_string)
            .collect(),
    };
    if !fix.is_empty() {
        sections.push((changes_verb(r).to_owned(), fix));
    }
    Outcome::Fail(Problem {
        kind: rule.name.clone(),
        summary: format!("The security contact of {who} lacks a valid additional email address."),
        sections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{crd::Severity, oneshot::Failure};

    fn finding(id: &'static str, passed: bool, detail: &str) -> Finding {
        Finding {
            id,
            title: match id {
                cis::OWNER_NOTIFIED => "Email notifications to subscription owners are on",
                cis::ADDITIONAL_EMAIL => "A valid additional email address is set",
                _ => "Some check",
            },
            passed,
            detail: detail.to_owned(),
        }
    }

    fn result(verdict: Verdict, drift: Vec<Drift>, cis: Vec<Finding>) -> SubscriptionResult {
        let mut r = SubscriptionResult::new("ns/p", Mode::Enforce, "sub");
        r.verdict = verdict;
        r.drift = drift;
        r.cis = cis;
        r
    }

    fn report(results: Vec<SubscriptionResult>) -> Report {
        Report {
            results,
            ..Default::default()
        }
    }

    fn ids(rules: &[Rule]) -> Vec<&str> {
        rules.iter().map(|r| r.id.as_str()).collect()
    }

    fn outcome(rule_id: &str, r: &SubscriptionResult) -> Outcome {
        let rules = rules(&report(vec![r.clone()]));
        let rule = rules.iter().find(|x| x.id == rule_id).unwrap();
        evaluate(rule, r)
    }

    fn missing_emails() -> Drift {
        Drift::MissingEmails {
            emails: vec!["secops@contoso.com".into()],
        }
    }

    #[test]
    fn our_rules_always_then_the_cis_ids_seen_in_recommendation_order() {
        assert_eq!(
            ids(&rules(&Report::default())),
            ["SCO-READ", "SCO-POLICY", "SCO-EMAIL-1"]
        );
        let a = result(
            Verdict::Compliant,
            vec![],
            vec![finding("8.1.12", true, ""), finding("8.1.9", false, "x")],
        );
        let b = result(
            Verdict::Compliant,
            vec![],
            vec![finding("8.1.13", true, ""), finding("8.1.12", false, "y")],
        );
        let rules = rules(&report(vec![a, b]));
        assert_eq!(
            ids(&rules),
            [
                "SCO-READ",
                "SCO-POLICY",
                "SCO-EMAIL-1",
                "CIS-8.1.9",
                "CIS-8.1.12",
                "CIS-8.1.13"
            ]
        );
        let owner = &rules[4];
        assert_eq!(owner.name, "EmailNotificationsToSubscriptionOwnersAreOn");
        assert_eq!(
            owner.short,
            "Email notifications to subscription owners are on"
        );
        assert_eq!(owner.help_uri, CIS_HELP_URI);
        assert!(
            owner.help.contains("notifyRoles: [Owner]"),
            "{}",
            owner.help
        );
        assert!(rules[1].help_uri.ends_with("#sarif-and-junit-reports"));
    }

    #[test]
    fn email_rule_fails_on_missing_emails_or_no_contact() {
        let r = result(Verdict::NonCompliant, vec![missing_emails()], vec![]);
        let Outcome::Fail(p) = outcome(RULE_EMAIL, &r) else {
            panic!()
        };
        assert_eq!(
            p.sections[0],
            (
                "why".into(),
                vec!["missing emails secops@contoso.com".into()]
            )
        );
        let r = result(
            Verdict::NonCompliant,
            vec![Drift::ContactMissing {
                emails: vec!["a@b.example".into()],
            }],
            vec![finding("8.1.13", false, "no security contact")],
        );
        let Outcome::Fail(p) = outcome(RULE_EMAIL, &r) else {
            panic!()
        };
        assert_eq!(p.sections[0].1, ["no security contact"], "said once");
    }

    #[test]
    fn email_rule_fails_on_a_contact_without_a_valid_address() {
        let r = result(
            Verdict::Compliant,
            vec![],
            vec![finding("8.1.13", false, "no valid address among nope")],
        );
        let Outcome::Fail(p) = outcome(RULE_EMAIL, &r) else {
            panic!()
        };
        assert_eq!(p.sections[0].1, ["CIS 8.1.13: no valid address among nope"]);
    }

    #[test]
    fn email_rule_fails_a_disabled_contact_and_passes_a_remediated_one() {
        let disabled = result(
            Verdict::NonCompliant,
            vec![Drift::Disabled],
            vec![finding("8.1.13", false, "contact disabled")],
        );
        let Outcome::Fail(p) = outcome(RULE_EMAIL, &disabled) else {
            panic!()
        };
        assert_eq!(p.sections[0].1, ["CIS 8.1.13: contact disabled"]);
        // An audit report: CIS findings, no drift.
        let audit = result(
            Verdict::NonCompliant,
            vec![],
            vec![finding("8.1.13", false, "no security contact")],
        );
        assert!(matches!(outcome(RULE_EMAIL, &audit), Outcome::Fail(_)));
        let remediated = result(
            Verdict::Remediated,
            vec![missing_emails()],
            vec![finding("8.1.13", true, "1 valid address(es)")],
        );
        assert_eq!(
            outcome(RULE_EMAIL, &remediated),
            Outcome::Pass(vec!["1 valid address(es)".into()])
        );
    }

    #[test]
    fn a_remediated_result_passes_and_says_what_changed() {
        let mut r = result(Verdict::Remediated, vec![missing_emails()], vec![]);
        r.changes = vec![FieldChange {
            field: "emails",
            from: Some("a@contoso.com".into()),
            to: Some("a@contoso.com;secops@contoso.com".into()),
        }];
        assert_eq!(
            outcome(RULE_POLICY, &r),
            Outcome::Pass(vec![
                r#"changed emails: "a@contoso.com" -> "a@contoso.com;secops@contoso.com""#.into()
            ])
        );
    }

    #[test]
    fn policy_rule_gives_the_drift_and_the_changes() {
        let mut r = result(
            Verdict::NonCompliant,
            vec![Drift::AlertSeverity {
                current: Some("High".into()),
                wanted: Severity::Medium,
            }],
            vec![],
        );
        r.changes = vec![FieldChange {
            field: "notificationsSources[Alert].minimalSeverity",
            from: Some("High".into()),
            to: Some("Medium".into()),
        }];
        let Outcome::Fail(p) = outcome(RULE_POLICY, &r) else {
            panic!()
        };
        assert_eq!(
            p.one_line(),
            "The security contact of subscription sub (policy ns/p) differs from the policy \
             (Enforce mode, NonCompliant). Drift: alert minimal severity High (wanted Medium). \
             Apply would change: notificationsSources[Alert].minimalSeverity: \"High\" -> \"Medium\"."
        );
        assert_eq!(p.kind, "ContactMatchesPolicy");
    }

    #[test]
    fn an_unreadable_subscription_is_an_error_and_nothing_else_is_judged() {
        let r = SubscriptionResult::new("ns/p", Mode::Enforce, "sub")
            .failed(Failure::terminal("AuthorizationFailed", "no access"));
        let rules = rules(&report(vec![r.clone()]));
        let outcomes: Vec<Outcome> = rules.iter().map(|rule| evaluate(rule, &r)).collect();
        let Outcome::Error(p) = &outcomes[0] else {
            panic!("{outcomes:?}")
        };
        assert_eq!(p.kind, "AuthorizationFailed");
        assert!(p.summary.ends_with("AuthorizationFailed: no access"));
        assert!(outcomes[1..].iter().all(|o| matches!(o,
            Outcome::Skipped(why) if why.contains("could not be read (AuthorizationFailed)"))));
    }

    #[test]
    fn a_failed_write_still_judges_what_was_read() {
        let mut r = result(
            Verdict::NonCompliant,
            vec![missing_emails()],
            vec![finding("8.1.12", false, "notifications by role are off")],
        );
        r = r.failed(Failure::terminal("AuthorizationFailed", "read only"));
        let rules = rules(&report(vec![r.clone()]));
        let outcomes: Vec<Outcome> = rules.iter().map(|rule| evaluate(rule, &r)).collect();
        assert!(matches!(outcomes[0], Outcome::Error(_)));
        let Outcome::Fail(p) = &outcomes[1] else {
            panic!("{outcomes:?}")
        };
        assert!(p.sections.contains(&(
            "write failed".into(),
            vec!["AuthorizationFailed: read only".into()]
        )));
        assert!(matches!(outcomes[2], Outcome::Fail(_)));
        let Outcome::Fail(p) = &outcomes[3] else {
            panic!("{outcomes:?}")
        };
        assert_eq!(
            p.sections,
            [(
                "to fix".to_owned(),
                vec![
                    "policy ns/p does not set what this needs: declare notifyRoles: [Owner] in \
                     its contact and apply it"
                        .to_owned()
                ]
            )]
        );
    }

    #[test]
    fn cis_failures_point_at_the_policy_changes_that_fix_them() {
        let mut r = result(
            Verdict::NonCompliant,
            vec![Drift::Disabled],
            vec![finding("8.1.12", false, "contact disabled")],
        );
        r.changes = vec![
            FieldChange {
                field: "isEnabled",
                from: Some("false".into()),
                to: Some("true".into()),
            },
            FieldChange {
                field: "phone",
                from: None,
                to: Some("+1".into()),
            },
        ];
        let Outcome::Fail(p) = outcome("CIS-8.1.12", &r) else {
            panic!()
        };
        assert_eq!(
            p.sections,
            [(
                "apply would change".to_owned(),
                vec![r#"isEnabled: "false" -> "true""#.to_owned()]
            )]
        );
    }

    #[test]
    fn pascal_case_names() {
        assert_eq!(
            pascal_case("Attack-path notifications have a minimal risk level"),
            "AttackPathNotificationsHaveAMinimalRiskLevel"
        );
        assert_eq!(pascal_case(""), "");
    }
}

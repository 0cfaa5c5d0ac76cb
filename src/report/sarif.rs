//! SARIF 2.1.0 for code scanning (GitHub, Azure DevOps, SARIF viewers): one run, one result
//! per (policy, subscription) × failing check.
//!
//! Only problems are results. Passing checks are not emitted, not even as `kind: "pass"`:
//! GitHub code scanning turns every result into an alert whatever its kind, so passes would
//! bury the failures, and an alert closes exactly when its result is absent from the next
//! upload, which is what a fixed or compliant check must do. A remediated subscription is
//! compliant after the run, so it has no result either; what was written is kept in the run's
//! `properties.remediated`, and every pass is in the JUnit report.
//!
//! Levels follow the exit code: `error` for what makes the CLI exit non-zero (our checks on a
//! `NonCompliant` or `Failed` result, and `SCO-READ`), `warning` for the rest. So CIS findings
//! are warnings in `check`/`apply`, where they grade a baseline beyond the policy and never
//! change the exit code (code scanning fails a pull request's check on errors by default; a
//! CIS gap the policy does not manage must not do that), and errors where they are the verdict
//! (`NonCompliant` without drift: `audit`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Check, Outcome, RULE_READ, Rule, checks, repository, rules};
use crate::oneshot::{EXIT_COMPLIANT, EXIT_ERROR, EXIT_NON_COMPLIANT, Report, Verdict};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const TOOL: &str = "security-contact-operator";
/// The key of our partial fingerprint: bump the version if its value's form ever changes.
const FINGERPRINT: &str = "securityContact/v1";

/// The report as SARIF 2.1.0, locations logical only (the subscription's contact resource).
pub fn sarif(report: &Report) -> String {
    sarif_with_manifests(report, &BTreeMap::new())
}

/// [`sarif`], with each policy's manifest as the physical location of its results
/// (`manifests`: policy id → path relative to the repository root, `/`-separated). GitHub code
/// scanning rejects results without an artifact location; other consumers need none.
pub fn sarif_with_manifests(report: &Report, manifests: &BTreeMap<String, String>) -> String {
    let rules = rules(report);
    let checks = checks(report, &rules);
    let results: Vec<Value> = checks
        .iter()
        .filter_map(|c| result(c, &rules[c.rule], manifests))
        .collect();
    let rule_index = |id: &str| rules.iter().position(|r| r.id == id);
    let notifications: Vec<Value> = checks
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Error(problem) => Some(json!({
                "level": "error",
                "message": { "text": problem.one_line() },
                "associatedRule": { "id": RULE_READ, "index": rule_index(RULE_READ) },
            })),
            _ => None,
        })
        .collect();
    let exit_code = report.exit_code();
    let mut invocation = json!({
        "executionSuccessful": exit_code != EXIT_ERROR,
        "exitCode": exit_code,
        "exitCodeDescription": exit_code_description(exit_code),
    });
    if !notifications.is_empty() {
        invocation["toolExecutionNotifications"] = Value::Array(notifications);
    }
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": TOOL,
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": repository(),
                    "rules": rules.iter().map(rule).collect::<Vec<_>>(),
                }
            },
            "invocations": [invocation],
            "results": results,
            "properties": run_properties(report),
        }]
    });
    serde_json::to_string_pretty(&log).expect("the SARIF log serialises")
}

fn exit_code_description(code: u8) -> &'static str {
    match code {
        EXIT_COMPLIANT => "all compliant",
        EXIT_NON_COMPLIANT => "some subscriptions not compliant",
        _ => "some subscriptions could not be read or written",
    }
}

fn rule(r: &Rule) -> Value {
    let mut tags = vec!["azure", "defender-for-cloud", "security-contact"];
    if r.cis.is_some() {
        tags.push("cis-azure-foundations");
    }
    json!({
        "id": r.id,
        "name": r.name,
        "shortDescription": { "text": r.short },
        "fullDescription": { "text": r.full },
        "help": { "text": r.help },
        "helpUri": r.help_uri,
        "defaultConfiguration": { "level": if r.cis.is_some() { "warning" } else { "error" } },
        "properties": { "tags": tags },
    })
}

/// A failing check as a result; `None` for passes and skips (see the module's comment).
fn result(check: &Check<'_>, rule: &Rule, manifests: &BTreeMap<String, String>) -> Option<Value> {
    let r = check.result;
    let (level, problem) = match &check.outcome {
        Outcome::Error(problem) => ("error", problem),
        Outcome::Fail(problem) => {
            let blocking = matches!(r.verdict, Verdict::NonCompliant | Verdict::Failed);
            // Non-compliant with no drift: the CIS findings are the verdict.
            let cis_verdict = r.verdict == Verdict::NonCompliant && r.drift.is_empty();
            let level = match rule.cis {
                None if blocking => "error",
                Some(_) if cis_verdict => "error",
                _ => "warning",
            };
            (level, problem)
        }
        Outcome::Pass(_) | Outcome::Skipped(_) => return None,
    };
    let subscription = r.subscription.to_ascii_lowercase();
    let mut location = json!({
        "logicalLocations": [{
            "name": r.subscription,
            "fullyQualifiedName": format!(
                "/subscriptions/{subscription}/providers/Microsoft.Security/securityContacts/default"
            ),
            "kind": "resource",
        }]
    });
    if let Some(path) = manifests.get(&r.policy) {
        location["physicalLocation"] = json!({
            "artifactLocation": { "uri": uri_reference(path) },
            "region": { "startLine": 1 },
        });
    }
    let mut properties = json!({
        "policy": r.policy,
        "subscription": r.subscription,
        "mode": format!("{:?}", r.mode),
        "verdict": format!("{:?}", r.verdict),
        "drift": r.drift,
        "changes": r.changes,
    });
    if let Some(e) = &r.error {
        properties["failure"] = json!(e);
    }
    Some(json!({
        "ruleId": rule.id,
        "ruleIndex": check.rule,
        "level": level,
        "message": { "text": problem.one_line() },
        "locations": [location],
        // Stable per (rule, policy, subscription), whatever the message says: a re-run with the
        // same problem updates the alert instead of opening another.
        "partialFingerprints": {
            FINGERPRINT: format!("{}|{}|{subscription}", rule.id, r.policy),
        },
        "properties": properties,
    }))
}

/// Counts by verdict, ARM calls, and what remediated subscriptions had written.
fn run_properties(report: &Report) -> Value {
    let count = |v: Verdict| report.results.iter().filter(|r| r.verdict == v).count();
    let remediated: Vec<Value> = report
        .results
        .iter()
        .filter(|r| r.verdict == Verdict::Remediated)
        .map(|r| {
            json!({
                "policy": r.policy,
                "subscription": r.subscription,
                "created": r.created,
                "drift": r.drift,
                "changes": r.changes,
            })
        })
        .collect();
    json!({
        "verdicts": {
            "compliant": count(Verdict::Compliant),
            "remediated": count(Verdict::Remediated),
            "nonCompliant": count(Verdict::NonCompliant),
            "failed": count(Verdict::Failed),
        },
        "armCalls": report.arm_calls,
        "remediated": remediated,
    })
}

/// A relative path as a URI reference: `/` separators, no leading `./`, everything outside
/// RFC 3986's unreserved characters percent-encoded.
fn uri_reference(path: &str) -> String {
    let path = path.replace('\\', "/");
    let path = path.trim_start_matches("./");
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{crd::Mode, oneshot::SubscriptionResult, report::Drift};

    fn non_compliant(policy: &str, sub: &str) -> SubscriptionResult {
        let mut r = SubscriptionResult::new(policy, Mode::Audit, sub);
        r.verdict = Verdict::NonCompliant;
        r.drift = vec![Drift::Disabled];
        r
    }

    fn log(report: &Report) -> Value {
        serde_json::from_str(&sarif(report)).unwrap()
    }

    #[test]
    fn fingerprints_ignore_the_message_and_the_subscription_case() {
        let mut a = non_compliant("ns/p", "ABC");
        let b = non_compliant("ns/p", "abc");
        a.drift.push(Drift::MissingEmails {
            emails: vec!["x@contoso.com".into()],
        });
        let fp = |r: SubscriptionResult| {
            let report = Report {
                scopes: Vec::new(),
                tenants: Vec::new(),
                results: vec![r],
                ..Default::default()
            };
            let log = log(&report);
            let result = log["runs"][0]["results"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["ruleId"] == "SCO-POLICY")
                .unwrap()
                .clone();
            (
                result["partialFingerprints"].clone(),
                result["message"].clone(),
            )
        };
        let (fa, ma) = fp(a);
        let (fb, mb) = fp(b);
        assert_eq!(fa, fb);
        assert_eq!(fa[FINGERPRINT], "SCO-POLICY|ns/p|abc");
        assert_ne!(ma, mb);
    }

    #[test]
    fn levels_follow_the_exit_code() {
        let mut failing = non_compliant("p", "s");
        failing.cis = vec![crate::cis::Finding {
            id: "8.1.14",
            title: "Alert notifications have a minimal severity",
            passed: false,
            detail: "alert minimal severity not set".into(),
        }];
        let mut compliant = failing.clone();
        compliant.verdict = Verdict::Compliant;
        compliant.drift.clear();
        compliant.subscription = "t".into();
        // As `audit` reports: CIS findings, no drift, non-compliant because of them.
        let mut audit = compliant.clone();
        audit.policy = "audit".into();
        audit.verdict = Verdict::NonCompliant;
        let report = Report {
            scopes: Vec::new(),
            tenants: Vec::new(),
            results: vec![failing, compliant, audit],
            ..Default::default()
        };
        let log = log(&report);
        let levels: Vec<(String, String, String)> = log["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["properties"]["subscription"].as_str().unwrap().to_owned(),
                    r["ruleId"].as_str().unwrap().to_owned(),
                    r["level"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected = [
            ("s", "SCO-POLICY", "error"),
            ("s", "CIS-8.1.14", "warning"),
            ("t", "CIS-8.1.14", "warning"),
            ("t", "CIS-8.1.14", "error"),
        ];
        assert_eq!(
            levels,
            expected.map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
        );
        let invocation = &log["runs"][0]["invocations"][0];
        assert_eq!(invocation["exitCode"], 1);
        assert_eq!(invocation["executionSuccessful"], true);
    }

    #[test]
    fn manifests_become_physical_locations() {
        let report = Report {
            scopes: Vec::new(),
            tenants: Vec::new(),
            results: vec![non_compliant("ns/p", "s")],
            ..Default::default()
        };
        let manifests = BTreeMap::from([("ns/p".to_owned(), "./policies/a b.yaml".to_owned())]);
        let log: Value = serde_json::from_str(&sarif_with_manifests(&report, &manifests)).unwrap();
        let location = &log["runs"][0]["results"][0]["locations"][0];
        assert_eq!(
            location["physicalLocation"]["artifactLocation"]["uri"],
            "policies/a%20b.yaml"
        );
        assert_eq!(
            location["logicalLocations"][0]["fullyQualifiedName"],
            "/subscriptions/s/providers/Microsoft.Security/securityContacts/default"
        );
        assert_eq!(uri_reference(r"dir\ü.yaml"), "dir/%C3%BC.yaml");
    }
}

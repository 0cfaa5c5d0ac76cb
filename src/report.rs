//! Rendering a one-shot run for people (a table) and machines (JSON). Pure.

use std::fmt::Write;

use crate::oneshot::{Report, Verdict};

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

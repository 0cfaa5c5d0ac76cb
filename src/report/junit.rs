//! JUnit XML for CI test reports (Jenkins, GitLab, Azure Pipelines, junitparser): one
//! `<testsuite>` per policy, one `<testcase>` per subscription × check (the checks of the
//! module's table), `<failure>` for a failing check with the diff as text, `<error>` for a
//! subscription that could not be read or written, `<skipped>` for the checks that could
//! therefore not be judged. Attributes stay within the Jenkins xunit `junit-10.xsd`.
//!
//! Written by hand: the format is small, and [`escape`] handles the two traps (characters
//! XML 1.0 cannot carry at all, and whitespace that attribute normalisation would flatten).
//! A [`Report`] carries no timings, so every `time` is 0.

use std::fmt::Write;

use super::{Check, Outcome, Rule, checks, rules};
use crate::oneshot::Report;

pub fn junit(report: &Report) -> String {
    let rules = rules(report);
    let checks = checks(report, &rules);
    // Suites in the order their policy first appears (the report's manifest order).
    let mut suites: Vec<(&str, Vec<&Check<'_>>)> = Vec::new();
    for check in &checks {
        let policy = check.result.policy.as_str();
        match suites.iter_mut().find(|(p, _)| *p == policy) {
            Some((_, cases)) => cases.push(check),
            None => suites.push((policy, vec![check])),
        }
    }
    let count = |cases: &[&Check<'_>], f: fn(&Outcome) -> bool| {
        cases.iter().filter(|c| f(&c.outcome)).count()
    };
    let failure = |o: &Outcome| matches!(o, Outcome::Fail(_));
    let error = |o: &Outcome| matches!(o, Outcome::Error(_));
    let skipped = |o: &Outcome| matches!(o, Outcome::Skipped(_));
    let all: Vec<&Check<'_>> = checks.iter().collect();

    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // No `skipped` here: junit-10.xsd allows it on <testsuite> only.
    let _ = writeln!(
        out,
        "<testsuites name=\"security-contact-operator\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"0\">",
        all.len(),
        count(&all, failure),
        count(&all, error),
    );
    for (policy, cases) in &suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"0\">",
            escape(policy),
            cases.len(),
            count(cases, failure),
            count(cases, error),
            count(cases, skipped),
        );
        if let Some(first) = cases.first() {
            let _ = writeln!(out, "    <properties>");
            let _ = writeln!(
                out,
                "      <property name=\"mode\" value=\"{:?}\"/>",
                first.result.mode
            );
            let _ = writeln!(
                out,
                "      <property name=\"tool\" value=\"security-contact-operator {}\"/>",
                env!("CARGO_PKG_VERSION")
            );
            let _ = writeln!(out, "    </properties>");
        }
        for case in cases {
            testcase(&mut out, case, &rules[case.rule]);
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

fn testcase(out: &mut String, check: &Check<'_>, rule: &Rule) {
    let r = check.result;
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{} {}\" time=\"0\"",
        escape(&r.policy),
        escape(&r.subscription),
        escape(&rule.id),
    );
    let (element, problem) = match &check.outcome {
        Outcome::Pass(notes) if notes.is_empty() => {
            out.push_str("/>\n");
            return;
        }
        Outcome::Pass(notes) => {
            let _ = writeln!(
                out,
                ">\n      <system-out>{}</system-out>\n    </testcase>",
                escape(&notes.join("\n"))
            );
            return;
        }
        Outcome::Skipped(why) => {
            let _ = writeln!(
                out,
                ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                escape(why)
            );
            return;
        }
        Outcome::Fail(problem) => ("failure", problem),
        Outcome::Error(problem) => ("error", problem),
    };
    let _ = writeln!(
        out,
        ">\n      <{element} message=\"{}\" type=\"{}\">{}</{element}>\n    </testcase>",
        escape(&problem.summary),
        escape(&problem.kind),
        escape(&problem.lines()),
    );
}

/// Text for an XML 1.0 attribute value or element content.
///
/// The five markup characters become entities. Tab, newline and carriage return become
/// character references, so that neither attribute-value normalisation (which turns them into
/// spaces) nor end-of-line handling (which turns `\r` into `\n`) changes them. The characters
/// XML 1.0 cannot carry even as references (other C0 controls, U+FFFE, U+FFFF) are written
/// visibly as `\u{…}` instead of producing a file every parser rejects.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(out, "{}", c.escape_unicode());
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        crd::Mode,
        oneshot::{Failure, SubscriptionResult, Verdict},
    };

    #[test]
    fn markup_characters_become_entities() {
        assert_eq!(
            escape(r#"<a href="x">Tom & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&apos;s&lt;/a&gt;"
        );
        assert_eq!(escape("]]>"), "]]&gt;");
        assert_eq!(escape("plain ünïcödé ✓"), "plain ünïcödé ✓");
    }

    #[test]
    fn whitespace_survives_attribute_normalisation() {
        assert_eq!(escape("a\tb\nc\r\nd"), "a&#9;b&#10;c&#13;&#10;d");
    }

    #[test]
    fn characters_xml_cannot_carry_are_written_visibly() {
        assert_eq!(escape("a\u{0}b\u{1b}c"), "a\\u{0}b\\u{1b}c");
        assert_eq!(
            escape("\u{b}\u{c}\u{fffe}\u{ffff}"),
            "\\u{b}\\u{c}\\u{fffe}\\u{ffff}"
        );
        // Allowed by XML 1.0 (if discouraged): kept as they are.
        assert_eq!(escape("\u{7f}\u{85}"), "\u{7f}\u{85}");
    }

    #[test]
    fn hostile_names_and_messages_stay_inside_their_attributes() {
        let mut r = SubscriptionResult::new("ns/<p>", Mode::Enforce, "s\"1")
            .failed(Failure::terminal("Bad\"Reason", "x</error><error>'\u{1}"));
        r.verdict = Verdict::Failed;
        let xml = junit(&Report {
            scopes: Vec::new(),
            tenants: Vec::new(),
            results: vec![r],
            ..Default::default()
        });
        assert!(xml.contains(r#"<testsuite name="ns/&lt;p&gt;""#), "{xml}");
        assert!(xml.contains(r#"name="s&quot;1 SCO-READ""#), "{xml}");
        assert!(
            xml.contains(r#"type="Bad&quot;Reason">"#) && !xml.contains("</error><error>"),
            "{xml}"
        );
        assert!(xml.contains("&apos;\\u{1}"), "{xml}");
        assert_eq!(xml.matches("<error ").count(), 1);
        assert!(!xml.chars().any(|c| c < ' ' && c != '\n'), "{xml:?}");
    }
}

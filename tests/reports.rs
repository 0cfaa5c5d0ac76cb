//! The SARIF and JUnit reports as their consumers read them: SARIF against the official OASIS
//! SARIF 2.1.0 schema (the `jsonschema` crate), JUnit through junitparser
//! (`scripts/junit-consumer`, a real Python consumer) and the Jenkins xunit `junit-10.xsd`.
//! Reports are built by hand through the library's public API, and once by a real `apply`
//! against the embedded simulator.

use std::{path::Path, process::Command};

use security_contact_operator::{
    crd::{Mode, Severity},
    oneshot::{ArmCalls, Failure, Report, SubscriptionResult, Verdict},
    report::{self, Drift, FieldChange, Finding},
};
use serde_json::{Value, json};

const ENFORCE: &str = "security/secops";
const AUDIT: &str = "security/audit-soc";
const SUB_COMPLIANT: &str = "10000000-0000-0000-0000-000000000001";
const SUB_CREATED: &str = "10000000-0000-0000-0000-000000000002";
const SUB_NO_ACCESS: &str = "10000000-0000-0000-0000-000000000007";
const SUB_WEAK: &str = "10000000-0000-0000-0000-000000000005";
/// An ARM message as hostile as they come: markup, quotes, a newline, a control character.
const HOSTILE: &str =
    "The client 'x' <b>&</b> has no \"read\" access\non scope \u{1}/subscriptions";

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reports")
        .join(name)
}

/// The four CIS findings, passing except those listed (with their detail).
fn cis(failing: &[(&'static str, &str)]) -> Vec<Finding> {
    [
        (
            "8.1.12",
            "Email notifications to subscription owners are on",
            "roles notified: Owner",
        ),
        (
            "8.1.13",
            "A valid additional email address is set",
            "1 valid address(es)",
        ),
        (
            "8.1.14",
            "Alert notifications have a minimal severity",
            "alert minimal severity Medium or higher",
        ),
        (
            "8.1.15",
            "Attack-path notifications have a minimal risk level",
            "attack-path minimal risk level Critical or higher",
        ),
    ]
    .into_iter()
    .map(|(id, title, pass)| {
        let failed = failing.iter().find(|(f, _)| *f == id);
        Finding {
            id,
            title,
            passed: failed.is_none(),
            detail: failed.map_or(pass, |(_, why)| why).to_owned(),
        }
    })
    .collect()
}

fn change(field: &'static str, from: Option<&str>, to: &str) -> FieldChange {
    FieldChange {
        field,
        from: from.map(Into::into),
        to: Some(to.into()),
    }
}

/// Two policies: an Enforce one after `apply` (compliant, created, unreadable) and an Audit
/// one (compliant, non-compliant with drift).
fn sample() -> Report {
    let compliant = |policy: &str, mode| {
        let mut r = SubscriptionResult::new(policy, mode, SUB_COMPLIANT);
        r.cis = cis(&[]);
        r
    };
    let mut created = SubscriptionResult::new(ENFORCE, Mode::Enforce, SUB_CREATED);
    created.verdict = Verdict::Remediated;
    created.created = true;
    created.drift = vec![Drift::ContactMissing {
        emails: vec!["secops@contoso.com".into()],
    }];
    created.changes = vec![
        change("emails", None, "secops@contoso.com"),
        change("isEnabled", None, "true"),
    ];
    created.cis = cis(&[]);
    let no_access =
        SubscriptionResult::new(ENFORCE, Mode::Enforce, SUB_NO_ACCESS).failed(Failure {
            request_ids: Some("x-ms-request-id 1234".into()),
            ..Failure::terminal("AuthorizationFailed", HOSTILE)
        });
    let mut weak = SubscriptionResult::new(AUDIT, Mode::Audit, SUB_WEAK);
    weak.verdict = Verdict::NonCompliant;
    weak.drift = vec![
        Drift::MissingEmails {
            emails: vec!["soc@contoso.com".into()],
        },
        Drift::RolesNotNotified {
            missing: vec!["Owner".into()],
            state_on: false,
        },
        Drift::AlertSeverity {
            current: Some("High".into()),
            wanted: Severity::Medium,
        },
    ];
    weak.changes = vec![
        change(
            "emails",
            Some("security@contoso.com"),
            "security@contoso.com;soc@contoso.com",
        ),
        change("notificationsByRole.state", None, "On"),
        change("notificationsByRole.roles", None, "Owner"),
        change(
            "notificationsSources[Alert].minimalSeverity",
            Some("High"),
            "Medium",
        ),
    ];
    weak.cis = cis(&[
        ("8.1.12", "notifications by role are off"),
        ("8.1.15", "attack-path minimal risk level not set"),
    ]);
    Report {
        scopes: Vec::new(),
        tenants: Vec::new(),
        results: vec![
            compliant(ENFORCE, Mode::Enforce),
            created,
            no_access,
            compliant(AUDIT, Mode::Audit),
            weak,
        ],
        arm_calls: ArmCalls {
            get: 5,
            put: 1,
            delete: 0,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// SARIF

fn sarif_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(fixture("sarif-schema-2.1.0.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF 2.1.0 schema compiles")
}

/// Every schema violation, one a line (empty when valid).
fn violations(validator: &jsonschema::Validator, log: &Value) -> String {
    validator
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn sarif(report: &Report) -> Value {
    serde_json::from_str(&report::sarif(report)).expect("sarif() writes JSON")
}

#[test]
fn sarif_conforms_to_the_oasis_schema() {
    let validator = sarif_validator();
    let mut all_compliant = sample();
    all_compliant
        .results
        .retain(|r| r.verdict == Verdict::Compliant);
    let manifests = [(ENFORCE.to_owned(), "policies/secops.yaml".to_owned())].into();
    for (what, text) in [
        ("the sample", report::sarif(&sample())),
        ("an empty report", report::sarif(&Report::default())),
        ("an all-compliant report", report::sarif(&all_compliant)),
        (
            "the sample with manifests",
            report::sarif_with_manifests(&sample(), &manifests),
        ),
    ] {
        let log: Value = serde_json::from_str(&text).unwrap();
        let problems = violations(&validator, &log);
        assert!(problems.is_empty(), "{what}:\n{problems}\n{text}");
    }
}

#[test]
fn the_schema_check_rejects_a_broken_sarif() {
    let validator = sarif_validator();
    let good = sarif(&sample());
    assert!(validator.is_valid(&good));
    type Breakage = fn(&mut Value);
    let breakages: [(&str, Breakage); 6] = [
        ("no version", |log| {
            log.as_object_mut().unwrap().remove("version");
        }),
        ("version 2.0.0", |log| log["version"] = json!("2.0.0")),
        ("a level SARIF does not have", |log| {
            log["runs"][0]["results"][0]["level"] = json!("fatal")
        }),
        ("a result without a message", |log| {
            log["runs"][0]["results"][0]
                .as_object_mut()
                .unwrap()
                .remove("message");
        }),
        (
            "a help URI that is no URI (formats are checked too)",
            |log| log["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] = json!("not a uri"),
        ),
        ("a negative rule index", |log| {
            log["runs"][0]["results"][0]["ruleIndex"] = json!(-2)
        }),
    ];
    for (what, breakage) in breakages {
        let mut log = good.clone();
        breakage(&mut log);
        assert!(
            !violations(&validator, &log).is_empty(),
            "{what}: the schema should reject it"
        );
    }
}

#[test]
fn sarif_has_one_result_per_failing_check() {
    let report = sample();
    let log = sarif(&report);
    assert_eq!(
        log["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "security-contact-operator");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    let rules = driver["rules"].as_array().unwrap();
    let rule_ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        rule_ids,
        [
            "SCO-READ",
            "SCO-POLICY",
            "SCO-EMAIL-1",
            "CIS-8.1.12",
            "CIS-8.1.13",
            "CIS-8.1.14",
            "CIS-8.1.15"
        ]
    );
    let names: Vec<&str> = rules.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names[..3],
        [
            "SubscriptionReadable",
            "ContactMatchesPolicy",
            "AdditionalEmailConfigured"
        ]
    );
    for rule in rules {
        for field in ["shortDescription", "fullDescription"] {
            assert!(!rule[field]["text"].as_str().unwrap().is_empty());
        }
        assert!(rule["helpUri"].as_str().unwrap().starts_with("https://"));
        let cis = rule["id"].as_str().unwrap().starts_with("CIS-");
        let level = if cis { "warning" } else { "error" };
        assert_eq!(rule["defaultConfiguration"]["level"], level);
    }

    let results = run["results"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["properties"]["policy"].as_str().unwrap(),
                r["locations"][0]["logicalLocations"][0]["name"]
                    .as_str()
                    .unwrap(),
                r["ruleId"].as_str().unwrap(),
                r["level"].as_str().unwrap(),
            )
        })
        .collect();
    // Compliant and remediated subscriptions have no result; the unreadable one only SCO-READ.
    assert_eq!(
        summary,
        [
            (ENFORCE, SUB_NO_ACCESS, "SCO-READ", "error"),
            (AUDIT, SUB_WEAK, "SCO-POLICY", "error"),
            (AUDIT, SUB_WEAK, "SCO-EMAIL-1", "error"),
            (AUDIT, SUB_WEAK, "CIS-8.1.12", "warning"),
            (AUDIT, SUB_WEAK, "CIS-8.1.15", "warning"),
        ]
    );
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        let location = &result["locations"][0]["logicalLocations"][0];
        assert_eq!(location["kind"], "resource");
        assert_eq!(
            location["fullyQualifiedName"],
            format!(
                "/subscriptions/{}/providers/Microsoft.Security/securityContacts/default",
                location["name"].as_str().unwrap()
            )
        );
    }
    let fingerprints: std::collections::BTreeSet<String> = results
        .iter()
        .map(|r| r["partialFingerprints"].to_string())
        .collect();
    assert_eq!(fingerprints.len(), results.len(), "one alert per result");

    // The remediation diff, in words.
    let policy = results[1]["message"]["text"].as_str().unwrap();
    for words in [
        "missing emails soc@contoso.com",
        "alert minimal severity High (wanted Medium)",
        r#"Enforcing would change: emails: "security@contoso.com" -> "security@contoso.com;soc@contoso.com""#,
        r#"notificationsSources[Alert].minimalSeverity: "High" -> "Medium""#,
    ] {
        assert!(policy.contains(words), "{words:?} not in {policy:?}");
    }
    let read = results[0]["message"]["text"].as_str().unwrap();
    assert!(read.contains(HOSTILE), "{read}");
    let owner = results[3]["message"]["text"].as_str().unwrap();
    assert!(
        owner.contains("notifications by role are off")
            && owner
                .contains(r#"Enforcing would change: notificationsByRole.state: (unset) -> "On""#),
        "{owner}"
    );
    let attack_path = results[4]["message"]["text"].as_str().unwrap();
    assert!(
        attack_path.contains(
            "To fix: policy security/audit-soc does not set what this needs: \
             declare attackPathMinimalRiskLevel in its contact and apply it."
        ),
        "{attack_path}"
    );

    let invocation = &run["invocations"][0];
    assert_eq!(invocation["exitCode"], 2);
    assert_eq!(invocation["executionSuccessful"], false);
    assert_eq!(
        invocation["toolExecutionNotifications"][0]["associatedRule"]["id"],
        "SCO-READ"
    );
    assert_eq!(
        run["properties"]["remediated"][0]["subscription"],
        SUB_CREATED
    );
    assert_eq!(run["properties"]["armCalls"]["put"], 1);
}

#[test]
fn sarif_fingerprints_survive_a_changed_message() {
    let first = sample();
    let mut second = sample();
    second.results[2].error.as_mut().unwrap().message = "another wording".into();
    second.results[4].drift.pop();
    let fingerprints = |report: &Report| -> Vec<Value> {
        sarif(report)["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["partialFingerprints"].clone())
            .collect()
    };
    assert_eq!(fingerprints(&first), fingerprints(&second));
    assert_eq!(
        report::sarif(&first),
        report::sarif(&sample()),
        "deterministic"
    );
}

// ---------------------------------------------------------------------------------------------
// JUnit

/// `scripts/junit-consumer` on `xml` (with the Jenkins XSD): its JSON summary. Fails the test
/// when the consumer cannot run: a report nobody parsed proves nothing.
fn consume(xml: &str) -> Result<Value, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.xml");
    std::fs::write(&path, xml).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/junit-consumer");
    let output = Command::new("bash")
        .arg(&script)
        .arg("--xsd")
        .arg(fixture("junit-10.xsd"))
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        return Err(stderr);
    }
    Ok(serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "junit-consumer printed no JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
    }))
}

fn consumed(xml: &str) -> Value {
    consume(xml).unwrap_or_else(|stderr| {
        panic!(
            "scripts/junit-consumer failed (it needs python3 >= 3.10 with venv, and PyPI the \
             first time):\n{stderr}\n--- the report ---\n{xml}"
        )
    })
}

#[test]
fn junit_as_junitparser_reads_it() {
    let report = sample();
    let xml = report::junit(&report);
    let summary = consumed(&xml);
    let suites = summary["suites"].as_array().unwrap();
    let names: Vec<&str> = suites.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, [ENFORCE, AUDIT]);
    // 7 checks per result: SCO-READ, SCO-POLICY, SCO-EMAIL-1, four CIS.
    let expected = [
        // secops: compliant, remediated, unreadable (1 error, 6 skipped).
        json!({"tests": 21, "failures": 0, "errors": 1, "skipped": 6}),
        // audit-soc: compliant, non-compliant (policy, email, two CIS).
        json!({"tests": 14, "failures": 4, "errors": 0, "skipped": 0}),
    ];
    for (suite, expected) in suites.iter().zip(&expected) {
        assert_eq!(&suite["declared"], expected, "{suite:#}");
        assert_eq!(&suite["counted"], expected, "{suite:#}");
    }
    assert_eq!(
        summary["declared"],
        json!({"tests": 35, "failures": 4, "errors": 1})
    );

    let error = &suites[0]["failing"][0];
    assert_eq!(error["kind"], "error");
    assert_eq!(error["name"], format!("{SUB_NO_ACCESS} SCO-READ"));
    assert_eq!(error["classname"], ENFORCE);
    assert_eq!(error["type"], "AuthorizationFailed");
    let failure = report.results[2].error.as_ref().unwrap();
    // Quotes, markup and the newline come back exactly; the control character, which XML
    // cannot carry, comes back visibly escaped.
    let message = error["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!(
            "subscription {SUB_NO_ACCESS} (policy {ENFORCE}) failed: {}: {}",
            failure.reason,
            failure.message.replace('\u{1}', "\\u{1}")
        )
    );
    assert!(
        error["text"]
            .as_str()
            .unwrap()
            .contains("  - x-ms-request-id 1234")
    );

    let failing: Vec<(&str, &str)> = suites[1]["failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f["type"].as_str().unwrap()))
        .collect();
    let name = |check: &str| format!("{SUB_WEAK} {check}");
    assert_eq!(
        failing,
        [
            (name("SCO-POLICY").as_str(), "ContactMatchesPolicy"),
            (name("SCO-EMAIL-1").as_str(), "AdditionalEmailConfigured"),
            (
                name("CIS-8.1.12").as_str(),
                "EmailNotificationsToSubscriptionOwnersAreOn"
            ),
            (
                name("CIS-8.1.15").as_str(),
                "AttackPathNotificationsHaveAMinimalRiskLevel"
            ),
        ]
    );
    let policy = &suites[1]["failing"][0];
    assert_eq!(
        policy["message"],
        format!(
            "The security contact of subscription {SUB_WEAK} (policy {AUDIT}) differs from the \
             policy (Audit mode, NonCompliant)."
        )
    );
    let text = policy["text"].as_str().unwrap();
    for line in [
        "drift:\n  - missing emails soc@contoso.com\n  - notifications by role are off\n  - alert minimal severity High (wanted Medium)\n",
        "enforcing would change:\n  - emails: \"security@contoso.com\" -> \"security@contoso.com;soc@contoso.com\"\n",
    ] {
        assert!(text.contains(line), "{line:?} not in {text:?}");
    }
    // A CIS failure the policy fixes says how; one it does not manage says what to declare.
    let owner = suites[1]["failing"][2]["text"].as_str().unwrap();
    assert!(
        owner.contains(
            "enforcing would change:\n  - notificationsByRole.state: (unset) -> \"On\"\n  - \
             notificationsByRole.roles: (unset) -> \"Owner\"\n"
        ),
        "{owner}"
    );
    let attack_path = &suites[1]["failing"][3];
    assert!(
        attack_path["message"]
            .as_str()
            .unwrap()
            .ends_with("attack-path minimal risk level not set."),
        "{attack_path}"
    );
    assert!(
        attack_path["text"]
            .as_str()
            .unwrap()
            .contains("declare attackPathMinimalRiskLevel in its contact"),
        "{attack_path}"
    );
}

#[test]
fn junit_of_an_empty_report_is_read_too() {
    let summary = consumed(&report::junit(&Report::default()));
    assert_eq!(summary["suites"], json!([]));
    assert_eq!(
        summary["declared"],
        json!({"tests": 0, "failures": 0, "errors": 0})
    );
}

#[test]
fn the_consumer_rejects_a_report_the_schema_does_not_allow() {
    let xml = report::junit(&sample());
    // A <testsuite> without its required failure count.
    let broken = xml.replacen(
        " failures=\"0\" errors=\"1\" skipped",
        " errors=\"1\" skipped",
        1,
    );
    assert_ne!(broken, xml);
    let stderr = consume(&broken).expect_err("junit-10.xsd requires failures on <testsuite>");
    assert!(stderr.contains("failures"), "{stderr}");
    // And one that is not XML at all.
    let truncated = &xml[..xml.len() / 2];
    let stderr = consume(truncated).expect_err("half a report is not XML");
    assert!(
        stderr.contains("invalid XML syntax") || stderr.contains("ParseError"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// A real run

/// `apply` with an Enforce and an Audit policy against the embedded simulator's demo world:
/// whatever the pipeline reports, both renderings pass their consumers, and agree with it.
#[cfg(feature = "azure-sim")]
#[tokio::test(flavor = "multi_thread")]
async fn reports_of_a_real_apply_pass_their_consumers() {
    use std::time::Duration;

    use security_contact_operator::{
        arm::{cloud::Cloud, metrics::ArmMetrics},
        connect::Azure,
        embedded, manifest,
        oneshot::{self, Action},
    };

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policies.yaml"),
        "apiVersion: securitycontact.dev/v1alpha1
kind: SecurityContactPolicy
metadata: {name: secops, namespace: security}
spec:
  subscriptions:
    - 10000000-0000-0000-0000-000000000001
    - 10000000-0000-0000-0000-000000000002
    - 10000000-0000-0000-0000-000000000006
    - 10000000-0000-0000-0000-000000000007
  contact:
    emails: [security@contoso.com]
    notifyRoles: [Owner]
    alertMinimalSeverity: Medium
---
apiVersion: securitycontact.dev/v1alpha1
kind: SecurityContactPolicy
metadata: {name: audit-soc, namespace: security}
spec:
  mode: Audit
  subscriptions:
    - 10000000-0000-0000-0000-000000000005
    - 10000000-0000-0000-0000-000000000003
  contact:
    emails: [soc@contoso.com]
    notifyRoles: [Owner]
    alertMinimalSeverity: Medium
",
    )
    .unwrap();
    let policies = manifest::load(&[dir.path().to_path_buf()]).expect("the manifests load");
    let (simulator, target) = embedded::start(Cloud::Public).await.unwrap();
    let azure = Azure::connect(
        target,
        Duration::from_secs(10),
        ArmMetrics::default(),
        Some(Box::new(simulator)),
    )
    .unwrap();
    let report = oneshot::run(
        &policies,
        &azure.arm,
        Action::Apply { dry_run: false },
        4,
        Duration::from_secs(10),
    )
    .await;
    let verdicts: Vec<Verdict> = report.results.iter().map(|r| r.verdict).collect();
    for wanted in [
        Verdict::Compliant,
        Verdict::Remediated,
        Verdict::NonCompliant,
        Verdict::Failed,
    ] {
        assert!(verdicts.contains(&wanted), "no {wanted:?} in {verdicts:?}");
    }

    let log = sarif(&report);
    let problems = violations(&sarif_validator(), &log);
    assert!(problems.is_empty(), "{problems}\n{log:#}");
    let results = log["runs"][0]["results"].as_array().unwrap();
    let read_errors = results.iter().filter(|r| r["ruleId"] == "SCO-READ").count();
    let failed = verdicts.iter().filter(|v| **v == Verdict::Failed).count();
    assert_eq!(read_errors, failed);
    assert_eq!(
        log["runs"][0]["invocations"][0]["exitCode"],
        report.exit_code()
    );

    let xml = report::junit(&report);
    let summary = consumed(&xml);
    let suites = summary["suites"].as_array().unwrap();
    assert_eq!(suites.len(), 2, "{summary:#}");
    for suite in suites {
        assert_eq!(suite["declared"], suite["counted"], "{suite:#}");
    }
    let errors: u64 = suites
        .iter()
        .map(|s| s["counted"]["errors"].as_u64().unwrap())
        .sum();
    assert_eq!(errors as usize, failed);
}

/// What a new user runs first: `audit --azure-sim -o sarif` and `-o junit`, the real binary,
/// no manifest; the SARIF validates against the OASIS schema and junitparser reads the JUnit.
#[test]
fn audit_reports_from_the_binary_pass_their_consumers() {
    let bin = env!("CARGO_BIN_EXE_security-contact-operator");
    let run = |format: &str| {
        let out = std::process::Command::new(bin)
            .args(["audit", "--azure-sim", "-o", format])
            .env_remove("SCO_LOG")
            .output()
            .expect("run audit");
        // The demo world has a subscription without Microsoft.Security: exit 2.
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let log: Value = serde_json::from_str(&run("sarif")).expect("SARIF is JSON");
    let problems = violations(&sarif_validator(), &log);
    assert!(problems.is_empty(), "{problems}");
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "CIS-8.1.13" && r["level"] == "error"),
        "a subscription without a valid additional email is an error in audit"
    );
    let junit = consumed(&run("junit"));
    assert_eq!(junit["suites"][0]["name"], "audit", "{junit}");
}

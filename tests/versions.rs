//! One version, from Cargo.toml: the chart's `version` and `appVersion` (the default image
//! tag), values.yaml's image, CHANGELOG.md and the release workflow must not drift from the
//! crate's. The release workflow names no version of its own: it takes it from
//! `scripts/release-version`, which refuses a tag that does not match, and every publishing
//! job waits for that check.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    process::{Command, Output},
};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");
const CHART: &str = "charts/security-contact-operator";

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    serde_saphyr::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"))
}

#[test]
fn the_chart_carries_the_crate_version() {
    let chart = yaml(&format!("{CHART}/Chart.yaml"));
    assert_eq!(chart["version"], VERSION, "Chart.yaml version");
    assert_eq!(chart["appVersion"], VERSION, "Chart.yaml appVersion");
}

#[test]
fn values_yaml_names_no_other_image() {
    let values = yaml(&format!("{CHART}/values.yaml"));
    let tag = values["image"]["tag"]
        .as_str()
        .expect("image.tag is a string");
    assert!(
        tag.is_empty() || tag == VERSION,
        "values.yaml image.tag is {tag:?}: leave it empty (the appVersion, {VERSION}) or set {VERSION}"
    );
    // The release pins the digest in the packaged chart only: a digest committed here would
    // keep running an older build after the version moved on.
    assert_eq!(
        values["image"]["digest"], "",
        "values.yaml image.digest must stay empty in the sources (the release workflow sets it)"
    );
}

#[test]
fn the_changelog_has_a_section_for_the_crate_version() {
    let changelog = read("CHANGELOG.md");
    assert!(
        changelog
            .lines()
            .any(|l| l == format!("## [{VERSION}]") || l.starts_with(&format!("## [{VERSION}] - "))),
        "CHANGELOG.md has no '## [{VERSION}]' section"
    );
    assert!(
        changelog.contains(&format!("[{VERSION}]: "))
            && changelog.contains(&format!("/v{VERSION}")),
        "CHANGELOG.md has no link reference for [{VERSION}] to its tag v{VERSION}"
    );
}

/// The jobs of a workflow, by id.
fn jobs(workflow: &Value) -> BTreeMap<String, Value> {
    workflow["jobs"]
        .as_object()
        .expect("jobs")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn needs(job: &Value) -> Vec<String> {
    match &job["needs"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|n| n.as_str().unwrap().to_owned()).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn the_release_workflow_takes_its_version_from_the_sources() {
    let text = read(".github/workflows/release.yml");
    let workflow = yaml(".github/workflows/release.yml");
    assert_eq!(
        workflow["on"]["push"]["tags"],
        serde_json::json!(["v*"]),
        "releases are tags v<version>"
    );
    let jobs = jobs(&workflow);
    let checks: Vec<&String> = jobs
        .iter()
        .filter(|(_, job)| {
            job["steps"].as_array().is_some_and(|steps| {
                steps.iter().any(|s| {
                    s["run"].as_str().is_some_and(|r| {
                        r.contains("$(scripts/release-version \"$GITHUB_REF_NAME\")")
                    })
                })
            })
        })
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        checks.len(),
        1,
        "exactly one job checks the tag with scripts/release-version: {checks:?}"
    );
    let check = checks[0];
    // Every other job waits for it, directly or through the jobs it needs.
    for id in jobs.keys().filter(|id| *id != check) {
        let mut seen = BTreeSet::new();
        let mut todo = needs(&jobs[id]);
        while let Some(n) = todo.pop() {
            if seen.insert(n.clone()) {
                todo.extend(needs(
                    jobs.get(&n)
                        .unwrap_or_else(|| panic!("{id} needs unknown job {n}")),
                ));
            }
        }
        assert!(
            seen.contains(check),
            "release job {id} does not wait for the version check {check}"
        );
    }
    // The version comes from the check's output, never a literal that can drift.
    assert!(
        !text.contains(VERSION),
        "release.yml names the version {VERSION} literally: use needs.version.outputs.version"
    );
    let literal = regex::Regex::new(r"security-contact-operator[-:@]v?[0-9]+\.[0-9]+").unwrap();
    assert!(
        !literal.is_match(&text),
        "release.yml names a product version literally: {:?}",
        literal.find(&text).map(|m| m.as_str())
    );
}

fn release_version(root: &Path, args: &[&str]) -> Output {
    Command::new("bash")
        .arg(root.join("scripts/release-version"))
        .args(args)
        .output()
        .expect("run scripts/release-version")
}

#[test]
fn release_version_accepts_the_crate_version_and_refuses_drift() {
    let root = Path::new(ROOT);
    let out = release_version(root, &[&format!("v{VERSION}")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), VERSION);
    let notes = release_version(root, &["--notes", &format!("v{VERSION}")]);
    assert!(notes.status.success());
    assert!(
        String::from_utf8_lossy(&notes.stdout).contains("### "),
        "the release notes are CHANGELOG.md's section"
    );

    // A copy of what the script reads, drifted one file at a time.
    let tmp = tempfile::tempdir().unwrap();
    let files = [
        "scripts/release-version",
        "Cargo.toml",
        "CHANGELOG.md",
        "charts/security-contact-operator/Chart.yaml",
        "charts/security-contact-operator/values.yaml",
    ];
    let copy = || {
        for f in files {
            let to = tmp.path().join(f);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(root.join(f), &to).unwrap();
        }
    };
    let edit = |file: &str, from: &str, to: &str| {
        let path = tmp.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    let refused = |args: &[&str], says: &str| {
        let out = release_version(tmp.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "accepted {args:?}");
        assert!(
            stderr.contains(says),
            "{args:?}: expected {says:?} in:\n{stderr}"
        );
        assert!(out.stdout.is_empty(), "printed a version after refusing");
    };
    let tag = format!("v{VERSION}");

    copy();
    assert!(release_version(tmp.path(), &[&tag]).status.success());
    refused(&["v99.0.0"], "does not match Cargo.toml's version");
    refused(&[VERSION], "is not v<semver>");

    edit(
        "charts/security-contact-operator/Chart.yaml",
        &format!("appVersion: \"{VERSION}\""),
        "appVersion: \"99.0.0\"",
    );
    refused(&[&tag], "appVersion is '99.0.0'");

    copy();
    edit(
        "charts/security-contact-operator/Chart.yaml",
        &format!("version: {VERSION}"),
        "version: 99.0.0",
    );
    refused(&[&tag], "Chart.yaml version is '99.0.0'");

    copy();
    edit(
        "charts/security-contact-operator/values.yaml",
        "  tag: \"\"",
        "  tag: \"99.0.0\"",
    );
    refused(&[&tag], "image.tag is '99.0.0'");

    copy();
    edit("CHANGELOG.md", &format!("## [{VERSION}]"), "## [99.0.0]");
    refused(
        &[&tag],
        &format!("no (or an empty) '## [{VERSION}]' section"),
    );
}

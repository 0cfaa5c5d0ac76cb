//! Reading `SecurityContactPolicy` manifests from files and directories, for the CLI.
//!
//! A bad manifest is reported with the file, the document, the field and the offending value,
//! and nothing is sent to Azure: every file is read and checked before any ARM call.

use std::{
    fmt,
    path::{Path, PathBuf},
};

use kube::ResourceExt;
use serde_json::Value;

use crate::{
    crd::{GROUP, KIND, SecurityContactPolicy, VERSION},
    validate,
};

/// A policy read from disk, with where it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub policy: SecurityContactPolicy,
    pub source: PathBuf,
    /// 1-based position among the file's YAML documents.
    pub document: usize,
}

impl Loaded {
    /// `namespace/name`, as kubectl would show it.
    pub fn id(&self) -> String {
        format!(
            "{}/{}",
            self.policy.namespace().unwrap_or_else(|| "default".into()),
            self.policy.name_any()
        )
    }
}

/// Everything wrong with the given manifests.
#[derive(Debug, thiserror::Error)]
pub struct LoadError(pub Vec<Problem>);

#[derive(Debug)]
pub struct Problem {
    pub source: PathBuf,
    pub document: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.document {
            Some(d) => write!(
                f,
                "{} (document {d}): {}",
                self.source.display(),
                self.message
            ),
            None => write!(f, "{}: {}", self.source.display(), self.message),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// Loads every policy under `paths` (files, or directories read one level deep for `*.yaml`
/// and `*.yml`). Documents of other kinds are skipped; anything wrong is an error.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Loaded>, LoadError> {
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    for file in expand(paths, &mut problems) {
        match std::fs::read_to_string(&file) {
            Ok(text) => parse(&file, &text, &mut loaded, &mut problems),
            Err(e) => problems.push(Problem {
                source: file,
                document: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    if loaded.is_empty() && problems.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        problems.push(Problem {
            source: PathBuf::from(shown.join(", ")),
            document: None,
            message: format!("no {KIND} found"),
        });
    }
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(LoadError(problems))
    }
}

fn expand(paths: &[PathBuf], problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            match std::fs::read_dir(path) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.is_file() && is_yaml(p))
                        .collect();
                    found.sort();
                    files.extend(found);
                }
                Err(e) => problems.push(Problem {
                    source: path.clone(),
                    document: None,
                    message: format!("cannot read directory: {e}"),
                }),
            }
        } else if path.exists() {
            files.push(path.clone());
        } else {
            problems.push(Problem {
                source: path.clone(),
                document: None,
                message: "no such file or directory".into(),
            });
        }
    }
    files
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// Parses one file's documents into `loaded`, or explains what is wrong in `problems`.
pub fn parse(source: &Path, text: &str, loaded: &mut Vec<Loaded>, problems: &mut Vec<Problem>) {
    let problem = |document: Option<usize>, message: String| Problem {
        source: source.to_owned(),
        document,
        message,
    };
    let documents: Vec<Value> = match serde_saphyr::from_multiple(text) {
        Ok(docs) => docs,
        Err(e) => return problems.push(problem(None, format!("not valid YAML: {e}"))),
    };
    for (i, doc) in documents.into_iter().enumerate() {
        let n = Some(i + 1);
        if doc.is_null() {
            continue;
        }
        let api_version = doc
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
        if kind != KIND || api_version.split('/').next() != Some(GROUP) {
            continue;
        }
        if api_version != format!("{GROUP}/{VERSION}") {
            problems.push(problem(
                n,
                format!("apiVersion {api_version:?} is not served; use {GROUP}/{VERSION}"),
            ));
            continue;
        }
        if let Some(extra) = doc.as_object().and_then(|o| {
            o.keys().find(|k| {
                !["apiVersion", "kind", "metadata", "spec", "status"].contains(&k.as_str())
            })
        }) {
            problems.push(problem(n, format!("{extra}: unknown field")));
            continue;
        }
        let policy: SecurityContactPolicy = match serde_path_to_error::deserialize(&doc) {
            Ok(p) => p,
            Err(e) => {
                problems.push(problem(n, format!("{}: {}", e.path(), e.inner())));
                continue;
            }
        };
        if policy
            .metadata
            .name
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            problems.push(problem(n, "metadata.name: required".into()));
            continue;
        }
        match validate::validate(&policy.spec) {
            Ok(()) => loaded.push(Loaded {
                policy,
                source: source.to_owned(),
                document: i + 1,
            }),
            Err(invalid) => {
                problems.extend(invalid.0.into_iter().map(|v| problem(n, v.to_string())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
apiVersion: securitycontact.dev/v1alpha1
kind: SecurityContactPolicy
metadata: {name: secops, namespace: security}
spec:
  subscriptions: ["6f1c2a4e-93b1-4c9e-8a57-0d4b9e2f7a10"]
  contact:
    emails: [secops@contoso.com]
"#;

    fn run(text: &str) -> (Vec<Loaded>, Vec<String>) {
        let (mut loaded, mut problems) = (Vec::new(), Vec::new());
        parse(Path::new("p.yaml"), text, &mut loaded, &mut problems);
        (loaded, problems.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn loads_with_defaults_applied() {
        let (loaded, problems) = run(GOOD);
        assert!(problems.is_empty(), "{problems:?}");
        let p = &loaded[0];
        assert_eq!(p.id(), "security/secops");
        assert_eq!(p.policy.spec.interval, "15m");
        assert_eq!(p.policy.spec.mode, crate::crd::Mode::Enforce);
    }

    #[test]
    fn multi_document_files_skip_other_kinds() {
        let text = format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: x}}\n---\n{GOOD}---\n");
        let (loaded, problems) = run(&text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].document, 2);
    }

    #[test]
    fn unknown_field_names_its_path() {
        let (_, problems) = run(&GOOD.replace("emails:", "emialz: [a@b.io]\n    emails:"));
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("p.yaml (document 1): spec.contact.emialz: unknown field `emialz`, expected one of `emails`"), "{}", problems[0]);
    }

    #[test]
    fn invalid_values_name_field_and_value() {
        let (_, problems) = run(&GOOD
            .replace("secops@contoso.com", "secops-at-contoso")
            .replace("6f1c2a4e", "zzzz"));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains(
                r#"spec.subscriptions[0]: must be a subscription id (GUID) (got "zzzz-93b1"#
            ),
            "{}",
            problems[0]
        );
        assert!(problems[1].contains(r#"spec.contact.emails[0]: must be an email address like secops@contoso.com (got "secops-at-contoso")"#));
    }

    #[test]
    fn unknown_enum_and_bad_yaml() {
        let (_, problems) = run(&GOOD.replace(
            "emails: [secops@contoso.com]",
            "emails: [secops@contoso.com]\n    emailMerge: Sometimes",
        ));
        assert!(
            problems[0].contains("spec.contact.emailMerge: unknown variant `Sometimes`"),
            "{problems:?}"
        );
        let (_, problems) = run("spec: [unclosed");
        assert!(
            problems[0].starts_with("p.yaml: not valid YAML"),
            "{problems:?}"
        );
        let (_, problems) = run(&GOOD.replace("spec:", "sepc: {}\nspec:"));
        assert!(problems[0].contains("sepc: unknown field"), "{problems:?}");
    }

    #[test]
    fn wrong_version_is_named() {
        let (_, problems) = run(&GOOD.replace("v1alpha1", "v1"));
        assert!(problems[0].contains("apiVersion \"securitycontact.dev/v1\" is not served"));
    }
}

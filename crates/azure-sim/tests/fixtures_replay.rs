//! Replays every 2023-12-01-preview example in `tests/fixtures/arm/` (verbatim copies of the
//! published Azure REST API spec examples; their source is in that folder's README) against the simulator
//! over real HTTPS, with a token that the real `azure_identity::ClientSecretCredential` got
//! from the simulator's token endpoint, and compares status and body with the example.
//!
//! The upstream examples contain artefacts the real service does not produce (singular
//! `type`, a 201 whose emails differ from the request, …). Those are listed in
//! `KNOWN_ARTEFACTS`; the test prints them and fails if the set of mismatches changes in
//! either direction, so a new divergence cannot slip in unnoticed.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use azure_sim::{Access, PrincipalSeed, SimConfig, SubscriptionSeed};
use serde_json::{Map, Value, json};
use support::{ARM_SCOPE, header, http, send, start};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "fixture-replay";
const SECRET: &str = "fixture-replay-secret";

/// Mismatches between the examples and the simulator that are upstream artefacts, with why.
const KNOWN_ARTEFACTS: &[(&str, &str)] = &[
    (
        "CreateSecurityContact_example.json 200: /type",
        "example says Microsoft.Security/securityContact (singular); the service returns securityContacts",
    ),
    (
        "CreateSecurityContact_example.json 200: /properties/emails",
        "example response has @microsoft.com addresses although the request sent @contoso.com; PUT echoes what it stored",
    ),
    (
        "CreateSecurityContact_example.json 201: /type",
        "singular resource type typo, as above",
    ),
    (
        "CreateSecurityContact_example.json 201: /properties/emails",
        "@microsoft.com vs the requested @contoso.com, as above",
    ),
    (
        "CreateSecurityContact_example.json 201: /properties/notificationsByRole/state",
        "201 example drops notificationsByRole.state that the request sent; the simulator echoes it",
    ),
    (
        "GetSecurityContactsSubscription_example.json 200: /value/0/id",
        "example id uses .../securityContact/default (singular)",
    ),
    (
        "GetSecurityContactsSubscription_example.json 200: /value/0/type",
        "singular resource type typo",
    ),
];

fn fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/arm/2023-12-01-preview"
    ))
}

/// One request to replay and the answer the example expects.
struct Case {
    label: String,
    subscription: String,
    /// Contact properties stored before the request (`None` = no contact).
    seed: Option<Value>,
    method: reqwest::Method,
    path: String,
    api_version: String,
    body: Option<Value>,
    status: u16,
    expected: Option<Value>,
}

fn param<'a>(example: &'a Value, name: &str) -> &'a str {
    example["parameters"][name]
        .as_str()
        .unwrap_or_else(|| panic!("example parameter {name} missing"))
}

fn cases_for(file: &str, example: &Value) -> Vec<Case> {
    let subscription = param(example, "subscriptionId").to_owned();
    let api_version = param(example, "api-version").to_owned();
    let operation = example["operationId"].as_str().unwrap_or_default();
    let responses = example["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{file}: no responses"));
    let base =
        format!("/subscriptions/{subscription}/providers/Microsoft.Security/securityContacts");
    let named = || format!("{base}/{}", param(example, "securityContactName"));
    let previous = json!({"emails": "previous@contoso.com", "isEnabled": false});

    responses
        .iter()
        .map(|(status, response)| {
            let status: u16 = status
                .parse()
                .unwrap_or_else(|_| panic!("{file}: status {status}"));
            let expected = response.get("body").cloned();
            let (method, path, seed, body) = match operation {
                "SecurityContacts_Create" => (
                    reqwest::Method::PUT,
                    named(),
                    (status == 200).then(|| previous.clone()),
                    Some(example["parameters"]["securityContact"].clone()),
                ),
                "SecurityContacts_Get" => (
                    reqwest::Method::GET,
                    named(),
                    expected.as_ref().map(|b| b["properties"].clone()),
                    None,
                ),
                "SecurityContacts_List" => (
                    reqwest::Method::GET,
                    base.clone(),
                    expected
                        .as_ref()
                        .and_then(|b| b["value"].get(0))
                        .map(|item| item["properties"].clone()),
                    None,
                ),
                "SecurityContacts_Delete" => (
                    reqwest::Method::DELETE,
                    named(),
                    (status == 200).then(|| previous.clone()),
                    None,
                ),
                other => panic!("{file}: operation {other} has no replay rule; add one"),
            };
            Case {
                label: format!("{file} {status}"),
                subscription: subscription.clone(),
                seed,
                method,
                path,
                api_version: api_version.clone(),
                body,
                status,
                expected,
            }
        })
        .collect()
}

/// JSON differences as `pointer` strings (missing, extra or different values).
fn diff(expected: &Value, actual: &Value, pointer: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let keys: BTreeSet<&String> = e.keys().chain(a.keys()).collect();
            for key in keys {
                let child = format!("{pointer}/{key}");
                match (e.get(key), a.get(key)) {
                    (Some(ev), Some(av)) => diff(ev, av, &child, out),
                    _ => out.push(child),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                diff(ev, av, &format!("{pointer}/{i}"), out);
            }
        }
        _ if expected == actual => {}
        _ => out.push(if pointer.is_empty() {
            "/".into()
        } else {
            pointer.into()
        }),
    }
}

fn empty_object(value: &Option<Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::Object(map)) => map.is_empty(),
        _ => false,
    }
}

#[tokio::test]
async fn replays_every_2023_12_01_preview_example() {
    let dir = fixtures_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();

    let mut cases = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read example");
        let example: Value = serde_json::from_str(&text).expect("example JSON");
        // The swagger document sits next to the examples; it has no operationId at the top.
        if example.get("operationId").is_none() {
            continue;
        }
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        cases.extend(cases_for(file, &example));
    }
    assert!(
        cases.len() >= 6,
        "expected the Create/Get/List/Delete examples, found {} cases",
        cases.len()
    );

    let subscriptions: BTreeSet<String> = cases.iter().map(|c| c.subscription.clone()).collect();
    let config = SimConfig::single_tenant(
        TENANT,
        PrincipalSeed::with_secret(CLIENT, SECRET, Access::ReadWrite),
        subscriptions.iter().map(SubscriptionSeed::new).collect(),
    );
    let sim = start(config).await;
    let token = {
        use azure_core::credentials::TokenCredential;
        support::secret_credential(&sim, TENANT, CLIENT, SECRET)
            .get_token(&[ARM_SCOPE], None)
            .await
            .expect("ClientSecretCredential gets a token from the simulator")
            .token
            .secret()
            .to_owned()
    };
    let client = http(&sim);

    let mut mismatches = BTreeSet::new();
    for case in &cases {
        match &case.seed {
            Some(properties) => {
                sim.state()
                    .set_contact(&case.subscription, properties.clone())
                    .expect("seed");
            }
            None => {
                sim.state()
                    .delete_contact(&case.subscription)
                    .expect("seed");
            }
        }
        let url = format!(
            "{}{}?api-version={}",
            sim.url().as_str().trim_end_matches('/'),
            case.path,
            case.api_version
        );
        let mut request = client.request(case.method.clone(), url).bearer_auth(&token);
        if let Some(body) = &case.body {
            request = request.json(body);
        }
        let (status, headers, body) = send(request).await;
        assert!(
            header(&headers, "x-ms-request-id").is_some(),
            "{}",
            case.label
        );
        if status != case.status {
            mismatches.insert(format!("{}: status {status}", case.label));
            continue;
        }
        let actual = (!body.is_null()).then_some(body);
        if empty_object(&case.expected) && empty_object(&actual) {
            continue;
        }
        let mut found = Vec::new();
        diff(
            case.expected.as_ref().unwrap_or(&Value::Object(Map::new())),
            actual.as_ref().unwrap_or(&Value::Object(Map::new())),
            "",
            &mut found,
        );
        mismatches.extend(found.into_iter().map(|p| format!("{}: {p}", case.label)));
    }

    println!("Fixture artefacts not reproduced by the simulator:");
    for (artefact, why) in KNOWN_ARTEFACTS {
        println!("  - {artefact} ({why})");
    }
    let known: BTreeSet<String> = KNOWN_ARTEFACTS
        .iter()
        .map(|(a, _)| (*a).to_owned())
        .collect();
    let new: Vec<&String> = mismatches.difference(&known).collect();
    let gone: Vec<&String> = known.difference(&mismatches).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "fixture mismatches changed.\n  new (not known artefacts): {new:#?}\n  known but no longer seen: {gone:#?}"
    );
    sim.shutdown().await;
}

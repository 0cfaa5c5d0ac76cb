//! The CLI's Rust validator must accept and reject exactly what the generated CRD does.
//!
//! The "schema side" evaluates the committed CRD itself: its OpenAPI schema (jsonschema), its
//! list-type `set` semantics, its CEL rules (kube-cel, with schema defaults applied as the API
//! server does), and unknown fields rejected as kubectl's default strict field validation
//! does. The end-to-end tier repeats a sample against a real kube-apiserver.

use proptest::prelude::*;
use security_contact_operator::{
    crd::{SecurityContactPolicySpec, crd_yaml},
    manifest, validate,
};
use serde_json::{Map, Value, json};

fn spec_schema() -> Value {
    let crd: Value = serde_saphyr::from_str(&crd_yaml()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
}

/// OpenAPI's `nullable: true` in JSON Schema terms (the API server accepts null there).
fn with_nullable(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: Map<String, Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), with_nullable(v)))
                .collect();
            if map.get("nullable") == Some(&json!(true))
                && let Some(t) = map.get("type").cloned()
            {
                out.insert("type".into(), json!([t, "null"]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(with_nullable).collect()),
        other => other.clone(),
    }
}

struct SchemaSide {
    schema: Value,
    json_schema: jsonschema::Validator,
    cel: kube_cel::Validator,
}

impl SchemaSide {
    fn new() -> Self {
        let schema = spec_schema();
        let json_schema =
            jsonschema::validator_for(&with_nullable(&schema)).expect("the CRD schema compiles");
        SchemaSide {
            schema,
            json_schema,
            cel: kube_cel::Validator::new(),
        }
    }

    fn accepts(&self, spec: &Value) -> bool {
        self.json_schema.is_valid(spec)
            && structural(&self.schema, spec)
            && self.cel.validate(&self.schema, spec, None).is_ok()
    }
}

/// What JSON Schema does not say but Kubernetes enforces: list-type `set` uniqueness, and no
/// field the schema does not declare (strict field validation).
fn structural(schema: &Value, value: &Value) -> bool {
    match value {
        Value::Object(map) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                return true;
            };
            map.iter()
                .all(|(k, v)| props.get(k).is_some_and(|s| structural(s, v)))
        }
        Value::Array(items) => {
            let unique = match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => items
                    .iter()
                    .enumerate()
                    .all(|(i, x)| !items[..i].contains(x)),
                // A list-map's keys identify its items: no two may share them.
                Some("map") => {
                    let keys: Vec<&str> = schema["x-kubernetes-list-map-keys"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    let key =
                        |x: &Value| keys.iter().map(|k| x.get(*k).cloned()).collect::<Vec<_>>();
                    items
                        .iter()
                        .enumerate()
                        .all(|(i, x)| !items[..i].iter().any(|y| key(y) == key(x)))
                }
                _ => true,
            };
            let item_schema = schema.get("items").cloned().unwrap_or(Value::Null);
            unique && items.iter().all(|x| structural(&item_schema, x))
        }
        _ => true,
    }
}

fn rust_accepts(spec: &Value) -> bool {
    serde_json::from_value::<SecurityContactPolicySpec>(spec.clone())
        .is_ok_and(|s| validate::validate(&s).is_ok())
}

const GUID: &str = "6f1c2a4e-93b1-4c9e-8a57-0d4b9e2f7a10";

/// Mostly valid choices with the occasional invalid one, so both verdicts are common.
fn weighted(
    valid: Vec<Option<Value>>,
    invalid: Vec<Option<Value>>,
) -> BoxedStrategy<Option<Value>> {
    prop_oneof![24 => prop::sample::select(valid), 1 => prop::sample::select(invalid)].boxed()
}

fn some(values: &[Value]) -> Vec<Option<Value>> {
    values.iter().cloned().map(Some).collect()
}

fn spec_strategy() -> impl Strategy<Value = Value> {
    let valid_subs = vec![
        json!(GUID),
        json!(GUID.to_uppercase()),
        json!("7a2d3b5f-04c2-4dae-9b68-1e5caf308b21"),
    ];
    let invalid_subs = vec![json!("not-a-guid"), json!(""), json!(format!("{GUID}0"))];
    let sub = prop_oneof![40 => prop::sample::select(valid_subs), 1 => prop::sample::select(invalid_subs)];
    let valid_emails = vec![
        json!("secops@contoso.com"),
        json!("SecOps@Contoso.com"),
        json!("soc+alerts@fabrikam.co.uk"),
        json!("o'neil@x-y.ie"),
        json!(format!("{}@contoso.com", "a".repeat(242))),
    ];
    let invalid_emails = vec![
        json!("ops@contoso"),
        json!("a b@contoso.com"),
        json!("ü@contoso.com"),
        json!("Name <x@contoso.com>"),
        json!(format!("{}@contoso.com", "a".repeat(243))),
        json!("a@-x.io"),
        json!(7),
    ];
    let email = prop_oneof![40 => prop::sample::select(valid_emails), 1 => prop::sample::select(invalid_emails)];
    let many_emails = prop_oneof![20 => prop::collection::vec(email, 1..4), 1 => Just(Vec::new())]
        .prop_map(Value::Array);
    let fifty_one = Just(Value::Array(
        (0..51)
            .map(|i| json!(format!("u{i}@contoso.com")))
            .collect(),
    ));
    let emails = prop_oneof![20 => many_emails, 1 => fifty_one];
    (
        prop_oneof![20 => prop::collection::vec(sub, 1..3), 1 => Just(Vec::new())],
        emails,
        weighted(
            vec![None, Some(json!("Additive")), Some(json!("Exact"))],
            some(&[json!("Sometimes"), json!("exact")]),
        ),
        weighted(
            vec![
                None,
                Some(json!(["Owner"])),
                Some(json!(["Owner", "Contributor"])),
            ],
            some(&[
                json!(["Owner", "Owner"]),
                json!([]),
                json!(["Boss"]),
                json!([
                    "Owner",
                    "Contributor",
                    "AccountAdmin",
                    "ServiceAdmin",
                    "Owner"
                ]),
            ]),
        ),
        weighted(
            vec![None, Some(json!("High")), Some(json!("Low"))],
            some(&[json!("Critical"), json!(null)]),
        ),
        weighted(
            vec![None, Some(json!("Critical")), Some(json!("Low"))],
            some(&[json!("Extreme")]),
        ),
        weighted(
            vec![
                None,
                Some(json!("+1-555-0100")),
                Some(json!("(214)275-4038")),
                Some(json!("")),
            ],
            some(&[json!("call me"), json!("1".repeat(41))]),
        ),
        (
            weighted(
                vec![
                    None,
                    Some(json!("15m")),
                    Some(json!("5s")),
                    Some(json!("24h")),
                    Some(json!("1h30m")),
                    Some(json!("90s")),
                ],
                some(&[
                    json!("4s"),
                    json!("24h1s"),
                    json!(""),
                    json!("15"),
                    json!("1m1h"),
                    json!("0h"),
                    json!("1.5h"),
                ]),
            ),
            weighted(
                vec![None, Some(json!("Enforce")), Some(json!("Audit"))],
                some(&[json!("Observe")]),
            ),
            weighted(
                vec![None, Some(json!("Orphan")), Some(json!("Revert"))],
                some(&[json!("Delete")]),
            ),
            weighted(
                vec![None, Some(json!(true)), Some(json!(false))],
                some(&[json!("yes")]),
            ),
            weighted(
                vec![
                    None,
                    Some(json!({"secretRef": {"name": "azure-creds"}})),
                    Some(json!({"workloadIdentity": {
                        "clientId": "11111111-2222-3333-4444-555555555555",
                        "tenantId": "contoso.onmicrosoft.com",
                        "serviceAccountName": "azure-writer"}})),
                ],
                some(&[
                    json!({"secretRef": {"name": "Bad_Name"}}),
                    json!({"secretRef": {}}),
                    json!({"secretRef": {"name": "x", "key": "y"}}),
                    json!({}),
                    json!({"secretRef": {"name": "x"}, "workloadIdentity": {
                        "clientId": "11111111-2222-3333-4444-555555555555",
                        "tenantId": "contoso.onmicrosoft.com",
                        "serviceAccountName": "azure-writer"}}),
                    json!({"workloadIdentity": {
                        "clientId": "not-a-guid",
                        "tenantId": "contoso.onmicrosoft.com",
                        "serviceAccountName": "azure-writer"}}),
                    json!({"workloadIdentity": {
                        "clientId": "11111111-2222-3333-4444-555555555555",
                        "tenantId": "not a tenant",
                        "serviceAccountName": "azure-writer"}}),
                    json!({"workloadIdentity": {
                        "clientId": "11111111-2222-3333-4444-555555555555",
                        "tenantId": "contoso.onmicrosoft.com",
                        "serviceAccountName": "Azure_Writer"}}),
                    json!({"workloadIdentity": {
                        "clientId": "11111111-2222-3333-4444-555555555555",
                        "tenantId": "contoso.onmicrosoft.com"}}),
                ]),
            ),
            weighted(vec![None], some(&[json!(1)])),
            weighted(
                vec![
                    None,
                    Some(json!({"tenantId": GUID, "technicalNotificationMails": ["soc@contoso.com"]})),
                    Some(json!({"tenantId": GUID, "merge": "Exact",
                                "securityComplianceNotificationMails": ["a@contoso.com", "b@contoso.com"]})),
                ],
                some(&[
                    json!({"tenantId": GUID}),
                    json!({"tenantId": "contoso", "technicalNotificationMails": ["soc@contoso.com"]}),
                    json!({"tenantId": GUID, "technicalNotificationMails": []}),
                    json!({"tenantId": GUID, "technicalNotificationMails": ["not an address"]}),
                    json!({"tenantId": GUID, "technicalNotificationMails": ["a@contoso.com", "a@contoso.com"]}),
                    json!({"tenantId": GUID, "technicalNotificationMails": ["a@contoso.com"], "merge": "Replace"}),
                    json!({"technicalNotificationMails": ["a@contoso.com"]}),
                ]),
            ),
            weighted(
                vec![
                    None,
                    Some(json!({"managementGroups": ["contoso-platform"]})),
                    Some(json!({"matchTags": {"env": "prod"}})),
                    Some(json!({"allVisible": true, "matchTags": {"team": "a"}})),
                    Some(json!({"managementGroups": ["mg(1)_x-y"], "allVisible": false})),
                ],
                some(&[
                    json!({}),
                    json!({"allVisible": false}),
                    json!({"managementGroups": []}),
                    json!({"managementGroups": ["ends-with-dot."]}),
                    json!({"managementGroups": ["has space"]}),
                    json!({"managementGroups": ["a".repeat(91)]}),
                    json!({"managementGroups": ["x", "x"]}),
                    json!({"labels": {"a": "b"}}),
                ]),
            ),
            weighted(
                vec![
                    None,
                    Some(json!([{"subscription": GUID, "reason": "legacy, SEC-1"}])),
                    Some(json!([{"subscription": GUID, "reason": "migration",
                                 "expires": "2027-03-31T00:00:00Z"}])),
                ],
                some(&[
                    json!([{"subscription": "not-a-guid", "reason": "x"}]),
                    json!([{"subscription": GUID, "reason": ""}]),
                    json!([{"subscription": GUID, "reason": "r".repeat(257)}]),
                    json!([{"subscription": GUID}]),
                    json!([{"subscription": GUID, "reason": "a"}, {"subscription": GUID, "reason": "b"}]),
                    json!([{"subscription": GUID, "reason": "x", "ticket": "SEC-1"}]),
                ]),
            ),
        ),
    )
        .prop_map(
            |(
                subs,
                emails,
                merge,
                roles,
                severity,
                risk,
                phone,
                (interval, mode, deletion, suspend, credentials, extra, tenant, selector, exclusions),
            )| {
                let mut contact = Map::new();
                contact.insert("emails".into(), emails);
                let put = |map: &mut Map<String, Value>, key: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        map.insert(key.into(), v);
                    }
                };
                put(&mut contact, "emailMerge", merge);
                put(&mut contact, "notifyRoles", roles);
                put(&mut contact, "alertMinimalSeverity", severity);
                put(&mut contact, "attackPathMinimalRiskLevel", risk);
                put(&mut contact, "phone", phone);
                let mut spec = Map::new();
                spec.insert("subscriptions".into(), Value::Array(subs));
                spec.insert("contact".into(), Value::Object(contact));
                put(&mut spec, "interval", interval);
                put(&mut spec, "mode", mode);
                put(&mut spec, "deletionPolicy", deletion);
                put(&mut spec, "suspend", suspend);
                put(&mut spec, "credentials", credentials);
                put(&mut spec, "extraField", extra);
                put(&mut spec, "exclusions", exclusions);
                put(&mut spec, "subscriptionSelector", selector);
                put(&mut spec, "tenantContact", tenant);
                Value::Object(spec)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn rust_validator_matches_the_crd(spec in spec_strategy()) {
        thread_local!(static SCHEMA: SchemaSide = SchemaSide::new());
        let schema = SCHEMA.with(|s| s.accepts(&spec));
        prop_assert_eq!(rust_accepts(&spec), schema, "disagreement on {}", spec);
    }
}

#[test]
fn both_sides_accept_and_reject_known_cases() {
    let side = SchemaSide::new();
    let good = json!({"subscriptions": [GUID], "contact": {"emails": ["secops@contoso.com"]}});
    assert!(side.accepts(&good) && rust_accepts(&good));
    let dup =
        json!({"subscriptions": [GUID], "contact": {"emails": ["a@contoso.com", "A@contoso.com"]}});
    assert!(
        !side.accepts(&dup) && !rust_accepts(&dup),
        "case-insensitive duplicates"
    );
    let revert = json!({"mode": "Audit", "deletionPolicy": "Revert", "subscriptions": [GUID], "contact": {"emails": ["a@contoso.com"]}});
    assert!(
        !side.accepts(&revert) && !rust_accepts(&revert),
        "Audit + Revert"
    );
}

#[test]
fn every_example_is_accepted_by_the_validator_and_the_crd() {
    let side = SchemaSide::new();
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"));
    let loaded =
        manifest::load(&[dir.to_owned(), dir.join("failures")]).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.len() >= 6, "examples: {}", loaded.len());
    for policy in loaded {
        let spec = serde_json::to_value(&policy.policy.spec).unwrap();
        assert!(
            side.accepts(&spec),
            "{} is rejected by the CRD",
            policy.source.display()
        );
    }
}

/// Guards the generator: a parity test that only ever sees rejections proves little.
#[test]
fn the_generator_produces_both_verdicts() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = spec_strategy();
    let accepted = (0..3000)
        .filter(|_| rust_accepts(&strategy.new_tree(&mut runner).unwrap().current()))
        .count();
    eprintln!("{accepted} of 3000 generated specs accepted");
    assert!(
        (600..2400).contains(&accepted),
        "{accepted} of 3000 accepted"
    );
}

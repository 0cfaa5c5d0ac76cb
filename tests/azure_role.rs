//! The custom Azure role in `deploy/azure/` grants exactly the ARM actions the operator calls:
//! a new call without its action would fail in production with 403, an action no call needs
//! would be privilege for nothing.

use std::collections::BTreeSet;

#[test]
fn the_custom_role_lists_exactly_the_actions_the_client_calls() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/azure/security-contact-operator-role.json"
    ))
    .unwrap();
    let role: serde_json::Value = serde_json::from_str(&text).expect("valid JSON for az");
    let actions: BTreeSet<&str> = role["Actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    // One per call in src/arm: GET/PUT/DELETE of securityContacts/default, GET /subscriptions,
    // GET managementGroups/{id}/descendants, GET the Activity Log.
    let called = BTreeSet::from([
        "Microsoft.Security/securityContacts/read",
        "Microsoft.Security/securityContacts/write",
        "Microsoft.Security/securityContacts/delete",
        "Microsoft.Resources/subscriptions/read",
        "Microsoft.Management/managementGroups/descendants/read",
        "Microsoft.Insights/eventtypes/values/read",
    ]);
    assert_eq!(actions, called);
    assert_eq!(role["IsCustom"], true);
    assert!(role["DataActions"].as_array().unwrap().is_empty());
}

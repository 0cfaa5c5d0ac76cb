//! `GET /subscriptions` (`Subscriptions_List`), shaped like
//! arm-fixtures/2022-12-01/GetSubscriptions.json, paged with `nextLink`.
//!
//! Any api-version is accepted (SDKs still send 2016-06-01, 2020-01-01 or 2022-12-01, and the
//! response shape is the same for all of them); only its absence is an error. The page cursor
//! is an opaque `$skiptoken` that holds the offset into the caller's visible list.

use serde_json::{Value, json};
use url::Url;

use super::arm_error::ArmError;
use super::state::Subscription;

/// One item of the list.
fn item(sub: &Subscription) -> Value {
    let mut value = json!({
        "id": format!("/subscriptions/{}", sub.id),
        "subscriptionId": sub.id,
        "tenantId": sub.tenant_id,
        "displayName": sub.display_name,
        "state": sub.state,
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off"
        },
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
    });
    // Real ARM leaves `tags` out for untagged subscriptions.
    if !sub.tags.is_empty() {
        value["tags"] = json!(sub.tags);
    }
    value
}

/// One page of the subscriptions visible to the caller.
pub(crate) fn page(
    visible: &[&Subscription],
    api_version: &str,
    skip_token: Option<&str>,
    page_size: usize,
    base_url: &Url,
) -> Result<Value, ArmError> {
    let start = match skip_token {
        None => 0,
        Some(token) => token
            .parse::<usize>()
            .ok()
            .filter(|&offset| offset <= visible.len())
            .ok_or_else(|| ArmError::invalid_skip_token(token))?,
    };
    let end = start.saturating_add(page_size).min(visible.len());
    let value: Vec<Value> = visible[start..end].iter().map(|s| item(s)).collect();
    let mut body = json!({ "value": value });
    if end < visible.len() {
        let mut next = base_url
            .join("subscriptions")
            .unwrap_or_else(|_| base_url.clone());
        next.query_pairs_mut()
            .append_pair("api-version", api_version)
            .append_pair("$skiptoken", &end.to_string());
        body["nextLink"] = json!(next.as_str());
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SubscriptionState;
    use std::collections::BTreeMap;

    fn sub(n: u8) -> Subscription {
        Subscription {
            id: format!("00000000-0000-0000-0000-0000000000{n:02}"),
            tenant_id: "t".into(),
            display_name: format!("Sub {n}"),
            state: SubscriptionState::Enabled,
            security_registered: true,
            tags: BTreeMap::new(),
            contact: None,
            contact_version: 0,
            management_group: None,
        }
    }

    #[test]
    fn pages_with_next_link() {
        let subs: Vec<Subscription> = (1..=5).map(sub).collect();
        let visible: Vec<&Subscription> = subs.iter().collect();
        let base = Url::parse("https://127.0.0.1:9/").expect("url");
        let first = page(&visible, "2022-12-01", None, 2, &base).expect("page");
        assert_eq!(first["value"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            first["nextLink"],
            "https://127.0.0.1:9/subscriptions?api-version=2022-12-01&%24skiptoken=2"
        );
        let last = page(&visible, "2022-12-01", Some("4"), 2, &base).expect("page");
        assert_eq!(last["value"][0]["displayName"], "Sub 5");
        assert_eq!(last["value"][0]["state"], "Enabled");
        assert!(last.get("nextLink").is_none());
        assert!(last["value"][0].get("tags").is_none());
        assert!(page(&visible, "x", Some("9"), 2, &base).is_err());
        assert!(page(&visible, "x", Some("abc"), 2, &base).is_err());
    }
}

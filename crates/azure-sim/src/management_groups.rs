//! `GET /providers/Microsoft.Management/managementGroups/{groupId}/descendants`
//! (`ManagementGroups_GetDescendants`), shaped like the published example
//! `tests/fixtures/arm/2023-04-01/GetDescendants.json` (Azure/azure-rest-api-specs):
//! `{"value": [DescendantInfo], "nextLink": …}`, every group and subscription at every depth
//! below the group in one flat list, each naming its direct parent group. The group itself is
//! not listed. Subscriptions are listed whatever their state (Disabled and Deleted too).
//!
//! Paging: `$top` items per page when the request gives it, else `descendantPageSize`. The last
//! page carries `"nextLink": null`, as the example does. The `$skiptoken` is opaque to clients:
//! hex of `<group>|<offset>|<page size>`, so following a `nextLink` keeps the page size of the
//! request that started the listing, and a token is refused for any other group. The
//! documentation says of `$top` "Passing this in will override $skipToken"; here a `$top` sent
//! together with a `$skiptoken` only sets the page size and the token still says where to go on
//! (how ARM combines the two is UNVERIFIED). Offsets are positions in the current hierarchy, so
//! a listing that spans a change may skip or repeat items, as any offset paging would.

use serde_json::{Value, json};
use url::Url;

use super::arm_error::ArmError;
use super::state::Descendant;

/// `type` of a management group among the descendants.
pub(crate) const GROUP_TYPE: &str = "Microsoft.Management/managementGroups";
/// `type` of a subscription among the descendants, as the published example shows it (the
/// reference documentation only says "or /subscriptions").
pub(crate) const SUBSCRIPTION_TYPE: &str = "Microsoft.Management/managementGroups/subscriptions";

/// The resource id of a management group.
pub(crate) fn group_resource_id(group: &str) -> String {
    format!("/providers/Microsoft.Management/managementGroups/{group}")
}

/// One `DescendantInfo`.
fn item(descendant: &Descendant<'_>) -> Value {
    let (id, kind, name, display_name, parent) = match descendant {
        Descendant::Group(group) => (
            group_resource_id(&group.id),
            GROUP_TYPE,
            &group.id,
            &group.display_name,
            group.parent.as_str(),
        ),
        Descendant::Subscription(sub) => (
            format!("/subscriptions/{}", sub.id),
            SUBSCRIPTION_TYPE,
            &sub.id,
            &sub.display_name,
            sub.parent_group(),
        ),
    };
    json!({
        "id": id,
        "type": kind,
        "name": name,
        "properties": {
            "displayName": display_name,
            "parent": { "id": group_resource_id(parent) },
        },
    })
}

fn encode_token(group: &str, offset: usize, page_size: usize) -> String {
    format!("{}|{offset}|{page_size}", group.to_ascii_lowercase())
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The (offset, page size) of a token issued for `group`.
fn decode_token(token: &str, group: &str) -> Option<(usize, usize)> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Vec<u8> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.rsplitn(3, '|');
    let page_size = parts.next()?.parse::<usize>().ok().filter(|&n| n > 0)?;
    let offset = parts.next()?.parse::<usize>().ok()?;
    let token_group = parts.next()?;
    token_group
        .eq_ignore_ascii_case(group)
        .then_some((offset, page_size))
}

/// Parses `$top`: a positive integer.
pub(crate) fn parse_top(top: Option<&str>) -> Result<Option<usize>, ArmError> {
    top.map(|given| {
        given
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| ArmError::invalid_top(given))
    })
    .transpose()
}

/// One page of `group`'s descendants (`group` as the simulator stores its id).
pub(crate) fn page(
    descendants: &[Descendant<'_>],
    group: &str,
    api_version: &str,
    top: Option<usize>,
    skip_token: Option<&str>,
    default_page_size: usize,
    base_url: &Url,
) -> Result<Value, ArmError> {
    let (start, token_page_size) = match skip_token {
        None => (0, None),
        Some(token) => decode_token(token, group)
            .filter(|&(offset, _)| offset <= descendants.len())
            .map(|(offset, size)| (offset, Some(size)))
            .ok_or_else(|| ArmError::invalid_skip_token(token))?,
    };
    let page_size = top.or(token_page_size).unwrap_or(default_page_size).max(1);
    let end = start.saturating_add(page_size).min(descendants.len());
    let value: Vec<Value> = descendants[start..end].iter().map(item).collect();
    let next_link = if end < descendants.len() {
        let mut next = base_url
            .join(&format!(
                "providers/Microsoft.Management/managementGroups/{group}/descendants"
            ))
            .unwrap_or_else(|_| base_url.clone());
        next.query_pairs_mut()
            .append_pair("api-version", api_version)
            .append_pair("$skiptoken", &encode_token(group, end, page_size));
        Value::String(next.into())
    } else {
        Value::Null
    };
    Ok(json!({ "value": value, "nextLink": next_link }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SubscriptionState;
    use crate::state::{ManagementGroup, Subscription};
    use std::collections::BTreeMap;

    fn sub(n: u8, group: Option<&str>) -> Subscription {
        Subscription {
            id: format!("00000000-0000-0000-0000-0000000000{n:02}"),
            tenant_id: "t".into(),
            display_name: format!("Sub {n}"),
            state: SubscriptionState::Enabled,
            security_registered: true,
            tags: BTreeMap::new(),
            contact: None,
            contact_version: 0,
            management_group: group.map(str::to_owned),
        }
    }

    #[test]
    fn items_have_the_example_shape() {
        let group = ManagementGroup {
            id: "g1".into(),
            tenant_id: "t".into(),
            display_name: "Group 1".into(),
            parent: "t".into(),
        };
        let sub = sub(4, Some("g1"));
        let items = [Descendant::Group(&group), Descendant::Subscription(&sub)];
        let base = Url::parse("https://127.0.0.1:9/").expect("url");
        let body = page(&items, "t", "2023-04-01", None, None, 10, &base).expect("page");
        assert_eq!(
            body,
            json!({
                "value": [
                    {
                        "id": "/providers/Microsoft.Management/managementGroups/g1",
                        "type": "Microsoft.Management/managementGroups",
                        "name": "g1",
                        "properties": {
                            "displayName": "Group 1",
                            "parent": {"id": "/providers/Microsoft.Management/managementGroups/t"}
                        }
                    },
                    {
                        "id": "/subscriptions/00000000-0000-0000-0000-000000000004",
                        "type": "Microsoft.Management/managementGroups/subscriptions",
                        "name": "00000000-0000-0000-0000-000000000004",
                        "properties": {
                            "displayName": "Sub 4",
                            "parent": {"id": "/providers/Microsoft.Management/managementGroups/g1"}
                        }
                    }
                ],
                "nextLink": null
            })
        );
    }

    #[test]
    fn pages_with_opaque_tokens_bound_to_the_group() {
        let subs: Vec<Subscription> = (1..=5).map(|n| sub(n, None)).collect();
        let items: Vec<Descendant<'_>> = subs.iter().map(Descendant::Subscription).collect();
        let base = Url::parse("https://127.0.0.1:9/").expect("url");
        let first = page(&items, "T", "2020-05-01", Some(2), None, 10, &base).expect("page");
        assert_eq!(first["value"].as_array().map(Vec::len), Some(2));
        let next = Url::parse(first["nextLink"].as_str().expect("nextLink")).expect("url");
        assert_eq!(
            next.path(),
            "/providers/Microsoft.Management/managementGroups/T/descendants"
        );
        let token = next
            .query_pairs()
            .find(|(k, _)| k == "$skiptoken")
            .map(|(_, v)| v.into_owned())
            .expect("token");
        assert!(!token.contains('|'), "the token is not plain text: {token}");
        assert_eq!(decode_token(&token, "t"), Some((2, 2)));
        assert_eq!(decode_token(&token, "other"), None);
        // The token keeps the page size of the first request.
        let second = page(&items, "T", "2020-05-01", None, Some(&token), 10, &base).expect("page");
        assert_eq!(second["value"][0]["name"], subs[2].id);
        assert_eq!(second["value"].as_array().map(Vec::len), Some(2));
        let last_token = encode_token("t", 4, 2);
        let last = page(&items, "t", "x", None, Some(&last_token), 10, &base).expect("page");
        assert_eq!(last["value"].as_array().map(Vec::len), Some(1));
        assert!(last["nextLink"].is_null());
        for bad in [
            "zz",
            "abc",
            "",
            &encode_token("t", 9, 2),
            &encode_token("u", 0, 2),
        ] {
            assert!(
                page(&items, "t", "x", None, Some(bad), 10, &base).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn top_must_be_a_positive_integer() {
        assert_eq!(parse_top(None).ok(), Some(None));
        assert_eq!(parse_top(Some("3")).ok(), Some(Some(3)));
        for bad in ["0", "-1", "x", ""] {
            assert!(parse_top(Some(bad)).is_err(), "{bad}");
        }
    }
}

//! Which subscriptions a policy names: its `subscriptions`, plus what `subscriptionSelector`
//! finds in Azure on every pass. Deciding is pure ([`select`]); [`resolve`] makes the ARM calls
//! it needs (one subscriptions listing, one descendants listing per management group, pages
//! followed) and nothing when there is no selector.
//!
//! The selector's criteria all apply: under any of its management groups (or, without
//! groups, among every visible subscription) and carrying every tag of `matchTags`. Of what the
//! selector finds, only subscriptions that can raise alerts are kept: `Enabled`, `Warned` and
//! `PastDue` (the last two counted); `Disabled` and `Deleted` ones are counted and skipped.
//! Subscriptions named by id are always kept: a person asked for them.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::{
    arm::{ArmClient, ArmError, wire::Subscription},
    audit,
    crd::SecurityContactPolicySpec,
    listings::{Listings, Want},
};

/// The outcome of one resolution.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Selection {
    /// The ids named in the spec as written, then those the selector added (lower-case,
    /// sorted), without duplicates.
    pub subscriptions: Vec<String>,
    /// Found by the selector (before the state filter); 0 without a selector.
    pub found: usize,
    /// Selected although not fully active (`Warned`, `PastDue`), by state.
    pub degraded: BTreeMap<String, usize>,
    /// Found but skipped (`Disabled`, `Deleted`), by state.
    pub skipped: BTreeMap<String, usize>,
}

/// Decides the selection from what ARM listed: `visible` (every subscription the identity
/// sees, with state and tags) and `groups` (each selector group's descendant subscription ids).
pub fn select(
    spec: &SecurityContactPolicySpec,
    visible: &[Subscription],
    groups: &BTreeMap<String, Vec<String>>,
) -> Selection {
    // Ids as the person wrote them, first; then what the selector adds, lower-case and sorted.
    let named: BTreeSet<String> = spec
        .subscriptions
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let mut added: BTreeSet<String> = BTreeSet::new();
    let mut selection = Selection::default();
    if let Some(selector) = &spec.subscription_selector {
        let known: BTreeMap<String, &Subscription> = visible
            .iter()
            .map(|s| (s.subscription_id.to_ascii_lowercase(), s))
            .collect();
        let base: BTreeSet<String> = if selector.management_groups.is_empty() {
            known.keys().cloned().collect()
        } else {
            selector
                .management_groups
                .iter()
                .filter_map(|g| groups.get(g))
                .flatten()
                .map(|s| s.to_ascii_lowercase())
                .collect()
        };
        for id in base {
            let sub = known.get(&id);
            let tagged = selector
                .match_tags
                .iter()
                .all(|(k, v)| sub.is_some_and(|s| s.tags.get(k).is_some_and(|t| t == v)));
            if !tagged {
                continue;
            }
            selection.found += 1;
            let state = sub.and_then(|s| s.state.as_deref());
            if !audit::graded(state) {
                *selection
                    .skipped
                    .entry(state.unwrap_or_default().to_owned())
                    .or_default() += 1;
                continue;
            }
            if let Some(s) = state.filter(|s| !s.eq_ignore_ascii_case("Enabled")) {
                *selection.degraded.entry(s.to_owned()).or_default() += 1;
            }
            if !named.contains(&id) {
                added.insert(id);
            }
        }
    }
    selection.subscriptions = spec.subscriptions.clone();
    selection.subscriptions.extend(added);
    selection
}

/// Lists what the selector needs and decides. Without a selector, no ARM call.
/// Listings are shared with the other policies of the same principal through `listings`
/// when they are news to this one (see [`crate::listings`]).
pub async fn resolve(
    arm: &ArmClient,
    spec: &SecurityContactPolicySpec,
    listings: &Listings,
    want: Want,
) -> Result<Selection, ArmError> {
    let Some(selector) = &spec.subscription_selector else {
        return Ok(select(spec, &[], &BTreeMap::new()));
    };
    let visible = listings.subscriptions(arm, want).await?;
    let mut groups = BTreeMap::new();
    for group in &selector.management_groups {
        let under = listings.group(arm, group, want).await?;
        groups.insert(group.clone(), under.as_ref().clone());
    }
    Ok(select(spec, visible.as_slice(), &groups))
}

/// The status of a selection, with what joined and left since `before` (the previous pass's
/// subscriptions, when known).
pub fn status(selection: &Selection, before: Option<&[String]>) -> crate::crd::SelectionStatus {
    let (joined, left) =
        before.map_or_else(Default::default, |b| changes(b, &selection.subscriptions));
    let count = |m: &BTreeMap<String, usize>| {
        m.iter()
            .map(|(k, v)| (k.clone(), i32::try_from(*v).unwrap_or(i32::MAX)))
            .collect()
    };
    crate::crd::SelectionStatus {
        resolved: i32::try_from(selection.subscriptions.len()).unwrap_or(i32::MAX),
        found: i32::try_from(selection.found).unwrap_or(i32::MAX),
        joined: joined.into_iter().take(20).collect(),
        left: left.into_iter().take(20).collect(),
        degraded: count(&selection.degraded),
        skipped: count(&selection.skipped),
    }
}

/// What changed between two selections: (joined, left).
pub fn changes(before: &[String], after: &[String]) -> (Vec<String>, Vec<String>) {
    let lower =
        |l: &[String]| -> BTreeSet<String> { l.iter().map(|s| s.to_ascii_lowercase()).collect() };
    let (before, after) = (lower(before), lower(after));
    (
        after.difference(&before).cloned().collect(),
        before.difference(&after).cloned().collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{crd::SubscriptionSelector, testing::spec};

    fn sub(id: &str, state: &str, tags: &[(&str, &str)]) -> Subscription {
        Subscription {
            subscription_id: id.into(),
            display_name: None,
            state: Some(state.into()),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn world() -> Vec<Subscription> {
        vec![
            sub("A", "Enabled", &[("env", "prod")]),
            sub("b", "Warned", &[("env", "prod")]),
            sub("c", "Disabled", &[("env", "prod")]),
            sub("d", "Enabled", &[("env", "dev")]),
            sub("e", "PastDue", &[]),
        ]
    }

    fn selecting(selector: SubscriptionSelector, ids: &[&str]) -> SecurityContactPolicySpec {
        let mut s = spec(ids, &["a@contoso.com"]);
        s.subscription_selector = Some(selector);
        s
    }

    #[test]
    fn tags_narrow_every_visible_subscription_and_states_are_counted() {
        let s = selecting(
            SubscriptionSelector {
                match_tags: BTreeMap::from([("env".into(), "prod".into())]),
                ..Default::default()
            },
            &[],
        );
        let got = select(&s, &world(), &BTreeMap::new());
        assert_eq!(got.subscriptions, ["a", "b"]);
        assert_eq!(got.found, 3);
        assert_eq!(got.skipped, BTreeMap::from([("Disabled".into(), 1)]));
        assert_eq!(got.degraded, BTreeMap::from([("Warned".into(), 1)]));
    }

    #[test]
    fn management_groups_and_ids_make_a_union_without_duplicates() {
        let s = selecting(
            SubscriptionSelector {
                management_groups: vec!["platform".into()],
                ..Default::default()
            },
            &["D", "a"],
        );
        let groups =
            BTreeMap::from([("platform".into(), vec!["a".into(), "e".into(), "c".into()])]);
        let got = select(&s, &world(), &groups);
        assert_eq!(got.subscriptions, ["D", "a", "e"]);
        assert_eq!(got.skipped.get("Disabled"), Some(&1));
    }

    #[test]
    fn all_visible_takes_every_subscription_that_can_alert() {
        let s = selecting(
            SubscriptionSelector {
                all_visible: true,
                ..Default::default()
            },
            &[],
        );
        assert_eq!(
            select(&s, &world(), &BTreeMap::new()).subscriptions,
            ["a", "b", "d", "e"]
        );
    }

    #[test]
    fn without_a_selector_only_the_ids_count() {
        let s = spec(&["X", "y"], &["a@contoso.com"]);
        let got = select(&s, &world(), &BTreeMap::new());
        assert_eq!(got.subscriptions, ["X", "y"]);
        assert_eq!(got.found, 0);
    }

    #[test]
    fn joins_and_leaves() {
        let (joined, left) = changes(&["a".into(), "b".into()], &["b".into(), "c".into()]);
        assert_eq!(joined, ["c"]);
        assert_eq!(left, ["a"]);
    }
}

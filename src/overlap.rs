//! Policies that govern the same subscription, pure. One rule, used by the CLI and the
//! operator alike.
//!
//! Two Additive policies coexist: each only adds its own addresses and accepts a more
//! inclusive level. An Exact policy cannot share a subscription (whichever wrote last would
//! undo the other), nor can two policies that both set a different phone. The *newer* policy
//! is the one held back, so the older keeps working and nothing flaps: in the cluster "newer"
//! is the later creation time (then namespace, then name); in the CLI it is the later position
//! in the manifests. Before age comes trust: in the cluster a policy of a namespace trusted
//! with the operator's identity (the platform or security team's) outranks any other, so no
//! other namespace can hold it back by having created a policy first.

use std::collections::{HashMap, HashSet};

use crate::crd::{ContactSpec, EmailMerge, Mode, SecurityContactPolicySpec};

/// Where a policy stands in the "older wins" order. Compared field by field.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rank {
    /// 0 for a namespace trusted with the operator's identity, 1 for any other (always 0 in
    /// the CLI).
    pub tier: u8,
    /// Creation time in seconds (cluster) or position in the manifests (CLI).
    pub age: i64,
    pub namespace: String,
    pub name: String,
}

/// One live policy as the overlap rule sees it.
#[derive(Clone, Debug)]
pub struct Contender<'a> {
    /// How messages name it: `namespace/name`, or the manifest id.
    pub id: String,
    pub rank: Rank,
    pub spec: &'a SecurityContactPolicySpec,
}

/// Why two policies cannot share a subscription, judged on their contacts alone; `None` when
/// they coexist. `mine` is the one asking.
pub fn incompatible(mine: &ContactSpec, theirs: &ContactSpec) -> Option<&'static str> {
    if mine.email_merge == EmailMerge::Exact {
        Some("this policy uses emailMerge Exact")
    } else if theirs.email_merge == EmailMerge::Exact {
        Some("it uses emailMerge Exact")
    } else if matches!((&mine.phone, &theirs.phone), (Some(a), Some(b)) if a.trim() != b.trim()) {
        Some("both set a different phone")
    } else {
        None
    }
}

/// Why `this` must not act, naming the older policy it conflicts with; `None` when it may.
/// `others` are the other live policies (not deleting); `this` itself may be among them.
///
/// Linear: only the others that outrank `this` and are incompatible with it are looked at
/// subscription by subscription, against an index of their subscriptions, so a pass costs
/// O(its subscriptions + theirs), never O(its subscriptions × every policy's).
pub fn conflict<'a>(
    this: &Contender<'_>,
    others: impl IntoIterator<Item = &'a Contender<'a>>,
) -> Option<String> {
    let mut candidates = others
        .into_iter()
        .filter(|other| other.rank < this.rank)
        .filter_map(|other| {
            incompatible(&this.spec.contact, &other.spec.contact).map(|why| (other, why))
        })
        .peekable();
    candidates.peek()?;
    let mut reasons = Vec::new();
    for (other, why) in candidates {
        let theirs: HashSet<String> = other
            .spec
            .subscriptions
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        let shared: Vec<&String> = this
            .spec
            .subscriptions
            .iter()
            .filter(|s| theirs.contains(&s.to_ascii_lowercase()))
            .collect();
        let Some(first) = shared.first() else {
            continue;
        };
        let more = if shared.len() > 1 {
            format!(" and {} more", shared.len() - 1)
        } else {
            String::new()
        };
        let wins = if other.rank.tier < this.rank.tier {
            "a policy of a namespace trusted with the operator's identity takes precedence"
        } else {
            "the older policy wins"
        };
        reasons.push(format!(
            "conflicts with {} on subscription {first}{more}: {why}; {wins} and this one writes nothing",
            other.id
        ));
    }
    reasons.sort();
    reasons.into_iter().next()
}

/// Addresses that other live Enforce policies require, by subscription: Revert must leave
/// them, even if this policy added them first. Built once per Revert, then one look-up per
/// subscription.
#[derive(Debug, Default)]
pub struct Required(HashMap<String, Vec<String>>);

impl Required {
    pub fn new<'a>(others: impl IntoIterator<Item = &'a Contender<'a>>) -> Required {
        let mut by_subscription: HashMap<String, Vec<String>> = HashMap::new();
        for p in others.into_iter().filter(|p| p.spec.mode == Mode::Enforce) {
            for s in &p.spec.subscriptions {
                by_subscription
                    .entry(s.to_ascii_lowercase())
                    .or_default()
                    .extend(p.spec.contact.emails.iter().cloned());
            }
        }
        Required(by_subscription)
    }

    pub fn on(&self, subscription: &str) -> &[String] {
        self.0
            .get(&subscription.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::SecurityContactPolicySpec;

    fn spec(subs: &[&str], merge: EmailMerge) -> SecurityContactPolicySpec {
        let mut spec = crate::testing::spec(subs, &["a@contoso.com"]);
        spec.contact.email_merge = merge;
        spec
    }

    fn contender<'a>(name: &str, age: i64, spec: &'a SecurityContactPolicySpec) -> Contender<'a> {
        Contender {
            id: format!("ns/{name}"),
            rank: Rank {
                tier: 0,
                age,
                namespace: "ns".into(),
                name: name.into(),
            },
            spec,
        }
    }

    #[test]
    fn two_additive_policies_coexist() {
        let (sa, sb) = (
            spec(&["s1"], EmailMerge::Additive),
            spec(&["S1"], EmailMerge::Additive),
        );
        let (a, b) = (contender("a", 0, &sa), contender("b", 1, &sb));
        assert_eq!(conflict(&b, [&a, &b]), None);
        assert_eq!(conflict(&a, [&a, &b]), None);
    }

    #[test]
    fn exact_holds_back_the_newer_policy_only() {
        let (so, sn) = (
            spec(&["s1", "s2"], EmailMerge::Additive),
            spec(&["s2", "s1"], EmailMerge::Exact),
        );
        let (old, new) = (contender("old", 0, &so), contender("new", 5, &sn));
        assert_eq!(conflict(&old, [&old, &new]), None);
        let why = conflict(&new, [&old, &new]).unwrap();
        assert_eq!(
            why,
            "conflicts with ns/old on subscription s2 and 1 more: this policy uses emailMerge Exact; \
             the older policy wins and this one writes nothing"
        );
    }

    #[test]
    fn different_phones_conflict() {
        let (mut so, mut sn) = (
            spec(&["s1"], EmailMerge::Additive),
            spec(&["s1"], EmailMerge::Additive),
        );
        so.contact.phone = Some("+1-555-0100".into());
        sn.contact.phone = Some("+1-555-0199".into());
        let (old, new) = (contender("old", 0, &so), contender("new", 1, &sn));
        assert!(
            conflict(&new, [&old, &new])
                .unwrap()
                .contains("both set a different phone")
        );
        assert_eq!(conflict(&old, [&old, &new]), None);
    }

    #[test]
    fn same_age_is_ordered_by_namespace_then_name() {
        let s = spec(&["s1"], EmailMerge::Exact);
        let a = Contender {
            rank: Rank {
                tier: 0,
                age: 7,
                namespace: "a".into(),
                name: "z".into(),
            },
            ..contender("x", 7, &s)
        };
        let b = Contender {
            rank: Rank {
                tier: 0,
                age: 7,
                namespace: "a-b".into(),
                name: "a".into(),
            },
            ..contender("y", 7, &s)
        };
        assert_eq!(conflict(&a, [&a, &b]), None);
        assert!(conflict(&b, [&a, &b]).is_some());
    }

    #[test]
    fn revert_keeps_what_live_enforce_policies_require() {
        let mut enforce = spec(&["S1"], EmailMerge::Additive);
        enforce.contact.emails = vec!["keep@contoso.com".into()];
        let mut audit = spec(&["s1"], EmailMerge::Additive);
        audit.mode = Mode::Audit;
        audit.contact.emails = vec!["audit-only@contoso.com".into()];
        let elsewhere = spec(&["s2"], EmailMerge::Additive);
        let all = [
            contender("e", 0, &enforce),
            contender("a", 1, &audit),
            contender("o", 2, &elsewhere),
        ];
        let required = Required::new(&all);
        assert_eq!(required.on("s1"), ["keep@contoso.com"]);
        // Looked up whatever the case; nothing is required where no Enforce policy governs.
        assert_eq!(required.on("S2"), ["a@contoso.com"]);
        assert_eq!(required.on("s3"), [] as [String; 0]);
    }

    /// The rule as it was written first (every subscription of one against every one of the
    /// other): the linear version must say exactly what it said.
    fn naive(this: &Contender<'_>, others: &[Contender<'_>]) -> Option<String> {
        let mut reasons = Vec::new();
        for other in others {
            if other.rank >= this.rank {
                continue;
            }
            let shared: Vec<&String> = this
                .spec
                .subscriptions
                .iter()
                .filter(|s| {
                    other
                        .spec
                        .subscriptions
                        .iter()
                        .any(|o| o.eq_ignore_ascii_case(s))
                })
                .collect();
            let Some(first) = shared.first() else {
                continue;
            };
            let Some(why) = incompatible(&this.spec.contact, &other.spec.contact) else {
                continue;
            };
            let more = if shared.len() > 1 {
                format!(" and {} more", shared.len() - 1)
            } else {
                String::new()
            };
            let wins = if other.rank.tier < this.rank.tier {
                "a policy of a namespace trusted with the operator's identity takes precedence"
            } else {
                "the older policy wins"
            };
            reasons.push(format!(
                "conflicts with {} on subscription {first}{more}: {why}; {wins} and this one writes nothing",
                other.id
            ));
        }
        reasons.sort();
        reasons.into_iter().next()
    }

    proptest::proptest! {
        #[test]
        fn the_linear_rule_says_what_the_quadratic_one_said(
            policies in proptest::collection::vec(
                (
                    proptest::collection::vec(0u8..12, 0..8),
                    proptest::bool::ANY,
                    proptest::option::of(0u8..2),
                    0u8..2,
                ),
                1..7,
            )
        ) {
            let specs: Vec<SecurityContactPolicySpec> = policies
                .iter()
                .map(|(subs, exact, phone, _)| {
                    // Mixed case: subscription ids compare case-insensitively.
                    let ids: Vec<String> = subs
                        .iter()
                        .map(|i| if i % 2 == 0 { format!("S{i}") } else { format!("s{i}") })
                        .collect();
                    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                    let mut spec = spec(&refs, if *exact { EmailMerge::Exact } else { EmailMerge::Additive });
                    spec.contact.phone = phone.map(|p| format!("+1 555 000{p}"));
                    spec
                })
                .collect();
            let all: Vec<Contender<'_>> = specs
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let mut c = contender(&format!("p{i}"), i as i64, s);
                    c.rank.tier = policies[i].3;
                    c
                })
                .collect();
            for this in &all {
                proptest::prop_assert_eq!(conflict(this, &all), naive(this, &all));
            }
        }
    }

    #[test]
    fn a_thousand_additive_policies_over_ten_thousand_subscriptions_compare_no_subscription() {
        // Compatible policies are never compared subscription by subscription: this finishes
        // at once, where the quadratic rule did 10^11 comparisons.
        let ids: Vec<String> = (0..10_000).map(|i| format!("sub-{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let shared = spec(&refs, EmailMerge::Additive);
        let all: Vec<Contender<'_>> = (0..1_000)
            .map(|i| contender(&format!("p{i}"), i, &shared))
            .collect();
        assert_eq!(conflict(&all[999], &all), None);
    }
}

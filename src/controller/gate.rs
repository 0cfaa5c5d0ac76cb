//! Whether a pass may run at all, pure: decided from the policy, the other policies the
//! operator sees and who may use the operator's identity, before any Azure call.
//!
//! Order matters and is part of the contract: a suspended policy makes no call; a policy its
//! namespace may not run ([`crate::access`]) reads nothing, not even in Audit; a policy held
//! back by an older one (see [`crate::overlap`]) reads nothing. Suspended and not-allowed
//! policies are invisible to the others: they hold no one back.

use std::borrow::Cow;

use kube::ResourceExt;

use crate::{
    crd::{SecurityContactPolicy, SecurityContactPolicySpec},
    outcome::Failure,
    outcome::reason,
    overlap::{self, Contender, Rank},
};

#[derive(Clone, Debug, PartialEq)]
pub enum Gate {
    /// Go ahead: read, plan, write.
    Run,
    /// `spec.suspend`: no Azure call.
    Suspended,
    /// Nothing may be read or written; the failure says why and what to do.
    Blocked(Failure),
}

/// What the access rule says of a policy: `Err` why it may not act at all, or `Ok(tier)` its
/// precedence in overlaps ([`crate::overlap::Rank::tier`]).
pub type Standing = Result<u8, String>;

/// What a policy governs now: its subscriptions as last resolved, without active exclusions.
pub trait Governed<'a>:
    Fn(&'a SecurityContactPolicy) -> Cow<'a, SecurityContactPolicySpec>
{
}
impl<'a, F: Fn(&'a SecurityContactPolicy) -> Cow<'a, SecurityContactPolicySpec>> Governed<'a>
    for F
{
}

pub fn gate<'a>(
    policy: &'a SecurityContactPolicy,
    all: impl IntoIterator<Item = &'a SecurityContactPolicy>,
    standing: impl Fn(&SecurityContactPolicy) -> Standing,
    governed: impl Governed<'a>,
) -> Gate {
    if policy.spec.suspend {
        return Gate::Suspended;
    }
    let tier = match standing(policy) {
        Ok(tier) => tier,
        Err(why) => return Gate::Blocked(Failure::terminal(reason::NOT_ALLOWED, why)),
    };
    // Overlaps are judged on what each policy governs now: excluded subscriptions share
    // nothing. Only the others that outrank this one and could not share a subscription with
    // it are resolved to what they govern: with a thousand compatible policies that is none.
    let mine = governed(policy);
    let me = contender(policy, &mine, tier);
    let governed_others: Vec<(
        &SecurityContactPolicy,
        u8,
        Cow<'_, SecurityContactPolicySpec>,
    )> = live_others(policy, all)
        .filter(|p| !p.spec.suspend)
        .filter_map(|p| standing(p).ok().map(|tier| (p, tier)))
        .filter(|(p, tier)| {
            contender(p, &p.spec, *tier).rank < me.rank
                && overlap::incompatible(&policy.spec.contact, &p.spec.contact).is_some()
        })
        .map(|(p, tier)| (p, tier, governed(p)))
        .collect();
    let others: Vec<Contender<'_>> = governed_others
        .iter()
        .map(|(p, tier, spec)| contender(p, spec, *tier))
        .collect();
    match overlap::conflict(&me, &others) {
        Some(why) => Gate::Blocked(Failure::terminal(reason::CONFLICT, why)),
        None => Gate::Run,
    }
}

/// The other policies whose wishes count: not `policy` itself, not being deleted.
pub fn live_others<'a>(
    policy: &SecurityContactPolicy,
    all: impl IntoIterator<Item = &'a SecurityContactPolicy>,
) -> impl Iterator<Item = &'a SecurityContactPolicy> {
    let me = (policy.namespace(), policy.name_any());
    all.into_iter().filter(move |p| {
        p.metadata.deletion_timestamp.is_none() && (p.namespace(), p.name_any()) != me
    })
}

/// A policy as the overlap rule sees it: trusted namespace first, then older by creation
/// time, then namespace, then name.
pub fn contender<'a>(
    p: &SecurityContactPolicy,
    spec: &'a SecurityContactPolicySpec,
    tier: u8,
) -> Contender<'a> {
    let namespace = p.namespace().unwrap_or_default();
    let name = p.name_any();
    Contender {
        id: format!("{namespace}/{name}"),
        rank: Rank {
            tier,
            age: p
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(i64::MAX, |t| t.0.as_second()),
            namespace,
            name,
        },
        spec,
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::jiff::Timestamp;

    use super::*;
    use crate::{controller::fixtures::PolicyBuilder, crd::EmailMerge};

    /// `governed` for policies whose spec alone says what they govern at `now`.
    fn as_written(
        now: Timestamp,
    ) -> impl for<'a> Fn(&'a SecurityContactPolicy) -> Cow<'a, SecurityContactPolicySpec> {
        move |p| crate::exclusions::governed(&p.spec, now)
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_100).unwrap()
    }

    fn anyone(_: &SecurityContactPolicy) -> Standing {
        Ok(0)
    }

    #[test]
    fn suspended_runs_nothing_even_when_it_would_conflict() {
        let old = PolicyBuilder::new("old").created(0).exact().build();
        let new = PolicyBuilder::new("new")
            .created(5)
            .exact()
            .suspended()
            .build();
        assert_eq!(
            gate(&new, [&old, &new], anyone, as_written(now())),
            Gate::Suspended
        );
    }

    #[test]
    fn the_newer_exact_policy_is_blocked_and_the_older_runs() {
        let old = PolicyBuilder::new("old").created(0).build();
        let new = PolicyBuilder::new("new").created(5).exact().build();
        assert_eq!(
            gate(&old, [&old, &new], anyone, as_written(now())),
            Gate::Run
        );
        match gate(&new, [&old, &new], anyone, as_written(now())) {
            Gate::Blocked(f) => {
                assert_eq!(f.reason, reason::CONFLICT);
                assert!(f.message.contains("conflicts with ns/old"), "{}", f.message);
                assert!(!f.transient);
            }
            other => panic!("expected Blocked, got {other:?}"),
        }
    }

    #[test]
    fn a_policy_being_deleted_blocks_no_one() {
        let old = PolicyBuilder::new("old")
            .created(0)
            .exact()
            .deleting()
            .build();
        let new = PolicyBuilder::new("new")
            .created(5)
            .merge(EmailMerge::Exact)
            .build();
        assert_eq!(
            gate(&new, [&old, &new], anyone, as_written(now())),
            Gate::Run
        );
    }

    #[test]
    fn a_suspended_or_not_allowed_exact_policy_blocks_no_one() {
        let suspended = PolicyBuilder::new("suspended")
            .created(0)
            .exact()
            .suspended()
            .build();
        let intruder = PolicyBuilder::new("intruder")
            .namespace("team-b")
            .created(1)
            .exact()
            .build();
        let new = PolicyBuilder::new("new").created(5).build();
        let only_ns = |p: &SecurityContactPolicy| {
            if p.namespace().as_deref() == Some("ns") {
                Ok(0)
            } else {
                Err("no SecurityContactAccess lets namespace team-b use it".to_owned())
            }
        };
        assert_eq!(
            gate(
                &new,
                [&suspended, &intruder, &new],
                only_ns,
                as_written(now())
            ),
            Gate::Run
        );
        // Without the access rule, the intruder's older Exact policy would have held it back.
        assert!(matches!(
            gate(
                &new,
                [&suspended, &intruder, &new],
                anyone,
                as_written(now())
            ),
            Gate::Blocked(_)
        ));
    }

    #[test]
    fn not_allowed_is_stalled_before_anything_else_and_says_why() {
        let p = PolicyBuilder::new("p").namespace("team-b").build();
        match gate(
            &p,
            [&p],
            |_| Err("no SecurityContactAccess".to_owned()),
            as_written(now()),
        ) {
            Gate::Blocked(f) => {
                assert_eq!(f.reason, reason::NOT_ALLOWED);
                assert!(!f.transient);
                assert!(f.message.contains("no SecurityContactAccess"));
            }
            other => panic!("expected Blocked, got {other:?}"),
        }
    }

    #[test]
    fn a_trusted_namespace_outranks_an_older_policy_of_any_other() {
        let team = PolicyBuilder::new("team")
            .namespace("team-b")
            .created(0)
            .exact()
            .build();
        let security = PolicyBuilder::new("security").created(5).build();
        let tiers = |p: &SecurityContactPolicy| {
            Ok(if p.namespace().as_deref() == Some("ns") {
                0
            } else {
                1
            })
        };
        assert_eq!(
            gate(&security, [&team, &security], tiers, as_written(now())),
            Gate::Run
        );
        match gate(&team, [&team, &security], tiers, as_written(now())) {
            Gate::Blocked(f) => assert!(
                f.message
                    .contains("namespace trusted with the operator's identity takes precedence"),
                "{}",
                f.message
            ),
            other => panic!("expected Blocked, got {other:?}"),
        }
    }
}

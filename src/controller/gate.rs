//! Whether a pass may run at all, pure: decided from the policy and the other policies the
//! operator sees, before any Azure call.
//!
//! Order matters and is part of the contract: a suspended policy makes no call and blocks no
//! one's view of it; a policy held back by an older one (see [`crate::overlap`]) reads nothing.

use kube::ResourceExt;

use crate::{
    crd::SecurityContactPolicy,
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

pub fn gate<'a>(
    policy: &SecurityContactPolicy,
    all: impl IntoIterator<Item = &'a SecurityContactPolicy>,
) -> Gate {
    if policy.spec.suspend {
        return Gate::Suspended;
    }
    let others: Vec<Contender<'_>> = live_others(policy, all).map(contender).collect();
    match overlap::conflict(&contender(policy), &others) {
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

/// A policy as the overlap rule sees it: older by creation time, then namespace, then name.
pub fn contender(p: &SecurityContactPolicy) -> Contender<'_> {
    let namespace = p.namespace().unwrap_or_default();
    let name = p.name_any();
    Contender {
        id: format!("{namespace}/{name}"),
        rank: Rank {
            age: p
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(i64::MAX, |t| t.0.as_second()),
            namespace,
            name,
        },
        spec: &p.spec,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{controller::fixtures::PolicyBuilder, crd::EmailMerge};

    #[test]
    fn suspended_runs_nothing_even_when_it_would_conflict() {
        let old = PolicyBuilder::new("old").created(0).exact().build();
        let new = PolicyBuilder::new("new")
            .created(5)
            .exact()
            .suspended()
            .build();
        assert_eq!(gate(&new, [&old, &new]), Gate::Suspended);
    }

    #[test]
    fn the_newer_exact_policy_is_blocked_and_the_older_runs() {
        let old = PolicyBuilder::new("old").created(0).build();
        let new = PolicyBuilder::new("new").created(5).exact().build();
        assert_eq!(gate(&old, [&old, &new]), Gate::Run);
        match gate(&new, [&old, &new]) {
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
        assert_eq!(gate(&new, [&old, &new]), Gate::Run);
    }
}

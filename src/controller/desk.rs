//! Shared observation and merged writes: one desk per process, in front of every policy's
//! reads and writes of a subscription's contact.
//!
//! k policies over the same subscriptions used to cost k GETs per subscription per interval
//! and, to converge, k PUTs. Here a policy's visit to a subscription is answered from the last
//! read when that read is news to it (made after its own previous pass ended, and no older than
//! its interval), so whichever policy passes first after the contact was last read pays for the
//! GET and the others read along. Otherwise the visit joins a *round*: the round takes the
//! subscription's write lock, reads once, and when any Enforce member needs a change it writes
//! once, planned from that read (taken under the lock, so nothing of ours came between) by
//! folding every member's plan: Additive members each add their own addresses to the union.
//! Conflicts are not decided here: the gate keeps incompatible policies apart before any visit.
//! Each member gets back its own part: what it needed, what was written, what ARM holds after.
//!
//! Passes rarely coincide (a few workers, intervals with jitter), so a round's write also
//! carries the *standing wishes* of every other Enforce policy of the same principal that
//! covers the subscription and has passed its gate ([`Desk::stand`]): k policies over a
//! subscription converge with one read, one write and one read-back, whoever passes first. A
//! wish is carried only if every member stays satisfied with it (a member's requirement is
//! never bent for a policy that is not there to be judged). What was written for a policy that
//! was not in the round waits in the slot as its *delivery*: its next visit hears it as its
//! own write (its verdict, its Revert ledger), without a request when nothing changed since.
//!
//! Rounds are spawned tasks, so a pass that is cancelled mid-visit never strands the members
//! who joined its round. Reads are shared only between clients of one principal
//! ([`ArmClient::principal`]): a namespace never sees a contact through an identity whose
//! rights it does not have.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::sweep::WriteLocks;
use crate::{
    arm::{ArmClient, ContactWrite, fresh::Write, wire::ContactProperties},
    crd::{ContactSpec, Mode},
    outcome::Failure,
    overlap,
    plan::{self, Plan},
};

/// One policy's business with one subscription.
#[derive(Clone, Debug)]
pub struct Visit {
    /// `namespace/name`, for logs.
    pub policy: String,
    pub contact: ContactSpec,
    pub mode: Mode,
    /// The policy's spec changed since its last pass (`newer_than` is then when a pass first
    /// saw the change): it never joins a round whose read is already on its way.
    pub fresh: bool,
    /// Only reads made after this instant are news to the policy: the end of its previous
    /// pass (its own reads from that pass tell it nothing new).
    pub newer_than: Option<Instant>,
    /// The oldest read the policy accepts: its interval.
    pub max_age: Duration,
    /// A first pass while the start-up budget holds: a round it opens waits for the start-up
    /// rate before its read.
    pub budgeted: bool,
}

/// What a visit learned: the contact it was judged on and, when a write carried this
/// policy's changes, its own plan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Share {
    /// The contact the write (if any) was planned from.
    pub before: Option<ContactProperties>,
    /// What ARM holds now: read back after a write, else `before`.
    pub after: Option<ContactProperties>,
    /// This policy's plan, when the round's write carried it.
    pub written: Option<Plan>,
    /// The write created the contact.
    pub created: bool,
    /// Who changed the contact since we last saw it right (Activity Log), when asked.
    pub changed_by: Option<ContactWrite>,
}

impl Share {
    fn observed(contact: Option<ContactProperties>) -> Share {
        Share {
            before: contact.clone(),
            after: contact,
            ..Share::default()
        }
    }
}

pub type Reply = Result<Share, Failure>;

/// Counts that tests and metrics read: how many visits were answered without a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeskCounts {
    pub visits: u64,
    pub shared: u64,
    pub rounds: u64,
    pub writes: u64,
    /// Standing wishes carried by a write made for other policies.
    pub carried: u64,
}

/// Lower-case subscription id → principal → slot: reads are shared only within a principal.
type Slots = HashMap<String, HashMap<Arc<str>, Arc<Mutex<Slot>>>>;

#[derive(Default)]
pub struct Desk {
    slots: Mutex<Slots>,
    /// What every gated Enforce policy wants, for rounds that other policies open.
    wishes: Mutex<Wishes>,
    /// One async lock per subscription: rounds and Revert's cleanup take it before reading
    /// for a write.
    pub locks: WriteLocks,
    counts: Mutex<DeskCounts>,
}

#[derive(Default)]
struct Slot {
    seen: Option<Seen>,
    /// The round new visitors join, until its read has answered.
    open: Option<Arc<Mutex<Round>>>,
    /// Writes made for policies that were not in the round, by policy: heard at their next
    /// visit.
    delivered: HashMap<String, Delivery>,
}

#[derive(Clone)]
struct Seen {
    contact: Option<ContactProperties>,
    /// When the request was sent: a read is news to a policy only if sent after its last pass.
    at: Instant,
}

/// A write one policy's round made for another policy's standing wish. Kept small (a
/// thousand policies over ten thousand subscriptions can leave a hundred thousand waiting):
/// the contacts are shared by every delivery of the round, and the plan is computed again
/// when heard (it is a pure function of the spec and the contact it was planned from).
struct Delivery {
    /// The spec the write was planned for.
    contact: Arc<ContactSpec>,
    written: Arc<Written>,
    /// When it was read back.
    at: Instant,
}

/// One write, as every policy it carried sees it.
struct Written {
    /// The contact it was planned from.
    before: Option<ContactProperties>,
    /// Read back after it.
    after: Option<ContactProperties>,
    created: bool,
}

impl Delivery {
    fn share(&self) -> Share {
        Share {
            before: self.written.before.clone(),
            after: self.written.after.clone(),
            written: Some(plan::plan(&self.contact, self.written.before.as_ref())),
            created: self.written.created,
            changed_by: None,
        }
    }
}

#[derive(Default)]
struct Wishes {
    by_policy: HashMap<String, Wish>,
    /// (principal, lower-case subscription) → policies, in a stable order.
    by_slot: HashMap<(Arc<str>, String), BTreeSet<String>>,
}

struct Wish {
    principal: Arc<str>,
    contact: Arc<ContactSpec>,
    /// Lower-case, sorted, without duplicates.
    subscriptions: Vec<String>,
}

#[derive(Default)]
struct Round {
    /// The GET is on its way: a visit that needs a read made for it opens the next round.
    reading: bool,
    closed: bool,
    members: Vec<Member>,
}

struct Member {
    visit: Visit,
    reply: oneshot::Sender<Reply>,
}

impl Desk {
    pub fn counts(&self) -> DeskCounts {
        *self.counts.lock().expect("desk counts")
    }

    fn slot(&self, principal: &Arc<str>, subscription: &str) -> Arc<Mutex<Slot>> {
        self.slots
            .lock()
            .expect("desk slots")
            .entry(subscription.to_ascii_lowercase())
            .or_default()
            .entry(principal.clone())
            .or_default()
            .clone()
    }

    /// Forgets what was read of `subscription` (every principal): after a write that did not
    /// go through the desk (Revert's cleanup).
    pub fn forget(&self, subscription: &str) {
        let slots = self.slots.lock().expect("desk slots");
        for slot in slots
            .get(&subscription.to_ascii_lowercase())
            .into_iter()
            .flat_map(HashMap::values)
        {
            slot.lock().expect("desk slot").seen = None;
        }
    }

    /// `policy` (Enforce, through its gate this pass) wants `contact` on `subscriptions`,
    /// acting as `principal`: rounds that other policies of the same principal open on those
    /// subscriptions carry it. Replaces what it wanted before.
    pub fn stand(
        &self,
        principal: &Arc<str>,
        policy: &str,
        contact: &ContactSpec,
        subscriptions: &[String],
    ) {
        let mut subscriptions: Vec<String> = subscriptions
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        subscriptions.sort_unstable();
        subscriptions.dedup();
        let mut wishes = self.wishes.lock().expect("wishes");
        if wishes.by_policy.get(policy).is_some_and(|w| {
            w.principal == *principal && *w.contact == *contact && w.subscriptions == subscriptions
        }) {
            return;
        }
        unindex(&mut wishes, policy);
        for sub in &subscriptions {
            wishes
                .by_slot
                .entry((principal.clone(), sub.clone()))
                .or_default()
                .insert(policy.to_owned());
        }
        wishes.by_policy.insert(
            policy.to_owned(),
            Wish {
                principal: principal.clone(),
                contact: Arc::new(contact.clone()),
                subscriptions,
            },
        );
    }

    /// `policy` wants nothing any more (Audit, suspended, refused by its gate, deleted).
    /// Returns what was written for it and not yet heard, by subscription: a deleted policy's
    /// Revert counts those addresses as its own.
    pub fn withdraw(&self, policy: &str) -> Vec<(String, Share)> {
        let Some(wish) = unindex(&mut self.wishes.lock().expect("wishes"), policy) else {
            return Vec::new();
        };
        let slots = self.slots.lock().expect("desk slots");
        wish.subscriptions
            .iter()
            .filter_map(|sub| {
                let slot = slots.get(sub)?.get(&wish.principal)?;
                let delivery = slot.lock().expect("desk slot").delivered.remove(policy)?;
                Some((sub.clone(), delivery.share()))
            })
            .collect()
    }

    /// Forgets every standing wish (what was already written for them is still delivered).
    /// Who may use an identity on which subscriptions just changed: until each policy's next
    /// pass has been through its gate again, no write carries a policy that is not there.
    pub fn clear_wishes(&self) {
        let mut wishes = self.wishes.lock().expect("wishes");
        if !wishes.by_policy.is_empty() {
            tracing::debug!(
                wishes = wishes.by_policy.len(),
                "access changed: standing wishes forgotten until each policy passes again"
            );
        }
        *wishes = Wishes::default();
    }

    /// The wishes standing on `subscription` for `principal`, but those of `except`.
    fn wishes_for(
        &self,
        principal: &Arc<str>,
        subscription: &str,
        except: &[&str],
    ) -> Vec<(String, Arc<ContactSpec>)> {
        let wishes = self.wishes.lock().expect("wishes");
        let Some(policies) = wishes
            .by_slot
            .get(&(principal.clone(), subscription.to_ascii_lowercase()))
        else {
            return Vec::new();
        };
        policies
            .iter()
            .filter(|p| !except.contains(&p.as_str()))
            .filter_map(|p| Some((p.clone(), wishes.by_policy.get(p)?.contact.clone())))
            .collect()
    }

    /// Still wanted as it was when a round carried it.
    fn stands(&self, policy: &str, contact: &ContactSpec) -> bool {
        self.wishes
            .lock()
            .expect("wishes")
            .by_policy
            .get(policy)
            .is_some_and(|w| *w.contact == *contact)
    }

    /// Answers one policy's visit to one subscription: from the last read (or from a write
    /// made for it) when that is news to the policy and the policy needs no write, otherwise
    /// through a round.
    pub async fn visit(
        self: &Arc<Self>,
        arm: &ArmClient,
        subscription: &str,
        visit: Visit,
        stop_writing: &CancellationToken,
    ) -> Reply {
        let slot = self.slot(arm.principal(), subscription);
        let (answer, lead, delivered) = {
            let mut s = slot.lock().expect("desk slot");
            self.count(|c| c.visits += 1);
            let delivered = s.delivered.remove(&visit.policy);
            // A write planned for this very spec since the policy's last pass answers for it
            // as a read made for it would.
            let heard = delivered
                .as_ref()
                .is_some_and(|d| *d.contact == visit.contact && young(d.at, &visit));
            let view = match (&s.seen, &delivered) {
                (Some(seen), Some(d)) if heard && seen.at >= d.at => Some(seen.contact.clone()),
                (_, Some(d)) if heard => Some(d.written.after.clone()),
                (Some(seen), _) if news(seen, &visit) => Some(seen.contact.clone()),
                _ => None,
            };
            if let Some(view) = view {
                let plan = plan::plan(&visit.contact, view.as_ref());
                if plan.desired.is_none() || visit.mode == Mode::Audit {
                    self.count(|c| c.shared += 1);
                    arm.metrics().shared_reads.inc();
                    return Ok(hear(Share::observed(view), delivered));
                }
            }
            let (reply, answer) = oneshot::channel();
            let member = Member { visit, reply };
            let member = match s.open.as_ref() {
                Some(round) => join(round, member),
                None => Some(member),
            };
            let lead = member.map(|member| {
                let round = Arc::new(Mutex::new(Round {
                    members: vec![member],
                    ..Round::default()
                }));
                s.open = Some(round.clone());
                round
            });
            (answer, lead, delivered)
        };
        if let Some(round) = lead {
            self.count(|c| c.rounds += 1);
            let desk = self.clone();
            let (arm, subscription, stop) =
                (arm.clone(), subscription.to_owned(), stop_writing.clone());
            tokio::spawn(async move { desk.run(arm, subscription, slot, round, stop).await });
        }
        let reply = answer.await.unwrap_or_else(|_| {
            Err(Failure::terminal(
                "Internal",
                "the shared read of this subscription ended without an answer",
            ))
        });
        reply.map(|share| hear(share, delivered))
    }

    fn count(&self, f: impl FnOnce(&mut DeskCounts)) {
        f(&mut self.counts.lock().expect("desk counts"));
    }

    /// One round: lock, read, maybe one merged write, answer every member.
    async fn run(
        self: Arc<Self>,
        arm: ArmClient,
        subscription: String,
        slot: Arc<Mutex<Slot>>,
        round: Arc<Mutex<Round>>,
        stop: CancellationToken,
    ) {
        // The start-up rate is taken before the lock, the round still open: visits keep
        // joining while it waits.
        let budgeted = round
            .lock()
            .expect("round")
            .members
            .first()
            .is_some_and(|m| m.visit.budgeted);
        if budgeted {
            arm.budget().first_pass(1).await;
        }
        let lock = self.locks.lock_for(&subscription);
        let guard = lock.lock().await;
        round.lock().expect("round").reading = true;
        let sent = Instant::now();
        // Writes before this instant are someone else's (ours come after).
        let before_ours = Timestamp::now();
        let read = arm.get_contact(&subscription).await;
        // Close the round: whoever comes now waits for the next one.
        let (members, previous) = {
            let mut s = slot.lock().expect("desk slot");
            let mut r = round.lock().expect("round");
            r.closed = true;
            if s.open
                .as_ref()
                .is_some_and(|open| Arc::ptr_eq(open, &round))
            {
                s.open = None;
            }
            let previous = s.seen.clone();
            if let Ok(contact) = &read {
                s.seen = Some(Seen {
                    contact: contact.as_ref().map(|c| c.properties.clone()),
                    at: sent,
                });
            }
            (std::mem::take(&mut r.members), previous)
        };
        let read = match read {
            Ok(read) => read,
            Err(e) => {
                let failure = Failure::from(&e);
                for m in members {
                    let _ = m.reply.send(Err(failure.clone()));
                }
                return;
            }
        };
        let current = read.as_ref().map(|c| c.properties.clone());
        let writers: Vec<usize> = (0..members.len())
            .filter(|&i| {
                let v = &members[i].visit;
                v.mode == Mode::Enforce
                    && plan::plan(&v.contact, current.as_ref()).desired.is_some()
            })
            .collect();
        if writers.is_empty() {
            for m in members {
                let _ = m.reply.send(Ok(Share::observed(current.clone())));
            }
            return;
        }

        let in_round: Vec<&str> = members.iter().map(|m| m.visit.policy.as_str()).collect();
        let wishes = self.wishes_for(arm.principal(), &subscription, &in_round);
        let mut stopped = false;
        let outcome = arm
            .write_fresh_from(&subscription, Some(read), |now| {
                // Checked right before each write: a replica that lost its lease or is
                // shutting down writes nothing more.
                if stop.is_cancelled() {
                    stopped = true;
                    return None;
                }
                let plans: Vec<Plan> = writers
                    .iter()
                    .map(|&i| plan::plan(&members[i].visit.contact, now))
                    .collect();
                let writing: Vec<&ContactSpec> =
                    writers.iter().map(|&i| &members[i].visit.contact).collect();
                let enforced: Vec<&ContactSpec> = members
                    .iter()
                    .filter(|m| m.visit.mode == Mode::Enforce)
                    .map(|m| &m.visit.contact)
                    .collect();
                let (desired, carried) = fold(now, &writing, &enforced, &wishes);
                Some((Write::Put(desired?), (plans, carried)))
            })
            .await;
        let fresh = match outcome {
            Ok(fresh) => fresh,
            Err(e) => {
                // The read stands; the write failed. Only the writers hear of it.
                self.forget_slot(&slot);
                let failure = Failure::from(&e);
                for (i, m) in members.into_iter().enumerate() {
                    let reply = if writers.contains(&i) {
                        Err(failure.clone())
                    } else {
                        Ok(Share::observed(current.clone()))
                    };
                    let _ = m.reply.send(reply);
                }
                return;
            }
        };
        let (plans, carried) = fresh.written.clone().unzip();
        let carried = carried.unwrap_or_default();
        if fresh.written.is_some() {
            self.count(|c| {
                c.writes += 1;
                c.carried += carried.len() as u64;
            });
            if writers.len() + carried.len() > 1 {
                arm.metrics().merged_writes.inc();
            }
        }
        {
            let mut s = slot.lock().expect("desk slot");
            let now = Instant::now();
            s.seen = Some(Seen {
                contact: fresh.after.clone(),
                at: now,
            });
            // Left for the policies whose wishes the write carried; a wish withdrawn meanwhile
            // (its policy deleted) is not kept for a visit that will never come.
            let written = Arc::new(Written {
                before: fresh.before.clone(),
                after: fresh.after.clone(),
                created: fresh.created,
            });
            for j in carried {
                let (policy, contact) = &wishes[j];
                if !self.stands(policy, contact) {
                    continue;
                }
                s.delivered.insert(
                    policy.clone(),
                    Delivery {
                        contact: contact.clone(),
                        written: written.clone(),
                        at: now,
                    },
                );
            }
        }
        drop(guard);
        // Drift on a contact we saw right before: ask the Activity Log who changed it, once for
        // every member (not on a first write, nor after a restart: nothing was ours to lose).
        let restored = fresh.written.is_some()
            && previous.as_ref().is_some_and(|seen| {
                writers.iter().any(|&i| {
                    plan::plan(&members[i].visit.contact, seen.contact.as_ref())
                        .desired
                        .is_none()
                })
            });
        let changed_by = if restored {
            let widest = writers
                .iter()
                .map(|&i| members[i].visit.max_age)
                .max()
                .unwrap_or(Duration::from_secs(900));
            who_changed(&arm, &subscription, widest, before_ours).await
        } else {
            None
        };
        let mut plans = plans.map(|plans| plans.into_iter());
        for (i, m) in members.into_iter().enumerate() {
            let writer = writers.contains(&i);
            let reply = if writer && stopped {
                Err(stopping())
            } else if let (true, Some(plans)) = (writer, plans.as_mut()) {
                Ok(Share {
                    before: fresh.before.clone(),
                    after: fresh.after.clone(),
                    written: plans.next(),
                    created: fresh.created,
                    changed_by: changed_by.clone(),
                })
            } else {
                // Someone else made it compliant between our reads, or this member needed no
                // write: judged on what ARM holds now.
                Ok(Share::observed(fresh.after.clone()))
            };
            let _ = m.reply.send(reply);
        }
    }

    fn forget_slot(&self, slot: &Mutex<Slot>) {
        slot.lock().expect("desk slot").seen = None;
    }
}

fn unindex(wishes: &mut Wishes, policy: &str) -> Option<Wish> {
    let old = wishes.by_policy.remove(policy)?;
    for sub in &old.subscriptions {
        let key = (old.principal.clone(), sub.clone());
        if let Some(set) = wishes.by_slot.get_mut(&key) {
            set.remove(policy);
            if set.is_empty() {
                wishes.by_slot.remove(&key);
            }
        }
    }
    Some(old)
}

/// The body one write carries, planned from `now`: every writing member's plan applied on top
/// of the previous ones (the union, for Additive), then each standing wish that can share the
/// subscription with every Enforce member and every other wish (no Exact merge on either side,
/// no two phones: [`overlap::incompatible`], the gate's own rule; carrying a policy the gate
/// has not yet held back would make the policies fight) and that leaves each of them as
/// satisfied as it found them. Returns the body (`None` when nothing changes) and the wishes
/// carried, by index.
fn fold(
    now: Option<&ContactProperties>,
    writing: &[&ContactSpec],
    enforced: &[&ContactSpec],
    wishes: &[(String, Arc<ContactSpec>)],
) -> (Option<ContactProperties>, Vec<usize>) {
    let mut desired = now.cloned();
    let mut changed = false;
    for spec in writing {
        if let Some(next) = plan::plan(spec, desired.as_ref()).desired {
            desired = Some(next);
            changed = true;
        }
    }
    let mut carried = Vec::new();
    for (j, (_, wish)) in wishes.iter().enumerate() {
        let apart = enforced
            .iter()
            .copied()
            .chain(wishes.iter().map(|(_, w)| w.as_ref()))
            .any(|other| overlap::incompatible(wish, other).is_some());
        if apart {
            continue;
        }
        let Some(next) = plan::plan(wish, desired.as_ref()).desired else {
            continue;
        };
        let keeps = |spec: &ContactSpec| {
            plan::plan(spec, Some(&next)).is_compliant()
                || !plan::plan(spec, desired.as_ref()).is_compliant()
        };
        if enforced.iter().all(|s| keeps(s)) && wishes.iter().all(|(_, w)| keeps(w)) {
            desired = Some(next);
            changed = true;
            carried.push(j);
        }
    }
    (desired.filter(|_| changed), carried)
}

/// `share` with what a delivery says was written for this policy, unless the visit wrote
/// for itself.
fn hear(mut share: Share, delivered: Option<Delivery>) -> Share {
    if let Some(d) = delivered.filter(|_| share.written.is_none()) {
        let heard = d.share();
        share.before = heard.before;
        share.written = heard.written;
        share.created = heard.created;
        share.changed_by = heard.changed_by;
    }
    share
}

/// Joins `member` to `round` when it still takes members; gives it back otherwise.
fn join(round: &Mutex<Round>, member: Member) -> Option<Member> {
    let mut r = round.lock().expect("round");
    if r.closed || (r.reading && member.visit.fresh) {
        return Some(member);
    }
    r.members.push(member);
    None
}

/// A read is news to a visit when made after the policy's previous pass (after its edit, for
/// a new generation) and young enough.
fn news(seen: &Seen, visit: &Visit) -> bool {
    young(seen.at, visit)
}

/// Made after the policy's previous pass and within its interval.
fn young(at: Instant, visit: &Visit) -> bool {
    at.elapsed() <= visit.max_age && visit.newer_than.is_none_or(|t| at > t)
}

fn stopping() -> Failure {
    Failure {
        transient: true,
        ..Failure::terminal(
            "Stopping",
            "not written: this replica is shutting down or no longer leads",
        )
    }
}

/// The Activity Log's last write to the contact within twice the interval (1 h to 90 days)
/// before `until` (our own write came after it). Not knowing is no failure: the write stands
/// either way.
async fn who_changed(
    arm: &ArmClient,
    subscription: &str,
    interval: Duration,
    until: Timestamp,
) -> Option<ContactWrite> {
    let window = interval.saturating_mul(2).clamp(
        Duration::from_secs(3600),
        Duration::from_secs(90 * 24 * 3600),
    );
    let from = until
        .checked_sub(SignedDuration::try_from(window).unwrap_or(SignedDuration::from_hours(1)))
        .unwrap_or(until);
    match arm.last_contact_write(subscription, from, until).await {
        Ok(writer) => {
            tracing::debug!(subscription, writer = ?writer, "Activity Log read on drift");
            writer
        }
        Err(e) => {
            tracing::debug!(subscription, "Activity Log not read: {}", e.summary());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    //! Request counts, asserted: what the desk promises is fewer requests for the same truth.

    use std::sync::Arc;

    use azure_sim::{
        Access, PrincipalSeed, RouteKind, SimConfig, SimHandle as Simulator, Simulator as Sim,
        SubscriptionSeed,
    };
    use serde_json::json;

    use super::*;
    use crate::{
        controller::sweep::{self, Freshness},
        crd::SecurityContactPolicySpec,
        outcome::Verdict,
    };

    const TENANT: &str = "de5cde5c-0000-0000-0000-0000000000aa";
    const CLIENT: &str = "desk-operator";
    const SECRET: &str = "desk-secret";
    const INTERVAL: Duration = Duration::from_secs(900);

    struct World {
        sim: Simulator,
        subs: Vec<String>,
    }

    async fn world(n: usize) -> World {
        let subs: Vec<String> = (0..n)
            .map(|i| format!("de5cde5c-0000-0000-0000-{i:012}"))
            .collect();
        let seeds = subs
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let mut seed = SubscriptionSeed::new(id.clone());
                // Half with a person's address on them, half without a contact.
                if i % 2 == 0 {
                    seed.contact =
                        Some(json!({"emails": "owner@fabrikam.example", "isEnabled": true}));
                }
                seed
            })
            .collect();
        let sim = Sim::start(SimConfig {
            etags: true,
            ..SimConfig::single_tenant(
                TENANT,
                PrincipalSeed::with_secret(CLIENT, SECRET, Access::ReadWrite),
                seeds,
            )
        })
        .await
        .unwrap();
        World { sim, subs }
    }

    fn client(sim: &Simulator, principal: &str) -> ArmClient {
        crate::testing::sim_client(sim, TENANT, CLIENT, SECRET).with_principal(principal)
    }

    fn policy(subs: &[String], address: &str, mode: Mode) -> SecurityContactPolicySpec {
        let mut spec = crate::testing::spec(&[], &[address]);
        spec.subscriptions = subs.to_vec();
        spec.mode = mode;
        spec
    }

    fn contact_requests(sim: &Simulator, method: &str) -> u64 {
        sim.state()
            .requests()
            .count(method, RouteKind::SecurityContact, None)
    }

    fn shared(newer_than: Option<Instant>) -> Freshness {
        Freshness {
            fresh: false,
            newer_than,
            max_age: INTERVAL,
            budgeted: false,
        }
    }

    /// Runs every policy's pass at once (policy *i* is `ns/p<i>`); returns each pass's
    /// results and when it ended.
    async fn passes(
        arm: &ArmClient,
        desk: &Arc<Desk>,
        specs: &[SecurityContactPolicySpec],
        freshness: &[Freshness],
    ) -> Vec<(sweep::Swept, Instant)> {
        passes_of(arm, desk, 0, specs, freshness).await
    }

    /// Policy `ns/p<index>` passes alone, first pass since start.
    async fn alone(
        arm: &ArmClient,
        desk: &Arc<Desk>,
        index: usize,
        spec: &SecurityContactPolicySpec,
    ) -> Vec<(sweep::Swept, Instant)> {
        passes_of(
            arm,
            desk,
            index,
            std::slice::from_ref(spec),
            &[shared(None)],
        )
        .await
    }

    /// [`passes`] for policies `first..`.
    async fn passes_of(
        arm: &ArmClient,
        desk: &Arc<Desk>,
        first: usize,
        specs: &[SecurityContactPolicySpec],
        freshness: &[Freshness],
    ) -> Vec<(sweep::Swept, Instant)> {
        let never = CancellationToken::new();
        let runs = specs
            .iter()
            .zip(freshness)
            .enumerate()
            .map(|(i, (spec, f))| {
                let never = never.clone();
                async move {
                    let id = format!("ns/p{}", first + i);
                    let swept =
                        sweep::sweep(arm, &id, spec, desk, *f, spec.subscriptions.len(), &never)
                            .await;
                    (swept, Instant::now())
                }
            });
        futures::future::join_all(runs).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn k_overlapping_policies_converge_with_one_read_one_merged_write_and_one_read_back() {
        const K: usize = 10;
        let World { sim, subs } = world(20).await;
        let arm = client(&sim, "operator");
        arm.check_credential().await.unwrap();
        let desk = Arc::new(Desk::default());
        let specs: Vec<_> = (0..K)
            .map(|i| policy(&subs, &format!("team{i}@contoso.com"), Mode::Enforce))
            .collect();
        // Hold every subscription's write lock until all K policies have asked: each
        // subscription then has exactly one round with every policy in it, whatever the
        // scheduler does (the promise under test is the merge, not a race).
        let mut held = Vec::new();
        for sub in &subs {
            held.push(desk.locks.lock_for(sub).lock_owned().await);
        }
        let running = {
            let (arm, desk, specs) = (arm.clone(), desk.clone(), specs.clone());
            tokio::spawn(async move {
                let fresh = vec![shared(None); K];
                passes(&arm, &desk, &specs, &fresh).await
            })
        };
        while desk.counts().visits < (K * subs.len()) as u64 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(held);
        let first = running.await.unwrap();

        let n = subs.len() as u64;
        assert_eq!(
            contact_requests(&sim, "GET"),
            2 * n,
            "one read and one read-back each"
        );
        assert_eq!(contact_requests(&sim, "PUT"), n, "one merged write each");
        assert_eq!(desk.counts().rounds, n);
        assert_eq!(
            arm.metrics().merged_writes.get(),
            n,
            "each write carried all K"
        );
        for (i, sub) in subs.iter().enumerate() {
            let emails = sim.state().contact(sub).unwrap().unwrap()["emails"]
                .as_str()
                .unwrap()
                .to_owned();
            for k in 0..K {
                assert!(
                    emails.contains(&format!("team{k}@contoso.com")),
                    "{sub}: {emails}"
                );
            }
            // Additive: the person's address stays.
            assert_eq!(
                emails.contains("owner@fabrikam.example"),
                i % 2 == 0,
                "{emails}"
            );
        }
        // Each policy hears its own part: Remediated, and only its own address as added.
        for (k, (swept, _)) in first.iter().enumerate() {
            assert!(
                swept
                    .results
                    .iter()
                    .all(|r| r.verdict == Verdict::Remediated)
            );
            for news in &swept.ledger {
                assert_eq!(news.added, vec![format!("team{k}@contoso.com")]);
            }
            let created = swept.ledger.iter().filter(|n| n.created).count();
            assert_eq!(
                created,
                subs.len() / 2,
                "policy {k}: created where there was none"
            );
        }

        // Steady state: the next passes, one after another as their intervals fall due. The
        // first reads (what it saw last is no news to it); the others read along.
        sim.state().reset_requests();
        let mut ended: Vec<Instant> = first.iter().map(|(_, at)| *at).collect();
        for k in 0..K {
            let again = passes_of(&arm, &desk, k, &specs[k..=k], &[shared(Some(ended[k]))]).await;
            assert!(
                again[0]
                    .0
                    .results
                    .iter()
                    .all(|r| r.verdict == Verdict::Compliant)
            );
            ended[k] = again[0].1;
        }
        assert_eq!(
            contact_requests(&sim, "GET"),
            n,
            "one GET per subscription per interval"
        );
        assert_eq!(arm.metrics().shared_reads.get(), (K as u64 - 1) * n);
        assert_eq!(contact_requests(&sim, "PUT"), 0);

        // A spec change reads afresh: the reads before the edit was seen are not news to it.
        sim.state().reset_requests();
        passes(
            &arm,
            &desk,
            &specs[..1],
            &[Freshness {
                fresh: true,
                ..shared(Some(Instant::now()))
            }],
        )
        .await;
        assert_eq!(contact_requests(&sim, "GET"), n);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_are_never_shared_between_principals_and_audit_never_writes() {
        let World { sim, subs } = world(6).await;
        let (ours, theirs) = (client(&sim, "app:a"), client(&sim, "app:b"));
        let desk = Arc::new(Desk::default());
        let audit = policy(&subs, "secops@contoso.com", Mode::Audit);
        passes(&ours, &desk, std::slice::from_ref(&audit), &[shared(None)]).await;
        passes(
            &theirs,
            &desk,
            std::slice::from_ref(&audit),
            &[shared(None)],
        )
        .await;
        let n = subs.len() as u64;
        assert_eq!(
            contact_requests(&sim, "GET"),
            2 * n,
            "another principal reads for itself"
        );
        // The same principal, a read that is news: answered without a request.
        let swept = passes(&ours, &desk, std::slice::from_ref(&audit), &[shared(None)]).await;
        assert_eq!(contact_requests(&sim, "GET"), 2 * n);
        assert_eq!(contact_requests(&sim, "PUT"), 0, "Audit never writes");
        assert!(
            swept[0]
                .0
                .results
                .iter()
                .all(|r| r.verdict == Verdict::NonCompliant)
        );
        assert_eq!(desk.counts().shared, n);
    }
    /// Emails on a subscription's contact in the simulator.
    fn emails_on(sim: &Simulator, sub: &str) -> String {
        sim.state().contact(sub).unwrap().unwrap()["emails"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passes_one_after_another_converge_with_one_write_carrying_every_standing_wish() {
        const K: usize = 5;
        let World { sim, subs } = world(12).await;
        let arm = client(&sim, "operator");
        arm.check_credential().await.unwrap();
        let desk = Arc::new(Desk::default());
        let specs: Vec<_> = (0..K)
            .map(|i| policy(&subs, &format!("team{i}@contoso.com"), Mode::Enforce))
            .collect();
        // Every policy has passed its gate and said what it wants (the reconciler stands a
        // policy's wish before its sweep).
        for (i, spec) in specs.iter().enumerate() {
            desk.stand(arm.principal(), &format!("ns/p{i}"), &spec.contact, &subs);
        }
        // Policy 0 passes alone: one read, one write carrying all K, one read-back.
        let first = passes(&arm, &desk, &specs[..1], &[shared(None)]).await;
        let n = subs.len() as u64;
        assert_eq!(contact_requests(&sim, "GET"), 2 * n);
        assert_eq!(contact_requests(&sim, "PUT"), n);
        assert_eq!(desk.counts().carried, (K as u64 - 1) * n);
        assert_eq!(arm.metrics().merged_writes.get(), n);
        for sub in &subs {
            let emails = emails_on(&sim, sub);
            for k in 0..K {
                assert!(emails.contains(&format!("team{k}@contoso.com")), "{emails}");
            }
        }
        for news in &first[0].0.ledger {
            assert_eq!(news.added, vec!["team0@contoso.com".to_owned()]);
        }
        // The others pass later, one at a time: each hears the write made for it (its own
        // verdict, its own address for the ledger) without a request.
        for k in 1..K {
            let swept = passes_of(&arm, &desk, k, &specs[k..=k], &[shared(None)]).await;
            let (swept, _) = &swept[0];
            assert!(
                swept
                    .results
                    .iter()
                    .all(|r| r.verdict == Verdict::Remediated),
                "policy {k}"
            );
            assert_eq!(swept.ledger.len(), subs.len());
            for news in &swept.ledger {
                assert_eq!(news.added, vec![format!("team{k}@contoso.com")]);
            }
        }
        assert_eq!(contact_requests(&sim, "GET"), 2 * n, "no more reads");
        assert_eq!(contact_requests(&sim, "PUT"), n, "no more writes");

        // A policy deleted before it heard: its Revert ledger still learns what was written
        // for it.
        sim.state().reset_requests();
        let late = policy(&subs, "late@contoso.com", Mode::Enforce);
        desk.stand(arm.principal(), "ns/late", &late.contact, &subs);
        let wiped = policy(&subs, "wiped@contoso.com", Mode::Enforce);
        alone(&arm, &desk, 7, &wiped).await;
        assert_eq!(contact_requests(&sim, "PUT"), n);
        let unheard = desk.withdraw("ns/late");
        assert_eq!(unheard.len(), subs.len());
        for (sub, share) in &unheard {
            let news = sweep::unheard(sub, share);
            assert_eq!(news.added, vec!["late@contoso.com".to_owned()]);
        }
        assert!(desk.withdraw("ns/late").is_empty(), "withdrawn once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_standing_wish_never_bends_a_member_and_withdrawn_wishes_are_not_carried() {
        let World { sim, subs } = world(4).await;
        let arm = client(&sim, "operator");
        let desk = Arc::new(Desk::default());
        // An Additive wish stands; an Exact policy passes: the wish would break it.
        let additive = policy(&subs, "team@contoso.com", Mode::Enforce);
        desk.stand(arm.principal(), "ns/additive", &additive.contact, &subs);
        let mut exact = policy(&subs, "only@contoso.com", Mode::Enforce);
        exact.contact.email_merge = crate::crd::EmailMerge::Exact;
        passes(&arm, &desk, std::slice::from_ref(&exact), &[shared(None)]).await;
        for sub in &subs {
            assert_eq!(emails_on(&sim, sub), "only@contoso.com");
        }
        assert_eq!(desk.counts().carried, 0);
        assert!(desk.withdraw("ns/additive").is_empty(), "nothing delivered");

        // Another principal's wish is never carried by our writes; a withdrawn one neither.
        let theirs = client(&sim, "app:other");
        desk.stand(theirs.principal(), "ns/theirs", &additive.contact, &subs);
        desk.stand(arm.principal(), "ns/gone", &additive.contact, &subs);
        desk.withdraw("ns/gone");
        let other = policy(&subs, "secops@contoso.com", Mode::Enforce);
        alone(&arm, &desk, 3, &other).await;
        for sub in &subs {
            let emails = emails_on(&sim, sub);
            assert!(emails.contains("secops@contoso.com"), "{emails}");
            assert!(!emails.contains("team@contoso.com"), "{emails}");
        }
        assert_eq!(desk.counts().carried, 0);

        // Where an Exact policy stands, nothing is carried: the gate keeps the two apart, and
        // a write must not make them fight before it has.
        desk.stand(arm.principal(), "ns/additive", &additive.contact, &subs);
        desk.stand(arm.principal(), "ns/exact", &exact.contact, &subs);
        let another = policy(&subs, "another@contoso.com", Mode::Enforce);
        alone(&arm, &desk, 4, &another).await;
        for sub in &subs {
            let emails = emails_on(&sim, sub);
            assert!(emails.contains("another@contoso.com"), "{emails}");
            assert!(!emails.contains("team@contoso.com"), "{emails}");
        }
        assert_eq!(desk.counts().carried, 0);

        // Access changed: every wish is forgotten until its policy passes again.
        desk.withdraw("ns/exact");
        desk.clear_wishes();
        let last = policy(&subs, "last@contoso.com", Mode::Enforce);
        alone(&arm, &desk, 5, &last).await;
        for sub in &subs {
            assert!(!emails_on(&sim, sub).contains("team@contoso.com"));
        }
        assert_eq!(desk.counts().carried, 0);
        // The same wish, stood again, is carried.
        desk.stand(arm.principal(), "ns/additive", &additive.contact, &subs);
        let again = policy(&subs, "again@contoso.com", Mode::Enforce);
        alone(&arm, &desk, 6, &again).await;
        assert_eq!(desk.counts().carried, subs.len() as u64);
    }
}

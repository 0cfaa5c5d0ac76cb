//! What every reconcile shares: clients, the policy cache, locks, metrics, backoff state.

use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use k8s_openapi::jiff::Timestamp;
use kube::{Resource, ResourceExt};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, Client,
    runtime::{
        events::{Recorder, Reporter},
        reflector::{ObjectRef, Store},
    },
};
use tokio_util::sync::CancellationToken;

use super::{
    FIELD_MANAGER, access::AccessView, credentials::ClientCache, desk::Desk, ledger::Ledger,
};
use crate::{
    connect::Azure,
    crd::{SecurityContactPolicy, SecurityContactPolicySpec},
    exclusions,
    metrics::Metrics,
};

/// The longest first passes wait for the other policies after a start.
pub const GATHER_MAX: Duration = Duration::from_secs(60);

pub struct Context {
    pub client: Client,
    pub azure: Azure,
    /// One Recorder for the process, so the API server aggregates repeated Events.
    pub recorder: Recorder,
    /// Every policy the operator watches (overlaps, Revert's "still required").
    pub store: Store<SecurityContactPolicy>,
    /// Who may use the operator's own identity (access objects, namespace labels).
    pub access: AccessView,
    pub metrics: Metrics,
    /// Most ARM requests in flight for one policy's sweep.
    pub concurrency: usize,
    /// Reads shared between policies, merged writes, and the per-subscription write locks.
    pub desk: Arc<Desk>,
    /// Subscription and management-group listings shared between selector policies.
    pub listings: crate::listings::Listings,
    /// When each policy's last pass ended, by UID: reads from before it are not news to it.
    pub(crate) passes: Mutex<HashMap<String, std::time::Instant>>,
    /// Policies that have had a pass (any outcome) since this controller started: once all
    /// have, the start-up budget is lifted.
    started: Mutex<std::collections::HashSet<String>>,
    /// Policies that have said what they want since this controller started (stood their
    /// wishes, or were judged unable to), by UID, with the generation they said it for and
    /// when a pass first saw that generation.
    introduced: Mutex<HashMap<String, (Option<i64>, Instant)>>,
    /// First passes have stopped waiting for the others (see [`Context::gathering`]).
    gathered: AtomicBool,
    /// Told once when they stop waiting, if any did: the controller then runs every policy
    /// (the waiting ones sit idle meanwhile, rather than polling).
    on_gathered: Mutex<Option<futures::channel::mpsc::UnboundedSender<()>>>,
    /// Some first pass went back to wait: it must be woken.
    held: AtomicBool,
    /// Deciding to wait and deciding that the waiting is over happen one at a time, so that a
    /// pass never goes back to wait just after the others were woken.
    gather_lock: Mutex<()>,
    /// When this controller run began.
    began: Instant,
    /// Policies whose first pass of a new generation went back to wait for the others: it
    /// still owes a fresh read when it runs.
    pub(crate) fresh_due: Mutex<std::collections::HashSet<String>>,
    pub clients: ClientCache,
    /// Revert ledgers: ConfigMaps in the operator's own namespace.
    pub ledgers: Api<ConfigMap>,
    /// Ledgers already read, by policy UID: a pass reads its ledger from the API once.
    pub(crate) ledger_cache: Mutex<HashMap<String, Ledger>>,
    /// Cancelled when this process must stop writing: shutdown, or leadership lost. A pass in
    /// flight checks it before every write, so it stops before its next write rather than
    /// after its last.
    pub stop_writing: CancellationToken,
    /// What each selector policy resolved to on its last pass, by policy UID: what it governs
    /// in the others' overlap and Revert decisions until its next pass.
    pub(crate) selections: Mutex<HashMap<String, Arc<Vec<String>>>>,
    /// Restore streaks per policy UID, by subscription (for `Contested`).
    pub(crate) streaks: Mutex<HashMap<String, HashMap<String, super::record::Contest>>>,
    /// Consecutive failed passes per policy, for the error policy's backoff.
    failures: Mutex<HashMap<ObjectRef<SecurityContactPolicy>, u32>>,
}

impl Context {
    pub fn new(
        client: Client,
        azure: Azure,
        store: Store<SecurityContactPolicy>,
        access: AccessView,
        metrics: Metrics,
        concurrency: usize,
        ledger_namespace: &str,
    ) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        // A new controller run (a start, a new leadership term): first passes are spread.
        azure.budget().warm();
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            ledgers: Api::namespaced(client.clone(), ledger_namespace),
            ledger_cache: Default::default(),
            stop_writing: CancellationToken::new(),
            client,
            azure,
            store,
            access,
            metrics,
            concurrency,
            desk: Default::default(),
            listings: Default::default(),
            passes: Default::default(),
            started: Default::default(),
            introduced: Default::default(),
            gathered: AtomicBool::new(false),
            on_gathered: Default::default(),
            held: AtomicBool::new(false),
            gather_lock: Mutex::new(()),
            began: Instant::now(),
            fresh_due: Default::default(),
            clients: Default::default(),
            failures: Default::default(),
            selections: Default::default(),
            streaks: Default::default(),
        }
    }

    /// Notes that `policy` had a pass; lifts the start-up budget once every policy the
    /// operator watches has had one.
    pub(crate) fn had_pass(&self, policy: &SecurityContactPolicy) {
        let budget = self.azure.budget();
        if !budget.warming() {
            return;
        }
        let mut started = self.started.lock().expect("started");
        started.insert(policy.uid().unwrap_or_default());
        let all = self.store.state();
        if all
            .iter()
            .all(|p| started.contains(&p.uid().unwrap_or_default()))
        {
            budget.settled();
        }
    }

    /// Notes that `policy` (at its current generation) has said what it wants.
    pub(crate) fn introduce(&self, policy: &SecurityContactPolicy) {
        let generation = policy.meta().generation;
        let mut introduced = self.introduced.lock().expect("introduced");
        let seen = introduced
            .entry(policy.uid().unwrap_or_default())
            .or_insert((generation, Instant::now()));
        if seen.0 != generation {
            *seen = (generation, Instant::now());
        }
    }

    /// When a pass first saw `policy`'s current generation (after [`Context::introduce`]):
    /// reads made before it were made for the spec as it was.
    pub(crate) fn edit_seen(&self, policy: &SecurityContactPolicy) -> Option<Instant> {
        self.introduced
            .lock()
            .expect("introduced")
            .get(&policy.uid().unwrap_or_default())
            .filter(|(generation, _)| *generation == policy.meta().generation)
            .map(|(_, at)| *at)
    }

    /// After a start or a new leadership term, while the start-up budget holds and for at
    /// most [`GATHER_MAX`], first passes wait until every live policy has said what it wants:
    /// then the first write to a subscription carries every policy that covers it (see
    /// [`super::desk`]) instead of one write per policy, in whatever order the workers take
    /// them.
    /// `true` means the caller waits (and will be woken).
    pub(crate) fn gathering(&self) -> bool {
        let _one = self.gather_lock.lock().expect("gather lock");
        if self.gathered.load(Ordering::Relaxed) {
            return false;
        }
        let over = !self.azure.budget().warming() || self.began.elapsed() >= GATHER_MAX;
        let waiting = !over && {
            let introduced = self.introduced.lock().expect("introduced");
            self.store.state().iter().any(|p| {
                p.meta().deletion_timestamp.is_none()
                    && !p.spec.suspend
                    && !introduced.contains_key(&p.uid().unwrap_or_default())
            })
        };
        if waiting {
            self.held.store(true, Ordering::Relaxed);
        } else {
            self.end_gathering(if over {
                "the wait is over"
            } else {
                "every policy has said what it wants"
            });
        }
        waiting
    }

    /// `on_gathered` is told once first passes stop waiting.
    pub(crate) fn when_gathered(&self, on_gathered: futures::channel::mpsc::UnboundedSender<()>) {
        *self.on_gathered.lock().expect("on gathered") = Some(on_gathered);
    }

    /// First passes stop waiting for the others (`why`); the waiting ones are woken.
    pub(crate) fn gathered(&self, why: &str) {
        let _one = self.gather_lock.lock().expect("gather lock");
        self.end_gathering(why);
    }

    fn end_gathering(&self, why: &str) {
        if self.gathered.swap(true, Ordering::Relaxed) {
            return;
        }
        tracing::info!(
            after_ms = self.began.elapsed().as_millis() as u64,
            "first passes go: {why}"
        );
        let tell = self.on_gathered.lock().expect("on gathered").take();
        // Nobody waiting (a single policy, no start-up budget): no pass to wake.
        if let Some(tell) = tell.filter(|_| self.held.load(Ordering::Relaxed)) {
            let _ = tell.unbounded_send(());
        }
    }

    /// `policy`'s first pass said what it wants at this generation and waits for the others.
    pub(crate) fn waits_for_others(&self, policy: &SecurityContactPolicy) -> bool {
        if self.gathered.load(Ordering::Relaxed) {
            return false;
        }
        let uid = policy.uid().unwrap_or_default();
        let introduced = self
            .introduced
            .lock()
            .expect("introduced")
            .get(&uid)
            .is_some_and(|(generation, _)| *generation == policy.meta().generation);
        introduced && !self.passes.lock().expect("passes").contains_key(&uid) && self.gathering()
    }

    /// Counts one more failed pass of `policy` and returns how many in a row.
    pub(crate) fn failed(&self, policy: &SecurityContactPolicy) -> u32 {
        let mut failures = self.failures.lock().expect("failure map");
        let n = failures.entry(ObjectRef::from_obj(policy)).or_default();
        *n = n.saturating_add(1);
        *n
    }

    /// What `p` governs at `now`: its last resolved selection (or its ids, before the first),
    /// without active exclusions.
    pub(crate) fn governed<'a>(
        &self,
        p: &'a SecurityContactPolicy,
        now: Timestamp,
    ) -> Cow<'a, SecurityContactPolicySpec> {
        let selected = p.spec.subscription_selector.as_ref().and_then(|_| {
            self.selections
                .lock()
                .expect("selections")
                .get(&p.uid().unwrap_or_default())
                .cloned()
        });
        let base = match selected {
            Some(subscriptions) => {
                let mut spec = p.spec.clone();
                spec.subscriptions = subscriptions.to_vec();
                Cow::Owned(spec)
            }
            None => Cow::Borrowed(&p.spec),
        };
        if let Cow::Owned(spec) = exclusions::governed(&base, now) {
            return Cow::Owned(spec);
        }
        base
    }

    /// Records what `p` resolved to; returns what it had resolved to before, if known.
    pub(crate) fn selected(
        &self,
        p: &SecurityContactPolicy,
        subscriptions: Vec<String>,
    ) -> Option<Arc<Vec<String>>> {
        self.selections
            .lock()
            .expect("selections")
            .insert(p.uid().unwrap_or_default(), Arc::new(subscriptions))
    }

    /// Forgets a policy's backoff state: after a good pass, or once it is deleted.
    pub(crate) fn forget(&self, policy: &SecurityContactPolicy) {
        self.failures
            .lock()
            .expect("failure map")
            .remove(&ObjectRef::from_obj(policy));
    }
}

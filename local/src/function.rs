//! A function as the gateway sees it: what its replicas run ([`FunctionSpec`]), its
//! replicas and which are ready ([`Replica`]), its counters, the name → function table
//! ([`Functions`]), and the [`CallGuard`] that counts one call.
//!
//! This is book-keeping only: starting and stopping the processes behind the replicas
//! is the supervisor's job, and it changes the list through the methods here.
//!
//! A call is counted as started and in flight when it is made, and as finished when its
//! guard is dropped — when the answer's body has been sent, or when the client went away
//! mid-call and the request future was dropped. Counting on drop is what keeps
//! `inFlight` (capacity scaling, scale to zero) honest: raising and lowering it around an
//! `.await` leaks one for every dropped call.

use crate::error::GatewayError;
use crate::logs::Logs;
use crate::metrics::NAMESPACE;
use crate::stack::{FunctionDef, ScaleSettings};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use openfaas_runtime::body::BoxError;
use openfaas_runtime::{Body, Response};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::sync::{Notify, watch};

/// What the replicas of one function run.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub name: String,
    pub binary: PathBuf,
    /// The stack's environment plus the runtime's own settings.
    pub env: Vec<(String, String)>,
    pub def: FunctionDef,
    pub scale: ScaleSettings,
    /// Safe to send again (GET/HEAD always are): a call that fails on its way to a
    /// replica is held and sent again, to another replica or to the same one restarted,
    /// until the call's timeout. From the annotation `greyfaas.idempotent: "true"`.
    pub idempotent: bool,
}

/// One running (or restarting) copy of a function.
pub struct Replica {
    pub id: u64,
    port: AtomicU16,
    ready: AtomicBool,
    pid: AtomicU32,
    /// Counts the times this replica became ready: a new process (or one that recovered)
    /// has a new generation, so a call that failed on the old one may go to it.
    generation: AtomicU64,
    stop: watch::Sender<bool>,
}

static NEXT_REPLICA: AtomicU64 = AtomicU64::new(1);

impl Replica {
    /// A replica with a new id, not yet running.
    pub fn new() -> Arc<Replica> {
        Arc::new(Replica {
            id: NEXT_REPLICA.fetch_add(1, Ordering::SeqCst),
            port: AtomicU16::new(0),
            ready: AtomicBool::new(false),
            pid: AtomicU32::new(0),
            generation: AtomicU64::new(0),
            stop: watch::channel(false).0,
        })
    }

    /// The loopback port the current process serves on.
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::SeqCst)
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// The child's process id while it runs (0 between restarts).
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::SeqCst)
    }

    pub fn set_pid(&self, pid: u32) {
        self.pid.store(pid, Ordering::SeqCst);
    }

    /// Which process (or readiness period) of this replica a call went to.
    pub fn incarnation(&self) -> Incarnation {
        Incarnation {
            replica: self.id,
            generation: self.generation.load(Ordering::SeqCst),
        }
    }

    /// Asks the replica's process to stop (the supervisor drains it).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Becomes true once the replica is asked to stop.
    pub fn stop_requested(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }
}

/// One replica in one readiness period: what a failed call avoids on its next try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incarnation {
    pub replica: u64,
    pub generation: u64,
}

/// A function with its replicas and the counters the gateway and scaler use.
pub struct Function {
    pub name: String,
    /// What new replicas start with; a deploy replaces it and rolls the replicas.
    spec: Mutex<Arc<FunctionSpec>>,
    /// Removed through the API (`faas-cli remove`): no replicas, not routed, until deployed again.
    removed: AtomicBool,
    replicas: Mutex<Vec<Arc<Replica>>>,
    desired: AtomicUsize,
    next: AtomicUsize,
    /// Wakes whoever waits for a ready replica: a replica's readiness or the list changed.
    pub changed: Notify,
    /// Requests started (for the request rate) and in flight (for `capacity` scaling).
    pub started: AtomicU64,
    pub in_flight: AtomicUsize,
    /// Requests finished, all status codes (OpenFaaS's invocationCount).
    pub invocations: AtomicU64,
    /// When the last request arrived (for scale to zero).
    pub last_request: Mutex<Instant>,
    /// Recent scaling decisions, newest last (shown in /system/functions).
    decisions: Mutex<VecDeque<String>>,
    /// What its replicas print (faas-cli logs).
    pub logs: Arc<Logs>,
}

impl Function {
    pub fn new(spec: FunctionSpec) -> Arc<Function> {
        let name = spec.name.clone();
        Arc::new(Function {
            logs: Arc::new(Logs::new(&name)),
            name,
            spec: Mutex::new(Arc::new(spec)),
            removed: AtomicBool::new(false),
            replicas: Mutex::new(Vec::new()),
            desired: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            changed: Notify::new(),
            started: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            invocations: AtomicU64::new(0),
            last_request: Mutex::new(Instant::now()),
            decisions: Mutex::new(VecDeque::new()),
        })
    }

    /// The spec replicas start with now.
    pub fn spec(&self) -> Arc<FunctionSpec> {
        self.spec.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The spec replicas started from now on run.
    pub fn set_spec(&self, spec: FunctionSpec) {
        *self.spec.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(spec);
    }

    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::SeqCst)
    }

    /// Marks the function removed (or deployed again); whether it was removed before.
    pub fn set_removed(&self, removed: bool) -> bool {
        self.removed.swap(removed, Ordering::SeqCst)
    }

    pub fn replica_count(&self) -> usize {
        self.lock().len()
    }

    pub fn ready_count(&self) -> usize {
        self.lock().iter().filter(|r| r.is_ready()).count()
    }

    /// The replicas asked for (OpenFaaS's `replicas`).
    pub fn desired(&self) -> usize {
        self.desired.load(Ordering::SeqCst)
    }

    pub fn set_desired(&self, n: usize) {
        self.desired.store(n, Ordering::SeqCst);
    }

    /// Every replica (for tests and chaos: their process ids).
    pub fn replicas(&self) -> Vec<Arc<Replica>> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Replica>>> {
        self.replicas.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a replica (its process is started by the supervisor).
    pub fn add(&self, replica: Arc<Replica>) {
        self.lock().push(replica);
    }

    /// Takes every replica beyond the first `n` out of rotation and off the list.
    pub fn remove_beyond(&self, n: usize) -> Vec<Arc<Replica>> {
        let mut replicas = self.lock();
        let keep = n.min(replicas.len());
        let surplus = replicas.split_off(keep);
        drop(replicas);
        self.retire(&surplus);
        surplus
    }

    /// Takes `old` replicas out of rotation and off the list: no new call picks them.
    pub fn retire(&self, old: &[Arc<Replica>]) {
        self.lock().retain(|r| !old.iter().any(|o| o.id == r.id));
        for replica in old {
            replica.ready.store(false, Ordering::SeqCst);
        }
        self.changed.notify_waiters();
    }

    /// Records that `replica` answers on `port` (a new incarnation), or that it does not.
    pub fn set_ready(&self, replica: &Replica, port: u16, ready: bool) {
        if ready {
            replica.port.store(port, Ordering::SeqCst);
            replica.generation.fetch_add(1, Ordering::SeqCst);
        }
        replica.ready.store(ready, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// A ready replica, round-robin, skipping the incarnation `avoid` unless no other is
    /// ready and `avoid_expired`. Does not wait (the supervisor's `ready_replica` does).
    pub fn choose(&self, avoid: Option<Incarnation>, avoid_expired: bool) -> Option<Arc<Replica>> {
        let replicas = self.lock();
        let ready: Vec<&Arc<Replica>> = replicas.iter().filter(|r| r.is_ready()).collect();
        let fresh: Vec<&Arc<Replica>> = ready
            .iter()
            .copied()
            .filter(|r| Some(r.incarnation()) != avoid)
            .collect();
        let choice = if !fresh.is_empty() {
            fresh
        } else if avoid_expired {
            ready
        } else {
            return None;
        };
        if choice.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % choice.len();
        Some(choice[i].clone())
    }

    /// Logs a scaling decision and keeps the last few for /system/functions.
    pub fn record(&self, decision: String) {
        tracing::info!(function = %self.name, "{decision}");
        let mut decisions = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        decisions.push_back(decision);
        while decisions.len() > 10 {
            decisions.pop_front();
        }
    }

    /// The recent scaling decisions, oldest first.
    pub fn decisions(&self) -> Vec<String> {
        let decisions = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        decisions.iter().cloned().collect()
    }
}

/// Every function of the stack, by name.
pub struct Functions(BTreeMap<String, Arc<Function>>);

impl Functions {
    pub fn new(functions: BTreeMap<String, Arc<Function>>) -> Functions {
        Functions(functions)
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Function>> {
        self.0.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<Function>)> {
        self.0.iter()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Function>> {
        self.0.values()
    }

    /// `NAME[.NAMESPACE][/rest]` → the function (deployed, in our namespace) and the
    /// path it should see.
    pub fn resolve(&self, route: &str) -> Result<(Arc<Function>, String), GatewayError> {
        let (target, rest) = match route.find('/') {
            Some(i) => (&route[..i], &route[i..]),
            None => (route, "/"),
        };
        let (name, namespace) = match target.rsplit_once('.') {
            Some((name, ns)) => (name, ns),
            None => (target, NAMESPACE),
        };
        match self.0.get(name) {
            Some(function) if namespace == NAMESPACE && !function.is_removed() => {
                Ok((function.clone(), rest.to_string()))
            }
            _ => Err(GatewayError::NoFunction(format!("{name}.{namespace}"))),
        }
    }
}

/// One call in flight on a function; finished when dropped.
pub struct CallGuard {
    function: Arc<Function>,
}

impl CallGuard {
    /// Counts a new call on `function`.
    pub fn begin(function: &Arc<Function>) -> CallGuard {
        function.started.fetch_add(1, Ordering::SeqCst);
        function.in_flight.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut last) = function.last_request.lock() {
            *last = Instant::now();
        }
        CallGuard {
            function: function.clone(),
        }
    }

    /// The answer, with this guard riding on its body: the call stays in flight until
    /// the body is sent (or dropped).
    pub fn hold_until_sent(self, response: Response) -> Response {
        response.map(|inner| {
            use http_body_util::BodyExt;
            GuardedBody {
                inner,
                _guard: self,
            }
            .boxed_unsync()
        })
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.function.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.function.invocations.fetch_add(1, Ordering::SeqCst);
    }
}

/// A body that keeps a [`CallGuard`] alive while it is being sent.
struct GuardedBody {
    inner: Body,
    _guard: CallGuard,
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

//! Function processes: each replica is a child process on its own loopback port,
//! health-checked, restarted with backoff when it dies, and stopped with SIGTERM (then
//! SIGKILL) when scaled away. Children die with the runtime, even on SIGKILL.

use crate::stack::FunctionDef;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

/// What the supervisor needs to run one function.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub name: String,
    pub binary: PathBuf,
    /// The stack's environment plus the runtime's own settings.
    pub env: Vec<(String, String)>,
    pub def: FunctionDef,
    pub scale: crate::scaler::ScaleSettings,
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

impl Replica {
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

    /// Which process (or readiness period) of this replica a call went to.
    pub fn incarnation(&self) -> Incarnation {
        Incarnation {
            replica: self.id,
            generation: self.generation.load(Ordering::SeqCst),
        }
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
    changed: Notify,
    /// Requests started (for the request rate) and in flight (for `capacity` scaling).
    pub started: AtomicU64,
    pub in_flight: AtomicUsize,
    /// Requests finished, all status codes (OpenFaaS's invocationCount).
    pub invocations: AtomicU64,
    /// When the last request arrived (for scale to zero).
    pub last_request: Mutex<Instant>,
    /// Recent scaling decisions, newest last (shown in /system/functions).
    pub decisions: Mutex<VecDeque<String>>,
    /// What its replicas print (faas-cli logs).
    pub logs: Arc<crate::logs::Logs>,
}

static NEXT_REPLICA: AtomicU64 = AtomicU64::new(1);

impl Function {
    pub fn new(spec: FunctionSpec) -> Arc<Function> {
        let name = spec.name.clone();
        Arc::new(Function {
            logs: Arc::new(crate::logs::Logs::new(&name)),
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

    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::SeqCst)
    }

    /// `faas-cli remove`: stops every replica (draining) and stops routing to it.
    pub fn remove(self: &Arc<Function>) {
        self.removed.store(true, Ordering::SeqCst);
        self.record("scale to 0: removed through the API".into());
        self.scale_to(0);
    }

    /// A deploy: new replicas start with `spec`; once as many as before (at least the
    /// minimum, one at least) are ready, the old ones leave the rotation and then drain.
    /// No call is lost: an old replica is picked by nobody for a grace period before it
    /// gets SIGTERM, and finishes what it has.
    pub async fn roll(self: &Arc<Function>, spec: FunctionSpec) -> Result<(), String> {
        let wanted = self.desired().max(spec.scale.min).max(1);
        *self.spec.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(spec);
        let was_removed = self.removed.swap(false, Ordering::SeqCst);
        let old = self.replicas();
        let fresh: Vec<Arc<Replica>> = (0..wanted).map(|_| self.add_replica()).collect();
        self.desired.store(wanted, Ordering::SeqCst);
        self.record(format!(
            "rolling {} replica(s) onto the deployed spec{}",
            wanted,
            if was_removed { " (deployed again)" } else { "" }
        ));
        let deadline = Instant::now() + Duration::from_secs(30);
        // (The scaler may stop some of the fresh ones meanwhile: wait for those left.)
        while !self
            .replicas()
            .iter()
            .filter(|r| fresh.iter().any(|f| f.id == r.id))
            .all(|r| r.is_ready())
        {
            if Instant::now() > deadline {
                return Err(format!(
                    "{}: new replicas not ready within 30 s; old ones kept",
                    self.name
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        {
            let mut replicas = self.lock();
            replicas.retain(|r| !old.iter().any(|o| o.id == r.id));
        }
        for replica in &old {
            replica.ready.store(false, Ordering::SeqCst);
        }
        self.changed.notify_waiters();
        // Calls already routed to an old replica reach it within this grace period.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for replica in &old {
            let _ = replica.stop.send(true);
        }
        Ok(())
    }

    /// A new replica, started and added to the list.
    fn add_replica(self: &Arc<Function>) -> Arc<Replica> {
        let replica = Arc::new(Replica {
            id: NEXT_REPLICA.fetch_add(1, Ordering::SeqCst),
            port: AtomicU16::new(0),
            ready: AtomicBool::new(false),
            pid: AtomicU32::new(0),
            generation: AtomicU64::new(0),
            stop: watch::channel(false).0,
        });
        tokio::spawn(run_replica(self.clone(), replica.clone()));
        self.lock().push(replica.clone());
        replica
    }

    pub fn replica_count(&self) -> usize {
        self.lock().len()
    }

    pub fn ready_count(&self) -> usize {
        self.lock().iter().filter(|r| r.is_ready()).count()
    }

    pub fn desired(&self) -> usize {
        self.desired.load(Ordering::SeqCst)
    }

    /// Every replica (for tests and chaos: their process ids).
    pub fn replicas(&self) -> Vec<Arc<Replica>> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Replica>>> {
        self.replicas.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts or stops replicas until `n` run.
    pub fn scale_to(self: &Arc<Function>, n: usize) {
        self.desired.store(n, Ordering::SeqCst);
        while self.replica_count() < n {
            self.add_replica();
        }
        let mut replicas = self.lock();
        while replicas.len() > n {
            if let Some(replica) = replicas.pop() {
                replica.ready.store(false, Ordering::SeqCst);
                let _ = replica.stop.send(true);
            }
        }
        drop(replicas);
        self.changed.notify_waiters();
    }

    /// A ready replica, round-robin, skipping `avoid` (the incarnation a call just
    /// failed on) while another is ready or until `avoid_for` has passed. Waits until
    /// `deadline` for one: a replica restarting, or a cold start from zero.
    pub async fn pick(
        self: &Arc<Function>,
        avoid: Option<Incarnation>,
        avoid_for: Duration,
        deadline: Instant,
    ) -> Option<Arc<Replica>> {
        let avoid_until = Instant::now() + avoid_for;
        loop {
            let notified = self.changed.notified();
            {
                let replicas = self.lock();
                let ready: Vec<&Arc<Replica>> = replicas.iter().filter(|r| r.is_ready()).collect();
                let fresh: Vec<&Arc<Replica>> = ready
                    .iter()
                    .copied()
                    .filter(|r| Some(r.incarnation()) != avoid)
                    .collect();
                let choice = if !fresh.is_empty() {
                    fresh
                } else if Instant::now() >= avoid_until {
                    ready
                } else {
                    Vec::new()
                };
                if !choice.is_empty() {
                    let i = self.next.fetch_add(1, Ordering::Relaxed) % choice.len();
                    return Some(choice[i].clone());
                }
            }
            if self.desired() == 0 && !self.is_removed() {
                // Scale from zero: start the minimum (at least one) and hold the request.
                let min = self.spec().scale.min.max(1);
                self.record(format!("scale from zero to {min}: a request arrived"));
                self.scale_to(min);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            // Wake on a change, or when the avoided replica may be tried again.
            let mut wake = deadline;
            if avoid.is_some() && avoid_until > now {
                wake = wake.min(avoid_until);
            }
            let _ = tokio::time::timeout(wake - now, notified).await;
        }
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

    /// Stops every replica and waits (bounded) for the processes to exit.
    pub async fn stop_all(self: &Arc<Function>) {
        let replicas = self.replicas();
        self.scale_to(0);
        let deadline = Instant::now() + Duration::from_secs(30);
        while replicas.iter().any(|r| r.pid() != 0) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A free loopback port (the kernel's choice; the child binds it right after).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Keeps one replica's process alive until told to stop.
async fn run_replica(function: Arc<Function>, replica: Arc<Replica>) {
    let mut stop = replica.stop.subscribe();
    let mut failures: u32 = 0;
    while !*stop.borrow() {
        let (port, metrics_port) = match (free_port(), free_port()) {
            (Ok(a), Ok(b)) => (a, b),
            _ => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut child = match spawn(&function.spec(), port, metrics_port) {
            Ok(child) => child,
            Err(err) => {
                tracing::error!(function = %function.name, binary = %function.spec().binary.display(), error = %err, "cannot start");
                failures += 1;
                tokio::time::sleep(backoff(failures)).await;
                continue;
            }
        };
        let pid = child.id().unwrap_or(0);
        replica.pid.store(pid, Ordering::SeqCst);
        let instance = format!("{}-{}", function.name, replica.id);
        if let Some(out) = child.stdout.take() {
            function.logs.capture(instance.clone(), out);
        }
        if let Some(err) = child.stderr.take() {
            function.logs.capture(instance, err);
        }
        tracing::info!(function = %function.name, replica = replica.id, pid, port, "started");
        let started = Instant::now();
        let mut health = tokio::time::interval(Duration::from_millis(100));
        let mut misses = 0;
        let exit = loop {
            tokio::select! {
                status = child.wait() => break Some(status),
                _ = stop.changed() => break None,
                _ = health.tick() => {
                    let healthy = crate::proxy::probe(port).await;
                    let was_ready = replica.is_ready();
                    misses = if healthy { 0 } else { misses + 1 };
                    if healthy && !was_ready {
                        set_ready(&function, &replica, port, true);
                        health.reset_after(Duration::from_secs(1));
                    } else if was_ready && misses >= 3 {
                        set_ready(&function, &replica, port, false);
                    }
                }
            }
        };
        set_ready(&function, &replica, port, false);
        match exit {
            Some(status) => {
                replica.pid.store(0, Ordering::SeqCst);
                if started.elapsed() > Duration::from_secs(10) {
                    failures = 0;
                }
                failures += 1;
                let wait = backoff(failures);
                tracing::warn!(function = %function.name, replica = replica.id, status = ?status.ok(), restart_in_ms = wait.as_millis() as u64, "replica exited; restarting");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
            }
            None => {
                terminate(&mut child, pid).await;
                replica.pid.store(0, Ordering::SeqCst);
                tracing::info!(function = %function.name, replica = replica.id, "replica stopped");
            }
        }
    }
    replica.pid.store(0, Ordering::SeqCst);
}

fn set_ready(function: &Function, replica: &Replica, port: u16, ready: bool) {
    if ready {
        replica.port.store(port, Ordering::SeqCst);
        replica.generation.fetch_add(1, Ordering::SeqCst);
    }
    replica.ready.store(ready, Ordering::SeqCst);
    function.changed.notify_waiters();
}

/// 100 ms, 200 ms, 400 ms … up to 5 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << failures.min(6))).min(Duration::from_secs(5))
}

fn spawn(
    spec: &FunctionSpec,
    port: u16,
    metrics_port: u16,
) -> std::io::Result<tokio::process::Child> {
    let mut command = tokio::process::Command::new(&spec.binary);
    command
        .env_clear()
        .envs(std::env::vars().filter(|(k, _)| {
            matches!(
                k.as_str(),
                "PATH" | "HOME" | "RUST_LOG" | "RUST_BACKTRACE" | "TMPDIR"
            )
        }))
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("port", port.to_string())
        .env("metrics_port", metrics_port.to_string())
        .env("bind_address", "127.0.0.1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; it only sets a flag on the new process.
    unsafe {
        command.pre_exec(|| {
            // Die with the runtime even if it is SIGKILLed.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command.spawn()
}

/// SIGTERM, then SIGKILL if the process has not drained within 30 s.
async fn terminate(child: &mut tokio::process::Child, pid: u32) {
    if pid != 0 {
        // SAFETY: sending a signal to our own child.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    }
    if tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

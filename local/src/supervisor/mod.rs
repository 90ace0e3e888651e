//! Every child process greyfaas runs, and what changes how many run.
//!
//! - A function's replicas ([`scale`], [`roll`], [`remove`], [`stop_all`]): each replica
//!   is a child process on its own loopback port, health-checked, restarted with backoff
//!   when it dies, and stopped with SIGTERM (then SIGKILL) when scaled away
//!   ([`process`]).
//! - Waiting for a ready replica ([`ready_replica`]), which starts a function scaled to
//!   zero (a cold start).
//! - The embedded S3 store, restarted the same way ([`store`]).
//!
//! Children die with greyfaas, even when it is SIGKILLed.

mod process;
pub mod store;

use crate::function::{Function, FunctionSpec, Incarnation, Replica};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a deploy did not take.
#[derive(Debug, thiserror::Error)]
pub enum RollError {
    #[error("{0}: new replicas not ready within 30 s; old ones kept")]
    NotReady(String),
}

/// Starts or stops replicas until `n` run.
pub fn scale(function: &Arc<Function>, n: usize) {
    function.set_desired(n);
    while function.replica_count() < n {
        start_replica(function);
    }
    for surplus in function.remove_beyond(n) {
        surplus.stop();
    }
}

/// A new replica, added to the list, its process starting.
fn start_replica(function: &Arc<Function>) -> Arc<Replica> {
    let replica = Replica::new();
    tokio::spawn(process::run_replica(function.clone(), replica.clone()));
    function.add(replica.clone());
    replica
}

/// `faas-cli remove`: stops every replica (draining) and stops routing to it.
pub fn remove(function: &Arc<Function>) {
    function.set_removed(true);
    function.record("scale to 0: removed through the API".into());
    scale(function, 0);
}

/// A deploy: new replicas start with `spec`; once as many as before (at least the
/// minimum, one at least) are ready, the old ones leave the rotation and then drain.
/// No call is lost: an old replica is picked by nobody for a grace period before it
/// gets SIGTERM, and finishes what it has.
pub async fn roll(function: &Arc<Function>, spec: FunctionSpec) -> Result<(), RollError> {
    let wanted = function.desired().max(spec.scale.min).max(1);
    function.set_spec(spec);
    let was_removed = function.set_removed(false);
    let old = function.replicas();
    let fresh: Vec<Arc<Replica>> = (0..wanted).map(|_| start_replica(function)).collect();
    function.set_desired(wanted);
    function.record(format!(
        "rolling {} replica(s) onto the deployed spec{}",
        wanted,
        if was_removed { " (deployed again)" } else { "" }
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    // (The scaler may stop some of the fresh ones meanwhile: wait for those left.)
    while !function
        .replicas()
        .iter()
        .filter(|r| fresh.iter().any(|f| f.id == r.id))
        .all(|r| r.is_ready())
    {
        if Instant::now() > deadline {
            return Err(RollError::NotReady(function.name.clone()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    function.retire(&old);
    // Calls already routed to an old replica reach it within this grace period.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for replica in &old {
        replica.stop();
    }
    Ok(())
}

/// A ready replica, round-robin, skipping `avoid` (the incarnation a call just failed
/// on) while another is ready or until `avoid_for` has passed. Waits until `deadline`
/// for one: a replica restarting, or a cold start from zero, which this starts.
pub async fn ready_replica(
    function: &Arc<Function>,
    avoid: Option<Incarnation>,
    avoid_for: Duration,
    deadline: Instant,
) -> Option<Arc<Replica>> {
    let avoid_until = Instant::now() + avoid_for;
    loop {
        // Listening before looking, so a change in between still wakes us.
        let changed = function.changed.notified();
        if let Some(replica) = function.choose(avoid, Instant::now() >= avoid_until) {
            return Some(replica);
        }
        if function.desired() == 0 && !function.is_removed() {
            // Scale from zero: start the minimum (at least one) and hold the request.
            let min = function.spec().scale.min.max(1);
            function.record(format!("scale from zero to {min}: a request arrived"));
            scale(function, min);
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
        let _ = tokio::time::timeout(wake - now, changed).await;
    }
}

/// Stops every replica and waits (bounded) for the processes to exit.
pub async fn stop_all(function: &Arc<Function>) {
    let replicas = function.replicas();
    scale(function, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while replicas.iter().any(|r| r.pid() != 0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! Child processes: starting one that dies with greyfaas, stopping one gracefully, and
//! the loop that keeps one replica's process alive and health-checked.
//!
//! Replicas start gradually: at most [`STARTING_AT_ONCE`] processes are starting
//! (spawned, not yet healthy) at a time, across all functions, so a roll or a scale-up
//! to many replicas does not fork them all at once and starve the ones already serving.

use crate::function::{Function, FunctionSpec, Replica};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use openfaas_runtime::body;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A free loopback port (the kernel's choice; the child binds it right after).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Makes `command`'s process die with greyfaas, even if greyfaas is SIGKILLed (the
/// parent-death signal), and with the `Child` handle if that is dropped.
pub fn dies_with_us(command: &mut tokio::process::Command) {
    command.kill_on_drop(true);
    // SAFETY: the closure runs between fork and exec; prctl is async-signal-safe and
    // only sets a flag on the new process.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
}

/// SIGTERM, then SIGKILL if the process has not exited within `grace`.
pub async fn terminate(child: &mut tokio::process::Child, grace: Duration) {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
    }
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

/// Whether a replica on `port` answers `/_/health` with 200.
async fn probe(port: u16) -> bool {
    let Ok(request) =
        http::Request::get(format!("http://127.0.0.1:{port}/_/health")).body(body::empty())
    else {
        return false;
    };
    let answer = tokio::time::timeout(
        Duration::from_secs(1),
        crate::loopback::CLIENT.request(request),
    );
    matches!(answer.await, Ok(Ok(r)) if r.status() == http::StatusCode::OK)
}

/// Processes starting at once; the rest wait their turn.
pub const STARTING_AT_ONCE: usize = 2;
/// How long a starting process may keep its turn before it is counted as started
/// (one that never gets healthy must not hold the others back forever).
const STARTING_TURN: Duration = Duration::from_secs(5);
/// The turns to start a process.
static STARTING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(STARTING_AT_ONCE);

/// How long a replica asked to stop may drain before it is killed.
const DRAIN_GRACE: Duration = Duration::from_secs(30);

/// Keeps one replica's process alive until told to stop.
pub async fn run_replica(function: Arc<Function>, replica: Arc<Replica>) {
    let mut stop = replica.stop_requested();
    let mut failures: u32 = 0;
    while !*stop.borrow() {
        let (port, metrics_port) = match (free_port(), free_port()) {
            (Ok(a), Ok(b)) => (a, b),
            _ => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        // Wait for a turn to start (or to be told to stop meanwhile).
        let mut turn = tokio::select! {
            permit = STARTING.acquire() => permit.ok(),
            _ = stop.changed() => continue,
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
        replica.set_pid(pid);
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
                    if started.elapsed() > STARTING_TURN {
                        drop(turn.take());
                    }
                    let healthy = probe(port).await;
                    let was_ready = replica.is_ready();
                    misses = if healthy { 0 } else { misses + 1 };
                    if healthy && !was_ready {
                        drop(turn.take());
                        function.set_ready(&replica, port, true);
                        health.reset_after(Duration::from_secs(1));
                    } else if was_ready && misses >= 3 {
                        function.set_ready(&replica, port, false);
                    }
                }
            }
        };
        function.set_ready(&replica, port, false);
        match exit {
            Some(status) => {
                replica.set_pid(0);
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
                terminate(&mut child, DRAIN_GRACE).await;
                replica.set_pid(0);
                tracing::info!(function = %function.name, replica = replica.id, "replica stopped");
            }
        }
    }
    replica.set_pid(0);
}

/// 100 ms, 200 ms, 400 ms … up to 5 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << failures.min(6))).min(Duration::from_secs(5))
}

/// Starts one replica's process: only the stack's environment and a few of ours.
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
        .stderr(std::process::Stdio::piped());
    dies_with_us(&mut command);
    command.spawn()
}

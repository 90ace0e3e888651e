//! Child processes for tests and load tools: spawned so that they die with the process
//! that started them, signalled through `nix`, watched through `/proc`.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// Spawns `command` (stdin closed) with the parent-death signal set to SIGKILL, so the
/// child dies with us even if we crash. The signal follows the spawning *thread*, so
/// every child is spawned from one thread that lives as long as the process.
pub fn spawn_owned(mut command: Command) -> Child {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::spawn(move || {
            use std::os::unix::process::CommandExt;
            for (mut command, reply) in rx {
                // SAFETY: between fork and exec the hook only calls prctl(2), which is
                // async-signal-safe, and allocates nothing.
                unsafe {
                    command.pre_exec(|| {
                        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(Into::into)
                    });
                }
                let _ = reply.send(command.spawn());
            }
        });
        Mutex::new(tx)
    });
    let (reply, result) = mpsc::channel();
    command.stdin(Stdio::null());
    spawner
        .lock()
        .unwrap()
        .send((command, reply))
        .expect("the spawning thread runs");
    result
        .recv()
        .expect("the spawning thread answers")
        .expect("the process starts")
}

/// Sends `signal` to `pid`; a process that is already gone is not an error here (as
/// with kill(1) in a script: the tests check what they expect to follow).
fn signal(pid: impl Into<i64>, signal: Signal) {
    if let Ok(pid) = i32::try_from(pid.into()) {
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

/// SIGKILL to `pid`.
pub fn sigkill(pid: impl Into<i64>) {
    signal(pid, Signal::SIGKILL);
}

/// SIGTERM to `pid`.
pub fn sigterm(pid: impl Into<i64>) {
    signal(pid, Signal::SIGTERM);
}

/// Whether `pid` runs; a zombie counts as gone (its state is read from /proc).
pub fn process_alive(pid: impl Into<i64>) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.into())) {
        Ok(stat) => stat.split_whitespace().nth(2).is_none_or(|s| s != "Z"),
        Err(_) => false,
    }
}

/// The embedded store's process, a child of `greyfaas up` (`parent`) running
/// `greyfaas store`: its pid and command line.
fn store_child(parent: i64) -> Option<(i64, Vec<String>)> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i64 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The fields after the command name, which is in parentheses: state, ppid, …
            let ppid: i64 = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            (ppid == parent && args.get(1).is_some_and(|a| a == "store")).then_some((pid, args))
        })
}

/// The embedded store's pid, if `greyfaas up` (`parent`) runs one now.
pub fn store_pid(parent: impl Into<i64>) -> Option<i64> {
    store_child(parent.into()).map(|(pid, _)| pid)
}

/// The embedded store's pid and the port it listens on (its `--port`).
pub fn store_process(parent: impl Into<i64>) -> Option<(i64, u16)> {
    let (pid, args) = store_child(parent.into())?;
    let port = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1)?.parse().ok())?;
    Some((pid, port))
}

/// Polls `check` every 100 ms until it holds or `limit` passes; then once more.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check()
}

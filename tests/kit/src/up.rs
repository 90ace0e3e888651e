//! `greyfaas up` as the tests and load tools run it: on a stack file, a free port and
//! its own data folder, waited for until it prints "greyfaas is up" (once every
//! function has a ready replica), then talked to through its gateway.

use crate::http::{client, free_port};
use crate::paths::{bin_dir, repo, scratch_dir};
use crate::process::{sigterm, spawn_owned};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How to start `greyfaas up`.
#[derive(Clone, Debug)]
pub struct Launch {
    /// Where greyfaas is, and the function binaries (`--no-build --bin-dir`) unless
    /// `build` is set.
    pub bin_dir: PathBuf,
    /// Let `greyfaas up` build the functions itself (no `--no-build`, no `--bin-dir`).
    pub build: bool,
    /// Environment variables to set (`Some`) or remove (`None`) for greyfaas.
    pub env: Vec<(String, Option<String>)>,
    /// The run's folder; the data goes to `data/` in it.
    pub dir: PathBuf,
    pub stack_file: PathBuf,
    /// More arguments for `greyfaas up`.
    pub args: Vec<String>,
    /// RUST_LOG for greyfaas and its functions.
    pub rust_log: String,
    /// How long it may take to be up.
    pub ready_within: Duration,
}

impl Launch {
    /// `greyfaas up -f stack_file` from `bin_dir`, data in `dir`, warnings logged, up
    /// within 60 s.
    pub fn new(bin_dir: &Path, dir: &Path, stack_file: &Path) -> Launch {
        Launch {
            bin_dir: bin_dir.to_path_buf(),
            build: false,
            env: Vec::new(),
            dir: dir.to_path_buf(),
            stack_file: stack_file.to_path_buf(),
            args: Vec::new(),
            rust_log: "warn".into(),
            ready_within: Duration::from_secs(60),
        }
    }

    pub fn args(mut self, args: &[&str]) -> Launch {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }
}

/// A running `greyfaas up`; killed (SIGKILL) on drop, [`Up::stop`] for a clean stop.
pub struct Up {
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub gateway: String,
    pub data_dir: PathBuf,
    pub dir: PathBuf,
    /// Every line it printed on stdout so far.
    pub stdout: Arc<Mutex<Vec<String>>>,
}

impl Up {
    /// Starts `greyfaas up` on the stack text `stack` (with `{repo}` replaced by the
    /// repository root) in a fresh folder, and waits until it is up.
    pub fn start(stack: &str, extra_args: &[&str]) -> Up {
        Up::start_in(scratch_dir("e2e"), stack, extra_args)
    }

    /// As [`Up::start`], in `dir`: reusing its data from an earlier run.
    pub fn start_in(dir: PathBuf, stack: &str, extra_args: &[&str]) -> Up {
        let stack_file = dir.join("stack.yml");
        let text = stack.replace("{repo}", &repo().display().to_string());
        std::fs::write(&stack_file, text).expect("the stack file is written");
        Up::launch_or_panic(Launch::new(&bin_dir(), &dir, &stack_file).args(extra_args))
    }

    /// Starts `greyfaas up -f stack_file` (handlers relative to it, as in the shipped
    /// stack.yml) with its data in a fresh folder.
    pub fn start_file(stack_file: &Path, extra_args: &[&str]) -> Up {
        let launch = Launch::new(&bin_dir(), &scratch_dir("e2e"), stack_file).args(extra_args);
        Up::launch_or_panic(launch)
    }

    fn launch_or_panic(launch: Launch) -> Up {
        Up::launch(&launch).unwrap_or_else(|e| panic!("greyfaas up: {e}"))
    }

    /// Starts `greyfaas up` as `launch` says and waits until it is up.
    ///
    /// The port is chosen before greyfaas binds it; meanwhile another greyfaas may take
    /// it for a replica or store (its stderr then says "cannot listen"). An exit before
    /// "greyfaas is up" is tried again on a new port; a real start-up failure fails all
    /// three times.
    pub fn launch(launch: &Launch) -> std::io::Result<Up> {
        std::fs::create_dir_all(&launch.dir)?;
        for attempt in 1..=3 {
            let data_dir = launch.dir.join("data");
            let port = free_port();
            let mut command = Command::new(launch.bin_dir.join("greyfaas"));
            command
                .args(["up", "-f"])
                .arg(&launch.stack_file)
                .args(["--port", &port.to_string(), "--data-dir"])
                .arg(&data_dir);
            if !launch.build {
                command
                    .arg("--no-build")
                    .arg("--bin-dir")
                    .arg(&launch.bin_dir);
            }
            for (key, value) in &launch.env {
                match value {
                    Some(value) => command.env(key, value),
                    None => command.env_remove(key),
                };
            }
            command
                .args(&launch.args)
                .env("RUST_LOG", &launch.rust_log)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            let child = spawn_owned(command);
            let mut up = Up {
                child,
                gateway: format!("http://127.0.0.1:{port}"),
                data_dir,
                dir: launch.dir.clone(),
                stdout: Arc::default(),
            };
            match up.wait_ready(launch.ready_within) {
                Ok(()) => return Ok(up),
                Err(mpsc::RecvTimeoutError::Disconnected) if attempt < 3 => {
                    eprintln!("greyfaas up exited before it was up (attempt {attempt}); again");
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(std::io::Error::other(
                        "it exited before it was up, three times",
                    ));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(std::io::Error::other(format!(
                        "not up within {:?}",
                        launch.ready_within
                    )));
                }
            }
        }
        unreachable!("the third attempt returns")
    }

    /// Waits for the "greyfaas is up" line; `Disconnected` if the process ended first.
    fn wait_ready(&mut self, limit: Duration) -> Result<(), mpsc::RecvTimeoutError> {
        let stdout = self.child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        let printed = self.stdout.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                printed.lock().unwrap().push(line.clone());
                if !sent && line.contains("greyfaas is up") {
                    let _ = tx.send(());
                    sent = true;
                }
            }
        });
        rx.recv_timeout(limit)
    }

    /// The admin password `greyfaas up` generated (faasd's basic-auth-password file).
    pub fn password(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("secrets/basic-auth-password"))
            .expect("greyfaas up wrote the admin password")
            .trim()
            .to_string()
    }

    /// The first printed line holding `needle` (waiting up to 10 s for it).
    pub fn printed(&self, needle: &str) -> String {
        let mut found = None;
        crate::eventually(Duration::from_secs(10), || {
            found = self
                .stdout
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
                .cloned();
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("greyfaas up printed no line with {needle:?}"))
    }

    /// `path` on the gateway.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends SIGTERM and returns the exit status (greyfaas drains, then exits).
    pub fn stop(mut self) -> ExitStatus {
        sigterm(self.pid());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("the child's status") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "greyfaas did not stop within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Requests to /system/* as faas-cli sends them after `faas-cli login`.
pub trait WithAdminAuth {
    fn with_admin_auth(self, up: &Up) -> Self;
}

impl WithAdminAuth for reqwest::blocking::RequestBuilder {
    fn with_admin_auth(self, up: &Up) -> Self {
        self.basic_auth("admin", Some(up.password()))
    }
}

/// `GET /system/function/<name>`, with the admin login.
pub fn function_status(up: &Up, name: &str) -> serde_json::Value {
    client()
        .get(up.url(&format!("/system/function/{name}")))
        .with_admin_auth(up)
        .send()
        .expect("the gateway answers")
        .json()
        .expect("a JSON status")
}

/// The process ids of a function's replicas, from its status (greyfaas's `pids`).
pub fn pids(status: &serde_json::Value) -> Vec<i64> {
    status["greyfaas"]["pids"]
        .as_array()
        .expect("greyfaas.pids in the status")
        .iter()
        .map(|p| p.as_i64().expect("a pid"))
        .collect()
}

//! What the end-to-end tests share: the corpus, a local web server for downloads and
//! callbacks, and `greyfaas up` started on free ports with a temporary data folder.
#![allow(dead_code)]

pub mod browser;

use openfaas_runtime::{Config, Request, Response, Server, body};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The shared corpus of real photos, beside the checkout.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
}

/// Every corpus image: (file name, bytes).
pub fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(corpus_dir())
        .expect("../shared/corpus must exist beside the checkout")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("jpg" | "png" | "gif" | "webp")
            )
        })
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 6,
        "the corpus has JPEG, PNG, GIF and WebP files"
    );
    files
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Grey means R=G=B everywhere (or a luma pixel type).
pub fn assert_grey(image: &image::DynamicImage, what: &str) {
    let rgba = image.to_rgba8();
    assert!(
        rgba.pixels().all(|p| p[0] == p[1] && p[1] == p[2]),
        "{what} is not greyscale"
    );
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A thread with its own runtime that lives as long as the test process: servers run
/// on it, and children spawned from it die with the process (PR_SET_PDEATHSIG follows
/// the spawning thread).
pub struct Background {
    runtime: tokio::runtime::Handle,
}

pub fn background() -> &'static Background {
    static BG: OnceLock<Background> = OnceLock::new();
    BG.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            tx.send(rt.handle().clone()).unwrap();
            rt.block_on(std::future::pending::<()>());
        });
        Background {
            runtime: rx.recv().unwrap(),
        }
    })
}

/// Callbacks received by the web server: (headers, body).
pub type Callbacks = Arc<Mutex<Vec<(http::HeaderMap, Vec<u8>)>>>;

/// The local web server images are downloaded from:
/// `/corpus/<file>`, `/notimage`, `/big` (3 MB), `/slow` (answers after 5 s),
/// `/redirect/<n>` (n hops, then the astronaut), `/to-internal` (a redirect to 127.0.0.2),
/// `/status/<code>`, `/delay/<ms>/<file>`, `/flaky/<key>/<n>` (503 n times, then an
/// image), and `POST /callback`.
pub struct WebServer {
    pub base: String,
    pub callbacks: Callbacks,
}

pub fn web_server() -> &'static WebServer {
    static WEB: OnceLock<WebServer> = OnceLock::new();
    WEB.get_or_init(|| {
        let callbacks: Callbacks = Arc::default();
        let recorded = callbacks.clone();
        let handler = move |req: Request| {
            let recorded = recorded.clone();
            async move { serve_test_content(req, recorded).await }
        };
        let config = Config {
            port: 0,
            metrics_port: 0,
            bind_address: [127, 0, 0, 1].into(),
            ..Config::default()
        };
        let running = background()
            .runtime
            .block_on(async { Server::new(config, handler).start().await.unwrap() });
        let base = format!("http://{}", running.addr);
        std::mem::forget(running); // serves until the test process exits
        WebServer { base, callbacks }
    })
}

async fn serve_test_content(req: Request, callbacks: Callbacks) -> Response {
    let path = req.uri().path().to_string();
    if path == "/callback" {
        let headers = req.headers().clone();
        let bytes = body::read(req.into_body(), 64 << 20)
            .await
            .unwrap_or_default();
        callbacks.lock().unwrap().push((headers, bytes.to_vec()));
        return body::text(http::StatusCode::OK, "thanks");
    }
    if let Some(file) = path.strip_prefix("/corpus/") {
        return match std::fs::read(corpus_dir().join(file)) {
            Ok(bytes) => body::with_type(http::StatusCode::OK, "application/octet-stream", bytes),
            Err(_) => body::text(http::StatusCode::NOT_FOUND, "no such file"),
        };
    }
    if let Some(file) = path.strip_prefix("/half/") {
        // The first half of a corpus file: a truncated image.
        return match std::fs::read(corpus_dir().join(file)) {
            Ok(bytes) => {
                let half = bytes[..bytes.len() / 2].to_vec();
                body::with_type(http::StatusCode::OK, "application/octet-stream", half)
            }
            Err(_) => body::text(http::StatusCode::NOT_FOUND, "no such file"),
        };
    }
    if let Some(n) = path.strip_prefix("/redirect/") {
        let n: u32 = n.parse().unwrap_or(0);
        let target = if n == 0 {
            "/corpus/small-png_astronaut_512x512.png".to_string()
        } else {
            format!("/redirect/{}", n - 1)
        };
        let mut response = body::text(http::StatusCode::FOUND, "");
        response
            .headers_mut()
            .insert(http::header::LOCATION, target.parse().unwrap());
        return response;
    }
    if path == "/to-internal" {
        // Another loopback address: allowed by no allow-list in the tests. The guard must
        // refuse it before connecting (and even a broken guard could only reach loopback).
        let mut response = body::text(http::StatusCode::FOUND, "");
        response.headers_mut().insert(
            http::header::LOCATION,
            "http://127.0.0.2/secret.png".parse().unwrap(),
        );
        return response;
    }
    if let Some(rest) = path.strip_prefix("/delay/") {
        // `/delay/<ms>/<corpus file>`: the file, after a pause.
        let (ms, file) = rest.split_once('/').unwrap_or(("0", rest));
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        return match std::fs::read(corpus_dir().join(file)) {
            Ok(bytes) => body::with_type(http::StatusCode::OK, "application/octet-stream", bytes),
            Err(_) => body::text(http::StatusCode::NOT_FOUND, "no such file"),
        };
    }
    if let Some(rest) = path.strip_prefix("/flaky/") {
        // `/flaky/<key>/<n>`: 503 for the first n requests with that key, then the
        // astronaut.
        static SEEN: OnceLock<Mutex<std::collections::HashMap<String, u32>>> = OnceLock::new();
        let (key, n) = rest.rsplit_once('/').unwrap_or((rest, "0"));
        let seen = {
            let mut map = SEEN.get_or_init(Mutex::default).lock().unwrap();
            let count = map.entry(key.to_string()).or_default();
            *count += 1;
            *count
        };
        if seen <= n.parse().unwrap_or(0) {
            return body::text(http::StatusCode::SERVICE_UNAVAILABLE, "not yet");
        }
        let bytes = std::fs::read(corpus_dir().join("small-png_astronaut_512x512.png")).unwrap();
        return body::with_type(http::StatusCode::OK, "application/octet-stream", bytes);
    }
    if let Some(code) = path.strip_prefix("/status/") {
        return body::text(
            http::StatusCode::from_u16(code.parse().unwrap_or(500)).unwrap(),
            "as asked",
        );
    }
    match path.as_str() {
        "/notimage" => body::with_type(
            http::StatusCode::OK,
            "image/png",
            "<html>this is not a PNG</html>",
        ),
        "/big" => {
            let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
            bytes.resize(3 << 20, 0);
            body::with_type(http::StatusCode::OK, "image/png", bytes)
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            body::text(http::StatusCode::OK, "too late")
        }
        _ => body::text(http::StatusCode::NOT_FOUND, "not here"),
    }
}

/// A client for the tests' calls (bounded: 60 s).
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// `GET /system/function/<name>`, with the admin credentials.
pub fn function_status(up: &Up, name: &str) -> serde_json::Value {
    client()
        .get(up.url(&format!("/system/function/{name}")))
        .with_admin_auth(up)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// The process ids of a function's replicas, from its status.
pub fn pids(status: &serde_json::Value) -> Vec<i32> {
    status["greyfaas"]["pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap() as i32)
        .collect()
}

/// The callbacks received so far for `call_id`.
pub fn callbacks_for(call_id: &str) -> Vec<(http::HeaderMap, Vec<u8>)> {
    web_server()
        .callbacks
        .lock()
        .unwrap()
        .iter()
        .filter(|(h, _)| h.get("x-call-id").is_some_and(|v| v == call_id))
        .cloned()
        .collect()
}

/// Spawns `command` from one thread that lives as long as the test process, with
/// PR_SET_PDEATHSIG: the child dies with the tests even if they crash (the signal
/// follows the spawning *thread*, so it must be one that never exits early).
pub fn spawn_owned(mut command: Command) -> Child {
    type Job = (Command, std::sync::mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<std::sync::mpsc::Sender<Job>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::spawn(move || {
            use std::os::unix::process::CommandExt;
            for (mut command, reply) in rx {
                // SAFETY: prctl only flags the new process.
                unsafe {
                    command.pre_exec(|| {
                        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                        Ok(())
                    });
                }
                let _ = reply.send(command.spawn());
            }
        });
        Mutex::new(tx)
    });
    let (reply, result) = std::sync::mpsc::channel();
    command.stdin(Stdio::null());
    spawner.lock().unwrap().send((command, reply)).unwrap();
    result.recv().unwrap().expect("the process starts")
}

/// Where cargo put this build's binaries (the function binaries sit beside greyfaas).
pub fn bin_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_greyfaas"))
        .parent()
        .unwrap()
        .to_path_buf();
    for f in ["fetch-incoming", "greyscale", "get-object", "gallery"] {
        assert!(
            dir.join(f).is_file(),
            "{} is missing: run `cargo build --workspace --bins` first",
            dir.join(f).display()
        );
    }
    dir
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A running `greyfaas up`.
pub struct Up {
    pub child: Child,
    pub gateway: String,
    pub data_dir: PathBuf,
    pub dir: PathBuf,
    /// Every line it printed on stdout so far.
    pub stdout: Arc<Mutex<Vec<String>>>,
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

impl Up {
    /// Starts `greyfaas up` on `stack` (with `{repo}` replaced) and waits until ready.
    pub fn start(stack: &str, extra_args: &[&str]) -> Up {
        let dir = std::env::temp_dir().join(format!(
            "greyfaas-e2e-{}-{}",
            std::process::id(),
            uuid_like()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Up::start_in(dir, stack, extra_args)
    }

    /// As [`Up::start`], reusing a folder (and its data) from an earlier run.
    pub fn start_in(dir: PathBuf, stack: &str, extra_args: &[&str]) -> Up {
        let stack_path = dir.join("stack.yml");
        std::fs::write(
            &stack_path,
            stack.replace("{repo}", &repo().display().to_string()),
        )
        .unwrap();
        Up::launch(dir, &stack_path, extra_args)
    }

    /// Starts `greyfaas up -f stack_path` with its data in a fresh temporary folder:
    /// for the repository's own stack.yml, handlers relative to it.
    pub fn start_file(stack_path: &Path, extra_args: &[&str]) -> Up {
        let dir = std::env::temp_dir().join(format!(
            "greyfaas-e2e-{}-{}",
            std::process::id(),
            uuid_like()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Up::launch(dir, stack_path, extra_args)
    }

    fn launch(dir: PathBuf, stack_path: &Path, extra_args: &[&str]) -> Up {
        // The port is chosen before greyfaas binds it; meanwhile another test's
        // greyfaas may take it for a replica or store (its stderr then says "cannot
        // listen"). An exit before "greyfaas is up" is tried again on a new port; a
        // real start-up failure fails all three times.
        for attempt in 1..=3 {
            let data_dir = dir.join("data");
            let port = free_port();
            let mut command = Command::new(env!("CARGO_BIN_EXE_greyfaas"));
            command
                .args(["up", "-f"])
                .arg(stack_path)
                .args(["--port", &port.to_string(), "--no-build", "--data-dir"])
                .arg(&data_dir)
                .arg("--bin-dir")
                .arg(bin_dir())
                .args(extra_args)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            let child = spawn_owned(command);
            let mut up = Up {
                child,
                gateway: format!("http://127.0.0.1:{port}"),
                data_dir,
                dir: dir.clone(),
                stdout: Arc::default(),
            };
            match up.wait_ready() {
                Ok(()) => return up,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) if attempt < 3 => {
                    eprintln!("greyfaas up exited before it was up (attempt {attempt}); again");
                }
                Err(e) => panic!("greyfaas up within 60 s: {e}"),
            }
        }
        unreachable!("the third attempt returns or panics")
    }

    /// Waits for the "greyfaas is up" line (printed once every function has a replica);
    /// `Disconnected` if the process ended first.
    fn wait_ready(&mut self) -> Result<(), std::sync::mpsc::RecvTimeoutError> {
        use std::io::BufRead;
        let stdout = self.child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
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
        rx.recv_timeout(Duration::from_secs(60))
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
        eventually(Duration::from_secs(10), || {
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

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends SIGTERM and returns the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
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

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// Polls `check` every 100 ms until it holds or `limit` passes.
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

pub fn process_alive(pid: i32) -> bool {
    // Zombies count as gone: read the state from /proc.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.split_whitespace().nth(2).is_none_or(|s| s != "Z"),
        Err(_) => false,
    }
}

/// The stack used by most tests: the three functions with small limits so error paths
/// are cheap to reach, plus two aliases of get-object for the scaling tests.
pub const STACK: &str = r#"
version: 1.0
provider:
  name: openfaas
functions:
  fetch-incoming:
    lang: rust-hyper
    handler: {repo}/functions/fetch-incoming
    image: greyfaas/fetch-incoming:test
    environment:
      max_bytes: 2500000
      fetch_timeout: 2s
      max_batch: 3
    annotations:
      greyfaas.idempotent: "true"
    secrets: [s3-access-key, s3-secret-key]
  greyscale:
    lang: rust-hyper
    handler: {repo}/functions/greyscale
    image: greyfaas/greyscale:test
    environment:
      max_pixels: 20000000
    annotations:
      greyfaas.idempotent: "true"
    secrets: [s3-access-key, s3-secret-key]
  get-object:
    lang: rust-hyper
    handler: {repo}/functions/get-object
    image: greyfaas/get-object:test
    labels:
      com.openfaas.scale.min: 2
      com.openfaas.scale.max: 3
    secrets: [s3-access-key, s3-secret-key]
"#;

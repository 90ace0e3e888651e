//! What the load tools share: the corpus, a local web server that serves it, starting
//! `greyfaas up`, and latency statistics. Every load loop here is bounded in count and
//! time, and sends traffic to loopback only.

use openfaas_runtime::{Config, Request, Response, Server, body};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The value after `--name` on the command line, or `default`.
pub fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

/// The repository root (bench/ is one level down).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// The shared photo corpus beside the checkout: (file name, bytes), sorted.
pub fn corpus(dir: &Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("jpg" | "png" | "gif" | "webp")
        ) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            files.push((name, std::fs::read(&path)?));
        }
    }
    files.sort();
    Ok(files)
}

/// Serves `/corpus/<file>` from `dir` on a loopback port; returns the base URL.
pub async fn serve_corpus(dir: PathBuf) -> std::io::Result<String> {
    let handler = move |req: Request| {
        let dir = dir.clone();
        async move { serve_file(&dir, &req) }
    };
    let config = Config {
        port: 0,
        metrics_port: 0,
        bind_address: [127, 0, 0, 1].into(),
        ..Config::default()
    };
    let running = Server::new(config, handler).start().await?;
    let base = format!("http://{}", running.addr);
    std::mem::forget(running); // serves for the life of the tool
    Ok(base)
}

fn serve_file(dir: &Path, req: &Request) -> Response {
    let name = req.uri().path().trim_start_matches("/corpus/");
    if name.contains('/') || name.contains("..") {
        return body::error(http::StatusCode::BAD_REQUEST, "bad name");
    }
    match std::fs::read(dir.join(name)) {
        Ok(bytes) => body::with_type(http::StatusCode::OK, "application/octet-stream", bytes),
        Err(_) => body::error(http::StatusCode::NOT_FOUND, "no such file"),
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A running `greyfaas up`, stopped with SIGTERM on drop.
pub struct Up {
    pub child: Child,
    pub gateway: String,
    pub data_dir: PathBuf,
}

impl Up {
    /// Starts `greyfaas` on the stack file at `stack` as it is, with its data in `dir`.
    pub fn start_file(
        bin_dir: &Path,
        dir: &Path,
        stack: &Path,
        extra: &[&str],
    ) -> std::io::Result<Up> {
        std::fs::create_dir_all(dir)?;
        let port = free_port();
        let data_dir = dir.join("data");
        let mut child = Command::new(bin_dir.join("greyfaas"))
            .args(["up", "--no-build", "--port", &port.to_string()])
            .arg("-f")
            .arg(stack)
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--bin-dir")
            .arg(bin_dir)
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if line.contains("greyfaas is up") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(120))
            .map_err(|_| std::io::Error::other("greyfaas up did not start in 120 s"))?;
        Ok(Up {
            child,
            gateway: format!("http://127.0.0.1:{port}"),
            data_dir,
        })
    }

    /// The admin password for /system/* (`<data-dir>/secrets/basic-auth-password`).
    pub fn password(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("secrets/basic-auth-password"))
            .map(|p| p.trim().to_string())
            .unwrap_or_default()
    }

    /// SIGTERM, then wait (bounded).
    pub fn stop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        for _ in 0..600 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// The `q`-quantile of sorted samples.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// A small xorshift generator: enough randomness to pick replicas and operations.
pub struct Rng(u64);

impl Rng {
    pub fn seeded() -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Rng(t | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

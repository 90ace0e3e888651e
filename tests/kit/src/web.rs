//! The loopback web server images are downloaded from and callbacks are sent to, built
//! on the functions' own runtime:
//!
//! - `/corpus/<file>`: a corpus file; `/half/<file>`: its first half (a truncated image);
//!   `/delay/<ms>/<file>`: the file after a pause;
//! - `/redirect/<n>`: n hops, then the astronaut; `/to-internal`: a redirect to 127.0.0.2;
//! - `/flaky/<key>/<n>`: 503 for the first n requests with that key, then the astronaut;
//! - `/status/<code>`, `/notimage`, `/big` (3 MB), `/slow` (answers after 5 s);
//! - `POST /callback`: recorded in [`WebServer::callbacks`].

use crate::paths::corpus_dir;
use http::StatusCode;
use openfaas_runtime::{Config, Request, Response, Server, body};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Callbacks received: (headers, body).
pub type Callbacks = Arc<Mutex<Vec<(http::HeaderMap, Vec<u8>)>>>;

const ASTRONAUT: &str = "small-png_astronaut_512x512.png";

/// A running web server; it serves until the process exits.
pub struct WebServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub callbacks: Callbacks,
}

impl WebServer {
    /// Serves the corpus files in `corpus` (and the rest above) on a loopback port.
    pub async fn start(corpus: PathBuf) -> std::io::Result<WebServer> {
        let content = Arc::new(Content {
            corpus,
            callbacks: Callbacks::default(),
            flaky: Mutex::default(),
        });
        let serving = content.clone();
        let handler = move |req: Request| {
            let content = serving.clone();
            async move { content.serve(req).await }
        };
        let config = Config {
            port: 0,
            metrics_port: 0,
            bind_address: [127, 0, 0, 1].into(),
            ..Config::default()
        };
        let running = Server::new(config, handler).start().await?;
        let base = format!("http://{}", running.addr);
        std::mem::forget(running); // serves until the process exits
        Ok(WebServer {
            base,
            callbacks: content.callbacks.clone(),
        })
    }

    /// The callbacks received so far for `call_id` (by their X-Call-Id).
    pub fn callbacks_for(&self, call_id: &str) -> Vec<(http::HeaderMap, Vec<u8>)> {
        self.callbacks
            .lock()
            .unwrap()
            .iter()
            .filter(|(h, _)| h.get("x-call-id").is_some_and(|v| v == call_id))
            .cloned()
            .collect()
    }
}

/// The tests' web server on the shared corpus, started on first use on a runtime of
/// its own (tests are synchronous).
pub fn web_server() -> &'static WebServer {
    static WEB: OnceLock<WebServer> = OnceLock::new();
    WEB.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let _ = tx.send(WebServer::start(corpus_dir()).await);
                std::future::pending::<()>().await
            });
        });
        rx.recv()
            .expect("the web server's thread answers")
            .expect("the web server starts")
    })
}

/// The callbacks the tests' web server received for `call_id`.
pub fn callbacks_for(call_id: &str) -> Vec<(http::HeaderMap, Vec<u8>)> {
    web_server().callbacks_for(call_id)
}

struct Content {
    corpus: PathBuf,
    callbacks: Callbacks,
    /// Requests seen per `/flaky/<key>`.
    flaky: Mutex<HashMap<String, u32>>,
}

impl Content {
    async fn serve(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        if path == "/callback" {
            let headers = req.headers().clone();
            let bytes = body::read(req.into_body(), 64 << 20)
                .await
                .unwrap_or_default();
            self.callbacks
                .lock()
                .unwrap()
                .push((headers, bytes.to_vec()));
            return body::text(StatusCode::OK, "thanks");
        }
        if let Some(file) = path.strip_prefix("/corpus/") {
            return self.file(file, |bytes| bytes);
        }
        if let Some(file) = path.strip_prefix("/half/") {
            return self.file(file, |mut bytes| {
                bytes.truncate(bytes.len() / 2);
                bytes
            });
        }
        if let Some(rest) = path.strip_prefix("/delay/") {
            let (ms, file) = rest.split_once('/').unwrap_or(("0", rest));
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
            return self.file(file, |bytes| bytes);
        }
        if let Some(n) = path.strip_prefix("/redirect/") {
            let target = match n.parse::<u32>().unwrap_or(0) {
                0 => format!("/corpus/{ASTRONAUT}"),
                n => format!("/redirect/{}", n - 1),
            };
            return redirect(&target);
        }
        if path == "/to-internal" {
            // Another loopback address: allowed by no allow-list in the tests. The guard
            // must refuse it before connecting (a broken guard could only reach loopback).
            return redirect("http://127.0.0.2/secret.png");
        }
        if let Some(rest) = path.strip_prefix("/flaky/") {
            let (key, n) = rest.rsplit_once('/').unwrap_or((rest, "0"));
            let seen = {
                let mut seen = self.flaky.lock().unwrap();
                let count = seen.entry(key.to_string()).or_default();
                *count += 1;
                *count
            };
            if seen <= n.parse().unwrap_or(0) {
                return body::text(StatusCode::SERVICE_UNAVAILABLE, "not yet");
            }
            return self.file(ASTRONAUT, |bytes| bytes);
        }
        if let Some(code) = path.strip_prefix("/status/") {
            let code = StatusCode::from_u16(code.parse().unwrap_or(500))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return body::text(code, "as asked");
        }
        match path.as_str() {
            "/notimage" => body::with_type(
                StatusCode::OK,
                "image/png",
                "<html>this is not a PNG</html>",
            ),
            "/big" => {
                let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
                bytes.resize(3 << 20, 0);
                body::with_type(StatusCode::OK, "image/png", bytes)
            }
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                body::text(StatusCode::OK, "too late")
            }
            _ => body::text(StatusCode::NOT_FOUND, "not here"),
        }
    }

    /// The corpus file `name`, through `shape`; names with a folder in them are refused.
    fn file(&self, name: &str, shape: impl FnOnce(Vec<u8>) -> Vec<u8>) -> Response {
        if name.contains('/') || name.contains("..") {
            return body::text(StatusCode::BAD_REQUEST, "bad name");
        }
        match std::fs::read(Path::new(&self.corpus).join(name)) {
            Ok(bytes) => body::with_type(StatusCode::OK, "application/octet-stream", shape(bytes)),
            Err(_) => body::text(StatusCode::NOT_FOUND, "no such file"),
        }
    }
}

fn redirect(location: &str) -> Response {
    let mut response = body::text(StatusCode::FOUND, "");
    if let Ok(value) = location.parse() {
        response.headers_mut().insert(http::header::LOCATION, value);
    }
    response
}

//! The chaos test's load: clients that fetch corpus images, convert them (by path and
//! posted) and read results back, each bounded by the run's length and a request cap,
//! recording every call's outcome.

use greyfaas_bench::Rng;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Calls one client makes at the most.
const MAX_CALLS: usize = 200_000;

/// One call's outcome: when it started and ended (since the run began) and its status
/// (0 = transport failure).
pub struct Outcome {
    pub start: Duration,
    pub end: Duration,
    pub status: u16,
}

/// What the clients share.
#[derive(Clone)]
pub struct Load {
    client: reqwest::Client,
    gateway: String,
    web: String,
    files: Arc<Vec<(String, Vec<u8>)>>,
    /// Files under 1 MiB, posted to greyscale.
    small: Arc<Vec<(String, Vec<u8>)>>,
    /// Every stored path seen, read back with get-object.
    known: Arc<Mutex<Vec<String>>>,
    /// Stored originals small enough to convert under load (see `convertible`).
    originals: Arc<Mutex<Vec<String>>>,
    pub outcomes: Arc<Mutex<Vec<Outcome>>>,
}

impl Load {
    /// Load on `gateway`, fetching `files` from the corpus server at `web`.
    pub fn new(gateway: &str, web: &str, files: &[(String, Vec<u8>)]) -> Load {
        Load {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("a client"),
            gateway: gateway.to_string(),
            web: web.to_string(),
            files: Arc::new(files.to_vec()),
            small: Arc::new(
                files
                    .iter()
                    .filter(|(_, b)| b.len() < 1 << 20)
                    .cloned()
                    .collect(),
            ),
            known: Arc::default(),
            originals: Arc::default(),
            outcomes: Arc::default(),
        }
    }

    /// Starts `concurrency` clients that call until `duration` after `began`.
    pub fn start(
        &self,
        concurrency: usize,
        began: Instant,
        duration: Duration,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        (0..concurrency)
            .map(|worker| {
                let load = self.clone();
                tokio::spawn(async move {
                    let mut rng = Rng::seeded();
                    for i in 0..MAX_CALLS {
                        if began.elapsed() >= duration {
                            break;
                        }
                        let start = began.elapsed();
                        // Each client takes the four kinds of call in turn.
                        let Some(status) = load.call((i + worker) % 4, &mut rng).await else {
                            continue;
                        };
                        load.outcomes.lock().unwrap().push(Outcome {
                            start,
                            end: began.elapsed(),
                            status,
                        });
                    }
                })
            })
            .collect()
    }

    /// One call of kind `op`; `None` when there is nothing stored yet to call it on.
    async fn call(&self, op: usize, rng: &mut Rng) -> Option<u16> {
        let gateway = &self.gateway;
        match op {
            0 => {
                let (name, _) = &self.files[rng.below(self.files.len())];
                let response = self
                    .client
                    .post(format!("{gateway}/function/fetch-incoming"))
                    .json(&json!({"url": format!("{}/corpus/{name}", self.web)}))
                    .send()
                    .await;
                let (status, path) = self.remember(response).await;
                if let Some(path) = path.filter(|_| convertible(name)) {
                    let mut originals = self.originals.lock().unwrap();
                    if !originals.contains(&path) {
                        originals.push(path);
                    }
                }
                Some(status)
            }
            1 => {
                let path = pick(&self.originals, rng)?;
                let response = self
                    .client
                    .post(format!("{gateway}/function/greyscale"))
                    .json(&json!({"path": path}))
                    .send()
                    .await;
                Some(self.remember(response).await.0)
            }
            2 => {
                let (name, bytes) = &self.small[rng.below(self.small.len())];
                let mime = if name.ends_with(".gif") {
                    "image/gif"
                } else if name.ends_with(".png") {
                    "image/png"
                } else {
                    "application/octet-stream"
                };
                let response = self
                    .client
                    .post(format!("{gateway}/function/greyscale"))
                    .header("content-type", mime)
                    .body(bytes.clone())
                    .send()
                    .await;
                Some(status_of(response).await)
            }
            _ => {
                let path = pick(&self.known, rng)?;
                let response = self
                    .client
                    .get(format!("{gateway}/function/get-object{path}"))
                    .send()
                    .await;
                Some(status_of(response).await)
            }
        }
    }

    /// Status of a JSON-answering call and the `path` it returned, remembered in `known`.
    async fn remember(
        &self,
        response: reqwest::Result<reqwest::Response>,
    ) -> (u16, Option<String>) {
        let Ok(response) = response else {
            return (0, None);
        };
        let status = response.status().as_u16();
        let path = match response.json::<Value>().await {
            Ok(json) => json["path"].as_str().map(str::to_owned),
            Err(_) => None,
        };
        if let Some(path) = &path {
            let mut known = self.known.lock().unwrap();
            if !known.contains(path) {
                known.push(path.clone());
            }
        }
        (status, path)
    }
}

/// A call's status once its body is read (0 when it failed on the way).
async fn status_of(response: reqwest::Result<reqwest::Response>) -> u16 {
    match response {
        Ok(response) => {
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            status
        }
        Err(_) => 0,
    }
}

/// A random entry of `paths`, if there is one.
fn pick(paths: &Mutex<Vec<String>>, rng: &mut Rng) -> Option<String> {
    let paths = paths.lock().unwrap();
    (!paths.is_empty()).then(|| paths[rng.below(paths.len())].clone())
}

/// Whether a corpus image (named `…_<W>x<H>.<ext>`) is converted by path under load:
/// up to 4 MP. The stack converts one image at a time per replica (max_conversions) and
/// a 16 MP one takes seconds on a debug build, so larger ones would turn this test of
/// killed replicas into one of conversion queueing (429 after conversion_wait, by
/// design). They are still fetched, stored, read back and verified.
fn convertible(name: &str) -> bool {
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    let size = stem.rsplit('_').next().unwrap_or_default();
    match size.split_once('x') {
        Some((w, h)) => match (w.parse::<u64>(), h.parse::<u64>()) {
            (Ok(w), Ok(h)) => w * h <= 4_000_000,
            _ => false,
        },
        None => false,
    }
}

//! Async invocations: a bounded queue (full → 429) drained by a small worker pool; each
//! result is POSTed to the call's `X-Callback-Url`, like OpenFaaS's queue-worker.

use crate::gateway::Gateway;
use crate::supervisor::Function;
use bytes::Bytes;
use http::{HeaderMap, Method};
use openfaas_runtime::{CALL_ID, body};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Mutex, mpsc};

/// One queued call.
pub struct AsyncJob {
    pub function: Arc<Function>,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub callback: Option<http::Uri>,
}

/// The queue's sending side, shared by the gateway.
pub struct Queue {
    sender: mpsc::Sender<AsyncJob>,
    receiver: Arc<Mutex<mpsc::Receiver<AsyncJob>>>,
    depth: Arc<AtomicUsize>,
    capacity: usize,
}

impl Queue {
    pub fn new(capacity: usize) -> Queue {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        Queue {
            sender,
            receiver: Arc::new(Mutex::new(receiver)),
            depth: Arc::new(AtomicUsize::new(0)),
            capacity,
        }
    }

    /// Queues a job; `Err(())` when the queue is full.
    pub fn push(&self, job: AsyncJob) -> Result<(), ()> {
        self.sender.try_send(job).map_err(|_| ())?;
        self.depth.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::SeqCst)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Starts `workers` tasks that run queued calls (always as POST, like the CE queue-worker).
pub fn start_workers(gateway: Arc<Gateway>, workers: usize) {
    for _ in 0..workers.max(1) {
        let gateway = gateway.clone();
        tokio::spawn(async move {
            loop {
                let job = {
                    let mut receiver = gateway.queue.receiver.lock().await;
                    receiver.recv().await
                };
                let Some(job) = job else { return };
                gateway.queue.depth.fetch_sub(1, Ordering::SeqCst);
                let call_id = job
                    .headers
                    .get(CALL_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let mut request = http::Request::new(body::full(job.body));
                *request.method_mut() = Method::POST;
                *request.headers_mut() = job.headers;
                let started = std::time::Instant::now();
                let response = gateway
                    .invoke(&job.function, job.path_and_query, request)
                    .await;
                let took = started.elapsed();
                tracing::info!(function = %job.function.name, call_id, status = response.status().as_u16(), "async call done");
                match &job.callback {
                    Some(callback) => {
                        gateway
                            .deliver(callback, &job.function.name, &call_id, response, took)
                            .await
                    }
                    None => drop(body::read(response.into_body(), 64 << 20).await),
                }
            }
        });
    }
}

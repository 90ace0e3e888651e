//! The workers that run queued calls: each call goes through the gateway's own proxy
//! (as the queue-worker does with `gateway_invoke=true`), always as POST (as the CE
//! queue-worker sends it), with the headers it was queued with. A status in the retry
//! list puts it back to wait (doubling, up to the policy's limit); any other ends it,
//! and its result is posted to the callback URL (transient callback failures are tried
//! again a few times). A call is marked finished on disk only after that, so a crash
//! in between runs it again: at least once.

use super::Queue;
use super::callback::{CallbackError, callback_headers};
use super::journal::{Finished, Job};
use super::{Phase, now_ms};
use crate::function::Functions;
use crate::proxy::Proxy;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use openfaas_runtime::body;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Answers larger than this are cut before they are posted to the callback.
const RESULT_LIMIT: u64 = 64 << 20;
/// Attempts at delivering one callback.
const CALLBACK_ATTEMPTS: u32 = 3;

/// What the workers run calls with: the queue they take them from, and the way to the
/// functions (the gateway's own proxy).
#[derive(Clone)]
pub struct Workers {
    pub queue: Arc<Queue>,
    pub functions: Arc<Functions>,
    pub proxy: Arc<Proxy>,
}

impl Workers {
    /// Starts `count` tasks that run queued calls.
    pub fn start(self, count: usize) {
        for _ in 0..count.max(1) {
            let workers = self.clone();
            tokio::spawn(async move {
                loop {
                    let Some((job, attempts)) = workers.queue.next().await else {
                        return;
                    };
                    workers.set_queue_depth();
                    workers.run(job, attempts + 1).await;
                    workers.queue.running.fetch_sub(1, Ordering::SeqCst);
                }
            });
        }
    }

    fn set_queue_depth(&self) {
        self.proxy.metrics.set_queue_depth(self.queue.depth());
    }

    /// Runs attempt `attempt` of a call.
    async fn run(&self, job: Arc<Job>, attempt: u32) {
        let queue = &self.queue;
        queue.update(&job.call_id, |s| {
            s.phase = Phase::Running;
            s.attempts = attempt;
        });
        let started = Instant::now();
        let response = match self.functions.resolve(&job.function) {
            Ok((function, _)) => {
                self.proxy
                    .invoke(&function, job.path_and_query.clone(), request(&job))
                    .await
            }
            Err(e) => e.into_response(),
        };
        let status = response.status().as_u16();
        let (head, body) = response.into_parts();
        let bytes = body::read(body, RESULT_LIMIT).await.unwrap_or_default();
        let took = started.elapsed();
        queue.update(&job.call_id, |s| s.last_status = Some(status));
        let policy = &queue.retry;
        if policy.codes.contains(&status) && attempt < policy.max_attempts {
            let wait = policy.wait_after(attempt);
            tracing::warn!(function = %job.function, call_id = %job.call_id, status, attempt, retry_in_ms = wait.as_millis() as u64, "async call to try again later");
            queue.retry_later(job, attempt, wait);
            return;
        }
        tracing::info!(function = %job.function, call_id = %job.call_id, status, attempt, "async call done");
        let (callback_status, callback_error) = match &job.callback_url {
            None => (None, None),
            Some(url) => {
                let headers =
                    callback_headers(head.headers, status, &job.function, &job.call_id, took);
                match deliver(queue, url, headers, bytes).await {
                    Ok(code) => {
                        tracing::info!(function = %job.function, call_id = %job.call_id, callback = %url, status = code, "callback delivered");
                        (Some(code), None)
                    }
                    Err(e) => {
                        tracing::warn!(function = %job.function, call_id = %job.call_id, error = %e, "callback not delivered");
                        (None, Some(e.to_string()))
                    }
                }
            }
        };
        queue
            .finish(Finished {
                seq: job.seq,
                call_id: job.call_id.clone(),
                function: job.function.clone(),
                accepted_at_ms: job.accepted_at_ms,
                finished_at_ms: now_ms(),
                attempts: attempt,
                function_status: status,
                callback_url: job.callback_url.clone(),
                callback_status,
                callback_error,
            })
            .await;
        self.set_queue_depth();
    }
}

/// The queued request, as the worker sends it.
fn request(job: &Job) -> openfaas_runtime::Request {
    let mut request = http::Request::new(body::full(Bytes::from(job.body.clone())));
    *request.method_mut() = Method::POST;
    let headers: &mut HeaderMap = request.headers_mut();
    for (name, value) in &job.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    request
}

/// Posts a result, trying again (1 s, then 2 s later) when the receiver failed or
/// answered 429/5xx.
async fn deliver(
    queue: &Queue,
    url: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Result<u16, CallbackError> {
    let mut attempt = 1;
    loop {
        let result = queue
            .callbacks
            .post(url, headers.clone(), body.clone())
            .await;
        let again = match &result {
            Ok(code) => *code == 429 || *code >= 500,
            Err(e) => e.is_transient(),
        };
        if !again || attempt >= CALLBACK_ATTEMPTS {
            return result;
        }
        tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
        attempt += 1;
    }
}

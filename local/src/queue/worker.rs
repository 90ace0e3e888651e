//! The workers that run queued calls: each call goes through the gateway's own proxy
//! (as the queue-worker does with `gateway_invoke=true`), always as POST (as the CE
//! queue-worker sends it), with the headers it was queued with and its body read back
//! from disk. A status in the retry list puts it back to wait (doubling, up to the
//! policy's limit); any other ends it, and its result is posted to the callback URL
//! (transient callback failures are tried again a few times). A call is marked finished
//! on disk only after that, so a crash in between runs it again: at least once.
//!
//! Callbacks are delivered apart from the workers, at most `--callback-concurrency` at a
//! time: a receiver that takes its 3 × 30 s holds a delivery slot, not a worker, so it
//! delays no other call's run (a worker waits only when every slot is taken, which
//! also bounds the results held in memory to slots × 64 MiB).
//!
//! An answer that cannot be passed on (over 64 MiB, or cut short) is not sent as an
//! empty body: the call's status records why (`resultError`), and the callback is told
//! as the queue-worker tells it of a call it could not get a result for —
//! `X-Function-Status: 503` and none of the function's headers — with the reason in
//! `X-Function-Error` and a JSON error body.

use super::Queue;
use super::callback::{CallbackError, callback_headers};
use super::journal::{Finished, Job};
use super::{Phase, now_ms};
use crate::function::Functions;
use crate::proxy::Proxy;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use openfaas_runtime::body::{self, BodyError};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Answers larger than this are not passed on to the callback (an error is, instead).
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

/// A function's answer, as the callback gets it.
struct Outcome {
    /// The function's status (recorded in the call's status).
    status: u16,
    headers: HeaderMap,
    body: Bytes,
    /// Why the answer is not passed on, when it is not.
    result_error: Option<String>,
    took: Duration,
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
        let response = match (self.functions.resolve(&job.function), queue.body(&job)) {
            (Ok((function, _)), Ok(body)) => {
                self.proxy
                    .invoke(&function, job.path_and_query.clone(), request(&job, body))
                    .await
            }
            (Err(e), _) => e.into_response(),
            (_, Err(e)) => crate::error::GatewayError::Internal(format!(
                "the queued body of call {} cannot be read: {e}",
                job.call_id
            ))
            .into_response(),
        };
        let status = response.status().as_u16();
        let (head, body) = response.into_parts();
        let (body, result_error) = read_result(body).await;
        let outcome = Outcome {
            status,
            headers: head.headers,
            body,
            result_error,
            took: started.elapsed(),
        };
        queue.update(&job.call_id, |s| s.last_status = Some(status));
        let policy = &queue.retry;
        if policy.codes.contains(&status) && attempt < policy.max_attempts {
            let wait = policy.wait_after(attempt);
            tracing::warn!(function = %job.function, call_id = %job.call_id, status, attempt, retry_in_ms = wait.as_millis() as u64, "async call to try again later");
            queue.retry_later(job, attempt, wait);
            return;
        }
        match &outcome.result_error {
            None => {
                tracing::info!(function = %job.function, call_id = %job.call_id, status, attempt, "async call done")
            }
            Some(e) => {
                tracing::warn!(function = %job.function, call_id = %job.call_id, status, attempt, error = %e, "async call done, its answer not passed on")
            }
        }
        if job.callback_url.is_none() {
            self.complete(&job, attempt, outcome, (None, None)).await;
            return;
        }
        // A delivery slot before the worker moves on: all taken means receivers are
        // slow, and waiting here is what bounds the results held for them.
        let Ok(slot) = queue.callback_slots.clone().acquire_owned().await else {
            return;
        };
        // Counted as work under way until delivered (settle() waits for it).
        queue.running.fetch_add(1, Ordering::SeqCst);
        let workers = self.clone();
        tokio::spawn(async move {
            let delivered = workers.call_back(&job, &outcome).await;
            workers.complete(&job, attempt, outcome, delivered).await;
            drop(slot);
            workers.queue.running.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Posts a call's outcome to its callback URL: (the callback's status, why it was
    /// not delivered).
    async fn call_back(&self, job: &Job, outcome: &Outcome) -> (Option<u16>, Option<String>) {
        let Some(url) = &job.callback_url else {
            return (None, None);
        };
        let (headers, body) = match &outcome.result_error {
            None => (
                callback_headers(
                    outcome.headers.clone(),
                    outcome.status,
                    &job.function,
                    &job.call_id,
                    outcome.took,
                ),
                outcome.body.clone(),
            ),
            Some(error) => error_callback(job, outcome.took, error),
        };
        match deliver(&self.queue, url, headers, body).await {
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

    /// Records a call as finished.
    async fn complete(
        &self,
        job: &Job,
        attempt: u32,
        outcome: Outcome,
        (callback_status, callback_error): (Option<u16>, Option<String>),
    ) {
        self.queue
            .finish(Finished {
                seq: job.seq,
                call_id: job.call_id.clone(),
                function: job.function.clone(),
                accepted_at_ms: job.accepted_at_ms,
                finished_at_ms: now_ms(),
                attempts: attempt,
                function_status: outcome.status,
                result_error: outcome.result_error,
                callback_url: job.callback_url.clone(),
                callback_status,
                callback_error,
            })
            .await;
        self.set_queue_depth();
    }
}

/// A function's answer, whole: or, when it is over [`RESULT_LIMIT`] or cut short, none
/// and why (never an empty body in its place).
async fn read_result(body: openfaas_runtime::Body) -> (Bytes, Option<String>) {
    match body::read(body, RESULT_LIMIT).await {
        Ok(bytes) => (bytes, None),
        Err(BodyError::TooLarge { limit }) => (
            Bytes::new(),
            Some(format!(
                "the function's answer is larger than the async result limit ({} MiB): not passed on",
                limit >> 20
            )),
        ),
        Err(e) => (
            Bytes::new(),
            Some(format!(
                "the function's answer was cut short ({e}): not passed on"
            )),
        ),
    }
}

/// The callback of a call whose answer cannot be passed on: the queue-worker's headers
/// for a call it got no result for (503, none of the function's), the reason in
/// `X-Function-Error`, and a JSON error body.
fn error_callback(job: &Job, took: Duration, error: &str) -> (HeaderMap, Bytes) {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(error) {
        headers.insert("x-function-error", v);
    }
    let headers = callback_headers(
        headers,
        StatusCode::SERVICE_UNAVAILABLE.as_u16(),
        &job.function,
        &job.call_id,
        took,
    );
    let body = serde_json::to_vec(&serde_json::json!({ "error": error })).unwrap_or_default();
    (headers, body.into())
}

/// The queued request, as the worker sends it.
fn request(job: &Job, body: Vec<u8>) -> openfaas_runtime::Request {
    let mut request = http::Request::new(body::full(Bytes::from(body)));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_over_the_limit_is_an_error_not_an_empty_body() {
        let (body, error) = read_result(body::full(vec![7u8; 1000])).await;
        assert_eq!((body.len(), error), (1000, None));
        let over = vec![0u8; RESULT_LIMIT as usize + 1];
        let (body, error) = read_result(body::full(over)).await;
        assert!(body.is_empty());
        let error = error.expect("an error, not an empty result");
        assert!(error.contains("64 MiB"), "{error}");

        let job = Job {
            seq: 1,
            call_id: "id-1".into(),
            function: "get-object".into(),
            path_and_query: "/".into(),
            headers: Vec::new(),
            body_len: 0,
            callback_url: Some("http://example.com/hook".into()),
            accepted_at_ms: 1,
        };
        let (headers, body) = error_callback(&job, Duration::from_secs(1), &error);
        assert_eq!(headers["x-function-status"], "503");
        assert_eq!(headers["x-call-id"], "id-1");
        assert_eq!(headers["x-function-error"], error.as_str());
        assert_eq!(headers["content-type"], "application/json");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"], error.as_str());
    }
}

//! The per-request part of the OpenFaaS contract: health and readiness, `max_inflight`,
//! body limits and timeouts, `exec_timeout`, the call id, panics caught, logs and metrics.

use crate::body::{self, BoxError};
use crate::metrics::Metrics;
use crate::timeout::DeadlineBody;
use crate::{CALL_ID, Config, Handler, Response};
use futures_util::FutureExt;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tracing::Instrument;

/// What every connection of one server shares.
pub(crate) struct Contract<H> {
    pub(crate) handler: H,
    pub(crate) config: Config,
    pub(crate) draining: AtomicBool,
    pub(crate) metrics: Metrics,
    inflight: Option<Arc<Semaphore>>,
}

impl<H: Handler> Contract<H> {
    pub(crate) fn new(config: Config, handler: H) -> Contract<H> {
        let inflight =
            (config.max_inflight > 0).then(|| Arc::new(Semaphore::new(config.max_inflight)));
        Contract {
            handler,
            config,
            draining: AtomicBool::new(false),
            metrics: Metrics::new(),
            inflight,
        }
    }

    /// Answers one request; never fails, never panics outward.
    pub(crate) async fn serve(&self, mut req: hyper::Request<hyper::body::Incoming>) -> Response {
        match req.uri().path() {
            "/_/health" => return self.health(req.method()),
            "/_/ready" => return self.ready(req.method()),
            _ => {}
        }
        let started = Instant::now();
        let call_id = req
            .headers()
            .get(CALL_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 128)
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        // The handler sees the id too, so calls it makes to other functions carry it on.
        if let Ok(v) = HeaderValue::from_str(&call_id) {
            req.headers_mut().insert(CALL_ID, v);
        }
        let method = req.method().clone();
        let span = tracing::info_span!("request", call_id = %call_id, method = %method, path = %req.uri().path());
        let mut response = self.dispatch(req).instrument(span.clone()).await;

        let took = started.elapsed();
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&call_id) {
            headers.insert(CALL_ID, v);
        }
        // A handler's own timing stands: a gateway served by this runtime passes on
        // the function's X-Duration-Seconds, as the OpenFaaS gateway does.
        if !headers.contains_key("x-duration-seconds")
            && let Ok(v) = HeaderValue::from_str(&format!("{:.6}", took.as_secs_f64()))
        {
            headers.insert("x-duration-seconds", v);
        }
        self.metrics.observe(&method, response.status(), took);
        span.in_scope(|| {
            tracing::info!(
                status = response.status().as_u16(),
                ms = took.as_millis() as u64,
                "handled"
            )
        });
        response.map(|b| DeadlineBody::total(b, self.config.write_timeout).boxed_unsync())
    }

    async fn dispatch(&self, req: hyper::Request<hyper::body::Incoming>) -> Response {
        let _permit = match &self.inflight {
            None => None,
            Some(slots) => match slots.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    let mut r = body::error(
                        StatusCode::TOO_MANY_REQUESTS,
                        format!(
                            "Concurrent request limit exceeded. Max concurrent requests: {}",
                            self.config.max_inflight
                        ),
                    );
                    r.headers_mut().insert(
                        "x-openfaas-internal",
                        HeaderValue::from_static("rust-hyper"),
                    );
                    return r;
                }
            },
        };
        let _counted = InFlight::count(&self.metrics.in_flight);
        self.run_handler(req).await
    }

    async fn run_handler(&self, req: hyper::Request<hyper::body::Incoming>) -> Response {
        let limit = self.config.max_request_bytes;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return body::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is larger than {limit} bytes"),
            );
        }
        let exec_timeout = shortest(self.config.exec_timeout, requested_timeout(req.headers()));
        let read_timeout = self.config.read_timeout;
        let req = req.map(|incoming| {
            // Beneath the limits, so a refused or unread body is still drained.
            let limited = http_body_util::Limited::new(
                crate::unread::DrainOnDrop::new(incoming, read_timeout),
                usize::try_from(limit).unwrap_or(usize::MAX),
            );
            DeadlineBody::idle(limited.map_err(|e| -> BoxError { e }), read_timeout).boxed_unsync()
        });

        // Boxed: handler futures can be deep, and unboxed they make every function's
        // server future one enormous type.
        let work = AssertUnwindSafe(Box::pin(self.handler.call(req))).catch_unwind();
        let outcome = match exec_timeout {
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    tracing::warn!(limit_ms = limit.as_millis() as u64, "exec_timeout reached");
                    return body::error(
                        StatusCode::GATEWAY_TIMEOUT,
                        format!("function timed out after {limit:?}"),
                    );
                }
            },
            None => work.await,
        };
        outcome.unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %message, "handler panicked");
            body::error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        })
    }

    /// `/_/health`: 200 while serving, 503 once draining (like of-watchdog).
    fn health(&self, method: &Method) -> Response {
        if method != Method::GET && method != Method::HEAD {
            return body::error(StatusCode::METHOD_NOT_ALLOWED, "use GET");
        }
        if self.draining.load(Ordering::SeqCst) {
            body::text(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
        } else {
            body::text(StatusCode::OK, "OK\n")
        }
    }

    /// `/_/ready`: as health, and 429 while every `max_inflight` slot is taken.
    fn ready(&self, method: &Method) -> Response {
        let health = self.health(method);
        if health.status() != StatusCode::OK {
            return health;
        }
        match &self.inflight {
            Some(slots) if slots.available_permits() == 0 => {
                body::text(StatusCode::TOO_MANY_REQUESTS, "busy\n")
            }
            _ => health,
        }
    }
}

/// `X-Timeout` may shorten, never extend, `exec_timeout` (as in of-watchdog).
fn requested_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let text = headers.get("x-timeout")?.to_str().ok()?;
    crate::parse_duration(text).ok().filter(|d| !d.is_zero())
}

fn shortest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Counts one call in `http_requests_in_flight` for as long as it lives. It is dropped
/// with the request's future, so a client that goes away mid-call is uncounted too.
struct InFlight<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl<'a> InFlight<'a> {
    fn count(gauge: &'a prometheus_client::metrics::gauge::Gauge) -> InFlight<'a> {
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

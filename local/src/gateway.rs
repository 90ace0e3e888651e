//! The OpenFaaS gateway API on loopback: `/function/<name>[.<ns>]/…` proxied to a ready
//! replica with bodies streamed both ways, `/async-function/…`, `/ui/` (the gallery
//! function), `/system/*`, `/healthz` and `/metrics`. It is served by the template's own
//! runtime, so it drains, logs and carries call ids exactly as the functions do.

use crate::error::GatewayError;
use crate::function::Functions;
use crate::proxy::Proxy;
use crate::queue::Queue;
use crate::queue::journal::Job;
use crate::request_guard::{self, HostAllowlist};
use crate::system::System;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use openfaas_runtime::{CALL_ID, HttpError, Request, Response, body};
use std::sync::Arc;

/// The function the gateway's `/ui/` serves (as OpenFaaS serves its portal there).
pub const UI_FUNCTION: &str = "gallery";

/// The largest body an async call may queue.
const ASYNC_BODY_LIMIT: u64 = 16 << 20;

/// The gateway's shared state: what each route hands its requests to.
pub struct Gateway {
    pub functions: Arc<Functions>,
    /// `/function/*` and the queue's calls.
    pub proxy: Arc<Proxy>,
    /// `/async-function/*`.
    pub queue: Arc<Queue>,
    /// `/system/*`.
    pub system: System,
    /// Basic auth on /system/*: on unless `greyfaas up --no-basic-auth`.
    pub basic_auth: Option<crate::auth::Credentials>,
    /// The Host names answered (loopback and `--public-host`).
    pub hosts: HostAllowlist,
}

/// `301` to `location`: `/ui` becomes `/ui/`, so the page's relative calls resolve.
fn redirect(location: &'static str) -> Response {
    let mut response = body::empty_with(StatusCode::MOVED_PERMANENTLY);
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    response
}

impl Gateway {
    /// Routes one request.
    pub async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        let result = if let Err(e) = self.hosts.check(req.headers(), req.uri()) {
            Err(e)
        } else if let Some(rest) = path.strip_prefix("/function/") {
            self.invoke_route(rest, req).await
        } else if let Some(rest) = path.strip_prefix("/ui/") {
            // The same function and code path as /function/gallery/.
            self.invoke_route(&format!("{UI_FUNCTION}/{rest}"), req)
                .await
        } else if path == "/ui" {
            Ok(redirect("/ui/"))
        } else if let Some(rest) = path.strip_prefix("/async-function/") {
            self.enqueue(rest, req).await
        } else if path.starts_with("/system/") {
            // Cross-site first: a page elsewhere learns nothing, not even whether the
            // browser's credentials would have been good.
            match request_guard::check_same_origin(req.headers())
                .and_then(|()| self.check_auth(req.headers()))
                .and_then(|()| request_guard::check_json_body(req.method(), req.headers()))
            {
                Ok(()) => self.system.route(req).await,
                Err(e) => Err(e),
            }
        } else {
            match (req.method(), path.as_str()) {
                (&Method::GET, "/healthz") => Ok(body::text(StatusCode::OK, "OK")),
                (&Method::GET, "/metrics") => Ok(self.render_metrics()),
                _ => Err(GatewayError::NoRoute(path)),
            }
        };
        result.unwrap_or_else(GatewayError::into_response)
    }

    async fn invoke_route(&self, route: &str, req: Request) -> Result<Response, GatewayError> {
        let (function, rest) = self.functions.resolve(route)?;
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest,
        };
        // When the gateway received the call (a queued call keeps its own).
        let mut req = req;
        req.headers_mut()
            .insert("x-start-time", crate::proxy::start_time_header());
        Ok(self.proxy.invoke(&function, path_and_query, req).await)
    }

    /// `POST /async-function/NAME[/rest]`: 202 once the call is on disk; it runs
    /// from the queue.
    async fn enqueue(&self, route: &str, req: Request) -> Result<Response, GatewayError> {
        if req.method() != Method::POST {
            return Err(GatewayError::Method("POST"));
        }
        let (function, rest) = self.functions.resolve(route)?;
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest,
        };
        let callback_url = match req.headers().get("x-callback-url") {
            None => None,
            Some(v) => {
                let text = String::from_utf8_lossy(v.as_bytes()).into_owned();
                self.queue.callbacks.check(&text)?;
                Some(text)
            }
        };
        // The runtime serving the gateway gives every request a call id.
        let call_id = req
            .headers()
            .get(CALL_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let start_time = crate::proxy::start_time_header();
        let (mut parts, body) = req.into_parts();
        crate::proxy::strip_hop_by_hop(&mut parts.headers);
        parts.headers.insert("x-start-time", start_time.clone());
        let body = body::read(body, ASYNC_BODY_LIMIT)
            .await
            .map_err(|e| GatewayError::Body(e.status(), e.to_string()))?;
        let job = Job {
            seq: 0,
            call_id: call_id.clone(),
            function: function.name.clone(),
            path_and_query,
            headers: parts
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
                .collect(),
            body_len: body.len() as u64,
            callback_url,
            accepted_at_ms: crate::queue::now_ms(),
        };
        self.queue.push(job, body).await?;
        self.proxy.metrics.set_queue_depth(self.queue.depth());
        let mut response = body::empty_with(StatusCode::ACCEPTED);
        if let Ok(v) = HeaderValue::from_str(&call_id) {
            response.headers_mut().insert(CALL_ID, v);
        }
        response.headers_mut().insert("x-start-time", start_time);
        Ok(response)
    }

    fn check_auth(&self, headers: &HeaderMap) -> Result<(), GatewayError> {
        match &self.basic_auth {
            Some(credentials) => credentials.check(headers),
            // Turned off: anything goes, including faas-cli's empty "Bearer ".
            None => Ok(()),
        }
    }

    fn render_metrics(&self) -> Response {
        for (name, function) in self.functions.iter() {
            // gateway_service_count is the provider's `replicas`: the desired count.
            self.proxy.metrics.set_replicas(
                name,
                function.desired(),
                function.ready_count(),
                function.desired(),
            );
        }
        self.proxy.metrics.set_queue_depth(self.queue.depth());
        body::with_type(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            self.proxy.metrics.render(),
        )
    }
}

//! The OpenFaaS gateway API on loopback: `/function/<name>[.<ns>]/…` proxied to a ready
//! replica with bodies streamed both ways, `/async-function/…`, `/ui/` (the gallery
//! function), `/system/*`, `/healthz` and `/metrics`. It is served by the template's own
//! runtime, so it drains, logs and carries call ids exactly as the functions do.

use crate::error::GatewayError;
use crate::function::CallGuard;
use crate::metrics::{GatewayMetrics, NAMESPACE, qualified};
use crate::queue::Queue;
use crate::queue::journal::Job;
use crate::supervisor::Function;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use openfaas_runtime::{CALL_ID, HttpError, Request, Response, body};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The function the gateway's `/ui/` serves (as OpenFaaS serves its portal there).
pub const UI_FUNCTION: &str = "gallery";

/// The largest body an async call may queue.
const ASYNC_BODY_LIMIT: u64 = 16 << 20;

/// The gateway's shared state.
pub struct Gateway {
    pub functions: BTreeMap<String, Arc<Function>>,
    pub metrics: GatewayMetrics,
    pub queue: Queue,
    /// Basic auth on /system/*: on unless `greyfaas up --no-basic-auth`.
    pub basic_auth: Option<crate::auth::Credentials>,
    pub upstream_timeout: Duration,
    /// What deploys build replicas' specs from.
    pub runtime: crate::deploy::Runtime,
    /// Serve `/system/info` in the provider shape, for an OpenFaaS gateway started with
    /// `functions_provider_url` pointing here.
    pub provider_mode: bool,
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
    pub async fn handle(self: &Arc<Gateway>, req: Request) -> Response {
        let path = req.uri().path().to_string();
        let result = if let Some(rest) = path.strip_prefix("/function/") {
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
            match self.check_auth(req.headers()) {
                Ok(()) => crate::system::route(self, req).await,
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

    /// `NAME[.NAMESPACE][/rest]` → the function and the path it should see.
    pub fn resolve(&self, route: &str) -> Result<(Arc<Function>, String), GatewayError> {
        let (target, rest) = match route.find('/') {
            Some(i) => (&route[..i], &route[i..]),
            None => (route, "/"),
        };
        let (name, namespace) = match target.rsplit_once('.') {
            Some((name, ns)) => (name, ns),
            None => (target, NAMESPACE),
        };
        match self.functions.get(name) {
            Some(function) if namespace == NAMESPACE && !function.is_removed() => {
                Ok((function.clone(), rest.to_string()))
            }
            _ => Err(GatewayError::NoFunction(format!("{name}.{namespace}"))),
        }
    }

    async fn invoke_route(
        self: &Arc<Gateway>,
        route: &str,
        req: Request,
    ) -> Result<Response, GatewayError> {
        let (function, rest) = self.resolve(route)?;
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest,
        };
        // When the gateway received the call (a queued call keeps its own).
        let mut req = req;
        req.headers_mut()
            .insert("x-start-time", crate::proxy::start_time_header());
        Ok(self.invoke(&function, path_and_query, req).await)
    }

    /// Forwards a call to a ready replica and streams the answer back, counting it
    /// (in flight until its answer is sent, or until the client goes away).
    pub async fn invoke(
        self: &Arc<Gateway>,
        function: &Arc<Function>,
        path_and_query: String,
        req: Request,
    ) -> Response {
        let started = Instant::now();
        let call = CallGuard::begin(function);
        self.metrics.started(&function.name);
        let mut response =
            crate::proxy::forward(function, path_and_query, req, self.upstream_timeout)
                .await
                .unwrap_or_else(GatewayError::into_response);
        self.metrics.observe(
            &function.name,
            response.status().as_u16(),
            started.elapsed(),
        );
        response
            .headers_mut()
            .insert("x-served-by", HeaderValue::from_static("greyfaas"));
        call.hold_until_sent(response)
    }

    /// `POST /async-function/NAME[/rest]`: 202 once the call is on disk; it runs
    /// from the queue.
    async fn enqueue(
        self: &Arc<Gateway>,
        route: &str,
        req: Request,
    ) -> Result<Response, GatewayError> {
        if req.method() != Method::POST {
            return Err(GatewayError::Method("POST"));
        }
        let (function, rest) = self.resolve(route)?;
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
            body: body.to_vec(),
            callback_url,
            accepted_at_ms: crate::queue::now_ms(),
        };
        self.queue.push(job).await?;
        self.metrics.set_queue_depth(self.queue.depth());
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
        for (name, function) in &self.functions {
            // gateway_service_count is the provider's `replicas`: the desired count.
            self.metrics.set_replicas(
                name,
                function.desired(),
                function.ready_count(),
                function.desired(),
            );
        }
        self.metrics.set_queue_depth(self.queue.depth());
        body::with_type(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            self.metrics.render(),
        )
    }

    /// `greyscale` → its FunctionStatus JSON, as OpenFaaS providers answer it.
    pub fn status_json(&self, function: &Function) -> serde_json::Value {
        let spec = function.spec();
        let def = &spec.def;
        // What the replicas run with: stack.yml's environment with the local runtime's
        // own endpoints (store, gateway, secrets) in place of the cluster's.
        let env: BTreeMap<&str, &str> = spec
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let pids: Vec<u32> = function
            .replicas()
            .iter()
            .map(|r| r.pid())
            .filter(|p| *p != 0)
            .collect();
        let decisions: Vec<String> = function
            .decisions
            .lock()
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default();
        serde_json::json!({
            "name": spec.name,
            "image": def.image,
            "namespace": NAMESPACE,
            "envProcess": def.fprocess.clone().unwrap_or_default(),
            "envVars": env,
            "labels": def.labels,
            "annotations": def.annotations,
            "secrets": def.secrets,
            "limits": def.limits,
            "requests": def.requests,
            "readOnlyRootFilesystem": def.readonly_root_filesystem.unwrap_or(false),
            "invocationCount": function.invocations.load(Ordering::SeqCst) as f64,
            // As faas-netes: the desired count, and those ready.
            "replicas": function.desired(),
            "availableReplicas": function.ready_count(),
            "greyfaas": {
                "qualifiedName": qualified(&spec.name),
                "desiredReplicas": function.desired(),
                "processes": function.replica_count(),
                "inFlight": function.in_flight.load(Ordering::SeqCst),
                "pids": pids,
                "scaling": {
                    "min": spec.scale.min,
                    "max": spec.scale.max,
                    "target": spec.scale.target,
                    "type": format!("{:?}", spec.scale.kind).to_lowercase(),
                    "zero": spec.scale.zero,
                    "decisions": decisions,
                },
            },
        })
    }
}

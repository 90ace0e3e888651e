//! The OpenFaaS gateway API on loopback: `/function/<name>[.<ns>]/…` proxied to a ready
//! replica with bodies streamed both ways, `/async-function/…`, `/ui/` (the gallery
//! function), `/system/*`, `/healthz` and `/metrics`. It is served by the template's own
//! runtime, so it drains, logs and carries call ids exactly as the functions do.

use crate::error::GatewayError;
use crate::metrics::{GatewayMetrics, NAMESPACE, qualified};
use crate::queue::{AsyncJob, Queue};
use crate::supervisor::Function;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use once_cell::sync::Lazy;
use openfaas_runtime::{Body, CALL_ID, HttpError, RemoteAddr, Request, Response, body};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

/// The function the gateway's `/ui/` serves (as OpenFaaS serves its portal there).
pub const UI_FUNCTION: &str = "gallery";

/// How long a request waits for a ready replica (a restart, or a cold start from zero).
const PICK_WAIT: Duration = Duration::from_secs(30);
/// Bodies up to this size are kept so a call that is safe to repeat can be retried on
/// another replica.
const RETRY_BODY_LIMIT: u64 = 1 << 20;

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

static CLIENT: Lazy<Client<HttpConnector, Body>> = Lazy::new(|| {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
});

/// Whether a replica on `port` answers `/_/health` with 200.
pub async fn probe(port: u16) -> bool {
    let Ok(request) =
        http::Request::get(format!("http://127.0.0.1:{port}/_/health")).body(body::empty())
    else {
        return false;
    };
    matches!(tokio::time::timeout(Duration::from_secs(1), CLIENT.request(request)).await, Ok(Ok(r)) if r.status() == StatusCode::OK)
}

/// Headers that belong to one hop only (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// `301` to `location`: `/ui` becomes `/ui/`, so the page's relative calls resolve.
fn redirect(location: &'static str) -> Response {
    let mut response = body::empty_with(StatusCode::MOVED_PERMANENTLY);
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    response
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
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
        Ok(self.invoke(&function, path_and_query, req).await)
    }

    /// Forwards a call to a ready replica and streams the answer back, counting it.
    pub async fn invoke(
        self: &Arc<Gateway>,
        function: &Arc<Function>,
        path_and_query: String,
        req: Request,
    ) -> Response {
        let started = Instant::now();
        function.started.fetch_add(1, Ordering::SeqCst);
        function.in_flight.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut last) = function.last_request.lock() {
            *last = Instant::now();
        }
        let mut response = self
            .forward(function, path_and_query, req)
            .await
            .unwrap_or_else(GatewayError::into_response);
        function.in_flight.fetch_sub(1, Ordering::SeqCst);
        function.invocations.fetch_add(1, Ordering::SeqCst);
        self.metrics.observe(
            &function.name,
            response.status().as_u16(),
            started.elapsed(),
        );
        response
            .headers_mut()
            .insert("x-served-by", HeaderValue::from_static("greyfaas"));
        response
    }

    async fn forward(
        &self,
        function: &Arc<Function>,
        path_and_query: String,
        req: Request,
    ) -> Result<Response, GatewayError> {
        let (mut parts, body) = req.into_parts();
        let peer = parts.extensions.get::<RemoteAddr>().map(|a| a.0);
        let host = parts.headers.get(header::HOST).cloned();
        strip_hop_by_hop(&mut parts.headers);
        let headers = &mut parts.headers;
        let start_ns = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        headers.insert("x-start-time", HeaderValue::from(start_ns as u64));
        if let (false, Some(peer)) = (headers.contains_key("x-forwarded-for"), peer)
            && let Ok(v) = HeaderValue::from_str(&peer.to_string())
        {
            headers.insert("x-forwarded-for", v);
        }
        if let (false, Some(host)) = (headers.contains_key("x-forwarded-host"), host) {
            headers.insert("x-forwarded-host", host);
        }

        // A call that is safe to repeat keeps its (small) body for one retry.
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
            || function.spec().idempotent;
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let mut kept: Option<Bytes> = None;
        let mut streamed = Some(body);
        // GET and HEAD normally carry no body and no Content-Length: keep their (empty)
        // body too, or they could never be retried.
        let bodyless = matches!(parts.method, Method::GET | Method::HEAD) && declared.is_none();
        if safe && (bodyless || declared.is_some_and(|n| n <= RETRY_BODY_LIMIT)) {
            let bytes = body::read(
                streamed.take().unwrap_or_else(body::empty),
                RETRY_BODY_LIMIT,
            )
            .await
            .map_err(|e| GatewayError::Body(e.status(), e.to_string()))?;
            kept = Some(bytes);
        }

        let mut avoid = None;
        // Up to three attempts for a safe call: under chaos both replicas of a function
        // can be down for a moment, and the one restarted first is then the way through.
        const ATTEMPTS: usize = 3;
        for attempt in 0..ATTEMPTS {
            let replica = function
                .pick(avoid, PICK_WAIT)
                .await
                .ok_or_else(|| GatewayError::NoReplica(function.name.clone()))?;
            let uri = format!("http://127.0.0.1:{}{}", replica.port(), path_and_query);
            let body = match (&kept, streamed.take()) {
                (Some(bytes), _) => body::full(bytes.clone()),
                (None, Some(body)) => body,
                (None, None) => {
                    return Err(GatewayError::Upstream(
                        "the request body was already sent".into(),
                    ));
                }
            };
            let mut upstream = http::Request::new(body);
            *upstream.method_mut() = parts.method.clone();
            *upstream.uri_mut() = uri
                .parse()
                .map_err(|e| GatewayError::Upstream(format!("{e}")))?;
            *upstream.headers_mut() = parts.headers.clone();
            match tokio::time::timeout(self.upstream_timeout, CLIENT.request(upstream)).await {
                Err(_) => {
                    return Err(GatewayError::Upstream(format!(
                        "{} did not answer within {:?}",
                        function.name, self.upstream_timeout
                    )));
                }
                Ok(Ok(response)) => {
                    let (mut head, incoming) = response.into_parts();
                    strip_hop_by_hop(&mut head.headers);
                    if let Some(id) = parts.headers.get(CALL_ID) {
                        head.headers.insert(CALL_ID, id.clone());
                    }
                    if let Some(t) = parts.headers.get("x-start-time") {
                        head.headers
                            .insert(HeaderName::from_static("x-start-time"), t.clone());
                    }
                    return Ok(http::Response::from_parts(head, body::stream(incoming)));
                }
                // A call that is safe to repeat is retried elsewhere, whether the
                // replica refused the connection or died mid-answer.
                Ok(Err(err)) if attempt + 1 < ATTEMPTS && kept.is_some() => {
                    tracing::warn!(function = %function.name, replica = replica.id, error = %err, "call failed; retrying on another replica");
                    avoid = Some(replica.id);
                }
                Ok(Err(err)) => {
                    return Err(GatewayError::Upstream(format!("{}: {err}", function.name)));
                }
            }
        }
        Err(GatewayError::Upstream(format!(
            "{}: no replica accepted the call",
            function.name
        )))
    }

    /// `POST /async-function/NAME[/rest]`: 202 at once; the call runs from a bounded queue.
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
        let callback = match req.headers().get("x-callback-url") {
            None => None,
            Some(v) => {
                let text = v.to_str().unwrap_or_default();
                let uri: http::Uri = text
                    .parse()
                    .map_err(|_| GatewayError::BadCallback(text.to_string()))?;
                if uri.scheme_str() != Some("http") || uri.host().is_none() {
                    return Err(GatewayError::BadCallback(text.to_string()));
                }
                Some(uri)
            }
        };
        let call_id = req
            .headers()
            .get(CALL_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let (parts, body) = req.into_parts();
        let body = body::read(body, 16 << 20)
            .await
            .map_err(|e| GatewayError::Body(e.status(), e.to_string()))?;
        let job = AsyncJob {
            function,
            path_and_query,
            headers: parts.headers,
            body,
            callback,
        };
        self.queue
            .push(job)
            .map_err(|_| GatewayError::QueueFull(self.queue.capacity()))?;
        self.metrics.set_queue_depth(self.queue.depth());
        let mut response = http::Response::new(body::empty());
        *response.status_mut() = StatusCode::ACCEPTED;
        if let Ok(v) = HeaderValue::from_str(&call_id) {
            response.headers_mut().insert(CALL_ID, v);
        }
        Ok(response)
    }

    /// Posts an async call's result to its callback URL.
    pub async fn deliver(
        &self,
        callback: &http::Uri,
        function: &str,
        call_id: &str,
        response: Response,
        took: Duration,
    ) {
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = body::read(response.into_body(), 64 << 20)
            .await
            .unwrap_or_default();
        let mut request = http::Request::new(body::full(bytes));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = callback.clone();
        let headers = request.headers_mut();
        if let Ok(v) = HeaderValue::from_str(call_id) {
            headers.insert(CALL_ID, v);
        }
        headers.insert("x-function-status", HeaderValue::from(status.as_u16()));
        if let Ok(v) = HeaderValue::from_str(function) {
            headers.insert("x-function-name", v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("{:.6}", took.as_secs_f64())) {
            headers.insert("x-duration-seconds", v);
        }
        if let Some(ct) = content_type {
            headers.insert(header::CONTENT_TYPE, ct);
        }
        match tokio::time::timeout(Duration::from_secs(30), CLIENT.request(request)).await {
            Ok(Ok(r)) => {
                tracing::info!(function, call_id, callback = %callback, status = r.status().as_u16(), "callback delivered")
            }
            Ok(Err(e)) => {
                tracing::warn!(function, call_id, callback = %callback, error = %e, "callback failed")
            }
            Err(_) => tracing::warn!(function, call_id, callback = %callback, "callback timed out"),
        }
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
            self.metrics.set_replicas(
                name,
                function.replica_count(),
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
            "replicas": function.replica_count(),
            "availableReplicas": function.ready_count(),
            "greyfaas": {
                "qualifiedName": qualified(&spec.name),
                "desiredReplicas": function.desired(),
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

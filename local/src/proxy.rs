//! Sending one call to a replica: the loopback HTTP client, the hop-by-hop headers that
//! stay behind, the forwarding headers OpenFaaS adds, and the retries.
//!
//! A call that is safe to repeat (GET/HEAD/OPTIONS, or a function annotated
//! `greyfaas.idempotent: "true"`) and whose body is small enough to keep is *held*: when
//! the replica it went to fails before answering in full (refused, reset, died
//! mid-answer), it is sent again — to another ready replica, or to the same one once it
//! has been restarted — until the call's timeout. Small answers of such calls are read
//! in full before they are passed on, so a replica dying mid-body is retried rather than
//! handed to the client as a truncated answer; and such a call answered 503 is tried
//! again for up to 2 s (a dependency of the function restarting, such as the store).
//! Any other call is retried only when the connection was refused, i.e. when the
//! function never saw it.

use crate::error::GatewayError;
use crate::function::{CallGuard, Function, Incarnation};
use crate::loopback::CLIENT;
use crate::metrics::GatewayMetrics;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use openfaas_runtime::{CALL_ID, HttpError, RemoteAddr, Request, Response, body};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Request bodies up to this size are kept so the call can be sent again; answers of
/// safe calls up to this size are read in full before they are passed on.
const KEEP_LIMIT: u64 = 1 << 20;
/// How long a failed incarnation is skipped when it is the only ready one (it may not
/// have been noticed dead yet; if it is alive after all, it gets the call again).
const AVOID_FOR: Duration = Duration::from_secs(1);
/// How long a safe call answered 503 (a function whose store or other dependency is
/// briefly down) is tried again, with doubling pauses from 50 ms: long enough for a
/// restart of the store, short enough that an outage is reported at once, not held.
const UNAVAILABLE_BUDGET: Duration = Duration::from_secs(2);

/// Sends calls to functions and counts them: the gateway's synchronous calls and the
/// queue's async ones go the same way.
pub struct Proxy {
    pub metrics: GatewayMetrics,
    /// How long a function may take to answer.
    pub timeout: Duration,
}

impl Proxy {
    /// Forwards a call to a ready replica and streams the answer back, counting it
    /// (in flight until its answer is sent, or until the client goes away).
    pub async fn invoke(
        &self,
        function: &Arc<Function>,
        path_and_query: String,
        req: Request,
    ) -> Response {
        let started = Instant::now();
        let call = CallGuard::begin(function);
        self.metrics.started(&function.name);
        let mut response = forward(function, path_and_query, req, self.timeout)
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
}

/// Headers that belong to one hop only (RFC 9110 §7.6.1; Go's reverse proxy list, as
/// the OpenFaaS gateway uses), never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes the hop-by-hop headers: the standard set, and every header the sender
/// named in its own `Connection` header (RFC 9110 §7.6.1), as Go's reverse proxy
/// does — so `Connection: X-Internal` cannot smuggle a header past a proxy that
/// strips X-Internal, nor one meant for this hop reach the function.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// `X-Forwarded-For` with the peer's address appended (the IP alone, no port), as
/// Go's `httputil.ReverseProxy` and most proxies do. (The OpenFaaS gateway and
/// faas-provider set it to `RemoteAddr`, port included, only when absent, passing a
/// client's own value on unchanged; then a function cannot tell a forged list from a
/// real one. Appended, the last entry is always the one this gateway saw.)
fn append_forwarded_for(headers: &mut HeaderMap, peer: std::net::IpAddr) {
    let earlier: Vec<String> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    let mut list = earlier.join(", ");
    if !list.is_empty() {
        list.push_str(", ");
    }
    list.push_str(&peer.to_string());
    if let Ok(v) = HeaderValue::from_str(&list) {
        headers.insert("x-forwarded-for", v);
    }
}

/// Nanoseconds since the Unix epoch, as the gateway's `X-Start-Time`.
pub fn start_time_header() -> HeaderValue {
    let ns = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    HeaderValue::from(ns)
}

/// Whether a call may be sent twice without harm.
pub fn is_safe(method: &Method, function: &Function) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || function.spec().idempotent
}

/// Forwards `req` to a ready replica of `function` within `timeout`, retrying as the
/// module doc says.
async fn forward(
    function: &Arc<Function>,
    path_and_query: String,
    req: Request,
    timeout: Duration,
) -> Result<Response, GatewayError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let (mut parts, body) = req.into_parts();
    let peer = parts.extensions.get::<RemoteAddr>().map(|a| a.0);
    let host = parts.headers.get(header::HOST).cloned();
    strip_hop_by_hop(&mut parts.headers);
    let headers = &mut parts.headers;
    if !headers.contains_key("x-start-time") {
        headers.insert("x-start-time", start_time_header());
    }
    if let Some(peer) = peer {
        append_forwarded_for(headers, peer.ip());
    }
    if let (false, Some(host)) = (headers.contains_key("x-forwarded-host"), host) {
        headers.insert("x-forwarded-host", host);
    }

    let safe = is_safe(&parts.method, function);
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    // GET and HEAD normally carry no body and no Content-Length: keep their (empty)
    // body too, or they could never be sent again.
    let bodyless = matches!(parts.method, Method::GET | Method::HEAD) && declared.is_none();
    let mut streamed = Some(body);
    let kept: Option<Bytes> = if bodyless || declared.is_some_and(|n| n <= KEEP_LIMIT) {
        let bytes = body::read(streamed.take().unwrap_or_else(body::empty), KEEP_LIMIT)
            .await
            .map_err(|e| GatewayError::Body(e.status(), e.to_string()))?;
        Some(bytes)
    } else {
        None
    };

    let mut avoid: Option<Incarnation> = None;
    let mut attempt = 0u32;
    let mut pause = Duration::from_millis(50);
    loop {
        attempt += 1;
        let replica = crate::supervisor::ready_replica(function, avoid, AVOID_FOR, deadline)
            .await
            .ok_or_else(|| GatewayError::NoReplica(function.name.clone()))?;
        let incarnation = replica.incarnation();
        let body = match (&kept, streamed.take()) {
            (Some(bytes), _) => body::full(bytes.clone()),
            (None, Some(body)) => body,
            (None, None) => {
                return Err(GatewayError::Upstream(format!(
                    "{}: the request body was already sent",
                    function.name
                )));
            }
        };
        let mut upstream = http::Request::new(body);
        *upstream.method_mut() = parts.method.clone();
        *upstream.uri_mut() = format!("http://127.0.0.1:{}{}", replica.port(), path_and_query)
            .parse()
            .map_err(|e| GatewayError::Upstream(format!("{e}")))?;
        *upstream.headers_mut() = parts.headers.clone();
        let left = deadline.saturating_duration_since(Instant::now());
        let failure = match tokio::time::timeout(left, CLIENT.request(upstream)).await {
            Err(_) => {
                return Err(GatewayError::Upstream(format!(
                    "{} did not answer within {timeout:?}",
                    function.name
                )));
            }
            Ok(Ok(response))
                if safe
                    && kept.is_some()
                    && response.status() == StatusCode::SERVICE_UNAVAILABLE
                    && started.elapsed() + pause < UNAVAILABLE_BUDGET =>
            {
                tracing::warn!(function = %function.name, replica = incarnation.replica, attempt, "503 for a call safe to repeat; sending it again");
                drop(response);
                tokio::time::sleep(pause).await;
                pause *= 2;
                continue;
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
                let small = head
                    .headers
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                    .is_some_and(|n| n <= KEEP_LIMIT);
                if !(safe && kept.is_some() && small) {
                    return Ok(http::Response::from_parts(head, body::stream(incoming)));
                }
                let left = deadline.saturating_duration_since(Instant::now());
                let read = tokio::time::timeout(left, async {
                    use http_body_util::BodyExt;
                    incoming.collect().await.map(|c| c.to_bytes())
                })
                .await;
                match read {
                    Err(_) => {
                        return Err(GatewayError::Upstream(format!(
                            "{} did not answer within {timeout:?}",
                            function.name
                        )));
                    }
                    Ok(Ok(bytes)) => {
                        return Ok(http::Response::from_parts(head, body::full(bytes)));
                    }
                    Ok(Err(err)) => err.to_string(),
                }
            }
            // Refused: the function never saw the call, so any call may go again.
            Ok(Err(err)) if err.is_connect() && kept.is_some() => err.to_string(),
            Ok(Err(err)) if safe && kept.is_some() => err.to_string(),
            Ok(Err(err)) => {
                return Err(GatewayError::Upstream(format!("{}: {err}", function.name)));
            }
        };
        tracing::warn!(function = %function.name, replica = incarnation.replica, attempt, error = %failure, "call failed before a full answer; sending it again");
        avoid = Some(incarnation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_guard::tests::headers;

    #[test]
    fn headers_named_in_connection_stay_behind() {
        let mut map = headers(&[
            ("connection", "keep-alive, X-Secret"),
            ("connection", " x-other ,"),
            ("x-secret", "1"),
            ("x-other", "2"),
            ("keep-alive", "timeout=5"),
            ("upgrade", "h2c"),
            ("x-kept", "3"),
            ("content-type", "image/png"),
        ]);
        strip_hop_by_hop(&mut map);
        let mut left: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-type", "x-kept"]);
    }

    #[test]
    fn the_peer_is_appended_to_x_forwarded_for_without_its_port() {
        let peer: std::net::SocketAddr = "127.0.0.1:54321".parse().unwrap();
        let mut none = HeaderMap::new();
        append_forwarded_for(&mut none, peer.ip());
        assert_eq!(none["x-forwarded-for"], "127.0.0.1");
        let mut forged = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-for", "198.51.100.1, 10.0.0.1"),
        ]);
        append_forwarded_for(&mut forged, peer.ip());
        assert_eq!(
            forged["x-forwarded-for"],
            "203.0.113.7, 198.51.100.1, 10.0.0.1, 127.0.0.1"
        );
        assert_eq!(forged.get_all("x-forwarded-for").iter().count(), 1);
        let mut v6 = HeaderMap::new();
        append_forwarded_for(&mut v6, "::1".parse().unwrap());
        assert_eq!(v6["x-forwarded-for"], "::1");
    }
}

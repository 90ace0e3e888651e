//! What the gateway checks about a request before routing it, against hostile web
//! pages rather than hostile clients:
//!
//! - **Host** (every route): only loopback names and addresses, and the names given
//!   with `greyfaas up --public-host`. A page on a name its owner re-points at
//!   127.0.0.1 (DNS rebinding) is then same-origin with the gateway in the browser's
//!   eyes, but its requests carry that name as Host and are refused here.
//! - **Cross-site** (`/system/*`): a request a browser marks `Sec-Fetch-Site:
//!   cross-site`, or whose `Origin` is not the gateway's own, is refused — a page
//!   elsewhere could otherwise use the Basic credentials the browser holds for the
//!   gateway (the gallery's "Log in"). faas-cli sends neither header.
//! - **JSON writes** (`/system/*`): a body must be declared `application/json` (any
//!   parameters), the one type a page cannot send cross-origin without a CORS
//!   preflight, which the gateway never grants. faas-cli's `newRequest` sets exactly
//!   that on every request with a body.

use crate::error::GatewayError;
use http::{HeaderMap, Method, Uri, header};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The Host names the gateway answers to.
#[derive(Debug, Clone, Default)]
pub struct HostAllowlist {
    /// `--public-host` names, lowercase, without a trailing dot.
    public: Vec<String>,
}

impl HostAllowlist {
    /// Loopback, plus each of `public` (names or addresses, any case).
    pub fn new(public: &[String]) -> HostAllowlist {
        HostAllowlist {
            public: public.iter().map(|h| normalise_name(h)).collect(),
        }
    }

    /// Accepts a request whose Host (or HTTP/2 `:authority`) is allowed, with any
    /// port. A request with neither (HTTP/1.0) is accepted: browsers always send one,
    /// so no rebinding page can make such a request.
    pub fn check(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), GatewayError> {
        let authority = match headers.get(header::HOST) {
            Some(value) => value.to_str().ok(),
            None => match uri.authority() {
                Some(authority) => Some(authority.as_str()),
                None => return Ok(()),
            },
        };
        let host = authority.and_then(host_of);
        match host {
            Some(host) if is_loopback_name(&host) || self.public.contains(&host) => Ok(()),
            _ => Err(GatewayError::MisdirectedHost(
                String::from_utf8_lossy(
                    headers
                        .get(header::HOST)
                        .map(|v| v.as_bytes())
                        .unwrap_or_default(),
                )
                .into_owned(),
            )),
        }
    }
}

/// `name` lowercase and without the trailing dot of a fully qualified name.
fn normalise_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The host part of a Host value (`name`, `name:port`, `[v6]`, `[v6]:port`),
/// normalised; `None` when it is not of that form.
fn host_of(authority: &str) -> Option<String> {
    let authority = authority.trim();
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let (v6, after) = rest.split_once(']')?;
            (
                format!("[{}]", v6.to_ascii_lowercase()),
                after.strip_prefix(':'),
            )
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (normalise_name(host), Some(port)),
            None => (normalise_name(authority), None),
        },
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    (!host.is_empty()).then_some(host)
}

/// `localhost`, `*.localhost` (RFC 6761 §6.3: always loopback), 127.0.0.0/8 written
/// as a dotted quad, or `[::1]`.
fn is_loopback_name(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok_and(|a| a.is_loopback());
    }
    host.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
}

/// Refuses an admin request a browser sent from another site's page: marked
/// `Sec-Fetch-Site: cross-site`, or with an `Origin` other than `http://<Host>`
/// (`null`, an opaque origin, included). Same-origin pages (the gallery) pass.
pub fn check_same_origin(headers: &HeaderMap) -> Result<(), GatewayError> {
    let fetch_site = headers
        .get("sec-fetch-site")
        .map(|v| v.as_bytes().to_ascii_lowercase());
    if fetch_site.as_deref() == Some(b"cross-site") {
        return Err(GatewayError::CrossSite("Sec-Fetch-Site: cross-site".into()));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    let own = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|host| origin_authority(&format!("http://{host}")));
    match own {
        Some(own) if own.is_some() && origin_authority(origin) == own => Ok(()),
        _ => Err(GatewayError::CrossSite(format!("Origin: {origin}"))),
    }
}

/// `http://Name:80` → `name`, `http://name:8080` → `name:8080`; `None` for anything
/// but an http origin (the gateway serves plain http only).
fn origin_authority(origin: &str) -> Option<String> {
    let rest = origin.trim().strip_prefix("http://")?;
    let authority = rest.trim_end_matches('/').to_ascii_lowercase();
    if authority.is_empty() || authority.contains('/') {
        return None;
    }
    Some(
        authority
            .strip_suffix(":80")
            .map(str::to_owned)
            .unwrap_or(authority),
    )
}

/// Refuses a write (any method but GET and HEAD) whose body is not declared
/// `application/json` (parameters such as `charset` allowed). A request without a
/// body passes: the handler then answers for the missing document.
pub fn check_json_body(method: &Method, headers: &HeaderMap) -> Result<(), GatewayError> {
    if matches!(*method, Method::GET | Method::HEAD) {
        return Ok(());
    }
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0);
    if !has_body {
        return Ok(());
    }
    let declared = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = declared
        .as_deref()
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    if essence.as_deref() == Some("application/json") {
        Ok(())
    } else {
        Err(GatewayError::UnsupportedMediaType(match declared {
            Some(t) => format!("the body must be application/json, not {t:?}"),
            None => "the body must be application/json (no Content-Type was sent)".into(),
        }))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header map of `pairs`, in order (repeated names kept): for this module's
    /// tests and the proxy's.
    pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    fn host_ok(list: &HostAllowlist, host: &str) -> bool {
        list.check(&headers(&[("host", host)]), &Uri::from_static("/"))
            .is_ok()
    }

    #[test]
    fn only_loopback_and_public_hosts_are_answered() {
        let list = HostAllowlist::new(&["Faas.Example.org".into()]);
        for good in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "127.1.2.3:9",
            "localhost:8080",
            "LOCALHOST",
            "localhost.",
            "app.localhost:3000",
            "[::1]:8080",
            "[::1]",
            "faas.example.org",
            "faas.example.org:443",
            "FAAS.EXAMPLE.ORG.:8080",
        ] {
            assert!(host_ok(&list, good), "{good}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "2130706433",
            "0x7f.1",
            "10.0.0.1:8080",
            "[::2]:8080",
            "[::ffff:127.0.0.1]",
            "example.org",
            "localhost:80x",
            "localhost:",
            "",
        ] {
            assert!(!host_ok(&list, bad), "{bad}");
        }
        let none = HostAllowlist::new(&[]);
        assert!(!host_ok(&none, "faas.example.org"));
        assert!(
            none.check(&HeaderMap::new(), &Uri::from_static("/"))
                .is_ok()
        );
        assert!(
            none.check(
                &HeaderMap::new(),
                &Uri::from_static("http://evil.example/x")
            )
            .is_err()
        );
    }

    #[test]
    fn cross_site_admin_requests_are_refused() {
        let ok = |pairs: &[(&str, &str)]| check_same_origin(&headers(pairs)).is_ok();
        // faas-cli: neither header.
        assert!(ok(&[("host", "127.0.0.1:8080")]));
        // The gallery page, same origin.
        assert!(ok(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ]));
        assert!(ok(&[
            ("host", "localhost"),
            ("origin", "http://localhost:80")
        ]));
        assert!(ok(&[
            ("host", "LocalHost:8080"),
            ("origin", "http://localhost:8080")
        ]));
        assert!(!ok(&[
            ("host", "127.0.0.1:8080"),
            ("sec-fetch-site", "cross-site")
        ]));
        for origin in [
            "http://evil.example",
            "http://127.0.0.1:9999",
            "https://127.0.0.1:8080",
            "null",
            "",
            "http://127.0.0.1:8080/x",
        ] {
            assert!(
                !ok(&[("host", "127.0.0.1:8080"), ("origin", origin)]),
                "{origin:?}"
            );
        }
        assert!(
            !ok(&[("origin", "http://127.0.0.1:8080")]),
            "no Host to compare"
        );
    }

    #[test]
    fn admin_writes_must_be_declared_json() {
        let ok = |pairs: &[(&str, &str)]| check_json_body(&Method::PUT, &headers(pairs)).is_ok();
        assert!(ok(&[
            ("content-length", "2"),
            ("content-type", "application/json")
        ]));
        assert!(ok(&[
            ("content-length", "2"),
            ("content-type", "Application/JSON; charset=utf-8")
        ]));
        assert!(ok(&[]), "no body");
        assert!(ok(&[("content-length", "0")]), "an empty body");
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json-seq",
            "application/jsonx",
        ] {
            assert!(
                !ok(&[("content-length", "2"), ("content-type", bad)]),
                "{bad}"
            );
        }
        assert!(!ok(&[("content-length", "2")]), "no Content-Type");
        assert!(!ok(&[("transfer-encoding", "chunked")]), "chunked, untyped");
        let get = headers(&[("content-length", "2"), ("content-type", "text/plain")]);
        assert!(
            check_json_body(&Method::GET, &get).is_ok(),
            "reads are not writes"
        );
        assert!(check_json_body(&Method::DELETE, &get).is_err());
    }
}

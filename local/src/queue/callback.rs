//! Posting an async call's result to its `X-Callback-Url`, as the OpenFaaS queue-worker
//! does: http or https, every response header of the function, plus
//! `X-Function-Status`, `X-Function-Name`, `X-Call-Id` and `X-Duration-Seconds` (unless
//! the function sent its own). The URL passes fetch-incoming's SSRF guard — the same
//! code, not a copy: an IP literal is checked when the call is accepted (400), a host
//! name on every resolution, so nothing connects to an address the guard refuses.
//! Redirects are not followed (each hop would need the guard again, and a callback has
//! no reason to redirect).

use bytes::Bytes;
use greyfaas_ssrf_guard::{Guard, Refused, resolver};
use http::{HeaderMap, HeaderValue, header};
use std::time::Duration;

/// Why a callback was refused or not delivered.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("X-Callback-Url {0:?} is not an absolute http:// or https:// URL")]
    Invalid(String),
    #[error("X-Callback-Url refused: {0}")]
    Refused(#[from] Refused),
    #[error("callback to {url} failed: {message}")]
    Failed { url: String, message: String },
    #[error("cannot build the callback client: {0}")]
    Client(String),
}

impl CallbackError {
    /// Whether trying again could help (not for a refused or malformed URL).
    pub fn is_transient(&self) -> bool {
        matches!(self, CallbackError::Failed { .. })
    }
}

impl From<CallbackError> for crate::error::GatewayError {
    fn from(e: CallbackError) -> Self {
        crate::error::GatewayError::BadCallback(e.to_string())
    }
}

/// The callback client and its address policy.
pub struct Callbacks {
    client: reqwest::Client,
    guard: Guard,
}

impl Callbacks {
    /// `allow_private`: also allow loopback and private addresses (`greyfaas up
    /// --allow-private-networks`, the flag that relaxes fetch-incoming's guard too).
    pub fn new(allow_private: bool) -> Result<Callbacks, CallbackError> {
        let guard = Guard {
            allow_private,
            ..Guard::default()
        };
        let client = reqwest::Client::builder()
            .dns_resolver(resolver(&guard))
            // A proxy from the environment would resolve names past the guard.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| CallbackError::Client(e.to_string()))?;
        Ok(Callbacks { client, guard })
    }

    /// Reads an `X-Callback-Url`: absolute http(s) with a host, and not an IP literal
    /// the guard refuses.
    pub fn check(&self, text: &str) -> Result<url::Url, CallbackError> {
        let url = url::Url::parse(text).map_err(|_| CallbackError::Invalid(text.into()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(CallbackError::Invalid(text.into()));
        }
        self.guard.check_url(&url)?;
        Ok(url)
    }

    /// POSTs `body` with the function's `headers` (and the queue-worker's own) to
    /// `url`; the callback's status.
    pub async fn post(
        &self,
        url: &str,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<u16, CallbackError> {
        let url = self.check(url)?;
        // The body is sent whole: its length is the client's to set.
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::TRANSFER_ENCODING);
        headers.remove(header::HOST);
        let failed = |message: String| CallbackError::Failed {
            url: url.to_string(),
            message,
        };
        match self
            .client
            .post(url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await
        {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read (and drop) the answer so the connection closes cleanly.
                let _ = response.bytes().await;
                Ok(status)
            }
            Err(e) => Err(match Refused::find_in(&e) {
                Some(refused) => CallbackError::Refused(refused.clone()),
                None => failed(greyfaas_ssrf_guard::describe(&e)),
            }),
        }
    }
}

/// The queue-worker's headers on top of the function's.
pub fn callback_headers(
    mut function_headers: HeaderMap,
    status: u16,
    function: &str,
    call_id: &str,
    took: Duration,
) -> HeaderMap {
    function_headers.insert("x-function-status", HeaderValue::from(status));
    if let Ok(v) = HeaderValue::from_str(function) {
        function_headers.insert("x-function-name", v);
    }
    if let Ok(v) = HeaderValue::from_str(call_id) {
        function_headers.insert("x-call-id", v);
    }
    if !function_headers.contains_key("x-duration-seconds")
        && let Ok(v) = HeaderValue::from_str(&format!("{:.6}", took.as_secs_f64()))
    {
        function_headers.insert("x-duration-seconds", v);
    }
    function_headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_by_the_guard_before_any_connection() {
        let strict = Callbacks::new(false).unwrap();
        assert!(strict.check("https://example.com/hook").is_ok());
        assert!(strict.check("http://example.com:8443/hook?x=1").is_ok());
        for refused in [
            "http://127.0.0.1:9/hook",
            "https://[::1]/hook",
            "http://169.254.169.254/latest",
            "http://2130706433/",
        ] {
            assert!(
                matches!(strict.check(refused), Err(CallbackError::Refused(_))),
                "{refused}"
            );
        }
        for invalid in ["not a url", "ftp://example.com/", "/relative", "http://"] {
            assert!(
                matches!(strict.check(invalid), Err(CallbackError::Invalid(_))),
                "{invalid}"
            );
        }
        let open = Callbacks::new(true).unwrap();
        assert!(open.check("http://127.0.0.1:9/hook").is_ok());
    }

    #[test]
    fn the_function_headers_are_kept_and_its_duration_wins() {
        let mut own = HeaderMap::new();
        own.insert("location", HeaderValue::from_static("/incoming/abc"));
        own.insert("x-duration-seconds", HeaderValue::from_static("0.250000"));
        let headers = callback_headers(own, 201, "fetch-incoming", "id-1", Duration::from_secs(9));
        assert_eq!(headers["location"], "/incoming/abc");
        assert_eq!(headers["x-duration-seconds"], "0.250000");
        assert_eq!(headers["x-function-status"], "201");
        assert_eq!(headers["x-function-name"], "fetch-incoming");
        assert_eq!(headers["x-call-id"], "id-1");
        let headers = callback_headers(
            HeaderMap::new(),
            502,
            "f",
            "id",
            Duration::from_millis(1500),
        );
        assert_eq!(headers["x-duration-seconds"], "1.500000");
    }
}

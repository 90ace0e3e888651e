//! The chained call: greyscale asks fetch-incoming, through the gateway, to download a URL.
//! It goes over HTTP like any client's call, so it is routed, balanced, counted and
//! scaled by the gateway — never linked in.

use crate::error::Error;
use greyfaas_store::ObjectPath;
use http::{HeaderValue, StatusCode};
use openfaas_runtime::CALL_ID;
use std::sync::LazyLock;
use std::time::Duration;

static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(60))
        .no_proxy()
        .build()
        .unwrap_or_default()
});

/// Calls `POST <gateway_url>/function/fetch-incoming {"url": url}`, passing the call id on.
pub async fn fetch_incoming(
    gateway_url: &str,
    url: &str,
    call_id: Option<&HeaderValue>,
) -> Result<String, Error> {
    let endpoint = format!("{gateway_url}/function/fetch-incoming");
    let mut request = CLIENT
        .post(&endpoint)
        .json(&serde_json::json!({ "url": url }));
    if let Some(id) = call_id {
        request = request.header(CALL_ID, id);
    }
    let response = request.send().await.map_err(|e| {
        if e.is_timeout() {
            Error::Chain(
                StatusCode::GATEWAY_TIMEOUT,
                format!("fetch-incoming timed out: {e}"),
            )
        } else {
            Error::Chain(
                StatusCode::BAD_GATEWAY,
                format!("cannot reach the gateway at {endpoint}: {e}"),
            )
        }
    })?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    if status == StatusCode::CREATED
        && let Some(path) = body["path"].as_str()
        && ObjectPath::parse(path).is_ok()
    {
        return Ok(path.to_string());
    }
    // The caller hears fetch-incoming's own verdict (403, 413, 415, 502, …).
    let reason = body["error"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("answered {status}"));
    let status = if status.is_success() {
        StatusCode::BAD_GATEWAY
    } else {
        status
    };
    Err(Error::Chain(status, format!("fetch-incoming: {reason}")))
}

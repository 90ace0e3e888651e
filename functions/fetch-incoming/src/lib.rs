//! `fetch-incoming`: downloads images by URL into the `incoming` bucket.
//!
//! `POST {"url":"https://…"}` downloads the URL (size, time and redirect limits, the
//! [`guard`] on every address), checks the bytes are an image, stores them under their
//! SHA-256 and answers `201 {"path":"/incoming/<sha256>"}` with a `Location`.
//! `POST {"urls":[…]}` does the same for several URLs and reports each outcome in order.

mod config;
mod download;
mod error;
pub mod guard;

use config::Settings;
pub use error::Error;
use greyfaas_store::{Area, ObjectPath, Store};
use http::{HeaderValue, Method, StatusCode, header};
use openfaas_runtime::{Request, Response, body};
use serde::Deserialize;

/// The request body: one URL or a batch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchRequest {
    url: Option<String>,
    urls: Option<Vec<String>>,
}

pub async fn handle(req: Request) -> Response {
    serve(req).await.unwrap_or_else(Error::into_response)
}

async fn serve(req: Request) -> Result<Response, Error> {
    let settings = Settings::get();
    if req.method() != Method::POST {
        return Err(Error::Method);
    }
    check_json_content_type(req.headers())?;
    let bytes = body::read(req.into_body(), settings.max_json_bytes).await?;
    let request: FetchRequest =
        serde_json::from_slice(&bytes).map_err(|e| Error::Json(e.to_string()))?;
    match (request.url, request.urls) {
        (Some(url), None) => {
            let path = fetch_one(&url).await?;
            Ok(created(&path))
        }
        (None, Some(urls)) => fetch_batch(urls, settings).await,
        _ => Err(Error::Json(
            "send exactly one of \"url\" or \"urls\"".into(),
        )),
    }
}

/// Accepts JSON, and text/plain because `faas-cli invoke` sends that by default.
pub fn check_json_content_type(headers: &http::HeaderMap) -> Result<(), Error> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let mime = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if matches!(mime.as_str(), "application/json" | "text/plain" | "") || mime.ends_with("+json") {
        Ok(())
    } else {
        Err(Error::ContentType(mime))
    }
}

/// Downloads one URL and stores it.
async fn fetch_one(url: &str) -> Result<ObjectPath, Error> {
    let store = Store::shared()?;
    let download = download::fetch(url, Settings::get()).await?;
    let path = store
        .put_named(
            Area::Incoming,
            download.name,
            download.bytes,
            download.format.mime(),
        )
        .await?;
    tracing::info!(url, %path, "fetched");
    Ok(path)
}

/// Downloads a batch, a few at a time, and reports every outcome in order:
/// 201 when all succeeded, else 207 with `failed` counting the failures.
async fn fetch_batch(urls: Vec<String>, settings: &Settings) -> Result<Response, Error> {
    if urls.is_empty() || urls.len() > settings.max_batch {
        return Err(Error::Batch {
            len: urls.len(),
            max: settings.max_batch,
        });
    }
    let results = run_batch(urls, 4, |url| async move {
        match fetch_one(&url).await {
            Ok(path) => serde_json::json!({"url": url, "path": path.to_string()}),
            Err(err) => serde_json::json!({"url": url, "error": err.to_string(), "status": err.status().as_u16()}),
        }
    })
    .await;
    Ok(batch_response(results))
}

/// Runs `work` over `items` with at most `parallel` at once, keeping the input order.
pub async fn run_batch<T, F, Fut>(items: Vec<T>, parallel: usize, work: F) -> Vec<serde_json::Value>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = serde_json::Value>,
{
    use futures_util::StreamExt;
    futures_util::stream::iter(items.into_iter().map(work))
        .buffered(parallel)
        .collect()
        .await
}

/// The answer to a batch: 201 if every item has a `path`, else 207 naming the failures.
pub fn batch_response(results: Vec<serde_json::Value>) -> Response {
    let failed = results.iter().filter(|r| r.get("error").is_some()).count();
    let status = if failed == 0 {
        StatusCode::CREATED
    } else {
        StatusCode::MULTI_STATUS
    };
    body::json(
        status,
        &serde_json::json!({"results": results, "failed": failed}),
    )
}

/// `201 {"path": …}` with `Location` pointing at get-object through the gateway.
pub fn created(path: &ObjectPath) -> Response {
    let mut response = body::json(
        StatusCode::CREATED,
        &serde_json::json!({"path": path.to_string()}),
    );
    if let Ok(location) = HeaderValue::from_str(&format!("/function/get-object{path}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

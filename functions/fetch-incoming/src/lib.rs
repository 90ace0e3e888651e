//! `fetch-incoming`: downloads images by URL into the `incoming` bucket.
//!
//! `POST {"url":"https://…"}` downloads the URL (size, time and redirect limits, the
//! [`guard`] on every address), checks the bytes are an image, stores them under their
//! SHA-256 and answers `201 {"path":"/incoming/<sha256>"}` with a `Location`.
//! `POST {"urls":[…]}` does the same for several URLs and reports each outcome in order.
//! `POST` an image itself (`image/*` or `application/octet-stream`) stores it the same
//! way. Any other Content-Type is read as JSON (curl -d's form type, faas-cli's text/plain).

mod download;
mod error;
pub mod settings;

pub use error::Error;
use greyfaas_api::{self as api, ApiError};
use greyfaas_store::{Area, ObjectPath, Store};
use http::Method;
use openfaas_runtime::{HttpError, Request, Response, body};
use serde::Deserialize;
use settings::{SETTINGS, Settings};

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
    let settings = &*SETTINGS;
    if req.method() != Method::POST {
        return Err(Error::Method);
    }
    let media_type = api::media_type(req.headers());
    if api::declares_image(&media_type) {
        // An image posted as the body: the start of the pipeline with no URL.
        let path = api::store_upload(req.into_body(), settings.max_bytes).await?;
        return Ok(api::created(&path));
    }
    let bytes = body::read(req.into_body(), settings.max_json_bytes).await?;
    let request: FetchRequest =
        api::parse_json(&bytes, settings.max_json_depth).map_err(ApiError::from)?;
    match (request.url, request.urls) {
        (Some(url), None) => {
            let path = fetch_one(&url).await?;
            Ok(api::created(&path))
        }
        (None, Some(urls)) => fetch_batch(urls, settings).await,
        _ => Err(ApiError::Fields("send exactly one of \"url\" or \"urls\"").into()),
    }
}

/// Downloads one URL and stores it.
async fn fetch_one(url: &str) -> Result<ObjectPath, Error> {
    let store = Store::shared()?;
    let download = download::fetch(url, &SETTINGS).await?;
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
        return Err(ApiError::Batch {
            items: "URLs",
            len: urls.len(),
            max: settings.max_batch,
        }
        .into());
    }
    let results = api::run_batch(urls, 4, |url| async move {
        let result = fetch_one(&url).await.map_err(|e| (e.status(), e));
        api::outcome("url", &url, result)
    })
    .await;
    Ok(api::batch_response(results))
}

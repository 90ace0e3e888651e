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
mod redact;
pub mod settings;

use download::Downloader;
pub use error::Error;
use greyfaas_api::{self as api, ApiError};
use greyfaas_store::{Area, ObjectPath, StoreSource};
use http::Method;
use openfaas_runtime::{Function, FunctionSettings, Request, Response, body};
use serde::Deserialize;
use settings::Settings;
use std::sync::LazyLock;

/// The request body: one URL or a batch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchRequest {
    url: Option<String>,
    urls: Option<Vec<String>>,
}

/// The process's function: settings from the environment, the store from its secrets.
static FUNCTION: LazyLock<FetchIncoming> =
    LazyLock::new(|| FetchIncoming::new(Settings::from_env(), StoreSource::FromEnv));

pub async fn handle(req: Request) -> Response {
    FUNCTION.respond(req).await
}

/// fetch-incoming's state, built once: what [`handle`] serves with, and what the
/// crate's own tests build with settings and an in-process store of their own.
pub struct FetchIncoming<'s> {
    settings: Settings,
    store: StoreSource<'s>,
    downloader: Downloader,
}

impl<'s> FetchIncoming<'s> {
    pub fn new(settings: Settings, store: StoreSource<'s>) -> Self {
        FetchIncoming {
            settings,
            store,
            downloader: Downloader::default(),
        }
    }
}

impl Function for FetchIncoming<'_> {
    type Error = Error;

    async fn serve(&self, req: Request) -> Result<Response, Error> {
        let settings = &self.settings;
        if req.method() != Method::POST {
            return Err(ApiError::Method("POST with {\"url\": \"https://…\"}").into());
        }
        let media_type = api::media_type(req.headers());
        if api::declares_image(&media_type) {
            // An image posted as the body: the start of the pipeline with no URL.
            let path = api::store_upload(req.into_body(), settings.max_bytes, self.store).await?;
            return Ok(api::created(&path));
        }
        let bytes = body::read(req.into_body(), settings.max_json_bytes).await?;
        let request: FetchRequest =
            api::parse_json(&bytes, settings.max_json_depth).map_err(ApiError::from)?;
        match (request.url, request.urls) {
            (Some(url), None) => {
                let path = self.fetch_one(&url).await?;
                Ok(api::created(&path))
            }
            (None, Some(urls)) => {
                let batch = api::Batch {
                    key: "url",
                    items: "URLs",
                    max: settings.max_batch,
                    parallel: 4,
                };
                let report = batch.run(urls, |url| async move { self.fetch_one(&url).await });
                Ok(report.await?)
            }
            _ => Err(ApiError::Fields("send exactly one of \"url\" or \"urls\"").into()),
        }
    }
}

impl FetchIncoming<'_> {
    /// Downloads one URL and stores it.
    async fn fetch_one(&self, url: &str) -> Result<ObjectPath, Error> {
        let store = self.store.get()?;
        let download = self.downloader.fetch(url, &self.settings).await?;
        let path = store
            .put_named(
                Area::Incoming,
                download.name,
                download.bytes,
                download.format.mime(),
            )
            .await?;
        tracing::info!(url = redact::text(url), %path, "fetched");
        Ok(path)
    }
}

//! `greyscale`: turns images grey, in their own format.
//!
//! - `POST {"path":"/incoming/<sha256>"}` converts a stored image and stores the result
//!   under its own SHA-256: `201 {"path":"/processed/<sha256>"}` with `Location`.
//! - `POST {"paths":[…]}` does a batch, reported item by item.
//! - `POST {"url":"…"}` first asks `fetch-incoming` — over the gateway, as any client
//!   would — to download the URL, then converts it.
//! - `POST` an image (`image/*` or `application/octet-stream`, or any type when the body
//!   is not JSON) answers the greyscale image itself, storing nothing.
//!
//! The image work itself is `greyfaas-image-kernel`'s (bytes in, bytes out); this crate
//! reads requests, bounds how many conversions run at once (`slots`), and stores.

mod chain;
mod error;
pub mod settings;
mod slots;

pub use error::Error;
use greyfaas_api::{self as api, ApiError};
use greyfaas_image_kernel::{self as kernel, Cancel, Converted};
use greyfaas_store::{Area, ObjectPath, StoreSource};
use http::{HeaderValue, Method, header};
use openfaas_runtime::{CALL_ID, Function, FunctionSettings, Request, Response, body};
use serde::Deserialize;
use settings::Settings;
use slots::Slot;
use std::sync::LazyLock;

/// The request body in JSON mode: exactly one of the three fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GreyRequest {
    path: Option<String>,
    paths: Option<Vec<String>>,
    url: Option<String>,
}

/// The process's function: settings from the environment, the store from its secrets.
static FUNCTION: LazyLock<Greyscale> = LazyLock::new(|| {
    slots::return_freed_buffers_to_the_system();
    Greyscale::new(Settings::from_env(), StoreSource::FromEnv)
});

pub async fn handle(req: Request) -> Response {
    FUNCTION.respond(req).await
}

/// greyscale's state, built once: what [`handle`] serves with, and what the crate's
/// own tests build with settings and an in-process store of their own.
pub struct Greyscale<'s> {
    settings: Settings,
    store: StoreSource<'s>,
}

impl<'s> Greyscale<'s> {
    pub fn new(settings: Settings, store: StoreSource<'s>) -> Self {
        Greyscale { settings, store }
    }
}

impl Function for Greyscale<'_> {
    type Error = Error;

    async fn serve(&self, req: Request) -> Result<Response, Error> {
        if req.method() != Method::POST {
            let usage = "POST with {\"path\": \"/incoming/<sha256>\"}, {\"url\": …} or an image";
            return Err(ApiError::Method(usage).into());
        }
        let settings = &self.settings;
        let media_type = api::media_type(req.headers());
        let call_id = req.headers().get(CALL_ID).cloned();
        // An image type means an image; any other type (curl -d's form type, faas-cli's
        // text/plain) means JSON if the body looks like JSON, else an image to convert.
        let declared_image = api::declares_image(&media_type);
        // A declared image waits for its conversion slot before its body is read, so a
        // burst of large images queues unread (see `slots`).
        let early_slot = match declared_image {
            true => Some(settings.slots.acquire().await?),
            false => None,
        };
        let bytes = body::read(req.into_body(), settings.max_image_bytes).await?;
        if declared_image || !api::looks_like_json(&bytes) {
            let slot = match early_slot {
                Some(slot) => slot,
                None => settings.slots.acquire().await?,
            };
            let (converted, _slot) = self.convert(bytes, slot).await?;
            let mut response = http::Response::new(body::full(converted.bytes));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(converted.format.mime()),
            );
            return Ok(response);
        }
        if bytes.len() as u64 > settings.max_json_bytes {
            return Err(openfaas_runtime::BodyError::TooLarge {
                limit: settings.max_json_bytes,
            }
            .into());
        }
        let request: GreyRequest =
            api::parse_json(&bytes, settings.max_json_depth).map_err(ApiError::from)?;
        match (request.path, request.paths, request.url) {
            (Some(path), None, None) => Ok(api::created(&self.grey_stored(&path).await?)),
            (None, Some(paths), None) => {
                let batch = api::Batch {
                    key: "path",
                    items: "paths",
                    max: settings.max_batch,
                    parallel: 2,
                };
                let report = batch.run(paths, |path| async move { self.grey_stored(&path).await });
                Ok(report.await?)
            }
            (None, None, Some(url)) => {
                let incoming =
                    chain::fetch_incoming(&settings.gateway_url, &url, call_id.as_ref()).await?;
                Ok(api::created(&self.grey_stored(&incoming).await?))
            }
            _ => Err(ApiError::Fields("send exactly one of \"path\", \"paths\" or \"url\"").into()),
        }
    }
}

impl Greyscale<'_> {
    /// Converts the stored image at `path` and stores the result in `processed`.
    async fn grey_stored(&self, path: &str) -> Result<ObjectPath, Error> {
        let path = ObjectPath::parse(path)?;
        let store = self.store.get()?;
        let slot = self.settings.slots.acquire().await?;
        let (bytes, _) = store.read(&path, self.settings.max_image_bytes).await?;
        let (converted, _slot) = self.convert(bytes, slot).await?;
        // The source goes into the result's metadata: the gallery shows them side by side.
        let result = store
            .put_derived(
                Area::Processed,
                converted.bytes.into(),
                converted.format.mime(),
                &path,
            )
            .await?;
        tracing::info!(source = %path, %result, "converted");
        Ok(result)
    }

    /// Converts on the blocking pool, so the async threads keep answering health checks
    /// and cheap requests, once the memory it needs is reserved. The conversion's thread
    /// holds `slot` while it works and hands it back with the result (the caller keeps
    /// it until the result is stored). If this future is dropped first — the client hung
    /// up, or `exec_timeout` fired — the conversion is cancelled, and its slot and memory
    /// come free when its work has stopped.
    async fn convert(
        &self,
        bytes: bytes::Bytes,
        mut slot: Slot,
    ) -> Result<(Converted, Slot), Error> {
        let options = self.settings.convert;
        // The header says what the conversion will hold at its peak; that much of the
        // memory budget is taken before it starts (see `slots`).
        let header = bytes.clone();
        let needed = on_blocking_pool(move || kernel::peak_bytes(&header, &options)).await?;
        self.settings.slots.reserve(&mut slot, needed).await?;
        tracing::debug!(needed, "memory reserved for the conversion");
        let cancel_on_drop = CancelOnDrop(Cancel::new());
        let cancel = cancel_on_drop.0.clone();
        on_blocking_pool(move || {
            kernel::greyscale_cancellable(&bytes, &options, &cancel).map(|done| (done, slot))
        })
        .await
    }
}

/// Cancels a conversion when the request future that waits for it is dropped.
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs `work` on the blocking pool. A panic in it is a bug of ours: its text goes to
/// the log, and the caller gets [`Error::ConversionPanicked`], whose message is short
/// and fixed — a panic's text (file paths, values from the image) is never sent.
async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, kernel::ConvertError> + Send + 'static,
) -> Result<T, Error> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(Error::from),
        Err(failed) => {
            let text = match failed.try_into_panic() {
                Ok(panic) => panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default(),
                Err(cancelled) => cancelled.to_string(),
            };
            tracing::error!(panic = %text, "the conversion panicked");
            Err(Error::ConversionPanicked)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openfaas_runtime::HttpError;

    #[tokio::test]
    async fn a_panicking_conversion_answers_a_fixed_message_without_the_panic_text() {
        let secret = "index out of bounds: the len is 2048 but the index is 3072";
        let failed = on_blocking_pool::<()>(move || panic!("{secret}"))
            .await
            .unwrap_err();
        assert!(matches!(failed, Error::ConversionPanicked));
        let response = failed.into_response();
        assert_eq!(response.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = body::read(response.into_body(), u64::MAX).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": "internal error: the conversion failed"})
        );
        assert!(!String::from_utf8_lossy(&bytes).contains("3072"));
    }
}

//! `gallery`: a web page for people who would rather look than read JSON.
//!
//! - `GET /` — the page (HTML, script and style embedded; works offline). It submits
//!   URLs to greyscale, uploads local files, shows each original beside its greyscale
//!   result (images through get-object) and the functions' status from the gateway's
//!   `/system/functions`.
//! - `GET /api/gallery?page=N` — one page of results, newest first, with their originals.
//! - `POST /upload` — an image, raw: stored in `incoming`, `201 {"path": …}`.
//!
//! The gateway of `greyfaas up` serves this function at `/ui/` as well.

mod error;
mod listing;
mod page;
pub mod settings;

pub use error::Error;
use greyfaas_api::{self as api, ApiError};
use greyfaas_store::StoreSource;
use http::{Method, StatusCode};
use openfaas_runtime::{Function, FunctionSettings, Request, Response, body};
use settings::Settings;
use std::sync::LazyLock;

/// The process's function: settings from the environment, the store from its secrets.
static FUNCTION: LazyLock<Gallery> =
    LazyLock::new(|| Gallery::new(Settings::from_env(), StoreSource::FromEnv));

pub async fn handle(req: Request) -> Response {
    FUNCTION.respond(req).await
}

/// gallery's state, built once: what [`handle`] serves with, and what the crate's own
/// tests build with settings and an in-process store of their own.
pub struct Gallery<'s> {
    settings: Settings,
    store: StoreSource<'s>,
}

impl<'s> Gallery<'s> {
    pub fn new(settings: Settings, store: StoreSource<'s>) -> Self {
        Gallery { settings, store }
    }
}

impl Function for Gallery<'_> {
    type Error = Error;

    async fn serve(&self, req: Request) -> Result<Response, Error> {
        let settings = &self.settings;
        let method = |usage| Err(ApiError::Method(usage).into());
        match req.uri().path() {
            "/" | "/index.html" if req.method() == Method::GET => Ok(page::index()),
            "/" | "/index.html" => method("GET"),
            "/api/gallery" if req.method() == Method::GET => {
                let page = page_number(req.uri().query())?;
                let json = listing::page(self.store.get()?, page, settings.page_size).await?;
                Ok(body::json(StatusCode::OK, &json))
            }
            "/api/gallery" => method("GET"),
            "/upload" if req.method() == Method::POST => {
                let max = settings.max_image_bytes;
                let path = api::store_upload(req.into_body(), max, self.store).await?;
                Ok(api::created(&path))
            }
            "/upload" => method("POST with the image as the body"),
            other => Err(Error::NoRoute(other.to_string())),
        }
    }
}

/// `page=N` from the query string: 1 when absent, an error when not a positive number.
fn page_number(query: Option<&str>) -> Result<usize, Error> {
    let Some(value) = query
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("page="))
    else {
        return Ok(1);
    };
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=1_000_000).contains(n))
        .ok_or_else(|| Error::Query(format!("page must be a number from 1, not {value:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers() {
        assert_eq!(page_number(None).unwrap(), 1);
        assert_eq!(page_number(Some("x=1&page=3")).unwrap(), 3);
        assert!(page_number(Some("page=0")).is_err());
        assert!(page_number(Some("page=-1")).is_err());
        assert!(page_number(Some("page=abc")).is_err());
    }
}

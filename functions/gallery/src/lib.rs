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
use greyfaas_api as api;
use greyfaas_store::Store;
use http::{Method, StatusCode};
use openfaas_runtime::{HttpError, Request, Response, body};
use settings::SETTINGS;

pub async fn handle(req: Request) -> Response {
    serve(req).await.unwrap_or_else(Error::into_response)
}

async fn serve(req: Request) -> Result<Response, Error> {
    let settings = &*SETTINGS;
    match req.uri().path() {
        "/" | "/index.html" if req.method() == Method::GET => Ok(page::index()),
        "/" | "/index.html" => Err(Error::Method("GET")),
        "/api/gallery" if req.method() == Method::GET => {
            let page = page_number(req.uri().query())?;
            let json = listing::page(Store::shared()?, page, settings.page_size).await?;
            Ok(body::json(StatusCode::OK, &json))
        }
        "/api/gallery" => Err(Error::Method("GET")),
        "/upload" if req.method() == Method::POST => {
            let path = api::store_upload(req.into_body(), settings.max_image_bytes).await?;
            Ok(api::created(&path))
        }
        "/upload" => Err(Error::Method("POST with the image as the body")),
        other => Err(Error::NoRoute(other.to_string())),
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
    use http_body_util::BodyExt;

    async fn call(method: &str, uri: &str, bytes: &'static [u8]) -> (StatusCode, Vec<u8>) {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(body::full(bytes))
            .unwrap();
        let response = handle(req).await;
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, bytes.to_vec())
    }

    #[test]
    fn page_numbers() {
        assert_eq!(page_number(None).unwrap(), 1);
        assert_eq!(page_number(Some("x=1&page=3")).unwrap(), 3);
        assert!(page_number(Some("page=0")).is_err());
        assert!(page_number(Some("page=-1")).is_err());
        assert!(page_number(Some("page=abc")).is_err());
    }

    #[tokio::test]
    async fn the_page_and_refusals_need_no_store() {
        let (status, html) = call("GET", "/", b"").await;
        assert_eq!(status, StatusCode::OK);
        assert!(String::from_utf8(html).unwrap().contains("<main"));
        let (status, _) = call("GET", "/nope", b"").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call("DELETE", "/upload", b"").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        let (status, json) = call("POST", "/upload", b"<html>not an image</html>").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(
            String::from_utf8(json)
                .unwrap()
                .contains("not a supported image")
        );
        let (status, _) = call("GET", "/api/gallery?page=zero", b"").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}

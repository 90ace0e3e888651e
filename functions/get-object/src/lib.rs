//! `get-object`: streams a stored object back.
//!
//! `GET /incoming/<sha256>` or `/processed/<sha256>` answers the bytes with their
//! Content-Type, Content-Length and an ETag (the name: content-addressed, so strong and
//! immutable). `HEAD`, `If-None-Match` (304), `Range` (206, or 416) and `If-Range` work
//! as HTTP says; [`range`] reads the `Range` header.
//! `GET /` lists the routes of all the functions.

mod error;
pub mod range;
pub mod settings;

use error::Error;
use greyfaas_store::{ObjectPath, StoreSource};
use http::{HeaderValue, Method, StatusCode, header};
use openfaas_runtime::{Function, Request, Response, body};

/// Names never change content, so caches may keep responses forever.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The process's function: the store from its secrets.
static FUNCTION: GetObject = GetObject::new(StoreSource::FromEnv);

pub async fn handle(req: Request) -> Response {
    FUNCTION.respond(req).await
}

/// get-object's state: only where its store is. The crate's own tests build one with
/// an in-process store.
pub struct GetObject<'s> {
    store: StoreSource<'s>,
}

impl<'s> GetObject<'s> {
    pub const fn new(store: StoreSource<'s>) -> Self {
        GetObject { store }
    }
}

impl Function for GetObject<'_> {
    type Error = Error;

    async fn serve(&self, req: Request) -> Result<Response, Error> {
        serve(req, self.store).await
    }
}

async fn serve(req: Request, store: StoreSource<'_>) -> Result<Response, Error> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(Error::Method);
    }
    if req.uri().path() == "/" {
        return Ok(body::json(StatusCode::OK, &routes()));
    }
    let path = ObjectPath::parse(req.uri().path())?;
    let store = store.get()?;
    let etag = format!("\"{}\"", path.name);

    if let Some(tags) = req.headers().get(header::IF_NONE_MATCH)
        && matches_etag(tags, &etag)
    {
        store.head(&path).await?; // 304 only for objects that exist
        return Ok(not_modified(&etag));
    }
    if req.method() == Method::HEAD {
        let info = store.head(&path).await?;
        let mut response = http::Response::new(body::empty());
        set_headers(
            &mut response,
            &info.content_type,
            info.content_length,
            &etag,
        );
        return Ok(response);
    }

    let range = match requested_range(&req, &etag) {
        Some(header) => {
            // The length first, so the store is sent only an absolute range inside it.
            let info = store.head(&path).await?;
            match range::wanted(header, info.content_length) {
                range::Wanted::Whole => None,
                range::Wanted::Part(part) => Some((part, info.content_length)),
                range::Wanted::Unsatisfiable => {
                    return Err(Error::RangeNotSatisfiable {
                        length: info.content_length,
                    });
                }
            }
        }
        None => None,
    };
    let object = store.get(&path, range.map(|(part, _)| part)).await?;
    // The store streams small pieces; pass them on in large frames.
    let stream = body::Coalesce::new(object.body.into_inner(), 256 << 10);
    let mut response = http::Response::new(body::stream(stream));
    set_headers(
        &mut response,
        &object.info.content_type,
        object.info.content_length,
        &etag,
    );
    if let Some((part, length)) = range {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let content_range = format!("bytes {}-{}/{length}", part.first, part.last);
        if let Ok(v) = HeaderValue::from_str(&content_range) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(response)
}

/// The `Range` value to honour, if any: none when `If-Range` names another
/// representation (RFC 9110 §13.1.5: only our strong ETag matches; a date never does,
/// as no Last-Modified is sent), and none that is not text.
fn requested_range<'r>(req: &'r Request, etag: &str) -> Option<&'r str> {
    let range = req.headers().get(header::RANGE)?.to_str().ok()?;
    match req.headers().get(header::IF_RANGE) {
        Some(tag) if tag.as_bytes() != etag.as_bytes() => None,
        _ => Some(range),
    }
}

fn set_headers(response: &mut Response, content_type: &str, length: u64, etag: &str) {
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, v);
    }
}

fn not_modified(etag: &str) -> Response {
    let mut response = http::Response::new(body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    if let Ok(v) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// `If-None-Match: "a", W/"b"` or `*` against our strong ETag (weak comparison, RFC 9110).
fn matches_etag(header: &HeaderValue, etag: &str) -> bool {
    let Ok(text) = header.to_str() else {
        return false;
    };
    text.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

/// The API of the functions, for `GET /`.
fn routes() -> serde_json::Value {
    serde_json::json!({
        "functions": {
            "fetch-incoming": [
                {"method": "POST", "path": "/", "body": {"url": "https://…"}, "answers": "201 {\"path\":\"/incoming/<sha256>\"}"},
                {"method": "POST", "path": "/", "body": {"urls": ["https://…"]}, "answers": "201, or 207 with each URL's outcome"}
            ],
            "greyscale": [
                {"method": "POST", "path": "/", "body": {"path": "/incoming/<sha256>"}, "answers": "201 {\"path\":\"/processed/<sha256>\"}"},
                {"method": "POST", "path": "/", "body": {"paths": ["/incoming/<sha256>"]}, "answers": "201, or 207 with each path's outcome"},
                {"method": "POST", "path": "/", "body": {"url": "https://…"}, "answers": "fetch-incoming through the gateway, then 201"},
                {"method": "POST", "path": "/", "body": "an image (Content-Type image/* or application/octet-stream)", "answers": "200 the greyscale image, nothing stored"}
            ],
            "get-object": [
                {"method": "GET", "path": "/incoming/<sha256>", "answers": "the bytes; HEAD, If-None-Match and Range supported"},
                {"method": "GET", "path": "/processed/<sha256>", "answers": "the bytes; HEAD, If-None-Match and Range supported"},
                {"method": "GET", "path": "/", "answers": "this list"}
            ],
            "gallery": [
                {"method": "GET", "path": "/", "answers": "the web page (also at the gateway's /ui/ under greyfaas up)"},
                {"method": "GET", "path": "/api/gallery?page=N", "answers": "200 {\"items\":[{\"processed\":…,\"original\":…}],\"page\",\"pages\",\"total\"}, newest first"},
                {"method": "POST", "path": "/upload", "body": "an image, raw", "answers": "201 {\"path\":\"/incoming/<sha256>\"}"}
            ]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn etags_match_strong_weak_and_star() {
        let etag = "\"abc\"";
        assert!(matches_etag(&HeaderValue::from_static("\"abc\""), etag));
        assert!(matches_etag(
            &HeaderValue::from_static("\"x\", W/\"abc\""),
            etag
        ));
        assert!(matches_etag(&HeaderValue::from_static("*"), etag));
        assert!(!matches_etag(&HeaderValue::from_static("\"abd\""), etag));
    }

    async fn call(method: &str, path: &str) -> (StatusCode, serde_json::Value) {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .body(body::empty())
            .unwrap();
        let response = handle(req).await;
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn bad_paths_and_methods_are_refused_before_the_store() {
        let (status, json) = call("GET", "/other/abc").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(json["error"].as_str().unwrap().contains("unknown bucket"));
        let (status, _) = call("GET", "/incoming/not-a-hash").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = call("DELETE", "/incoming/x").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        let (status, json) = call("GET", "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(json["functions"]["greyscale"].is_array());
    }
}

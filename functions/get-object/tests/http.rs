//! get-object's HTTP behaviour, tested inside its own crate: the handler called
//! directly, reading from a real S3 server (s3s-fs) started in this process.

use bytes::Bytes;
use greyfaas_store::server::InProcess;
use greyfaas_store::{Area, ObjectPath, Store, StoreSource};
use handler::GetObject;
use http::{Method, StatusCode, header};
use http_body_util::BodyExt;
use openfaas_runtime::{Function, body};

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

async fn call(store: &Store, method: Method, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let function = GetObject::new(StoreSource::Given(store));
    let response = function.respond(req.body(body::empty()).unwrap()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

/// A small PNG (signature and IHDR are enough for the store's sniffing).
fn png() -> Bytes {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend((0..200u8).collect::<Vec<_>>());
    Bytes::from(bytes)
}

async fn stored(store: &Store) -> (ObjectPath, Bytes) {
    let bytes = png();
    let path = store
        .put(Area::Incoming, bytes.clone(), "image/png")
        .await
        .unwrap();
    (path, bytes)
}

#[tokio::test]
async fn a_stored_object_comes_back_with_its_type_tag_and_caching() {
    let s3 = InProcess::start().await.unwrap();
    let (path, bytes) = stored(&s3.store).await;

    let got = call(&s3.store, Method::GET, &path.to_string(), &[]).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, bytes);
    assert_eq!(got.headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(
        got.headers[header::ETAG],
        format!("\"{}\"", path.name).as_str()
    );
    assert!(
        got.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );

    let head = call(&s3.store, Method::HEAD, &path.to_string(), &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(
        head.headers[header::CONTENT_LENGTH],
        bytes.len().to_string().as_str()
    );
}

#[tokio::test]
async fn conditional_and_range_requests_are_answered_as_http_says() {
    let s3 = InProcess::start().await.unwrap();
    let (path, bytes) = stored(&s3.store).await;
    let etag = format!("\"{}\"", path.name);

    let cached = call(
        &s3.store,
        Method::GET,
        &path.to_string(),
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert!(cached.body.is_empty());

    let part = call(
        &s3.store,
        Method::GET,
        &path.to_string(),
        &[("range", "bytes=2-9")],
    )
    .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, bytes.slice(2..10));
    assert_eq!(
        part.headers[header::CONTENT_RANGE],
        format!("bytes 2-9/{}", bytes.len()).as_str()
    );

    let beyond = call(
        &s3.store,
        Method::GET,
        &path.to_string(),
        &[("range", "bytes=9999-")],
    )
    .await;
    assert_eq!(beyond.status, StatusCode::RANGE_NOT_SATISFIABLE);
    let odd = call(
        &s3.store,
        Method::GET,
        &path.to_string(),
        &[("range", "lines=1-2")],
    )
    .await;
    assert_eq!(odd.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn missing_is_404_store_down_is_503_and_the_route_list_needs_no_store() {
    let s3 = InProcess::start().await.unwrap();
    let missing = format!("/processed/{}", "0".repeat(64));
    let got = call(&s3.store, Method::GET, &missing, &[]).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    let json: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert!(json["error"].is_string(), "{json}");

    let down = s3.down();
    let got = call(&down, Method::GET, &missing, &[]).await;
    assert_eq!(got.status, StatusCode::SERVICE_UNAVAILABLE);
    let message = greyfaas_store::server::check_plain_error(&got.body).unwrap();
    assert_eq!(message, "object store is unavailable");
    // The list of routes needs no store, so it is served while the store is down.
    assert_eq!(
        call(&down, Method::GET, "/", &[]).await.status,
        StatusCode::OK
    );
}

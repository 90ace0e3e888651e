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
    // A unit we do not serve is ignored (RFC 9110 §14.2): the whole object.
    let odd = call(
        &s3.store,
        Method::GET,
        &path.to_string(),
        &[("range", "lines=1-2")],
    )
    .await;
    assert_eq!(odd.status, StatusCode::OK);
    assert_eq!(odd.body, bytes);
}

/// A `Range`, the status it gets, and the `first..=last` a 206 serves.
type Case = (&'static str, StatusCode, Option<(usize, usize)>);

/// Every `Range` a hostile client might send, against a 98-byte object: each answered
/// at once as RFC 9110 §14 says, none passed to the store as it came.
#[tokio::test]
async fn hostile_ranges_get_206_200_or_416_at_once() {
    let s3 = InProcess::start().await.unwrap();
    let bytes = Bytes::from((0..98u8).collect::<Vec<_>>());
    let path = s3
        .store
        .put(Area::Incoming, bytes.clone(), "application/octet-stream")
        .await
        .unwrap()
        .to_string();
    let cases: &[Case] = &[
        ("bytes=-1000", StatusCode::PARTIAL_CONTENT, Some((0, 97))),
        ("bytes=-10", StatusCode::PARTIAL_CONTENT, Some((88, 97))),
        (
            "bytes=-9223372036854775808",
            StatusCode::PARTIAL_CONTENT,
            Some((0, 97)),
        ),
        (
            "bytes=-99999999999999999999999",
            StatusCode::PARTIAL_CONTENT,
            Some((0, 97)),
        ),
        ("bytes=90-1000", StatusCode::PARTIAL_CONTENT, Some((90, 97))),
        (
            "bytes=0-99999999999999999999999",
            StatusCode::PARTIAL_CONTENT,
            Some((0, 97)),
        ),
        ("bytes=5-", StatusCode::PARTIAL_CONTENT, Some((5, 97))),
        ("bytes=0-1,4-5", StatusCode::OK, None),
        ("bytes=50-10", StatusCode::OK, None),
        ("bytes=abc", StatusCode::OK, None),
        ("bytes=", StatusCode::OK, None),
        ("lines=1-2", StatusCode::OK, None),
        ("bytes=98-", StatusCode::RANGE_NOT_SATISFIABLE, None),
        (
            "bytes=9223372036854775808-",
            StatusCode::RANGE_NOT_SATISFIABLE,
            None,
        ),
        (
            "bytes=99999999999999999999999-",
            StatusCode::RANGE_NOT_SATISFIABLE,
            None,
        ),
        ("bytes=-0", StatusCode::RANGE_NOT_SATISFIABLE, None),
    ];
    for (range, status, part) in cases {
        let started = std::time::Instant::now();
        let got = call(&s3.store, Method::GET, &path, &[("range", range)]).await;
        assert!(started.elapsed().as_millis() < 1000, "{range}: slow");
        assert_eq!(got.status, *status, "{range}: {:?}", got.body);
        match (status.as_u16(), part) {
            (206, Some((first, last))) => {
                assert_eq!(got.body, bytes.slice(*first..=*last), "{range}");
                assert_eq!(
                    got.headers[header::CONTENT_RANGE],
                    format!("bytes {first}-{last}/98").as_str(),
                    "{range}"
                );
                let length = (last - first + 1).to_string();
                assert_eq!(got.headers[header::CONTENT_LENGTH], length.as_str());
            }
            (200, _) => assert_eq!(got.body, bytes, "{range}"),
            _ => {
                assert_eq!(got.headers[header::CONTENT_RANGE], "bytes */98", "{range}");
                let json: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
                assert!(
                    json["error"].as_str().unwrap().contains("98 bytes"),
                    "{json}"
                );
            }
        }
    }
}

/// `If-Range` with our ETag keeps the range; any other validator (another tag, a date)
/// gets the whole object.
#[tokio::test]
async fn if_range_keeps_the_range_only_for_our_etag() {
    let s3 = InProcess::start().await.unwrap();
    let (path, bytes) = stored(&s3.store).await;
    let etag = format!("\"{}\"", path.name);
    fn ask(if_range: &str) -> [(&str, &str); 2] {
        [("range", "bytes=0-3"), ("if-range", if_range)]
    }
    let same = call(&s3.store, Method::GET, &path.to_string(), &ask(&etag)).await;
    assert_eq!(same.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(same.body, bytes.slice(0..4));
    for other in ["\"other\"", "Wed, 21 Oct 2015 07:28:00 GMT"] {
        let got = call(&s3.store, Method::GET, &path.to_string(), &ask(other)).await;
        assert_eq!(got.status, StatusCode::OK, "{other}");
        assert_eq!(got.body, bytes);
    }
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

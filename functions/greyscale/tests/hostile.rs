//! Hostile images through greyscale's handler (issue 18): files made here to crash the
//! decoders or to cost far more CPU than their size. Each must be refused fast, with a
//! 4xx and a JSON error body — never a panic, a 500, or seconds of work.

use bytes::Bytes;
use greyfaas_store::StoreSource;
use handler::Greyscale;
use handler::settings::Settings;
use http::{Method, StatusCode, header};
use openfaas_runtime::{Function, FunctionSettings, body};
use std::time::{Duration, Instant};

/// greyscale with the defaults, but for `extra`. Raw posts never reach a store.
fn function(extra: &[(&str, &str)]) -> Greyscale<'static> {
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let settings = Settings::from_lookup(move |name| {
        extra
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    });
    Greyscale::new(settings, StoreSource::FromEnv)
}

/// What a refusal looked like, and how long it took.
struct Refusal {
    status: StatusCode,
    error: String,
    took: Duration,
}

/// Posts `image` raw, as `faas-cli invoke greyscale < file` does, and expects a 4xx
/// with a JSON `{"error": …}` body.
async fn refused(function: &Greyscale<'_>, image: Vec<u8>) -> Refusal {
    let request = http::Request::builder()
        .method(Method::POST)
        .uri("/")
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(body::full(Bytes::from(image)))
        .unwrap();
    let started = Instant::now();
    let response = function.respond(request).await;
    let took = started.elapsed();
    let status = response.status();
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/json",
        "{status}"
    );
    let bytes = body::read(response.into_body(), u64::MAX).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON body");
    let error = json["error"]
        .as_str()
        .expect("an error message")
        .to_string();
    assert!(status.is_client_error(), "{status}: {error}");
    Refusal {
        status,
        error,
        took,
    }
}

/// The 28-byte file of issue 18: SOI, a DHT whose count of 1-bit codes is 3 (only two
/// fit, and one of them would be all ones), EOI. Its table used to be filled before its
/// counts were checked, indexing past the lookup table: a panic, a 500 with its text.
fn bad_dht_jpeg() -> Vec<u8> {
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x16, 0x00, 3];
    jpeg.extend_from_slice(&[0; 15]);
    jpeg.extend_from_slice(&[0, 1, 2]);
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

#[tokio::test]
async fn a_jpeg_with_a_bogus_huffman_table_is_422_not_a_panic() {
    let jpeg = bad_dht_jpeg();
    assert_eq!(jpeg.len(), 28);
    let got = refused(&function(&[]), jpeg).await;
    assert_eq!(
        got.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        got.error
    );
    assert!(got.error.contains("bad Huffman table"), "{}", got.error);
    assert!(got.took < Duration::from_secs(1), "{:?}", got.took);
}

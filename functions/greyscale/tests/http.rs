//! greyscale's HTTP behaviour, tested inside its own crate: the handler called
//! directly, reading and writing a real S3 server (s3s-fs) started in this process,
//! on images encoded here (the end-to-end tests in `local/` use the photo corpus).

use bytes::Bytes;
use greyfaas_store::server::InProcess;
use greyfaas_store::{Area, NameHasher, ObjectPath, Store, StoreSource};
use handler::Greyscale;
use handler::settings::Settings;
use http::{Method, StatusCode, header};
use image::{DynamicImage, ImageFormat, RgbImage};
use openfaas_runtime::{Function, FunctionSettings, body};
use serde_json::{Value, json};

/// A colourful 64×48 image in `format`.
fn colour_image(format: ImageFormat) -> Bytes {
    let image = RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 200 - (x + y) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image)
        .write_to(&mut out, format)
        .unwrap();
    Bytes::from(out.into_inner())
}

/// greyscale's settings for these tests: a gateway on a loopback port nothing
/// listens on, and at most 2,000 pixels (so a 64×48 image is over the limit when asked).
fn settings(extra: &[(&str, &str)]) -> Settings {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gateway = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_lookup(move |name| match name {
        "gateway_url" => Some(gateway.clone()),
        "max_batch" => Some("3".into()),
        _ => extra
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone()),
    })
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn call(function: &Greyscale<'_>, content_type: Option<&str>, body: Bytes) -> Answer {
    let mut req = http::Request::builder().method(Method::POST).uri("/");
    if let Some(content_type) = content_type {
        req = req.header(header::CONTENT_TYPE, content_type);
    }
    let response = function.respond(req.body(body::full(body)).unwrap()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = body::read(response.into_body(), u64::MAX).await.unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

/// A JSON request as `curl -d` sends it: with the form Content-Type.
async fn post_json(function: &Greyscale<'_>, value: Value) -> Answer {
    let form = Some("application/x-www-form-urlencoded");
    call(function, form, value.to_string().into()).await
}

/// Asserts every pixel of `bytes` is grey.
fn assert_grey(bytes: &[u8]) {
    let image = image::load_from_memory(bytes).unwrap().to_rgb8();
    assert!(
        image.pixels().all(|p| p[0] == p[1] && p[1] == p[2]),
        "every pixel grey"
    );
}

async fn put_incoming(store: &Store, bytes: Bytes, mime: &str) -> ObjectPath {
    store.put(Area::Incoming, bytes, mime).await.unwrap()
}

#[tokio::test]
async fn a_stored_image_is_converted_and_stored_under_its_sha256_with_its_source() {
    let s3 = InProcess::start().await.unwrap();
    let function = Greyscale::new(settings(&[]), StoreSource::Given(&s3.store));
    for format in [ImageFormat::Png, ImageFormat::Jpeg] {
        let source = put_incoming(&s3.store, colour_image(format), format.to_mime_type()).await;

        let got = post_json(&function, json!({ "path": source.to_string() })).await;
        assert_eq!(got.status, StatusCode::CREATED, "{}", got.json());
        let result = ObjectPath::parse(got.json()["path"].as_str().unwrap()).unwrap();
        assert_eq!(result.area, Area::Processed);
        assert_eq!(
            got.headers[header::LOCATION],
            format!("/function/get-object{result}").as_str()
        );
        let (bytes, info) = s3.store.read(&result, u64::MAX).await.unwrap();
        let mut hasher = NameHasher::default();
        hasher.update(&bytes);
        assert_eq!(hasher.finish(), result.name, "name = sha256(content)");
        assert_eq!(info.content_type, format.to_mime_type(), "kept its format");
        assert_eq!(info.source.as_deref(), Some(source.to_string().as_str()));
        assert_grey(&bytes);
    }
}

#[tokio::test]
async fn an_image_posted_raw_comes_back_grey_and_nothing_is_stored() {
    let s3 = InProcess::start().await.unwrap();
    let function = Greyscale::new(settings(&[]), StoreSource::Given(&s3.store));
    // Declared as an image, and as curl -d --data-binary sends it (form type).
    for content_type in ["image/png", "application/x-www-form-urlencoded"] {
        let got = call(
            &function,
            Some(content_type),
            colour_image(ImageFormat::Png),
        )
        .await;
        assert_eq!(got.status, StatusCode::OK, "{content_type}");
        assert_eq!(got.headers[header::CONTENT_TYPE], "image/png");
        assert_grey(&got.body);
    }
    assert!(s3.store.list(Area::Processed).await.unwrap().is_empty());
    assert!(s3.store.list(Area::Incoming).await.unwrap().is_empty());
}

#[tokio::test]
async fn what_is_not_an_image_or_too_big_or_missing_gets_its_status_and_nothing_stored() {
    let s3 = InProcess::start().await.unwrap();
    let function = Greyscale::new(settings(&[]), StoreSource::Given(&s3.store));
    let not_image = call(&function, Some("image/png"), Bytes::from_static(b"hello")).await;
    assert_eq!(not_image.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let mut cut = colour_image(ImageFormat::Png).to_vec();
    cut.truncate(cut.len() / 2);
    let corrupt = call(&function, Some("image/png"), cut.into()).await;
    assert_eq!(
        corrupt.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        corrupt.json()
    );

    let missing = format!("/incoming/{}", "0".repeat(64));
    let got = post_json(&function, json!({ "path": missing })).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND, "{}", got.json());

    let small = Greyscale::new(
        settings(&[("max_pixels", "2000")]),
        StoreSource::Given(&s3.store),
    );
    let png = colour_image(ImageFormat::Png);
    let source = put_incoming(&s3.store, png.clone(), "image/png").await;
    let got = post_json(&small, json!({ "path": source.to_string() })).await;
    assert_eq!(got.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", got.json());
    let raw = call(&small, Some("image/png"), png).await;
    assert_eq!(raw.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(s3.store.list(Area::Processed).await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_requests_get_a_clear_status_and_a_json_error() {
    let s3 = InProcess::start().await.unwrap();
    let function = Greyscale::new(settings(&[]), StoreSource::Given(&s3.store));
    let cases: [(&str, StatusCode); 6] = [
        ("{\"path\": ", StatusCode::BAD_REQUEST),
        ("{\"path\": \"/elsewhere/abc\"}", StatusCode::BAD_REQUEST),
        (
            "{\"path\": \"/incoming/a\", \"url\": \"http://x\"}",
            StatusCode::BAD_REQUEST,
        ),
        ("{\"paths\": []}", StatusCode::BAD_REQUEST),
        (
            "{\"paths\": [\"/incoming/a\", \"/incoming/b\", \"/incoming/c\", \"/incoming/d\"]}",
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]",
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (body, status) in cases {
        let got = call(
            &function,
            Some("text/plain"),
            Bytes::from_static(body.as_bytes()),
        )
        .await;
        assert_eq!(got.status, status, "{body}: {}", got.json());
        assert!(got.json()["error"].is_string(), "{body}: {}", got.json());
    }
    let get = http::Request::get("/").body(body::empty()).unwrap();
    assert_eq!(
        function.respond(get).await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn a_batch_reports_each_path_and_is_207_when_any_failed() {
    let s3 = InProcess::start().await.unwrap();
    let function = Greyscale::new(settings(&[]), StoreSource::Given(&s3.store));
    let good = put_incoming(&s3.store, colour_image(ImageFormat::Png), "image/png").await;
    let missing = format!("/incoming/{}", "1".repeat(64));
    let got = post_json(&function, json!({ "paths": [good.to_string(), missing] })).await;
    assert_eq!(got.status, StatusCode::MULTI_STATUS, "{}", got.json());
    let json = got.json();
    assert_eq!(json["failed"], 1);
    assert_eq!(
        json["results"][0]["path"].as_str().unwrap().get(..11),
        Some("/processed/")
    );
    assert_eq!(json["results"][1]["status"], 404);
}

#[tokio::test]
async fn a_url_with_the_gateway_down_is_502_and_a_store_that_is_down_503() {
    let s3 = InProcess::start().await.unwrap();
    let function = Greyscale::new(settings(&[]), StoreSource::Given(&s3.store));
    let got = post_json(&function, json!({ "url": "https://example.com/a.png" })).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY, "{}", got.json());
    assert!(
        got.json()["error"].as_str().unwrap().contains("gateway"),
        "{}",
        got.json()
    );

    let down = s3.down();
    let function = Greyscale::new(settings(&[]), StoreSource::Given(&down));
    let got = post_json(
        &function,
        json!({ "path": format!("/incoming/{}", "2".repeat(64)) }),
    )
    .await;
    assert_eq!(
        got.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        got.json()
    );
    // Short and fixed: the SDK's report of the failure is for the log only.
    let message = greyfaas_store::server::check_plain_error(&got.body).unwrap();
    assert_eq!(message, "object store is unavailable");
    // An image posted raw needs no store.
    let raw = call(&function, Some("image/png"), colour_image(ImageFormat::Png)).await;
    assert_eq!(raw.status, StatusCode::OK);
}

#[test]
fn the_settings_read_exactly_the_names_they_export() {
    openfaas_runtime::settings::assert_names_read::<Settings>();
}

#[test]
fn jpeg_mode_and_luma_are_read_by_their_words() {
    let s = Settings::from_lookup(|name| match name {
        "jpeg_mode" => Some("reencode".into()),
        "luma" => Some("linear".into()),
        _ => None,
    });
    assert!(!s.convert.jpeg_lossless);
    assert_eq!(s.convert.luma, greyfaas_image_kernel::LumaMode::Linear);
    let s = Settings::from_lookup(|name| (name == "jpeg_mode").then(|| "sideways".into()));
    assert!(s.convert.jpeg_lossless, "an unknown word keeps the default");
    assert_eq!(s.convert.luma, greyfaas_image_kernel::LumaMode::Gamma);
}

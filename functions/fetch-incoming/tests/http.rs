//! fetch-incoming's HTTP behaviour, tested inside its own crate: the handler called
//! directly, downloading from a real HTTP server on loopback (the template's own
//! server, serving a few fixed answers) into a real S3 server (s3s-fs) started in this
//! process.

use bytes::Bytes;
use greyfaas_store::server::InProcess;
use greyfaas_store::{NameHasher, ObjectPath, Store, StoreSource};
use handler::FetchIncoming;
use handler::settings::Settings;
use http::{Method, StatusCode, header};
use openfaas_runtime::{
    Config, Function, FunctionSettings, Request, Response, RunningServer, Server, body,
};
use serde_json::{Value, json};

/// The largest download these tests allow (`max_bytes`).
const MAX_BYTES: usize = 4096;

/// A small PNG (signature and IHDR are all the image check reads).
fn png() -> Bytes {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend(0..=255u8);
    Bytes::from(bytes)
}

/// The web the tests download from: `/photo.png`, `/page.html` (not an image),
/// `/huge.png` (over `MAX_BYTES`), `/moved` (a redirect to `/photo.png`),
/// `/away` (a redirect off loopback) and 404 for anything else.
async fn origin(req: Request) -> Response {
    let redirect = |to: &'static str| {
        let mut response = body::empty_with(StatusCode::FOUND);
        response
            .headers_mut()
            .insert(header::LOCATION, http::HeaderValue::from_static(to));
        response
    };
    match req.uri().path() {
        "/photo.png" => body::with_type(StatusCode::OK, "image/png", png()),
        "/page.html" => body::with_type(StatusCode::OK, "text/html", "<html>hi</html>"),
        "/huge.png" => {
            let mut huge = png().to_vec();
            huge.resize(MAX_BYTES * 4, 0);
            body::with_type(StatusCode::OK, "image/png", huge)
        }
        "/moved" => redirect("/photo.png"),
        // The cloud metadata address: the guard refuses it before any connect.
        "/away" => redirect("http://169.254.169.254/latest/meta-data/"),
        _ => body::empty_with(StatusCode::NOT_FOUND),
    }
}

async fn start_origin() -> RunningServer {
    let config = Config {
        port: 0,
        metrics_port: 0,
        bind_address: [127, 0, 0, 1].into(),
        ..Config::default()
    };
    Server::new(config, origin).start().await.unwrap()
}

/// fetch-incoming's settings with loopback allowed (only what these tests serve).
fn settings() -> Settings {
    Settings::from_lookup(|name| match name {
        "allow_cidrs" => Some("127.0.0.1/32".into()),
        "max_bytes" => Some(MAX_BYTES.to_string()),
        "max_batch" => Some("3".into()),
        _ => None,
    })
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    json: Value,
}

async fn call(function: &FetchIncoming<'_>, content_type: Option<&str>, body: Bytes) -> Answer {
    let mut req = http::Request::builder().method(Method::POST).uri("/");
    if let Some(content_type) = content_type {
        req = req.header(header::CONTENT_TYPE, content_type);
    }
    let response = function.respond(req.body(body::full(body)).unwrap()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = body::read(response.into_body(), u64::MAX).await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        json,
    }
}

/// `{"url": …}` as `curl -d` sends it: with the form Content-Type.
async fn fetch(function: &FetchIncoming<'_>, url: &str) -> Answer {
    let body = json!({ "url": url }).to_string();
    let form = Some("application/x-www-form-urlencoded");
    call(function, form, body.into()).await
}

/// The stored bytes at `path`, checked to be named by their SHA-256.
async fn stored(store: &Store, path: &str) -> Bytes {
    let path = ObjectPath::parse(path).unwrap();
    let (bytes, _) = store.read(&path, u64::MAX).await.unwrap();
    let mut hasher = NameHasher::default();
    hasher.update(&bytes);
    assert_eq!(hasher.finish(), path.name, "name = sha256(content)");
    bytes
}

#[tokio::test]
async fn a_url_is_downloaded_stored_under_its_sha256_and_answered_201_with_location() {
    let (web, s3) = (start_origin().await, InProcess::start().await.unwrap());
    let function = FetchIncoming::new(settings(), StoreSource::Given(&s3.store));

    let got = fetch(&function, &format!("http://{}/photo.png", web.addr)).await;
    assert_eq!(got.status, StatusCode::CREATED, "{}", got.json);
    let path = got.json["path"].as_str().unwrap();
    assert!(path.starts_with("/incoming/"), "{path}");
    assert_eq!(
        got.headers[header::LOCATION],
        format!("/function/get-object{path}").as_str()
    );
    assert_eq!(stored(&s3.store, path).await, png());

    // A redirect is followed (and guarded); the same bytes are the same object.
    let again = fetch(&function, &format!("http://{}/moved", web.addr)).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.json);
    assert_eq!(again.json["path"], path);
}

#[tokio::test]
async fn an_image_posted_raw_is_stored_as_a_download_is() {
    let s3 = InProcess::start().await.unwrap();
    let function = FetchIncoming::new(settings(), StoreSource::Given(&s3.store));
    let got = call(&function, Some("image/png"), png()).await;
    assert_eq!(got.status, StatusCode::CREATED, "{}", got.json);
    let path = got.json["path"].as_str().unwrap();
    assert_eq!(stored(&s3.store, path).await, png());

    let not_image = call(&function, Some("image/png"), Bytes::from_static(b"GIF? no")).await;
    assert_eq!(not_image.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn what_is_not_an_image_or_too_large_or_missing_is_refused_and_nothing_stored() {
    let (web, s3) = (start_origin().await, InProcess::start().await.unwrap());
    let function = FetchIncoming::new(settings(), StoreSource::Given(&s3.store));
    let url = |path: &str| format!("http://{}{path}", web.addr);

    for (path, status) in [
        ("/page.html", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("/huge.png", StatusCode::PAYLOAD_TOO_LARGE),
        ("/gone.png", StatusCode::BAD_GATEWAY),
    ] {
        let got = fetch(&function, &url(path)).await;
        assert_eq!(got.status, status, "{path}: {}", got.json);
        assert!(got.json["error"].is_string(), "{path}: {}", got.json);
    }
    let listed = s3.store.list(greyfaas_store::Area::Incoming).await.unwrap();
    assert!(listed.is_empty(), "nothing stored: {listed:?}");
}

#[tokio::test]
async fn internal_addresses_are_refused_before_any_connection() {
    let (web, s3) = (start_origin().await, InProcess::start().await.unwrap());
    // The shipped defaults: no internal network allowed, loopback included.
    let defaults = Settings::from_lookup(|_| None);
    let function = FetchIncoming::new(defaults, StoreSource::Given(&s3.store));
    let got = fetch(&function, &format!("http://{}/photo.png", web.addr)).await;
    assert_eq!(got.status, StatusCode::FORBIDDEN, "{}", got.json);
    assert!(
        got.json["error"].as_str().unwrap().contains("refusing"),
        "{}",
        got.json
    );
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:1/",
    ] {
        assert_eq!(
            fetch(&function, url).await.status,
            StatusCode::FORBIDDEN,
            "{url}"
        );
    }

    // With loopback allowed, a redirect to an internal address is still refused.
    let function = FetchIncoming::new(settings(), StoreSource::Given(&s3.store));
    let got = fetch(&function, &format!("http://{}/away", web.addr)).await;
    assert_eq!(got.status, StatusCode::FORBIDDEN, "{}", got.json);
}

#[tokio::test]
async fn bad_requests_get_a_clear_status_and_a_json_error() {
    let s3 = InProcess::start().await.unwrap();
    let function = FetchIncoming::new(settings(), StoreSource::Given(&s3.store));
    let cases: [(&str, StatusCode); 6] = [
        ("{\"url\": ", StatusCode::BAD_REQUEST),
        ("{\"link\": \"http://x\"}", StatusCode::BAD_REQUEST),
        (
            "{\"url\": \"ftp://example.com/a.png\"}",
            StatusCode::BAD_REQUEST,
        ),
        ("{\"url\": \"not a url\"}", StatusCode::BAD_REQUEST),
        ("{\"urls\": []}", StatusCode::BAD_REQUEST),
        (
            "{\"urls\": [\"a\", \"b\", \"c\", \"d\"]}",
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (body, status) in cases {
        let got = call(&function, None, Bytes::from_static(body.as_bytes())).await;
        assert_eq!(got.status, status, "{body}: {}", got.json);
        assert!(got.json["error"].is_string(), "{body}: {}", got.json);
    }
    let get = http::Request::get("/").body(body::empty()).unwrap();
    let response = function.respond(get).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_batch_reports_each_url_and_is_207_when_any_failed() {
    let (web, s3) = (start_origin().await, InProcess::start().await.unwrap());
    let function = FetchIncoming::new(settings(), StoreSource::Given(&s3.store));
    let urls = [
        format!("http://{}/photo.png", web.addr),
        format!("http://{}/page.html", web.addr),
    ];
    let body = json!({ "urls": urls }).to_string();
    let got = call(&function, Some("text/plain"), body.into()).await;
    assert_eq!(got.status, StatusCode::MULTI_STATUS, "{}", got.json);
    assert_eq!(got.json["failed"], 1);
    let results = got.json["results"].as_array().unwrap();
    assert_eq!(results[0]["url"], urls[0].as_str());
    stored(&s3.store, results[0]["path"].as_str().unwrap()).await;
    assert_eq!(results[1]["url"], urls[1].as_str());
    assert_eq!(results[1]["status"], 415);
}

/// What this thread logs while the returned guard lives.
fn capture_logs() -> (
    std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    tracing::subscriber::DefaultGuard,
) {
    #[derive(Clone)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink(Default::default());
    let logs = sink.0.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

/// A URL's `user:password` reaches its host only: not a log line, not an error body,
/// whether the download works, is refused, answers 404 or cannot connect.
#[tokio::test]
async fn credentials_in_urls_are_never_logged_or_answered() {
    let (logs, _guard) = capture_logs();
    let (web, s3) = (start_origin().await, InProcess::start().await.unwrap());
    let function = FetchIncoming::new(settings(), StoreSource::Given(&s3.store));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap(); // closed again here: nothing listens on it
    let cases = [
        (format!("http://user:hunter2@{}/photo.png", web.addr), 201),
        (format!("http://user:hunter2@{}/missing.png", web.addr), 502),
        (format!("http://user:hunter2@{closed}/photo.png"), 502),
        (format!("http://user:hunter2@{}/away", web.addr), 403),
        ("http://user:hunter2@/photo.png".to_string(), 400),
        ("http://user:hunter2@[::1/photo.png".to_string(), 400),
    ];
    for (url, status) in &cases {
        let got = fetch(&function, url).await;
        assert_eq!(got.status.as_u16(), *status, "{url}: {}", got.json);
        let answer = got.json.to_string();
        assert!(!answer.contains("hunter2"), "{url}: {answer}");
    }
    let logged = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("fetched"), "{logged}");
    assert!(logged.contains("***@"), "{logged}");
    assert!(!logged.contains("hunter2"), "{logged}");
}

#[tokio::test]
async fn a_store_that_is_down_is_503_and_is_asked_for_only_when_needed() {
    let (web, s3) = (start_origin().await, InProcess::start().await.unwrap());
    let down = s3.down();
    let function = FetchIncoming::new(settings(), StoreSource::Given(&down));
    let got = fetch(&function, &format!("http://{}/photo.png", web.addr)).await;
    assert_eq!(got.status, StatusCode::SERVICE_UNAVAILABLE, "{}", got.json);
    // Short and fixed: the SDK's report of the failure is for the log only.
    let message = greyfaas_store::server::check_plain_error(got.json.to_string().as_bytes());
    assert_eq!(message.unwrap(), "object store is unavailable");
    // A refusal that needs no store is still the caller's mistake, not a 503.
    let got = fetch(&function, "ftp://example.com/a.png").await;
    assert_eq!(got.status, StatusCode::BAD_REQUEST, "{}", got.json);
}

#[test]
fn the_settings_read_exactly_the_names_they_export() {
    openfaas_runtime::settings::assert_names_read::<Settings>();
}

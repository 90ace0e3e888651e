//! End to end, through `greyfaas up`: the real gateway, real function processes on the
//! real runtime, the real S3 store, corpus photos served by a local web server.

use greyfaas_testkit::*;
// Redirects are answers under test here: not followed.
use greyfaas_testkit::client_without_redirects as client;
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn up() -> &'static Up {
    static UP: OnceLock<Up> = OnceLock::new();
    UP.get_or_init(|| Up::start(STACK, &["--allow-private-networks"]))
}

fn post_json(path: &str, body: Value) -> (u16, Value, reqwest::header::HeaderMap) {
    let response = client().post(up().url(path)).json(&body).send().unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let json = response.json().unwrap_or(Value::Null);
    (status, json, headers)
}

fn get(path: &str) -> reqwest::blocking::Response {
    client().get(up().url(path)).send().unwrap()
}

#[test]
fn every_corpus_image_goes_through_the_whole_pipeline() {
    let web = web_server();
    for (file, bytes) in corpus() {
        // fetch-incoming: stored under the sha256 of the bytes, with Location.
        let (status, json, headers) = post_json(
            "/function/fetch-incoming",
            json!({"url": format!("{}/corpus/{file}", web.base)}),
        );
        assert_eq!(status, 201, "{file}: {json}");
        let incoming = json["path"].as_str().unwrap().to_string();
        assert_eq!(
            incoming,
            format!("/incoming/{}", sha256_hex(&bytes)),
            "{file}"
        );
        assert_eq!(
            headers["location"],
            format!("/function/get-object{incoming}")
        );

        // get-object gives the same bytes back with the sniffed type.
        let original = get(&format!("/function/get-object{incoming}"));
        assert_eq!(original.status(), 200);
        let format = image::guess_format(&bytes).unwrap();
        assert_eq!(
            original.headers()["content-type"],
            format.to_mime_type(),
            "{file}"
        );
        assert_eq!(
            original.bytes().unwrap().as_ref(),
            bytes.as_slice(),
            "{file}"
        );

        // greyscale by path, addressed as faas-cli does (NAME.openfaas-fn).
        let (status, json, headers) =
            post_json("/function/greyscale.openfaas-fn", json!({"path": incoming}));
        assert_eq!(status, 201, "{file}: {json}");
        let processed = json["path"].as_str().unwrap().to_string();
        assert!(processed.starts_with("/processed/"));
        assert_eq!(
            headers["location"],
            format!("/function/get-object{processed}")
        );

        let result = get(&format!("/function/get-object.openfaas-fn{processed}"));
        assert_eq!(result.status(), 200);
        let result_bytes = result.bytes().unwrap();
        assert_eq!(
            processed,
            format!("/processed/{}", sha256_hex(&result_bytes)),
            "{file}: name == sha256(content)"
        );
        assert_eq!(
            image::guess_format(&result_bytes).unwrap(),
            format,
            "{file}: same format"
        );
        let input = image::load_from_memory(&bytes).unwrap();
        let output = image::load_from_memory(&result_bytes).unwrap();
        assert_eq!(
            (output.width(), output.height()),
            (input.width(), input.height()),
            "{file}: same size"
        );
        assert_grey(&output, &file);
        if input.color().has_alpha() && format == image::ImageFormat::Png {
            assert!(output.color().has_alpha(), "{file}: alpha kept");
            assert_eq!(
                output.to_rgba8().pixels().map(|p| p[3]).collect::<Vec<_>>(),
                input.to_rgba8().pixels().map(|p| p[3]).collect::<Vec<_>>(),
                "{file}: alpha unchanged"
            );
        }

        // Idempotent: the same request gives the same paths.
        assert_eq!(
            post_json("/function/greyscale", json!({"path": incoming})).1["path"],
            processed.as_str()
        );
    }
}

#[test]
fn fetching_the_same_bytes_twice_gives_one_path() {
    let url = format!("{}/corpus/gif_coffee_600x400.gif", web_server().base);
    let first = post_json("/function/fetch-incoming", json!({"url": url}));
    let second = post_json("/function/fetch-incoming", json!({"url": url}));
    assert_eq!(first.0, 201);
    assert_eq!(first.1["path"], second.1["path"]);
}

#[test]
fn greyscale_by_url_chains_through_the_gateway() {
    let before = fetch_invocations();
    let url = format!("{}/redirect/2", web_server().base); // redirects are followed too
    let (status, json, _) = post_json("/function/greyscale", json!({"url": url}));
    assert_eq!(status, 201, "{json}");
    assert!(json["path"].as_str().unwrap().starts_with("/processed/"));
    assert!(
        fetch_invocations() > before,
        "the chained call went through the gateway"
    );
}

fn fetch_invocations() -> f64 {
    let json: Value = client()
        .get(up().url("/system/function/fetch-incoming"))
        .with_admin_auth(up())
        .send()
        .unwrap()
        .json()
        .unwrap();
    json["invocationCount"].as_f64().unwrap()
}

#[test]
fn raw_images_come_back_grey_in_their_format_even_when_chunked() {
    for (file, bytes) in corpus()
        .into_iter()
        .filter(|(f, _)| f.starts_with("small") || f.starts_with("gif"))
    {
        let format = image::guess_format(&bytes).unwrap();
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            bytes.chunks(64 << 10).map(|c| Ok(c.to_vec())).collect();
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (status, content_type, out) = rt.block_on(async {
            let response = reqwest::Client::new()
                .post(up().url("/function/greyscale"))
                .header("content-type", format.to_mime_type())
                .body(body) // no Content-Length: sent chunked
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let ct = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_string();
            (status, ct, response.bytes().await.unwrap())
        });
        assert_eq!(status, 200, "{file}");
        assert_eq!(content_type, format.to_mime_type());
        let output = image::load_from_memory(&out).unwrap();
        assert_grey(&output, &file);
    }
}

#[test]
fn batches_report_each_item() {
    let web = &web_server().base;
    let urls = [
        format!("{web}/corpus/small-png_astronaut_512x512.png"),
        format!("{web}/notimage"),
    ];
    let (status, json, _) = post_json("/function/fetch-incoming", json!({"urls": urls}));
    assert_eq!(status, 207, "{json}");
    assert_eq!(json["failed"], 1);
    assert!(json["results"][0]["path"].is_string());
    assert_eq!(json["results"][1]["status"], 415);
    let too_many = post_json(
        "/function/fetch-incoming",
        json!({"urls": [web, web, web, web]}),
    );
    assert_eq!(too_many.0, 413);

    let ok = json["results"][0]["path"].as_str().unwrap();
    let (status, json, _) = post_json(
        "/function/greyscale",
        json!({"paths": [ok, format!("/incoming/{}", "0".repeat(64))]}),
    );
    assert_eq!(status, 207, "{json}");
    assert_eq!(json["results"][1]["status"], 404);
}

#[test]
fn bad_input_gets_the_right_status_and_a_json_error() {
    let web = &web_server().base;
    let closed = format!("http://127.0.0.1:{}/x.png", free_port());
    let cases: Vec<(&str, reqwest::blocking::RequestBuilder, u16)> = vec![
        (
            "malformed JSON",
            client()
                .post(up().url("/function/fetch-incoming"))
                .body("{\"url\":"),
            400,
        ),
        (
            "unknown field",
            client()
                .post(up().url("/function/fetch-incoming"))
                .json(&json!({"uri": "x"})),
            400,
        ),
        (
            "wrong content type",
            client()
                .post(up().url("/function/fetch-incoming"))
                .header("content-type", "image/png")
                .body("x"),
            415,
        ),
        (
            "ftp URL",
            client()
                .post(up().url("/function/fetch-incoming"))
                .json(&json!({"url": "ftp://example.com/a.png"})),
            400,
        ),
        (
            "not an image",
            client()
                .post(up().url("/function/fetch-incoming"))
                .json(&json!({"url": format!("{web}/notimage")})),
            415,
        ),
        (
            "too large",
            client()
                .post(up().url("/function/fetch-incoming"))
                .json(&json!({"url": format!("{web}/big")})),
            413,
        ),
        (
            "too slow",
            client()
                .post(up().url("/function/fetch-incoming"))
                .json(&json!({"url": format!("{web}/slow")})),
            504,
        ),
        (
            "unreachable",
            client()
                .post(up().url("/function/fetch-incoming"))
                .json(&json!({"url": closed})),
            502,
        ),
        (
            "upstream 404",
            client()
                .post(up().url("/function/fetch-incoming"))
                .json(&json!({"url": format!("{web}/status/404")})),
            502,
        ),
        (
            "too many redirects",
            client()
                .post(up().url("/function/fetch-incoming"))
                .json(&json!({"url": format!("{web}/redirect/6")})),
            502,
        ),
        (
            "missing object",
            client()
                .post(up().url("/function/greyscale"))
                .json(&json!({"path": format!("/incoming/{}", "a".repeat(64))})),
            404,
        ),
        (
            "bad name",
            client()
                .post(up().url("/function/greyscale"))
                .json(&json!({"path": "/incoming/../../etc/passwd"})),
            400,
        ),
        (
            "raw non-image",
            client()
                .post(up().url("/function/greyscale"))
                .header("content-type", "application/octet-stream")
                .body("hello"),
            415,
        ),
        (
            "raw truncated PNG",
            client()
                .post(up().url("/function/greyscale"))
                .header("content-type", "image/png")
                .body(corpus()[5].1[..5000].to_vec()),
            422,
        ),
        (
            "GET greyscale",
            client().get(up().url("/function/greyscale")),
            405,
        ),
        (
            "unknown bucket",
            client().get(up().url(&format!("/function/get-object/other/{}", "a".repeat(64)))),
            400,
        ),
        (
            "bad object name",
            client().get(up().url("/function/get-object/incoming/nothex")),
            400,
        ),
        (
            "missing object GET",
            client().get(up().url(&format!(
                "/function/get-object/processed/{}",
                "b".repeat(64)
            ))),
            404,
        ),
    ];
    for (what, request, expected) in cases {
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let json: Value = response.json().unwrap_or(Value::Null);
        assert_eq!(status, expected, "{what}: {json}");
        assert!(
            json["error"].is_string(),
            "{what}: a JSON error body, got {json}"
        );
    }
}

#[test]
fn a_truncated_jpeg_is_422_and_stores_nothing() {
    const JPEG: &str = "medium-jpeg_brushes_1365x1074.jpg";
    // A runtime of its own, so that no other test's results share its store.
    let up = Up::start(STACK, &["--allow-private-networks"]);
    let post = |path: &str, body: Value| {
        let response = client().post(up.url(path)).json(&body).send().unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().unwrap_or(Value::Null))
    };
    let whole = std::fs::read(corpus_dir().join(JPEG)).unwrap();
    for cut in [1000, 5000, whole.len() / 2] {
        let response = client()
            .post(up.url("/function/greyscale"))
            .header("content-type", "image/jpeg")
            .body(whole[..cut].to_vec())
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 422, "raw, first {cut} bytes");
        let error: Value = response.json().unwrap();
        assert!(
            error["error"].as_str().unwrap().contains("truncated"),
            "{error}"
        );
    }
    // Stored, then converted by path: refused, and nothing lands in `processed`.
    let web = &web_server().base;
    let (status, json) = post(
        "/function/fetch-incoming",
        json!({"url": format!("{web}/half/{JPEG}")}),
    );
    assert_eq!(status, 201, "{json}");
    let (status, json) = post("/function/greyscale", json!({"path": json["path"]}));
    assert_eq!(status, 422, "{json}");
    let processed = std::fs::read_dir(up.data_dir.join("objects/processed"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(processed, 0, "nothing stored after a refusal");
    // And the same request with a whole JPEG does store: the check above could fail.
    let (status, json) = post(
        "/function/greyscale",
        json!({"url": format!("{web}/corpus/{JPEG}")}),
    );
    assert_eq!(status, 201, "{json}");
    let processed = std::fs::read_dir(up.data_dir.join("objects/processed"))
        .unwrap()
        .count();
    assert_eq!(processed, 1);
    up.stop();
}

#[test]
fn a_stored_image_over_max_image_bytes_is_413() {
    const JPEG: &str = "medium-jpeg_brushes_1365x1074.jpg";
    let size = std::fs::metadata(corpus_dir().join(JPEG)).unwrap().len();
    let stack = STACK.replace(
        "      max_pixels: 20000000\n",
        &format!(
            "      max_pixels: 20000000\n      max_image_bytes: {}\n",
            size - 1
        ),
    );
    assert_ne!(stack, STACK);
    let up = Up::start(&stack, &["--allow-private-networks"]);
    let post = |path: &str, body: Value| {
        let response = client().post(up.url(path)).json(&body).send().unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().unwrap_or(Value::Null))
    };
    let web = &web_server().base;
    let (status, stored) = post(
        "/function/fetch-incoming",
        json!({"url": format!("{web}/corpus/{JPEG}")}),
    );
    assert_eq!(status, 201, "{stored}");
    let (status, json) = post("/function/greyscale", json!({"path": stored["path"]}));
    assert_eq!(status, 413, "{json}");
    assert!(
        json["error"].as_str().unwrap().contains("over the"),
        "{json}"
    );
    up.stop();
}

#[test]
fn a_huge_claimed_size_is_refused_with_413() {
    let mut png = image::DynamicImage::new_luma8(4, 4);
    let _ = &mut png;
    let mut bytes = Vec::new();
    png.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .unwrap();
    // Rewrite the IHDR to claim 60000 x 60000 and fix its CRC.
    bytes[16..20].copy_from_slice(&60000u32.to_be_bytes());
    bytes[20..24].copy_from_slice(&60000u32.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    let response = client()
        .post(up().url("/function/greyscale"))
        .header("content-type", "image/png")
        .body(bytes)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
}

#[test]
fn get_object_speaks_http_caching_and_ranges() {
    let (_, bytes) = corpus()
        .into_iter()
        .find(|(f, _)| f.starts_with("small-png_astro"))
        .unwrap();
    let url = format!(
        "{}/corpus/small-png_astronaut_512x512.png",
        web_server().base
    );
    let path = post_json("/function/fetch-incoming", json!({"url": url})).1["path"]
        .as_str()
        .unwrap()
        .to_string();
    let object = format!("/function/get-object{path}");
    let full = get(&object);
    let etag = full.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&bytes)));
    assert_eq!(
        full.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        full.headers()["content-length"],
        bytes.len().to_string().as_str()
    );

    let head = client().head(up().url(&object)).send().unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        bytes.len().to_string().as_str()
    );

    let cached = client()
        .get(up().url(&object))
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    assert_eq!(cached.status(), 304);

    let part = client()
        .get(up().url(&object))
        .header("range", "bytes=10-19")
        .send()
        .unwrap();
    assert_eq!(part.status(), 206);
    assert!(
        part.headers()["content-range"]
            .to_str()
            .unwrap()
            .starts_with("bytes 10-19/")
    );
    assert_eq!(part.bytes().unwrap().as_ref(), &bytes[10..20]);

    // Hostile ranges, through the gateway, the function and the embedded store: each
    // answered at once (no store retries), as RFC 9110 §14 says.
    let len = bytes.len();
    let whole = Some((0, len - 1));
    let cases = [
        (format!("bytes=-{}", len + 1000), 206, whole),
        ("bytes=-9223372036854775808".to_string(), 206, whole),
        (
            "bytes=100-99999999999999999999".to_string(),
            206,
            Some((100, len - 1)),
        ),
        ("bytes=0-1,4-5".to_string(), 200, None),
        ("bytes=50-10".to_string(), 200, None),
        (format!("bytes={len}-"), 416, None),
        ("bytes=-0".to_string(), 416, None),
    ];
    for (range, status, part) in cases {
        let started = Instant::now();
        let got = client()
            .get(up().url(&object))
            .header("range", &range)
            .send()
            .unwrap();
        assert_eq!(got.status().as_u16(), status, "{range}");
        let content_range = got
            .headers()
            .get("content-range")
            .map(|v| v.to_str().unwrap().to_string());
        let body = got.bytes().unwrap();
        assert!(started.elapsed() < Duration::from_secs(2), "{range}: slow");
        match (status, part) {
            (206, Some((first, last))) => {
                assert_eq!(content_range, Some(format!("bytes {first}-{last}/{len}")));
                assert_eq!(body.as_ref(), &bytes[first..=last], "{range}");
            }
            (200, _) => assert_eq!(body.as_ref(), &bytes[..], "{range}"),
            _ => assert_eq!(content_range, Some(format!("bytes */{len}")), "{range}"),
        }
    }

    let routes: Value = get("/function/get-object/").json().unwrap();
    assert!(routes["functions"]["fetch-incoming"].is_array());
}

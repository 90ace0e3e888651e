//! The gallery page in a real browser: headless Chromium on the page `greyfaas up`
//! serves at /ui/, converting a URL from the local web server and an uploaded file,
//! showing the refusal of an internal address, and writing a screenshot for review.

use greyfaas_testkit::browser::Browser;
use greyfaas_testkit::*;
// The page's redirect (/ui → /ui/) is under test: not followed.
use greyfaas_testkit::client_without_redirects as http;
use serde_json::{Value, json};
use std::time::Duration;

const URL_FILE: &str = "medium-jpeg_brushes_1365x1074.jpg";
const UPLOAD_FILE: &str = "small-png_astronaut_512x512.png";
const THIRD_FILE: &str = "gif_coffee_600x400.gif";
/// Over the gallery's 1 MB upload limit in UI_STACK.
const TOO_LARGE_FILE: &str = "large-jpeg_picos-de-europa_3264x2448.jpg";

/// The gallery item whose original is `sha`, once both of its images have loaded:
/// `{processed, original_width, processed_width, caption}`, else null.
const PAIR_SHOWN: &str = r#"
const item = document.querySelector(`#gallery li[data-original="${arguments[0]}"]`);
if (!item) return null;
const original = item.querySelector("figure.original img");
const processed = item.querySelector("figure.processed img");
if (!original || !processed || !original.complete || !processed.complete
    || original.naturalWidth === 0 || processed.naturalWidth === 0) return null;
return {
  processed: item.dataset.processed,
  original_src: original.getAttribute("src"),
  processed_src: processed.getAttribute("src"),
  original_alt: original.alt,
  original_size: [original.naturalWidth, original.naturalHeight],
  processed_size: [processed.naturalWidth, processed.naturalHeight],
  caption: item.innerText,
};
"#;

/// Asserts the processed object is a greyscale image of the original's size.
fn assert_grey_result(up: &Up, processed: &str, size: &Value) {
    let bytes = http()
        .get(up.url(&format!("/function/get-object/processed/{processed}")))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(sha256_hex(&bytes), processed, "names are content hashes");
    let image = image::load_from_memory(&bytes).unwrap();
    assert_eq!(json!([image.width(), image.height()]), *size);
    assert_grey(&image, processed);
}

#[test]
fn the_page_converts_urls_and_uploads_and_shows_pairs_and_refusals() {
    let web = web_server();
    let up = Up::start(UI_STACK, &[]);
    let corpus = corpus();
    let bytes_of = |file: &str| &corpus.iter().find(|(f, _)| f == file).unwrap().1;

    // /ui is the gallery function, the same page /function/gallery/ serves.
    let redirect = http().get(up.url("/ui")).send().unwrap();
    assert_eq!(redirect.status(), 301);
    assert_eq!(redirect.headers()["location"], "/ui/");
    let via_ui = http().get(up.url("/ui/")).send().unwrap().text().unwrap();
    let direct = http()
        .get(up.url("/function/gallery/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(via_ui, direct);
    assert!(via_ui.contains("<label for=\"urls\">"));

    // A person who logged in to the gateway: their browser sends the admin login, so the
    // status table can read /system/functions (below). Without it: see the end.
    let browser = Browser::start();
    let login = format!("admin:{}", up.password());
    browser.send_header(
        "Authorization",
        &format!(
            "Basic {}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, login)
        ),
    );
    browser.goto(&up.url("/ui/"));
    browser.wait_for(
        "the empty gallery",
        Duration::from_secs(20),
        "return document.getElementById('gallery-note').textContent.startsWith('Nothing converted')",
        json!([]),
    );

    // 1. A URL from the local web server.
    browser.type_into("#urls", &format!("{}/corpus/{URL_FILE}", web.base));
    browser.click("#convert-urls");
    let from_url = browser.wait_for(
        "the URL's original beside its greyscale",
        Duration::from_secs(60),
        PAIR_SHOWN,
        json!([sha256_hex(bytes_of(URL_FILE))]),
    );
    assert_eq!(from_url["original_size"], json!([1365, 1074]));
    assert_eq!(from_url["processed_size"], from_url["original_size"]);
    assert_eq!(
        from_url["original_src"],
        format!(
            "/function/get-object/incoming/{}",
            sha256_hex(bytes_of(URL_FILE))
        )
    );
    let caption = from_url["caption"].as_str().unwrap();
    assert!(
        caption.contains("JPEG") && caption.contains("1365 × 1074 px"),
        "{caption}"
    );
    assert!(
        caption.contains(&sha256_hex(bytes_of(URL_FILE))),
        "{caption}"
    );
    assert!(
        from_url["original_alt"]
            .as_str()
            .unwrap()
            .starts_with("Original image")
    );
    assert_grey_result(
        &up,
        from_url["processed"].as_str().unwrap(),
        &from_url["original_size"],
    );

    // 2. A local file, uploaded.
    let upload_path = corpus_dir().join(UPLOAD_FILE).canonicalize().unwrap();
    browser.type_into("#files", &upload_path.display().to_string());
    browser.click("#upload-files");
    let uploaded = browser.wait_for(
        "the upload's original beside its greyscale",
        Duration::from_secs(60),
        PAIR_SHOWN,
        json!([sha256_hex(bytes_of(UPLOAD_FILE))]),
    );
    assert_eq!(uploaded["processed_size"], json!([512, 512]));
    assert_grey_result(
        &up,
        uploaded["processed"].as_str().unwrap(),
        &uploaded["original_size"],
    );
    // Newest first: the upload leads the first page.
    let first = browser.run(
        "return document.querySelector('#gallery li').dataset.original",
        json!([]),
    );
    assert_eq!(first, sha256_hex(bytes_of(UPLOAD_FILE)));

    // 3. An internal address, with markup in it: refused (403) before any connection,
    // and shown as text, never as HTML.
    let internal = "http://127.0.0.2:9/<b id=injected>secret</b>.png";
    browser.type_into("#urls", internal);
    browser.click("#convert-urls");
    let refusal = browser.wait_for(
        "the refusal message",
        Duration::from_secs(30),
        "const li = document.querySelector('#jobs li.error'); return li ? li.innerText : null",
        json!([]),
    );
    let refusal = refusal.as_str().unwrap();
    assert!(
        refusal.contains("Refused: that URL points to an internal address")
            && refusal.contains("(403)"),
        "{refusal}"
    );
    assert!(refusal.contains("127.0.0.2"), "{refusal}");
    assert_eq!(
        browser.run(
            "return document.getElementById('injected') === null",
            json!([])
        ),
        json!(true),
        "names are shown as text"
    );

    // Uploads the functions refuse: each line says why, in words and status.
    let text_file = up.dir.join("notes.txt");
    std::fs::write(&text_file, "not an image").unwrap();
    let refusals = [
        (
            text_file,
            "Not an image greyfaas can convert (JPEG, PNG, GIF or WebP) (415)",
        ),
        (
            corpus_dir().join(TOO_LARGE_FILE).canonicalize().unwrap(),
            "Too large",
        ),
    ];
    for (file, message) in refusals {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        browser.type_into("#files", &file.display().to_string());
        browser.click("#upload-files");
        let line = browser.wait_for(
            &format!("the refusal of {name}"),
            Duration::from_secs(30),
            "return [...document.querySelectorAll('#jobs li.error')].map(li => li.innerText).find(t => t.startsWith(arguments[0])) ?? null",
            json!([name]),
        );
        assert!(line.as_str().unwrap().contains(message), "{line}");
    }
    assert!(
        bytes_of(TOO_LARGE_FILE).len() > 1_000_000,
        "the corpus file is over the limit"
    );

    // The functions' status, live from /system/functions: greyscale has been invoked.
    browser.wait_for(
        "greyscale's invocations in the status table",
        Duration::from_secs(10),
        "const td = document.querySelector('#functions tr[data-function=\"greyscale\"] td.invocations'); return td && Number(td.textContent) >= 3",
        json!([]),
    );

    let screenshot = browser.screenshot();
    assert!(screenshot.starts_with(b"\x89PNG"));
    let shot_path = repo().join("target/ui-screenshot.png");
    std::fs::write(&shot_path, &screenshot).unwrap();
    eprintln!("screenshot: {}", shot_path.display());

    // "View both full size" opens both images in a dialog; every image has alt text.
    browser.click("#gallery li button");
    let viewer = browser.wait_for(
        "the full-size dialog",
        Duration::from_secs(10),
        "const d = document.getElementById('viewer'); const imgs = [...d.querySelectorAll('img')]; return d.open && imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0) ? imgs.map(i => i.alt) : null",
        json!([]),
    );
    assert!(
        viewer[0].as_str().unwrap().starts_with("Original image"),
        "{viewer}"
    );
    assert!(
        viewer[1].as_str().unwrap().starts_with("Greyscale image"),
        "{viewer}"
    );
    browser.click("#viewer-close");
    assert_eq!(
        browser.run(
            "return !document.getElementById('viewer').open && [...document.images].every(i => i.alt.length > 0)",
            json!([])
        ),
        json!(true)
    );

    // Paging: page_size is 2, so a third result moves the URL's pair to page 2.
    browser.type_into("#urls", &format!("{}/corpus/{THIRD_FILE}", web.base));
    browser.click("#convert-urls");
    browser.wait_for(
        "the third pair",
        Duration::from_secs(60),
        PAIR_SHOWN,
        json!([sha256_hex(bytes_of(THIRD_FILE))]),
    );
    browser.click("#older");
    browser.wait_for(
        "page 2 with the oldest pair",
        Duration::from_secs(20),
        PAIR_SHOWN,
        json!([sha256_hex(bytes_of(URL_FILE))]),
    );
    assert_eq!(
        browser.run(
            "return document.getElementById('page-label').textContent",
            json!([])
        ),
        "Page 2 of 2"
    );
    drop(browser);

    // The pairing lives in the store: after a restart the gallery still has it.
    let dir = up.dir.clone();
    assert!(up.stop().success());
    let up = Up::start_in(dir, UI_STACK, &[]);

    // Not logged in: the page offers a login instead of raising the browser's prompt
    // (which would block the page), and the gallery still works.
    let browser = Browser::start();
    browser.goto(&up.url("/ui/"));
    browser.wait_for(
        "the login offer in the status table",
        Duration::from_secs(20),
        "return document.getElementById('status-login') !== null && document.querySelectorAll('#gallery li').length > 0",
        json!([]),
    );
    drop(browser);

    let page: Value = http()
        .get(up.url("/ui/api/gallery?page=2"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(page["total"], 3);
    assert_eq!(page["items"][0]["processed"]["name"], from_url["processed"]);
    assert_eq!(
        page["items"][0]["original"]["name"],
        sha256_hex(bytes_of(URL_FILE))
    );
    assert_eq!(page["items"][0]["original"]["content_type"], "image/jpeg");
}

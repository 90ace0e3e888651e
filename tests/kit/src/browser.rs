//! Headless Chromium driven over W3C WebDriver (Debian's `chromium` and `chromedriver`,
//! installed by .ci/install-chromium), on loopback only.
//!
//! The handful of WebDriver calls the UI tests need — session, navigate, find, type,
//! click, run a script, screenshot — are plain JSON over HTTP, so they are written
//! here on the reqwest client the tests already use rather than pulling in a client crate.

use crate::{free_port, spawn_owned};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process with one browser session.
pub struct Browser {
    driver: Child,
    session: String,
    http: reqwest::blocking::Client,
    _profile: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium with a fresh
    /// profile and every background connection switched off (the machine has no network).
    pub fn start() -> Browser {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(tool).is_file(),
                "{tool} is missing: run .ci/install-chromium (./test does)"
            );
        }
        let port = free_port();
        let mut command = Command::new(CHROMEDRIVER);
        command
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let driver = spawn_owned(command);
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .no_proxy()
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = std::env::temp_dir().join(format!("greyfaas-chromium-{port}"));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,2200",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
            .to_string();
        Browser {
            driver,
            session: format!("{base}/session/{session}"),
            http,
            _profile: TempDir(profile),
        }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().unwrap().json().unwrap();
        if answer["value"]["error"].is_string() {
            panic!("WebDriver {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    /// Sends `header: value` with every request the browser makes (Chrome DevTools'
    /// Network.setExtraHTTPHeaders, through chromedriver): a logged-in gateway session.
    pub fn send_header(&self, header: &str, value: &str) {
        let cdp = |cmd: &str, params: Value| {
            self.call(
                reqwest::Method::POST,
                "/goog/cdp/execute",
                Some(json!({"cmd": cmd, "params": params})),
            )
        };
        cdp("Network.enable", json!({}));
        cdp(
            "Network.setExtraHTTPHeaders",
            json!({"headers": {header: value}}),
        );
    }

    pub fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})));
    }

    /// The element `css` selects (the first).
    pub fn find(&self, css: &str) -> String {
        let found = self.call(
            reqwest::Method::POST,
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        // An element reference is an object with one key (W3C's web element identifier).
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element reference for {css}: {found}"))
            .to_string()
    }

    /// Types `text` into the element (for a file input: the file's path).
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        );
    }

    pub fn click(&self, css: &str) {
        let id = self.find(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        );
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Runs `script` every 200 ms until it returns something other than null or false;
    /// panics with `what` after `limit`.
    pub fn wait_for(&self, what: &str, limit: Duration, script: &str, args: Value) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.run(script, args.clone());
            if !(value.is_null() || value == Value::Bool(false)) {
                return value;
            }
            if Instant::now() > deadline {
                let page = self.run("return document.body.innerText", json!([]));
                let console = self.console();
                panic!("waited {limit:?} for {what}; the page says: {page}; console: {console}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// What the page wrote to its console (and the browser's own errors), for failures.
    pub fn console(&self) -> Value {
        self.http
            .post(format!("{}/se/log", self.session))
            .json(&json!({"type": "browser"}))
            .send()
            .and_then(|r| r.json())
            .unwrap_or(Value::Null)
    }

    /// The visible page as PNG bytes.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let png = self.call(reqwest::Method::GET, "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(&self.session).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

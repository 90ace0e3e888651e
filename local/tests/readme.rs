//! README.md as a newcomer follows it: `greyfaas up` with the shipped stack.yml, then
//! every command of the README's API section as written (bash and curl, `curl -d` with
//! no Content-Type), and the pipeline line `greyfaas up` prints.
//!
//! What is substituted, and why (the tests may talk to loopback only):
//! - `GW=http://127.0.0.1:8080` → the port this `greyfaas up` listens on;
//! - `https://example.com/cat.jpg`, `https://…/a.png`, `https://…/b.gif` → corpus files
//!   on a local web server, so `greyfaas up` runs with `--allow-private-networks`
//!   (fetch-incoming refuses loopback otherwise);
//! - `3f…` / `9a…` → the names the earlier commands answered; `cat.jpg` → a corpus JPEG
//!   in the working folder;
//! - `https://example.com/hook` → the local web server's callback receiver, `cat-1` →
//!   a call id of this run, `.greyfaas` → this `greyfaas up`'s data folder;
//! - `curl` → a shell function running curl with `-w '\n%{http_code}'`, to see the status;
//! - faas-cli (not installable here: no Go, no downloads) → the HTTP requests it sends,
//!   from its source: `login` validates with `GET /system/functions` and Basic auth
//!   (commands/login.go), `invoke` POSTs stdin with `Content-Type: text/plain` to
//!   `/function/NAME` (proxy/invoke.go), `list` is `GET /system/functions`, `describe`
//!   is `GET /system/function/NAME`, both with the saved Basic auth (proxy/auth.go);
//!   `deploy` PUTs stack.yml's function as a FunctionDeployment to `/system/functions`,
//!   `remove` DELETEs `{"functionName"}`, `logs` GETs `/system/logs?follow=…&name=…&tail=…`,
//!   `secret create|list|remove` POST, GET and DELETE `/system/secrets`.

use greyfaas_testkit::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const CAT: &str = "medium-jpeg_brushes_1365x1074.jpg";
const A_PNG: &str = "small-png_astronaut_512x512.png";
const B_GIF: &str = "gif_coffee_600x400.gif";

/// The fenced `sh` blocks of the README section `heading`, as lists of lines.
fn readme_blocks(heading: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = text
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("README has a section {heading:?}"));
    let section = &text[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in section.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(block), _) => block.push(line.to_string()),
            (None, _) => {}
        }
    }
    blocks
}

/// The commands of a block: lines that are not blank or comments.
fn commands(block: &[String]) -> Vec<String> {
    block
        .iter()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The outcome of one shell line: curl's status and body, and the exit code.
struct Ran {
    status: u16,
    body: Vec<u8>,
    exit: i32,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("JSON body ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Runs `line` with bash in `cwd`, `curl` reporting its status on a last line.
fn run(cwd: &Path, gw: &str, line: &str) -> Ran {
    let script = format!(
        "set -e\ncurl() {{ command curl -w '\\n%{{http_code}}' \"$@\"; }}\nGW={gw}\n{line}\n"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(cwd)
        .output()
        .unwrap();
    let stdout = out.stdout;
    let split = stdout.iter().rposition(|b| *b == b'\n').unwrap_or(0);
    let status = String::from_utf8_lossy(&stdout[split..])
        .trim()
        .parse()
        .unwrap_or(0);
    Ran {
        status,
        body: stdout[..split].to_vec(),
        exit: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn path_of(json: &Value) -> String {
    json["path"]
        .as_str()
        .unwrap_or_else(|| panic!("a path in {json}"))
        .to_string()
}

fn name_of(path: &str) -> String {
    path.rsplit('/').next().unwrap().to_string()
}

fn assert_grey(bytes: &[u8], what: &str) {
    let image = image::load_from_memory(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        image
            .to_rgba8()
            .pixels()
            .all(|p| p[0] == p[1] && p[1] == p[2]),
        "{what} is grey"
    );
}

fn work_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "greyfaas-readme-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(corpus_dir().join(CAT), dir.join("cat.jpg")).unwrap();
    dir
}

fn shipped_up() -> Up {
    Up::start_file(&repo().join("stack.yml"), &["--allow-private-networks"])
}

#[test]
fn every_command_of_the_api_section_works_as_written() {
    let up = shipped_up();
    let web = &web_server().base;
    let cwd = work_dir();
    let cat = std::fs::read(corpus_dir().join(CAT)).unwrap();
    let blocks = readme_blocks("The API");
    assert_eq!(
        blocks.len(),
        4,
        "the curl block, the faas-cli block, the other faas-cli verbs, async calls"
    );

    let (mut incoming, mut processed) = (String::new(), String::new());
    let lines = commands(&blocks[0]);
    assert_eq!(lines[0], "GW=http://127.0.0.1:8080");
    let mut checked = 0;
    for line in &lines[1..] {
        let local = line
            .replace(
                "https://example.com/cat.jpg",
                &format!("{web}/corpus/{CAT}"),
            )
            .replace("https://…/a.png", &format!("{web}/corpus/{A_PNG}"))
            .replace("https://…/b.gif", &format!("{web}/corpus/{B_GIF}"))
            .replace("3f…", &incoming)
            .replace("9a…", &processed);
        let ran = run(&cwd, &up.gateway, &local);
        assert_eq!(ran.exit, 0, "{line}: {}", ran.stderr);
        let what = format!("{line}\n  → {}", String::from_utf8_lossy(&ran.body));
        if line.contains("fetch-incoming -d '{\"url\"") {
            assert_eq!(ran.status, 201, "{what}");
            incoming = name_of(&path_of(&ran.json()));
            assert_eq!(incoming, sha256_hex(&cat), "{what}");
        } else if line.contains("fetch-incoming -d '{\"urls\"") {
            assert_eq!(ran.status, 201, "{what}");
            let results = ran.json()["results"].as_array().unwrap().clone();
            for (result, file) in results.iter().zip([A_PNG, B_GIF]) {
                let bytes = std::fs::read(corpus_dir().join(file)).unwrap();
                assert_eq!(
                    path_of(result),
                    format!("/incoming/{}", sha256_hex(&bytes)),
                    "{what}"
                );
            }
            assert_eq!(results.len(), 2, "{what}");
        } else if line.contains("@cat.jpg") && line.contains("fetch-incoming") {
            assert_eq!(ran.status, 201, "{what}");
            assert_eq!(
                path_of(&ran.json()),
                format!("/incoming/{incoming}"),
                "{what}"
            );
        } else if line.contains("greyscale -d '{\"path\"") {
            assert_eq!(ran.status, 201, "{what}");
            processed = name_of(&path_of(&ran.json()));
            assert!(path_of(&ran.json()).starts_with("/processed/"), "{what}");
        } else if line.contains("greyscale -d '{\"paths\"") {
            assert_eq!(ran.status, 201, "{what}");
            assert_eq!(
                path_of(&ran.json()["results"][0]),
                format!("/processed/{processed}"),
                "{what}"
            );
        } else if line.contains("greyscale -d '{\"url\"") {
            assert_eq!(ran.status, 201, "{what}");
            assert_eq!(
                path_of(&ran.json()),
                format!("/processed/{processed}"),
                "{what}"
            );
        } else if line.contains("@cat.jpg") && line.contains("greyscale -o grey.jpg") {
            assert_eq!(ran.status, 200, "{what}");
            assert_grey(&std::fs::read(cwd.join("grey.jpg")).unwrap(), &what);
        } else if line.contains("get-object/processed/") {
            assert_eq!(ran.status, 200, "{what}");
            let grey = std::fs::read(cwd.join("grey.jpg")).unwrap();
            assert_eq!(sha256_hex(&grey), processed, "{what}");
            assert_grey(&grey, &what);
        } else if line.contains("Range: bytes=0-99") {
            assert_eq!(ran.status, 206, "{what}");
            assert_eq!(ran.body, cat[..100].to_vec(), "{what}");
        } else if line.contains("$GW/function/get-object/ ") {
            assert_eq!(ran.status, 200, "{what}");
            assert!(ran.json().is_object() || ran.json().is_array(), "{what}");
        } else {
            panic!("a README command this test does not know: {line}");
        }
        checked += 1;
    }
    assert_eq!(checked, lines.len() - 1);
    assert!(!incoming.is_empty() && !processed.is_empty());

    // The faas-cli block, as the requests faas-cli sends.
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let lines = commands(&blocks[1]);
    assert_eq!(
        lines[0]
            .replace(".greyfaas", &up.data_dir.display().to_string())
            .replace("http://127.0.0.1:8080", &up.gateway),
        up.printed("faas-cli login").trim(),
        "the README's login line is the one greyfaas up prints"
    );
    let password = up.password();
    let login = client
        .get(up.url("/system/functions"))
        .basic_auth("admin", Some(&password))
        .send()
        .unwrap();
    assert_eq!(login.status(), 200, "faas-cli login's check");
    for line in &lines[1..] {
        if let Some(rest) = line.strip_prefix("echo '") {
            let (body, invoke) = rest.split_once("' | faas-cli invoke ").unwrap();
            let body = body.replace(
                "https://example.com/cat.jpg",
                &format!("{web}/corpus/{CAT}"),
            );
            let response = client
                .post(up.url(&format!("/function/{}", invoke.trim())))
                .header("content-type", "text/plain")
                .body(format!("{body}\n"))
                .send()
                .unwrap();
            assert_eq!(response.status(), 201, "{line}");
            let json: Value = response.json().unwrap();
            assert_eq!(path_of(&json), format!("/incoming/{incoming}"), "{line}");
        } else if line.starts_with("faas-cli invoke greyscale < cat.jpg > grey.jpg") {
            let response = client
                .post(up.url("/function/greyscale"))
                .header("content-type", "text/plain")
                .body(cat.clone())
                .send()
                .unwrap();
            assert_eq!(response.status(), 200, "{line}");
            assert_grey(&response.bytes().unwrap(), line);
        } else if line.starts_with("faas-cli list") {
            let list: Vec<Value> = client
                .get(up.url("/system/functions"))
                .basic_auth("admin", Some(&password))
                .send()
                .unwrap()
                .json()
                .unwrap();
            let mut names: Vec<&str> = list.iter().map(|f| f["name"].as_str().unwrap()).collect();
            names.sort();
            assert_eq!(
                names,
                ["fetch-incoming", "gallery", "get-object", "greyscale"]
            );
            for f in &list {
                // The API section calls every function but the gallery page.
                let called = f["name"] != "gallery";
                assert!(
                    !called || f["invocationCount"].as_f64().unwrap() >= 1.0,
                    "{f}"
                );
                assert!(f["replicas"].as_u64().unwrap() >= 1, "{f}");
            }
        } else if line.starts_with("faas-cli describe greyscale") {
            let response = client
                .get(up.url("/system/function/greyscale"))
                .basic_auth("admin", Some(&password))
                .send()
                .unwrap();
            assert_eq!(response.status(), 200, "{line}");
            let status: Value = response.json().unwrap();
            assert_eq!(status["name"], "greyscale");
            // What the replicas run with, not stack.yml's cluster addresses.
            let env = &status["envVars"];
            assert_eq!(env["gateway_url"], up.gateway.as_str(), "{status}");
            let s3 = env["s3_endpoint"].as_str().unwrap();
            assert!(s3.starts_with("http://127.0.0.1:"), "{status}");
            assert_eq!(env["jpeg_quality"], "90", "stack.yml's own settings stay");
        } else {
            panic!("a README faas-cli command this test does not know: {line}");
        }
    }

    // The other verbs, as faas-cli sends them.
    let stack: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(repo().join("stack.yml")).unwrap())
            .unwrap();
    let strings =
        |v: &serde_yaml_ng::Value| -> Value { serde_json::to_value(v).unwrap_or(Value::Null) };
    let system = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let request = client
            .request(method, up.url(path))
            .basic_auth("admin", Some(&password));
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let response = request.send().unwrap();
        (
            response.status().as_u16(),
            response.text().unwrap_or_default(),
        )
    };
    for line in commands(&blocks[2]) {
        let (status, text) = if line.starts_with("faas-cli deploy -f stack.yml --filter greyscale")
        {
            let def = &stack["functions"]["greyscale"];
            // faas-cli sends the environment as strings, and stack.yml's cluster endpoints.
            let env: serde_json::Map<String, Value> = strings(&def["environment"])
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Value::String(v.as_str().map_or(v.to_string(), str::to_owned)),
                    )
                })
                .collect();
            let deployment = serde_json::json!({
                "service": "greyscale",
                "image": "ghcr.io/greyfaas/greyscale:0.1.0",
                "envProcess": "./handler",
                "envVars": env,
                "labels": strings(&def["labels"]),
                "annotations": strings(&def["annotations"]),
                "secrets": strings(&def["secrets"]),
                "limits": strings(&def["limits"]),
                "requests": strings(&def["requests"]),
                "readOnlyRootFilesystem": true,
                "namespace": "openfaas-fn",
            });
            let result = system(reqwest::Method::PUT, "/system/functions", Some(deployment));
            let env = &client
                .get(up.url("/system/function/greyscale"))
                .basic_auth("admin", Some(&password))
                .send()
                .unwrap()
                .json::<Value>()
                .unwrap()["envVars"];
            assert_eq!(
                env["gateway_url"],
                up.gateway.as_str(),
                "local values after a deploy"
            );
            assert!(
                env["s3_endpoint"]
                    .as_str()
                    .unwrap()
                    .starts_with("http://127.0.0.1:")
            );
            result
        } else if line.starts_with("faas-cli remove get-object") {
            let result = system(
                reqwest::Method::DELETE,
                "/system/functions",
                Some(serde_json::json!({"functionName": "get-object"})),
            );
            let gone = client
                .get(up.url("/function/get-object/"))
                .send()
                .unwrap()
                .status();
            assert_eq!(gone, 404, "{line}");
            result
        } else if line.starts_with("faas-cli logs greyscale --lines 20 --tail=false") {
            // proxy/logs.go: --tail is `follow`, --lines is `tail`; no namespace without -n.
            let (status, text) = system(
                reqwest::Method::GET,
                "/system/logs?follow=false&name=greyscale&tail=20",
                None,
            );
            let lines: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert!(
                lines.len() <= 20 && lines.iter().all(|l| l["name"] == "greyscale"),
                "{text}"
            );
            (status, text)
        } else if line.starts_with("faas-cli secret create api-token --from-literal s3cr3t") {
            let result = system(
                reqwest::Method::POST,
                "/system/secrets",
                Some(
                    serde_json::json!({"name": "api-token", "value": "s3cr3t", "namespace": "openfaas-fn"}),
                ),
            );
            let file = up.data_dir.join("secrets/api-token");
            assert_eq!(std::fs::read_to_string(file).unwrap(), "s3cr3t");
            result
        } else if line.starts_with("faas-cli secret list") {
            let (status, text) = system(reqwest::Method::GET, "/system/secrets", None);
            let names: Vec<Value> = serde_json::from_str(&text).unwrap();
            assert!(names.iter().any(|n| n["name"] == "api-token"), "{text}");
            (status, text)
        } else if line.starts_with("faas-cli secret remove api-token") {
            let result = system(
                reqwest::Method::DELETE,
                "/system/secrets",
                Some(serde_json::json!({"name": "api-token"})),
            );
            assert!(!up.data_dir.join("secrets/api-token").exists());
            result
        } else {
            panic!("a README faas-cli command this test does not know: {line}");
        };
        assert_eq!(status, 200, "{line}: {text}");
    }
}

#[test]
fn the_pipeline_line_greyfaas_up_prints_works_offline_and_fails_loudly() {
    let up = shipped_up();
    let cwd = work_dir();
    let line = up.printed("IMG=").trim().to_string();
    let image = std::fs::read(corpus_dir().join(A_PNG)).unwrap();
    assert!(
        line.contains(
            &corpus_dir()
                .join(A_PNG)
                .canonicalize()
                .unwrap()
                .display()
                .to_string()
        ),
        "the line starts from a corpus file: {line}"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&line)
        .current_dir(&cwd)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{line}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let processed = stdout
        .trim()
        .strip_prefix("saved grey.png from /processed/")
        .unwrap_or_else(|| panic!("{stdout}"));
    let grey = std::fs::read(cwd.join("grey.png")).unwrap();
    assert_eq!(sha256_hex(&grey), processed);
    assert_grey(&grey, "grey.png");
    let uploaded = up
        .data_dir
        .join("objects/incoming")
        .join(sha256_hex(&image));
    assert!(uploaded.is_file(), "the upload is stored under its SHA-256");

    // A step that fails stops the line with curl's error and a non-zero exit.
    std::fs::write(cwd.join("not-an-image.png"), "hello").unwrap();
    let broken_image = line.replacen(
        &line[line.find("IMG='").unwrap()..line.find("'; ").unwrap() + 1],
        "IMG='not-an-image.png'",
        1,
    );
    let closed_gateway = line.replace(&up.gateway, &format!("http://127.0.0.1:{}", free_port()));
    for broken in [broken_image, closed_gateway] {
        std::fs::remove_file(cwd.join("grey.png")).ok();
        let out = Command::new("bash")
            .arg("-c")
            .arg(&broken)
            .current_dir(&cwd)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{broken}");
        assert!(out.stdout.is_empty(), "nothing saved: {broken}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("curl: ("),
            "curl's error is shown: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!cwd.join("grey.png").exists());
    }
}

#[test]
fn the_async_commands_work_as_written() {
    let up = shipped_up();
    let web = &web_server().base;
    let cwd = work_dir();
    let blocks = readme_blocks("The API");
    let lines = commands(&blocks[3]);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let id = format!("readme-{}", std::process::id());
    let local = |line: &str| {
        line.replace("https://example.com/hook", &format!("{web}/callback"))
            .replace(
                "https://example.com/cat.jpg",
                &format!("{web}/corpus/{CAT}"),
            )
            .replace("cat-1", &id)
            .replace(".greyfaas", &up.data_dir.display().to_string())
    };
    let accepted = run(&cwd, &up.gateway, &local(&lines[0]));
    assert_eq!(accepted.exit, 0, "{}", accepted.stderr);
    assert_eq!(accepted.status, 202, "{}", lines[0]);
    let head = String::from_utf8_lossy(&accepted.body).to_lowercase();
    assert!(head.contains(&format!("x-call-id: {id}")), "{head}");
    assert!(head.contains("x-start-time: "), "{head}");

    let mut status = Value::Null;
    let done = eventually(Duration::from_secs(30), || {
        let ran = run(&cwd, &up.gateway, &local(&lines[1]));
        status = if ran.status == 200 {
            ran.json()
        } else {
            Value::Null
        };
        status["status"] == "done"
    });
    assert!(done, "{}: {status}", lines[1]);
    assert_eq!(status["functionStatus"], 201, "{status}");
    assert_eq!(status["callbackStatus"], 200, "{status}");
    let callbacks = callbacks_for(&id);
    assert_eq!(callbacks.len(), 1);
    let cat = std::fs::read(corpus_dir().join(CAT)).unwrap();
    let json: Value = serde_json::from_slice(&callbacks[0].1).unwrap();
    assert_eq!(path_of(&json), format!("/incoming/{}", sha256_hex(&cat)));
}

//! The gateway against hostile web pages and clients (issue 18), through `greyfaas up`
//! on the shipped stack.yml: Host names other than loopback and `--public-host` are
//! refused (DNS rebinding), `/system/*` refuses cross-site requests and writes not
//! declared JSON while faas-cli's requests (Basic auth, `Content-Type:
//! application/json`, no Origin) still work, a deploy cannot set environment names the
//! function does not read (LD_PRELOAD, the SSRF guard's switches), scale bounds are
//! capped, and a second async call cannot take over an X-Call-Id in use.

use greyfaas_testkit::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::Duration;

/// One HTTP/1.1 request written by hand (so the Host header is exactly `host`; the
/// connection always goes to the gateway on loopback), and the status and body.
fn raw(up: &Up, method: &str, path: &str, host: &str, extra: &[(&str, &str)]) -> (u16, String) {
    let port = up.gateway.rsplit(':').next().unwrap();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port.parse().unwrap())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn shipped_up(extra: &[&str]) -> Up {
    let mut args = vec!["--allow-private-networks"];
    args.extend_from_slice(extra);
    Up::start_file(&repo().join("stack.yml"), &args)
}

#[test]
fn only_loopback_and_public_host_names_are_answered() {
    let up = shipped_up(&["--public-host", "faas.example.test"]);
    let own = up.gateway.trim_start_matches("http://").to_string();
    for host in [
        own.as_str(),
        "localhost",
        "localhost:8080",
        "gallery.localhost:1234",
        "[::1]:8080",
        "127.0.0.2",
        "faas.example.test",
        "FAAS.example.test:443",
    ] {
        let (status, body) = raw(&up, "GET", "/healthz", host, &[]);
        assert_eq!(status, 200, "{host}: {body}");
    }
    // A rebinding page's name reaches nothing: not the gallery, not a function, not
    // /system (even with the right password), not /metrics.
    let auth = format!("Basic {}", base64_admin(&up));
    for path in ["/ui/", "/function/gallery/", "/healthz", "/metrics"] {
        for host in ["rebind.example", "127.0.0.1.nip.io", "example.test:8080"] {
            let (status, body) = raw(&up, "GET", path, host, &[]);
            assert_eq!(status, 421, "{host}{path}: {body}");
            let error: Value = serde_json::from_str(&body).unwrap();
            assert!(error["error"].as_str().unwrap().contains(host), "{error}");
        }
    }
    let (status, _) = raw(
        &up,
        "GET",
        "/system/functions",
        "rebind.example",
        &[("authorization", &auth)],
    );
    assert_eq!(status, 421);
    // What calls the gateway still works: greyscale fetching a URL calls
    // fetch-incoming through the gateway (gateway_url is http://127.0.0.1:<port>).
    let web = &web_server().base;
    let converted = client()
        .post(up.url("/function/greyscale"))
        .body(json!({"url": format!("{web}/corpus/small-png_astronaut_512x512.png")}).to_string())
        .send()
        .unwrap();
    assert_eq!(converted.status(), 201, "{}", converted.text().unwrap());
}

fn base64_admin(up: &Up) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("admin:{}", up.password()))
}

#[test]
fn the_admin_api_refuses_what_a_foreign_page_could_send() {
    let up = shipped_up(&[]);
    let secrets = up.data_dir.join("secrets");
    let post_secret = |name: &str, headers: &[(&str, &str)]| {
        let mut request = client()
            .post(up.url("/system/secrets"))
            .with_admin_auth(&up)
            .body(json!({"name": name, "value": "x"}).to_string());
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        (status, response.text().unwrap())
    };
    // A form post or a text/plain fetch from any page: no preflight, so refused here.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let (status, body) = post_secret("csrf-type", &[("content-type", content_type)]);
        assert_eq!(status, 415, "{content_type}: {body}");
        assert!(serde_json::from_str::<Value>(&body).unwrap()["error"].is_string());
    }
    let (status, _) = post_secret("csrf-none", &[]);
    assert_eq!(status, 415, "no Content-Type at all");
    // A foreign Origin, or a browser's own cross-site mark, even typed JSON.
    let json_type = ("content-type", "application/json");
    for headers in [
        vec![json_type, ("origin", "http://evil.example")],
        vec![json_type, ("origin", "null")],
        vec![json_type, ("sec-fetch-site", "cross-site")],
    ] {
        let (status, body) = post_secret("csrf-origin", &headers);
        assert_eq!(status, 403, "{headers:?}: {body}");
    }
    let (status, _) = raw(
        &up,
        "GET",
        "/system/functions",
        up.gateway.trim_start_matches("http://"),
        &[("origin", "http://evil.example")],
    );
    assert_eq!(
        status, 403,
        "a cross-site read is refused before the password is asked"
    );
    for name in ["csrf-type", "csrf-none", "csrf-origin"] {
        assert!(!secrets.join(name).exists(), "{name} was written");
    }
    // faas-cli's request (Content-Type: application/json, no Origin), and the page's
    // own origin, are served.
    let (status, body) = post_secret("from-cli", &[("content-type", "application/json")]);
    assert_eq!(status, 200, "{body}");
    let own = up.gateway.clone();
    let (status, body) = post_secret(
        "from-page",
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("origin", own.as_str()),
            ("sec-fetch-site", "same-origin"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    // The Basic scheme in any case (RFC 7617).
    let lower = client()
        .get(up.url("/system/functions"))
        .header("authorization", format!("basic {}", base64_admin(&up)))
        .send()
        .unwrap();
    assert_eq!(lower.status(), 200);

    // The store's keys are greyfaas's own: neither listed nor writable.
    let (status, _) = post_secret("s3-secret-key", &[("content-type", "application/json")]);
    assert_eq!(status, 400);
    assert_ne!(std::fs::read(secrets.join("s3-secret-key")).unwrap(), b"x");

    // A link planted in the secrets folder is refused as the client's to fix (400, not
    // a 500), and its target is left as it was.
    let target = up.data_dir.join("not-a-secret");
    std::fs::write(&target, "precious").unwrap();
    std::os::unix::fs::symlink(&target, secrets.join("planted")).unwrap();
    let (status, body) = post_secret("planted", &[("content-type", "application/json")]);
    assert_eq!(status, 400, "{body}");
    let error = serde_json::from_str::<Value>(&body).unwrap()["error"].to_string();
    assert!(error.contains("symbolic link"), "{error}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
}

#[test]
fn a_deploy_cannot_load_code_relax_the_guard_or_fork_without_bound() {
    let up = shipped_up(&[]);
    let before = function_status(&up, "greyscale");
    let deploy = |env: Value, labels: Value| {
        let response = client()
            .put(up.url("/system/functions"))
            .with_admin_auth(&up)
            .json(&json!({
                "service": "greyscale",
                "image": "ghcr.io/greyfaas/greyscale:0.1.0",
                "envVars": env,
                "labels": labels,
                "secrets": ["s3-access-key", "s3-secret-key"],
            }))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().unwrap())
    };
    for name in [
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "allow_private_networks",
        "allow_cidrs",
        "PATH",
    ] {
        let (status, body) = deploy(json!({ name: "/tmp/x" }), json!({}));
        assert_eq!(status, 400, "{name}: {body}");
        let error: Value = serde_json::from_str(&body).unwrap();
        assert!(
            error["error"].as_str().unwrap().contains(name),
            "{name}: {error}"
        );
    }
    for (key, value) in [("min", "50"), ("max", "1000")] {
        let (status, body) = deploy(
            json!({}),
            json!({ format!("com.openfaas.scale.{key}"): value }),
        );
        assert_eq!(status, 400, "{key}={value}: {body}");
        assert!(
            body.contains(&format!("com.openfaas.scale.{key}")),
            "{body}"
        );
        assert!(body.contains("20"), "the cap is named: {body}");
    }
    let after = function_status(&up, "greyscale");
    assert_eq!(pids(&after), pids(&before), "nothing was rolled");
    assert_eq!(after["envVars"], before["envVars"]);
    // The settings greyscale reads are still deployable.
    let (status, body) = deploy(
        json!({"max_pixels": "40000000", "RUST_LOG": "warn"}),
        json!({}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        function_status(&up, "greyscale")["envVars"]["max_pixels"],
        "40000000"
    );
}

#[test]
fn a_second_async_call_cannot_take_an_x_call_id_in_use() {
    let up = shipped_up(&[]);
    let id = format!("taken-{}", std::process::id());
    let call = |function: &str| {
        client()
            .post(up.url(&format!("/async-function/{function}")))
            .header("x-call-id", &id)
            .header("content-type", "image/png")
            .body(std::fs::read(corpus_dir().join("small-png_astronaut_512x512.png")).unwrap())
            .send()
            .unwrap()
    };
    let first = call("fetch-incoming");
    assert_eq!(first.status(), 202);
    assert_eq!(first.headers()["x-call-id"], id.as_str());
    let status = |up: &Up| -> Value {
        client()
            .get(up.url(&format!("/system/async-call/{id}")))
            .with_admin_auth(up)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert!(eventually(
        Duration::from_secs(30),
        || status(&up)["status"] == "done"
    ));
    let first_status = status(&up);
    // Unauthenticated, the same id, another function: refused, the record unchanged.
    let second = call("greyscale");
    assert_eq!(second.status(), 409);
    let error: Value = second.json().unwrap();
    assert!(error["error"].as_str().unwrap().contains(&id), "{error}");
    assert_eq!(status(&up), first_status);
    assert_eq!(first_status["function"], "fetch-incoming");
    // A call without an id gets one of the gateway's, as OpenFaaS's callid middleware
    // gives it.
    let fresh = client()
        .post(up.url("/async-function/fetch-incoming"))
        .header("content-type", "image/png")
        .body(std::fs::read(corpus_dir().join("small-png_astronaut_512x512.png")).unwrap())
        .send()
        .unwrap();
    assert_eq!(fresh.status(), 202);
    assert!(!fresh.headers()["x-call-id"].is_empty());
}

/// Issue 18: eight calls with one X-Call-Id sent at the same moment (a barrier
/// releases them together, to two functions in turn): exactly one is accepted, the
/// others get 409, and the call's record is the accepted call's, never another's.
#[test]
fn concurrent_async_calls_with_one_x_call_id_accept_exactly_one() {
    let up = shipped_up(&[]);
    let id = format!("raced-{}", std::process::id());
    let body = std::fs::read(corpus_dir().join("small-png_astronaut_512x512.png")).unwrap();
    let barrier = std::sync::Barrier::new(8);
    let answers: Vec<(&str, u16)> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..8)
            .map(|i| {
                let function = ["fetch-incoming", "greyscale"][i % 2];
                let (up, id, body, barrier) = (&up, &id, &body, &barrier);
                scope.spawn(move || {
                    let request = client()
                        .post(up.url(&format!("/async-function/{function}")))
                        .header("x-call-id", id)
                        .header("content-type", "image/png")
                        .body(body.clone());
                    barrier.wait();
                    (function, request.send().unwrap().status().as_u16())
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let accepted: Vec<_> = answers.iter().filter(|(_, s)| *s == 202).collect();
    assert_eq!(accepted.len(), 1, "{answers:?}");
    assert!(
        answers.iter().all(|(_, s)| *s == 202 || *s == 409),
        "{answers:?}"
    );
    let record = || -> Value {
        client()
            .get(up.url(&format!("/system/async-call/{id}")))
            .with_admin_auth(&up)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert!(eventually(Duration::from_secs(30), || record()["status"] == "done"));
    assert_eq!(record()["function"], accepted[0].0, "{answers:?}");
}

#[test]
fn a_roll_to_many_replicas_starts_them_a_few_at_a_time() {
    let up = shipped_up(&[]);
    let before = function_status(&up, "get-object")["availableReplicas"]
        .as_u64()
        .unwrap() as usize;
    let wanted = 8;
    std::thread::scope(|scope| {
        let roll = scope.spawn(|| {
            client()
                .put(up.url("/system/functions"))
                .with_admin_auth(&up)
                .json(&json!({
                    "service": "get-object",
                    "image": "ghcr.io/greyfaas/get-object:0.1.0",
                    "labels": {
                        "com.openfaas.scale.min": wanted.to_string(),
                        "com.openfaas.scale.max": wanted.to_string(),
                    },
                    "secrets": ["s3-access-key", "s3-secret-key"],
                }))
                .send()
                .unwrap()
                .status()
        });
        // Processes spawned but not yet healthy: never more than the two turns (the
        // old replicas stay ready until the new ones are).
        let mut most_starting = 0;
        while !roll.is_finished() {
            let status = function_status(&up, "get-object");
            let spawned = pids(&status).len();
            let ready = status["availableReplicas"].as_u64().unwrap() as usize;
            most_starting = most_starting.max(spawned.saturating_sub(ready));
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(roll.join().unwrap(), 200);
        assert!(most_starting >= 1, "the roll was observed");
        assert!(
            most_starting <= 2,
            "{most_starting} processes were starting at once (before: {before} ready)"
        );
    });
    assert_eq!(
        function_status(&up, "get-object")["availableReplicas"],
        wanted
    );
}

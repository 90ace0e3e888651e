//! faas-cli's verbs against `greyfaas up`, as the HTTP requests faas-cli sends (the
//! real faas-cli cannot be installed here: no Go toolchain, no downloads). Shapes from
//! faas-cli's proxy/ and faasd's pkg/provider/handlers/: deploy is `PUT
//! /system/functions` with a FunctionDeployment (a 404 makes faas-cli `POST` it),
//! remove is `DELETE /system/functions {"functionName"}`, describe is `GET
//! /system/function/NAME?namespace=…`, secrets are `/system/secrets` with
//! `{"name","value"|"rawValue"}`; every one with the Basic auth `faas-cli login` saved.

use greyfaas_testkit::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn describe(up: &Up, name: &str) -> Value {
    let response = client()
        .get(up.url(&format!("/system/function/{name}?namespace=openfaas-fn")))
        .with_admin_auth(up)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200, "describe {name}");
    response.json().unwrap()
}

/// The FunctionDeployment faas-cli deploy sends for greyscale with these settings.
fn greyscale_deployment(env: Value, labels: Value, annotations: Value, secrets: Value) -> Value {
    json!({
        "service": "greyscale",
        "image": "greyfaas/greyscale:test",
        "envProcess": "",
        "envVars": env,
        "labels": labels,
        "annotations": annotations,
        "secrets": secrets,
        "namespace": "openfaas-fn",
        "readOnlyRootFilesystem": true,
    })
}

#[test]
fn secrets_are_files_created_listed_and_removed_as_faasd_does() {
    let up = Up::start(ROLL_STACK, &[]);
    let secrets = up.data_dir.join("secrets");
    let send = |method: reqwest::Method, body: Value| {
        client()
            .request(method, up.url("/system/secrets"))
            .with_admin_auth(&up)
            .json(&body)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(
        send(
            reqwest::Method::POST,
            json!({"name": "api-token", "value": "v1", "namespace": "openfaas-fn"})
        ),
        200
    );
    assert_eq!(
        std::fs::read_to_string(secrets.join("api-token")).unwrap(),
        "v1"
    );
    // faas-cli secret update: PUT, here with rawValue (Go []byte, base64).
    assert_eq!(
        send(
            reqwest::Method::PUT,
            json!({"name": "api-token", "rawValue": "djI="})
        ),
        200
    );
    assert_eq!(
        std::fs::read_to_string(secrets.join("api-token")).unwrap(),
        "v2"
    );
    let list: Vec<Value> = client()
        .get(up.url("/system/secrets"))
        .with_admin_auth(&up)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let names: Vec<&str> = list.iter().map(|s| s["name"].as_str().unwrap()).collect();
    // The store's keys are in the same folder, but greyfaas's own: not listed.
    assert_eq!(names, ["api-token"]);
    assert!(list.iter().all(|s| s["namespace"] == "openfaas-fn"));
    for bad in [
        "../escape",
        "a/b",
        "",
        "..",
        ".hidden",
        "Upper",
        "basic-auth-password",
        "s3-access-key",
        "s3-secret-key",
    ] {
        assert_eq!(
            send(reqwest::Method::POST, json!({"name": bad, "value": "x"})),
            400,
            "{bad:?}"
        );
    }
    assert!(!up.dir.join("escape").exists());
    // The store's keys stay as the store was started with, and cannot be removed.
    let store_key = std::fs::read(secrets.join("s3-secret-key")).unwrap();
    assert_ne!(store_key, b"x");
    assert_eq!(
        send(reqwest::Method::DELETE, json!({"name": "s3-secret-key"})),
        400
    );
    assert_eq!(
        std::fs::read(secrets.join("s3-secret-key")).unwrap(),
        store_key
    );
    assert_eq!(
        client()
            .get(up.url("/system/secrets"))
            .header("authorization", "Bearer ")
            .send()
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        send(reqwest::Method::DELETE, json!({"name": "api-token"})),
        200
    );
    assert!(!secrets.join("api-token").exists());
    assert_eq!(
        send(reqwest::Method::DELETE, json!({"name": "api-token"})),
        404
    );
}

/// faas-cli's local convention: a secret may also be a file in `.secrets/` beside the
/// stack file (what `faas-cli local-run` mounts), used when `faas-cli secret create`
/// made none of that name.
#[test]
fn a_secret_in_the_stack_folders_dot_secrets_is_mounted() {
    let dir = std::env::temp_dir().join(format!("greyfaas-e2e-dotsecrets-{}", std::process::id()));
    std::fs::create_dir_all(dir.join(".secrets")).unwrap();
    std::fs::write(dir.join(".secrets/api-token"), "from-dot-secrets").unwrap();
    let stack = ROLL_STACK.replace(
        "secrets: [s3-access-key, s3-secret-key]\n  get-object",
        "secrets: [s3-access-key, s3-secret-key, api-token]\n  get-object",
    );
    assert_ne!(stack, ROLL_STACK);
    let up = Up::start_in(dir, &stack, &[]);
    let status = describe(&up, "greyscale");
    assert_eq!(
        status["secrets"],
        json!(["s3-access-key", "s3-secret-key", "api-token"])
    );
    let mount = std::path::PathBuf::from(status["envVars"]["secret_mount_path"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(mount.join("api-token")).unwrap(),
        "from-dot-secrets"
    );
    // The generated store credentials still come from the data folder.
    assert_eq!(
        std::fs::read(mount.join("s3-access-key")).unwrap(),
        std::fs::read(up.data_dir.join("secrets/s3-access-key")).unwrap()
    );
}

#[test]
fn a_deploy_rolls_the_replicas_onto_new_settings_and_loses_no_call() {
    let up = Up::start(ROLL_STACK, &[]);
    let status = client()
        .post(up.url("/system/secrets"))
        .with_admin_auth(&up)
        .json(&json!({"name": "api-token", "value": "t0ken"}))
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let before = describe(&up, "greyscale");
    assert_eq!(pids(&before).len(), 2);

    // Steady load: 3 callers posting an image to greyscale, a call that is *not*
    // retried by the gateway (POST, not marked idempotent). Bounded in count and time.
    let image =
        std::fs::read(corpus_dir().join("small-png-alpha_chelsea-gradient_451x300.png")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let callers: Vec<_> = (0..3)
        .map(|_| {
            let (stop, ok, failed, failures) =
                (stop.clone(), ok.clone(), failed.clone(), failures.clone());
            let (url, image) = (up.url("/function/greyscale"), image.clone());
            std::thread::spawn(move || {
                let client = client();
                let deadline = Instant::now() + Duration::from_secs(60);
                for _ in 0..2000 {
                    if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                        break;
                    }
                    match client
                        .post(&url)
                        .header("content-type", "image/png")
                        .body(image.clone())
                        .send()
                    {
                        Ok(r) if r.status() == 200 => {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        other => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            failures.lock().unwrap().push(format!("{other:?}"));
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let served_before = ok.load(Ordering::SeqCst);

    let deployment = greyscale_deployment(
        json!({"jpeg_quality": "50"}),
        json!({"com.openfaas.scale.min": "2", "com.openfaas.scale.max": "2", "team": "imaging"}),
        json!({"note": "rolled"}),
        json!(["s3-access-key", "s3-secret-key", "api-token"]),
    );
    let deployed = client()
        .put(up.url("/system/functions"))
        .with_admin_auth(&up)
        .json(&deployment)
        .send()
        .unwrap();
    assert_eq!(
        deployed.status(),
        200,
        "{}",
        deployed.text().unwrap_or_default()
    );
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::SeqCst);
    for caller in callers {
        caller.join().unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    println!(
        "deploy under load: {ok} calls served ({served_before} before the deploy), {failed} failed"
    );
    assert_eq!(
        failed,
        0,
        "calls lost during the deploy: {:?}",
        failures.lock().unwrap()
    );
    assert!(
        served_before > 0 && ok > served_before,
        "load ran before and after: {served_before} then {ok}"
    );

    let after = describe(&up, "greyscale");
    assert_eq!(after["envVars"]["jpeg_quality"], "50");
    assert_eq!(after["labels"]["team"], "imaging");
    assert_eq!(after["annotations"]["note"], "rolled");
    assert_eq!(
        after["secrets"],
        json!(["s3-access-key", "s3-secret-key", "api-token"])
    );
    let (old, new) = (pids(&before), pids(&after));
    assert_eq!(new.len(), 2, "{after}");
    assert!(
        new.iter().all(|p| !old.contains(p)),
        "every replica replaced"
    );
    assert!(
        eventually(Duration::from_secs(30), || old
            .iter()
            .all(|p| !process_alive(*p as i32))),
        "old replicas exit"
    );
    // The new replicas see their secrets, and only theirs: not the gateway's password.
    let mount = std::path::PathBuf::from(after["envVars"]["secret_mount_path"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(mount.join("api-token")).unwrap(),
        "t0ken"
    );
    assert!(!mount.join("basic-auth-password").exists());
    for pid in &new {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let environ = String::from_utf8_lossy(&environ);
        assert!(
            environ.contains("jpeg_quality=50"),
            "replica {pid} runs the new setting"
        );
    }

    // A deploy naming a secret that does not exist is refused, and changes nothing.
    let missing = greyscale_deployment(json!({}), json!({}), json!({}), json!(["nope"]));
    let refused = client()
        .put(up.url("/system/functions"))
        .with_admin_auth(&up)
        .json(&missing)
        .send()
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(pids(&describe(&up, "greyscale")), new);
    // Only functions whose handler is in the stack file: update 404 (faas-cli then
    // POSTs), create 400.
    let mut other = missing.clone();
    other["service"] = json!("hello");
    other["secrets"] = json!([]);
    for (method, expected) in [(reqwest::Method::PUT, 404), (reqwest::Method::POST, 400)] {
        let status = client()
            .request(method, up.url("/system/functions"))
            .with_admin_auth(&up)
            .json(&other)
            .send()
            .unwrap()
            .status();
        assert_eq!(status, expected);
    }
}

#[test]
fn remove_stops_a_function_and_a_deploy_brings_it_back() {
    let up = Up::start(ROLL_STACK, &[]);
    let pid_before = pids(&describe(&up, "get-object"));
    let remove = |expected: u16| {
        let status = client()
            .delete(up.url("/system/functions"))
            .with_admin_auth(&up)
            .json(&json!({"functionName": "get-object"}))
            .send()
            .unwrap()
            .status();
        assert_eq!(status, expected);
    };
    remove(200);
    assert_eq!(
        client()
            .get(up.url("/function/get-object/"))
            .send()
            .unwrap()
            .status(),
        404
    );
    let list: Vec<Value> = client()
        .get(up.url("/system/functions"))
        .with_admin_auth(&up)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(list.iter().all(|f| f["name"] != "get-object"));
    assert!(eventually(Duration::from_secs(30), || pid_before
        .iter()
        .all(|p| !process_alive(*p as i32))));
    remove(404);

    // faas-cli deploy: PUT answers 404 for a removed function, then POST deploys it.
    let deployment = json!({
        "service": "get-object",
        "image": "greyfaas/get-object:test",
        "envVars": {},
        "secrets": ["s3-access-key", "s3-secret-key"],
        "namespace": "openfaas-fn",
    });
    for (method, expected) in [(reqwest::Method::PUT, 404), (reqwest::Method::POST, 200)] {
        let status = client()
            .request(method, up.url("/system/functions"))
            .with_admin_auth(&up)
            .json(&deployment)
            .send()
            .unwrap()
            .status();
        assert_eq!(status, expected);
    }
    assert_eq!(
        client()
            .get(up.url("/function/get-object/"))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(pids(&describe(&up, "get-object")).len(), 1);
}

/// `faas-cli logs NAME`: `GET /system/logs?name=NAME&tail=…&follow=…` (proxy/logs.go),
/// NDJSON of faas-provider's log Message.
fn logs(up: &Up, query: &str) -> Vec<Value> {
    let response = client()
        .get(up.url(&format!("/system/logs?{query}")))
        .with_admin_auth(up)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200, "{query}");
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    response
        .text()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn logs_stream_each_replicas_output_as_faas_cli_reads_it() {
    // A refused call makes the function log at info (4xx; a 5xx logs a warning), so this
    // greyscale logs at info where the tests' default is RUST_LOG=warn.
    let stack = ROLL_STACK.replace(
        "      jpeg_quality: 90\n",
        "      jpeg_quality: 90\n      RUST_LOG: info\n",
    );
    assert_ne!(stack, ROLL_STACK);
    let up = Up::start(&stack, &[]);
    let fail_once = || {
        let status = client()
            .post(up.url("/function/greyscale"))
            .header("content-type", "image/png")
            .body("not a png")
            .send()
            .unwrap()
            .status();
        assert_eq!(status, 415);
    };
    fail_once();
    let mut lines = Vec::new();
    assert!(eventually(Duration::from_secs(10), || {
        lines = logs(
            &up,
            "name=greyscale&namespace=openfaas-fn&tail=-1&follow=false",
        );
        lines
            .iter()
            .any(|l| l["text"].as_str().unwrap().contains("request refused"))
    }));
    let line = lines
        .iter()
        .find(|l| l["text"].as_str().unwrap().contains("request refused"))
        .unwrap();
    assert_eq!(line["name"], "greyscale");
    assert_eq!(line["namespace"], "openfaas-fn");
    let instance = line["instance"].as_str().unwrap().to_string();
    assert!(instance.starts_with("greyscale-"), "{line}");
    let timestamp = line["timestamp"].as_str().unwrap();
    assert!(
        timestamp.ends_with('Z') && timestamp.contains('T'),
        "{timestamp}"
    );

    assert_eq!(logs(&up, "name=greyscale&tail=1").len(), 1);
    assert!(logs(&up, "name=greyscale&since=2999-01-01T00:00:00Z").is_empty());
    let only = logs(&up, &format!("name=greyscale&tail=-1&instance={instance}"));
    assert!(!only.is_empty() && only.iter().all(|l| l["instance"] == instance.as_str()));
    assert!(
        logs(&up, "name=get-object&tail=-1")
            .iter()
            .all(|l| l["name"] == "get-object")
    );

    // follow=true: lines arrive as they are printed.
    let mut stream = client()
        .get(up.url("/system/logs?name=greyscale&tail=0&follow=true"))
        .with_admin_auth(&up)
        .send()
        .unwrap();
    assert_eq!(stream.status(), 200);
    let before = lines
        .iter()
        .filter(|l| l["text"].as_str().unwrap().contains("request refused"))
        .count();
    fail_once();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let reader = std::io::BufReader::new(&mut stream);
        for line in reader.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let followed = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line: Value =
            serde_json::from_str(&rx.recv_timeout(left).expect("a followed line")).unwrap();
        if line["text"].as_str().unwrap().contains("request refused") {
            break line;
        }
    };
    assert_eq!(followed["name"], "greyscale");
    let after = logs(&up, "name=greyscale&tail=-1")
        .iter()
        .filter(|l| l["text"].as_str().unwrap().contains("request refused"))
        .count();
    assert_eq!(after, before + 1);

    // Errors as faas-provider and the gateway give them.
    let status = |query: &str, auth: bool| {
        let request = client().get(up.url(&format!("/system/logs?{query}")));
        let request = if auth {
            request.with_admin_auth(&up)
        } else {
            request
        };
        request.send().unwrap().status().as_u16()
    };
    assert_eq!(status("name=nope", true), 404);
    assert_eq!(status("tail=x&name=greyscale", true), 422);
    assert_eq!(status("name=greyscale", false), 401);
}

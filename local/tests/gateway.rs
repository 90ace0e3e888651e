//! The single-machine gateway end to end: the OpenFaaS API shapes, replicas that die,
//! request-rate scaling, scale to zero, async calls, restarts and cleanup.

use greyfaas_testkit::*;
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn the_system_api_has_the_openfaas_shapes() {
    let up = Up::start(STACK, &[]);
    let list: Value = client()
        .get(up.url("/system/functions"))
        .with_admin_auth(&up)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let list = list.as_array().expect("a JSON array");
    assert_eq!(list.len(), 3);
    for f in list {
        for key in [
            "name",
            "image",
            "namespace",
            "invocationCount",
            "replicas",
            "availableReplicas",
            "labels",
            "annotations",
            "envProcess",
        ] {
            assert!(f.get(key).is_some(), "{key} missing in {f}");
        }
        assert_eq!(f["namespace"], "openfaas-fn");
        assert!(f["invocationCount"].is_f64());
    }
    let get_object = list.iter().find(|f| f["name"] == "get-object").unwrap();
    assert_eq!(get_object["replicas"], 2, "com.openfaas.scale.min");
    assert_eq!(
        get_object["availableReplicas"], 2,
        "greyfaas up announces itself once every initial replica is ready"
    );
    assert_eq!(get_object["labels"]["com.openfaas.scale.min"], "2");

    assert_eq!(
        client()
            .get(up.url("/system/function/nope"))
            .with_admin_auth(&up)
            .send()
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client()
            .get(up.url("/function/nope"))
            .send()
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client()
            .get(up.url("/function/get-object.other-ns/"))
            .send()
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client()
            .get(up.url("/system/functions?namespace=kube-system"))
            .with_admin_auth(&up)
            .send()
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        client().get(up.url("/healthz")).send().unwrap().status(),
        200
    );
    let info: Value = client()
        .get(up.url("/system/info"))
        .with_admin_auth(&up)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(info["provider"]["provider"], "greyfaas");
    let namespaces: Value = client()
        .get(up.url("/system/namespaces"))
        .with_admin_auth(&up)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(namespaces, json!(["openfaas-fn"]));

    // Calls are counted with the gateway's metric names and labels.
    let call = client()
        .get(up.url("/function/get-object/"))
        .header("x-call-id", "trace-me")
        .send()
        .unwrap();
    assert_eq!(call.status(), 200);
    assert_eq!(call.headers()["x-call-id"], "trace-me");
    assert!(call.headers().get("x-start-time").is_some());
    let metrics = client()
        .get(up.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains(r#"gateway_function_invocation_total{function_name="get-object.openfaas-fn",code="200"} 1"#), "{metrics}");
    assert!(
        metrics.contains(r#"gateway_service_count{function_name="get-object.openfaas-fn"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("gateway_functions_seconds_bucket"),
        "{metrics}"
    );

    // Scaling by API.
    let scaled = client()
        .post(up.url("/system/scale-function/get-object"))
        .with_admin_auth(&up)
        .json(&json!({"replicas": 3}))
        .send()
        .unwrap();
    assert_eq!(scaled.status(), 202);
    assert!(eventually(Duration::from_secs(20), || function_status(
        &up,
        "get-object"
    )["availableReplicas"]
        == 3));
}

#[test]
fn provider_mode_answers_info_as_an_openfaas_provider() {
    let up = Up::start(STACK, &["--provider"]);
    let info: Value = client()
        .get(up.url("/system/info"))
        .with_admin_auth(&up)
        .send()
        .unwrap()
        .json()
        .unwrap();
    // faas-provider's types.ProviderInfo: {"provider": string, "orchestration", "version": {"sha", "release"}}
    assert_eq!(info["provider"], "greyfaas");
    assert!(info["orchestration"].is_string());
    assert!(info["version"]["release"].is_string());
    // The provider routes the gateway uses.
    assert_eq!(
        client()
            .get(up.url("/system/namespaces"))
            .with_admin_auth(&up)
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client()
            .get(up.url("/function/get-object/"))
            .send()
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn killing_a_replica_loses_no_requests_and_the_count_recovers() {
    let up = Up::start(STACK, &[]);
    let before = pids(&function_status(&up, "get-object"));
    assert_eq!(before.len(), 2);
    sigkill(before[0]);
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_secs(3) && sent < 300 {
        let response = client()
            .get(up.url("/function/get-object/"))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "request {sent} after the kill");
        sent += 1;
    }
    assert!(sent > 20);
    assert!(
        eventually(Duration::from_secs(20), || {
            let status = function_status(&up, "get-object");
            status["availableReplicas"] == 2 && !pids(&status).contains(&before[0])
        }),
        "the killed replica is replaced"
    );
}

#[test]
fn bursts_scale_up_quiet_scales_down_and_idle_scales_to_zero() {
    let up = Up::start(
        SCALING_STACK,
        &["--panic-window", "2s", "--stable-window", "5s"],
    );
    assert_eq!(function_status(&up, "burst")["replicas"], 1);

    // A burst of ~40 req/s for 3 s (bounded: 4 threads x 30 requests) against target 5.
    let burst_start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..30 {
                    let _ = client().get(up.url("/function/burst/")).send();
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
    });
    let scaled_up = eventually(Duration::from_secs(3), || {
        function_status(&up, "burst")["greyfaas"]["desiredReplicas"] == 3
    });
    assert!(
        scaled_up,
        "3 replicas (the max) within the panic window; took {:?}",
        burst_start.elapsed()
    );
    assert!(eventually(Duration::from_secs(20), || function_status(
        &up, "burst"
    )["availableReplicas"]
        == 3));
    let status = function_status(&up, "burst");
    let decisions = status["greyfaas"]["scaling"]["decisions"]
        .as_array()
        .unwrap();
    assert!(
        decisions
            .iter()
            .any(|d| d.as_str().unwrap().contains("panic window")),
        "{decisions:?}"
    );

    // Quiet: back to min after the stable window, not before.
    let quiet_start = Instant::now();
    assert!(eventually(Duration::from_secs(20), || function_status(
        &up, "burst"
    )["greyfaas"]["desiredReplicas"]
        == 1));
    assert!(
        quiet_start.elapsed() >= Duration::from_secs(2),
        "no flapping: scale-down waits for the stable window"
    );

    // Idle for zero-duration: zero replicas; the next request waits for a cold start.
    assert!(
        eventually(
            Duration::from_secs(15),
            || function_status(&up, "sleepy")["replicas"] == 0
        ),
        "scaled to zero"
    );
    let cold = Instant::now();
    let response = client().get(up.url("/function/sleepy/")).send().unwrap();
    assert_eq!(
        response.status(),
        200,
        "the first request after zero is held, not refused"
    );
    eprintln!("cold start through the gateway took {:?}", cold.elapsed());
    assert!(function_status(&up, "sleepy")["replicas"].as_u64().unwrap() >= 1);
}

#[test]
fn async_calls_answer_202_and_call_back() {
    let up = Up::start(STACK, &["--allow-private-networks"]);
    let web = web_server();
    let url = format!(
        "{}/corpus/small-png-alpha_chelsea-gradient_451x300.png",
        web.base
    );
    let response = client()
        .post(up.url("/async-function/fetch-incoming"))
        .header("x-callback-url", format!("{}/callback", web.base))
        .header("x-call-id", "async-call-1")
        .json(&json!({"url": url}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-call-id"], "async-call-1");
    let delivered = eventually(Duration::from_secs(20), || {
        web.callbacks
            .lock()
            .unwrap()
            .iter()
            .any(|(h, _)| h.get("x-call-id").is_some_and(|v| v == "async-call-1"))
    });
    assert!(delivered, "the callback arrives");
    let callbacks = web.callbacks.lock().unwrap();
    let (headers, body) = callbacks
        .iter()
        .find(|(h, _)| h["x-call-id"] == "async-call-1")
        .unwrap();
    assert_eq!(headers["x-function-status"], "201");
    assert_eq!(headers["x-function-name"], "fetch-incoming");
    assert!(headers.get("x-duration-seconds").is_some());
    let json: Value = serde_json::from_slice(body).unwrap();
    assert!(json["path"].as_str().unwrap().starts_with("/incoming/"));

    let bad = client()
        .post(up.url("/async-function/fetch-incoming"))
        .header("x-callback-url", "not a url")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        client()
            .get(up.url("/async-function/fetch-incoming"))
            .send()
            .unwrap()
            .status(),
        405
    );
}

#[test]
fn a_full_async_queue_answers_429() {
    let up = Up::start(
        STACK,
        &[
            "--allow-private-networks",
            "--queue-size",
            "1",
            "--async-workers",
            "1",
        ],
    );
    let slow = json!({"url": format!("{}/slow", web_server().base)}); // each call takes fetch_timeout (2 s)
    let statuses: Vec<u16> = (0..5)
        .map(|_| {
            client()
                .post(up.url("/async-function/fetch-incoming"))
                .json(&slow)
                .send()
                .unwrap()
                .status()
                .as_u16()
        })
        .collect();
    assert_eq!(statuses[0], 202);
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 202 || *s == 429),
        "{statuses:?}"
    );
}

#[test]
fn basic_auth_guards_the_system_api_as_faasd_does() {
    let up = Up::start(STACK, &[]);
    // faasd's files: user admin, a generated password, both under secrets/.
    let secrets = up.data_dir.join("secrets");
    assert_eq!(
        std::fs::read_to_string(secrets.join("basic-auth-user")).unwrap(),
        "admin"
    );
    let password = up.password();
    assert!(password.len() >= 16, "a generated password: {password:?}");
    // The printed login line, exactly.
    assert_eq!(
        up.printed("faas-cli login").trim(),
        format!(
            "cat {} | faas-cli login -g {} -u admin --password-stdin",
            secrets.join("basic-auth-password").display(),
            up.gateway
        )
    );
    // faas-cli not logged in sends an empty bearer token.
    let refused = client()
        .get(up.url("/system/functions"))
        .header("authorization", "Bearer ")
        .send()
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let wrong = client()
        .get(up.url("/system/functions"))
        .basic_auth("admin", Some("nope"))
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // faas-cli login validates with GET /system/functions and Basic auth.
    let allowed = client()
        .get(up.url("/system/functions"))
        .basic_auth("admin", Some(&password))
        .send()
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        client()
            .get(up.url("/function/get-object/"))
            .send()
            .unwrap()
            .status(),
        200,
        "functions stay open"
    );
    // The same password after a restart on the same data.
    let dir = up.dir.clone();
    up.stop();
    let again = Up::start_in(dir, STACK, &[]);
    assert_eq!(again.password(), password);
    drop(again);

    let open = Up::start(STACK, &["--no-basic-auth"]);
    assert_eq!(
        client()
            .get(open.url("/system/functions"))
            .header("authorization", "Bearer ")
            .send()
            .unwrap()
            .status(),
        200,
        "--no-basic-auth turns it off"
    );
    assert!(!open.data_dir.join("secrets/basic-auth-password").exists());
}

#[test]
fn a_restart_keeps_the_data_and_verify_catches_a_bad_object() {
    let up = Up::start(STACK, &["--allow-private-networks"]);
    let url = format!("{}/corpus/gif_coffee_600x400.gif", web_server().base);
    let path: String = client()
        .post(up.url("/function/fetch-incoming"))
        .json(&json!({"url": url}))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .to_string();
    let children = pids(&function_status(&up, "get-object"));
    let dir = up.dir.clone();
    let data_dir = up.data_dir.clone();
    let status = up.stop();
    assert!(status.success(), "SIGTERM: drain and exit 0, got {status}");
    for pid in &children {
        assert!(
            eventually(Duration::from_secs(5), || !process_alive(*pid)),
            "replica {pid} outlived the runtime"
        );
    }

    let again = Up::start_in(dir, STACK, &[]);
    assert_eq!(
        client()
            .get(again.url(&format!("/function/get-object{path}")))
            .send()
            .unwrap()
            .status(),
        200,
        "the data survived"
    );
    drop(again);

    let verify = |data_dir: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_greyfaas"))
            .arg("verify")
            .arg("--data-dir")
            .arg(data_dir)
            .output()
            .unwrap()
    };
    let clean = verify(&data_dir);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
    assert!(String::from_utf8_lossy(&clean.stdout).contains("0 bad"));

    // Plant an object whose name is not the hash of its content.
    let wrong = data_dir.join("objects/incoming").join("0".repeat(64));
    std::fs::write(&wrong, b"GIF89a not really").unwrap();
    let dirty = verify(&data_dir);
    assert_eq!(dirty.status.code(), Some(1));
    let out = String::from_utf8_lossy(&dirty.stdout);
    assert!(
        out.contains(&format!("BAD /incoming/{}", "0".repeat(64))),
        "{out}"
    );
    assert!(out.contains("1 bad"), "{out}");
}

#[test]
fn children_die_with_a_killed_runtime() {
    let up = Up::start(STACK, &[]);
    let mut children = pids(&function_status(&up, "get-object"));
    children.extend(pids(&function_status(&up, "greyscale")));
    assert!(children.len() >= 3);
    sigkill(up.pid());
    for pid in children {
        assert!(
            eventually(Duration::from_secs(5), || !process_alive(pid)),
            "replica {pid} outlived a SIGKILLed runtime"
        );
    }
}

#[test]
fn a_store_that_is_down_gives_503_as_json() {
    let (mut child, base) = start_function("get-object", &[]);
    let response = client()
        .get(format!("{base}/incoming/{}", "c".repeat(64)))
        .send()
        .unwrap();
    assert_eq!(response.status(), 503);
    // Short and fixed: the SDK's report of the failure goes to the log only.
    let body = response.text().unwrap();
    assert_eq!(body, r#"{"error":"object store is unavailable"}"#);
    let _ = child.kill();
}

#[test]
fn a_function_drains_on_sigterm() {
    let (mut child, base) = start_function("greyscale", &[("healthcheck_interval", "1s")]);
    let (_, webp) = corpus()
        .into_iter()
        .find(|(f, _)| f.starts_with("webp"))
        .unwrap();
    let in_flight = {
        let base = base.clone();
        std::thread::spawn(move || {
            client()
                .post(format!("{base}/"))
                .header("content-type", "image/webp")
                .body(webp)
                .send()
                .unwrap()
                .status()
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    sigterm(child.id());
    std::thread::sleep(Duration::from_millis(200));
    let health = client()
        .get(format!("{base}/_/health"))
        .send()
        .unwrap()
        .status();
    assert_eq!(health, 503, "unhealthy while draining");
    assert_eq!(in_flight.join().unwrap(), 200, "in-flight work finishes");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the function must exit within the grace period"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit 0 after draining, got {status}");
}

#[test]
fn a_redirect_to_an_internal_address_is_refused_on_that_hop() {
    // Only the test web server's address is allowed; its redirect goes to 127.0.0.2.
    let (mut child, base) = start_function("fetch-incoming", &[("allow_cidrs", "127.0.0.1/32")]);
    let url = format!("{}/to-internal", web_server().base);
    let response = client()
        .post(format!("{base}/"))
        .json(&json!({"url": url}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 403);
    let json: Value = response.json().unwrap();
    let error = json["error"].as_str().unwrap();
    assert!(
        error.contains("127.0.0.2") && error.contains("loopback"),
        "{error}"
    );
    // Without the allow-list even the first hop is refused.
    let (mut strict, strict_base) = start_function("fetch-incoming", &[]);
    let response = client()
        .post(format!("{strict_base}/"))
        .json(&json!({"url": url}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 403);
    let _ = child.kill();
    let _ = strict.kill();
}

//! Async calls end to end, as the OpenFaaS gateway and queue-worker handle them: the
//! 202, the callback's headers, retries on "try later" statuses, the SSRF guard on
//! callback URLs, the call status (a greyfaas addition), and the queue surviving a
//! SIGKILLed `greyfaas up`. Every callback goes to a receiver on loopback.

use greyfaas_testkit::*;
use serde_json::{Value, json};
use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant, SystemTime};

fn call_status(up: &Up, id: &str) -> (u16, Value) {
    let response = client()
        .get(up.url(&format!("/system/async-call/{id}")))
        .with_admin_auth(up)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// A unique call id for this test run.
fn call_id(name: &str) -> String {
    format!("{name}-{}-{:x}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn enqueue_fetch(up: &Up, id: &str, url: &str, callback: &str) -> reqwest::blocking::Response {
    client()
        .post(up.url("/async-function/fetch-incoming"))
        .header("x-callback-url", callback)
        .header("x-call-id", id)
        .json(&json!({ "url": url }))
        .send()
        .unwrap()
}

#[test]
fn a_call_answers_202_with_its_id_and_start_time_and_calls_back_with_every_header() {
    let up = Up::start(STACK, &["--allow-private-networks"]);
    let web = web_server();
    let file = "small-png-alpha_chelsea-gradient_451x300.png";
    let id = call_id("headers");
    let before = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let response = enqueue_fetch(
        &up,
        &id,
        &format!("{}/corpus/{file}", web.base),
        &format!("{}/callback", web.base),
    );
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-call-id"], id.as_str());
    let start: u64 = response.headers()["x-start-time"]
        .to_str()
        .unwrap()
        .parse()
        .expect("X-Start-Time is nanoseconds since the epoch");
    assert!(
        start >= before && start < before + 10_000_000_000,
        "{start} vs {before}"
    );

    assert!(eventually(Duration::from_secs(20), || !callbacks_for(&id).is_empty()));
    let (headers, body) = callbacks_for(&id).remove(0);
    let sha = sha256_hex(&std::fs::read(corpus_dir().join(file)).unwrap());
    // The function's own headers, copied…
    assert_eq!(
        headers["location"],
        format!("/function/get-object/incoming/{sha}").as_str()
    );
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let duration: f64 = headers["x-duration-seconds"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(duration > 0.0 && duration < 20.0, "{duration}");
    // …and the queue-worker's.
    assert_eq!(headers["x-function-status"], "201");
    assert_eq!(headers["x-function-name"], "fetch-incoming");
    assert_eq!(headers["x-call-id"], id.as_str());
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["path"], format!("/incoming/{sha}"));

    // Its status, behind the /system/* credentials.
    let anonymous = client()
        .get(up.url(&format!("/system/async-call/{id}")))
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let mut status = Value::Null;
    assert!(eventually(Duration::from_secs(5), || {
        status = call_status(&up, &id).1;
        status["status"] == "done"
    }));
    assert_eq!(status["callId"], id.as_str());
    assert_eq!(status["function"], "fetch-incoming");
    assert_eq!(status["attempts"], 1);
    assert_eq!(status["functionStatus"], 201);
    assert_eq!(status["callbackStatus"], 200);
    assert!(status["acceptedAt"].as_str().unwrap().ends_with('Z'));
    let (code, missing) = call_status(&up, "no-such-call");
    assert_eq!(code, 404);
    assert!(missing["error"].as_str().unwrap().contains("no-such-call"));
}

#[test]
fn try_later_statuses_are_retried_with_backoff_up_to_the_limit() {
    let up = Up::start(
        STACK,
        &[
            "--allow-private-networks",
            "--initial-retry-wait",
            "100ms",
            "--max-retry-attempts",
            "4",
        ],
    );
    let web = web_server();
    let callback = format!("{}/callback", web.base);
    // The download answers 503 twice (fetch-incoming says 502), then an image.
    let recovers = call_id("recovers");
    let started = Instant::now();
    let r = enqueue_fetch(
        &up,
        &recovers,
        &format!("{}/flaky/{recovers}/2", web.base),
        &callback,
    );
    assert_eq!(r.status(), 202);
    // Never recovers: 4 attempts in all, then the last answer is called back.
    let gives_up = call_id("gives-up");
    let r = enqueue_fetch(
        &up,
        &gives_up,
        &format!("{}/flaky/{gives_up}/1000", web.base),
        &callback,
    );
    assert_eq!(r.status(), 202);

    assert!(eventually(Duration::from_secs(30), || {
        !callbacks_for(&recovers).is_empty() && !callbacks_for(&gives_up).is_empty()
    }));
    // Waits of 100 ms then 200 ms before the third attempt.
    assert!(started.elapsed() >= Duration::from_millis(300));
    let (headers, _) = callbacks_for(&recovers).remove(0);
    assert_eq!(headers["x-function-status"], "201");
    assert_eq!(call_status(&up, &recovers).1["attempts"], 3);
    assert_eq!(callbacks_for(&recovers).len(), 1, "called back once");

    let (headers, _) = callbacks_for(&gives_up).remove(0);
    assert_eq!(headers["x-function-status"], "502");
    let status = call_status(&up, &gives_up).1;
    assert_eq!(status["attempts"], 4);
    assert_eq!(status["status"], "done");
}

/// A loopback listener that records the first bytes of every connection it gets.
fn listener() -> (u16, std::sync::mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(10) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut first = [0u8; 8];
            let n = stream.read(&mut first).unwrap_or(0);
            if tx.send(first[..n].to_vec()).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

#[test]
fn https_callbacks_are_accepted() {
    let up = Up::start(STACK, &["--allow-private-networks"]);
    let (port, connections) = listener();
    let id = call_id("https");
    let response = client()
        .post(up.url("/async-function/fetch-incoming"))
        .header("x-callback-url", format!("https://127.0.0.1:{port}/hook"))
        .header("x-call-id", &id)
        .header("content-type", "image/png")
        .body(std::fs::read(corpus_dir().join("small-png_astronaut_512x512.png")).unwrap())
        .send()
        .unwrap();
    assert_eq!(response.status(), 202);
    let hello = connections
        .recv_timeout(Duration::from_secs(20))
        .expect("the callback connects");
    assert_eq!(hello.first(), Some(&0x16), "a TLS handshake: {hello:?}");
}

#[test]
fn callback_urls_pass_the_fetch_incoming_ssrf_guard() {
    // Without --allow-private-networks: loopback is refused, as fetch-incoming refuses it.
    let up = Up::start(STACK, &[]);
    let (port, connections) = listener();
    let image = std::fs::read(corpus_dir().join("small-png_astronaut_512x512.png")).unwrap();
    let post = |callback: &str, id: &str| {
        client()
            .post(up.url("/async-function/fetch-incoming"))
            .header("x-callback-url", callback)
            .header("x-call-id", id)
            .header("content-type", "image/png")
            .body(image.clone())
            .send()
            .unwrap()
    };
    // An IP literal is refused at once.
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("https://[::1]:{port}/hook"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let refused = post(&url, &call_id("literal"));
        assert_eq!(refused.status(), 400, "{url}");
        let error: Value = refused.json().unwrap();
        assert!(
            error["error"].as_str().unwrap().contains("refus"),
            "{url}: {error}"
        );
    }
    for url in ["ftp://example.com/hook", "not a url", "/relative"] {
        assert_eq!(post(url, &call_id("invalid")).status(), 400, "{url}");
    }
    // A host name is checked where it resolves: accepted, then refused before connecting.
    let id = call_id("named");
    assert_eq!(
        post(&format!("https://localhost:{port}/hook"), &id).status(),
        202
    );
    let mut status = Value::Null;
    assert!(eventually(Duration::from_secs(20), || {
        status = call_status(&up, &id).1;
        status["status"] == "done"
    }));
    assert_eq!(status["functionStatus"], 201, "the call itself ran");
    assert!(status["callbackStatus"].is_null());
    assert!(
        status["callbackError"]
            .as_str()
            .unwrap()
            .contains("loopback"),
        "{status}"
    );
    assert!(
        connections
            .recv_timeout(Duration::from_millis(500))
            .is_err(),
        "nothing connected to the refused address"
    );
}

#[test]
fn a_sigkilled_gateway_runs_every_accepted_call_once_it_is_back() {
    let args = ["--allow-private-networks", "--async-workers", "1"];
    let up = Up::start(STACK, &args);
    let web = web_server();
    let callback = format!("{}/callback", web.base);
    let files: Vec<String> = corpus()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| !n.starts_with("large") && !n.starts_with("webp"))
        .take(5)
        .collect();
    assert_eq!(files.len(), 5);
    // Each call takes ~0.8 s (a slow download), one at a time.
    let ids: Vec<String> = files.iter().map(|_| call_id("durable")).collect();
    for (id, file) in ids.iter().zip(&files) {
        let r = enqueue_fetch(
            &up,
            id,
            &format!("{}/delay/800/{file}", web.base),
            &callback,
        );
        assert_eq!(r.status(), 202);
    }
    // Kill it once the first call is finished (on disk) and the second runs.
    assert!(eventually(Duration::from_secs(20), || call_status(
        &up, &ids[0]
    )
    .1["status"]
        == "done"));
    assert!(eventually(Duration::from_secs(5), || call_status(
        &up, &ids[1]
    )
    .1["status"]
        == "running"));
    assert_eq!(call_status(&up, &ids[4]).1["status"], "queued");
    sigkill(up.pid());
    let dir = up.dir.clone();
    drop(up); // waits for the killed process
    let before_restart: Vec<usize> = ids.iter().map(|id| callbacks_for(id).len()).collect();
    assert_eq!(before_restart[0], 1);
    assert!(
        before_restart[2..].iter().all(|n| *n == 0),
        "{before_restart:?}"
    );

    let up = Up::start_in(dir, STACK, &args);
    assert!(
        eventually(Duration::from_secs(30), || ids
            .iter()
            .all(|id| !callbacks_for(id).is_empty())),
        "every accepted call is called back after the restart"
    );
    for (id, file) in ids.iter().zip(&files) {
        let sha = sha256_hex(&std::fs::read(corpus_dir().join(file)).unwrap());
        for (headers, body) in callbacks_for(id) {
            assert_eq!(headers["x-function-status"], "201", "{id}");
            let json: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["path"], format!("/incoming/{sha}"), "{id}");
        }
        let status = call_status(&up, id).1;
        assert_eq!(status["status"], "done", "{id}: {status}");
        assert_eq!(status["callbackStatus"], 200, "{id}: {status}");
    }
    // At least once, and no more than that: the finished call is not run again, and
    // only the one in flight at the kill may have been.
    std::thread::sleep(Duration::from_secs(1));
    let counts: Vec<usize> = ids.iter().map(|id| callbacks_for(id).len()).collect();
    assert_eq!(counts[0], 1, "{counts:?}");
    assert!(counts[1] <= 2, "{counts:?}");
    assert!(counts[2..].iter().all(|n| *n == 1), "{counts:?}");
}

#[test]
fn a_stopped_gateway_leaves_queued_calls_for_its_next_start() {
    let args = ["--allow-private-networks", "--async-workers", "1"];
    let up = Up::start(STACK, &args);
    let web = web_server();
    let callback = format!("{}/callback", web.base);
    let file = "gif_coffee_600x400.gif";
    let ids: Vec<String> = (0..4).map(|_| call_id("stopped")).collect();
    for id in &ids {
        let url = format!("{}/delay/600/{file}", web.base);
        assert_eq!(enqueue_fetch(&up, id, &url, &callback).status(), 202);
    }
    assert!(eventually(Duration::from_secs(5), || call_status(
        &up, &ids[0]
    )
    .1["status"]
        == "running"));
    let dir = up.dir.clone();
    assert!(up.stop().success(), "SIGTERM: a clean exit");
    let delivered_before = ids
        .iter()
        .filter(|id| !callbacks_for(id).is_empty())
        .count();
    assert!(
        delivered_before < ids.len(),
        "some were still queued at the stop"
    );

    let up = Up::start_in(dir, STACK, &args);
    assert!(eventually(Duration::from_secs(30), || ids
        .iter()
        .all(|id| !callbacks_for(id).is_empty())));
    for id in &ids {
        assert_eq!(callbacks_for(id).len(), 1, "{id}: once");
        assert_eq!(call_status(&up, id).1["status"], "done", "{id}");
    }
}

/// A loopback receiver that accepts callbacks and never answers (each waits for the
/// callback client's 30 s timeout).
fn silent_receiver() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

#[test]
fn a_slow_callback_receiver_delays_no_other_call() {
    // One worker: before callbacks had their own pool, it sat on the silent receiver
    // for up to 3 × 30 s while the second call waited.
    let up = Up::start(STACK, &["--allow-private-networks", "--async-workers", "1"]);
    let web = web_server();
    let file = "small-png_astronaut_512x512.png";
    let slow = call_id("slow-receiver");
    let silent = silent_receiver();
    let r = enqueue_fetch(
        &up,
        &slow,
        &format!("{}/corpus/{file}", web.base),
        &format!("http://127.0.0.1:{silent}/hook"),
    );
    assert_eq!(r.status(), 202);
    assert!(eventually(Duration::from_secs(20), || {
        call_status(&up, &slow).1["functionStatus"] == 201
    }));
    let other = call_id("other");
    let started = Instant::now();
    let r = enqueue_fetch(
        &up,
        &other,
        &format!("{}/corpus/{file}", web.base),
        &format!("{}/callback", web.base),
    );
    assert_eq!(r.status(), 202);
    assert!(
        eventually(Duration::from_secs(15), || !callbacks_for(&other)
            .is_empty()),
        "the other call ran and was called back while the slow receiver held its callback"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(call_status(&up, &other).1["status"], "done");
    // The slow one is still being delivered: not done, so a restart would run it again.
    assert_ne!(call_status(&up, &slow).1["status"], "done");
}

#[test]
fn the_queue_is_bounded_by_bytes_with_a_json_429() {
    let up = Up::start(
        STACK,
        &[
            "--allow-private-networks",
            "--async-workers",
            "1",
            "--queue-bytes",
            "1KiB",
        ],
    );
    let web = web_server();
    let callback = format!("{}/callback", web.base);
    let post = |id: &str, body: Vec<u8>| {
        client()
            .post(up.url("/async-function/fetch-incoming"))
            .header("x-callback-url", &callback)
            .header("x-call-id", id)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap()
    };
    // 700 bytes of JSON (padded with spaces) each: the first fits, the second would
    // pass 1 KiB while the first is still held (its download takes 1 s).
    let padded = |url: String| {
        let mut body = json!({ "url": url }).to_string().into_bytes();
        body.resize(700, b' ');
        body
    };
    let first = call_id("bytes-first");
    let url = format!("{}/delay/1000/gif_coffee_600x400.gif", web.base);
    assert_eq!(post(&first, padded(url.clone())).status(), 202);
    let refused = post(&call_id("bytes-second"), padded(url));
    assert_eq!(refused.status(), 429);
    let error: Value = refused.json().unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("--queue-bytes"),
        "{error}"
    );
    // A body larger than the whole bound can never fit: 413, not "later".
    let too_large = post(&call_id("bytes-huge"), vec![b' '; 2048]);
    assert_eq!(too_large.status(), 413);
    assert!(eventually(Duration::from_secs(20), || !callbacks_for(
        &first
    )
    .is_empty()));
}

//! Where the single-machine gateway must answer as the OpenFaaS gateway and faas-netes
//! CE do: `replicas` is the desired count, scaling to 0 through the API is refused,
//! `gateway_function_invocation_started` is exported, a function's X-Duration-Seconds
//! is passed on; and the gateway's own duties: safe calls held while the only replica
//! restarts (on the shipped stack.yml) and across a store restart (503 retried for up
//! to 2 s), in-flight counts that survive dropped clients.

use greyfaas_testkit::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[test]
fn scaling_to_zero_through_the_api_is_refused_as_in_ce() {
    let up = Up::start(STACK, &[]);
    let response = client()
        .post(up.url("/system/scale-function/get-object"))
        .with_admin_auth(&up)
        .json(&json!({"serviceName": "get-object", "replicas": 0}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().unwrap();
    assert_eq!(error["error"], "replicas cannot be set to 0 in OpenFaaS CE");
    assert_eq!(
        function_status(&up, "get-object")["replicas"],
        2,
        "unchanged"
    );
}

#[test]
fn replicas_is_the_desired_count_even_while_a_deploy_rolls() {
    let up = Up::start(STACK, &[]);
    let deployment = json!({
        "service": "get-object",
        "image": "greyfaas/get-object:test",
        "envVars": {},
        "labels": {"com.openfaas.scale.min": "2", "com.openfaas.scale.max": "3"},
        "secrets": ["s3-access-key", "s3-secret-key"],
        "namespace": "openfaas-fn",
    });
    // While the deploy starts two new processes beside the two old ones, faas-netes
    // would still say replicas: 2 (the Deployment's spec), not 4.
    let samples: Vec<(u64, u64)> = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut samples = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                let status = function_status(&up, "get-object");
                let pair = (
                    status["replicas"].as_u64().unwrap(),
                    status["greyfaas"]["processes"].as_u64().unwrap(),
                );
                samples.push(pair);
                if samples.len() > 20 && pair.1 == 2 && samples.iter().any(|p| p.1 > 2) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            samples
        });
        let status = client()
            .put(up.url("/system/functions"))
            .with_admin_auth(&up)
            .json(&deployment)
            .send()
            .unwrap()
            .status();
        assert_eq!(status, 200);
        sampler.join().unwrap()
    });
    assert!(
        samples.iter().any(|(_, processes)| *processes == 4),
        "the roll was seen: {samples:?}"
    );
    assert!(
        samples.iter().all(|(replicas, _)| *replicas == 2),
        "{samples:?}"
    );
    let status = function_status(&up, "get-object");
    assert_eq!(status["availableReplicas"], 2);
}

#[test]
fn invocations_started_are_exported_under_the_upstream_name() {
    let up = Up::start(STACK, &[]);
    for _ in 0..3 {
        let _ = client()
            .get(up.url("/function/get-object/incoming/nothing"))
            .send()
            .unwrap();
    }
    let metrics = client()
        .get(up.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(
            r#"gateway_function_invocation_started{function_name="get-object.openfaas-fn"} 3"#
        ),
        "{metrics}"
    );
    assert!(
        !metrics.contains("gateway_function_invocation_started_total"),
        "no _total suffix, as upstream"
    );
    assert!(
        metrics.contains(
            r#"gateway_function_invocation_total{function_name="get-object.openfaas-fn",code="400"} 3"#
        ),
        "{metrics}"
    );
}

#[test]
fn on_the_shipped_stack_safe_calls_wait_for_a_killed_replica() {
    let up = Up::start_file(&repo().join("stack.yml"), &["--allow-private-networks"]);
    let image = std::fs::read(corpus_dir().join("small-png_astronaut_512x512.png")).unwrap();
    for round in 0..3 {
        // get-object: GET, safe anyway.
        let [pid] = pids(&function_status(&up, "get-object"))[..] else {
            panic!("stack.yml runs one get-object replica")
        };
        sigkill(pid);
        let started = Instant::now();
        let response = client()
            .get(up.url("/function/get-object/incoming/nothing-here"))
            .send()
            .unwrap();
        let waited = started.elapsed();
        assert_eq!(
            response.status(),
            400,
            "round {round}: answered, not 502/503"
        );
        // The function's own timing, not the gateway's (which includes the restart).
        let own: f64 = response.headers()["x-duration-seconds"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            own < waited.as_secs_f64() - 0.1,
            "round {round}: X-Duration-Seconds {own} is the function's, the call took {waited:?}"
        );
        assert_ne!(
            pids(&function_status(&up, "get-object")),
            [pid],
            "restarted"
        );

        // greyscale: a POST, marked greyfaas.idempotent in stack.yml.
        let [pid] = pids(&function_status(&up, "greyscale"))[..] else {
            panic!("stack.yml runs one greyscale replica")
        };
        sigkill(pid);
        let response = client()
            .post(up.url("/function/greyscale"))
            .header("content-type", "image/png")
            .body(image.clone())
            .send()
            .unwrap();
        assert!(
            response.status().is_success(),
            "round {round}: {}",
            response.status()
        );
        assert!(!response.bytes().unwrap().is_empty());
    }
}

#[test]
fn clients_that_go_away_mid_call_are_not_counted_in_flight_and_idle_scales_to_zero() {
    let up = Up::start(ZERO_STACK, &["--allow-private-networks"]);
    let in_flight = || function_status(&up, "slow-fetch")["greyfaas"]["inFlight"].clone();
    assert_eq!(in_flight(), 0);
    // Three clients ask for a download that takes 5 s, and give up after 1 s.
    std::thread::scope(|s| {
        let callers: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(1))
                        .build()
                        .unwrap()
                        .post(up.url("/function/slow-fetch"))
                        .json(&json!({"url": format!("{}/slow", web_server().base)}))
                        .send()
                })
            })
            .collect();
        assert!(
            eventually(Duration::from_millis(900), || in_flight() == 3),
            "counted while they wait: {}",
            in_flight()
        );
        for caller in callers {
            assert!(caller.join().unwrap().is_err(), "the client timed out");
        }
    });
    let gone = Instant::now();
    assert!(
        eventually(Duration::from_secs(2), || in_flight() == 0),
        "back to 0 once the clients are gone (the download itself runs 5 s): {}",
        in_flight()
    );
    assert!(gone.elapsed() < Duration::from_secs(3));
    assert!(
        eventually(Duration::from_secs(15), || function_status(
            &up,
            "slow-fetch"
        )["replicas"]
            == 0),
        "idle with nothing in flight: scaled to zero"
    );
}

#[test]
fn a_safe_call_rides_out_a_store_restart_but_an_outage_is_503_at_once() {
    let missing = format!("/function/get-object/incoming/{}", "0".repeat(64));
    let up = Up::start(STACK, &[]);
    for round in 0..3 {
        let pid = store_pid(up.pid()).expect("the embedded store runs");
        sigkill(pid);
        let response = client().get(up.url(&missing)).send().unwrap();
        assert_eq!(
            response.status(),
            404,
            "round {round}: held while the store restarts, then its answer"
        );
        assert!(eventually(Duration::from_secs(5), || store_pid(up.pid())
            .is_some_and(|p| p != pid)));
    }
    drop(up);

    // A store that stays away: 503 once the 2 s budget is spent (each try costs
    // get-object its own store retries), not held to the 60 s timeout.
    let closed = free_port();
    let dir = std::env::temp_dir().join(format!("greyfaas-outage-{}", std::process::id()));
    let secrets = dir.join("data/secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    for key in ["s3-access-key", "s3-secret-key"] {
        std::fs::write(secrets.join(key), "test").unwrap();
    }
    let up = Up::start_in(
        dir,
        STACK,
        &["--s3-endpoint", &format!("http://127.0.0.1:{closed}")],
    );
    let started = Instant::now();
    let response = client().get(up.url(&missing)).send().unwrap();
    assert_eq!(response.status(), 503);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(10),
        "tried again for a while, then answered: {took:?}"
    );
}

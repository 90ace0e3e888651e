//! The OpenFaaS function contract, checked over real HTTP against a running server.

use openfaas_runtime::{Config, HttpError, Request, Response, RunningServer, Server, body};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Echoes the body; `/sleep/<ms>` sleeps first; `/panic` panics; `/refuse` answers 415
/// without reading the body.
async fn test_handler(req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path == "/refuse" {
        return body::error(http::StatusCode::UNSUPPORTED_MEDIA_TYPE, "not this type");
    }
    if let Some(ms) = path.strip_prefix("/sleep/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
    }
    if path == "/panic" {
        panic!("handler bug");
    }
    match body::read(req.into_body(), 1 << 20).await {
        Ok(bytes) => body::with_type(http::StatusCode::OK, "application/octet-stream", bytes),
        Err(err) => body::error(err.status(), err),
    }
}

/// `test_handler` on a loopback port, without metrics.
async fn start(config: Config) -> RunningServer {
    serve(Config {
        metrics_port: 0,
        ..config
    })
    .await
}

/// `test_handler` on a loopback port, with metrics on another.
async fn start_with_metrics() -> RunningServer {
    serve(Config {
        metrics_port: free_port(),
        ..Config::default()
    })
    .await
}

async fn serve(config: Config) -> RunningServer {
    let config = Config {
        port: 0,
        bind_address: [127, 0, 0, 1].into(),
        ..config
    };
    Server::new(config, test_handler).start().await.unwrap()
}

/// A parsed HTTP/1.1 response.
struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Sends raw request bytes and reads the response until the server closes.
async fn raw(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let head = String::from_utf8_lossy(&bytes[..split]).to_string();
    let status = head[9..12].parse().unwrap();
    let mut body = bytes[split..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Reply { status, head, body }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: fn\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
}

#[tokio::test]
async fn health_and_ready_are_answered_by_the_runtime() {
    let server = start(Config::default()).await;
    let health = get(server.addr, "/_/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(get(server.addr, "/_/ready").await.status, 200);
    let post = raw(
        server.addr,
        b"POST /_/health HTTP/1.1\r\nHost: fn\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(post.status, 405);
}

#[tokio::test]
async fn chunked_request_bodies_reach_the_handler() {
    let server = start(Config::default()).await;
    let request = b"POST /echo HTTP/1.1\r\nHost: fn\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let reply = raw(server.addr, request).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"hello world");
}

#[tokio::test]
async fn the_call_id_is_kept_or_made() {
    let server = start(Config::default()).await;
    let given = raw(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: fn\r\nX-Call-Id: abc-123\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(given.header("x-call-id").as_deref(), Some("abc-123"));
    let made = get(server.addr, "/")
        .await
        .header("x-call-id")
        .expect("a generated call id");
    assert_eq!(made.len(), 36, "a UUID: {made}");
    assert!(given.header("x-duration-seconds").is_some());
}

#[tokio::test]
async fn a_slow_handler_gets_504() {
    let server = start(Config {
        exec_timeout: Some(Duration::from_millis(200)),
        ..Config::default()
    })
    .await;
    let started = Instant::now();
    let reply = get(server.addr, "/sleep/5000").await;
    assert_eq!(reply.status, 504);
    assert!(started.elapsed() < Duration::from_secs(3));
    let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert!(json["error"].as_str().unwrap().contains("timed out"));
}

#[tokio::test]
async fn x_timeout_shortens_exec_timeout() {
    let server = start(Config::default()).await;
    let reply = raw(
        server.addr,
        b"GET /sleep/5000 HTTP/1.1\r\nHost: fn\r\nX-Timeout: 100ms\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(reply.status, 504);
}

#[tokio::test]
async fn over_max_inflight_gets_429_and_ready_says_busy() {
    let server = start(Config {
        max_inflight: 1,
        ..Config::default()
    })
    .await;
    let addr = server.addr;
    let slow = tokio::spawn(async move { get(addr, "/sleep/800").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = get(addr, "/").await;
    assert_eq!(refused.status, 429);
    assert!(String::from_utf8_lossy(&refused.body).contains("Max concurrent requests: 1"));
    assert_eq!(get(addr, "/_/ready").await.status, 429);
    assert_eq!(
        get(addr, "/_/health").await.status,
        200,
        "busy is not unhealthy"
    );
    assert_eq!(slow.await.unwrap().status, 200);
    assert_eq!(get(addr, "/").await.status, 200, "the slot is free again");
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let server = start(Config {
        max_request_bytes: 10,
        ..Config::default()
    })
    .await;
    let declared = raw(server.addr, b"POST / HTTP/1.1\r\nHost: fn\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world").await;
    assert_eq!(declared.status, 413);
    let chunked = raw(
        server.addr,
        b"POST / HTTP/1.1\r\nHost: fn\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nb\r\nhello world\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(chunked.status, 413);
}

#[tokio::test]
async fn an_oversized_request_head_is_refused() {
    let server = start(Config {
        max_header_bytes: 8192,
        ..Config::default()
    })
    .await;
    let big = "a".repeat(20_000);
    let reply = raw(
        server.addr,
        format!("GET / HTTP/1.1\r\nHost: fn\r\nX-Big: {big}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 431);
}

#[tokio::test]
async fn a_stalled_upload_times_out() {
    let server = start(Config {
        read_timeout: Duration::from_millis(300),
        ..Config::default()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: fn\r\nContent-Length: 100\r\nConnection: close\r\n\r\nonly part")
        .await
        .unwrap();
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut bytes)).await;
    assert!(read.is_ok(), "the server must give up on a stalled body");
    assert!(
        String::from_utf8_lossy(&bytes).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
}

#[tokio::test]
async fn a_refusal_sent_before_the_body_is_read_reaches_the_client() {
    // 8 MiB: far more than the socket buffers hold, so the client is still sending when
    // the refusal goes out. Were the body not read, the close would reset the connection
    // and the client would see a broken pipe or a reset instead of the 415.
    let server = start(Config::default()).await;
    let upload = vec![b'x'; 8 << 20];
    let mut request = format!(
        "POST /refuse HTTP/1.1\r\nHost: fn\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        upload.len()
    )
    .into_bytes();
    request.extend_from_slice(&upload);
    let reply = raw(server.addr, &request).await;
    assert_eq!(reply.status, 415);
    assert!(String::from_utf8_lossy(&reply.body).contains("not this type"));
}

#[tokio::test]
async fn a_panicking_handler_gets_a_json_500() {
    let server = start(Config::default()).await;
    let reply = get(server.addr, "/panic").await;
    assert_eq!(reply.status, 500);
    let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(json["error"], "internal error");
    assert_eq!(
        get(server.addr, "/").await.status,
        200,
        "the server survives"
    );
}

#[tokio::test]
async fn metrics_count_requests_by_code() {
    let server = start_with_metrics().await;
    get(server.addr, "/").await;
    get(server.addr, "/panic").await;
    let metrics =
        String::from_utf8(get(server.metrics_addr.unwrap(), "/metrics").await.body).unwrap();
    assert!(
        metrics.contains(r#"http_requests_total{code="200",method="GET"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"http_requests_total{code="500",method="GET"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("http_requests_in_flight 0"), "{metrics}");
}

#[tokio::test]
async fn shutdown_reports_unhealthy_finishes_in_flight_work_then_stops() {
    let server = start(Config {
        healthcheck_interval: Duration::from_millis(500),
        ..Config::default()
    })
    .await;
    let addr = server.addr;
    let in_flight = tokio::spawn(async move { get(addr, "/sleep/1200").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let draining = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        get(addr, "/_/health").await.status,
        503,
        "unhealthy while draining"
    );
    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, 200, "in-flight work finishes");
    tokio::time::timeout(Duration::from_secs(5), draining)
        .await
        .expect("shutdown completes")
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A client that goes away mid-call leaves `http_requests_in_flight` as it found it.
#[tokio::test]
async fn a_client_dropped_mid_call_is_not_left_in_flight() {
    let server = start_with_metrics().await;
    let in_flight = || async {
        let metrics =
            String::from_utf8(get(server.metrics_addr.unwrap(), "/metrics").await.body).unwrap();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("http_requests_in_flight "))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"GET /sleep/30000 HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        clients.push(stream);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while in_flight().await != "3" {
        assert!(
            Instant::now() < deadline,
            "3 calls never showed as in flight"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(clients); // the clients give up long before the handler would finish
    let deadline = Instant::now() + Duration::from_secs(5);
    while in_flight().await != "0" {
        assert!(
            Instant::now() < deadline,
            "in flight stuck at {}",
            in_flight().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_metrics_client_that_never_finishes_its_head_is_cut_off() {
    let server = serve(Config {
        metrics_port: free_port(),
        read_timeout: Duration::from_millis(300),
        ..Config::default()
    })
    .await;
    let mut stream = TcpStream::connect(server.metrics_addr.unwrap())
        .await
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: fn\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut bytes)).await;
    assert!(
        read.is_ok(),
        "the metrics listener must close a connection whose head never ends"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // A complete request is still answered.
    let metrics = get(server.metrics_addr.unwrap(), "/metrics").await;
    assert_eq!(metrics.status, 200);
}

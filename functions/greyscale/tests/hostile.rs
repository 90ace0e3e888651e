//! Hostile images through greyscale's handler (issue 18): files made here to crash the
//! decoders or to cost far more CPU than their size. Each must be refused fast, with a
//! 4xx and a JSON error body — never a panic, a 500, or seconds of work.

use bytes::Bytes;
use greyfaas_store::StoreSource;
use handler::Greyscale;
use handler::settings::Settings;
use http::{Method, StatusCode, header};
use openfaas_runtime::{Function, FunctionSettings, body};
use std::time::{Duration, Instant};

/// greyscale with the defaults, but for `extra`. Raw posts never reach a store.
fn function(extra: &[(&str, &str)]) -> Greyscale<'static> {
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let settings = Settings::from_lookup(move |name| {
        extra
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    });
    Greyscale::new(settings, StoreSource::FromEnv)
}

/// `image` posted raw, as `faas-cli invoke greyscale < file` does.
fn raw_post(image: Vec<u8>) -> openfaas_runtime::Request {
    http::Request::builder()
        .method(Method::POST)
        .uri("/")
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(body::full(Bytes::from(image)))
        .unwrap()
}

/// What a refusal looked like, and how long it took.
struct Refusal {
    status: StatusCode,
    error: String,
    took: Duration,
}

/// Posts `image` raw and expects a 4xx with a JSON `{"error": …}` body.
async fn refused(function: &Greyscale<'_>, image: Vec<u8>) -> Refusal {
    let started = Instant::now();
    let response = function.respond(raw_post(image)).await;
    let took = started.elapsed();
    let status = response.status();
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/json",
        "{status}"
    );
    let bytes = body::read(response.into_body(), u64::MAX).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON body");
    let error = json["error"]
        .as_str()
        .expect("an error message")
        .to_string();
    assert!(status.is_client_error(), "{status}: {error}");
    Refusal {
        status,
        error,
        took,
    }
}

/// The 28-byte file of issue 18: SOI, a DHT whose count of 1-bit codes is 3 (only two
/// fit, and one of them would be all ones), EOI. Its table used to be filled before its
/// counts were checked, indexing past the lookup table: a panic, a 500 with its text.
fn bad_dht_jpeg() -> Vec<u8> {
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x16, 0x00, 3];
    jpeg.extend_from_slice(&[0; 15]);
    jpeg.extend_from_slice(&[0, 1, 2]);
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

#[tokio::test]
async fn a_jpeg_with_a_bogus_huffman_table_is_422_not_a_panic() {
    let jpeg = bad_dht_jpeg();
    assert_eq!(jpeg.len(), 28);
    let got = refused(&function(&[]), jpeg).await;
    assert_eq!(
        got.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        got.error
    );
    assert!(got.error.contains("bad Huffman table"), "{}", got.error);
    assert!(got.took < Duration::from_secs(1), "{:?}", got.took);
}

/// Appends `bits` (MSB first) to entropy-coded data, stuffing a zero after each 0xFF.
struct EntropyBits {
    bytes: Vec<u8>,
    acc: u32,
    count: u32,
}

impl EntropyBits {
    fn new() -> Self {
        EntropyBits {
            bytes: Vec::new(),
            acc: 0,
            count: 0,
        }
    }

    fn put(&mut self, value: u32, length: u32) {
        for i in (0..length).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1);
            self.count += 1;
            if self.count == 8 {
                self.bytes.push(self.acc as u8);
                if self.acc == 0xFF {
                    self.bytes.push(0);
                }
                (self.acc, self.count) = (0, 0);
            }
        }
    }

    /// Pads the last byte with ones, as encoders do.
    fn finish(mut self) -> Vec<u8> {
        while self.count != 0 {
            self.put(1, 1);
        }
        self.bytes
    }
}

/// A grey progressive `size`×`size` JPEG of `scans` AC scans, each nothing but
/// end-of-band runs over every block (issue 18's many-scan file: ~25 bytes a scan).
fn many_scan_jpeg(size: u16, scans: usize) -> Vec<u8> {
    let [hi, lo] = size.to_be_bytes();
    let mut jpeg = vec![0xFF, 0xD8];
    jpeg.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
    jpeg.extend_from_slice(&[1; 64]);
    jpeg.extend_from_slice(&[0xFF, 0xC2, 0x00, 0x0B, 8, hi, lo, hi, lo, 1, 1, 0x11, 0]);
    // One AC symbol, EOBRUN 14 (runs of 16,384 to 32,767 blocks), coded as the bit 0.
    jpeg.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x14, 0x10, 1]);
    jpeg.extend_from_slice(&[0; 15]);
    jpeg.push(0xE0);
    let blocks = usize::from(size).div_ceil(8).pow(2);
    let mut data = EntropyBits::new();
    let mut left = blocks;
    while left > 0 {
        let run = left.clamp(16_384, 32_767);
        data.put(0, 1);
        data.put((run - 16_384) as u32, 14);
        left = left.saturating_sub(run);
    }
    let data = data.finish();
    for _ in 0..scans {
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 1, 63, 0x00]);
        jpeg.extend_from_slice(&data);
    }
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

/// Posts `image` raw and returns the status alone (for images that may be accepted).
async fn status_of(function: &Greyscale<'_>, image: Vec<u8>) -> StatusCode {
    function.respond(raw_post(image)).await.status()
}

/// Issue 18's file: 4000×4000, 10,000 scans of end-of-band runs (about 300 KB). It
/// took seconds of CPU (10 ms a scan in this debug build: 100 s); now its scans are
/// counted before any is decoded, on either JPEG path.
#[tokio::test]
async fn a_jpeg_of_ten_thousand_scans_is_413_before_any_is_decoded() {
    let jpeg = many_scan_jpeg(4000, 10_000);
    assert!(jpeg.len() < 400_000, "{}", jpeg.len());
    for mode in ["lossless", "reencode"] {
        let got = refused(&function(&[("jpeg_mode", mode)]), jpeg.clone()).await;
        assert_eq!(
            got.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{mode}: {}",
            got.error
        );
        assert!(got.error.contains("more than 1000 scans"), "{}", got.error);
        assert!(
            got.took < Duration::from_millis(500),
            "{mode}: {:?}",
            got.took
        );
    }
}

#[tokio::test]
async fn max_scans_is_the_number_of_scans_allowed() {
    let at_most_4 = function(&[("max_scans", "4")]);
    assert_eq!(
        status_of(&at_most_4, many_scan_jpeg(64, 4)).await,
        StatusCode::OK
    );
    let got = refused(&at_most_4, many_scan_jpeg(64, 5)).await;
    assert_eq!(got.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", got.error);
}

/// Under `max_scans`, but more walks over the image than any encoder makes: refused
/// before the scan that takes it over (101 walks of a grey image here).
#[tokio::test]
async fn scans_that_walk_the_image_more_than_100_times_are_413() {
    let function = function(&[]);
    assert_eq!(
        status_of(&function, many_scan_jpeg(256, 100)).await,
        StatusCode::OK
    );
    let got = refused(&function, many_scan_jpeg(256, 101)).await;
    assert_eq!(got.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", got.error);
    assert!(got.error.contains("more than 100 times"), "{}", got.error);
}

/// An animation of `frames` frames of `side`×`side` palette indices, all zero: each
/// frame's LZW data is encoded once and written `frames` times, so a GIF of hundreds
/// of megapixels is a few hundred KB and quick to make.
fn many_frame_gif(side: u16, frames: usize) -> Vec<u8> {
    let palette = [255, 0, 0, 0, 0, 255];
    let mut frame = gif::Frame {
        width: side,
        height: side,
        buffer: vec![0u8; usize::from(side) * usize::from(side)].into(),
        ..gif::Frame::default()
    };
    frame.make_lzw_pre_encoded();
    let mut out = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut out, side, side, &palette).unwrap();
        for _ in 0..frames {
            encoder.write_lzw_pre_encoded_frame(&frame).unwrap();
        }
    }
    out
}

/// Issue 18: `max_pixels` is per frame, so 1,000 frames could hold 50 Gpx of LZW
/// decode and encode. 300 frames of 1000×1000 (300 Mpx, over the 250 Mpx default) are
/// refused from their headers, before the first frame is decoded.
#[tokio::test]
async fn an_animation_over_max_animation_pixels_is_413_before_a_frame_is_decoded() {
    let gif = many_frame_gif(1000, 300);
    assert!(gif.len() < 1 << 20, "{}", gif.len());
    let got = refused(&function(&[]), gif).await;
    assert_eq!(got.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", got.error);
    assert!(
        got.error.contains("more than 250000000 pixels"),
        "{}",
        got.error
    );
    // Decoding the 250 frames under the limit would take seconds; the header walk
    // copies the file once.
    assert!(got.took < Duration::from_millis(500), "{:?}", got.took);
}

#[tokio::test]
async fn max_animation_pixels_is_the_sum_of_the_frames_allowed() {
    let at_most = function(&[("max_animation_pixels", "40000")]);
    assert_eq!(
        status_of(&at_most, many_frame_gif(100, 4)).await,
        StatusCode::OK
    );
    let got = refused(&at_most, many_frame_gif(100, 5)).await;
    assert_eq!(got.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", got.error);
    assert!(got.error.contains("first 5 frames"), "{}", got.error);
    let few_frames = function(&[("max_frames", "3")]);
    let got = refused(&few_frames, many_frame_gif(100, 4)).await;
    assert!(got.error.contains("more than 3 frames"), "{}", got.error);
}

/// Issue 18: a conversion checks its `Cancel` as it goes (here, before each frame), so
/// one cancelled a tenth of the way through stops long before it would have ended.
#[test]
fn a_cancelled_conversion_stops_at_its_next_check() {
    use greyfaas_image_kernel::{Cancel, ConvertError, Options, greyscale, greyscale_cancellable};
    let gif = many_frame_gif(1000, 100);
    let options = Options::default();
    let started = Instant::now();
    greyscale(&gif, &options).unwrap();
    let whole = started.elapsed();

    let cancel = Cancel::new();
    let canceller = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(whole / 10);
            cancel.cancel();
        })
    };
    let started = Instant::now();
    let result = greyscale_cancellable(&gif, &options, &cancel);
    let stopped = started.elapsed();
    canceller.join().unwrap();
    assert!(matches!(result, Err(ConvertError::Cancelled)), "{result:?}");
    assert!(
        stopped < whole / 2,
        "stopped after {stopped:?} of {whole:?}"
    );

    // Cancelled before it starts, every format stops at its first check.
    let png = {
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::new_rgb8(64, 64)
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    };
    for image in [many_scan_jpeg(64, 2), png, many_frame_gif(16, 2)] {
        let result = greyscale_cancellable(&image, &options, &cancel);
        assert!(matches!(result, Err(ConvertError::Cancelled)), "{result:?}");
    }
}

/// Issue 18: a request that ends (a hang-up, `exec_timeout`: its future is dropped)
/// cancels its conversion, and its slot stays taken until the conversion's thread
/// stops — not freed at the drop while the work goes on. Three 25 Mpx frames: the
/// request is dropped inside the first, which runs to its end (the check is per frame);
/// the slot comes free then, long before the other two frames would have been done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_ends_stops_its_conversion_and_holds_its_slot_until_then() {
    let one = function(&[("max_conversions", "1"), ("conversion_wait", "1ms")]);
    let animation = many_frame_gif(5000, 3);
    let started = Instant::now();
    assert_eq!(status_of(&one, animation.clone()).await, StatusCode::OK);
    let whole = started.elapsed();

    let dropped = tokio::time::timeout(whole / 6, one.respond(raw_post(animation))).await;
    assert!(
        dropped.is_err(),
        "the conversion ended within {:?}",
        whole / 6
    );
    let dropped_at = Instant::now();
    let small = many_frame_gif(16, 1);
    // The first frame is still being converted: its slot is taken.
    assert_eq!(
        status_of(&one, small.clone()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let freed = loop {
        if status_of(&one, small.clone()).await == StatusCode::OK {
            break dropped_at.elapsed();
        }
        assert!(dropped_at.elapsed() < whole * 2, "the slot never came free");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(
        freed < whole / 2,
        "the slot came free {freed:?} after the drop (the whole conversion: {whole:?})"
    );
}

/// The greyscale function's own binary, serving on loopback, for what only a process
/// shows: the CPU time it spends (`/proc/<pid>/stat`), and real hang-ups.
struct Replica {
    child: std::process::Child,
    url: String,
}

impl Replica {
    async fn start(env: &[(&str, &str)]) -> Replica {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let secrets =
            std::env::temp_dir().join(format!("greyscale-replica-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&secrets).unwrap();
        for key in ["s3-access-key", "s3-secret-key"] {
            std::fs::write(secrets.join(key), "test").unwrap();
        }
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_greyscale"))
            .env("port", port.to_string())
            .env("metrics_port", "0")
            .env("bind_address", "127.0.0.1")
            .env("secret_mount_path", &secrets)
            // Raw posts never reach the store; nothing listens here.
            .env("s3_endpoint", "http://127.0.0.1:9")
            .env("RUST_LOG", "warn")
            .env("exec_timeout", "120s")
            .env("write_timeout", "120s")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let replica = Replica {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let health = format!("{}/_/health", replica.url);
        let started = Instant::now();
        while !reqwest::get(&health)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "greyscale did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        replica
    }

    /// The CPU time (user + system) the replica has used so far.
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name, which is in parentheses and may hold spaces:
        // state is field 3, utime 14 and stime 15.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<u64> = after_name
            .split(' ')
            .skip(11)
            .take(2)
            .map(|f| f.parse().unwrap())
            .collect();
        Duration::from_secs_f64((fields[0] + fields[1]) as f64 / clock_ticks_per_second())
    }

    /// Posts `image` raw; None when `hang_up_after` passes first and the client hangs up.
    async fn post(
        &self,
        image: Vec<u8>,
        hang_up_after: Duration,
    ) -> Option<(StatusCode, serde_json::Value)> {
        let client = reqwest::Client::builder()
            .timeout(hang_up_after)
            .build()
            .unwrap();
        let response = client
            .post(&self.url)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(image)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(err) if err.is_timeout() => return None,
            Err(err) => panic!("{err}"),
        };
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let bytes = response.bytes().await.unwrap();
        Some((
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        ))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Issue 18, through the replica's process: each hostile file is refused with a 4xx and
/// a JSON error for a few milliseconds of CPU, not the seconds (or minutes) its
/// decoding would take.
#[tokio::test]
async fn hostile_images_cost_the_replica_next_to_no_cpu() {
    let replica = Replica::start(&[]).await;
    let hostile = [
        (
            "10,000 scans",
            many_scan_jpeg(4000, 10_000),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "a bad Huffman table",
            bad_dht_jpeg(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "300 Mpx of frames",
            many_frame_gif(1000, 300),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (what, image, status) in hostile {
        let before = replica.cpu();
        let (got, body) = replica
            .post(image, Duration::from_secs(30))
            .await
            .expect("an answer");
        let spent = replica.cpu() - before;
        assert_eq!(got, status, "{what}: {body}");
        assert!(body["error"].is_string(), "{what}: {body}");
        assert!(
            spent < Duration::from_millis(300),
            "{what}: {spent:?} of CPU"
        );
    }
}

/// Issue 18, through the replica's process: a client that hangs up mid-conversion
/// stops the work within a second (the conversion checks its cancel flag per frame),
/// where it used to run to its end. The animation is sized so that converting it
/// whole would take at least 8 s of this build's CPU.
#[tokio::test]
async fn a_client_that_hangs_up_stops_the_replicas_work_within_a_second() {
    let replica = Replica::start(&[
        ("max_frames", "20000"),
        ("max_animation_pixels", "20000000000"),
    ])
    .await;
    let before = replica.cpu();
    let (status, _) = replica
        .post(many_frame_gif(1000, 10), Duration::from_secs(60))
        .await
        .expect("an answer");
    assert_eq!(status, StatusCode::OK);
    let per_frame = (replica.cpu() - before) / 10;
    let frames = (Duration::from_secs(8).as_secs_f64() / per_frame.as_secs_f64().max(1e-4))
        .ceil()
        .clamp(10.0, 20_000.0) as usize;

    let before = replica.cpu();
    let answer = replica
        .post(many_frame_gif(1000, frames), Duration::from_secs(1))
        .await;
    assert!(
        answer.is_none(),
        "{frames} frames converted within a second"
    );
    let at_hang_up = replica.cpu();
    assert!(
        at_hang_up - before > Duration::from_millis(300),
        "the conversion was not running: {:?} of CPU",
        at_hang_up - before
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let a_second_later = replica.cpu();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = replica.cpu() - a_second_later;
    assert!(
        after < Duration::from_millis(100),
        "still converting a second after the hang-up: {after:?} of CPU in the next second \
         ({frames} frames of {per_frame:?} each)"
    );
}

/// An image whose conversion needs more memory than the whole `memory_budget` can never
/// be admitted: 413 at once, naming the budget, not a wait for memory that cannot come.
#[tokio::test]
async fn an_image_over_the_whole_memory_budget_is_413_at_once() {
    let png = {
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::new_rgb8(1000, 1000)
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    };
    let small_budget = function(&[("memory_budget", "1000000")]);
    let got = refused(&small_budget, png.clone()).await;
    assert_eq!(got.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", got.error);
    assert!(got.error.contains("memory budget of"), "{}", got.error);
    assert!(got.took < Duration::from_millis(500), "{:?}", got.took);
    let enough = function(&[("memory_budget", "100000000")]);
    assert_eq!(status_of(&enough, png).await, StatusCode::OK);
}

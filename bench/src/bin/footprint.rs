//! Footprint: cold start of one function process (spawn → first 200 on `/_/health`),
//! idle RSS of each function, and peak RSS of greyscale while converting the largest
//! corpus image, against that image's decoded size.
//!
//! usage: footprint [--bin-dir target/release] [--corpus DIR]

use clap::Parser;
use greyfaas_bench::{BinDir, Corpus, free_port, quantile};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Footprint's options.
#[derive(Parser, Debug)]
#[command(about = "Cold start and memory of each function process")]
struct Args {
    #[command(flatten)]
    bin_dir: BinDir,
    #[command(flatten)]
    corpus: Corpus,
}

/// Starts a function binary on a free port; returns it, its port and the start instant.
fn spawn(binary: &Path, secrets: &Path) -> (Child, u16, Instant) {
    let port = free_port();
    let started = Instant::now();
    let child = Command::new(binary)
        .env("port", port.to_string())
        .env("metrics_port", "0")
        .env("bind_address", "127.0.0.1")
        .env("secret_mount_path", secrets)
        .env("s3_endpoint", format!("http://127.0.0.1:{}", free_port()))
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the function starts");
    (child, port, started)
}

/// Polls `/_/health` (raw HTTP, no client warm-up cost) until it answers 200.
fn wait_healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET /_/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut head = [0u8; 12];
            if s.read_exact(&mut head).is_ok() && &head[9..12] == b"200" {
                return true;
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    false
}

/// `VmRSS` or `VmHWM` of a process, in MB.
fn memory(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let args = Args::parse();
    let (bin_dir, corpus_dir) = (args.bin_dir.path, &args.corpus.dir);
    let secrets = std::env::temp_dir().join(format!("greyfaas-footprint-{}", std::process::id()));
    std::fs::create_dir_all(&secrets).expect("temp dir");
    std::fs::write(secrets.join("s3-access-key"), "bench").expect("secret");
    std::fs::write(secrets.join("s3-secret-key"), "bench").expect("secret");

    println!("| function | cold start ms (median of 9) | idle RSS MB |");
    println!("| --- | ---: | ---: |");
    for name in ["fetch-incoming", "greyscale", "get-object"] {
        let binary = bin_dir.join(name);
        let mut starts = Vec::new();
        let mut idle = f64::NAN;
        for i in 0..9 {
            let (mut child, port, started) = spawn(&binary, &secrets);
            assert!(wait_healthy(port), "{name} did not become healthy");
            starts.push(started.elapsed().as_secs_f64() * 1e3);
            if i == 0 {
                std::thread::sleep(Duration::from_secs(1));
                idle = memory(child.id(), "VmRSS:");
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        starts.sort_by(|a, b| a.total_cmp(b));
        println!("| {name} | {:.1} | {idle:.1} |", quantile(&starts, 0.5));
    }

    // Peak memory converting the largest image (by pixels), posted raw.
    let files = args.corpus.load();
    let (name, bytes, w, h, channels) = files
        .iter()
        .filter_map(|(n, b)| {
            let img = image_header(b)?;
            Some((n.clone(), b.clone(), img.0, img.1, img.2))
        })
        .max_by_key(|(_, _, w, h, _)| u64::from(*w) * u64::from(*h))
        .expect("an image");
    let (mut child, port, _) = spawn(&bin_dir.join("greyscale"), &secrets);
    assert!(wait_healthy(port));
    let before = memory(child.id(), "VmHWM:");
    let response = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "content-type: application/octet-stream",
            "--data-binary",
        ])
        .arg(format!("@{}", corpus_dir.join(&name).display()))
        .arg(format!("http://127.0.0.1:{port}/"))
        .output();
    let status = response
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let peak = memory(child.id(), "VmHWM:");
    let decoded = f64::from(w) * f64::from(h) * f64::from(channels) / (1024.0 * 1024.0);
    let _ = child.kill();
    let _ = child.wait();
    println!();
    println!("| largest image | decoded MB | greyscale peak RSS MB | peak / decoded | status |");
    println!("| --- | ---: | ---: | ---: | --- |");
    println!(
        "| {name} ({w}x{h}, {} KB file) | {decoded:.1} | {peak:.1} (idle {before:.1}) | {:.2}x | {status} |",
        bytes.len() / 1024,
        peak / decoded
    );
    let _ = std::fs::remove_dir_all(&secrets);
}

/// Width, height and decoded channels, read from the header only.
fn image_header(bytes: &[u8]) -> Option<(u32, u32, u32)> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let decoder = reader.into_decoder().ok()?;
    let (w, h) = image::ImageDecoder::dimensions(&decoder);
    let channels = u32::from(image::ImageDecoder::color_type(&decoder).channel_count());
    Some((w, h, channels))
}

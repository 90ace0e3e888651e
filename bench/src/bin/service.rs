//! Service benchmark: requests per second and p50/p99 latency through `greyfaas up`'s
//! gateway, on the shipped stack.yml, at concurrency 1, 4 and 16, for get-object (a ~250 KB and a 1.8 MB object),
//! greyscale by path (medium JPEG), greyscale raw, and fetch-incoming from a local
//! server. Each cell runs for a fixed time (default 10 s, at most 20 s) and is also
//! capped in request count. The load generator, the gateway and the functions share
//! the machine's cores.
//!
//! usage: service [--seconds 10] [--only <operation substring>] [--bin-dir target/release] [--corpus DIR]

use clap::Parser;
use greyfaas_bench::{BinDir, Corpus, WebServer, quantile, repo, start_up};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One kind of request.
#[derive(Clone)]
enum Call {
    Get(String),
    PostJson(String, Value),
    PostBytes(String, &'static str, bytes::Bytes),
}

/// The service benchmark's options.
#[derive(Parser, Debug)]
#[command(about = "Requests per second and latency through greyfaas up's gateway")]
struct Args {
    /// Seconds per cell (1 to 20).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=20))]
    seconds: u64,
    /// Only the operations whose label holds this text.
    #[arg(long, default_value = "")]
    only: String,
    #[command(flatten)]
    bin_dir: BinDir,
    #[command(flatten)]
    corpus: Corpus,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let seconds = args.seconds;
    let files = args.corpus.load();
    let web = WebServer::start(args.corpus.dir.clone())
        .await
        .expect("corpus server")
        .base;
    let dir = std::env::temp_dir().join(format!("greyfaas-bench-{}", std::process::id()));
    // The shipped stack.yml, as users run it.
    let stack_file = repo().join("stack.yml");
    let up = start_up(&args.bin_dir.path, &dir, &stack_file);
    let gw = up.gateway.clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");

    let fetch = |name: &str| {
        let (client, gw, url) = (client.clone(), gw.clone(), format!("{web}/corpus/{name}"));
        async move {
            let r: Value = client
                .post(format!("{gw}/function/fetch-incoming"))
                .json(&json!({"url": url}))
                .send()
                .await
                .expect("fetch")
                .json()
                .await
                .expect("json");
            r["path"].as_str().expect("a path").to_string()
        }
    };
    let small_name = "small-png-alpha_chelsea-gradient_451x300.png";
    let large_name = "large-jpeg_picos-de-europa_3264x2448.jpg";
    let medium_name = "medium-jpeg_brushes_1365x1074.jpg";
    let small = fetch(small_name).await;
    let large = fetch(large_name).await;
    let medium = fetch(medium_name).await;
    let medium_bytes = bytes::Bytes::from(
        files
            .iter()
            .find(|(n, _)| n == medium_name)
            .expect("medium")
            .1
            .clone(),
    );
    // Before any load, so the conversions have the cores to themselves.
    let kernel_bound = KernelBound::measure(&medium_bytes);
    let size = |n: &str| {
        files
            .iter()
            .find(|(f, _)| f == n)
            .map_or(0, |(_, b)| b.len() / 1024)
    };

    let cells: Vec<(String, Call)> = vec![
        (
            format!("get-object, {} KB PNG", size(small_name)),
            Call::Get(format!("{gw}/function/get-object{small}")),
        ),
        (
            format!("get-object, {} KB JPEG", size(large_name)),
            Call::Get(format!("{gw}/function/get-object{large}")),
        ),
        (
            "greyscale by path, 1365x1074 JPEG".into(),
            Call::PostJson(format!("{gw}/function/greyscale"), json!({"path": medium})),
        ),
        (
            "greyscale raw, 1365x1074 JPEG".into(),
            Call::PostBytes(
                format!("{gw}/function/greyscale"),
                "image/jpeg",
                medium_bytes,
            ),
        ),
        (
            format!(
                "fetch-incoming, {} KB PNG from a local server",
                size(small_name)
            ),
            Call::PostJson(
                format!("{gw}/function/fetch-incoming"),
                json!({"url": format!("{web}/corpus/{small_name}")}),
            ),
        ),
    ];
    println!("| operation | concurrency | req/s | p50 ms | p99 ms | errors |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let only = &args.only;
    let mut by_path_at_4 = None;
    for (label, call) in cells
        .into_iter()
        .filter(|(label, _)| label.contains(only.as_str()))
    {
        for concurrency in [1usize, 4, 16] {
            let (rate, p50, p99, errors) =
                run_cell(&client, &call, concurrency, Duration::from_secs(seconds)).await;
            println!("| {label} | {concurrency} | {rate:.0} | {p50:.1} | {p99:.1} | {errors} |");
            if label.starts_with("greyscale by path") && concurrency == 4 {
                by_path_at_4 = Some(rate);
            }
        }
    }
    if let Some(rate) = by_path_at_4 {
        println!();
        println!(
            "greyscale by path at c=4: {rate:.0} req/s = {:.0}% of the kernel-bound rate, {:.0} req/s \
             ({} cores / {:.1} ms of CPU per conversion of the same JPEG, measured in this run)",
            100.0 * rate / kernel_bound.rate(),
            kernel_bound.rate(),
            kernel_bound.cores,
            kernel_bound.cpu_per_conversion.as_secs_f64() * 1e3,
        );
    }
    up.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `call` from `concurrency` loops for `length` (and at most 2 M requests).
async fn run_cell(
    client: &reqwest::Client,
    call: &Call,
    concurrency: usize,
    length: Duration,
) -> (f64, f64, f64, usize) {
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, call, latencies, errors) = (
            client.clone(),
            call.clone(),
            latencies.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..2_000_000 / concurrency {
                if started.elapsed() >= length {
                    break;
                }
                let t = Instant::now();
                let request = match &call {
                    Call::Get(url) => client.get(url),
                    Call::PostJson(url, body) => client.post(url).json(body),
                    Call::PostBytes(url, ct, body) => client
                        .post(url)
                        .header("content-type", *ct)
                        .body(body.clone()),
                };
                match request.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        mine.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    _ => {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
            latencies.lock().unwrap().extend(mine);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut samples = latencies.lock().unwrap().clone();
    samples.sort_by(|a, b| a.total_cmp(b));
    let errors = errors.load(std::sync::atomic::Ordering::Relaxed);
    (
        samples.len() as f64 / elapsed,
        quantile(&samples, 0.5),
        quantile(&samples, 0.99),
        errors,
    )
}

/// The rate the machine's cores could convert at if converting were all they did: the
/// CPU time (all threads) of one in-process conversion, over the cores.
struct KernelBound {
    cores: usize,
    cpu_per_conversion: Duration,
}

impl KernelBound {
    fn measure(image: &[u8]) -> KernelBound {
        let options = greyfaas_image_kernel::Options::default();
        greyfaas_image_kernel::greyscale(image, &options).expect("the JPEG converts");
        let runs = 20;
        let before = process_cpu();
        for _ in 0..runs {
            greyfaas_image_kernel::greyscale(image, &options).expect("the JPEG converts");
        }
        KernelBound {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_per_conversion: (process_cpu() - before) / runs,
        }
    }

    fn rate(&self) -> f64 {
        self.cores as f64 / self.cpu_per_conversion.as_secs_f64()
    }
}

/// This process's CPU time so far (user + system, every thread), from /proc/self/stat.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after_name = &stat[stat.rfind(')').expect("a command name") + 2..];
    let ticks: u64 = after_name
        .split(' ')
        .skip(11)
        .take(2)
        .map(|f| f.parse::<u64>().expect("a tick count"))
        .sum();
    // Linux's USER_HZ is 100 on every architecture greyfaas builds for.
    Duration::from_millis(ticks * 10)
}

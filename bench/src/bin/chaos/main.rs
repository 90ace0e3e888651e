//! The chaos test: `greyfaas up` on the shipped `stack.yml` (one replica of each
//! function) and on a two-replica variant of it, each under sustained mixed load while a
//! random function replica is SIGKILLed every 2 s and the S3 store is killed once (and
//! restarted by the runtime). Afterwards every stored object is checked with
//! `greyfaas verify`.
//!
//! usage: chaos [--duration 60] [--concurrency 4] [--bin-dir target/release]
//!        [--corpus ../shared/corpus] [--stack stack.yml] [--variants shipped,two-replicas]
//! Load: fetch-incoming of every corpus image, greyscale by path of those up to 4 MP
//! (see `load::convertible`), greyscale of posted images under 1 MiB, get-object of all
//! results. Each variant runs for --duration. Exit 1 unless every variant ends with 0 failed
//! calls and 0 bad objects.

mod load;

use clap::Parser;
use greyfaas_bench::{BinDir, Corpus, Rng, WebServer, repo, sigkill, start_up, store_process};
use load::{Load, Outcome};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The chaos test's options.
#[derive(Parser, Debug)]
#[command(
    about = "Replicas and the store killed under load; exit 1 on any failed call or bad object"
)]
struct Args {
    /// Seconds of load per variant.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    #[command(flatten)]
    bin_dir: BinDir,
    #[command(flatten)]
    corpus: Corpus,
    /// The stack file to run (and to derive the two-replica variant from).
    #[arg(long, default_value_os_t = repo().join("stack.yml"))]
    stack: PathBuf,
    /// The variants to run, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "shipped,two-replicas"
    )]
    variants: Vec<Variant>,
}

/// Which stack a run uses.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Variant {
    /// The stack file as it is.
    Shipped,
    /// Every function at two replicas.
    TwoReplicas,
}

/// What every variant shares.
struct Setup {
    duration: Duration,
    concurrency: usize,
    bin_dir: PathBuf,
    files: Vec<(String, Vec<u8>)>,
    web: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let web = WebServer::start(args.corpus.dir.clone())
        .await
        .expect("the corpus server");
    let setup = Setup {
        duration: Duration::from_secs(args.duration),
        concurrency: args.concurrency,
        bin_dir: args.bin_dir.path,
        files: args.corpus.load(),
        web: web.base,
    };
    let (duration, concurrency, stack) = (setup.duration, setup.concurrency, &args.stack);
    let mut passed = true;
    for variant in args.variants {
        let name = match variant {
            Variant::Shipped => "shipped",
            Variant::TwoReplicas => "two-replicas",
        };
        let dir =
            std::env::temp_dir().join(format!("greyfaas-chaos-{}-{name}", std::process::id()));
        let stack_file = match variant {
            Variant::Shipped => stack.clone(),
            Variant::TwoReplicas => match two_replicas(stack, &dir) {
                Ok(path) => path,
                Err(e) => {
                    eprintln!("chaos: cannot derive the two-replica stack: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            },
        };
        println!(
            "chaos ({name}): {}, {} s, {concurrency} clients, a replica killed every 2 s, the store killed once",
            stack_file.display(),
            duration.as_secs()
        );
        passed &= run(&setup, &stack_file, &dir).await;
        let _ = std::fs::remove_dir_all(&dir);
    }
    if passed {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// `stack` with every function at two replicas (`com.openfaas.scale.min: "2"`) and
/// handler paths made absolute, written to `dir`.
fn two_replicas(stack: &Path, dir: &Path) -> std::io::Result<PathBuf> {
    let text = std::fs::read_to_string(stack)?;
    let base = stack
        .parent()
        .and_then(|p| p.canonicalize().ok())
        .unwrap_or_else(repo);
    let mins = text.matches("com.openfaas.scale.min: \"1\"").count();
    let handlers = text.matches("handler: ./").count();
    if mins == 0 || handlers != mins {
        return Err(std::io::Error::other(format!(
            "expected one `com.openfaas.scale.min: \"1\"` per `handler: ./` ({mins} and {handlers})"
        )));
    }
    let derived = text
        .replace(
            "com.openfaas.scale.min: \"1\"",
            "com.openfaas.scale.min: \"2\"",
        )
        .replace("handler: ./", &format!("handler: {}/", base.display()));
    std::fs::create_dir_all(dir)?;
    let path = dir.join("stack-two-replicas.yml");
    std::fs::write(&path, derived)?;
    Ok(path)
}

/// One variant: load, kills, verify, the table. Whether it passed.
async fn run(setup: &Setup, stack_file: &Path, dir: &Path) -> bool {
    let Setup {
        duration,
        concurrency,
        bin_dir,
        files,
        web,
    } = setup;
    let (duration, concurrency) = (*duration, *concurrency);
    let up = start_up(bin_dir, dir, stack_file);
    let gateway = up.gateway.clone();
    let up_pid = up.pid();
    let password = up.password();

    let began = Instant::now();
    let load = Load::new(&gateway, web, files);
    let workers = load.start(concurrency, began, duration);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a client");

    // The chaos: a random replica every 2 s; the store once, half way through.
    let mut rng = Rng::seeded();
    let mut kills = 0;
    let mut store_window: Option<(Duration, Duration)> = None;
    while began.elapsed() < duration {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if store_window.is_none()
            && began.elapsed() >= duration / 2
            && let Some((pid, port)) = store_process(up_pid)
        {
            let down = began.elapsed();
            sigkill(pid);
            let mut back = down;
            for _ in 0..300 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    back = began.elapsed();
                    break;
                }
            }
            // Requests that began before the store came back, plus a short settling time.
            store_window = Some((down, back + Duration::from_secs(2)));
            println!(
                "chaos: store killed at {:.1}s, back at {:.1}s",
                down.as_secs_f64(),
                back.as_secs_f64()
            );
        }
        let list: Value = match client
            .get(format!("{gateway}/system/functions"))
            .basic_auth("admin", Some(&password))
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => continue,
        };
        let pids: Vec<i64> = list
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|f| {
                f["greyfaas"]["pids"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|p| p.as_i64())
            .collect();
        if !pids.is_empty() {
            let pid = pids[rng.below(pids.len())];
            sigkill(pid);
            kills += 1;
        }
    }
    for w in workers {
        let _ = w.await;
    }
    let data_dir = up.data_dir.clone();
    up.stop();

    let verify = std::process::Command::new(bin_dir.join("greyfaas"))
        .arg("verify")
        .arg("--data-dir")
        .arg(&data_dir)
        .output()
        .expect("greyfaas verify");
    let verify_out = String::from_utf8_lossy(&verify.stdout).to_string();
    let (checked, bad) = parse_verify(&verify_out);

    let outcomes = load.outcomes.lock().unwrap();
    let in_window = |o: &Outcome| store_window.is_some_and(|(a, b)| o.end >= a && o.start <= b);
    let ok = |s: u16| (200..300).contains(&s);
    let outside: Vec<&Outcome> = outcomes.iter().filter(|o| !in_window(o)).collect();
    let outside_ok = outside.iter().filter(|o| ok(o.status)).count();
    let mut failures: BTreeMap<u16, usize> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| !ok(o.status)) {
        *failures.entry(o.status).or_default() += 1;
    }
    let window_bad: Vec<u16> = outcomes
        .iter()
        .filter(|o| in_window(o) && !ok(o.status) && !matches!(o.status, 502 | 503))
        .map(|o| o.status)
        .collect();
    let rate = 100.0 * outside_ok as f64 / outside.len().max(1) as f64;

    let failed = outcomes.len() - outcomes.iter().filter(|o| ok(o.status)).count();
    println!("| measure | value |\n| --- | --- |");
    println!("| requests sent | {} |", outcomes.len());
    println!(
        "| successes (2xx) | {} |",
        outcomes.iter().filter(|o| ok(o.status)).count()
    );
    println!("| failed calls | {failed} |");
    println!("| failures by status (0 = connection) | {failures:?} |");
    println!("| replicas killed | {kills} |");
    println!(
        "| success rate outside the store-restart window | {rate:.3} % ({outside_ok}/{}) |",
        outside.len()
    );
    println!(
        "| failures inside the window that are not 502/503 | {} |",
        window_bad.len()
    );
    println!("| objects checked | {checked} |");
    println!("| objects bad | {bad} |");
    if !verify_out.contains(" bad") {
        println!("verify said: {verify_out}");
    }
    let passed = failed == 0 && bad == 0 && checked > 0 && store_window.is_some();
    println!("chaos: {}", if passed { "PASS" } else { "FAIL" });
    passed
}

/// "verify: N objects checked, M bad" → (N, M).
fn parse_verify(out: &str) -> (usize, usize) {
    let line = out.lines().find(|l| l.starts_with("verify:")).unwrap_or("");
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    (
        numbers.first().copied().unwrap_or(0),
        numbers.get(1).copied().unwrap_or(usize::MAX),
    )
}

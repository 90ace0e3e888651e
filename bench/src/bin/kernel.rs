//! Kernel benchmark: decode → greyscale → encode in the same format, for every corpus
//! image, against ImageMagick (`convert in -colorspace Gray out`), libvips
//! (`vips colourspace in out b-w`) and, for JPEG, `jpegtran -grayscale` (lossless, like
//! our default JPEG path: chroma dropped in the DCT domain). Prints a markdown table of
//! medians, then one for JPEG alone with the output sizes beside the input's. Our kernel
//! is timed twice: in-process, and as a process per image (`kernel one IN OUT`), which
//! is what the CLI tools are measured as.
//!
//! usage: kernel [--corpus DIR] [--runs N]      |      kernel one IN OUT

use clap::Parser;
use greyfaas_bench::{Corpus, quantile};
use greyfaas_image_kernel::{Options, greyscale};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The kernel benchmark's options.
#[derive(Parser, Debug)]
#[command(about = "The greyscale kernel against ImageMagick, libvips and jpegtran")]
struct Args {
    #[command(flatten)]
    corpus: Corpus,
    /// Measurements per tool and image (after one warm-up); the median is shown.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    runs: u16,
    #[command(subcommand)]
    command: Option<Once>,
}

/// A single conversion, as a process: what the CLI tools are timed as.
#[derive(clap::Subcommand, Debug)]
enum Once {
    /// Converts IN to greyscale in the same format, written to OUT.
    One { input: PathBuf, output: PathBuf },
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Some(Once::One { input, output }) = &args.command {
        return one(input, output);
    }
    let corpus_dir = &args.corpus.dir;
    let runs = usize::from(args.runs);
    let out_dir = std::env::temp_dir().join(format!("greyfaas-kernel-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).expect("a temp dir");
    let me = std::env::current_exe().expect("own path");

    println!(
        "| image | greyfaas in-process ms | greyfaas process ms | ImageMagick ms | libvips ms | jpegtran ms | greyfaas / vips | greyfaas / jpegtran |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut jpeg_rows = Vec::new();
    for (name, bytes) in args.corpus.load() {
        let input = corpus_dir.join(&name);
        let ext = Path::new(&name)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("img")
            .to_string();
        let out = |tool: &str| out_dir.join(format!("{tool}.{ext}"));
        let options = Options::default();
        let in_process = median(runs, || {
            let started = Instant::now();
            std::hint::black_box(greyscale(&bytes, &options).expect("the corpus converts"));
            Some(started.elapsed().as_secs_f64() * 1e3)
        });
        let ours = median(runs, || {
            time(
                Command::new(&me)
                    .arg("one")
                    .arg(&input)
                    .arg(out("greyfaas")),
            )
        });
        let magick = median(runs, || {
            time(
                Command::new("convert")
                    .arg(&input)
                    .args(["-colorspace", "Gray"])
                    .arg(out("magick")),
            )
        });
        let vips = median(runs, || {
            time(
                Command::new("vips")
                    .arg("colourspace")
                    .arg(&input)
                    .arg(out("vips"))
                    .arg("b-w"),
            )
        });
        let jpegtran = if ext == "jpg" {
            median(runs, || {
                let file = std::fs::File::create(out("jpegtran")).ok()?;
                time(
                    Command::new("jpegtran")
                        .arg("-grayscale")
                        .arg(&input)
                        .stdout(file),
                )
            })
        } else {
            None
        };
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}x", a / b),
            _ => "–".into(),
        };
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            fmt(in_process),
            fmt(ours),
            fmt(magick),
            fmt(vips),
            fmt(jpegtran),
            ratio(ours, vips),
            ratio(ours, jpegtran)
        );
        if ext == "jpg" {
            let size = |tool: &str| std::fs::metadata(out(tool)).map_or(0, |m| m.len());
            jpeg_rows.push(format!(
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
                bytes.len(),
                fmt(ours),
                fmt(jpegtran),
                fmt(vips),
                ratio(ours, jpegtran),
                size("greyfaas"),
                size("jpegtran"),
                size("vips"),
            ));
        }
    }
    println!();
    println!(
        "JPEG, lossless path (`jpeg_mode=lossless`, the default) against `jpegtran -grayscale` and libvips; process per image, median ms; output bytes beside the input's:"
    );
    println!();
    println!(
        "| image | input bytes | greyfaas ms | jpegtran ms | libvips ms | greyfaas / jpegtran | greyfaas bytes | jpegtran bytes | libvips bytes |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in jpeg_rows {
        println!("{row}");
    }
    let _ = std::fs::remove_dir_all(&out_dir);
    std::process::ExitCode::SUCCESS
}

/// `kernel one IN OUT`: one conversion, as a process.
fn one(input: &Path, output: &Path) -> std::process::ExitCode {
    let Ok(bytes) = std::fs::read(input) else {
        return std::process::ExitCode::FAILURE;
    };
    match greyscale(&bytes, &Options::default()) {
        Ok(out) if std::fs::write(output, &out.bytes).is_ok() => std::process::ExitCode::SUCCESS,
        _ => std::process::ExitCode::FAILURE,
    }
}

/// Wall time of a command in ms, or `None` if it is missing or fails.
fn time(command: &mut Command) -> Option<f64> {
    let started = Instant::now();
    let status = command.stderr(std::process::Stdio::null()).status().ok()?;
    status
        .success()
        .then(|| started.elapsed().as_secs_f64() * 1e3)
}

/// The median of `runs` measurements (after one warm-up), or `None` if any failed.
fn median(runs: usize, mut measure: impl FnMut() -> Option<f64>) -> Option<f64> {
    measure()?;
    let mut samples = (0..runs).map(|_| measure()).collect::<Option<Vec<f64>>>()?;
    samples.sort_by(|a, b| a.total_cmp(b));
    Some(quantile(&samples, 0.5))
}

fn fmt(ms: Option<f64>) -> String {
    ms.map_or("–".into(), |ms| format!("{ms:.1}"))
}

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
    let mut quality_rows = Vec::new();
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
        let size = |tool: &str| std::fs::metadata(out(tool)).map_or(0, |m| m.len());
        let reference = reference_grey(&bytes, &ext);
        let quality = |tool: &str| match std::fs::read(out(tool)) {
            Ok(output) => format!("{} | {}", size(tool), psnr(&reference, &output)),
            Err(_) => "– | –".into(),
        };
        quality_rows.push(format!(
            "| {name} | {} | {} | {} | {} |",
            bytes.len(),
            quality("greyfaas"),
            quality("magick"),
            quality("vips"),
        ));
        if ext == "jpg" {
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
    println!();
    println!(
        "Output bytes and PSNR (dB, against the exact grey of the decoded input: a JPEG's luma as zune-jpeg decodes it, else BT.709 of the gamma-encoded RGB; opaque-or-translucent pixels of the first frame; ∞ = identical):"
    );
    println!();
    println!(
        "| image | input bytes | greyfaas bytes | greyfaas PSNR | ImageMagick bytes | ImageMagick PSNR | libvips bytes | libvips PSNR |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in quality_rows {
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

/// The exact grey of an input, with its alpha: what a greyscale output is measured
/// against. A JPEG's is its luma as zune-jpeg decodes it (the lossless path keeps it
/// exactly); any other image's is BT.709 of its gamma-encoded RGB, as greyfaas's
/// default `luma=gamma` computes it, from the image crate's decode (the first frame).
fn reference_grey(input: &[u8], ext: &str) -> (Vec<f64>, Vec<u8>) {
    if ext == "jpg" {
        use zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
        let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::Luma);
        let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(input), options);
        let luma = decoder.decode().expect("zune decodes the corpus JPEG");
        let alpha = vec![255; luma.len()];
        return (luma.into_iter().map(f64::from).collect(), alpha);
    }
    let rgba = image::load_from_memory(input)
        .expect("the corpus decodes")
        .to_rgba8();
    let grey = rgba
        .pixels()
        .map(|p| 0.2126 * f64::from(p[0]) + 0.7152 * f64::from(p[1]) + 0.0722 * f64::from(p[2]))
        .collect();
    (grey, rgba.pixels().map(|p| p[3]).collect())
}

/// PSNR of an output's grey against the reference, over the pixels the reference does
/// not hide (alpha > 0); "∞" when they are identical after rounding the reference.
fn psnr((reference, alpha): &(Vec<f64>, Vec<u8>), output: &[u8]) -> String {
    let Ok(decoded) = image::load_from_memory(output) else {
        return "undecodable".into();
    };
    let grey = decoded.to_luma8();
    if grey.len() != reference.len() {
        return "size differs".into();
    }
    let (mut squared, mut count, mut exact) = (0.0, 0usize, true);
    for ((&r, &a), &g) in reference.iter().zip(alpha).zip(grey.as_raw()) {
        if a > 0 {
            let d = r - f64::from(g);
            exact &= r.round() == f64::from(g);
            squared += d * d;
            count += 1;
        }
    }
    if exact {
        return "∞".into();
    }
    let mse = squared / count.max(1) as f64;
    format!("{:.1}", 10.0 * (255.0f64 * 255.0 / mse).log10())
}

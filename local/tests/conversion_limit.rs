//! greyscale under a burst of large images: `memory_budget` bounds its memory (the
//! others wait for their share), and a request that waits longer than `conversion_wait` gets a
//! JSON 429. The function process runs alone here, on loopback, converting posted
//! images (no store needed); peak memory is the kernel's VmHWM for the process.

use greyfaas_testkit::*;
use std::time::{Duration, Instant};

/// A large photo: the corpus's 4096 x 4096 WebP as a 3000 x 3000 RGB PNG (27 MB
/// decoded), which a debug build converts in about a second.
fn large_png() -> Vec<u8> {
    let webp = std::fs::read(corpus_dir().join("webp_gnome-wood-l_4096x4096.webp")).unwrap();
    let image = image::load_from_memory(&webp).unwrap().resize_exact(
        3000,
        3000,
        image::imageops::FilterType::Nearest,
    );
    let mut png = std::io::Cursor::new(Vec::new());
    image.write_to(&mut png, image::ImageFormat::Png).unwrap();
    png.into_inner()
}

struct Greyscale {
    child: std::process::Child,
    url: String,
}

impl Greyscale {
    fn start(env: &[(&str, &str)]) -> Greyscale {
        let long = [("exec_timeout", "120s"), ("write_timeout", "120s")];
        let (child, url) = start_function("greyscale", &[&long[..], env].concat());
        Greyscale { child, url }
    }

    /// Peak resident memory so far, in bytes.
    fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kb * 1024
    }

    /// Posts the image `n` times at once; the statuses and bodies that came back.
    fn burst(&self, n: usize, image: &[u8]) -> Vec<(u16, Vec<u8>)> {
        std::thread::scope(|scope| {
            let calls: Vec<_> = (0..n)
                .map(|_| {
                    scope.spawn(|| {
                        let response = reqwest::blocking::Client::builder()
                            .timeout(Duration::from_secs(300))
                            .build()
                            .unwrap()
                            .post(&self.url)
                            .header("content-type", "image/png")
                            .body(image.to_vec())
                            .send()
                            .unwrap();
                        let status = response.status().as_u16();
                        (status, response.bytes().unwrap().to_vec())
                    })
                })
                .collect();
            calls.into_iter().map(|c| c.join().unwrap()).collect()
        })
    }
}

impl Drop for Greyscale {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_burst_of_large_images_is_bounded_by_the_memory_budget() {
    let image = large_png();
    let needed = greyfaas_image_kernel::peak_bytes(&image, &Default::default()).unwrap();
    let budget = |conversions: u64| (needed * conversions + needed / 2).to_string();

    // One conversion alone: the memory it costs.
    let alone = Greyscale::start(&[("max_conversions", "3"), ("memory_budget", &budget(3))]);
    let results = alone.burst(1, &image);
    assert_eq!(results[0].0, 200);
    let one = alone.peak_rss();
    drop(alone);

    // Three at once, three slots, a budget that holds one: they queue, and the peak
    // stays near one conversion's.
    let limited = Greyscale::start(&[
        ("max_conversions", "3"),
        ("memory_budget", &budget(1)),
        ("conversion_wait", "300s"),
    ]);
    let started = Instant::now();
    let results = limited.burst(3, &image);
    assert!(
        results.iter().all(|r| r.0 == 200),
        "all queued and served: {:?}",
        statuses(&results)
    );
    let bounded = limited.peak_rss();
    eprintln!(
        "one conversion (estimate {} MB): peak {} MB; 3 at once, budget for 1: peak {} MB in {:?}",
        needed >> 20,
        one >> 20,
        bounded >> 20,
        started.elapsed()
    );
    assert!(
        bounded < one * 3 / 2,
        "peak {bounded} with a budget for one vs {one} for one image"
    );
    drop(limited);

    // The same burst with a budget for three needs more: the bound above is the budget's doing.
    let unlimited = Greyscale::start(&[("max_conversions", "3"), ("memory_budget", &budget(3))]);
    let results = unlimited.burst(3, &image);
    assert!(results.iter().all(|r| r.0 == 200));
    let unbounded = unlimited.peak_rss();
    eprintln!("3 at once, budget for 3: peak {} MB", unbounded >> 20);
    assert!(unbounded > bounded * 3 / 2, "{unbounded} vs {bounded}");
}

#[test]
fn waiting_longer_than_conversion_wait_is_a_json_429() {
    let image = large_png();
    let busy = Greyscale::start(&[("max_conversions", "1"), ("conversion_wait", "200ms")]);
    let results = busy.burst(3, &image);
    let ok = results.iter().filter(|r| r.0 == 200).count();
    let refused: Vec<_> = results.iter().filter(|r| r.0 == 429).collect();
    assert!(ok >= 1, "{:?}", statuses(&results));
    assert!(!refused.is_empty(), "{:?}", statuses(&results));
    assert_eq!(ok + refused.len(), 3, "{:?}", statuses(&results));
    for (_, body) in refused {
        let error: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert!(error["error"].as_str().unwrap().contains("busy"), "{error}");
    }
}

fn statuses(results: &[(u16, Vec<u8>)]) -> Vec<u16> {
    results.iter().map(|r| r.0).collect()
}

//! `peak_bytes`, the kernel's estimate of a conversion's peak memory (greyscale admits
//! conversions by it), held against the real peak: a counting allocator records the
//! most bytes allocated at once while each corpus image converts, on every path (the
//! lossless and re-encoding JPEG paths, PNG with alpha, WebP, GIF). One test, so no
//! other test allocates at the same time.

use greyfaas_image_kernel::{Options, greyscale, peak_bytes};
use greyfaas_testkit::corpus_file as corpus;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The system allocator, counting the bytes allocated now and the most at once.
struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = NOW.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let now = NOW.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        NOW.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            // A moving realloc holds both blocks for a moment.
            let now = NOW.fetch_add(new_size, Relaxed) + new_size;
            PEAK.fetch_max(now, Relaxed);
            NOW.fetch_sub(layout.size(), Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most bytes `work` had allocated at once, above what was allocated before it.
fn peak_of(work: impl FnOnce()) -> u64 {
    let before = NOW.load(Relaxed);
    PEAK.store(before, Relaxed);
    work();
    (PEAK.load(Relaxed) - before) as u64
}

#[test]
fn the_estimate_bounds_every_corpus_conversions_real_peak() {
    let reencode = Options {
        jpeg_lossless: false,
        ..Options::default()
    };
    let mut cases = Vec::new();
    for name in [
        "gif_coffee_600x400.gif",
        "large-jpeg_picos-de-europa_3264x2448.jpg",
        "medium-jpeg_brushes_1365x1074.jpg",
        "png-alpha_mate-arc-colors_2140x1200.png",
        "small-png-alpha_chelsea-gradient_451x300.png",
        "small-png_astronaut_512x512.png",
        "webp_gnome-wood-l_4096x4096.webp",
    ] {
        cases.push((name.to_string(), corpus(name), Options::default()));
        if name.ends_with(".jpg") {
            cases.push((format!("{name} (re-encoded)"), corpus(name), reencode));
        }
    }
    let mut report = Vec::new();
    for (what, bytes, options) in &cases {
        let estimate = peak_bytes(bytes, options).unwrap();
        let peak = peak_of(|| {
            greyscale(bytes, options).unwrap();
        });
        report.push(format!(
            "{what}: peak {peak}, estimate {estimate} ({:.2}x)",
            estimate as f64 / peak as f64
        ));
        assert!(peak <= estimate, "{}", report.join("\n"));
    }
    println!("{}", report.join("\n"));
}

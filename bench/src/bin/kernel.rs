fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/corpus".into());
    let limits = kernel::convert::Limits::default();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e != "txt"))
        .collect();
    files.sort();
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let mut times = Vec::new();
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let out = kernel::convert::greyscale(&bytes, &limits).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(out);
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{:55} {:8.1} ms",
            path.file_name().unwrap().to_string_lossy(),
            times[1]
        );
    }
}

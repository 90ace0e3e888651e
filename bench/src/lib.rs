//! What the load tools share beyond the test kit (`greyfaas-testkit`: `greyfaas up`,
//! the corpus and its web server, signals): the command-line options they have in
//! common, and latency statistics. Every load loop here is bounded in count and time,
//! and sends traffic to loopback only.

pub use greyfaas_testkit::{
    Launch, Up, WebServer, free_port, load_corpus, repo, sigkill, store_process,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `--bin-dir`: where the greyfaas and function binaries are.
#[derive(clap::Args, Debug)]
pub struct BinDir {
    /// Folder with greyfaas and the function binaries (nothing is built); by default
    /// the folder this tool was built into.
    #[arg(long = "bin-dir", value_name = "DIR", default_value_os_t = greyfaas_testkit::build_dir())]
    pub path: PathBuf,
}

/// `--corpus`: the photo corpus.
#[derive(clap::Args, Debug)]
pub struct Corpus {
    /// The shared photo corpus (by default ../shared/corpus beside the checkout).
    #[arg(long = "corpus", value_name = "DIR", default_value_os_t = greyfaas_testkit::corpus_dir())]
    pub dir: PathBuf,
}

impl Corpus {
    /// Every image in it: (file name, bytes), sorted.
    pub fn load(&self) -> Vec<(String, Vec<u8>)> {
        load_corpus(&self.dir)
            .unwrap_or_else(|e| panic!("the corpus in {}: {e}", self.dir.display()))
    }
}

/// `greyfaas up` on `stack` as the load tools run it: downloads from the loopback
/// corpus server allowed, logging errors only (or as RUST_LOG says), up within 120 s.
pub fn start_up(bin_dir: &Path, dir: &Path, stack: &Path) -> Up {
    let mut launch = Launch::new(bin_dir, dir, stack).args(&["--allow-private-networks"]);
    launch.rust_log = std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into());
    launch.ready_within = Duration::from_secs(120);
    Up::launch(&launch).unwrap_or_else(|e| panic!("greyfaas up: {e}"))
}

/// The `q`-quantile of sorted samples.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// A small xorshift generator: enough randomness to pick replicas and operations.
pub struct Rng(u64);

impl Rng {
    pub fn seeded() -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Rng(t | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

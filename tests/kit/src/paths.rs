//! Where things are: the repository, the corpus beside it, the built binaries, and
//! fresh scratch folders.

use std::path::{Path, PathBuf};

/// The repository root (this crate is `tests/kit`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/kit sits two folders down")
        .to_path_buf()
}

/// The shared corpus of real photos: `../shared/corpus` beside the checkout.
pub fn corpus_dir() -> PathBuf {
    repo().join("../shared/corpus")
}

/// Where cargo put the binaries of the build the running program belongs to: its own
/// folder, or the one above for a test (which cargo puts in `<target>/<profile>/deps`).
/// Wherever the target directory is (`CARGO_TARGET_DIR`, `build.target-dir`).
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the program's own path");
    let mut dir = exe.parent().expect("a folder").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// [`build_dir`], after checking that greyfaas and every function binary are there.
pub fn bin_dir() -> PathBuf {
    let dir = build_dir();
    for f in [
        "greyfaas",
        "fetch-incoming",
        "greyscale",
        "get-object",
        "gallery",
    ] {
        assert!(
            dir.join(f).is_file(),
            "{} is missing: run `cargo build --workspace --bins` first",
            dir.join(f).display()
        );
    }
    dir
}

/// A new, empty folder under the temporary directory, named after `what`, this process
/// and the time (so tests running side by side never share one).
pub fn scratch_dir(what: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir =
        std::env::temp_dir().join(format!("greyfaas-{what}-{}-{nanos:x}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

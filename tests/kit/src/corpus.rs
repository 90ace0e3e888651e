//! The photo corpus (JPEG, PNG, GIF and WebP files with a MANIFEST) and the checks
//! tests make on images: content hashes, greyness, PNG chunk checksums.

use crate::paths::corpus_dir;
use std::path::Path;

/// Every image in `dir` (by extension): (file name, bytes), sorted by name.
pub fn load_corpus(dir: &Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("jpg" | "png" | "gif" | "webp")
        ) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            files.push((name, std::fs::read(&path)?));
        }
    }
    files.sort();
    Ok(files)
}

/// Every image of the shared corpus; panics if it is missing or thin.
pub fn corpus() -> Vec<(String, Vec<u8>)> {
    let files =
        load_corpus(&corpus_dir()).expect("../shared/corpus must exist beside the checkout");
    assert!(
        files.len() >= 6,
        "the corpus has JPEG, PNG, GIF and WebP files"
    );
    files
}

/// The bytes of the corpus file `name`; panics, naming the path, if it cannot be read.
pub fn corpus_file(name: &str) -> Vec<u8> {
    let path = corpus_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lowercase hex SHA-256 of `bytes`: the name greyfaas stores them under.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Grey means R=G=B everywhere (or a luma pixel type).
pub fn assert_grey(image: &image::DynamicImage, what: &str) {
    let rgba = image.to_rgba8();
    assert!(
        rgba.pixels().all(|p| p[0] == p[1] && p[1] == p[2]),
        "{what} is not greyscale"
    );
}

/// CRC-32 (IEEE), the checksum of a PNG chunk: for tests that rewrite one.
pub use crc32fast::hash as crc32;

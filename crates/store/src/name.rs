//! Content-addressed names (`sha256(bytes)` in lowercase hex) and the paths that hold them.

use sha2::{Digest, Sha256};
use std::fmt;

/// The two areas of the store, as they appear in paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Area {
    /// Downloaded originals: `/incoming/<sha256>`.
    Incoming,
    /// Greyscale results: `/processed/<sha256>`.
    Processed,
}

impl Area {
    pub const ALL: [Area; 2] = [Area::Incoming, Area::Processed];

    pub fn as_str(self) -> &'static str {
        match self {
            Area::Incoming => "incoming",
            Area::Processed => "processed",
        }
    }
}

/// A valid object name: exactly 64 lowercase hex characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectName(String);

impl ObjectName {
    /// The name of `bytes`.
    pub fn of(bytes: &[u8]) -> ObjectName {
        let mut hasher = NameHasher::default();
        hasher.update(bytes);
        hasher.finish()
    }

    /// Checks that `text` is a name (and not, say, `../../etc/passwd`).
    pub fn parse(text: &str) -> Result<ObjectName, PathError> {
        if text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(ObjectName(text.to_string()))
        } else {
            Err(PathError::BadName(truncate(text)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The raw 32-byte digest (for S3's `x-amz-checksum-sha256`).
    pub fn digest(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            // The name was validated as 64 hex digits.
            *byte = u8::from_str_radix(&self.0[2 * i..2 * i + 2], 16).unwrap_or(0);
        }
        out
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Hashes bytes as they stream past and yields their [`ObjectName`].
#[derive(Default, Clone)]
pub struct NameHasher(Sha256);

impl NameHasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> ObjectName {
        let digest = self.0.finalize();
        let mut text = String::with_capacity(64);
        for byte in digest {
            text.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
            text.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
        }
        ObjectName(text)
    }
}

/// Where an object lives: an area and a name, written `/<area>/<name>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectPath {
    pub area: Area,
    pub name: ObjectName,
}

/// Why a path is not an object path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("unknown bucket {0:?}: use incoming or processed")]
    UnknownArea(String),
    #[error("{0:?} is not an object name: names are 64 lowercase hex characters (a SHA-256)")]
    BadName(String),
    #[error("{0:?} is not a path of the form /incoming/<sha256> or /processed/<sha256>")]
    Malformed(String),
}

impl ObjectPath {
    pub fn new(area: Area, name: ObjectName) -> ObjectPath {
        ObjectPath { area, name }
    }

    /// Parses `/incoming/<sha256>` or `/processed/<sha256>`.
    pub fn parse(text: &str) -> Result<ObjectPath, PathError> {
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| PathError::Malformed(truncate(text)))?;
        let (area, name) = rest
            .split_once('/')
            .ok_or_else(|| PathError::Malformed(truncate(text)))?;
        let area = match area {
            "incoming" => Area::Incoming,
            "processed" => Area::Processed,
            other => return Err(PathError::UnknownArea(truncate(other))),
        };
        Ok(ObjectPath {
            area,
            name: ObjectName::parse(name)?,
        })
    }
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/{}", self.area.as_str(), self.name)
    }
}

/// Keeps hostile input short in error messages.
fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn names_are_the_sha256_of_the_bytes() {
        assert_eq!(ObjectName::of(b"").as_str(), EMPTY_SHA256);
        let mut hasher = NameHasher::default();
        hasher.update(b"hello ");
        hasher.update(b"world");
        assert_eq!(hasher.finish(), ObjectName::of(b"hello world"));
        assert_eq!(ObjectName::of(b"").digest()[..4], [0xe3, 0xb0, 0xc4, 0x42]);
    }

    #[test]
    fn paths_round_trip() {
        let text = format!("/processed/{EMPTY_SHA256}");
        let path = ObjectPath::parse(&text).unwrap();
        assert_eq!(path.area, Area::Processed);
        assert_eq!(path.to_string(), text);
    }

    #[test]
    fn bad_paths_are_refused_with_a_reason() {
        let upper = EMPTY_SHA256.to_uppercase();
        let cases = [
            (format!("/other/{EMPTY_SHA256}"), "unknown bucket"),
            (format!("/incoming/{upper}"), "not an object name"),
            (
                "/incoming/../../etc/passwd".to_string(),
                "not an object name",
            ),
            (
                format!("/incoming/{}", &EMPTY_SHA256[1..]),
                "not an object name",
            ),
            (format!("/incoming/{EMPTY_SHA256}/x"), "not an object name"),
            ("incoming".to_string(), "not a path"),
            ("/incoming".to_string(), "not a path"),
        ];
        for (text, expected) in cases {
            let err = ObjectPath::parse(&text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}

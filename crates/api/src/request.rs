//! How a function reads a request body: as JSON whatever its Content-Type says, unless
//! that names an image; JSON documents refused past a nesting depth.

use http::{HeaderMap, header};

/// The media type of a request (`application/json`), lowercased, without parameters.
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether a Content-Type declares an image: `image/*`, or raw bytes
/// (`application/octet-stream`). Only these keep a body from being read as JSON.
pub fn declares_image(media_type: &str) -> bool {
    media_type.starts_with("image/") || media_type == "application/octet-stream"
}

/// Whether a body may be read as JSON: whatever its Content-Type says, unless that
/// names an image. `curl -d` sends `application/x-www-form-urlencoded` and
/// `faas-cli invoke` sends `text/plain`; OpenFaaS users send JSON with both.
pub fn accepts_json(media_type: &str) -> bool {
    !declares_image(media_type)
}

/// Whether bytes look like a JSON document (an object or an array), so a body sent
/// with no telling Content-Type can be told from an image: no image format starts
/// with `{` or `[`.
pub fn looks_like_json(bytes: &[u8]) -> bool {
    matches!(
        bytes.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// Parses a JSON request, refusing documents nested deeper than `max_depth` before
/// the parser sees them (our requests are two levels deep; hostile ones are not).
pub fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    max_depth: usize,
) -> Result<T, JsonError> {
    let depth = json_depth(bytes);
    if depth > max_depth {
        return Err(JsonError::TooDeep { depth, max_depth });
    }
    Ok(serde_json::from_slice(bytes)?)
}

/// Why a request document was refused (400).
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("JSON nested {depth} levels deep; at most {max_depth} allowed")]
    TooDeep { depth: usize, max_depth: usize },
    #[error(transparent)]
    Invalid(#[from] serde_json::Error),
}

/// The deepest nesting of `[` and `{` in a JSON text, ignoring brackets inside strings.
pub fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn json_is_accepted_unless_an_image_is_declared() {
        let mut headers = HeaderMap::new();
        assert!(accepts_json(&media_type(&headers)));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert_eq!(media_type(&headers), "application/json");
        for json_ok in [
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/problem+json",
            "multipart/form-data",
        ] {
            assert!(accepts_json(json_ok), "{json_ok}");
        }
        for image in ["image/png", "image/jpeg", "application/octet-stream"] {
            assert!(!accepts_json(image), "{image}");
            assert!(declares_image(image), "{image}");
        }
    }

    #[test]
    fn json_is_told_from_image_bytes() {
        assert!(looks_like_json(b" \n{\"url\": \"x\"}"));
        assert!(looks_like_json(b"[1]"));
        assert!(!looks_like_json(b"\x89PNG\r\n\x1a\n"));
        assert!(!looks_like_json(b"\xff\xd8\xff\xe0"));
        assert!(!looks_like_json(b"GIF89a"));
        assert!(!looks_like_json(b""));
    }

    #[test]
    fn json_depth_ignores_brackets_in_strings() {
        assert_eq!(json_depth(br#"{"url": "http://x/[[[{{{"}"#), 1);
        assert_eq!(json_depth(br#"{"urls": ["a", "b\"]["]}"#), 2);
        assert_eq!(json_depth(b"[[[[]]]]"), 4);
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = parse_json::<serde_json::Value>(deep.as_bytes(), 8).unwrap_err();
        assert!(err.to_string().contains("100000 levels"), "{err}");
        assert!(parse_json::<serde_json::Value>(br#"{"path": "/incoming/x"}"#, 8).is_ok());
    }
}

//! Bodies: the one body type handlers see and return, and the helpers that build
//! responses (JSON errors included) so every function answers the same way.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};

/// Any error a body can fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streamed body: request bodies arrive as one, responses may stream (e.g. from S3).
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A body holding `bytes` in full.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A response with `status` and no body.
pub fn empty_with(status: StatusCode) -> crate::Response {
    let mut response = http::Response::new(empty());
    *response.status_mut() = status;
    response
}

/// A body from any stream-like body type, e.g. an S3 object's byte stream.
pub fn stream<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// A response with `status`, a body and its content type.
pub fn with_type(
    status: StatusCode,
    content_type: &'static str,
    bytes: impl Into<Bytes>,
) -> crate::Response {
    let mut response = http::Response::new(full(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A plain-text response.
pub fn text(status: StatusCode, text: impl Into<Bytes>) -> crate::Response {
    with_type(status, "text/plain; charset=utf-8", text)
}

/// A JSON response of `value`.
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> crate::Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => with_type(status, "application/json", bytes),
        Err(err) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode response: {err}"),
        ),
    }
}

/// The JSON error every greyfaas endpoint answers with: `{"error": message}`.
pub fn error(status: StatusCode, message: impl std::fmt::Display) -> crate::Response {
    json(status, &serde_json::json!({ "error": message.to_string() }))
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("request body arrived too slowly")]
    Timeout,
    #[error("request body could not be read: {0}")]
    Broken(String),
}

impl BodyError {
    /// The status a caller gets for this failure.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Timeout => StatusCode::REQUEST_TIMEOUT,
            BodyError::Broken(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// Reads a whole request body, refusing it once it passes `limit` bytes.
///
/// The runtime already caps bodies at `max_request_bytes` and times out stalled ones;
/// a handler passes its own, smaller limit for things such as JSON documents.
pub async fn read(mut body: Body, limit: u64) -> Result<Bytes, BodyError> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut total: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| classify(err.as_ref(), limit))?;
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            if total > limit {
                return Err(BodyError::TooLarge { limit });
            }
            chunks.push(data);
        }
    }
    // One chunk (the common case for small bodies) is returned without a copy.
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => chunks.concat().into(),
    })
}

/// Maps a body failure, however deeply wrapped, onto [`BodyError`].
fn classify(err: &(dyn std::error::Error + 'static), limit: u64) -> BodyError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return BodyError::TooLarge { limit };
        }
        if let Some(own) = e.downcast_ref::<BodyError>() {
            return match own {
                BodyError::TooLarge { limit } => BodyError::TooLarge { limit: *limit },
                BodyError::Timeout => BodyError::Timeout,
                BodyError::Broken(m) => BodyError::Broken(m.clone()),
            };
        }
        cause = e.source();
    }
    BodyError::Broken(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn read_refuses_bodies_over_the_limit() {
        assert_eq!(read(full("hello"), 5).await.unwrap(), Bytes::from("hello"));
        let err = read(full("hello!"), 5).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 5 }));
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn errors_are_json_objects() {
        let response = error(StatusCode::NOT_FOUND, "no such object");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["error"], "no such object");
    }
}

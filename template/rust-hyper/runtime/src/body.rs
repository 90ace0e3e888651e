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

pin_project_lite::pin_project! {
    /// Merges the small frames of a stream (S3 servers often send 4 KB pieces) into
    /// frames of up to `max` bytes, taking only what is ready: it never waits to fill one.
    /// Fewer, larger frames mean fewer writes on every hop downstream.
    pub struct Coalesce<B> {
        #[pin]
        inner: B,
        max: usize,
        pending: Option<http_body::Frame<Bytes>>,
        done: bool,
    }
}

impl<B> Coalesce<B> {
    pub fn new(inner: B, max: usize) -> Self {
        Coalesce {
            inner,
            max,
            pending: None,
            done: false,
        }
    }
}

impl<B> http_body::Body for Coalesce<B>
where
    B: http_body::Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, B::Error>>> {
        use std::task::Poll;
        let mut this = self.project();
        if let Some(frame) = this.pending.take() {
            return Poll::Ready(Some(Ok(frame)));
        }
        if *this.done {
            return Poll::Ready(None);
        }
        let mut buffer = bytes::BytesMut::new();
        loop {
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if buffer.is_empty() && data.len() >= *this.max => {
                        return Poll::Ready(Some(Ok(http_body::Frame::data(data))));
                    }
                    Ok(data) => {
                        buffer.extend_from_slice(&data);
                        if buffer.len() >= *this.max {
                            break;
                        }
                    }
                    Err(other) => {
                        // Trailers: send what we have, then them.
                        if buffer.is_empty() {
                            return Poll::Ready(Some(Ok(other)));
                        }
                        *this.pending = Some(other);
                        break;
                    }
                },
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    *this.done = true;
                    break;
                }
                Poll::Pending if buffer.is_empty() => return Poll::Pending,
                Poll::Pending => break,
            }
        }
        if buffer.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(Ok(http_body::Frame::data(buffer.freeze()))))
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_none() && (self.done || self.inner.is_end_stream())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
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

/// The JSON error body of every error answer: `{"error": message}`.
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

impl crate::HttpError for BodyError {
    fn status(&self) -> StatusCode {
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
                drop(chunks);
                // Read to its end first, so the 413 is not lost to a reset (the
                // runtime's read_timeout ends a stalled body with an error).
                crate::unread::drain(body, crate::unread::DRAIN_TIME).await;
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
    use crate::HttpError;

    /// What is sent after the limit is still read, so the 413 is not lost to a reset.
    #[tokio::test]
    async fn a_refused_body_is_read_to_its_end() {
        let polled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = polled.clone();
        let chunks = futures_util::stream::iter((0..10).map(move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(vec![0u8; 1000])))
        }));
        let body = stream(http_body_util::StreamBody::new(chunks));
        let err = read(body, 1500).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 1500 }));
        assert_eq!(polled.load(std::sync::atomic::Ordering::SeqCst), 10);
    }

    #[tokio::test]
    async fn read_refuses_bodies_over_the_limit() {
        assert_eq!(read(full("hello"), 5).await.unwrap(), Bytes::from("hello"));
        let err = read(full("hello!"), 5).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 5 }));
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn coalesce_merges_ready_frames_up_to_the_limit() {
        let pieces: Vec<Result<http_body::Frame<Bytes>, std::convert::Infallible>> = (0..10)
            .map(|i| Ok(http_body::Frame::data(Bytes::from(vec![i as u8; 4]))))
            .collect();
        let stream = http_body_util::StreamBody::new(futures_util::stream::iter(pieces));
        let mut merged = Coalesce::new(stream, 16);
        let mut sizes = Vec::new();
        let mut all = Vec::new();
        while let Some(frame) = merged.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            sizes.push(data.len());
            all.extend_from_slice(&data);
        }
        assert_eq!(sizes, vec![16, 16, 8]);
        assert_eq!(all.len(), 40);
        assert_eq!(&all[..8], &[0, 0, 0, 0, 1, 1, 1, 1], "order kept");
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

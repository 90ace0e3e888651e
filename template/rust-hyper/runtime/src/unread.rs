//! Request bodies a handler answers without reading are still read, in the background.
//!
//! A handler may refuse a call before it reads the body (a wrong content type, a refused
//! callback URL, a missing object). If the server then closed the connection with the
//! client's upload still arriving, the kernel would reset it, and the reset can overtake
//! the answer: the client sees a broken pipe or a reset instead of the 4xx, and a gateway
//! in between reports 502. So a body dropped before its end is read to its end, and
//! thrown away, by a task of its own while the answer goes out: for at most [`DRAIN_TIME`],
//! and only while the client keeps sending (a stalled upload is not waited for).

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// How long a body nobody reads is still read (and dropped) so that the answer reaches
/// the client; the connection closes after it at the latest.
pub(crate) const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Reads `body` to its end (or its first error), for at most [`DRAIN_TIME`], giving up
/// when no frame arrives for `idle`.
pub(crate) async fn drain<B: HttpBody + Unpin>(mut body: B, idle: Duration) {
    let rest =
        async { while let Ok(Some(Ok(_))) = tokio::time::timeout(idle, body.frame()).await {} };
    let _ = tokio::time::timeout(DRAIN_TIME, rest).await;
}

/// A body that, dropped before its end, is drained by a spawned task (see the module
/// doc). Wraps the connection's body, beneath the runtime's limits.
pub(crate) struct DrainOnDrop<B: HttpBody + Unpin + Send + 'static> {
    inner: Option<B>,
    ended: bool,
    /// The longest pause between frames the drain waits through (`read_timeout`).
    idle: Duration,
}

impl<B: HttpBody + Unpin + Send + 'static> DrainOnDrop<B> {
    pub(crate) fn new(inner: B, idle: Duration) -> Self {
        DrainOnDrop {
            inner: Some(inner),
            ended: false,
            idle,
        }
    }
}

impl<B> HttpBody for DrainOnDrop<B>
where
    B: HttpBody<Data = Bytes> + Unpin + Send + 'static,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map(|b| b.size_hint())
            .unwrap_or_else(|| SizeHint::with_exact(0))
    }
}

impl<B: HttpBody + Unpin + Send + 'static> Drop for DrainOnDrop<B> {
    fn drop(&mut self) {
        let Some(body) = self.inner.take() else {
            return;
        };
        if self.ended || body.is_end_stream() {
            return;
        }
        // Outside a runtime (a test dropping a body by hand) there is nothing to drain for.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(drain(body, self.idle));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counted_body(
        frames: usize,
        polled: Arc<AtomicUsize>,
    ) -> impl HttpBody<Data = Bytes, Error = std::convert::Infallible> + Unpin + Send + 'static
    {
        let chunks = futures_util::stream::iter((0..frames).map(move |_| {
            polled.fetch_add(1, Ordering::SeqCst);
            Ok(Frame::data(Bytes::from(vec![0u8; 1000])))
        }));
        http_body_util::StreamBody::new(chunks)
    }

    #[tokio::test]
    async fn a_body_dropped_unread_is_read_to_its_end() {
        let polled = Arc::new(AtomicUsize::new(0));
        let body = DrainOnDrop::new(counted_body(10, polled.clone()), DRAIN_TIME);
        drop(body);
        for _ in 0..100 {
            if polled.load(Ordering::SeqCst) == 10 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("drained {} of 10 frames", polled.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_body_read_to_its_end_is_passed_through_whole() {
        let polled = Arc::new(AtomicUsize::new(0));
        let body = DrainOnDrop::new(counted_body(3, polled.clone()), DRAIN_TIME);
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len(), 3000);
        assert_eq!(polled.load(Ordering::SeqCst), 3);
    }
}

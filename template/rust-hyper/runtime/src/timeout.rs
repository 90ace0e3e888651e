//! Body wrappers that turn a stalled or overlong transfer into an error instead of a hang.

use crate::body::{BodyError, BoxError};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::{Instant, Sleep, sleep};

pin_project_lite::pin_project! {
    /// Fails a body when no frame arrives for `idle` (a client trickling its upload),
    /// or when the whole transfer has not finished by `deadline` (a response that
    /// would outlive `write_timeout`).
    pub struct DeadlineBody<B> {
        #[pin]
        inner: B,
        #[pin]
        timer: Sleep,
        idle: Option<Duration>,
        // The idle clock starts when the handler first reads: a handler may hold a
        // request (waiting for a slot of its own) before it reads the body.
        reading: bool,
    }
}

impl<B> DeadlineBody<B> {
    /// A body that may pause at most `idle` between frames.
    pub fn idle(inner: B, idle: Duration) -> Self {
        DeadlineBody {
            inner,
            timer: sleep(idle),
            idle: Some(idle),
            reading: false,
        }
    }

    /// A body that must be complete within `total`.
    pub fn total(inner: B, total: Duration) -> Self {
        DeadlineBody {
            inner,
            timer: sleep(total),
            idle: None,
            reading: true,
        }
    }
}

impl<B> HttpBody for DeadlineBody<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if let (Some(idle), false) = (*this.idle, *this.reading) {
            *this.reading = true;
            this.timer.as_mut().reset(Instant::now() + idle);
        }
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            if let (Some(idle), Some(Ok(_))) = (*this.idle, &frame) {
                this.timer.as_mut().reset(Instant::now() + idle);
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        ready!(this.timer.poll(cx));
        Poll::Ready(Some(Err(Box::new(BodyError::Timeout))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body whose one frame arrives when `rx`'s sender delivers it.
    fn later(
        rx: tokio::sync::oneshot::Receiver<Bytes>,
    ) -> impl HttpBody<Data = Bytes, Error = BoxError> {
        let frame = async move { rx.await.map(Frame::data).map_err(BoxError::from) };
        http_body_util::StreamBody::new(futures_util::stream::once(frame))
    }

    #[tokio::test]
    async fn the_idle_clock_starts_at_the_first_read() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let body = DeadlineBody::idle(later(rx), Duration::from_millis(100));
        // Held unread for longer than the idle limit (a handler waiting for a slot),
        // then read: the first frame comes 30 ms into the read.
        tokio::time::sleep(Duration::from_millis(250)).await;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let _ = tx.send(Bytes::from_static(b"held"));
        });
        let bytes = body.collect().await.expect("not timed out").to_bytes();
        assert_eq!(&bytes[..], b"held");
    }

    #[tokio::test]
    async fn a_stalled_read_still_times_out() {
        let (_tx, rx) = tokio::sync::oneshot::channel::<Bytes>();
        let body = DeadlineBody::idle(later(rx), Duration::from_millis(50));
        assert!(body.collect().await.is_err());
    }
}

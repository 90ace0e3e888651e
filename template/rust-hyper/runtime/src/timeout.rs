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
    }
}

impl<B> DeadlineBody<B> {
    /// A body that may pause at most `idle` between frames.
    pub fn idle(inner: B, idle: Duration) -> Self {
        DeadlineBody {
            inner,
            timer: sleep(idle),
            idle: Some(idle),
        }
    }

    /// A body that must be complete within `total`.
    pub fn total(inner: B, total: Duration) -> Self {
        DeadlineBody {
            inner,
            timer: sleep(total),
            idle: None,
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

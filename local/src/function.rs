//! What one call does to a function's counters: a [`CallGuard`] counts the call as
//! started and in flight when it is made, and as finished when it is dropped — when the
//! answer's body has been sent, or when the client went away mid-call and the request
//! future was dropped. Counting on drop is what keeps `inFlight` (capacity scaling,
//! scale to zero) honest: raising and lowering it around an `.await` leaks one for every
//! dropped call.

use crate::supervisor::Function;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use openfaas_runtime::body::BoxError;
use openfaas_runtime::{Body, Response};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Instant;

/// One call in flight on a function; finished when dropped.
pub struct CallGuard {
    function: Arc<Function>,
}

impl CallGuard {
    /// Counts a new call on `function`.
    pub fn begin(function: &Arc<Function>) -> CallGuard {
        function.started.fetch_add(1, Ordering::SeqCst);
        function.in_flight.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut last) = function.last_request.lock() {
            *last = Instant::now();
        }
        CallGuard {
            function: function.clone(),
        }
    }

    /// The answer, with this guard riding on its body: the call stays in flight until
    /// the body is sent (or dropped).
    pub fn hold_until_sent(self, response: Response) -> Response {
        response.map(|inner| {
            use http_body_util::BodyExt;
            GuardedBody {
                inner,
                _guard: self,
            }
            .boxed_unsync()
        })
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.function.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.function.invocations.fetch_add(1, Ordering::SeqCst);
    }
}

/// A body that keeps a [`CallGuard`] alive while it is being sent.
struct GuardedBody {
    inner: Body,
    _guard: CallGuard,
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

//! The one rule for answering with an error. Each crate's error type says which status
//! each of its failures is ([`HttpError::status`], the one place that decides it), and
//! [`HttpError::into_response`] writes them all alike.

use crate::{Response, body};
use http::StatusCode;

/// An error that becomes an HTTP answer.
pub trait HttpError: std::fmt::Display + Sized {
    /// The status a caller gets for this failure.
    fn status(&self) -> StatusCode;

    /// `{"error": message}` with [`status`](Self::status). A server-side failure (5xx)
    /// is logged at warn, a refused request (4xx) at info.
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, status = status.as_u16(), "request failed");
        } else {
            tracing::info!(error = %self, status = status.as_u16(), "request refused");
        }
        body::error(status, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[derive(Debug)]
    struct Teapot;

    impl std::fmt::Display for Teapot {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("short and stout")
        }
    }

    impl HttpError for Teapot {
        fn status(&self) -> StatusCode {
            StatusCode::IM_A_TEAPOT
        }
    }

    #[tokio::test]
    async fn answers_with_the_status_and_a_json_error() {
        let response = Teapot.into_response();
        assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
        assert_eq!(response.headers()["content-type"], "application/json");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json, serde_json::json!({"error": "short and stout"}));
    }
}

//! Why `get-object` could not answer, and the status each reason maps to.

use greyfaas_store::{PathError, StoreError};
use http::{HeaderValue, StatusCode, header};
use openfaas_runtime::{HttpError, Response, body};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("only GET and HEAD are supported")]
    Method,
    #[error(transparent)]
    Path(#[from] PathError),
    /// The `Range` selects nothing of the object, `length` bytes long.
    #[error("range not satisfiable: the object is {length} bytes")]
    RangeNotSatisfiable { length: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl HttpError for Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::Method => StatusCode::METHOD_NOT_ALLOWED,
            Error::Path(_) => StatusCode::BAD_REQUEST,
            Error::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Error::Store(e) => greyfaas_api::store_status(e),
        }
    }

    /// As the runtime writes every error, and a 416 also says the object's length
    /// (`Content-Range: bytes */<length>`, RFC 9110 §15.5.17) so a client can retry.
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, status = status.as_u16(), "request failed");
        } else {
            tracing::info!(error = %self, status = status.as_u16(), "request refused");
        }
        let length = match &self {
            Error::RangeNotSatisfiable { length } => Some(*length),
            _ => None,
        };
        let mut response = body::error(status, self);
        if let Some(length) = length
            && let Ok(v) = HeaderValue::from_str(&format!("bytes */{length}"))
        {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        response
    }
}

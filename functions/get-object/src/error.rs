//! Why `get-object` could not answer, and the status each reason maps to.

use greyfaas_store::{PathError, StoreError};
use http::StatusCode;
use openfaas_runtime::{Response, body};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("only GET and HEAD are supported")]
    Method,
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("unsupported Range {0:?}: only byte ranges are served")]
    BadRange(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Method => StatusCode::METHOD_NOT_ALLOWED,
            Error::Path(_) | Error::BadRange(_) => StatusCode::BAD_REQUEST,
            Error::Store(e) => e.status(),
        }
    }

    pub fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        body::error(self.status(), self)
    }
}

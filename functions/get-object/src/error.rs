//! Why `get-object` could not answer, and the status each reason maps to.

use greyfaas_store::{PathError, StoreError};
use http::StatusCode;
use openfaas_runtime::HttpError;

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

impl HttpError for Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::Method => StatusCode::METHOD_NOT_ALLOWED,
            Error::Path(_) | Error::BadRange(_) => StatusCode::BAD_REQUEST,
            Error::Store(e) => greyfaas_api::store_status(e),
        }
    }
}

//! Why `gallery` could not answer, and the status each reason maps to.

use greyfaas_store::StoreError;
use http::StatusCode;
use openfaas_runtime::{BodyError, HttpError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such page: {0} (the gallery serves /, /api/gallery and POST /upload)")]
    NoRoute(String),
    #[error("use {0}")]
    Method(&'static str),
    #[error("invalid query: {0}")]
    Query(String),
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("not a supported image: send JPEG, PNG, GIF or WebP")]
    NotImage,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl HttpError for Error {
    /// The one place that maps failures to HTTP statuses.
    fn status(&self) -> StatusCode {
        match self {
            Error::NoRoute(_) => StatusCode::NOT_FOUND,
            Error::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Query(_) => StatusCode::BAD_REQUEST,
            Error::Body(e) => e.status(),
            Error::NotImage => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Store(e) => greyfaas_api::store_status(e),
        }
    }
}

//! Why fetch-incoming could not store an image, and the status each reason maps to.

use greyfaas_ssrf_guard::Refused;
use greyfaas_store::StoreError;
use http::StatusCode;
use openfaas_runtime::{BodyError, HttpError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("use POST with {{\"url\": \"https://…\"}}")]
    Method,
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("invalid request: {0}")]
    Json(#[from] greyfaas_api::JsonError),
    #[error("invalid request: {0}")]
    Fields(&'static str),
    #[error("a batch holds 1 to {max} URLs, not {len}")]
    Batch { len: usize, max: usize },
    #[error("invalid URL {0}")]
    BadUrl(String),
    #[error(transparent)]
    Forbidden(#[from] Refused),
    #[error("the download timed out: {0}")]
    Timeout(String),
    #[error("cannot reach the host: {0}")]
    Unreachable(String),
    #[error("the download failed: {0}")]
    Upstream(String),
    #[error("the download is larger than {0} bytes")]
    TooLarge(u64),
    #[error("not a supported image (JPEG, PNG, GIF or WebP)")]
    NotImage,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl HttpError for Error {
    /// The one place that maps failures to HTTP statuses.
    fn status(&self) -> StatusCode {
        match self {
            Error::Method => StatusCode::METHOD_NOT_ALLOWED,
            Error::NotImage => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Body(e) => e.status(),
            Error::Json(_) | Error::Fields(_) | Error::BadUrl(_) => StatusCode::BAD_REQUEST,
            Error::Batch { len, .. } if *len == 0 => StatusCode::BAD_REQUEST,
            Error::Batch { .. } | Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Error::Unreachable(_) | Error::Upstream(_) => StatusCode::BAD_GATEWAY,
            Error::Store(e) => greyfaas_api::store_status(e),
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

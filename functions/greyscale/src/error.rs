//! Why greyscale could not answer, and the status each reason maps to.

use crate::convert::ConvertError;
use greyfaas_store::{PathError, StoreError};
use http::StatusCode;
use openfaas_runtime::{BodyError, HttpError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("use POST with {{\"path\": \"/incoming/<sha256>\"}}, {{\"url\": …}} or an image")]
    Method,
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("invalid request: {0}")]
    Json(#[from] greyfaas_api::JsonError),
    #[error("invalid request: {0}")]
    Fields(&'static str),
    #[error("a batch holds 1 to {max} paths, not {len}")]
    Batch { len: usize, max: usize },
    #[error(transparent)]
    Path(#[from] PathError),
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{1}")]
    Chain(StatusCode, String),
    #[error(transparent)]
    Busy(#[from] crate::slots::Busy),
    #[error("internal error: {0}")]
    Internal(String),
}

impl HttpError for Error {
    /// The one place that maps failures to HTTP statuses.
    fn status(&self) -> StatusCode {
        match self {
            Error::Method => StatusCode::METHOD_NOT_ALLOWED,
            Error::Body(e) => e.status(),
            Error::Json(_) | Error::Fields(_) | Error::Path(_) => StatusCode::BAD_REQUEST,
            Error::Batch { len, .. } if *len == 0 => StatusCode::BAD_REQUEST,
            Error::Batch { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Convert(e) => match e {
                ConvertError::NotImage | ConvertError::Unsupported(_) => {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE
                }
                ConvertError::TooManyPixels { .. } | ConvertError::TooManyFrames(_) => {
                    StatusCode::PAYLOAD_TOO_LARGE
                }
                ConvertError::Corrupt(_) => StatusCode::UNPROCESSABLE_ENTITY,
                ConvertError::Encode(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Error::Store(e) => greyfaas_api::store_status(e),
            Error::Chain(status, _) => *status,
            Error::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

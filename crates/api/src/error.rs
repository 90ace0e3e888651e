//! What the functions' shared request steps refuse, and the status of each: one type,
//! so fetch-incoming, greyscale and gallery answer the same mistake the same way.

use crate::request::JsonError;
pub use greyfaas_store::StoreError;
use http::StatusCode;
pub use openfaas_runtime::BodyError;
use openfaas_runtime::HttpError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The method is not the function's: "use {0}" says which is.
    #[error("use {0}")]
    Method(&'static str),
    /// The body could not be read: too large, too slow, or cut off.
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("invalid request: {0}")]
    Json(#[from] JsonError),
    /// The document parsed, but holds the wrong fields.
    #[error("invalid request: {0}")]
    Fields(&'static str),
    #[error("a batch holds 1 to {max} {items}, not {len}")]
    Batch {
        items: &'static str,
        len: usize,
        max: usize,
    },
    #[error("not a supported image: send JPEG, PNG, GIF or WebP")]
    NotImage,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fault of ours, not the caller's (logged, answered 500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl HttpError for ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Body(e) => e.status(),
            ApiError::Json(_) | ApiError::Fields(_) => StatusCode::BAD_REQUEST,
            ApiError::Batch { len: 0, .. } => StatusCode::BAD_REQUEST,
            ApiError::Batch { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotImage => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Store(e) => store_status(e),
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Lets `?` take a shared step's failure (reading a body, the store) into a function's
/// error type through its `Api(ApiError)` variant: `greyfaas_api::from_api_errors!(Error);`.
#[macro_export]
macro_rules! from_api_errors {
    ($error:ty) => {
        impl From<$crate::error::BodyError> for $error {
            fn from(e: $crate::error::BodyError) -> Self {
                Self::Api(e.into())
            }
        }

        impl From<$crate::error::StoreError> for $error {
            fn from(e: $crate::error::StoreError) -> Self {
                Self::Api(e.into())
            }
        }
    };
}

/// What a caller is told when the store fails: 503 while it is down or unconfigured
/// (try again), 404 for a missing object, 413 for one over the caller's limit (the same
/// limit as a request body), 502 when it answers but not as S3 should.
pub fn store_status(err: &StoreError) -> StatusCode {
    match err {
        StoreError::Unavailable(_) | StoreError::Config(_) => StatusCode::SERVICE_UNAVAILABLE,
        StoreError::NotFound(_) => StatusCode::NOT_FOUND,
        StoreError::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
        StoreError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        StoreError::Rejected(_) => StatusCode::BAD_GATEWAY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_batch_is_400_and_an_oversized_one_413() {
        let batch = |len| ApiError::Batch {
            items: "URLs",
            len,
            max: 16,
        };
        assert_eq!(batch(0).status(), StatusCode::BAD_REQUEST);
        assert_eq!(batch(17).status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(batch(17).to_string(), "a batch holds 1 to 16 URLs, not 17");
    }

    #[test]
    fn a_store_that_is_down_is_503_and_an_oversized_object_413() {
        let down = StoreError::Unavailable("connection refused".into());
        assert_eq!(
            ApiError::from(down).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let big = StoreError::TooLarge {
            what: "x".into(),
            size: 2,
            limit: 1,
        };
        assert_eq!(store_status(&big), StatusCode::PAYLOAD_TOO_LARGE);
    }
}

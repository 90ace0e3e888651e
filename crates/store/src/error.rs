//! What can go wrong talking to the store.
//!
//! A failure's `Display` is what a caller is told, so it is short and fixed: the SDK's
//! own report (its Debug dump of connectors and sources, ~1 KB) is kept in the variant
//! for the log only, where [`StoreError::from_sdk`] writes it.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached, timed out or is failing (try again later). The
    /// detail is for the log, never for the caller.
    #[error("object store is unavailable")]
    Unavailable(String),
    /// The object (or its bucket) does not exist.
    #[error("no such object: {0}")]
    NotFound(String),
    /// A `Range` outside the object.
    #[error("range not satisfiable")]
    RangeNotSatisfiable,
    /// The object is larger than the caller will read.
    #[error("{what} is {size} bytes, over the {limit}-byte limit")]
    TooLarge { what: String, size: u64, limit: u64 },
    /// The store answered, but not as S3 should. The detail is for the log only.
    #[error("object store refused the request")]
    Rejected(String),
    /// The store settings are unusable (no credentials).
    #[error("object store is not configured: {0}")]
    Config(#[from] crate::config::ConfigError),
}

impl StoreError {
    /// Sorts an SDK failure: unreachable/timeouts/5xx are `Unavailable`, 404 is
    /// `NotFound`, anything else `Rejected`.
    pub(crate) fn from_sdk<E, R>(err: SdkError<E, R>, what: &str) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        let detail = DisplayErrorContext(&err).to_string();
        let sorted = match &err {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                StoreError::Unavailable(detail)
            }
            SdkError::ServiceError(service) => {
                let status = service.raw().status_code();
                match (status, service.err().code()) {
                    (404, _) | (_, Some("NoSuchKey" | "NoSuchBucket" | "NotFound")) => {
                        StoreError::NotFound(what.to_string())
                    }
                    (416, _) | (_, Some("InvalidRange")) => StoreError::RangeNotSatisfiable,
                    (500.., _) | (_, Some("SlowDown" | "ServiceUnavailable")) => {
                        StoreError::Unavailable(detail)
                    }
                    _ => StoreError::Rejected(detail),
                }
            }
            _ => StoreError::Rejected(detail),
        };
        if let StoreError::Unavailable(detail) | StoreError::Rejected(detail) = &sorted {
            tracing::warn!(object = what, error = %sorted, detail, "store request failed");
        }
        sorted
    }

    /// `Unavailable` for a failure outside the SDK's calls (a body cut off mid-read),
    /// its detail logged as `from_sdk` logs the SDK's.
    pub(crate) fn unavailable(detail: String) -> StoreError {
        tracing::warn!(detail, "store read failed");
        StoreError::Unavailable(detail)
    }

    /// What the log gets beyond the caller's message: the SDK's report, if any.
    pub fn detail(&self) -> Option<&str> {
        match self {
            StoreError::Unavailable(detail) | StoreError::Rejected(detail) => Some(detail),
            _ => None,
        }
    }
}

/// A raw HTTP response's status, whatever the SDK wraps it in.
pub(crate) trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

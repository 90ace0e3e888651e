//! Why `gallery` could not answer, and the status each reason maps to.

use greyfaas_api::ApiError;
use http::StatusCode;
use openfaas_runtime::HttpError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such page: {0} (the gallery serves /, /api/gallery and POST /upload)")]
    NoRoute(String),
    #[error("invalid query: {0}")]
    Query(String),
    /// Reading or storing an upload, or listing the store.
    #[error(transparent)]
    Api(#[from] ApiError),
}

greyfaas_api::from_api_errors!(Error);

impl HttpError for Error {
    /// The one place that maps failures to HTTP statuses.
    fn status(&self) -> StatusCode {
        match self {
            Error::NoRoute(_) => StatusCode::NOT_FOUND,
            Error::Query(_) => StatusCode::BAD_REQUEST,
            Error::Api(e) => e.status(),
        }
    }
}

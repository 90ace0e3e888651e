//! Why fetch-incoming could not store an image, and the status each reason maps to.

use greyfaas_api::ApiError;
use greyfaas_ssrf_guard::Refused;
use http::StatusCode;
use openfaas_runtime::HttpError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the request, or storing the image.
    #[error(transparent)]
    Api(#[from] ApiError),
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
}

greyfaas_api::from_api_errors!(Error);

impl HttpError for Error {
    /// The one place that maps failures to HTTP statuses.
    fn status(&self) -> StatusCode {
        match self {
            Error::Api(e) => e.status(),
            Error::BadUrl(_) => StatusCode::BAD_REQUEST,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Error::Unreachable(_) | Error::Upstream(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

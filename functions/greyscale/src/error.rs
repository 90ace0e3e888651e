//! Why greyscale could not answer, and the status each reason maps to.

use crate::slots::Refused;
use greyfaas_api::ApiError;
use greyfaas_image_kernel::ConvertError;
use greyfaas_store::PathError;
use http::StatusCode;
use openfaas_runtime::HttpError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the request, or the store.
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Path(#[from] PathError),
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error("{1}")]
    Chain(StatusCode, String),
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The conversion panicked (a bug of ours): the panic's text is logged, not sent.
    #[error("internal error: the conversion failed")]
    ConversionPanicked,
}

greyfaas_api::from_api_errors!(Error);

impl HttpError for Error {
    /// The one place that maps failures to HTTP statuses.
    fn status(&self) -> StatusCode {
        match self {
            Error::Api(e) => e.status(),
            Error::Path(_) => StatusCode::BAD_REQUEST,
            Error::Convert(e) => match e {
                ConvertError::NotImage | ConvertError::Unsupported(_) => {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE
                }
                // Over a limit that has a setting (or, for the scan work, follows from
                // the image's size): the image is too big for this function as set
                // up, not damaged, so 413 as for pixels and frames, not 422.
                ConvertError::TooManyPixels { .. }
                | ConvertError::TooManyFrames(_)
                | ConvertError::TooManyAnimationPixels { .. }
                | ConvertError::TooManyScans(_)
                | ConvertError::TooMuchWork(_) => StatusCode::PAYLOAD_TOO_LARGE,
                ConvertError::Corrupt(_) => StatusCode::UNPROCESSABLE_ENTITY,
                ConvertError::Encode(_) => StatusCode::INTERNAL_SERVER_ERROR,
                // Seen only if a cancelled request is still answered (nobody waits).
                ConvertError::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
            },
            Error::Chain(status, _) => *status,
            Error::Refused(Refused::NoSlot { .. } | Refused::NoMemory { .. }) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Error::Refused(Refused::OverBudget { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::ConversionPanicked => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

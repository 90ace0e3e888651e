//! Why the gateway could not answer, and the status each reason maps to (as the
//! OpenFaaS gateway answers them): the one place statuses are chosen. Modules with
//! errors of their own convert them into this where they meet HTTP.

use http::{HeaderValue, StatusCode, header};
use openfaas_runtime::{Response, body};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("error finding function {0}: not found")]
    NoFunction(String),
    #[error("no route for {0}")]
    NoRoute(String),
    #[error("method not allowed: use {0}")]
    Method(&'static str),
    #[error("No endpoints available for: {0}.")]
    NoReplica(String),
    #[error("upstream error: {0}")]
    Upstream(String),
    #[error("{1}")]
    Body(StatusCode, String),
    /// An `X-Callback-Url` refused (the queue's `CallbackError`, as text).
    #[error("{0}")]
    BadCallback(String),
    /// The async queue is full, by count or by bytes (the queue's message).
    #[error("{0}")]
    QueueFull(String),
    /// The async queue could not put a call on disk (a full disk): not accepted.
    #[error("{0}")]
    QueueStorage(String),
    #[error("{0}")]
    ScaleToZero(&'static str),
    #[error("invalid credentials")]
    Unauthorized,
    #[error("invalid request: {0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    Unprocessable(String),
    /// A Host that is not loopback nor a `--public-host` name (DNS rebinding).
    #[error("this gateway does not answer for host {0:?}; add it with greyfaas up --public-host")]
    MisdirectedHost(String),
    /// An admin request sent from another site's page.
    #[error("cross-site requests to /system/* are refused ({0})")]
    CrossSite(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// An `X-Call-Id` already used by another async call.
    #[error("X-Call-Id {0:?} is already used by another async call; send a new id, or none")]
    CallIdInUse(String),
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::NoFunction(_) | GatewayError::NoRoute(_) | GatewayError::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            GatewayError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            GatewayError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            GatewayError::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::NoReplica(_) | GatewayError::QueueStorage(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            GatewayError::Upstream(_) => StatusCode::BAD_GATEWAY,
            GatewayError::Body(status, _) => *status,
            GatewayError::BadCallback(_)
            | GatewayError::BadRequest(_)
            | GatewayError::ScaleToZero(_) => StatusCode::BAD_REQUEST,
            GatewayError::QueueFull(_) => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::Unauthorized => StatusCode::UNAUTHORIZED,
            GatewayError::MisdirectedHost(_) => StatusCode::MISDIRECTED_REQUEST,
            GatewayError::CrossSite(_) => StatusCode::FORBIDDEN,
            GatewayError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            GatewayError::CallIdInUse(_) => StatusCode::CONFLICT,
        }
    }

    pub fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::warn!(error = %self, "gateway error");
        }
        let mut response = body::error(self.status(), &self);
        if matches!(self, GatewayError::Unauthorized) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Restricted\""),
            );
        }
        response
    }
}

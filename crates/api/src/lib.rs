//! The HTTP API the greyfaas functions share, drawn in one place so that the storage
//! crate (`greyfaas-store`) stays storage-only.
//!
//! - [`request`]: whether a body is read as JSON or as an image, and JSON with a depth limit.
//! - [`answer`]: `201 {"path": …}` with its `Location`, and batch reports (207).
//! - [`store_status`]: the HTTP status of each store failure.

pub mod answer;
pub mod request;

pub use answer::{batch_response, created, location, outcome, run_batch};
pub use request::{
    JsonError, accepts_json, declares_image, looks_like_json, media_type, parse_json,
};

use greyfaas_store::StoreError;
use http::StatusCode;

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

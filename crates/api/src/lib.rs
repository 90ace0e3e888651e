//! The HTTP API the greyfaas functions share, drawn in one place so that the storage
//! crate (`greyfaas-store`) stays storage-only.
//!
//! - [`request`]: whether a body is read as JSON or as an image, and JSON with a depth limit.
//! - [`answer`]: `201 {"path": …}` with its `Location`, and batch reports (207).
//! - [`upload`]: a raw image body stored in `incoming`.
//! - [`error`]: what these steps refuse ([`ApiError`]), and the status of each store
//!   failure ([`store_status`]).

pub mod answer;
pub mod error;
pub mod request;
pub mod upload;

pub use answer::{Batch, created, location};
pub use error::{ApiError, store_status};
pub use request::{
    JsonError, accepts_json, declares_image, looks_like_json, media_type, parse_json,
};
pub use upload::store_upload;

//! The object store every greyfaas function shares.
//!
//! Objects are content-addressed: an object's name is the lowercase hex SHA-256 of its
//! bytes, so a name proves its content and storing the same bytes twice is one object.
//! Two areas exist — `incoming` (downloads) and `processed` (results) — addressed as
//! `/incoming/<sha256>` and `/processed/<sha256>`.
//!
//! - [`config`]: endpoint, region, buckets and credentials (secret files first).
//! - [`name`]: object names, paths and the hasher that makes names.
//! - [`store`]: the S3 client (built once per process) and its operations.
//! - `server` (feature `server`): an S3 server over a folder, for greyfaas and tests.
//! - [`error`]: what can go wrong (the functions' shared API, `greyfaas-api`, says
//!   what each failure means over HTTP).

pub mod config;
pub mod error;
pub mod name;
#[cfg(feature = "server")]
pub mod server;
pub mod store;

pub use config::{ConfigError, StoreConfig};
pub use error::StoreError;
/// Which image format stored bytes are (the `greyfaas-image-format` crate's).
pub use greyfaas_image_format::ImageFormat;
pub use name::{Area, NameHasher, ObjectName, ObjectPath, PathError};
pub use store::{
    ByteRange, ListedObject, ObjectInfo, SOURCE_METADATA, Store, StoreSource, StoredObject,
};

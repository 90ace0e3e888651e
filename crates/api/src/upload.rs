//! An image posted raw as a request body, stored in `incoming` under its SHA-256: the
//! start of the pipeline with no URL to download from (fetch-incoming's raw posts,
//! the gallery's uploads).

use crate::ApiError;
use greyfaas_store::{Area, ImageFormat, ObjectPath, StoreSource};
use openfaas_runtime::{Body, body};

/// Reads `request_body` (at most `max_bytes`), checks that it is an image, stores it.
pub async fn store_upload(
    request_body: Body,
    max_bytes: u64,
    store: StoreSource<'_>,
) -> Result<ObjectPath, ApiError> {
    let bytes = body::read(request_body, max_bytes).await?;
    // The format comes from the bytes, never from the sender's Content-Type.
    let format = ImageFormat::sniff(&bytes).ok_or(ApiError::NotImage)?;
    let path = store
        .get()?
        .put(Area::Incoming, bytes, format.mime())
        .await?;
    tracing::info!(%path, "uploaded");
    Ok(path)
}

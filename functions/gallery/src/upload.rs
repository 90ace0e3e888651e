//! `POST /upload`: a local image, posted raw by the page, stored in `incoming` under its
//! SHA-256 — the same place and name fetch-incoming gives a download — so the page can
//! then ask greyscale to convert it by path, as for any stored original.

use crate::error::Error;
use greyfaas_store::{Area, ImageFormat, ObjectPath, Store};
use openfaas_runtime::{Body, body};

pub async fn store_original(request_body: Body, max_bytes: u64) -> Result<ObjectPath, Error> {
    let bytes = body::read(request_body, max_bytes).await?;
    // The format comes from the bytes, never from the browser's Content-Type.
    let format = ImageFormat::sniff(&bytes).ok_or(Error::NotImage)?;
    let path = Store::shared()?
        .put(Area::Incoming, bytes, format.mime())
        .await?;
    tracing::info!(%path, "uploaded");
    Ok(path)
}

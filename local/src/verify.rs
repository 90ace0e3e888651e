//! `greyfaas verify`: every object in both buckets must be named by the SHA-256 of its
//! content, and its content must decode as an image of its stored Content-Type.

use crate::supervisor::store::{StoreArgs, StoreHandle, StoreStartError};
use greyfaas_store::{Area, ImageFormat, ObjectName, Store, StoreError};
use std::path::Path;

/// Why the store could not be scanned (a bad object is a finding, not an error).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreStartError),
    #[error("cannot scan the store: {0}")]
    Scan(#[from] StoreError),
}

/// `greyfaas verify`: starts the store (or uses the external one), scans it, prints
/// each bad object and a summary line; whether every object is good.
pub async fn run(args: StoreArgs) -> Result<bool, VerifyError> {
    let data = args.data_dir(Path::new("."));
    let handle = StoreHandle::start(&args, &data).await?;
    let scanned = match handle.client(&data) {
        Ok(store) => scan(&store).await.map_err(VerifyError::from),
        Err(e) => Err(e.into()),
    };
    handle.stop().await;
    let report = scanned?;
    for bad in &report.bad {
        println!("BAD {bad}");
    }
    println!(
        "verify: {} objects checked, {} bad",
        report.checked,
        report.bad.len()
    );
    Ok(report.bad.is_empty())
}

/// The outcome of a scan.
#[derive(Debug, Default)]
pub struct Report {
    pub checked: usize,
    pub bad: Vec<String>,
}

/// Checks every object; a failure to reach the store is an error, a bad object is not.
pub async fn scan(store: &Store) -> Result<Report, StoreError> {
    let mut report = Report::default();
    for area in Area::ALL {
        let keys = match store.list(area).await {
            Ok(keys) => keys,
            Err(StoreError::NotFound(_)) => continue, // bucket not created yet
            Err(e) => return Err(e),
        };
        for key in keys {
            report.checked += 1;
            let (bytes, content_type) = store.read_key(area, &key).await?;
            let actual = ObjectName::of(&bytes);
            let problem = if actual.as_str() != key {
                Some(format!("name is not the sha256 of the content ({actual})"))
            } else {
                match ImageFormat::sniff(&bytes) {
                    None => Some("content is not an image".to_string()),
                    Some(format) if format.mime() != content_type => Some(format!(
                        "Content-Type {content_type:?} but the content is {}",
                        format.mime()
                    )),
                    Some(_) => image::load_from_memory(&bytes)
                        .err()
                        .map(|e| format!("does not decode: {e}")),
                }
            };
            if let Some(problem) = problem {
                report
                    .bad
                    .push(format!("/{}/{key}: {problem}", area.as_str()));
            }
        }
    }
    Ok(report)
}

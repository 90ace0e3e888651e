//! The S3 client, built once per process, and the operations the functions need.

use crate::StoreConfig;
use crate::error::StoreError;
use crate::name::{Area, ObjectName, ObjectPath};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use base64::Engine;
use bytes::Bytes;
use once_cell::sync::OnceCell;
use std::time::Duration;

/// A connected store. Cheap to share: functions find theirs through a [`StoreSource`].
pub struct Store {
    client: Client,
    config: StoreConfig,
    buckets_ready: tokio::sync::OnceCell<()>,
}

/// What the store knows about an object.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub content_type: String,
    pub content_length: u64,
    /// For a derived object (a greyscale result): the path of the object it was made
    /// from, kept as the object's S3 user metadata [`SOURCE_METADATA`].
    pub source: Option<String>,
}

/// The user-metadata key (`x-amz-meta-source`) that names a derived object's source.
/// Kept on the object itself, so the mapping lives as long as the object, in every
/// S3-compatible store (s3s-fs and MinIO both keep user metadata).
pub const SOURCE_METADATA: &str = "source";

/// One entry of a bucket listing.
#[derive(Debug, Clone)]
pub struct ListedObject {
    pub name: String,
    pub size: u64,
    /// Milliseconds since the Unix epoch (0 when the store did not say).
    pub last_modified_ms: i64,
}

/// An absolute, inclusive byte range `first..=last` that a caller has checked against
/// the object's length: the only range the store is sent (the caller parses the
/// client's `Range`, so no client text reaches the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

impl ByteRange {
    /// As S3 takes it: `bytes=<first>-<last>`.
    pub fn header(&self) -> String {
        format!("bytes={}-{}", self.first, self.last)
    }

    /// How many bytes it covers.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Never true (first <= last); for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// An object being read: its metadata and its bytes as a stream.
pub struct StoredObject {
    pub info: ObjectInfo,
    /// Set for a range read: `bytes <first>-<last>/<total>`.
    pub content_range: Option<String>,
    pub body: ByteStream,
}

impl ObjectInfo {
    /// From S3's optional headers: unknown type is generic binary, unknown length 0.
    fn from_headers(
        content_type: Option<String>,
        content_length: Option<i64>,
        metadata: Option<&std::collections::HashMap<String, String>>,
    ) -> ObjectInfo {
        ObjectInfo {
            content_type: content_type.unwrap_or_else(|| "application/octet-stream".into()),
            content_length: content_length
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            source: metadata.and_then(|m| m.get(SOURCE_METADATA).cloned()),
        }
    }
}

static SHARED: OnceCell<Store> = OnceCell::new();

/// Where a function finds its store: the process's own, configured from the environment
/// when a call first needs it (so a call that needs no store never fails on a missing
/// secret), or one handed in, as a function's own tests hand in an in-process store.
#[derive(Clone, Copy)]
pub enum StoreSource<'s> {
    FromEnv,
    Given(&'s Store),
}

impl<'s> StoreSource<'s> {
    /// The store, connecting the process's own on first use.
    pub fn get(self) -> Result<&'s Store, StoreError> {
        match self {
            StoreSource::FromEnv => Store::shared(),
            StoreSource::Given(store) => Ok(store),
        }
    }
}

impl Store {
    /// The process-wide store, configured from the environment on first use.
    fn shared() -> Result<&'static Store, StoreError> {
        SHARED.get_or_try_init(|| Ok(Store::new(StoreConfig::from_env()?)))
    }

    /// A store client for `config`: path-style addressing (MinIO needs it), short
    /// connect and attempt timeouts so a store that is down is reported, not waited on.
    pub fn new(config: StoreConfig) -> Store {
        let credentials = Credentials::new(
            &config.access_key,
            &config.secret_key,
            None,
            None,
            "greyfaas-secrets",
        );
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(2))
            .operation_attempt_timeout(Duration::from_secs(10))
            .operation_timeout(Duration::from_secs(25))
            .build();
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let s3 = aws_sdk_s3::Config::builder()
            .http_client(https)
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(&config.endpoint)
            .region(Region::new(config.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(true)
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            // We send our own SHA-256 checksum on writes; the SDK's default CRC32
            // trailers are not understood by every S3-compatible server.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        Store {
            client: Client::from_conf(s3),
            config,
            buckets_ready: tokio::sync::OnceCell::new(),
        }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The bucket behind an area.
    pub fn bucket(&self, area: Area) -> &str {
        match area {
            Area::Incoming => &self.config.incoming_bucket,
            Area::Processed => &self.config.processed_bucket,
        }
    }

    /// Creates both buckets if they are missing. Idempotent and safe when replicas
    /// race: "already exists" counts as success. Done once per process.
    pub async fn ensure_buckets(&self) -> Result<(), StoreError> {
        self.buckets_ready
            .get_or_try_init(|| async {
                for area in Area::ALL {
                    self.create_bucket(self.bucket(area)).await?;
                }
                Ok::<(), StoreError>(())
            })
            .await
            .map(|_| ())
    }

    async fn create_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => return Ok(()),
            Err(err) => match StoreError::from_sdk(err, bucket) {
                StoreError::NotFound(_) => {}
                other => return Err(other),
            },
        }
        match self.client.create_bucket().bucket(bucket).send().await {
            Ok(_) => {
                tracing::info!(bucket, "created bucket");
                Ok(())
            }
            Err(err) => {
                let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&err).map(str::to_owned);
                if matches!(
                    code.as_deref(),
                    Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                ) {
                    Ok(())
                } else {
                    Err(StoreError::from_sdk(err, bucket))
                }
            }
        }
    }

    /// Stores `bytes` in `area` under their SHA-256 and returns the path.
    pub async fn put(
        &self,
        area: Area,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<ObjectPath, StoreError> {
        let name = ObjectName::of(&bytes);
        self.put_named(area, name, bytes, content_type).await
    }

    /// As [`Store::put`], for an object derived from `source`: the source's path is kept
    /// in the object's metadata, where [`Store::head`] reads it back as
    /// [`ObjectInfo::source`]. An object that already exists keeps the source it was
    /// first stored with.
    pub async fn put_derived(
        &self,
        area: Area,
        bytes: Bytes,
        content_type: &str,
        source: &ObjectPath,
    ) -> Result<ObjectPath, StoreError> {
        let name = ObjectName::of(&bytes);
        self.put_object(area, name, bytes, content_type, Some(source))
            .await
    }

    /// Stores `bytes` under `name`, which the caller computed while the bytes streamed in
    /// (it must be their SHA-256: the store verifies it and refuses a mismatch).
    ///
    /// An object that already exists is left alone — same name, same bytes — which makes
    /// a repeated request idempotent. A PUT is atomic in S3: readers see all or nothing.
    pub async fn put_named(
        &self,
        area: Area,
        name: ObjectName,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<ObjectPath, StoreError> {
        self.put_object(area, name, bytes, content_type, None).await
    }

    /// The one PutObject path: skips an object that exists, sends our SHA-256.
    async fn put_object(
        &self,
        area: Area,
        name: ObjectName,
        bytes: Bytes,
        content_type: &str,
        source: Option<&ObjectPath>,
    ) -> Result<ObjectPath, StoreError> {
        self.ensure_buckets().await?;
        let path = ObjectPath::new(area, name);
        match self.head(&path).await {
            Ok(_) => return Ok(path),
            Err(StoreError::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
        let checksum = base64::engine::general_purpose::STANDARD.encode(path.name.digest());
        self.client
            .put_object()
            .bucket(self.bucket(area))
            .key(path.name.as_str())
            .content_type(content_type)
            .checksum_sha256(checksum)
            .set_metadata(source.map(|s| {
                std::collections::HashMap::from([(SOURCE_METADATA.to_string(), s.to_string())])
            }))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, &path.to_string()))?;
        tracing::info!(%path, content_type, "stored");
        Ok(path)
    }

    /// The object's metadata.
    pub async fn head(&self, path: &ObjectPath) -> Result<ObjectInfo, StoreError> {
        let out = self
            .client
            .head_object()
            .bucket(self.bucket(path.area))
            .key(path.name.as_str())
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, &path.to_string()))?;
        Ok(ObjectInfo::from_headers(
            out.content_type,
            out.content_length,
            out.metadata.as_ref(),
        ))
    }

    /// Opens an object for streaming, optionally a checked byte `range` of it.
    pub async fn get(
        &self,
        path: &ObjectPath,
        range: Option<ByteRange>,
    ) -> Result<StoredObject, StoreError> {
        self.get_key(path.area, path.name.as_str(), range).await
    }

    /// GetObject by raw key: the one place objects are read.
    async fn get_key(
        &self,
        area: Area,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<StoredObject, StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(self.bucket(area))
            .key(key)
            .set_range(range.map(|r| r.header()))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, &format!("/{}/{key}", area.as_str())))?;
        Ok(StoredObject {
            info: ObjectInfo::from_headers(
                out.content_type,
                out.content_length,
                out.metadata.as_ref(),
            ),
            content_range: out.content_range,
            body: out.body,
        })
    }

    /// Reads a whole object into memory (for conversion), refusing one over `limit` bytes.
    pub async fn read(
        &self,
        path: &ObjectPath,
        limit: u64,
    ) -> Result<(Bytes, ObjectInfo), StoreError> {
        let object = self.get(path, None).await?;
        if object.info.content_length > limit {
            return Err(StoreError::TooLarge {
                what: path.to_string(),
                size: object.info.content_length,
                limit,
            });
        }
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| StoreError::unavailable(format!("reading {path}: {e}")))?
            .into_bytes();
        Ok((bytes, object.info))
    }

    /// Every object name in `area` (for `greyfaas verify`).
    pub async fn list(&self, area: Area) -> Result<Vec<String>, StoreError> {
        Ok(self
            .list_objects(area)
            .await?
            .into_iter()
            .map(|o| o.name)
            .collect())
    }

    /// Every object in `area` with its size and time, in key order (ListObjectsV2,
    /// every page).
    pub async fn list_objects(&self, area: Area) -> Result<Vec<ListedObject>, StoreError> {
        let mut objects = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(self.bucket(area))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| StoreError::from_sdk(e, self.bucket(area)))?;
            objects.extend(
                page.contents
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|o| {
                        Some(ListedObject {
                            size: o.size.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                            last_modified_ms: o
                                .last_modified
                                .and_then(|t| t.to_millis().ok())
                                .unwrap_or(0),
                            name: o.key?,
                        })
                    }),
            );
        }
        Ok(objects)
    }

    /// Reads an object by raw key, bypassing name validation (for `greyfaas verify`,
    /// which must be able to look at wrongly named objects).
    pub async fn read_key(&self, area: Area, key: &str) -> Result<(Bytes, String), StoreError> {
        let object = self.get_key(area, key, None).await?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| StoreError::unavailable(e.to_string()))?
            .into_bytes();
        Ok((bytes, object.info.content_type))
    }
}

//! The embedded store's one guard in front of s3s-fs: `Range` on GetObject.
//!
//! s3s parses `Range` itself (one `bytes=` range; others are refused 400) and s3s-fs
//! checks an absolute range against the file, but it seeks a suffix range (`bytes=-N`)
//! by N unclamped: a suffix longer than the object seeks before its start (a 500 the
//! SDK retries) and one over `i64::MAX` panics the request. So a suffix range is made
//! absolute here, from the object's length, before s3s-fs sees it. Every other
//! operation is passed through unchanged.

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

/// s3s-fs with suffix ranges made absolute.
pub(super) struct RangeChecked(pub(super) s3s_fs::FileSystem);

/// The absolute range a suffix of `length` bytes is of an object of `size` bytes (RFC
/// 9110 §14.1.2: a suffix longer than the object is the whole object), or `InvalidRange`
/// (416) when none is: a zero suffix, or an empty object.
pub(super) fn absolute_suffix(length: u64, size: u64) -> S3Result<Range> {
    if length == 0 || size == 0 {
        return Err(s3_error!(InvalidRange));
    }
    Ok(Range::Int {
        first: size - length.min(size),
        last: None,
    })
}

impl RangeChecked {
    async fn checked_get_object(
        &self,
        mut req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        if let Some(Range::Suffix { length }) = req.input.range {
            let input = HeadObjectInput::builder()
                .bucket(req.input.bucket.clone())
                .key(req.input.key.clone())
                .build()
                .map_err(|e| s3_error!(e, InternalError))?;
            // The same caller, already authenticated; s3s-fs reads only the input.
            let head = S3Request {
                input,
                method: req.method.clone(),
                uri: req.uri.clone(),
                headers: req.headers.clone(),
                extensions: Default::default(),
                credentials: req.credentials.clone(),
                region: req.region.clone(),
                service: req.service.clone(),
                trailing_headers: None,
            };
            let size = self.0.head_object(head).await?.output.content_length;
            let size = size.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
            // Objects are content-addressed, so the length cannot change before the read.
            req.input.range = Some(absolute_suffix(length, size)?);
        }
        self.0.get_object(req).await
    }
}

/// `impl S3`: GetObject checked, every operation s3s-fs implements delegated. A macro
/// makes the whole impl, since `async_trait` must see the methods it rewrites.
macro_rules! delegating_s3 {
    ($($op:ident: $input:ident => $output:ident),* $(,)?) => {
        #[async_trait::async_trait]
        impl S3 for RangeChecked {
            async fn get_object(
                &self,
                req: S3Request<GetObjectInput>,
            ) -> S3Result<S3Response<GetObjectOutput>> {
                self.checked_get_object(req).await
            }
            $(
                async fn $op(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    self.0.$op(req).await
                }
            )*
        }
    };
}

delegating_s3! {
    abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput,
    complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput,
    copy_object: CopyObjectInput => CopyObjectOutput,
    create_bucket: CreateBucketInput => CreateBucketOutput,
    create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput,
    delete_bucket: DeleteBucketInput => DeleteBucketOutput,
    delete_object: DeleteObjectInput => DeleteObjectOutput,
    delete_objects: DeleteObjectsInput => DeleteObjectsOutput,
    get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput,
    head_bucket: HeadBucketInput => HeadBucketOutput,
    head_object: HeadObjectInput => HeadObjectOutput,
    list_buckets: ListBucketsInput => ListBucketsOutput,
    list_objects: ListObjectsInput => ListObjectsOutput,
    list_objects_v2: ListObjectsV2Input => ListObjectsV2Output,
    list_parts: ListPartsInput => ListPartsOutput,
    put_object: PutObjectInput => PutObjectOutput,
    upload_part: UploadPartInput => UploadPartOutput,
    upload_part_copy: UploadPartCopyInput => UploadPartCopyOutput,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_become_absolute_and_clamped() {
        let first = |r: S3Result<Range>| match r {
            Ok(Range::Int { first, last: None }) => Some(first),
            _ => None,
        };
        assert_eq!(first(absolute_suffix(10, 98)), Some(88));
        assert_eq!(first(absolute_suffix(1000, 98)), Some(0));
        assert_eq!(first(absolute_suffix(u64::MAX, 98)), Some(0));
        assert_eq!(first(absolute_suffix(0, 98)), None);
        assert_eq!(first(absolute_suffix(5, 0)), None);
    }
}

//! The S3 operations: each maps an s3s input to engine calls and back. No disk, no keys.
//!
//! Handlers take the names they act on, and the engine's permit, from the request as
//! authorised ([`crate::authorised::Authorised`]), never from a second reading of the request.
//! This module holds the service, what several operations share, and the `S3` trait, whose
//! methods hand each request to its handler: [`buckets`], [`objects`], [`listing`],
//! [`multipart`], and `crate::bucket_access` for access settings.

use std::sync::Arc;

use coffre_store::limits::LIST_KEYS_MAX;
use coffre_store::{
    BucketChange, BucketName, ChecksumAlgorithm, ChecksumType, CompleteRequest, CompletedPart, CustomerKey,
    CustomerKeyError, Encryption, KeyWrap, ListEntry, ListPage, ListQuery, ObjectAttributes, PartNumber, SseMode,
    Store, StoredObject, UploadId, Version, VersionEntry, VersionId, VersionQuery, Versioning, WriteCondition,
};
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::access::{BucketAccessCache, Caller, KeyGate};
use crate::authorised::Authorised;
use crate::bucket_access::canned_public_read;
use crate::convert::{self, ChecksumFields, HeaderInput, body_stream, etag, size_i64, timestamp};
use crate::errors::{StoreResultExt, to_s3};
use crate::request::{self, ReadVerdict, checksum_request, url_encode, verify_digests, verify_length};

/// Settings of the S3 front.
#[derive(Debug, Clone)]
pub struct FrontConfig {
    /// The region this server is (`None`: any region is accepted and buckets report none).
    pub region: Option<String>,
    /// The length of a lifecycle day (shortened only by the test-only setting).
    pub lifecycle_day: coffre_store::LifecycleDay,
}

/// The S3 service over the object engine.
pub struct CoffreS3 {
    pub(crate) store: Arc<Store>,
    config: FrontConfig,
    /// Authorisation's view of bucket settings, invalidated when they change.
    pub(crate) buckets: Arc<BucketAccessCache>,
}

/// A tenant's S3 canonical user id: stable, derived from its name.
pub(crate) fn canonical_id(tenant: Option<&str>) -> String {
    let tenant = tenant.unwrap_or(crate::access::LEGACY_OWNER);
    hex::encode(<md5::Md5 as md5::Digest>::digest(format!("coffre-tenant:{tenant}").as_bytes()))
}

/// The tenant of the request's caller, if any.
fn caller_tenant(extensions: &http::Extensions) -> Option<String> {
    extensions.get::<Caller>().and_then(|c| c.0.as_ref()).and_then(|p| p.tenant.clone())
}

impl CoffreS3 {
    /// A service over `store`.
    pub fn new(store: Arc<Store>, config: FrontConfig, buckets: Arc<BucketAccessCache>) -> CoffreS3 {
        CoffreS3 { store, config, buckets }
    }

    /// The S3 owner of a tenant's buckets: a stable canonical id and the tenant's name.
    pub(crate) fn owner_of(&self, tenant: Option<&str>) -> Owner {
        let id = canonical_id(tenant);
        Owner { id: Some(id), display_name: Some(tenant.unwrap_or(crate::access::LEGACY_OWNER).to_owned()) }
    }

    fn bucket_owner(&self, bucket: &BucketName) -> Owner {
        let owner = self.buckets.get(&self.store, bucket).ok().flatten().map(|b| b.owner.clone());
        self.owner_of(owner.as_deref())
    }

    /// The encryption of a new object: the request's `x-amz-server-side-encryption` (and KMS
    /// key id), else the bucket's default, else SSE-S3 with the server's default key. A named
    /// key must exist and be enabled.
    fn encryption_for(
        &self,
        bucket: &BucketName,
        sse: Option<&ServerSideEncryption>,
        kms_key_id: Option<&str>,
    ) -> S3Result<Encryption> {
        let default = self.store.bucket(bucket).s3()?.default_encryption;
        let e = match sse.map(ServerSideEncryption::as_str) {
            None if kms_key_id.is_some() => {
                return Err(s3_error!(
                    InvalidArgument,
                    "Server Side Encryption with KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
                ));
            }
            None => default.unwrap_or(Encryption::sse_s3(self.store.default_key_id())),
            Some("AES256") => Encryption::sse_s3(self.store.default_key_id()),
            Some("aws:kms") | Some("aws:kms:dsse") => {
                let key_id = kms_key_id
                    .map(|k| k.rsplit(":key/").next().unwrap_or(k).to_owned())
                    .or_else(|| default.filter(|d| d.mode == SseMode::Kms).map(|d| d.key_id))
                    .unwrap_or_else(|| self.store.default_key_id());
                Encryption::sse_kms(key_id)
            }
            Some(other) => {
                return Err(s3_error!(InvalidArgument, "The encryption method specified is not supported: {}", other));
            }
        };
        self.store.check_key(&e.key_id).s3()?;
        Ok(e)
    }

    /// The encryption of a new object when the request may carry an SSE-C key: SSE-C (with a
    /// fresh fingerprint of the key) if it does, else as [`Self::encryption_for`] decides.
    fn write_encryption(
        &self,
        bucket: &BucketName,
        sse: Option<&ServerSideEncryption>,
        kms_key_id: Option<&str>,
        customer: Option<&CustomerKey>,
    ) -> S3Result<Encryption> {
        match customer {
            Some(_) if sse.is_some() => Err(s3_error!(
                InvalidArgument,
                "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
            )),
            Some(k) => {
                self.store.bucket(bucket).s3()?;
                Ok(Encryption::sse_c(k.fingerprint()))
            }
            None => self.encryption_for(bucket, sse, kms_key_id),
        }
    }

    /// The region a bucket reports: its LocationConstraint, else the server's, else S3's default.
    fn bucket_region(&self, location: Option<String>) -> String {
        location.or_else(|| self.config.region.clone()).unwrap_or_else(|| "us-east-1".to_owned())
    }
}

/// Records, for the audit trail, the KMS key protecting the data (none for SSE-C: the key is
/// the customer's).
fn note_encryption(extensions: &http::Extensions, encryption: &Encryption) {
    if encryption.mode != SseMode::Customer {
        crate::audit::note_kms_key(extensions, &encryption.key_id);
    }
}

/// The version a request names (`versionId`), as s3s read it.
fn version(version_id: Option<&str>) -> S3Result<Option<VersionId>> {
    version_id.map(VersionId::parse).transpose().s3()
}

/// Continuation tokens are opaque to clients: the hex of the last position returned.
fn continuation_token(position: &str) -> String {
    hex::encode(position)
}

fn parse_continuation_token(token: &str) -> S3Result<String> {
    hex::decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))
}

/// S3 refuses a write whose length it is not told (no Content-Length, not chunked).
fn require_content_length(headers: &http::HeaderMap) -> S3Result<()> {
    let chunked = headers
        .get(http::header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if headers.contains_key(http::header::CONTENT_LENGTH)
        || chunked
        || headers.contains_key("x-amz-decoded-content-length")
    {
        Ok(())
    } else {
        Err(s3_error!(MissingContentLength, "You must provide the Content-Length HTTP header."))
    }
}

/// An empty `Content-MD5` is an invalid digest, not an absent one.
fn content_md5<'a>(headers: &http::HeaderMap, parsed: Option<&'a str>) -> S3Result<Option<&'a str>> {
    if headers.get("content-md5").is_some_and(|v| v.as_bytes().iter().all(u8::is_ascii_whitespace)) {
        return Err(s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid."));
    }
    Ok(parsed)
}

/// The Object Lock settings a write asks for (`x-amz-object-lock-mode`,
/// `x-amz-object-lock-retain-until-date`, `x-amz-object-lock-legal-hold`), as s3s read them.
macro_rules! version_lock {
    ($input:expr) => {
        lock_request(
            $input.object_lock_mode.as_ref().map(ObjectLockMode::as_str),
            $input.object_lock_retain_until_date.clone(),
            $input.object_lock_legal_hold_status.as_ref().map(ObjectLockLegalHoldStatus::as_str),
        )
    };
}

fn retention_mode(mode: &str) -> S3Result<coffre_store::RetentionMode> {
    match mode {
        "GOVERNANCE" => Ok(coffre_store::RetentionMode::Governance),
        "COMPLIANCE" => Ok(coffre_store::RetentionMode::Compliance),
        _ => Err(s3_error!(InvalidArgument, "Unknown wormMode directive.")),
    }
}

fn retention_mode_name(mode: coffre_store::RetentionMode) -> &'static str {
    match mode {
        coffre_store::RetentionMode::Governance => "GOVERNANCE",
        coffre_store::RetentionMode::Compliance => "COMPLIANCE",
    }
}

fn unix_nanos(t: Timestamp) -> coffre_store::UnixNanos {
    let t = time::OffsetDateTime::from(t);
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

fn lock_request(
    mode: Option<&str>,
    until: Option<Timestamp>,
    legal_hold: Option<&str>,
) -> S3Result<coffre_store::VersionLock> {
    let retention = match (mode, until) {
        (None, None) => None,
        (Some(mode), Some(until)) => {
            Some(coffre_store::Retention { mode: retention_mode(mode)?, retain_until_ns: unix_nanos(until) })
        }
        _ => {
            return Err(s3_error!(
                InvalidArgument,
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
            ));
        }
    };
    if let Some(r) = &retention
        && r.retain_until_ns <= coffre_store::now_ns()
    {
        return Err(s3_error!(InvalidArgument, "The retain until date must be in the future!"));
    }
    let legal_hold = match legal_hold {
        None | Some("OFF") => false,
        Some("ON") => true,
        Some(_) => return Err(s3_error!(InvalidArgument, "Legal Hold must be either of 'ON' or 'OFF'")),
    };
    Ok(coffre_store::VersionLock { retention, legal_hold })
}

/// Storage classes S3 knows; Coffre stores every object the same way and reports STANDARD.
fn check_storage_class(class: Option<&StorageClass>) -> S3Result<()> {
    const KNOWN: [&str; 11] = [
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER",
        "DEEP_ARCHIVE",
        "OUTPOSTS",
        "GLACIER_IR",
        "SNOW",
        "EXPRESS_ONEZONE",
    ];
    match class {
        Some(c) if !KNOWN.contains(&c.as_str()) => {
            Err(s3_error!(InvalidStorageClass, "The storage class you specified is not valid"))
        }
        _ => Ok(()),
    }
}

/// The SSE-C key of a request whose input has the `sse_customer_*` fields.
macro_rules! request_customer_key {
    ($req:expr, $input:expr) => {
        customer_key(
            &$req.extensions,
            $input.sse_customer_algorithm.as_deref(),
            $input.sse_customer_key.as_deref(),
            $input.sse_customer_key_md5.as_deref(),
        )
    };
}

/// The SSE-C key of a copy's source (`x-amz-copy-source-server-side-encryption-customer-*`).
macro_rules! source_customer_key {
    ($req:expr, $input:expr) => {
        customer_key(
            &$req.extensions,
            $input.copy_source_sse_customer_algorithm.as_deref(),
            $input.copy_source_sse_customer_key.as_deref(),
            $input.copy_source_sse_customer_key_md5.as_deref(),
        )
    };
}

/// The SSE-C key of a request, from its three headers. SSE-C travels only over TLS, as in S3.
fn customer_key(
    extensions: &http::Extensions,
    algorithm: Option<&str>,
    key: Option<&str>,
    key_md5: Option<&str>,
) -> S3Result<Option<CustomerKey>> {
    let (algorithm, key, key_md5) = match (algorithm, key, key_md5) {
        (None, None, None) => return Ok(None),
        (Some(a), Some(k), Some(m)) => (a, k, m),
        _ => {
            return Err(s3_error!(
                InvalidArgument,
                "Requests specifying Server Side Encryption with Customer provided keys must provide the algorithm, the key and the key's MD5."
            ));
        }
    };
    if !extensions.get::<crate::front::Transport>().is_some_and(|t| t.secure) {
        return Err(s3_error!(
            InvalidRequest,
            "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
        ));
    }
    let md5_of = |d: &[u8]| -> [u8; 16] {
        use md5::Digest as _;
        md5::Md5::digest(d).into()
    };
    CustomerKey::parse(algorithm, key, key_md5, md5_of).map(Some).map_err(|e| match e {
        CustomerKeyError::Algorithm => crate::errors::custom(
            "InvalidEncryptionAlgorithmError",
            http::StatusCode::BAD_REQUEST,
            "The encryption request you specified is not valid. The valid value is AES256.",
        ),
        CustomerKeyError::Key => s3_error!(InvalidArgument, "The secret key was invalid for the specified algorithm."),
        CustomerKeyError::Md5 => {
            s3_error!(InvalidArgument, "The calculated MD5 hash of the key did not match the hash that was provided.")
        }
    })
}

/// How a new blob's data key is wrapped: by the customer key, or by the object's KEK.
fn key_wrap<'a>(encryption: &'a Encryption, customer: Option<&'a CustomerKey>) -> KeyWrap<'a> {
    match customer {
        Some(k) => KeyWrap::Customer(k),
        None => KeyWrap::Provider(&encryption.key_id),
    }
}

/// The SSE-C fields a response echoes.
fn customer_fields(customer: Option<&CustomerKey>) -> (Option<String>, Option<String>) {
    match customer {
        Some(k) => (Some("AES256".to_owned()), Some(k.md5_base64().to_owned())),
        None => (None, None),
    }
}

/// The `x-amz-server-side-encryption` fields a response carries for an object.
fn sse_fields(e: &Encryption) -> (Option<ServerSideEncryption>, Option<SSEKMSKeyId>) {
    match e.mode {
        SseMode::S3 => (Some(ServerSideEncryption::from_static(ServerSideEncryption::AES256)), None),
        SseMode::Kms => {
            (Some(ServerSideEncryption::from_static(ServerSideEncryption::AWS_KMS)), Some(e.key_id.clone()))
        }
        SseMode::Customer => (None, None),
    }
}

/// Evaluates the `x-amz-copy-source-if-*` conditions (all failures are 412 for copies).
fn copy_source_conditions(
    object: &StoredObject,
    if_match: Option<&ETagCondition>,
    if_unmodified_since: Option<&Timestamp>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
) -> S3Result<()> {
    match request::read_conditions(&object.record, if_match, if_unmodified_since, if_none_match, if_modified_since)? {
        ReadVerdict::Serve => Ok(()),
        ReadVerdict::NotModified => {
            Err(s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold"))
        }
    }
}

mod buckets;
mod lifecycle;
mod listing;
mod lock;
mod multipart;
mod objects;

#[async_trait::async_trait]
impl S3 for CoffreS3 {
    async fn put_bucket_logging(
        &self,
        req: S3Request<PutBucketLoggingInput>,
    ) -> S3Result<S3Response<PutBucketLoggingOutput>> {
        self.do_put_bucket_logging(req).await
    }

    async fn get_bucket_logging(
        &self,
        req: S3Request<GetBucketLoggingInput>,
    ) -> S3Result<S3Response<GetBucketLoggingOutput>> {
        self.do_get_bucket_logging(req).await
    }

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        self.do_put_bucket_policy(req).await
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        self.do_get_bucket_policy(req).await
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.do_delete_bucket_policy(req).await
    }

    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        self.do_get_bucket_policy_status(req).await
    }

    async fn get_bucket_acl(&self, req: S3Request<GetBucketAclInput>) -> S3Result<S3Response<GetBucketAclOutput>> {
        self.do_get_bucket_acl(req).await
    }

    async fn put_bucket_acl(&self, req: S3Request<PutBucketAclInput>) -> S3Result<S3Response<PutBucketAclOutput>> {
        self.do_put_bucket_acl(req).await
    }

    async fn get_object_acl(&self, req: S3Request<GetObjectAclInput>) -> S3Result<S3Response<GetObjectAclOutput>> {
        self.do_get_object_acl(req).await
    }

    async fn put_object_acl(&self, req: S3Request<PutObjectAclInput>) -> S3Result<S3Response<PutObjectAclOutput>> {
        self.do_put_object_acl(req).await
    }

    async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        self.do_put_public_access_block(req).await
    }

    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        self.do_get_public_access_block(req).await
    }

    async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        self.do_delete_public_access_block(req).await
    }

    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        self.do_list_buckets(req).await
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        self.do_create_bucket(req).await
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.do_head_bucket(req).await
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.do_delete_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.do_get_bucket_location(req).await
    }

    async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        self.do_put_bucket_encryption(req).await
    }

    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        self.do_get_bucket_encryption(req).await
    }

    async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        self.do_delete_bucket_encryption(req).await
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        self.do_put_bucket_versioning(req).await
    }

    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        self.do_put_bucket_lifecycle_configuration(req).await
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        self.do_get_bucket_lifecycle_configuration(req).await
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.do_delete_bucket_lifecycle(req).await
    }

    async fn put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        self.do_put_object_lock_configuration(req).await
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        self.do_get_object_lock_configuration(req).await
    }

    async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        self.do_put_object_retention(req).await
    }

    async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        self.do_get_object_retention(req).await
    }

    async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        self.do_put_object_legal_hold(req).await
    }

    async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        self.do_get_object_legal_hold(req).await
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.do_get_bucket_versioning(req).await
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.do_put_object(req).await
    }

    async fn post_object(&self, req: S3Request<PostObjectInput>) -> S3Result<S3Response<PostObjectOutput>> {
        self.do_post_object(req).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.do_head_object(req).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.do_get_object(req).await
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.do_delete_object(req).await
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.do_delete_objects(req).await
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        self.do_copy_object(req).await
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        self.do_get_object_tagging(req).await
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        self.do_put_object_tagging(req).await
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        self.do_delete_object_tagging(req).await
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        self.do_list_objects(req).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.do_list_objects_v2(req).await
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        self.do_list_object_versions(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.do_create_multipart_upload(req).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        self.do_upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.do_upload_part_copy(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.do_complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.do_abort_multipart_upload(req).await
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.do_list_parts(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.do_list_multipart_uploads(req).await
    }
}

/// Feeds one object's bytes into staging for a copy.
fn copy_stream(
    data: coffre_store::ObjectStream,
) -> impl futures::Stream<Item = Result<bytes::Bytes, coffre_store::BodyError>> + Unpin {
    use futures::StreamExt as _;
    // A failure reading the source (damaged or unreadable data) is the server's, not a short
    // request body: it must surface as an internal error, not IncompleteBody.
    data.map(|r| {
        r.map_err(|e| {
            tracing::error!(error = %e, "reading the copy source failed");
            coffre_store::BodyError(Box::new(s3_error!(
                InternalError,
                "We encountered an internal error. Please try again."
            )))
        })
    })
}

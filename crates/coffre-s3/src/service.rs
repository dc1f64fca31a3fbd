//! The S3 operations: each maps an s3s input to engine calls and back. No disk, no keys.

use std::sync::Arc;

use coffre_store::limits::LIST_KEYS_MAX;
use coffre_store::{
    BucketChange, BucketName, ChecksumAlgorithm, ChecksumType, CompleteRequest, CompletedPart, CustomerKey,
    CustomerKeyError, Encryption, KeyWrap, ListEntry, ListPage, ListQuery, ObjectAttributes, PartNumber, SseMode,
    Store, StoredObject, UploadId, VersionId, WriteCondition,
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

/// Uploads name the bucket owner as their initiator.
fn initiator(owner: Owner) -> Initiator {
    Initiator { id: owner.id, display_name: owner.display_name }
}

/// The version a request names (`versionId`), as s3s read it.
fn version(version_id: Option<&str>) -> S3Result<Option<VersionId>> {
    version_id.map(VersionId::parse).transpose().s3()
}

fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(LIST_KEYS_MAX),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys cannot be negative")),
        Some(n) => Ok(usize::try_from(n).unwrap_or(LIST_KEYS_MAX).min(LIST_KEYS_MAX)),
    }
}

/// A location constraint looks like a region: lowercase letters, digits and hyphens.
fn valid_region_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn list_page(store: &Store, bucket: &BucketName, query: &ListQuery) -> S3Result<ListPage> {
    if query.max_keys == 0 {
        // Still answer NoSuchBucket for a missing bucket.
        store.bucket(bucket).s3()?;
        return Ok(ListPage::default());
    }
    store.list(bucket, query).s3()
}

fn encode_if(url: bool, s: String) -> String {
    if url { url_encode(&s) } else { s }
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

struct PageParts {
    contents: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
}

fn split_page(page: &ListPage, url: bool, owner: Option<Owner>) -> PageParts {
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for entry in &page.entries {
        match entry {
            ListEntry::Object { key, record } => contents.push(Object {
                key: Some(encode_if(url, key.clone())),
                e_tag: Some(etag(&record.etag)),
                last_modified: Some(timestamp(record.last_modified_ns)),
                size: Some(size_i64(record.size_bytes)),
                storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
                owner: owner.clone(),
                checksum_algorithm: record.checksum.as_ref().map(|c| vec![convert::algorithm_dto(c.algorithm)]),
                checksum_type: record.checksum.as_ref().map(|c| convert::checksum_type_dto(c.kind)),
                ..Default::default()
            }),
            ListEntry::CommonPrefix(p) => prefixes.push(CommonPrefix { prefix: Some(encode_if(url, p.clone())) }),
        }
    }
    PageParts { contents, prefixes }
}

fn is_url_encoding(e: Option<&EncodingType>) -> S3Result<bool> {
    match e.map(EncodingType::as_str) {
        None => Ok(false),
        Some("url") => Ok(true),
        Some(_) => Err(s3_error!(InvalidArgument, "Invalid Encoding Method specified in Request")),
    }
}

/// The byte range a GET serves, and the `Content-Range` it answers with (if partial).
fn read_range(
    object: &StoredObject,
    range: Option<&Range>,
    part_number: Option<i32>,
) -> S3Result<(std::ops::Range<u64>, Option<String>, Option<i32>)> {
    let size = object.record.size_bytes;
    let content_range = |r: &std::ops::Range<u64>| format!("bytes {}-{}/{}", r.start, r.end.saturating_sub(1), size);
    match (range, part_number) {
        (Some(_), Some(_)) => {
            Err(s3_error!(InvalidRequest, "Cannot specify both Range header and partNumber query parameter"))
        }
        // RFC 9110 §14.1.1: a range whose last position is before its first is invalid and
        // ignored, as AWS does: the whole object is served.
        (Some(Range::Int { first, last: Some(last) }), None) if last < first => Ok((0..size, None, None)),
        (Some(r), None) => {
            let r = r.check(size).map_err(|_| to_s3(coffre_store::StoreError::InvalidRange { object_size: size }))?;
            let cr = content_range(&r);
            Ok((r, Some(cr), None))
        }
        (None, Some(n)) => {
            let parts = &object.record.part_sizes;
            let count = if parts.is_empty() { 1 } else { parts.len() };
            let index = usize::try_from(n).ok().filter(|n| (1..=count).contains(n)).ok_or_else(|| {
                crate::errors::custom(
                    "InvalidPartNumber",
                    http::StatusCode::RANGE_NOT_SATISFIABLE,
                    "The requested partnumber is not satisfiable",
                )
            })? - 1;
            let (start, len) = if parts.is_empty() {
                (0, size)
            } else {
                (parts.iter().take(index).sum(), parts.get(index).copied().unwrap_or(0))
            };
            let r = start..start + len;
            let cr = content_range(&r);
            let parts_count = (!parts.is_empty()).then(|| i32::try_from(count).unwrap_or(i32::MAX));
            Ok((r, Some(cr), parts_count))
        }
        (None, None) => Ok((0..size, None, None)),
    }
}

/// 304 Not Modified carries the validators of the current object, as RFC 9110 requires.
fn not_modified(record: &coffre_store::ObjectRecord) -> S3Error {
    let mut e = s3_error!(NotModified);
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{}\"", record.etag)) {
        headers.insert(http::header::ETAG, v);
    }
    if let Some(v) =
        convert::http_date(&timestamp(record.last_modified_ns)).and_then(|d| http::HeaderValue::from_str(&d).ok())
    {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    e.set_headers(headers);
    e
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

/// Refuses a write that asks for Object Lock settings: no bucket has an Object Lock
/// configuration (not implemented yet), so AWS's answer for such a bucket; never a silently
/// unlocked object.
macro_rules! refuse_object_lock {
    ($input:expr) => {
        if $input.object_lock_mode.is_some()
            || $input.object_lock_retain_until_date.is_some()
            || $input.object_lock_legal_hold_status.is_some()
        {
            return Err(s3_error!(InvalidRequest, "Bucket is missing Object Lock Configuration"));
        }
    };
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

/// The write condition of a CopyObject on its destination, from `If-None-Match`/`If-Match`.
fn destination_condition(headers: &http::HeaderMap) -> S3Result<WriteCondition> {
    let parse = |name: &str| -> S3Result<Option<ETagCondition>> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => ETagCondition::parse_http_header(v.as_bytes())
                .map(Some)
                .map_err(|_| s3_error!(InvalidArgument, "Invalid {} header", name)),
        }
    };
    request::write_condition(parse("if-match")?.as_ref(), parse("if-none-match")?.as_ref())
}

/// Parses a `<Tagging>` document (the PostObject `tagging` field) with s3s's XML reader.
fn parse_tagging_xml(xml: &str) -> S3Result<Vec<(String, String)>> {
    use s3s::xml::Deserialize as _;
    let mut d = s3s::xml::Deserializer::new(xml.as_bytes());
    let tagging = Tagging::deserialize(&mut d)
        .map_err(|_| s3_error!(MalformedXML, "The tagging field is not a valid Tagging document"))?;
    request::validate_tags(
        tagging.tag_set.into_iter().map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default())).collect(),
    )
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

/// Parses `x-amz-copy-source-range: bytes=first-last` against the source size.
fn copy_source_range(range: Option<&str>, size: u64) -> S3Result<std::ops::Range<u64>> {
    let Some(range) = range else {
        return Ok(0..size);
    };
    let invalid = || {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            format!("Range specified is not valid for source object of size: {size}"),
        )
    };
    let spec = range.strip_prefix("bytes=").ok_or_else(invalid)?;
    let (first, last) = spec.split_once('-').ok_or_else(invalid)?;
    let first: u64 = first.parse().map_err(|_| invalid())?;
    let last: u64 = last.parse().map_err(|_| invalid())?;
    if first > last || last >= size {
        return Err(invalid());
    }
    Ok(first..last + 1)
}

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
    // ---------------------------------------------------------------- buckets

    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let prefix = req.input.prefix.clone().unwrap_or_default();
        // A tenant sees its own buckets; operators hold none.
        let tenant = caller_tenant(&req.extensions);
        let buckets = self
            .store
            .buckets()
            .s3()?
            .into_iter()
            .filter(|(name, b)| {
                tenant.is_some()
                    && b.owner.as_deref().unwrap_or(crate::access::LEGACY_OWNER) == tenant.as_deref().unwrap_or("")
                    && name.as_str().starts_with(&prefix)
            })
            .map(|(name, b)| Bucket {
                name: Some(name.to_string()),
                creation_date: Some(timestamp(b.created_ns)),
                bucket_region: Some(self.bucket_region(b.location)),
            })
            .collect::<Vec<_>>();
        // Pagination: max-buckets and a continuation token (hex of the last name returned).
        let after = match req.input.continuation_token.as_deref() {
            Some(t) => Some(parse_continuation_token(t)?),
            None => None,
        };
        let max = match req.input.max_buckets {
            None => usize::MAX,
            Some(n) if (1..=10_000).contains(&n) => usize::try_from(n).unwrap_or(usize::MAX),
            Some(_) => return Err(s3_error!(InvalidArgument, "max-buckets must be between 1 and 10000")),
        };
        let mut page: Vec<Bucket> =
            buckets.into_iter().filter(|b| after.as_deref().is_none_or(|a| b.name.as_deref() > Some(a))).collect();
        let truncated = page.len() > max;
        page.truncate(max);
        let token = truncated.then(|| page.last().and_then(|b| b.name.as_deref()).map(continuation_token)).flatten();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(page),
            owner: Some(self.owner_of(tenant.as_deref())),
            prefix: req.input.prefix,
            continuation_token: token,
        }))
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let permit = Authorised::of(&req.extensions)?.permit()?;
        let bucket = permit.bucket().ok_or_else(|| s3_error!(AccessDenied, "Access Denied"))?;
        request::refuse_grants!(req.input, grant_write);
        if req.input.object_lock_enabled_for_bucket == Some(true) {
            // Not silently ignored: a bucket the client believes locked would not be.
            return Err(s3_error!(NotImplemented, "Object Lock is not implemented yet"));
        }
        let location = req
            .input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|l| l.as_str().to_owned())
            .filter(|l| !l.is_empty());
        if let Some(l) = &location {
            if !valid_region_name(l) {
                return Err(s3_error!(InvalidLocationConstraint, "The specified location-constraint is not valid"));
            }
            if let Some(region) = &self.config.region
                && region != l
            {
                return Err(crate::errors::custom(
                    "IllegalLocationConstraintException",
                    http::StatusCode::BAD_REQUEST,
                    format!(
                        "The {l} location constraint is incompatible for the region specific endpoint this request was sent to."
                    ),
                ));
            }
        }
        let tenant = caller_tenant(&req.extensions);
        let public_read = canned_public_read(req.input.acl.as_ref().map(BucketCannedACL::as_str))?;
        match self.store.create_bucket(permit, location, tenant.clone(), public_read).await {
            Err(coffre_store::StoreError::BucketAlreadyOwnedByYou)
                if self.store.bucket(bucket).ok().and_then(|b| b.owner) != tenant =>
            {
                return Err(s3_error!(
                    BucketAlreadyExists,
                    "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
                ));
            }
            other => other.s3()?,
        }
        self.buckets.invalidate(bucket);
        Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{bucket}")) }))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        let b = self.store.bucket(Authorised::of(&req.extensions)?.bucket()?).s3()?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(self.bucket_region(b.location)),
            ..Default::default()
        }))
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        let permit = Authorised::of(&req.extensions)?.permit()?;
        self.store.delete_bucket(permit).await.s3()?;
        self.buckets.invalidate(Authorised::of(&req.extensions)?.bucket()?);
        Ok(S3Response::new(DeleteBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let b = self.store.bucket(Authorised::of(&req.extensions)?.bucket()?).s3()?;
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint: b.location.map(BucketLocationConstraint::from),
        }))
    }

    async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        let input = req.input;
        let rules = input.server_side_encryption_configuration.rules;
        let default = match rules.as_slice() {
            [rule] => rule.apply_server_side_encryption_by_default.clone(),
            _ => return Err(s3_error!(MalformedXML, "A ServerSideEncryptionConfiguration holds exactly one rule")),
        }
        .ok_or_else(|| s3_error!(MalformedXML, "The rule lacks ApplyServerSideEncryptionByDefault"))?;
        if default.sse_algorithm.as_str() == "AES256" && default.kms_master_key_id.is_some() {
            return Err(s3_error!(
                InvalidArgument,
                "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms"
            ));
        }
        // Resolve through the same rules as a request, without the bucket's current default.
        let e = match default.sse_algorithm.as_str() {
            "AES256" => Encryption::sse_s3(self.store.default_key_id()),
            "aws:kms" | "aws:kms:dsse" => Encryption::sse_kms(
                default
                    .kms_master_key_id
                    .map(|k| k.rsplit(":key/").next().unwrap_or(&k).to_owned())
                    .unwrap_or_else(|| self.store.default_key_id()),
            ),
            other => {
                return Err(s3_error!(InvalidArgument, "The encryption method specified is not supported: {}", other));
            }
        };
        let permit = Authorised::of(&req.extensions)?.permit()?;
        self.store.bucket(Authorised::of(&req.extensions)?.bucket()?).s3()?;
        self.store.check_key(&e.key_id).s3()?;
        self.store.update_bucket(permit, BucketChange::SetEncryption(Some(e))).await.s3()?;
        Ok(S3Response::new(PutBucketEncryptionOutput::default()))
    }

    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        let b = self.store.bucket(Authorised::of(&req.extensions)?.bucket()?).s3()?;
        // Every object is encrypted: without a configuration the default is SSE-S3, as in S3.
        let e = b.default_encryption.unwrap_or(Encryption::sse_s3(self.store.default_key_id()));
        let (algorithm, key_id) = sse_fields(&e);
        let rule = ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: algorithm
                .map(|sse_algorithm| ServerSideEncryptionByDefault { sse_algorithm, kms_master_key_id: key_id }),
            bucket_key_enabled: Some(false),
        };
        Ok(S3Response::new(GetBucketEncryptionOutput {
            server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration { rules: vec![rule] }),
        }))
    }

    async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        let permit = Authorised::of(&req.extensions)?.permit()?;
        self.store.update_bucket(permit, BucketChange::SetEncryption(None)).await.s3()?;
        Ok(S3Response::with_status(DeleteBucketEncryptionOutput::default(), http::StatusCode::NO_CONTENT))
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        // Versioning was never enabled: S3 answers with no Status element.
        self.store.bucket(Authorised::of(&req.extensions)?.bucket()?).s3()?;
        Ok(S3Response::new(GetBucketVersioningOutput::default()))
    }

    // ---------------------------------------------------------------- objects

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        let permit = Authorised::of(&req.extensions)?.permit()?;
        let (bucket, _) = Authorised::of(&req.extensions)?.object()?;
        require_content_length(&req.headers)?;
        check_storage_class(input.storage_class.as_ref())?;
        refuse_object_lock!(input);
        request::refuse_grants!(input);
        let md5 = content_md5(&req.headers, input.content_md5.as_deref())?;
        let metadata = request::user_metadata(input.metadata)?;
        let tags = request::parse_tagging_header(input.tagging.as_deref())?;
        let public_read = canned_public_read(input.acl.as_ref().map(ObjectCannedACL::as_str))?;
        let condition = request::write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let checksum = checksum_request(&req.headers)?;
        // Fail before reading the body if the bucket is missing.
        self.store.bucket(bucket).s3()?;
        let customer = request_customer_key!(req, input)?;
        let encryption = self.write_encryption(
            bucket,
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.as_deref(),
            customer.as_ref(),
        )?;
        note_encryption(&req.extensions, &encryption);
        let staged = self
            .store
            .stage(body_stream(input.body), checksum.algorithm, true, key_wrap(&encryption, customer.as_ref()))
            .await
            .s3()?;
        verify_length(&req.headers, staged.size_bytes())?;
        verify_digests(&staged.digests, md5, &checksum, req.trailing_headers.as_ref())?;
        let attributes = ObjectAttributes {
            headers: HeaderInput {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: input.expires,
            }
            .into_headers(),
            user_metadata: metadata,
            tags,
            public_read,
        };
        let record = self.store.put_object(permit, staged, attributes, encryption, condition).await.s3()?;
        let (server_side_encryption, ssekms_key_id) = sse_fields(&record.encryption);
        let mut fields = ChecksumFields::default();
        if let (Some(a), Some(c)) = (checksum.algorithm, &record.checksum)
            && c.algorithm == a
        {
            fields = ChecksumFields::of(Some(c));
        }
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&record.etag)),
            checksum_crc32: fields.crc32,
            checksum_crc32c: fields.crc32c,
            checksum_crc64nvme: fields.crc64nvme,
            checksum_sha1: fields.sha1,
            checksum_sha256: fields.sha256,
            checksum_type: fields.kind,
            size: Some(size_i64(record.size_bytes)),
            server_side_encryption,
            ssekms_key_id,
            sse_customer_algorithm: customer_fields(customer.as_ref()).0,
            sse_customer_key_md5: customer_fields(customer.as_ref()).1,
            ..Default::default()
        }))
    }

    async fn post_object(&self, req: S3Request<PostObjectInput>) -> S3Result<S3Response<PostObjectOutput>> {
        let mut req = req;
        let form = req.extensions.get::<crate::form::FormFields>().cloned().unwrap_or_default();
        if req.input.key.contains("${filename}") {
            let name = form.file_name.ok_or_else(|| {
                s3_error!(InvalidArgument, "The key uses ${{filename}} but the form's file has no name")
            })?;
            req.input.key = req.input.key.replace("${filename}", &name);
        }
        if let Some(xml) = form.tagging.filter(|x| !x.trim().is_empty()) {
            let tags = parse_tagging_xml(&xml)?;
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &tags {
                query.append_pair(k, v);
            }
            req.input.tagging = Some(query.finish());
        }
        // The request's lengths describe the whole form; what follows concerns the file, which
        // s3s has already read within the policy's content-length-range.
        let file_len = req.input.content_length.unwrap_or(0);
        req.headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(file_len));
        req.headers.remove("x-amz-decoded-content-length");
        let req = req.map_input(|i| PutObjectInput {
            body: i.body,
            bucket: i.bucket,
            key: i.key,
            cache_control: i.cache_control,
            content_disposition: i.content_disposition,
            content_encoding: i.content_encoding,
            content_language: i.content_language,
            content_type: i.content_type,
            content_md5: i.content_md5,
            checksum_crc32: i.checksum_crc32,
            checksum_crc32c: i.checksum_crc32c,
            checksum_crc64nvme: i.checksum_crc64nvme,
            checksum_sha1: i.checksum_sha1,
            checksum_sha256: i.checksum_sha256,
            expires: i.expires,
            metadata: i.metadata,
            tagging: i.tagging,
            ..Default::default()
        });
        let out = self.put_object(req).await?;
        // s3s renders the form response (201 body, redirect URL) from the bare ETag value; S3
        // puts the quoted ETag there, and in an ETag header.
        let quoted = out.output.e_tag.as_ref().map(|e| format!("\"{}\"", e.value()));
        let mut resp =
            S3Response::new(PostObjectOutput { e_tag: quoted.clone().map(ETag::Strong), ..Default::default() });
        if let Some(v) = quoted.and_then(|q| http::HeaderValue::from_str(&q).ok()) {
            resp.headers.insert(http::header::ETAG, v);
        }
        Ok(resp)
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let (bucket, key) = Authorised::of(&req.extensions)?.object()?;
        let object = self.store.object(bucket, key, version(input.version_id.as_deref())?.as_ref()).s3()?;
        note_encryption(&req.extensions, &object.record.encryption);
        let r = &object.record;
        let customer = request_customer_key!(req, input)?;
        self.store.check_customer_key(&r.encryption, customer.as_ref()).s3()?;
        let (sse_customer_algorithm, sse_customer_key_md5) = customer_fields(customer.as_ref());
        if let ReadVerdict::NotModified = request::read_conditions(
            r,
            input.if_match.as_ref(),
            input.if_unmodified_since.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
        )? {
            return Err(not_modified(r));
        }
        let (range, content_range, parts_count) = read_range(&object, input.range.as_ref(), input.part_number)?;
        let whole = content_range.is_none();
        let fields = if whole && input.checksum_mode.is_some() {
            ChecksumFields::of(r.checksum.as_ref())
        } else {
            ChecksumFields::default()
        };
        let h = &r.attributes.headers;
        let mut resp = S3Response::new(HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: Some(size_i64(range.end - range.start)),
            content_range,
            parts_count,
            e_tag: Some(etag(&r.etag)),
            last_modified: Some(timestamp(r.last_modified_ns)),
            content_type: h.content_type.clone(),
            content_encoding: h.content_encoding.clone(),
            content_disposition: h.content_disposition.clone(),
            content_language: h.content_language.clone(),
            cache_control: h.cache_control.clone(),
            expires: h.expires.as_deref().and_then(convert::parse_http_date),
            metadata: convert::metadata_dto(&r.attributes.user_metadata),
            checksum_crc32: fields.crc32,
            checksum_crc32c: fields.crc32c,
            checksum_crc64nvme: fields.crc64nvme,
            checksum_sha1: fields.sha1,
            checksum_sha256: fields.sha256,
            checksum_type: fields.kind,
            storage_class: None,
            server_side_encryption: sse_fields(&r.encryption).0,
            ssekms_key_id: sse_fields(&r.encryption).1,
            sse_customer_algorithm,
            sse_customer_key_md5,
            ..Default::default()
        });
        if let Some(n) = convert::tag_count(r)
            && let Ok(v) = http::HeaderValue::from_str(&n.to_string())
        {
            resp.headers.insert("x-amz-tagging-count", v);
        }
        // HEAD honours the response-* overrides as GET does.
        let o = &mut resp.output;
        if input.response_content_type.is_some() {
            o.content_type = input.response_content_type;
        }
        if input.response_content_language.is_some() {
            o.content_language = input.response_content_language;
        }
        if input.response_content_disposition.is_some() {
            o.content_disposition = input.response_content_disposition;
        }
        if input.response_content_encoding.is_some() {
            o.content_encoding = input.response_content_encoding;
        }
        if input.response_cache_control.is_some() {
            o.cache_control = input.response_cache_control;
        }
        if input.response_expires.is_some() {
            o.expires = input.response_expires;
        }
        if !whole {
            resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(resp)
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let (bucket, key) = Authorised::of(&req.extensions)?.object()?;
        let object = self.store.object(bucket, key, version(input.version_id.as_deref())?.as_ref()).s3()?;
        note_encryption(&req.extensions, &object.record.encryption);
        let r = &object.record;
        if let ReadVerdict::NotModified = request::read_conditions(
            r,
            input.if_match.as_ref(),
            input.if_unmodified_since.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
        )? {
            return Err(not_modified(r));
        }
        let (range, content_range, parts_count) = read_range(&object, input.range.as_ref(), input.part_number)?;
        let whole = content_range.is_none();
        let fields = if whole && input.checksum_mode.is_some() {
            ChecksumFields::of(r.checksum.as_ref())
        } else {
            ChecksumFields::default()
        };
        let length = range.end - range.start;
        let customer = request_customer_key!(req, input)?;
        let (sse_customer_algorithm, sse_customer_key_md5) = customer_fields(customer.as_ref());
        let body = StreamingBlob::wrap(self.store.read(&object, range, customer.as_ref()).s3()?);
        let h = &r.attributes.headers;
        Ok(S3Response::new(GetObjectOutput {
            body: Some(body),
            accept_ranges: Some("bytes".into()),
            content_length: Some(size_i64(length)),
            content_range,
            parts_count,
            e_tag: Some(etag(&r.etag)),
            last_modified: Some(timestamp(r.last_modified_ns)),
            content_type: h.content_type.clone(),
            content_encoding: h.content_encoding.clone(),
            content_disposition: h.content_disposition.clone(),
            content_language: h.content_language.clone(),
            cache_control: h.cache_control.clone(),
            expires: h.expires.as_deref().and_then(convert::parse_http_date),
            metadata: convert::metadata_dto(&r.attributes.user_metadata),
            tag_count: convert::tag_count(r),
            sse_customer_algorithm,
            sse_customer_key_md5,
            server_side_encryption: sse_fields(&r.encryption).0,
            ssekms_key_id: sse_fields(&r.encryption).1,
            checksum_crc32: fields.crc32,
            checksum_crc32c: fields.crc32c,
            checksum_crc64nvme: fields.crc64nvme,
            checksum_sha1: fields.sha1,
            checksum_sha256: fields.sha256,
            checksum_type: fields.kind,
            ..Default::default()
        }))
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        let permit = Authorised::of(&req.extensions)?.permit()?;
        let version = version(input.version_id.as_deref())?;
        let condition = request::write_condition(input.if_match.as_ref(), None)?;
        self.store.delete_object(permit, version.as_ref(), condition).await.s3()?;
        Ok(S3Response::with_status(DeleteObjectOutput::default(), http::StatusCode::NO_CONTENT))
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        self.store.bucket(Authorised::of(&req.extensions)?.bucket()?).s3()?;
        if input.delete.objects.len() > LIST_KEYS_MAX {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let gate = req.extensions.get::<KeyGate>().ok_or_else(|| s3_error!(AccessDenied, "Access Denied"))?;
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for o in input.delete.objects {
            let result = match (gate.delete_permit(&o.key), version(o.version_id.as_deref())) {
                (Ok(permit), Ok(version)) => {
                    self.store.delete_object(&permit, version.as_ref(), WriteCondition::None).await.s3().map(|_| ())
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            match result {
                Ok(()) => {
                    if !quiet {
                        deleted.push(DeletedObject {
                            key: Some(o.key),
                            version_id: o.version_id,
                            ..Default::default()
                        });
                    }
                }
                Err(e) => errors.push(Error {
                    key: Some(o.key),
                    version_id: o.version_id,
                    code: Some(e.code().as_str().to_owned()),
                    message: e.message().map(str::to_owned),
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let authorised = Authorised::of(&req.extensions)?;
        let (permit, (bucket, key)) = (authorised.permit()?, authorised.object()?);
        let src = authorised.copy_source()?;
        let condition = destination_condition(&req.headers)?;
        check_storage_class(input.storage_class.as_ref())?;
        refuse_object_lock!(input);
        request::refuse_grants!(input);
        self.store.bucket(bucket).s3()?;
        let source = self.store.object(&src.bucket, &src.key, src.version.as_ref()).s3()?;
        copy_source_conditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
        )?;
        let replace_metadata = match input.metadata_directive.as_ref().map(MetadataDirective::as_str) {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(_) => return Err(s3_error!(InvalidArgument, "Unknown metadata directive.")),
        };
        let replace_tags = match input.tagging_directive.as_ref().map(TaggingDirective::as_str) {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(_) => return Err(s3_error!(InvalidArgument, "Unknown tagging directive.")),
        };
        let same_object = src.bucket == *bucket && src.key == *key;
        if same_object && !replace_metadata && input.checksum_algorithm.is_none() && input.storage_class.is_none() {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let mut attributes = source.record.attributes.clone();
        // The copy gets the ACL the request names (private by default), never the source's.
        attributes.public_read = canned_public_read(input.acl.as_ref().map(ObjectCannedACL::as_str))?;
        if replace_metadata {
            attributes.headers = HeaderInput {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: input.expires,
            }
            .into_headers();
            attributes.user_metadata = request::user_metadata(input.metadata)?;
        }
        if replace_tags {
            attributes.tags = request::parse_tagging_header(input.tagging.as_deref())?;
        }
        let algorithm = input
            .checksum_algorithm
            .as_ref()
            .and_then(convert::algorithm_from_dto)
            .or_else(|| source.record.checksum.as_ref().map(|c| c.algorithm));
        let source_customer = source_customer_key!(req, input)?;
        let customer = request_customer_key!(req, input)?;
        let data = self.store.read(&source, 0..source.record.size_bytes, source_customer.as_ref()).s3()?;
        let encryption = self.write_encryption(
            bucket,
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.as_deref(),
            customer.as_ref(),
        )?;
        note_encryption(&req.extensions, &encryption);
        let staged = self
            .store
            .stage(copy_stream(data), algorithm, true, key_wrap(&encryption, customer.as_ref()))
            .await
            .s3()?;
        let record = self.store.put_object(permit, staged, attributes, encryption, condition).await.s3()?;
        let (server_side_encryption, ssekms_key_id) = sse_fields(&record.encryption);
        let fields = ChecksumFields::of(record.checksum.as_ref());
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&record.etag)),
                last_modified: Some(timestamp(record.last_modified_ns)),
                checksum_crc32: fields.crc32,
                checksum_crc32c: fields.crc32c,
                checksum_crc64nvme: fields.crc64nvme,
                checksum_sha1: fields.sha1,
                checksum_sha256: fields.sha256,
                checksum_type: fields.kind,
            }),
            server_side_encryption,
            ssekms_key_id,
            ..Default::default()
        }))
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let (bucket, key) = Authorised::of(&req.extensions)?.object()?;
        let object = self.store.object(bucket, key, version(req.input.version_id.as_deref())?.as_ref()).s3()?;
        let tag_set = object
            .record
            .attributes
            .tags
            .iter()
            .map(|(k, v)| Tag { key: Some(k.clone()), value: Some(v.clone()) })
            .collect();
        Ok(S3Response::new(GetObjectTaggingOutput { tag_set, version_id: None }))
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        let tags = input
            .tagging
            .tag_set
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        let tags = request::validate_tags(tags)?;
        self.store.set_tags(Authorised::of(&req.extensions)?.permit()?, tags).await.s3()?;
        Ok(S3Response::new(PutObjectTaggingOutput::default()))
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        self.store.set_tags(Authorised::of(&req.extensions)?.permit()?, Vec::new()).await.s3()?;
        Ok(S3Response::with_status(DeleteObjectTaggingOutput::default(), http::StatusCode::NO_CONTENT))
    }

    // ---------------------------------------------------------------- listings

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let bucket = Authorised::of(&req.extensions)?.bucket()?;
        let url = is_url_encoding(input.encoding_type.as_ref())?;
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            start_after: input.marker.clone().filter(|m| !m.is_empty()),
            max_keys: max_keys(input.max_keys)?,
        };
        let page = list_page(&self.store, bucket, &query)?;
        let next_marker = (page.truncated && query.delimiter.is_some())
            .then(|| page.last_position().map(|p| encode_if(url, p.to_owned())))
            .flatten();
        let parts = split_page(&page, url, Some(self.bucket_owner(bucket)));
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(encode_if(url, query.prefix)),
            marker: Some(encode_if(url, input.marker.unwrap_or_default())),
            delimiter: input.delimiter.map(|d| encode_if(url, d)),
            max_keys: Some(i32::try_from(query.max_keys).unwrap_or(1000)),
            is_truncated: Some(page.truncated),
            next_marker,
            contents: Some(parts.contents),
            common_prefixes: Some(parts.prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let bucket = Authorised::of(&req.extensions)?.bucket()?;
        let url = is_url_encoding(input.encoding_type.as_ref())?;
        let start_after = match input.continuation_token.as_deref() {
            Some(token) => Some(parse_continuation_token(token)?),
            None => input.start_after.clone().filter(|s| !s.is_empty()),
        };
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            start_after,
            max_keys: max_keys(input.max_keys)?,
        };
        let page = list_page(&self.store, bucket, &query)?;
        let owner = input.fetch_owner.unwrap_or(false).then(|| self.bucket_owner(bucket));
        let parts = split_page(&page, url, owner);
        let key_count = parts.contents.len() + parts.prefixes.len();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(encode_if(url, query.prefix)),
            delimiter: input.delimiter.map(|d| encode_if(url, d)),
            max_keys: Some(i32::try_from(query.max_keys).unwrap_or(1000)),
            key_count: Some(i32::try_from(key_count).unwrap_or(i32::MAX)),
            is_truncated: Some(page.truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: page.truncated.then(|| page.last_position().map(continuation_token)).flatten(),
            start_after: input.start_after.map(|s| encode_if(url, s)),
            contents: Some(parts.contents),
            common_prefixes: Some(parts.prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let bucket = Authorised::of(&req.extensions)?.bucket()?;
        let url = is_url_encoding(input.encoding_type.as_ref())?;
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            start_after: input.key_marker.clone().filter(|m| !m.is_empty()),
            max_keys: max_keys(input.max_keys)?,
        };
        let page = list_page(&self.store, bucket, &query)?;
        let mut versions = Vec::new();
        let mut prefixes = Vec::new();
        for entry in &page.entries {
            match entry {
                ListEntry::Object { key, record } => versions.push(ObjectVersion {
                    key: Some(encode_if(url, key.clone())),
                    version_id: Some("null".to_owned()),
                    is_latest: Some(true),
                    e_tag: Some(etag(&record.etag)),
                    last_modified: Some(timestamp(record.last_modified_ns)),
                    size: Some(size_i64(record.size_bytes)),
                    storage_class: Some(ObjectVersionStorageClass::from_static(ObjectVersionStorageClass::STANDARD)),
                    owner: Some(self.bucket_owner(bucket)),
                    checksum_algorithm: record.checksum.as_ref().map(|c| vec![convert::algorithm_dto(c.algorithm)]),
                    checksum_type: record.checksum.as_ref().map(|c| convert::checksum_type_dto(c.kind)),
                    ..Default::default()
                }),
                ListEntry::CommonPrefix(p) => prefixes.push(CommonPrefix { prefix: Some(encode_if(url, p.clone())) }),
            }
        }
        let next_key_marker =
            page.truncated.then(|| page.last_position().map(|p| encode_if(url, p.to_owned()))).flatten();
        let next_version_id_marker = next_key_marker.as_ref().map(|_| "null".to_owned());
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(encode_if(url, query.prefix)),
            delimiter: input.delimiter.map(|d| encode_if(url, d)),
            key_marker: Some(encode_if(url, input.key_marker.unwrap_or_default())),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            max_keys: Some(i32::try_from(query.max_keys).unwrap_or(1000)),
            is_truncated: Some(page.truncated),
            next_key_marker,
            next_version_id_marker,
            versions: Some(versions),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    // ---------------------------------------------------------------- multipart uploads

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        let authorised = Authorised::of(&req.extensions)?;
        let (permit, (bucket, key)) = (authorised.permit()?, authorised.object()?);
        check_storage_class(input.storage_class.as_ref())?;
        refuse_object_lock!(input);
        request::refuse_grants!(input);
        let attributes = ObjectAttributes {
            headers: HeaderInput {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: input.expires,
            }
            .into_headers(),
            user_metadata: request::user_metadata(input.metadata)?,
            tags: request::parse_tagging_header(input.tagging.as_deref())?,
            public_read: canned_public_read(input.acl.as_ref().map(ObjectCannedACL::as_str))?,
        };
        let algorithm = match input.checksum_algorithm.as_ref() {
            Some(a) => Some(
                convert::algorithm_from_dto(a)
                    .ok_or_else(|| s3_error!(InvalidRequest, "Checksum algorithm provided is unsupported."))?,
            ),
            None => None,
        };
        let kind = match input.checksum_type.as_ref() {
            Some(t) => Some(
                ChecksumType::parse(t.as_str())
                    .ok_or_else(|| s3_error!(InvalidRequest, "Value for x-amz-checksum-type header is invalid."))?,
            ),
            None => None,
        };
        if kind.is_some() && algorithm.is_none() {
            return Err(s3_error!(
                InvalidRequest,
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
            ));
        }
        let customer = request_customer_key!(req, input)?;
        let encryption = self.write_encryption(
            bucket,
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.as_deref(),
            customer.as_ref(),
        )?;
        note_encryption(&req.extensions, &encryption);
        let (server_side_encryption, ssekms_key_id) = sse_fields(&encryption);
        let (sse_customer_algorithm, sse_customer_key_md5) = customer_fields(customer.as_ref());
        let upload_id = self.store.create_upload(permit, attributes, algorithm, kind, encryption).await.s3()?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            server_side_encryption,
            ssekms_key_id,
            sse_customer_algorithm,
            sse_customer_key_md5,
            bucket: Some(bucket.to_string()),
            key: Some(key.to_string()),
            upload_id: Some(upload_id.as_str().to_owned()),
            checksum_algorithm: input.checksum_algorithm,
            checksum_type: kind
                .or(algorithm.map(|a| {
                    if a == ChecksumAlgorithm::Crc64Nvme { ChecksumType::FullObject } else { ChecksumType::Composite }
                }))
                .map(convert::checksum_type_dto),
            ..Default::default()
        }))
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        let authorised = Authorised::of(&req.extensions)?;
        let (permit, (bucket, key)) = (authorised.permit()?, authorised.object()?);
        let part_number = PartNumber::parse(i64::from(input.part_number)).s3()?;
        let upload_id = UploadId::parse(&input.upload_id).s3()?;
        let upload = self.store.upload(bucket, key, &upload_id).s3()?;
        let checksum = checksum_request(&req.headers)?;
        if let (Some(declared), Some(sent)) = (upload.checksum_algorithm, checksum.algorithm)
            && declared != sent
        {
            return Err(s3_error!(
                InvalidRequest,
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                declared.name().to_ascii_lowercase(),
                sent.name().to_ascii_lowercase()
            ));
        }
        require_content_length(&req.headers)?;
        let md5 = content_md5(&req.headers, input.content_md5.as_deref())?;
        let customer = request_customer_key!(req, input)?;
        self.store.check_customer_key(&upload.encryption, customer.as_ref()).s3()?;
        let algorithm = upload.checksum_algorithm.or(checksum.algorithm);
        let staged = self
            .store
            .stage(body_stream(input.body), algorithm, false, key_wrap(&upload.encryption, customer.as_ref()))
            .await
            .s3()?;
        verify_length(&req.headers, staged.size_bytes())?;
        verify_digests(&staged.digests, md5, &checksum, req.trailing_headers.as_ref())?;
        let mut fields = ChecksumFields::default();
        if let Some(a) = algorithm
            && let Some(raw) = staged.digests.raw(a)
        {
            use base64::Engine as _;
            fields.set(a, base64::engine::general_purpose::STANDARD.encode(raw));
        }
        let part = self.store.upload_part(permit, &upload_id, part_number, staged).await.s3()?;
        let (server_side_encryption, ssekms_key_id) = sse_fields(&upload.encryption);
        let (sse_customer_algorithm, sse_customer_key_md5) = customer_fields(customer.as_ref());
        Ok(S3Response::new(UploadPartOutput {
            server_side_encryption,
            ssekms_key_id,
            sse_customer_algorithm,
            sse_customer_key_md5,
            e_tag: Some(etag(&part.md5_hex)),
            checksum_crc32: fields.crc32,
            checksum_crc32c: fields.crc32c,
            checksum_crc64nvme: fields.crc64nvme,
            checksum_sha1: fields.sha1,
            checksum_sha256: fields.sha256,
            ..Default::default()
        }))
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        let authorised = Authorised::of(&req.extensions)?;
        let (permit, (bucket, key)) = (authorised.permit()?, authorised.object()?);
        let part_number = PartNumber::parse(i64::from(input.part_number)).s3()?;
        let upload_id = UploadId::parse(&input.upload_id).s3()?;
        let upload = self.store.upload(bucket, key, &upload_id).s3()?;
        let src = authorised.copy_source()?;
        let source = self.store.object(&src.bucket, &src.key, src.version.as_ref()).s3()?;
        copy_source_conditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
        )?;
        let range = copy_source_range(input.copy_source_range.as_deref(), source.record.size_bytes)?;
        let source_customer = source_customer_key!(req, input)?;
        let customer = request_customer_key!(req, input)?;
        self.store.check_customer_key(&upload.encryption, customer.as_ref()).s3()?;
        let data = self.store.read(&source, range, source_customer.as_ref()).s3()?;
        let staged = self
            .store
            .stage(copy_stream(data), upload.checksum_algorithm, false, key_wrap(&upload.encryption, customer.as_ref()))
            .await
            .s3()?;
        let mut fields = ChecksumFields::default();
        if let Some(a) = upload.checksum_algorithm
            && let Some(raw) = staged.digests.raw(a)
        {
            use base64::Engine as _;
            fields.set(a, base64::engine::general_purpose::STANDARD.encode(raw));
        }
        let part = self.store.upload_part(permit, &upload_id, part_number, staged).await.s3()?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(etag(&part.md5_hex)),
                last_modified: Some(timestamp(part.last_modified_ns)),
                checksum_crc32: fields.crc32,
                checksum_crc32c: fields.crc32c,
                checksum_crc64nvme: fields.crc64nvme,
                checksum_sha1: fields.sha1,
                checksum_sha256: fields.sha256,
            }),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let authorised = Authorised::of(&req.extensions)?;
        let (permit, (bucket, key)) = (authorised.permit()?, authorised.object()?);
        let upload_id = UploadId::parse(&input.upload_id).s3()?;
        let condition = request::write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let listed = input.multipart_upload.and_then(|m| m.parts).ok_or_else(|| {
            s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            )
        })?;
        let mut parts = Vec::with_capacity(listed.len());
        for p in listed {
            let number = p.part_number.ok_or_else(|| s3_error!(MalformedXML, "A part is missing its PartNumber"))?;
            let part_number = PartNumber::parse(i64::from(number)).s3()?;
            let checksum_base64 = p.checksum_crc32.or(p.checksum_crc32c).or(p.checksum_sha1).or(p.checksum_sha256);
            parts.push(CompletedPart {
                part_number: part_number.get(),
                etag: p.e_tag.map(ETag::into_value).unwrap_or_default(),
                checksum_base64,
            });
        }
        let expected_checksum = [
            (ChecksumAlgorithm::Crc32, input.checksum_crc32),
            (ChecksumAlgorithm::Crc32c, input.checksum_crc32c),
            (ChecksumAlgorithm::Crc64Nvme, input.checksum_crc64nvme),
            (ChecksumAlgorithm::Sha1, input.checksum_sha1),
            (ChecksumAlgorithm::Sha256, input.checksum_sha256),
        ]
        .into_iter()
        .find_map(|(a, v)| v.map(|v| (a, v)));
        let request = CompleteRequest {
            parts,
            condition,
            expected_checksum,
            checksum_type: input.checksum_type.as_ref().and_then(|t| ChecksumType::parse(t.as_str())),
            expected_size_bytes: input.mpu_object_size.and_then(|n| u64::try_from(n).ok()),
        };
        let record = self.store.complete_upload(permit, &upload_id, request).await.s3()?;
        let fields = ChecksumFields::of(record.checksum.as_ref());
        let (server_side_encryption, ssekms_key_id) = sse_fields(&record.encryption);
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            server_side_encryption,
            ssekms_key_id,
            bucket: Some(bucket.to_string()),
            key: Some(key.to_string()),
            location: Some(format!("/{bucket}/{key}")),
            e_tag: Some(etag(&record.etag)),
            checksum_crc32: fields.crc32,
            checksum_crc32c: fields.crc32c,
            checksum_crc64nvme: fields.crc64nvme,
            checksum_sha1: fields.sha1,
            checksum_sha256: fields.sha256,
            checksum_type: fields.kind,
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let upload_id = UploadId::parse(&req.input.upload_id).s3()?;
        self.store.abort_upload(Authorised::of(&req.extensions)?.permit()?, &upload_id).await.s3()?;
        Ok(S3Response::with_status(AbortMultipartUploadOutput::default(), http::StatusCode::NO_CONTENT))
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let (bucket, key) = Authorised::of(&req.extensions)?.object()?;
        let upload_id = UploadId::parse(&input.upload_id).s3()?;
        let upload = self.store.upload(bucket, key, &upload_id).s3()?;
        let max = match input.max_parts {
            None => 1000,
            Some(n) if n < 0 => {
                return Err(s3_error!(InvalidArgument, "max-parts cannot be negative"));
            }
            Some(n) => usize::try_from(n).unwrap_or(1000).min(1000),
        };
        let after = u32::try_from(input.part_number_marker.unwrap_or(0).max(0)).unwrap_or(0);
        let (parts, truncated) = self.store.parts(&upload_id, after, max).s3()?;
        let next = parts.last().map(|(n, _)| i32::try_from(*n).unwrap_or(i32::MAX));
        let parts = parts
            .into_iter()
            .map(|(n, p)| {
                let mut fields = ChecksumFields::default();
                if let (Some(a), Some(v)) = (upload.checksum_algorithm, p.checksum_base64.clone()) {
                    fields.set(a, v);
                }
                Part {
                    part_number: Some(i32::try_from(n).unwrap_or(i32::MAX)),
                    e_tag: Some(etag(&p.md5_hex)),
                    size: Some(size_i64(p.size_bytes)),
                    last_modified: Some(timestamp(p.last_modified_ns)),
                    checksum_crc32: fields.crc32,
                    checksum_crc32c: fields.crc32c,
                    checksum_crc64nvme: fields.crc64nvme,
                    checksum_sha1: fields.sha1,
                    checksum_sha256: fields.sha256,
                }
            })
            .collect();
        let owner = self.bucket_owner(bucket);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            max_parts: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            parts: Some(parts),
            owner: Some(owner.clone()),
            initiator: Some(initiator(owner)),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            checksum_algorithm: upload.checksum_algorithm.map(convert::algorithm_dto),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let bucket = Authorised::of(&req.extensions)?.bucket()?;
        let url = is_url_encoding(input.encoding_type.as_ref())?;
        let max = match input.max_uploads {
            None => 1000,
            Some(n) if n < 0 => {
                return Err(s3_error!(InvalidArgument, "max-uploads cannot be negative"));
            }
            Some(n) => usize::try_from(n).unwrap_or(1000).min(1000),
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let all = self
            .store
            .uploads(
                bucket,
                &prefix,
                input.key_marker.as_deref().filter(|m| !m.is_empty()),
                input.upload_id_marker.as_deref().filter(|m| !m.is_empty()),
            )
            .s3()?;
        let mut uploads = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut truncated = false;
        let mut next_key = None;
        let mut next_id = None;
        for (key, id, record) in all {
            let cp = delimiter.as_deref().and_then(|d| {
                key.get(prefix.len()..)
                    .and_then(|rest| rest.find(d).map(|pos| key[..prefix.len() + pos + d.len()].to_owned()))
            });
            if let Some(cp) = &cp
                && prefixes.last() == Some(cp)
            {
                continue;
            }
            if uploads.len() + prefixes.len() == max {
                truncated = true;
                break;
            }
            match cp {
                Some(cp) => {
                    next_key = Some(cp.clone());
                    prefixes.push(cp);
                }
                None => {
                    next_key = Some(key.clone());
                    next_id = Some(id.clone());
                    uploads.push(MultipartUpload {
                        key: Some(encode_if(url, key)),
                        upload_id: Some(id),
                        initiated: Some(timestamp(record.initiated_ns)),
                        owner: Some(self.bucket_owner(bucket)),
                        initiator: Some(initiator(self.bucket_owner(bucket))),
                        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                        checksum_algorithm: record.checksum_algorithm.map(convert::algorithm_dto),
                        ..Default::default()
                    });
                }
            }
        }
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: Some(encode_if(url, prefix)),
            delimiter: input.delimiter.map(|d| encode_if(url, d)),
            key_marker: Some(input.key_marker.unwrap_or_default()),
            upload_id_marker: Some(input.upload_id_marker.unwrap_or_default()),
            max_uploads: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            next_key_marker: truncated.then_some(next_key).flatten().map(|k| encode_if(url, k)),
            next_upload_id_marker: truncated.then_some(next_id).flatten(),
            uploads: Some(uploads),
            common_prefixes: Some(
                prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(encode_if(url, p)) }).collect(),
            ),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
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

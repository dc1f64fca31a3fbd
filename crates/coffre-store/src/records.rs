//! Persisted metadata records and their framing.
//!
//! Every record is stored as `[format version: u8][json length: u32 LE][json][payload][crc32c: u32 LE]`.
//! The version byte lets a later release migrate old records; the CRC is verified on every
//! read so that a damaged record is an error, never wrong data. The payload carries the bytes
//! of objects small enough to live inside their record.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use coffre_crypto::WrappedKey;

use crate::checksum::{Checksum, ChecksumAlgorithm, ChecksumType};
use crate::error::{StoreError, StoreResult};

/// Current format version of all records.
const RECORD_FORMAT_V1: u8 = 1;
/// The format of a delete marker in a bucket's version list, whose other rows are object
/// records of [`RECORD_FORMAT_V1`]: the first byte tells the two apart.
const DELETE_MARKER_FORMAT_V1: u8 = 2;

/// Encodes a record with an optional payload.
pub(crate) fn encode<T: Serialize>(record: &T, payload: &[u8]) -> Vec<u8> {
    encode_as(RECORD_FORMAT_V1, record, payload)
}

/// Encodes a row of a bucket's version list.
pub(crate) fn encode_version(version: &Version, payload: &[u8]) -> Vec<u8> {
    match version {
        Version::Object(record) => encode_as(RECORD_FORMAT_V1, record, payload),
        Version::DeleteMarker(marker) => encode_as(DELETE_MARKER_FORMAT_V1, marker, &[]),
    }
}

/// Decodes a row of a bucket's version list, verifying its checksum.
pub(crate) fn decode_version(bytes: &[u8]) -> StoreResult<(Version, &[u8])> {
    let (format, json, payload) = decode_frame(bytes)?;
    let corrupt = |e: serde_json::Error| StoreError::Corrupt { what: format!("metadata record: {e}") };
    match format {
        RECORD_FORMAT_V1 => Ok((Version::Object(Box::new(serde_json::from_slice(json).map_err(corrupt)?)), payload)),
        DELETE_MARKER_FORMAT_V1 => Ok((Version::DeleteMarker(serde_json::from_slice(json).map_err(corrupt)?), payload)),
        _ => Err(StoreError::Corrupt { what: "metadata record: unknown format version".into() }),
    }
}

fn encode_as<T: Serialize>(format: u8, record: &T, payload: &[u8]) -> Vec<u8> {
    // Invariant: records are plain structs of strings, numbers and maps, which always serialize.
    #[allow(clippy::expect_used)]
    let json = serde_json::to_vec(record).expect("Invariant: records always serialize");
    let mut out = Vec::with_capacity(1 + 4 + json.len() + payload.len() + 4);
    out.push(format);
    #[allow(clippy::cast_possible_truncation)] // records are far below 4 GiB
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(payload);
    let crc = record_crc(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a record, verifying its checksum; returns the record and its payload.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> StoreResult<(T, &[u8])> {
    let (format, json, payload) = decode_frame(bytes)?;
    if format != RECORD_FORMAT_V1 {
        return Err(StoreError::Corrupt { what: "metadata record: unknown format version".into() });
    }
    let record =
        serde_json::from_slice(json).map_err(|e| StoreError::Corrupt { what: format!("metadata record: {e}") })?;
    Ok((record, payload))
}

/// A record's frame, its checksum verified: `(format, json, payload)`.
fn decode_frame(bytes: &[u8]) -> StoreResult<(u8, &[u8], &[u8])> {
    let corrupt = |what: &str| StoreError::Corrupt { what: format!("metadata record: {what}") };
    let (body, crc) = bytes.split_at_checked(bytes.len().saturating_sub(4)).ok_or_else(|| corrupt("too short"))?;
    let crc = u32::from_le_bytes(crc.try_into().map_err(|_| corrupt("too short"))?);
    if record_crc(body) != crc {
        return Err(corrupt("checksum mismatch"));
    }
    let (&format, rest) = body.split_first().ok_or_else(|| corrupt("empty"))?;
    let (len, rest) = rest.split_at_checked(4).ok_or_else(|| corrupt("truncated header"))?;
    let len = u32::from_le_bytes(len.try_into().map_err(|_| corrupt("truncated header"))?) as usize;
    let (json, payload) = rest.split_at_checked(len).ok_or_else(|| corrupt("truncated body"))?;
    Ok((format, json, payload))
}

fn record_crc(bytes: &[u8]) -> u32 {
    #[allow(clippy::cast_possible_truncation)] // CRC-32C is 32 bits wide
    let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, bytes) as u32;
    crc
}

/// Time as nanoseconds since the Unix epoch.
pub type UnixNanos = i64;

/// A bucket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketRecord {
    /// When the bucket was created.
    pub created_ns: UnixNanos,
    /// The LocationConstraint given at creation (`None`: the default region).
    pub location: Option<String>,
    /// Default encryption of new objects (PutBucketEncryption); `None`: SSE-S3 with the
    /// server's default key.
    #[serde(default)]
    pub default_encryption: Option<Encryption>,
    /// The tenant that owns it (`None`: created before tenants existed).
    #[serde(default)]
    pub owner: Option<String>,
    /// The bucket policy, as the owner put it (JSON).
    #[serde(default)]
    pub policy: Option<String>,
    /// Canned ACL `public-read` (else `private`).
    #[serde(default)]
    pub public_read: bool,
    /// PublicAccessBlock settings, if set.
    #[serde(default)]
    pub public_access_block: Option<PublicAccessBlock>,
    /// Limits the operator set; enforced when objects are written.
    #[serde(default)]
    pub quota: Option<Quota>,
    /// Server access logging (PutBucketLogging), if on.
    #[serde(default)]
    pub logging: Option<BucketLogging>,
    /// Versioning, once it was ever set (a bucket never goes back to unversioned). Added after
    /// format v1's first records: absent in older ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<Versioning>,
    /// Object Lock, if enabled (it never is disabled again). Added after format v1's first
    /// records: absent in older ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLock>,
    /// Lifecycle rules (PutBucketLifecycleConfiguration), if set. Added after format v1's
    /// first records: absent in older ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<crate::lifecycle::LifecycleConfiguration>,
}

/// A bucket's Object Lock configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLock {
    /// The retention new versions get when their write names none.
    pub default_retention: Option<DefaultRetention>,
}

/// A default retention: a mode and a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    /// The mode.
    pub mode: RetentionMode,
    /// The period, as configured.
    pub period: RetentionPeriod,
}

/// A default retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionPeriod {
    /// Days.
    Days(u32),
    /// Years (of 365 days, as S3 counts them).
    Years(u32),
}

impl RetentionPeriod {
    /// The period in nanoseconds.
    pub fn nanos(self) -> i64 {
        let days = match self {
            RetentionPeriod::Days(d) => i64::from(d),
            RetentionPeriod::Years(y) => i64::from(y) * 365,
        };
        days.saturating_mul(86_400_000_000_000)
    }
}

/// An Object Lock retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionMode {
    /// Removable or shortened only with `x-amz-bypass-governance-retention` and the
    /// `s3:BypassGovernanceRetention` permission.
    Governance,
    /// Never removed or shortened; only extended.
    Compliance,
}

/// The Object Lock settings a write asks for (`x-amz-object-lock-*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionLock {
    /// A retention; without one the bucket's default retention applies.
    pub retention: Option<Retention>,
    /// A legal hold.
    pub legal_hold: bool,
}

/// A version's retention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// The mode.
    pub mode: RetentionMode,
    /// Until when (unix ns).
    pub retain_until_ns: UnixNanos,
}

/// A bucket's versioning state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    /// Every write makes a new version; deletes write delete markers.
    Enabled,
    /// Writes replace the null version; versions made before are kept.
    Suspended,
}

/// Where a bucket's server access logs go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketLogging {
    pub target_bucket: String,
    pub target_prefix: String,
}

impl BucketRecord {
    /// A new bucket owned by `owner`.
    pub fn new(created_ns: UnixNanos, location: Option<String>, owner: Option<String>) -> BucketRecord {
        BucketRecord {
            created_ns,
            location,
            default_encryption: None,
            owner,
            policy: None,
            public_read: false,
            public_access_block: None,
            quota: None,
            logging: None,
            versioning: None,
            object_lock: None,
            lifecycle: None,
        }
    }
}

/// S3's PublicAccessBlock configuration of a bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// Refuse requests that set a public ACL.
    pub block_public_acls: bool,
    /// Ignore public ACLs when deciding access.
    pub ignore_public_acls: bool,
    /// Refuse bucket policies that grant public access.
    pub block_public_policy: bool,
    /// A public policy grants only to principals of the owning tenant.
    pub restrict_public_buckets: bool,
}

/// A bucket's limits; `None` fields are unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub max_bytes: Option<u64>,
    pub max_objects: Option<u64>,
}

/// What a bucket holds: the current versions' bytes and count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub bytes: u64,
    pub objects: u64,
}

/// Server-side encryption as S3 names it. Every object is sealed either way; the mode only
/// says whose key wraps its data keys and what the responses report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SseMode {
    /// `AES256`: the server's default key.
    S3,
    /// `aws:kms`: a named key of the key provider.
    Kms,
    /// SSE-C: a key the customer sends with every request; the server keeps only a salted
    /// keyed hash of it.
    Customer,
}

impl Encryption {
    /// SSE-S3 under the provider key `key_id`.
    pub fn sse_s3(key_id: String) -> Encryption {
        Encryption { mode: SseMode::S3, key_id, customer: None }
    }

    /// SSE-KMS under the provider key `key_id`.
    pub fn sse_kms(key_id: String) -> Encryption {
        Encryption { mode: SseMode::Kms, key_id, customer: None }
    }

    /// SSE-C, recognised by `fingerprint`.
    pub fn sse_c(fingerprint: coffre_crypto::CustomerKeyFingerprint) -> Encryption {
        Encryption {
            mode: SseMode::Customer,
            key_id: coffre_crypto::customer::CUSTOMER_KEY_ID.to_owned(),
            customer: Some(fingerprint),
        }
    }
}

/// How an object (or the objects of a bucket, by default) is encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// SSE-S3 or SSE-KMS.
    pub mode: SseMode,
    /// The KEK that wraps the data keys.
    pub key_id: String,
    /// For SSE-C: what recognises the customer's key.
    #[serde(default)]
    pub customer: Option<coffre_crypto::CustomerKeyFingerprint>,
}

/// The identity of a chunk file: 16 random bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkId(pub [u8; 16]);

impl ChunkId {
    pub(crate) fn generate() -> ChunkId {
        ChunkId(rand::random())
    }

    /// Hex form, used as the file name.
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    pub(crate) fn from_hex(s: &str) -> Option<ChunkId> {
        let mut id = [0u8; 16];
        hex::decode_to_slice(s, &mut id).ok()?;
        Some(ChunkId(id))
    }
}

impl Serialize for ChunkId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ChunkId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ChunkId::from_hex(&s).ok_or_else(|| serde::de::Error::custom("invalid chunk id"))
    }
}

/// A run of object bytes stored sealed in one chunk file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    /// The chunk file, which is also the sealed stream's identity.
    pub id: ChunkId,
    /// Plaintext bytes of object data in it.
    pub size_bytes: u64,
    /// Its data key, wrapped by a KEK.
    pub key: WrappedKey,
}

/// How a small object's sealed bytes in the record's payload are opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedInline {
    /// The sealed stream's identity.
    pub stream_id: ChunkId,
    /// Its data key, wrapped by a KEK.
    pub key: WrappedKey,
}

/// Where an object's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataLayout {
    /// Sealed in the record's payload.
    Inline(SealedInline),
    /// In sealed chunk files, in order (one per part for multipart objects).
    Chunks(Vec<ChunkRef>),
}

/// The standard content headers stored with an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHeaders {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Expires`, as the client sent it (an HTTP date).
    pub expires: Option<String>,
}

/// Metadata a client sets on an object at write time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectAttributes {
    /// Standard content headers.
    pub headers: ContentHeaders,
    /// `x-amz-meta-*` pairs, names lowercased.
    pub user_metadata: BTreeMap<String, String>,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Canned ACL `public-read` (else `private`).
    #[serde(default)]
    pub public_read: bool,
}

/// One version of an object. Unversioned buckets hold exactly one, the "null" version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// `None` is the "null" version.
    pub version_id: Option<String>,
    /// Size in bytes.
    pub size_bytes: u64,
    /// ETag without quotes.
    pub etag: String,
    /// Last-Modified.
    pub last_modified_ns: UnixNanos,
    /// Client-set attributes.
    pub attributes: ObjectAttributes,
    /// The stored checksum.
    pub checksum: Option<Checksum>,
    /// Sizes of the parts, for multipart objects (empty for a single PUT).
    pub part_sizes: Vec<u64>,
    /// Where the bytes are.
    pub layout: DataLayout,
    /// How it is encrypted.
    pub encryption: Encryption,
    /// For an object made by CompleteMultipartUpload: which upload and part list, so that the
    /// same Complete retried (SDKs retry it on a timeout) answers with this object.
    /// Added after format v1's first records: absent in older ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_upload: Option<Box<CompletedUpload>>,
    /// Object Lock retention of this version. Added after format v1's first records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Object Lock legal hold of this version. Added after format v1's first records.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legal_hold: bool,
}

/// A delete marker: the latest version of a key deleted in a versioned bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteMarker {
    /// `None` is the null version (a delete in a suspended bucket).
    pub version_id: Option<String>,
    /// When the delete happened.
    pub last_modified_ns: UnixNanos,
}

/// A row of a bucket's version list: an object version or a delete marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// An object version.
    Object(Box<ObjectRecord>),
    /// A delete marker.
    DeleteMarker(DeleteMarker),
}

impl Version {
    /// The version id (`None`: the null version).
    pub fn version_id(&self) -> Option<&str> {
        match self {
            Version::Object(o) => o.version_id.as_deref(),
            Version::DeleteMarker(m) => m.version_id.as_deref(),
        }
    }

    /// The object, unless this is a delete marker.
    pub fn object(&self) -> Option<&ObjectRecord> {
        match self {
            Version::Object(o) => Some(o),
            Version::DeleteMarker(_) => None,
        }
    }

    /// Chunk files the version owns.
    pub fn chunks(&self) -> &[ChunkRef] {
        self.object().map_or(&[], ObjectRecord::chunks)
    }

    /// Bytes it counts in usage and quotas.
    pub fn size_bytes(&self) -> u64 {
        self.object().map_or(0, |o| o.size_bytes)
    }
}

/// The CompleteMultipartUpload that made an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedUpload {
    /// The upload id.
    pub upload_id: String,
    /// SHA-256 (hex) of the part list asked for: `number:etag` lines in the client's order.
    pub parts_sha256: String,
}

impl ObjectRecord {
    /// Whether Object Lock keeps this version from being deleted at `now_ns`: a legal hold,
    /// or a retention in force (GOVERNANCE unless `bypass_governance`).
    pub fn locked(&self, now_ns: UnixNanos, bypass_governance: bool) -> bool {
        self.legal_hold
            || self.retention.as_ref().is_some_and(|r| {
                r.retain_until_ns > now_ns && (r.mode == RetentionMode::Compliance || !bypass_governance)
            })
    }

    /// Whether any of its data keys is wrapped by the KEK `key_id`.
    pub fn uses_key(&self, key_id: &str) -> bool {
        match &self.layout {
            DataLayout::Inline(seal) => seal.key.key_id == key_id,
            DataLayout::Chunks(chunks) => chunks.iter().any(|c| c.key.key_id == key_id),
        }
    }

    /// Chunk files this version owns.
    pub fn chunks(&self) -> &[ChunkRef] {
        match &self.layout {
            DataLayout::Inline(_) => &[],
            DataLayout::Chunks(c) => c,
        }
    }
}

/// A multipart upload in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadRecord {
    /// When it was created.
    pub initiated_ns: UnixNanos,
    /// Attributes the completed object will carry.
    pub attributes: ObjectAttributes,
    /// The checksum algorithm declared at creation.
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// The checksum type declared at creation.
    pub checksum_type: Option<ChecksumType>,
    /// How its parts and the completed object are encrypted.
    pub encryption: Encryption,
    /// The retention the completed object gets (else the bucket's default). Added after
    /// format v1's first records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Whether the completed object gets a legal hold. Added after format v1's first records.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legal_hold: bool,
}

/// One uploaded part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartRecord {
    /// Size in bytes.
    pub size_bytes: u64,
    /// MD5 of the part (its ETag).
    pub md5_hex: String,
    /// CRC64NVME of the part, always computed (full-object default checksum).
    pub crc64nvme: u64,
    /// The upload's checksum of this part, raw, base64.
    pub checksum_base64: Option<String>,
    /// When it was uploaded.
    pub last_modified_ns: UnixNanos,
    /// The chunk holding its bytes.
    pub chunk: ChunkRef,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_detect_damage() {
        let rec = BucketRecord::new(42, Some("eu-west-3".into()), Some("acme".into()));
        let mut bytes = encode(&rec, b"payload");
        let (back, payload): (BucketRecord, _) = decode(&bytes).unwrap();
        assert_eq!(back.created_ns, 42);
        assert_eq!(payload, b"payload");
        bytes[3] ^= 1;
        assert!(matches!(decode::<BucketRecord>(&bytes), Err(StoreError::Corrupt { .. })));
        assert!(decode::<BucketRecord>(&[1, 2]).is_err());
    }

    /// A frozen v1 record must keep decoding after any change to the structs.
    #[test]
    fn frozen_v1_bucket_record_decodes() {
        let json = br#"{"created_ns":1,"location":null}"#;
        let mut frozen = vec![1u8];
        frozen.extend_from_slice(&(json.len() as u32).to_le_bytes());
        frozen.extend_from_slice(json);
        let crc = record_crc(&frozen);
        frozen.extend_from_slice(&crc.to_le_bytes());
        let (rec, _): (BucketRecord, _) = decode(&frozen).unwrap();
        assert_eq!(rec.created_ns, 1);
    }

    fn frame(json: &[u8]) -> Vec<u8> {
        let mut frozen = vec![1u8];
        frozen.extend_from_slice(&(json.len() as u32).to_le_bytes());
        frozen.extend_from_slice(json);
        let crc = record_crc(&frozen);
        frozen.extend_from_slice(&crc.to_le_bytes());
        frozen
    }

    /// Upload and part records as format v1 wrote them keep decoding.
    #[test]
    fn frozen_v1_upload_and_part_records_decode() {
        let upload = br#"{"initiated_ns":7,"attributes":{"headers":{"content_type":"text/plain","content_encoding":null,"content_disposition":null,"content_language":null,"cache_control":null,"expires":null},"user_metadata":{"owner":"ada"},"tags":[],"public_read":false},"checksum_algorithm":"Sha256","checksum_type":"Composite","encryption":{"mode":"S3","key_id":"k","customer":null}}"#;
        match decode::<UploadRecord>(&frame(upload)) {
            Ok((rec, _)) => {
                assert_eq!(rec.initiated_ns, 7);
                assert_eq!(rec.checksum_algorithm, Some(ChecksumAlgorithm::Sha256));
                assert_eq!(rec.attributes.user_metadata.get("owner").map(String::as_str), Some("ada"));
            }
            Err(e) => panic!("{e}"),
        }
        let part = br#"{"size_bytes":5242880,"md5_hex":"00000000000000000000000000000000","crc64nvme":42,"checksum_base64":null,"last_modified_ns":8,"chunk":{"id":"03030303030303030303030303030303","size_bytes":5242880,"key":{"key_id":"k","key_version":1,"envelope":"e"}}}"#;
        match decode::<PartRecord>(&frame(part)) {
            Ok((rec, _)) => {
                assert_eq!((rec.size_bytes, rec.crc64nvme), (5_242_880, 42));
                assert_eq!(rec.chunk.id, ChunkId([3; 16]));
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// An object row of a version list written by format v1 decodes as an object version, and a
    /// delete marker as a marker.
    #[test]
    fn version_rows_decode_as_objects_or_markers() {
        let marker = Version::DeleteMarker(DeleteMarker { version_id: Some("ff".into()), last_modified_ns: 3 });
        let bytes = encode_version(&marker, &[]);
        assert_eq!(bytes.first(), Some(&DELETE_MARKER_FORMAT_V1), "a marker row says so in its first byte");
        assert!(matches!(decode_version(&bytes), Ok((Version::DeleteMarker(m), _)) if m.last_modified_ns == 3));
        let bucket_json = br#"{"created_ns":1,"location":null}"#;
        assert!(decode_version(&frame(bucket_json)).is_err(), "a bucket record is no version");
    }

    /// An object record written before `completed_upload` existed still decodes, without it.
    #[test]
    fn frozen_v1_object_record_without_completed_upload_decodes() {
        let json = br#"{"version_id":null,"size_bytes":3,"etag":"e","last_modified_ns":7,"attributes":{"headers":{"content_type":null,"content_encoding":null,"content_disposition":null,"content_language":null,"cache_control":null,"expires":null},"user_metadata":{},"tags":[],"public_read":false},"checksum":null,"part_sizes":[],"layout":{"Chunks":[]},"encryption":{"mode":"S3","key_id":"k","customer":null}}"#;
        let mut frozen = vec![1u8];
        frozen.extend_from_slice(&(json.len() as u32).to_le_bytes());
        frozen.extend_from_slice(json);
        let crc = record_crc(&frozen);
        frozen.extend_from_slice(&crc.to_le_bytes());
        match decode::<ObjectRecord>(&frozen) {
            Ok((rec, _)) => {
                assert_eq!(rec.size_bytes, 3);
                assert_eq!(rec.completed_upload, None);
            }
            Err(e) => panic!("{e}"),
        }
    }
}

//! Small conversions between engine values and s3s DTOs.

use std::collections::BTreeMap;

use bytes::Bytes;
use coffre_store::{BodyError, Checksum, ChecksumAlgorithm, ChecksumType, ContentHeaders, ObjectRecord, UnixNanos};
use futures::{Stream, StreamExt};
use s3s::dto::{self, ETag, StreamingBlob, Timestamp, TimestampFormat};

/// A timestamp from engine nanoseconds.
pub fn timestamp(ns: UnixNanos) -> Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

/// A strong ETag.
pub fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_owned())
}

/// A request body as the engine reads it.
pub fn body_stream(body: Option<StreamingBlob>) -> impl Stream<Item = Result<Bytes, BodyError>> + Unpin {
    match body {
        Some(b) => b.map(|r| r.map_err(BodyError)).left_stream(),
        None => futures::stream::empty().right_stream(),
    }
}

/// An HTTP date string for `Expires`.
pub fn http_date(t: &Timestamp) -> Option<String> {
    let mut buf = Vec::new();
    t.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    String::from_utf8(buf).ok()
}

/// Parses a stored HTTP date back.
pub fn parse_http_date(s: &str) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, s).ok()
}

/// The s3s name of an engine checksum algorithm.
pub fn algorithm_dto(a: ChecksumAlgorithm) -> dto::ChecksumAlgorithm {
    dto::ChecksumAlgorithm::from(a.name().to_owned())
}

/// The engine algorithm of an s3s checksum algorithm.
pub fn algorithm_from_dto(a: &dto::ChecksumAlgorithm) -> Option<ChecksumAlgorithm> {
    ChecksumAlgorithm::parse(a.as_str())
}

/// The s3s checksum type.
pub fn checksum_type_dto(t: ChecksumType) -> dto::ChecksumType {
    dto::ChecksumType::from(t.name().to_owned())
}

/// A checksum spread over the per-algorithm fields S3 responses carry.
#[derive(Default)]
pub struct ChecksumFields {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub kind: Option<dto::ChecksumType>,
}

impl ChecksumFields {
    /// The fields for a stored checksum.
    pub fn of(checksum: Option<&Checksum>) -> ChecksumFields {
        let mut f = ChecksumFields::default();
        let Some(c) = checksum else { return f };
        f.set(c.algorithm, c.value.clone());
        f.kind = Some(checksum_type_dto(c.kind));
        f
    }

    /// Sets one algorithm's field.
    pub fn set(&mut self, algorithm: ChecksumAlgorithm, value: String) {
        let slot = match algorithm {
            ChecksumAlgorithm::Crc32 => &mut self.crc32,
            ChecksumAlgorithm::Crc32c => &mut self.crc32c,
            ChecksumAlgorithm::Crc64Nvme => &mut self.crc64nvme,
            ChecksumAlgorithm::Sha1 => &mut self.sha1,
            ChecksumAlgorithm::Sha256 => &mut self.sha256,
        };
        *slot = Some(value);
    }
}

/// Standard content headers from a write request.
pub struct HeaderInput {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<Timestamp>,
}

impl HeaderInput {
    /// The engine form; `Content-Type` defaults to `binary/octet-stream` as in S3.
    pub fn into_headers(self) -> ContentHeaders {
        // Stored exactly as sent, unless it names aws-chunked, which is transfer framing.
        let content_encoding = self.content_encoding.and_then(|e| {
            if !e.split(',').any(|p| p.trim() == "aws-chunked") {
                return Some(e);
            }
            let kept: Vec<&str> =
                e.split(',').map(str::trim).filter(|p| !p.is_empty() && *p != "aws-chunked").collect();
            (!kept.is_empty()).then(|| kept.join(", "))
        });
        ContentHeaders {
            content_type: Some(self.content_type.unwrap_or_else(|| "binary/octet-stream".to_owned())),
            content_encoding,
            content_disposition: self.content_disposition,
            content_language: self.content_language,
            cache_control: self.cache_control,
            expires: self.expires.as_ref().and_then(http_date),
        }
    }
}

/// User metadata for a response (`None` when empty).
pub fn metadata_dto(m: &BTreeMap<String, String>) -> Option<dto::Metadata> {
    (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// Number of tags, for `x-amz-tagging-count` (`None` when there are none).
pub fn tag_count(record: &ObjectRecord) -> Option<i32> {
    let n = record.attributes.tags.len();
    (n > 0).then(|| i32::try_from(n).unwrap_or(i32::MAX))
}

/// The size as the DTOs want it.
pub fn size_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

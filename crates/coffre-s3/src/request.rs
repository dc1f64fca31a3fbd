//! Turning S3 request parts into engine values: checksums asked for and sent (in headers or
//! trailers), user metadata, tags, write conditions and read conditions.

use std::collections::BTreeMap;

use coffre_store::checksum::ContentDigests;
use coffre_store::limits::{TAG_KEY_CHARS_MAX, TAG_VALUE_CHARS_MAX, TAGS_PER_OBJECT_MAX, USER_METADATA_BYTES_MAX};
use coffre_store::{ChecksumAlgorithm, ObjectRecord, StoreError, WriteCondition};
use http::HeaderMap;
use s3s::dto::{ETagCondition, Timestamp};
use s3s::{S3Error, S3ErrorCode, S3Result, TrailingHeaders, s3_error};

use crate::errors::to_s3;

const CHECKSUM_HEADERS: [(&str, ChecksumAlgorithm); 5] = [
    ("x-amz-checksum-crc32", ChecksumAlgorithm::Crc32),
    ("x-amz-checksum-crc32c", ChecksumAlgorithm::Crc32c),
    ("x-amz-checksum-crc64nvme", ChecksumAlgorithm::Crc64Nvme),
    ("x-amz-checksum-sha1", ChecksumAlgorithm::Sha1),
    ("x-amz-checksum-sha256", ChecksumAlgorithm::Sha256),
];

/// The additional checksum a write carries: which algorithm, and where its value is.
#[derive(Debug, Clone, Default)]
pub struct ChecksumRequest {
    /// The algorithm to compute.
    pub algorithm: Option<ChecksumAlgorithm>,
    /// The value sent in a header.
    pub header_value: Option<String>,
    /// The trailer that will carry the value (`x-amz-trailer`).
    pub trailer: Option<&'static str>,
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Reads the checksum a write declares, from `x-amz-checksum-*`, `x-amz-trailer` and
/// `x-amz-sdk-checksum-algorithm`.
pub fn checksum_request(headers: &HeaderMap) -> S3Result<ChecksumRequest> {
    let mut req = ChecksumRequest::default();
    for (name, algorithm) in CHECKSUM_HEADERS {
        if let Some(value) = header(headers, name) {
            if req.algorithm.is_some() {
                return Err(s3_error!(
                    InvalidRequest,
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                ));
            }
            req.algorithm = Some(algorithm);
            req.header_value = Some(value.to_owned());
        }
    }
    if let Some(trailer) = header(headers, "x-amz-trailer") {
        let trailer = trailer.trim().to_ascii_lowercase();
        let (name, algorithm) = CHECKSUM_HEADERS.iter().find(|(n, _)| *n == trailer).ok_or_else(|| {
            s3_error!(InvalidRequest, "The value specified in the x-amz-trailer header is not supported")
        })?;
        if req.algorithm.is_some_and(|a| a != *algorithm) {
            return Err(s3_error!(
                InvalidRequest,
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
            ));
        }
        req.algorithm = Some(*algorithm);
        req.trailer = Some(name);
    }
    if let Some(sdk) = header(headers, "x-amz-sdk-checksum-algorithm") {
        let algorithm = ChecksumAlgorithm::parse(sdk)
            .ok_or_else(|| s3_error!(InvalidRequest, "Value for x-amz-sdk-checksum-algorithm header is invalid."))?;
        match req.algorithm {
            None => req.algorithm = Some(algorithm),
            Some(a) if a == algorithm => {}
            Some(_) => {
                return Err(s3_error!(InvalidRequest, "Value for x-amz-sdk-checksum-algorithm header is invalid."));
            }
        }
    }
    Ok(req)
}

/// Verifies what a client sent against what was received: `Content-MD5`, then the additional
/// checksum from its header or its trailer. Nothing is committed unless this passes.
pub fn verify_digests(
    digests: &ContentDigests,
    content_md5: Option<&str>,
    checksum: &ChecksumRequest,
    trailers: Option<&TrailingHeaders>,
) -> S3Result<()> {
    if let Some(md5) = content_md5 {
        digests.verify_md5(md5).map_err(to_s3)?;
    }
    let Some(algorithm) = checksum.algorithm else {
        return Ok(());
    };
    let value = match (&checksum.header_value, checksum.trailer) {
        (Some(v), _) => Some(v.clone()),
        (None, Some(name)) => {
            trailers.and_then(|t| t.read(|h| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned))).flatten()
        }
        (None, None) => None,
    };
    match value {
        Some(v) => digests.verify(algorithm, &v).map_err(|e| match e {
            StoreError::BadDigest { .. } => S3Error::with_message(
                S3ErrorCode::BadDigest,
                format!("The {} you specified did not match the calculated checksum.", algorithm.name()),
            ),
            other => to_s3(other),
        }),
        None if checksum.trailer.is_some() => {
            Err(s3_error!(InvalidRequest, "The x-amz-trailer header named a checksum that the body did not carry"))
        }
        None => Ok(()),
    }
}

/// The length of the data a body announces: `x-amz-decoded-content-length`, else
/// `Content-Length` unless the body is aws-chunked (then Content-Length counts the framing).
pub fn announced_length(headers: &HeaderMap) -> Option<u64> {
    let announced = header(headers, "x-amz-decoded-content-length").or_else(|| {
        let encoded = header(headers, "content-encoding").unwrap_or_default();
        if encoded.contains("aws-chunked") { None } else { header(headers, "content-length") }
    });
    announced.and_then(|v| v.trim().parse::<u64>().ok())
}

/// Checks the announced length of a body against what arrived.
pub fn verify_length(headers: &HeaderMap, received: u64) -> S3Result<()> {
    if let Some(n) = announced_length(headers)
        && n != received
    {
        return Err(s3_error!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
        ));
    }
    Ok(())
}

/// User metadata (`x-amz-meta-*`), size-checked: names plus values at most 2 KiB.
pub fn user_metadata(metadata: Option<s3s::dto::Metadata>) -> S3Result<BTreeMap<String, String>> {
    let map: BTreeMap<String, String> =
        metadata.unwrap_or_default().into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    let size: usize = map.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > USER_METADATA_BYTES_MAX {
        return Err(to_s3(StoreError::MetadataTooLarge));
    }
    Ok(map)
}

fn invalid_tag(message: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidTag, message.to_owned())
}

/// Validates a tag set: at most 10 tags, unique keys, key ≤ 128 and value ≤ 256 characters.
pub fn validate_tags(tags: Vec<(String, String)>) -> S3Result<Vec<(String, String)>> {
    if tags.len() > TAGS_PER_OBJECT_MAX {
        return Err(crate::errors::custom(
            "BadRequest",
            http::StatusCode::BAD_REQUEST,
            "Object tags cannot be greater than 10",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (k, v) in &tags {
        if k.is_empty() || k.chars().count() > TAG_KEY_CHARS_MAX {
            return Err(invalid_tag("The TagKey you have provided is invalid"));
        }
        if k.starts_with("aws:") {
            return Err(invalid_tag("Your TagKey cannot be prefixed with aws:"));
        }
        if v.chars().count() > TAG_VALUE_CHARS_MAX {
            return Err(invalid_tag("The TagValue you have provided is invalid"));
        }
        if !seen.insert(k.as_str()) {
            return Err(invalid_tag("Cannot provide multiple Tags with the same key"));
        }
    }
    Ok(tags)
}

/// Parses `x-amz-tagging` (URL query form, `k1=v1&k2=v2`).
pub fn parse_tagging_header(value: Option<&str>) -> S3Result<Vec<(String, String)>> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(Vec::new());
    };
    let tags = form_urlencoded::parse(value.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    validate_tags(tags)
}

/// Refuses ACL grant headers (`x-amz-grant-*`) with 501: grants are not implemented yet, and
/// a grant silently dropped would leave access other than what the client asked for.
macro_rules! refuse_grants {
    ($input:expr $(, $extra:ident)*) => {
        if $input.grant_full_control.is_some()
            || $input.grant_read.is_some()
            || $input.grant_read_acp.is_some()
            || $input.grant_write_acp.is_some()
            $(|| $input.$extra.is_some())*
        {
            return Err(s3s::s3_error!(
                NotImplemented,
                "ACL grants (x-amz-grant-* headers) are not implemented yet; use a canned ACL or a bucket policy"
            ));
        }
    };
}
pub(crate) use refuse_grants;

/// The condition of a conditional write (`If-None-Match: *`, `If-Match`).
pub fn write_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<WriteCondition> {
    match (if_match, if_none_match) {
        (None, None) => Ok(WriteCondition::None),
        (Some(_), Some(_)) => Err(s3_error!(
            NotImplemented,
            "A header you provided implies functionality that is not implemented: If-Match with If-None-Match"
        )),
        (None, Some(c)) if c.is_any() => Ok(WriteCondition::IfNoneMatchAny),
        (None, Some(_)) => Err(s3_error!(
            NotImplemented,
            "A header you provided implies functionality that is not implemented: If-None-Match only accepts *"
        )),
        (Some(c), None) => match c.as_etag() {
            Some(etag) => Ok(WriteCondition::IfMatch(etag.value().to_owned())),
            None => Ok(WriteCondition::IfMatchAny),
        },
    }
}

fn etag_matches(cond: &ETagCondition, etag: &str) -> bool {
    match cond.as_etag() {
        Some(e) => e.value() == etag,
        None => true,
    }
}

/// What a read must answer when its conditions decide (RFC 9110 §13.2.2, as S3 applies it).
pub enum ReadVerdict {
    /// Serve the object.
    Serve,
    /// 304 Not Modified.
    NotModified,
}

/// Evaluates `If-Match`, `If-Unmodified-Since`, `If-None-Match` and `If-Modified-Since`.
pub fn read_conditions(
    record: &ObjectRecord,
    if_match: Option<&ETagCondition>,
    if_unmodified_since: Option<&Timestamp>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
) -> S3Result<ReadVerdict> {
    let modified_s = record.last_modified_ns.div_euclid(1_000_000_000);
    let seconds = |t: &Timestamp| time::OffsetDateTime::from(t.clone()).unix_timestamp();
    if let Some(c) = if_match {
        if !etag_matches(c, &record.etag) {
            return Err(s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold"));
        }
    } else if let Some(t) = if_unmodified_since
        && modified_s > seconds(t)
    {
        return Err(s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold"));
    }
    if let Some(c) = if_none_match {
        if etag_matches(c, &record.etag) {
            return Ok(ReadVerdict::NotModified);
        }
    } else if let Some(t) = if_modified_since
        && modified_s <= seconds(t)
    {
        return Ok(ReadVerdict::NotModified);
    }
    Ok(ReadVerdict::Serve)
}

/// Decodes a percent-encoded URI component (a path, `x-amz-copy-source`); `+` stays a `+`,
/// as in paths. Invalid UTF-8 is replaced, never a panic.
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Percent-encodes a key for `encoding-type=url` answers: everything but unreserved
/// characters and `/`.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_keeps_slashes() {
        assert_eq!(url_encode("quux ab/"), "quux%20ab/");
        assert_eq!(url_encode("foo+1/"), "foo%2B1/");
    }

    #[test]
    fn tags_are_limited() {
        assert!(parse_tagging_header(Some("a=1&b=2")).is_ok());
        assert!(parse_tagging_header(Some("a=1&a=2")).is_err());
        let many: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert!(parse_tagging_header(Some(&many.join("&"))).is_err());
        // The aws: prefix is reserved for AWS's own tags.
        assert!(parse_tagging_header(Some("aws%3Acreated=me")).is_err());
    }

    #[test]
    fn two_checksum_headers_are_refused() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-checksum-crc32", "AAAAAA==".parse().unwrap());
        h.insert("x-amz-checksum-sha1", "x".parse().unwrap());
        assert!(checksum_request(&h).is_err());
    }
}

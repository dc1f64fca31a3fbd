//! Request bodies that are not object data (XML and JSON documents: DeleteObjects,
//! CompleteMultipartUpload, tagging, policies, bucket configurations) are read here, in full
//! and within a bound, before s3s parses them, and checked as AWS checks them:
//!
//! - a body over [`CONFIG_BODY_BYTES_MAX`] is `MaxMessageLengthExceeded` (400), refused from
//!   its `Content-Length` before a byte is read;
//! - `x-amz-content-sha256`, `Content-MD5` and `x-amz-checksum-*` must match the body
//!   (`XAmzContentSHA256Mismatch`, `BadDigest`, `InvalidDigest`);
//! - DeleteObjects must carry `Content-MD5` or an `x-amz-checksum-*` digest, so that a key
//!   list damaged in transit is never executed.
//!
//! CompleteMultipartUpload is the exception: its `x-amz-checksum-*` headers are the checksum
//! of the object it assembles, not of its body (the engine verifies those).
//!
//! Object data (PutObject, UploadPart, PostObject) streams through the engine instead, which
//! checks its digests as it stores.

use bytes::Bytes;
use coffre_store::checksum::ContentHasher;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use s3s::{Body, S3Error, S3ErrorCode, s3_error};

use crate::idle_body::IdleBody;
use crate::request;

/// Largest document body accepted. AWS's largest legitimate ones stay well below: a
/// CompleteMultipartUpload of 10,000 parts with SHA-256 checksums is about 1.5 MiB, a
/// DeleteObjects of 1,000 keys of 1,024 bytes about 1.1 MiB.
pub const CONFIG_BODY_BYTES_MAX: usize = 8 * 1024 * 1024;

fn too_large() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::MaxMessageLengthExceeded,
        format!("Your request was too big: a request document may be at most {CONFIG_BODY_BYTES_MAX} bytes."),
    )
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Refuses, from its headers alone, a document body that cannot be accepted.
pub fn precheck(headers: &HeaderMap, requires_digest: bool) -> Result<(), S3Error> {
    if request::announced_length(headers).is_some_and(|n| n > CONFIG_BODY_BYTES_MAX as u64) {
        return Err(too_large());
    }
    let has_digest = headers.contains_key("content-md5")
        || headers.keys().any(|k| k.as_str().starts_with("x-amz-checksum-"))
        || headers.contains_key("x-amz-trailer");
    if requires_digest && !has_digest {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Missing required header for this request: Content-MD5 (or an x-amz-checksum- header)",
        ));
    }
    Ok(())
}

/// Reads a document body in full (bounded) and verifies its digests; the request goes on to
/// s3s with the body in memory. An aws-chunked body is left to s3s, which decodes it and
/// verifies its chunk signatures; its trailing checksum is then verified by nobody, so such
/// a body is refused where a digest is required.
pub async fn read(req: Request<IdleBody<Incoming>>, operation: &str) -> Result<Request<Body>, S3Error> {
    // As in AWS (the operations whose model says `requestChecksumRequired`).
    let requires_digest = matches!(operation, "DeleteObjects" | "PutBucketLifecycleConfiguration");
    let checksums_of_body = operation != "CompleteMultipartUpload";
    precheck(req.headers(), requires_digest)?;
    if header(req.headers(), "content-encoding").is_some_and(|e| e.contains("aws-chunked")) {
        if requires_digest {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "Send this request's body unchunked, with Content-MD5 or an x-amz-checksum- header",
            ));
        }
        return Ok(req.map(Body::http_body_unsync));
    }
    let (parts, body) = req.into_parts();
    let bytes = match http_body_util::Limited::new(body, CONFIG_BODY_BYTES_MAX).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(e) => return Err(crate::errors::body_error(e)),
    };
    verify(&parts.headers, &bytes, checksums_of_body)?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Checks a document body against `x-amz-content-sha256`, `Content-MD5` and, when they
/// describe the body, `x-amz-checksum-*`.
fn verify(headers: &HeaderMap, body: &Bytes, checksums_of_body: bool) -> Result<(), S3Error> {
    if let Some(claimed) = header(headers, "x-amz-content-sha256")
        && claimed.len() == 64
        && claimed.bytes().all(|b| b.is_ascii_hexdigit())
    {
        use sha2::Digest as _;
        let actual = hex::encode(sha2::Sha256::digest(body));
        if !actual.eq_ignore_ascii_case(claimed) {
            return Err(crate::errors::custom(
                "XAmzContentSHA256Mismatch",
                StatusCode::BAD_REQUEST,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ));
        }
    }
    let md5 = header(headers, "content-md5");
    if md5.is_some_and(|v| v.trim().is_empty()) {
        return Err(s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid."));
    }
    let checksum = if checksums_of_body { request::checksum_request(headers)? } else { Default::default() };
    if md5.is_none() && checksum.header_value.is_none() {
        return Ok(());
    }
    let mut hasher = ContentHasher::new(checksum.algorithm);
    hasher.update(body);
    request::verify_digests(&hasher.finalize(), md5, &checksum, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    fn code(e: &S3Error) -> &str {
        e.code().as_str()
    }

    #[test]
    fn digests_must_match_the_body() {
        let body = Bytes::from_static(b"<Delete><Object><Key>a</Key></Object></Delete>");
        let md5_of = |b: &[u8]| {
            use md5::Digest as _;
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, md5::Md5::digest(b))
        };
        let md5 = md5_of(&body);
        assert!(verify(&headers(&[("content-md5", &md5)]), &body, true).is_ok());
        let other = md5_of(b"x");
        assert_eq!(code(&verify(&headers(&[("content-md5", &other)]), &body, true).unwrap_err()), "BadDigest");
        assert_eq!(code(&verify(&headers(&[("content-md5", "!!")]), &body, true).unwrap_err()), "InvalidDigest");
        assert_eq!(
            code(&verify(&headers(&[("x-amz-checksum-crc32", "AAAAAA==")]), &body, true).unwrap_err()),
            "BadDigest"
        );
        let wrong_sha = "0".repeat(64);
        assert_eq!(
            code(&verify(&headers(&[("x-amz-content-sha256", &wrong_sha)]), &body, true).unwrap_err()),
            "XAmzContentSHA256Mismatch"
        );
        assert!(verify(&headers(&[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]), &body, true).is_ok());
        // CompleteMultipartUpload: the checksum header is the object's, not the body's.
        assert!(verify(&headers(&[("x-amz-checksum-crc32", "AAAAAA==")]), &body, false).is_ok());
    }

    #[test]
    fn oversized_or_undigested_documents_are_refused_up_front() {
        let big = (CONFIG_BODY_BYTES_MAX + 1).to_string();
        assert_eq!(
            code(&precheck(&headers(&[("content-length", &big)]), false).unwrap_err()),
            "MaxMessageLengthExceeded"
        );
        assert_eq!(code(&precheck(&headers(&[("content-length", "10")]), true).unwrap_err()), "InvalidRequest");
        assert!(precheck(&headers(&[("content-length", "10"), ("x-amz-checksum-crc32", "x")]), true).is_ok());
    }
}

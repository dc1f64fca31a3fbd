//! The one place where engine errors become S3 errors (code and HTTP status).
//!
//! The match is exhaustive on purpose: a new engine error does not compile until it has an S3
//! meaning. Internal failures become a 500 `InternalError` that carries no internal detail;
//! the detail goes to the log, with the request id.

use coffre_store::StoreError;
use s3s::{S3Error, S3ErrorCode, s3_error};

/// Converts an engine error into the S3 error a client must see.
pub fn to_s3(err: StoreError) -> S3Error {
    use StoreError as E;
    match err {
        E::BadDigest { .. } => S3Error::with_message(S3ErrorCode::BadDigest, err.to_string()),
        E::BucketAlreadyOwnedByYou => s3_error!(
            BucketAlreadyOwnedByYou,
            "Your previous request to create the named bucket succeeded and you already own it."
        ),
        E::QuotaExceeded { quota, usage } => custom(
            "QuotaExceeded",
            http::StatusCode::FORBIDDEN,
            format!(
                "The bucket's quota would be exceeded: it holds {} bytes in {} objects; the quota is {} bytes, {} objects.",
                usage.bytes,
                usage.objects,
                quota.max_bytes.map_or("unlimited".to_owned(), |b| b.to_string()),
                quota.max_objects.map_or("unlimited".to_owned(), |o| o.to_string()),
            ),
        ),
        E::PublicAccessBlocked => s3_error!(AccessDenied, "Access Denied"),
        E::BucketNotEmpty => s3_error!(BucketNotEmpty, "The bucket you tried to delete is not empty"),
        E::EntityTooSmall { .. } => S3Error::with_message(
            S3ErrorCode::EntityTooSmall,
            "Your proposed upload is smaller than the minimum allowed object size.",
        ),
        E::EntityTooLarge => {
            s3_error!(EntityTooLarge, "Your proposed upload exceeds the maximum allowed object size.")
        }
        E::IncompleteBody => S3Error::with_message(S3ErrorCode::IncompleteBody, err.to_string()),
        E::InvalidArgument { message } => S3Error::with_message(S3ErrorCode::InvalidArgument, message),
        E::InvalidBucketName { .. } => S3Error::with_message(S3ErrorCode::InvalidBucketName, err.to_string()),
        E::InvalidDigest { .. } => S3Error::with_message(S3ErrorCode::InvalidDigest, err.to_string()),
        E::InvalidPart => S3Error::with_message(S3ErrorCode::InvalidPart, err.to_string()),
        E::InvalidPartOrder => S3Error::with_message(S3ErrorCode::InvalidPartOrder, err.to_string()),
        E::InvalidRange { object_size } => {
            let mut e = s3_error!(InvalidRange, "The requested range is not satisfiable");
            let mut headers = http::HeaderMap::new();
            if let Ok(v) = http::HeaderValue::from_str(&format!("bytes */{object_size}")) {
                headers.insert(http::header::CONTENT_RANGE, v);
            }
            e.set_headers(headers);
            e
        }
        E::KeyTooLong => s3_error!(KeyTooLongError, "Your key is too long"),
        E::MetadataTooLarge => S3Error::with_message(S3ErrorCode::MetadataTooLarge, err.to_string()),
        E::NoSuchBucket => s3_error!(NoSuchBucket, "The specified bucket does not exist"),
        E::NoSuchKey => s3_error!(NoSuchKey, "The specified key does not exist."),
        E::NoSuchUpload => s3_error!(
            NoSuchUpload,
            "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
        ),
        E::NoSuchVersion => s3_error!(NoSuchVersion, "The specified version does not exist."),
        E::ObjectLocked => s3_error!(AccessDenied, "Access Denied because object protected by object lock."),
        E::InvalidBucketState { message } => S3Error::with_message(S3ErrorCode::InvalidBucketState, message),
        E::MissingObjectLockConfiguration => {
            S3Error::with_message(S3ErrorCode::InvalidRequest, "Bucket is missing Object Lock Configuration")
        }
        E::DeleteMarker { version_id, named } => {
            // As AWS: the latest version deleted is 404 NoSuchKey, a marker named by its id is
            // 405; both say it is a delete marker, and which.
            let mut e = if named {
                s3_error!(MethodNotAllowed, "The specified method is not allowed against this resource.")
            } else {
                s3_error!(NoSuchKey, "The specified key does not exist.")
            };
            let mut headers = http::HeaderMap::new();
            headers.insert("x-amz-delete-marker", http::HeaderValue::from_static("true"));
            if let Ok(v) = http::HeaderValue::from_str(version_id.as_deref().unwrap_or("null")) {
                headers.insert("x-amz-version-id", v);
            }
            e.set_headers(headers);
            e
        }
        E::NotPermitted { .. } => {
            // A handler used the wrong permit: a bug, refused rather than acted on.
            tracing::error!(error = %err, "engine call refused for its permit");
            s3_error!(AccessDenied, "Access Denied")
        }
        E::PreconditionFailed => {
            s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold")
        }
        E::Body(source) => body_error(source),
        E::Crypto(e) => crypto_error(e),
        E::SseCustomerKeyRequired | E::SseCustomerKeyNotApplicable => {
            S3Error::with_message(S3ErrorCode::InvalidRequest, err.to_string())
        }
        E::SseCustomerKeyMismatch => S3Error::with_message(S3ErrorCode::AccessDenied, err.to_string()),
        E::ShuttingDown => s3_error!(ServiceUnavailable, "The server is shutting down; retry."),
        E::InsufficientStorage { .. } => insufficient_storage(&err),
        E::Io { .. } | E::Meta(_) if err.is_out_of_space() => insufficient_storage(&err),
        E::Corrupt { .. } | E::Io { .. } | E::Meta(_) => {
            tracing::error!(error = %err, "internal error");
            s3_error!(InternalError, "We encountered an internal error. Please try again.")
        }
    }
}

/// A full disk: 507, which SDKs do not retry (a disk does not empty in their back-off), and
/// what MinIO answers too (`XMinioStorageFull`), so tools that migrate from it recognise it.
fn insufficient_storage(err: &StoreError) -> S3Error {
    tracing::warn!(error = %err, "write refused: not enough free disk space");
    custom(
        "InsufficientStorage",
        http::StatusCode::INSUFFICIENT_STORAGE,
        "There is not enough free disk space to store this data. Delete data or ask the operator to add capacity.",
    )
}

/// Key states fail closed with an explicit KMS error (never a 500); damaged sealed data is
/// an internal error, logged, and never served.
fn crypto_error(err: coffre_store::CryptoError) -> S3Error {
    use coffre_store::CryptoError as C;
    match err {
        C::KeyDisabled(id) => custom(
            "KMS.DisabledException",
            http::StatusCode::BAD_REQUEST,
            format!(
                "The encryption key {id} is disabled; objects it protects cannot be read or written until it is enabled."
            ),
        ),
        C::KeyDestroyed(id) => custom(
            "KMS.KMSInvalidStateException",
            http::StatusCode::BAD_REQUEST,
            format!("The encryption key {id} was destroyed; the objects it protected are unreadable forever."),
        ),
        C::Unavailable(message) => {
            tracing::warn!(error = %message, "key provider unavailable; failing closed");
            S3Error::with_message(
                S3ErrorCode::ServiceUnavailable,
                format!("The key management service is unavailable ({message}); retry later."),
            )
        }
        C::NoSuchKey(id) => {
            custom("KMS.NotFoundException", http::StatusCode::BAD_REQUEST, format!("Key '{id}' does not exist"))
        }
        other => {
            tracing::error!(error = %other, "sealed data or key store failure");
            s3_error!(InternalError, "We encountered an internal error. Please try again.")
        }
    }
}

/// A failed request body. An S3 error raised while decoding it is passed through. s3s keeps
/// its body-decoding error types private, so the SigV4 payload failures are recognised by
/// their stable `Display` names; anything else means the body ended early.
pub(crate) fn body_error(source: Box<dyn std::error::Error + Send + Sync>) -> S3Error {
    let source = match source.downcast::<S3Error>() {
        Ok(e) => return *e,
        Err(other) => other,
    };
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
    while let Some(e) = cause {
        if e.is::<crate::idle_body::BodyIdle>() {
            return crate::idle_body::request_timeout();
        }
        cause = e.source();
    }
    let text = source.to_string();
    tracing::debug!(error = %text, "request body failed");
    if text.contains(crate::idle_body::IDLE_BODY_MESSAGE) {
        return crate::idle_body::request_timeout();
    }
    if text.contains("SignatureMismatch") {
        s3_error!(
            SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        )
    } else if text.contains("Sha256Mismatch") {
        custom(
            "XAmzContentSHA256Mismatch",
            http::StatusCode::BAD_REQUEST,
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    } else if text.contains("FormatError") || text.contains("TooLarge") || text.contains("TooManyTrailerHeaders") {
        s3_error!(InvalidRequest, "The aws-chunked body is malformed")
    } else {
        s3_error!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
        )
    }
}

/// Shorthand for the common `Result` conversion.
pub trait StoreResultExt<T> {
    /// Maps the engine error to its S3 error.
    fn s3(self) -> Result<T, S3Error>;
}

impl<T> StoreResultExt<T> for Result<T, StoreError> {
    fn s3(self) -> Result<T, S3Error> {
        self.map_err(to_s3)
    }
}

/// An S3 error whose code s3s does not know, with its HTTP status.
pub fn custom(
    code: &'static str,
    status: http::StatusCode,
    message: impl Into<std::borrow::Cow<'static, str>>,
) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.into()), message);
    e.set_status_code(status);
    e
}

//! Errors of the object engine. `coffre-s3` maps each variant to its S3 error, in one place.

use std::io;

/// Everything the object engine can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The digest the client sent does not match the data received.
    #[error("the {algorithm} digest you specified did not match what we received")]
    BadDigest {
        /// Which digest (`Content-MD5`, `CRC32`, ...).
        algorithm: &'static str,
    },
    /// The bucket exists and belongs to the caller.
    #[error("the bucket's quota would be exceeded ({usage:?} used of {quota:?})")]
    QuotaExceeded { quota: crate::records::Quota, usage: crate::records::Usage },

    #[error("the bucket's PublicAccessBlock forbids making it public")]
    PublicAccessBlocked,

    #[error("bucket already exists and is owned by you")]
    BucketAlreadyOwnedByYou,
    /// The bucket still holds objects or uploads.
    #[error("the bucket you tried to delete is not empty")]
    BucketNotEmpty,
    /// A part is smaller than the minimum and is not the last one.
    #[error("part {part_number} is smaller than the minimum allowed size")]
    EntityTooSmall {
        /// The offending part.
        part_number: u32,
    },
    /// An object or part exceeds the maximum size.
    #[error("your proposed upload exceeds the maximum allowed size")]
    EntityTooLarge,
    /// The body ended before the announced length.
    #[error("you did not provide the number of bytes specified by the Content-Length header")]
    IncompleteBody,
    /// A named argument is invalid.
    #[error("{message}")]
    InvalidArgument {
        /// What is wrong.
        message: String,
    },
    /// Invalid bucket name.
    #[error("the specified bucket is not valid: {reason}")]
    InvalidBucketName {
        /// Which rule the name breaks.
        reason: &'static str,
    },
    /// A digest header is not well formed.
    #[error("the {algorithm} you specified is not valid")]
    InvalidDigest {
        /// Which digest.
        algorithm: &'static str,
    },
    /// A part listed in CompleteMultipartUpload is missing or its ETag differs.
    #[error("one or more of the specified parts could not be found or its entity tag did not match")]
    InvalidPart,
    /// The parts of CompleteMultipartUpload are not in ascending order.
    #[error("the list of parts was not in ascending order")]
    InvalidPartOrder,
    /// The requested range cannot be served.
    #[error("the requested range is not satisfiable")]
    InvalidRange {
        /// Size of the object, for the `Content-Range: bytes */size` answer.
        object_size: u64,
    },
    /// Object key too long.
    #[error("your key is too long")]
    KeyTooLong,
    /// User metadata too large.
    #[error("your metadata headers exceed the maximum allowed metadata size")]
    MetadataTooLarge,
    /// No such bucket.
    #[error("the specified bucket does not exist")]
    NoSuchBucket,
    /// No such key.
    #[error("the specified key does not exist")]
    NoSuchKey,
    /// No such multipart upload.
    #[error("the specified multipart upload does not exist")]
    NoSuchUpload,
    /// The version asked for is a delete marker: the key's latest (`named: false`, answered
    /// 404 NoSuchKey) or the one named by its id (405 MethodNotAllowed).
    #[error("the specified key does not exist")]
    DeleteMarker {
        /// The marker's version id (`None`: the null version).
        version_id: Option<String>,
        /// Whether the request named the version.
        named: bool,
    },
    /// Object Lock keeps the version from being deleted, or its retention from being weakened.
    #[error("access denied because the object is protected by Object Lock")]
    ObjectLocked,
    /// The bucket is not in the state the request needs (versioning, Object Lock).
    #[error("{message}")]
    InvalidBucketState {
        /// Why not.
        message: &'static str,
    },
    /// A lock setting on a version of a bucket without Object Lock.
    #[error("Bucket is missing Object Lock Configuration")]
    MissingObjectLockConfiguration,
    /// No such version of the key.
    #[error("the specified version does not exist")]
    NoSuchVersion,
    /// An engine call was made with a permit for another action or resource: a bug in the
    /// caller, refused (fail closed).
    #[error("a permit for {action} does not allow this call (it needs {wanted})")]
    NotPermitted {
        /// The action the permit allows.
        action: &'static str,
        /// What the call needs.
        wanted: String,
    },
    /// A conditional write lost: the object changed or exists.
    #[error("at least one of the pre-conditions you specified did not hold")]
    PreconditionFailed,
    /// Stored data failed its integrity check.
    #[error("stored data failed its integrity check: {what}")]
    Corrupt {
        /// What failed.
        what: String,
    },
    /// The request body failed while it was read.
    #[error("request body: {0}")]
    Body(Box<dyn std::error::Error + Send + Sync>),
    /// The data directory's filesystem is below its reserved floor (or full).
    #[error("not enough free disk space for new data: {available} bytes free, {floor} reserved")]
    InsufficientStorage {
        /// Bytes free.
        available: u64,
        /// Bytes the engine keeps free for metadata, the audit trail and recovery.
        floor: u64,
    },
    /// The engine is shutting down.
    #[error("the object engine is shutting down")]
    ShuttingDown,
    /// Disk I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What the engine was doing, as a verb phrase.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A key or sealed data refused: disabled or destroyed key, tampered data.
    #[error("{0}")]
    Crypto(#[from] coffre_crypto::CryptoError),
    /// The object is SSE-C encrypted and the request did not send its key.
    #[error(
        "the object was stored using a form of server-side encryption; the correct parameters must be provided to retrieve it"
    )]
    SseCustomerKeyRequired,
    /// The SSE-C key sent is not the one the object was stored with.
    #[error("the provided encryption parameters did not match the ones used originally")]
    SseCustomerKeyMismatch,
    /// SSE-C headers were sent for an object that is not SSE-C encrypted.
    #[error("the encryption parameters are not applicable to this object")]
    SseCustomerKeyNotApplicable,
    /// The metadata database failed.
    #[error("metadata database: {0}")]
    Meta(#[from] redb::Error),
}

impl StoreError {
    /// Wraps an I/O error with what the engine was doing.
    pub fn io(context: &'static str) -> impl FnOnce(io::Error) -> StoreError {
        move |source| StoreError::Io { context, source }
    }

    /// Whether this failure means the disk (or a quota) is full.
    pub fn is_out_of_space(&self) -> bool {
        fn full(e: &io::Error) -> bool {
            e.raw_os_error().is_some_and(|c| {
                c == rustix::io::Errno::NOSPC.raw_os_error() || c == rustix::io::Errno::DQUOT.raw_os_error()
            })
        }
        match self {
            StoreError::InsufficientStorage { .. } => true,
            StoreError::Io { source, .. } => full(source),
            StoreError::Meta(redb::Error::Io(e)) => full(e),
            _ => false,
        }
    }

    /// Shorthand for [`StoreError::InvalidArgument`].
    pub fn invalid_argument(message: impl Into<String>) -> StoreError {
        StoreError::InvalidArgument { message: message.into() }
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Meta(e.into())
            }
        }
    )*};
}
from_redb!(redb::DatabaseError, redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

/// Result of the object engine.
pub type StoreResult<T> = Result<T, StoreError>;

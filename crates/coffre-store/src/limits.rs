//! Named limits of the object engine, with their units and the AWS documentation they follow.
//!
//! Keeping every limit here (TigerBeetle style) makes the relationships checkable at compile
//! time and keeps magic numbers out of the code paths.

/// Longest object key, in UTF-8 bytes.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html>
pub const KEY_LENGTH_BYTES_MAX: usize = 1024;

/// Largest user-defined metadata (`x-amz-meta-*` names plus values), in bytes.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html>
pub const USER_METADATA_BYTES_MAX: usize = 2 * 1024;

/// Part numbers of a multipart upload run from 1 to this value.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html>
pub const PART_NUMBER_MAX: u32 = 10_000;

/// Every part but the last must be at least this large.
pub const PART_SIZE_BYTES_MIN: u64 = 5 * 1024 * 1024;

/// Largest single part (and largest single PUT).
pub const PART_SIZE_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024;

/// Largest object assembled from parts.
pub const OBJECT_SIZE_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024 * 1024;

/// Most keys a listing returns in one page.
pub const LIST_KEYS_MAX: usize = 1000;

/// Most tags on one object.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-tagging.html>
pub const TAGS_PER_OBJECT_MAX: usize = 10;
/// Longest tag key, in Unicode characters.
pub const TAG_KEY_CHARS_MAX: usize = 128;
/// Longest tag value, in Unicode characters.
pub const TAG_VALUE_CHARS_MAX: usize = 256;

/// Objects up to this size are kept inside their metadata record instead of a chunk file:
/// one durable commit instead of a file write, a file fsync and a directory fsync.
pub const INLINE_OBJECT_BYTES_MAX: usize = 16 * 1024;

/// Read buffer for streaming chunk files out, in bytes.
pub const READ_BUFFER_BYTES: usize = 256 * 1024;

/// The metadata database's page cache, by default. redb caches every page it writes or reads
/// up to its cache size (1 GiB by default), and small objects live inline in those pages, so
/// the cache grows with the small-object traffic: 60,000 small PUTs and GETs took a server
/// from 31 to 350 MiB of RSS. The kernel's page cache holds the same file anyway and gives its
/// memory back under pressure. 64 MiB kept the peak RSS after that traffic plus 64 concurrent
/// 1 MiB transfers at 213 to 239 MiB, against 355 to 433 (`docs/performance.md`).
pub const METADATA_CACHE_BYTES_DEFAULT: usize = 64 * 1024 * 1024;

/// Most metadata operations folded into one durable commit.
pub const COMMIT_BATCH_OPS_MAX: usize = 512;

/// Depth of the queue in front of the metadata writer.
pub const COMMIT_QUEUE_DEPTH: usize = 4096;

/// A chunk that became unreferenced is deleted only after this grace period, so that a
/// reader who took its metadata snapshot just before the overwrite can still open it.
pub const GC_GRACE_MS: u64 = 10_000;

const _: () = assert!(INLINE_OBJECT_BYTES_MAX < PART_SIZE_BYTES_MIN as usize);
const _: () = assert!(PART_SIZE_BYTES_MIN < PART_SIZE_BYTES_MAX);
const _: () = assert!(READ_BUFFER_BYTES <= 4 * 1024 * 1024);

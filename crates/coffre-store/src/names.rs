//! Domain names of the engine, built only by parsers that enforce the S3 rules
//! ("parse, don't validate"): once a value exists, it is valid.

use std::fmt;

use crate::error::{StoreError, StoreResult};
use crate::limits::KEY_LENGTH_BYTES_MAX;

/// A bucket name that follows the general-purpose bucket naming rules.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html>
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketName(String);

impl BucketName {
    /// Parses a bucket name.
    pub fn parse(name: &str) -> StoreResult<BucketName> {
        let invalid = |reason| Err(StoreError::InvalidBucketName { reason });
        if !(3..=63).contains(&name.len()) {
            return invalid("bucket names must be between 3 and 63 characters long");
        }
        let bytes = name.as_bytes();
        if !bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-') {
            return invalid("bucket names can consist only of lowercase letters, numbers, dots and hyphens");
        }
        let alnum = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !alnum(bytes.first()) || !alnum(bytes.last()) {
            return invalid("bucket names must begin and end with a letter or number");
        }
        if name.contains("..") || name.contains(".-") || name.contains("-.") {
            return invalid("bucket names must not contain two adjacent periods");
        }
        if name.parse::<std::net::Ipv4Addr>().is_ok() {
            return invalid("bucket names must not be formatted as an IP address");
        }
        if name.starts_with("xn--") || name.starts_with("sthree-") || name.starts_with("amzn-s3-demo-") {
            return invalid("bucket names must not start with a reserved prefix");
        }
        if name.ends_with("-s3alias")
            || name.ends_with("--ol-s3")
            || name.ends_with(".mrap")
            || name.ends_with("--x-s3")
        {
            return invalid("bucket names must not end with a reserved suffix");
        }
        Ok(BucketName(name.to_owned()))
    }

    /// A name read back from the engine's own database, where only parsed names are written.
    pub(crate) fn stored(name: String) -> BucketName {
        BucketName(name)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An object key: non-empty UTF-8 of at most 1024 bytes.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html>
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Parses an object key.
    pub fn parse(key: &str) -> StoreResult<ObjectKey> {
        if key.is_empty() {
            return Err(StoreError::invalid_argument("object keys must not be empty"));
        }
        if key.len() > KEY_LENGTH_BYTES_MAX {
            return Err(StoreError::KeyTooLong);
        }
        Ok(ObjectKey(key.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of a multipart upload: 16 hex digits of creation time (so that uploads of one key
/// list in the order they were started) followed by 16 random hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UploadId(String);

impl UploadId {
    /// Parses an upload id received from a client.
    pub fn parse(id: &str) -> StoreResult<UploadId> {
        if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            Ok(UploadId(id.to_owned()))
        } else {
            Err(StoreError::NoSuchUpload)
        }
    }

    pub(crate) fn generate(now_ns: u64) -> UploadId {
        UploadId(format!("{now_ns:016x}{:016x}", rand::random::<u64>()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A version of an object as a client names it (`versionId`): `null`, the version that writes
/// to a bucket without versioning make, or an id the engine assigned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum VersionId {
    /// The null version.
    Null,
    /// An assigned version id.
    Assigned(String),
}

impl VersionId {
    /// Parses a version id received from a client.
    pub fn parse(id: &str) -> StoreResult<VersionId> {
        match id {
            "null" => Ok(VersionId::Null),
            // Assigned ids are URL-safe text; anything else cannot name a version.
            _ if !id.is_empty()
                && id.len() <= 1024
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~+/=".contains(&b)) =>
            {
                Ok(VersionId::Assigned(id.to_owned()))
            }
            _ => Err(StoreError::invalid_argument("Invalid version id specified")),
        }
    }

    /// The version a record names: its id, or the null version (`None`, or `null` as a record
    /// written in a suspended bucket says).
    pub fn of_record(id: Option<&str>) -> VersionId {
        match id {
            None | Some("null") => VersionId::Null,
            Some(id) => VersionId::Assigned(id.to_owned()),
        }
    }

    /// The assigned id (`None`: the null version).
    pub fn assigned(&self) -> Option<&str> {
        match self {
            VersionId::Null => None,
            VersionId::Assigned(id) => Some(id),
        }
    }

    /// Whether it names the null version.
    pub fn is_null(&self) -> bool {
        matches!(self, VersionId::Null)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        match self {
            VersionId::Null => "null",
            VersionId::Assigned(id) => id,
        }
    }
}

/// A part number of a multipart upload, 1..=10000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartNumber(u32);

impl PartNumber {
    /// Parses a part number.
    pub fn parse(n: i64) -> StoreResult<PartNumber> {
        match u32::try_from(n) {
            Ok(n) if (1..=crate::limits::PART_NUMBER_MAX).contains(&n) => Ok(PartNumber(n)),
            _ => Err(StoreError::invalid_argument("Part number must be an integer between 1 and 10000, inclusive")),
        }
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_aws_rules() {
        for good in ["abc", "my-bucket.eu", "a1b2c3", "bucket-with-63-chars-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]
        {
            assert!(BucketName::parse(good).is_ok(), "{good}");
        }
        for bad in ["ab", "Abc", "-abc", "abc-", "a..b", "192.168.1.1", "xn--abc", "abc-s3alias", "a_b", ""] {
            assert!(BucketName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_are_limited_to_1024_bytes() {
        assert!(ObjectKey::parse(&"k".repeat(1024)).is_ok());
        assert!(matches!(ObjectKey::parse(&"k".repeat(1025)), Err(StoreError::KeyTooLong)));
        assert!(ObjectKey::parse("").is_err());
    }

    #[test]
    fn part_numbers_are_1_to_10000() {
        assert!(PartNumber::parse(1).is_ok());
        assert!(PartNumber::parse(10_000).is_ok());
        assert!(PartNumber::parse(0).is_err());
        assert!(PartNumber::parse(10_001).is_err());
        assert!(PartNumber::parse(-1).is_err());
    }
}

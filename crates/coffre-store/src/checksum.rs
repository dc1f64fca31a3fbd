//! Content digests: the MD5 behind every ETag, and the additional S3 checksums
//! (CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256), including the two ways S3 combines part
//! checksums of a multipart upload (composite and full-object).
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html>

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use crc_fast::CrcAlgorithm;
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::Sha256;

use crate::error::{StoreError, StoreResult};

/// An additional checksum algorithm of S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO-HDLC).
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME, S3's default for new objects.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Parses S3's name for the algorithm (`CRC32`, `CRC64NVME`, ...), case-insensitively.
    pub fn parse(name: &str) -> Option<ChecksumAlgorithm> {
        match name.to_ascii_uppercase().as_str() {
            "CRC32" => Some(ChecksumAlgorithm::Crc32),
            "CRC32C" => Some(ChecksumAlgorithm::Crc32c),
            "CRC64NVME" => Some(ChecksumAlgorithm::Crc64Nvme),
            "SHA1" => Some(ChecksumAlgorithm::Sha1),
            "SHA256" => Some(ChecksumAlgorithm::Sha256),
            _ => None,
        }
    }

    /// S3's name for the algorithm.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    fn crc(self) -> Option<CrcAlgorithm> {
        match self {
            ChecksumAlgorithm::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
            ChecksumAlgorithm::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
            ChecksumAlgorithm::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
            ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => None,
        }
    }

    /// Length of the raw digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// Whether parts can be combined into a checksum of the whole object (CRCs only).
    pub fn supports_full_object(self) -> bool {
        self.crc().is_some()
    }

    /// Computes the checksum of a whole buffer.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = AlgorithmHasher::new(self);
        h.update(data);
        h.finalize()
    }
}

/// How an object's checksum relates to its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumType {
    /// A checksum of the whole object's bytes.
    FullObject,
    /// A checksum of the concatenated part checksums, with a `-N` suffix.
    Composite,
}

impl ChecksumType {
    /// S3's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumType::FullObject => "FULL_OBJECT",
            ChecksumType::Composite => "COMPOSITE",
        }
    }

    /// Parses S3's name for the type.
    pub fn parse(name: &str) -> Option<ChecksumType> {
        match name {
            "FULL_OBJECT" => Some(ChecksumType::FullObject),
            "COMPOSITE" => Some(ChecksumType::Composite),
            _ => None,
        }
    }
}

/// A stored checksum, as S3 shows it: base64 of the raw digest, `-N` for composite ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    /// The algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// Full-object or composite.
    pub kind: ChecksumType,
    /// The value as S3 renders it.
    pub value: String,
}

/// A hasher for one additional algorithm.
enum AlgorithmHasher {
    Crc(crc_fast::Digest, ChecksumAlgorithm),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl AlgorithmHasher {
    fn new(algorithm: ChecksumAlgorithm) -> AlgorithmHasher {
        match algorithm.crc() {
            Some(crc) => AlgorithmHasher::Crc(crc_fast::Digest::new(crc), algorithm),
            None if algorithm == ChecksumAlgorithm::Sha1 => AlgorithmHasher::Sha1(Sha1::new()),
            None => AlgorithmHasher::Sha256(Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            AlgorithmHasher::Crc(d, _) => d.update(data),
            AlgorithmHasher::Sha1(h) => h.update(data),
            AlgorithmHasher::Sha256(h) => h.update(data),
        }
    }

    fn finalize(self) -> Vec<u8> {
        match self {
            AlgorithmHasher::Crc(d, algorithm) => crc_bytes(algorithm, d.finalize()),
            AlgorithmHasher::Sha1(h) => h.finalize().to_vec(),
            AlgorithmHasher::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

fn crc_bytes(algorithm: ChecksumAlgorithm, crc: u64) -> Vec<u8> {
    if algorithm == ChecksumAlgorithm::Crc64Nvme {
        crc.to_be_bytes().to_vec()
    } else {
        #[allow(clippy::cast_possible_truncation)] // a CRC-32 fits in 32 bits by construction
        (crc as u32).to_be_bytes().to_vec()
    }
}

fn crc_value(bytes: &[u8]) -> Option<u64> {
    match bytes.len() {
        4 => Some(u64::from(u32::from_be_bytes(bytes.try_into().ok()?))),
        8 => Some(u64::from_be_bytes(bytes.try_into().ok()?)),
        _ => None,
    }
}

/// Digests computed while data streams in: always MD5 (the ETag) and CRC64NVME (the default
/// object checksum), plus the algorithm the client asked for.
pub struct ContentHasher {
    md5: Md5,
    crc64: crc_fast::Digest,
    extra: Option<AlgorithmHasher>,
    extra_algorithm: Option<ChecksumAlgorithm>,
    size_bytes: u64,
}

/// The digests of some data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentDigests {
    /// MD5 of the data.
    pub md5: [u8; 16],
    /// CRC64NVME of the data.
    pub crc64nvme: u64,
    /// The requested additional checksum, raw.
    pub extra: Option<(ChecksumAlgorithm, Vec<u8>)>,
    /// Number of bytes.
    pub size_bytes: u64,
}

impl ContentHasher {
    /// A hasher that also computes `extra` (if any, and if not CRC64NVME, always computed).
    pub fn new(extra: Option<ChecksumAlgorithm>) -> ContentHasher {
        let extra = extra.filter(|a| *a != ChecksumAlgorithm::Crc64Nvme);
        ContentHasher {
            md5: Md5::new(),
            crc64: crc_fast::Digest::new(CrcAlgorithm::Crc64Nvme),
            extra: extra.map(AlgorithmHasher::new),
            extra_algorithm: extra,
            size_bytes: 0,
        }
    }

    /// Feeds data.
    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.crc64.update(data);
        if let Some(h) = &mut self.extra {
            h.update(data);
        }
        self.size_bytes += data.len() as u64;
    }

    /// Finishes all digests.
    pub fn finalize(self) -> ContentDigests {
        ContentDigests {
            md5: self.md5.finalize().into(),
            crc64nvme: self.crc64.finalize(),
            extra: self.extra.zip(self.extra_algorithm).map(|(h, a)| (a, h.finalize())),
            size_bytes: self.size_bytes,
        }
    }
}

impl ContentDigests {
    /// The raw value of `algorithm`, if it was computed.
    pub fn raw(&self, algorithm: ChecksumAlgorithm) -> Option<Vec<u8>> {
        if algorithm == ChecksumAlgorithm::Crc64Nvme {
            return Some(self.crc64nvme.to_be_bytes().to_vec());
        }
        self.extra.as_ref().filter(|(a, _)| *a == algorithm).map(|(_, v)| v.clone())
    }

    /// The ETag of data stored by a single PUT: hex of its MD5.
    pub fn etag(&self) -> String {
        hex::encode(self.md5)
    }

    /// The checksum S3 reports for an object stored in one piece: the requested algorithm,
    /// or CRC64NVME by default.
    pub fn object_checksum(&self) -> Checksum {
        let (algorithm, raw) = match &self.extra {
            Some((a, v)) => (*a, v.clone()),
            None => (ChecksumAlgorithm::Crc64Nvme, self.crc64nvme.to_be_bytes().to_vec()),
        };
        Checksum { algorithm, kind: ChecksumType::FullObject, value: BASE64.encode(raw) }
    }

    /// Checks a client-supplied digest (base64) against what was computed.
    pub fn verify(&self, algorithm: ChecksumAlgorithm, expected_base64: &str) -> StoreResult<()> {
        let expected = decode_checksum(algorithm, expected_base64)?;
        match self.raw(algorithm) {
            Some(actual) if actual == expected => Ok(()),
            Some(_) => Err(StoreError::BadDigest { algorithm: algorithm.name() }),
            None => Err(StoreError::invalid_argument(format!(
                "the {} checksum was not requested for this upload",
                algorithm.name()
            ))),
        }
    }

    /// Checks a client-supplied `Content-MD5` (base64).
    pub fn verify_md5(&self, expected_base64: &str) -> StoreResult<()> {
        let expected = BASE64
            .decode(expected_base64.trim())
            .ok()
            .filter(|v| v.len() == 16)
            .ok_or(StoreError::InvalidDigest { algorithm: "Content-MD5" })?;
        if expected == self.md5 { Ok(()) } else { Err(StoreError::BadDigest { algorithm: "Content-MD5" }) }
    }
}

/// Decodes a base64 checksum of `algorithm`, checking its length.
pub fn decode_checksum(algorithm: ChecksumAlgorithm, value: &str) -> StoreResult<Vec<u8>> {
    BASE64.decode(value.trim()).ok().filter(|v| v.len() == algorithm.digest_len()).ok_or_else(|| {
        StoreError::invalid_argument(format!(
            "Value for x-amz-checksum-{} header is invalid.",
            algorithm.name().to_ascii_lowercase()
        ))
    })
}

/// One part's contribution to a multipart object's checksum.
pub struct PartChecksumInput<'a> {
    /// Raw checksum of the part in the upload's algorithm.
    pub raw: &'a [u8],
    /// Size of the part in bytes.
    pub size_bytes: u64,
}

/// Combines part checksums into the object checksum of a completed multipart upload.
pub fn combine_parts(
    algorithm: ChecksumAlgorithm,
    kind: ChecksumType,
    parts: &[PartChecksumInput<'_>],
) -> StoreResult<Checksum> {
    let value = match kind {
        ChecksumType::Composite => {
            let mut h = AlgorithmHasher::new(algorithm);
            for p in parts {
                h.update(p.raw);
            }
            format!("{}-{}", BASE64.encode(h.finalize()), parts.len())
        }
        ChecksumType::FullObject => {
            let crc = algorithm.crc().ok_or_else(|| {
                StoreError::invalid_argument(format!(
                    "The {} algorithm does not support the FULL_OBJECT checksum type",
                    algorithm.name()
                ))
            })?;
            let mut combined: Option<u64> = None;
            for p in parts {
                let v = crc_value(p.raw).ok_or_else(|| StoreError::Corrupt { what: "part checksum".into() })?;
                combined = Some(match combined {
                    None => v,
                    Some(c) => crc_fast::checksum_combine(crc, c, v, p.size_bytes),
                });
            }
            let empty = crc_fast::checksum(crc, &[]);
            BASE64.encode(crc_bytes(algorithm, combined.unwrap_or(empty)))
        }
    };
    Ok(Checksum { algorithm, kind, value })
}

/// The ETag of a multipart object: MD5 of the concatenated binary part MD5s, then `-N`.
pub fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    let mut h = Md5::new();
    for m in part_md5s {
        h.update(m);
    }
    let digest: [u8; 16] = h.finalize().into();
    format!("{}-{}", hex::encode(digest), part_md5s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_object_crc_of_parts_equals_crc_of_whole() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (a, b) = data.split_at(60_001);
        for algorithm in [ChecksumAlgorithm::Crc32, ChecksumAlgorithm::Crc32c, ChecksumAlgorithm::Crc64Nvme] {
            let parts = [
                PartChecksumInput { raw: &algorithm.digest(a), size_bytes: a.len() as u64 },
                PartChecksumInput { raw: &algorithm.digest(b), size_bytes: b.len() as u64 },
            ];
            let combined = combine_parts(algorithm, ChecksumType::FullObject, &parts).unwrap();
            assert_eq!(combined.value, BASE64.encode(algorithm.digest(&data)), "{algorithm:?}");
        }
    }

    #[test]
    fn known_crc32_of_hello() {
        // CRC-32 of "hello" is 0x3610a686; S3 shows it as base64 of the big-endian bytes.
        assert_eq!(BASE64.encode(ChecksumAlgorithm::Crc32.digest(b"hello")), "NhCmhg==");
    }

    #[test]
    fn multipart_etag_has_part_count_suffix() {
        let e = multipart_etag(&[[0u8; 16], [1u8; 16]]);
        assert!(e.ends_with("-2"));
        assert_eq!(e.len(), 32 + 2);
    }

    #[test]
    fn verify_rejects_wrong_and_malformed_digests() {
        let mut h = ContentHasher::new(Some(ChecksumAlgorithm::Sha256));
        h.update(b"data");
        let d = h.finalize();
        let good = BASE64.encode(ChecksumAlgorithm::Sha256.digest(b"data"));
        assert!(d.verify(ChecksumAlgorithm::Sha256, &good).is_ok());
        let wrong = BASE64.encode(ChecksumAlgorithm::Sha256.digest(b"other"));
        assert!(matches!(d.verify(ChecksumAlgorithm::Sha256, &wrong), Err(StoreError::BadDigest { .. })));
        assert!(matches!(d.verify(ChecksumAlgorithm::Sha256, "xx"), Err(StoreError::InvalidArgument { .. })));
        assert!(matches!(d.verify_md5("AAAA"), Err(StoreError::InvalidDigest { .. })));
    }
}

//! The sealed-stream format (DESIGN.md): plaintext cut into 64 KiB segments, each sealed with
//! AES-256-GCM under the object's own data key. The nonce is the segment index (unique per
//! key, because every object or part has a fresh key), and the associated data binds the
//! stream's identity, the segment index and a last-segment flag, so truncation, reordering and
//! swapping segments or whole files between objects all fail authentication. A ranged read
//! opens only the segments it touches.
//!
//! A stream of `n` plaintext bytes is `max(1, ceil(n / 64 KiB))` segments; an empty stream is
//! one empty last segment, so that even its truncation is detected.

use std::ops::Range;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::error::{CryptoError, CryptoResult};
use crate::keys::DataKey;

/// Plaintext bytes per segment.
pub const SEGMENT_PLAINTEXT_BYTES: usize = 64 * 1024;
/// Bytes the GCM tag adds to each segment.
pub const TAG_BYTES: usize = 16;
/// Bytes of a full sealed segment.
pub const SEGMENT_SEALED_BYTES: usize = SEGMENT_PLAINTEXT_BYTES + TAG_BYTES;

const AAD_LABEL: &[u8] = b"coffre-seg-v1";

/// Benchmark-only build (`--features dangerous-bench-unsealed`): segments keep their layout
/// (same sizes, same code path) but are not encrypted, to measure what sealing costs. Never
/// in a build that stores real data; the server warns loudly at start-up.
pub const DANGEROUS_BENCH_UNSEALED: bool = cfg!(feature = "dangerous-bench-unsealed");

/// The identity a stream is bound to (its chunk id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamId(pub [u8; 16]);

/// Seals and opens the segments of one stream.
pub struct SegmentCipher {
    key: LessSafeKey,
    stream: StreamId,
}

fn nonce(index: u64) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[NONCE_LEN - 8..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

impl SegmentCipher {
    /// A cipher for the stream `stream` under `key`.
    pub fn new(key: &DataKey, stream: StreamId) -> CryptoResult<SegmentCipher> {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key.bytes()).map_err(|_| CryptoError::Primitive)?);
        Ok(SegmentCipher { key, stream })
    }

    fn aad(&self, index: u64, last: bool) -> [u8; 13 + 16 + 8 + 1] {
        let mut a = [0u8; 13 + 16 + 8 + 1];
        a[..13].copy_from_slice(AAD_LABEL);
        a[13..29].copy_from_slice(&self.stream.0);
        a[29..37].copy_from_slice(&index.to_be_bytes());
        a[37] = u8::from(last);
        a
    }

    /// Seals consecutive segments in place. `buf` holds the plaintext of segments `first..`:
    /// whole segments, except that the batch that ends the stream (`last`) may end with a
    /// short one (or be empty: one empty last segment). It becomes their stored form, each
    /// segment followed by its tag, with no second buffer. Returns how many segments it sealed.
    pub fn seal_batch(&self, first: u64, last: bool, buf: &mut Vec<u8>) -> CryptoResult<u64> {
        let plaintext_len = buf.len() as u64;
        let count = if last { segment_count(plaintext_len) } else { plaintext_len / SEGMENT_PLAINTEXT_BYTES as u64 };
        if !last && !plaintext_len.is_multiple_of(SEGMENT_PLAINTEXT_BYTES as u64) {
            // Only the last batch of a stream may end with a short segment (a caller's bug).
            return Err(CryptoError::Primitive);
        }
        let tags = usize::try_from(count).map_err(|_| CryptoError::Primitive)? * TAG_BYTES;
        buf.reserve_exact(tags);
        buf.resize(buf.len() + tags, 0);
        // From the last segment back, each moves up to its place (past the tags of those before
        // it), over plaintext already moved, and is sealed there.
        for i in (0..count).rev() {
            let r = segment_plaintext_range(i, plaintext_len);
            let (start, len) = (r.start as usize + i as usize * TAG_BYTES, (r.end - r.start) as usize);
            buf.copy_within(r.start as usize..r.end as usize, start);
            let index = first + i;
            let tag = if DANGEROUS_BENCH_UNSEALED {
                [0u8; TAG_BYTES]
            } else {
                let segment = buf.get_mut(start..start + len).ok_or(CryptoError::Primitive)?;
                let tag = self
                    .key
                    .seal_in_place_separate_tag(
                        nonce(index),
                        Aad::from(self.aad(index, last && i + 1 == count)),
                        segment,
                    )
                    .map_err(|_| CryptoError::Primitive)?;
                tag.as_ref().try_into().map_err(|_| CryptoError::Primitive)?
            };
            buf.get_mut(start + len..start + len + TAG_BYTES).ok_or(CryptoError::Primitive)?.copy_from_slice(&tag);
        }
        Ok(count)
    }

    /// Opens one sealed segment in place; returns its plaintext.
    pub fn open<'a>(&self, index: u64, last: bool, buf: &'a mut [u8]) -> CryptoResult<&'a mut [u8]> {
        if DANGEROUS_BENCH_UNSEALED {
            let len = buf.len().checked_sub(TAG_BYTES).ok_or(CryptoError::Tampered { segment: index })?;
            return buf.get_mut(..len).ok_or(CryptoError::Tampered { segment: index });
        }
        self.key
            .open_in_place(nonce(index), Aad::from(self.aad(index, last)), buf)
            .map_err(|_| CryptoError::Tampered { segment: index })
    }

    /// Seals a whole small buffer (an inline object) into one sealed stream.
    pub fn seal_all(&self, plaintext: &[u8]) -> CryptoResult<Vec<u8>> {
        let mut out = Vec::with_capacity(sealed_len(plaintext.len() as u64) as usize);
        out.extend_from_slice(plaintext);
        self.seal_batch(0, true, &mut out)?;
        Ok(out)
    }

    /// Opens the plaintext range `range` of a sealed stream of `plaintext_len` bytes held
    /// entirely in `sealed` (an inline object).
    pub fn open_range(&self, sealed: &[u8], plaintext_len: u64, range: Range<u64>) -> CryptoResult<Vec<u8>> {
        if sealed.len() as u64 != sealed_len(plaintext_len) {
            return Err(CryptoError::Tampered { segment: 0 });
        }
        let span = SegmentSpan::covering(range.clone(), plaintext_len);
        let mut out = Vec::with_capacity((range.end - range.start) as usize);
        for i in span.first..=span.last {
            let r = segment_sealed_range(i, plaintext_len);
            let mut seg =
                sealed.get(r.start as usize..r.end as usize).ok_or(CryptoError::Tampered { segment: i })?.to_vec();
            let plain = self.open(i, i + 1 == span.count, &mut seg)?;
            let seg_start = i * SEGMENT_PLAINTEXT_BYTES as u64;
            let from = range.start.saturating_sub(seg_start) as usize;
            let to = ((range.end - seg_start) as usize).min(plain.len());
            out.extend_from_slice(plain.get(from..to).unwrap_or_default());
        }
        Ok(out)
    }
}

/// Number of segments of a stream of `plaintext_len` bytes.
pub fn segment_count(plaintext_len: u64) -> u64 {
    plaintext_len.div_ceil(SEGMENT_PLAINTEXT_BYTES as u64).max(1)
}

/// Size of the sealed stream.
pub fn sealed_len(plaintext_len: u64) -> u64 {
    plaintext_len + segment_count(plaintext_len) * TAG_BYTES as u64
}

/// Plaintext byte range of segment `index`.
pub fn segment_plaintext_range(index: u64, plaintext_len: u64) -> Range<u64> {
    let start = index * SEGMENT_PLAINTEXT_BYTES as u64;
    start.min(plaintext_len)..(start + SEGMENT_PLAINTEXT_BYTES as u64).min(plaintext_len)
}

/// Sealed byte range of segment `index` in the stream.
pub fn segment_sealed_range(index: u64, plaintext_len: u64) -> Range<u64> {
    let p = segment_plaintext_range(index, plaintext_len);
    let start = index * SEGMENT_SEALED_BYTES as u64;
    start..start + (p.end - p.start) + TAG_BYTES as u64
}

/// The segments a plaintext range touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSpan {
    /// First segment touched.
    pub first: u64,
    /// Last segment touched (inclusive).
    pub last: u64,
    /// Segments in the whole stream (the last one carries the last flag).
    pub count: u64,
}

impl SegmentSpan {
    /// The segments holding `range` of a stream of `plaintext_len` bytes.
    pub fn covering(range: Range<u64>, plaintext_len: u64) -> SegmentSpan {
        let count = segment_count(plaintext_len);
        let seg = SEGMENT_PLAINTEXT_BYTES as u64;
        let first = (range.start / seg).min(count - 1);
        let last = if range.end > range.start { ((range.end - 1) / seg).min(count - 1) } else { first };
        SegmentSpan { first, last, count }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(id: u8) -> (DataKey, SegmentCipher) {
        let k = DataKey::generate();
        let c = SegmentCipher::new(&k, StreamId([id; 16])).unwrap();
        (k, c)
    }

    #[test]
    fn any_range_round_trips() {
        let (_, c) = cipher(1);
        for len in [0usize, 1, 65_535, 65_536, 65_537, 200_000] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let sealed = c.seal_all(&plain).unwrap();
            assert_eq!(sealed.len() as u64, sealed_len(len as u64));
            for (a, b) in [(0, len), (0, len.min(1)), (len / 3, len / 2), (len.saturating_sub(1), len)] {
                let got = c.open_range(&sealed, len as u64, a as u64..b as u64).unwrap();
                assert_eq!(got, &plain[a..b], "len {len} range {a}..{b}");
            }
        }
    }

    #[test]
    fn a_stream_sealed_in_batches_is_the_stream_sealed_whole() {
        let (_, c) = cipher(1);
        let plain: Vec<u8> = (0..5 * SEGMENT_PLAINTEXT_BYTES + 123).map(|i| (i % 251) as u8).collect();
        let whole = c.seal_all(&plain).unwrap();
        let mut batched = Vec::new();
        let mut first = 0u64;
        for (n, piece) in plain.chunks(2 * SEGMENT_PLAINTEXT_BYTES).enumerate() {
            let mut buf = piece.to_vec();
            first += c.seal_batch(first, n == 2, &mut buf).unwrap();
            batched.extend_from_slice(&buf);
        }
        assert_eq!(first, 6, "five whole segments and a short last one");
        assert_eq!(batched, whole);
        // A short segment anywhere but at the end of the stream is refused.
        assert!(c.seal_batch(0, false, &mut vec![1u8; SEGMENT_PLAINTEXT_BYTES + 1]).is_err());
    }

    #[test]
    fn tampering_truncation_reordering_and_swapping_fail() {
        let (k, c) = cipher(1);
        let plain = vec![9u8; 3 * SEGMENT_PLAINTEXT_BYTES];
        let sealed = c.seal_all(&plain).unwrap();
        let n = plain.len() as u64;
        let mut flipped = sealed.clone();
        flipped[100] ^= 1;
        assert!(c.open_range(&flipped, n, 0..n).is_err());
        // Truncated to two segments: the second was not sealed as the last one.
        let two = &sealed[..2 * SEGMENT_SEALED_BYTES];
        assert!(c.open_range(two, 2 * SEGMENT_PLAINTEXT_BYTES as u64, 0..2 * SEGMENT_PLAINTEXT_BYTES as u64).is_err());
        // Two segments swapped.
        let mut swapped = sealed.clone();
        let (a, b) = swapped.split_at_mut(SEGMENT_SEALED_BYTES);
        a.swap_with_slice(&mut b[..SEGMENT_SEALED_BYTES]);
        assert!(c.open_range(&swapped, n, 0..n).is_err());
        // The same key under another stream identity (a file swapped between objects).
        let other = SegmentCipher::new(&k, StreamId([2; 16])).unwrap();
        assert!(other.open_range(&sealed, n, 0..n).is_err());
    }

    #[test]
    fn a_one_byte_range_opens_one_segment() {
        let span = SegmentSpan::covering(500_000_000..500_000_001, 1 << 30);
        assert_eq!(span.first, span.last);
        let span = SegmentSpan::covering(65_535..65_537, 1 << 20);
        assert_eq!((span.first, span.last), (0, 1));
    }
}

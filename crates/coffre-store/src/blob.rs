//! The data path on disk: sealed chunk files under `chunks/ab/cd/<id>`, written once and
//! never modified. Every byte of object data at rest is in the sealed-stream format of
//! `coffre-crypto` under a fresh data key per object or part; there is no plaintext mode.
//!
//! A write streams into `tmp/`, hashing the plaintext and sealing 64 KiB segments as it goes,
//! and is fsynced there (stage). Only once the caller has verified the client's digests is the
//! file renamed into `chunks/` and its directory fsynced (publish); only then is the metadata
//! committed. A crash before the commit leaves a file no record references: `tmp/` is emptied
//! at start-up and unreferenced chunk files older than the start are swept in the background.

use std::collections::HashSet;
use std::fmt;
use std::io::{self, Write as _};
use std::ops::Range;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use coffre_crypto::sealed::{self, SEGMENT_PLAINTEXT_BYTES, SegmentSpan};
use coffre_crypto::{CustomerKey, DataKey, KeyProvider, SegmentCipher, StreamId, WrappedKey};
use futures::{Stream, StreamExt};

use crate::checksum::{ChecksumAlgorithm, ContentDigests, ContentHasher};
use crate::error::{StoreError, StoreResult};
use crate::limits::INLINE_OBJECT_BYTES_MAX;
use crate::records::{ChunkId, ChunkRef, SealedInline};

/// Plaintext handed to one blocking hash+seal+write step: 8 segments (512 KiB). Each request
/// in flight holds about this much plaintext, so it sets the memory of concurrent transfers:
/// 1 MiB batches held more for no more throughput, 256 KiB ones cost large-object throughput
/// (measured with scripts/bench-ab.sh).
const WRITE_BATCH_BYTES: usize = 8 * SEGMENT_PLAINTEXT_BYTES;
/// Room for a batch and the body piece that completes it, so that filling a batch never grows
/// its buffer (growth doubles it, to 1 MiB).
const WRITE_BUFFER_BYTES: usize = WRITE_BATCH_BYTES + SEGMENT_PLAINTEXT_BYTES;
/// Segments opened by one blocking read step (512 KiB), for the same reason.
const READ_BATCH_SEGMENTS: u64 = 8;

/// A request body failed while it was being read (client gone, bad chunk signature, ...).
#[derive(Debug)]
pub struct BodyError(pub Box<dyn std::error::Error + Send + Sync>);

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request body: {}", self.0)
    }
}

impl std::error::Error for BodyError {}

/// Who wraps the data key of a new blob.
#[derive(Clone, Copy)]
pub enum KeyWrap<'a> {
    /// A KEK of the key provider.
    Provider(&'a str),
    /// An SSE-C customer key.
    Customer(&'a CustomerKey),
}

/// Chunk files and the temporary area.
pub struct BlobStore {
    tmp_dir: PathBuf,
    chunks_dir: PathBuf,
    fsync: bool,
    keys: Arc<dyn KeyProvider>,
}

/// Data received, hashed and sealed, durable in `tmp/` (or small enough to live sealed in its
/// record), not yet part of any object. Dropping it removes the temporary file.
pub struct StagedData {
    /// Digests of the plaintext.
    pub digests: ContentDigests,
    stream_id: ChunkId,
    key: WrappedKey,
    body: StagedBody,
}

enum StagedBody {
    Inline(Vec<u8>),
    File { tmp_path: PathBuf, published: bool },
}

/// Where a published blob lives.
pub(crate) enum Published {
    Inline { sealed: Vec<u8>, seal: SealedInline },
    Chunk(ChunkRef),
}

impl StagedData {
    /// Size of the plaintext in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.digests.size_bytes
    }
}

impl Drop for StagedData {
    fn drop(&mut self) {
        if let StagedBody::File { tmp_path, published: false } = &self.body {
            let _ = std::fs::remove_file(tmp_path);
        }
    }
}

/// Everything needed to open one sealed chunk: where it is, its cipher, its plaintext size.
struct OpenedChunk {
    path: PathBuf,
    cipher: Arc<SegmentCipher>,
    plaintext_len: u64,
    /// Plaintext range of this chunk to serve.
    range: Range<u64>,
}

impl BlobStore {
    /// Opens the data directories, creating them, and empties `tmp/`: anything there is an
    /// interrupted write.
    pub fn open(root: &Path, fsync: bool, keys: Arc<dyn KeyProvider>) -> StoreResult<BlobStore> {
        let tmp_dir = root.join("tmp");
        let chunks_dir = root.join("chunks");
        std::fs::create_dir_all(&chunks_dir).map_err(StoreError::io("create the chunks directory"))?;
        if tmp_dir.exists() {
            std::fs::remove_dir_all(&tmp_dir).map_err(StoreError::io("empty the temporary directory"))?;
        }
        std::fs::create_dir_all(&tmp_dir).map_err(StoreError::io("create the temporary directory"))?;
        Ok(BlobStore { tmp_dir, chunks_dir, fsync, keys })
    }

    fn chunk_path(&self, id: ChunkId) -> PathBuf {
        let hex = id.to_hex();
        let (a, rest) = hex.split_at(2);
        let (b, _) = rest.split_at(2);
        self.chunks_dir.join(a).join(b).join(&hex)
    }

    /// Receives a body: hashes the plaintext and seals it under a fresh data key wrapped by
    /// `key_id`. Small bodies stay in memory (sealed) if `inline_allowed`; others stream into
    /// a durable temporary file. Fails with `EntityTooLarge` past `size_bytes_max`.
    pub async fn stage<S>(
        &self,
        mut body: S,
        algorithm: Option<ChecksumAlgorithm>,
        inline_allowed: bool,
        size_bytes_max: u64,
        wrap: KeyWrap<'_>,
    ) -> StoreResult<StagedData>
    where
        S: Stream<Item = Result<Bytes, BodyError>> + Unpin,
    {
        let stream_id = ChunkId::generate();
        let (cipher, key) = {
            let dek = DataKey::generate();
            let key = match wrap {
                KeyWrap::Provider(key_id) => self.keys.wrap(key_id, &dek)?,
                KeyWrap::Customer(customer) => customer.wrap(&dek)?,
            };
            (Arc::new(SegmentCipher::new(&dek, StreamId(stream_id.0))?), key)
        };
        let mut hasher = ContentHasher::new(algorithm);
        let mut pending: Vec<u8> = Vec::new();
        let mut writer: Option<(std::fs::File, u64)> = None;
        // Owns the temporary file from its creation: an early return removes it.
        let mut staged: Option<StagedData> = None;
        let mut size: u64 = 0;
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|e| StoreError::Body(e.0))?;
            size += piece.len() as u64;
            if size > size_bytes_max {
                return Err(StoreError::EntityTooLarge);
            }
            pending.extend_from_slice(&piece);
            if staged.is_none() && (!inline_allowed || pending.len() > INLINE_OBJECT_BYTES_MAX) {
                let tmp_path = self.tmp_dir.join(stream_id.to_hex());
                let file = std::fs::File::create(&tmp_path).map_err(StoreError::io("create a temporary file"))?;
                writer = Some((file, 0));
                pending.reserve_exact(WRITE_BUFFER_BYTES.saturating_sub(pending.len()));
                staged = Some(StagedData {
                    digests: ContentHasher::new(None).finalize(),
                    stream_id,
                    key: key.clone(),
                    body: StagedBody::File { tmp_path, published: false },
                });
            }
            // Seal whole batches, always keeping at least one byte back: the last segment must
            // be sealed with the last-segment flag, and only the end of the body tells which.
            while pending.len() > WRITE_BATCH_BYTES
                && let Some((file, next_segment)) = writer.take()
            {
                let mut rest = Vec::with_capacity(WRITE_BUFFER_BYTES.max(pending.len() - WRITE_BATCH_BYTES));
                rest.extend_from_slice(&pending[WRITE_BATCH_BYTES..]);
                pending.truncate(WRITE_BATCH_BYTES);
                let batch = std::mem::replace(&mut pending, rest);
                let step = seal_and_write(file, hasher, Arc::clone(&cipher), next_segment, batch, false).await?;
                hasher = step.hasher;
                writer = Some((step.file, step.next_segment));
            }
        }
        let (Some(mut staged), Some((file, next_segment))) = (staged, writer) else {
            hasher.update(&pending);
            let sealed = cipher.seal_all(&pending)?;
            return Ok(StagedData { digests: hasher.finalize(), stream_id, key, body: StagedBody::Inline(sealed) });
        };
        let step = seal_and_write(file, hasher, cipher, next_segment, pending, true).await?;
        if self.fsync {
            let file = step.file;
            tokio::task::spawn_blocking(move || file.sync_data())
                .await
                .map_err(|e| StoreError::Io { context: "sync a temporary file", source: io::Error::other(e) })?
                .map_err(StoreError::io("sync a temporary file"))?;
        }
        staged.digests = step.hasher.finalize();
        Ok(staged)
    }

    /// Moves staged data into its final place, durably.
    pub(crate) async fn publish(&self, staged: &mut StagedData) -> StoreResult<Published> {
        let size_bytes = staged.size_bytes();
        let (id, key) = (staged.stream_id, staged.key.clone());
        let (tmp_path, published) = match &mut staged.body {
            StagedBody::Inline(sealed) => {
                return Ok(Published::Inline {
                    sealed: std::mem::take(sealed),
                    seal: SealedInline { stream_id: id, key },
                });
            }
            StagedBody::File { tmp_path, published } => (tmp_path.clone(), published),
        };
        let final_path = self.chunk_path(id);
        let fsync = self.fsync;
        let chunks_dir = self.chunks_dir.clone();
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            let dir = final_path.parent().ok_or_else(|| io::Error::other("chunk path has no parent"))?;
            if !dir.exists() {
                std::fs::create_dir_all(dir)?;
                if fsync {
                    // New directories must be durable too, up to the chunks root.
                    if let Some(parent) = dir.parent() {
                        sync_dir(parent)?;
                    }
                    sync_dir(&chunks_dir)?;
                }
            }
            std::fs::rename(&tmp_path, &final_path)?;
            if fsync {
                sync_dir(dir)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Io { context: "publish a chunk", source: io::Error::other(e) })?
        .map_err(StoreError::io("publish a chunk"))?;
        *published = true;
        Ok(Published::Chunk(ChunkRef { id, size_bytes, key }))
    }

    fn unwrap(&self, key: &WrappedKey, customer: Option<&CustomerKey>) -> StoreResult<DataKey> {
        if key.key_id == coffre_crypto::customer::CUSTOMER_KEY_ID {
            let customer = customer.ok_or(StoreError::SseCustomerKeyRequired)?;
            return customer.unwrap(key).map_err(|_| StoreError::SseCustomerKeyMismatch);
        }
        Ok(self.keys.unwrap(key)?)
    }

    /// Opens the plaintext range `range` of an inline sealed object.
    pub fn open_inline(
        &self,
        sealed_bytes: &[u8],
        seal: &SealedInline,
        plaintext_len: u64,
        range: Range<u64>,
        customer: Option<&CustomerKey>,
    ) -> StoreResult<Bytes> {
        let dek = self.unwrap(&seal.key, customer)?;
        let span = SegmentSpan::covering(range.clone(), plaintext_len);
        metrics::counter!("coffre_store_segments_opened_total").increment(span.last - span.first + 1);
        let cipher = SegmentCipher::new(&dek, StreamId(seal.stream_id.0))?;
        drop(dek);
        Ok(Bytes::from(cipher.open_range(sealed_bytes, plaintext_len, range)?))
    }

    /// Streams `range` (in object coordinates) out of the sealed chunks of an object. Data keys
    /// are unwrapped before anything is streamed, so a disabled or missing key fails the
    /// request up front, never halfway through a body.
    pub fn read(
        &self,
        chunks: &[ChunkRef],
        range: Range<u64>,
        customer: Option<&CustomerKey>,
    ) -> StoreResult<impl Stream<Item = io::Result<Bytes>> + Send + Sync + 'static> {
        let mut plan = Vec::new();
        let mut offset = 0u64;
        for c in chunks {
            let start = range.start.max(offset);
            let end = range.end.min(offset + c.size_bytes);
            if start < end {
                let dek = self.unwrap(&c.key, customer)?;
                let cipher = Arc::new(SegmentCipher::new(&dek, StreamId(c.id.0))?);
                plan.push(OpenedChunk {
                    path: self.chunk_path(c.id),
                    cipher,
                    plaintext_len: c.size_bytes,
                    range: start - offset..end.max(start) - offset,
                });
            }
            offset += c.size_bytes;
        }
        Ok(futures::stream::iter(plan).flat_map(read_chunk))
    }

    /// Deletes a chunk file; a missing file is not an error (deletion is idempotent).
    pub async fn delete(&self, id: ChunkId) -> StoreResult<()> {
        match tokio::fs::remove_file(self.chunk_path(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Io { context: "delete a chunk", source: e }),
        }
    }

    /// Deletes chunk files that no metadata knows and that predate `started`: orphans of writes
    /// interrupted by a crash. Returns how many were removed.
    pub fn sweep_orphans(&self, known: &HashSet<ChunkId>, started: SystemTime) -> StoreResult<usize> {
        let mut removed = 0;
        let walk = |dir: &Path| -> io::Result<Vec<PathBuf>> {
            let mut out = Vec::new();
            for entry in std::fs::read_dir(dir)? {
                out.push(entry?.path());
            }
            Ok(out)
        };
        for level1 in walk(&self.chunks_dir).map_err(StoreError::io("sweep orphaned chunks"))? {
            let Ok(level2s) = walk(&level1) else { continue };
            for level2 in level2s {
                let Ok(files) = walk(&level2) else { continue };
                for file in files {
                    let Some(id) = file.file_name().and_then(|n| n.to_str()).and_then(ChunkId::from_hex) else {
                        continue;
                    };
                    if known.contains(&id) {
                        continue;
                    }
                    let old = std::fs::metadata(&file).and_then(|m| m.modified()).is_ok_and(|m| m < started);
                    if old && std::fs::remove_file(&file).is_ok() {
                        removed += 1;
                    }
                }
            }
        }
        Ok(removed)
    }
}

/// Streams one chunk's plaintext range, opening only the segments it touches, in batches on
/// the blocking pool.
fn read_chunk(chunk: OpenedChunk) -> impl Stream<Item = io::Result<Bytes>> + Send + Sync + 'static {
    let span = SegmentSpan::covering(chunk.range.clone(), chunk.plaintext_len);
    let chunk = Arc::new(chunk);
    let state = (Some(span.first), None::<Arc<std::fs::File>>);
    futures::stream::unfold(state, move |(next, file)| {
        let chunk = Arc::clone(&chunk);
        async move {
            let first = next?;
            let last = (first + READ_BATCH_SEGMENTS - 1).min(span.last);
            // What a ranged read costs: a 1-byte range opens one segment, whatever the size.
            metrics::counter!("coffre_store_segments_opened_total").increment(last - first + 1);
            let result = tokio::task::spawn_blocking(move || -> io::Result<(Bytes, Arc<std::fs::File>)> {
                let file = match file {
                    Some(f) => f,
                    None => Arc::new(std::fs::File::open(&chunk.path)?),
                };
                let start = sealed::segment_sealed_range(first, chunk.plaintext_len).start;
                let end = sealed::segment_sealed_range(last, chunk.plaintext_len).end;
                let mut buf = vec![0u8; usize::try_from(end - start).map_err(io::Error::other)?];
                file.read_exact_at(&mut buf, start)?;
                // Each segment is opened in place and the plaintext wanted from it moved down
                // over the tags and skipped bytes before it: the batch's buffer becomes the
                // response's next piece, with no second buffer per request in flight.
                let (mut at, mut kept) = (0usize, 0usize);
                for i in first..=last {
                    let r = sealed::segment_sealed_range(i, chunk.plaintext_len);
                    let len = usize::try_from(r.end - r.start).map_err(io::Error::other)?;
                    let seg = buf.get_mut(at..at + len).ok_or_else(|| io::Error::other("short chunk file"))?;
                    let plain_len = chunk
                        .cipher
                        .open(i, i + 1 == span.count, seg)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
                        .len();
                    let seg_start = i * SEGMENT_PLAINTEXT_BYTES as u64;
                    let from =
                        usize::try_from(chunk.range.start.saturating_sub(seg_start)).map_err(io::Error::other)?;
                    let to = usize::try_from((chunk.range.end - seg_start).min(plain_len as u64))
                        .map_err(io::Error::other)?;
                    if from < to {
                        buf.copy_within(at + from..at + to, kept);
                        kept += to - from;
                    }
                    at += len;
                }
                buf.truncate(kept);
                Ok((Bytes::from(buf), file))
            })
            .await;
            match result {
                Ok(Ok((bytes, file))) => {
                    let next = (last < span.last).then_some(last + 1);
                    Some((Ok(bytes), (next, Some(file))))
                }
                Ok(Err(e)) => Some((Err(e), (None, None))),
                Err(e) => Some((Err(io::Error::other(e)), (None, None))),
            }
        }
    })
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

struct SealStep {
    file: std::fs::File,
    hasher: ContentHasher,
    next_segment: u64,
}

/// Hashes, seals and writes one batch of plaintext on the blocking pool, so that MD5, AES-GCM
/// and disk writes never stall the request threads. `last`: the batch ends the stream.
async fn seal_and_write(
    mut file: std::fs::File,
    mut hasher: ContentHasher,
    cipher: Arc<SegmentCipher>,
    first_segment: u64,
    plaintext: Vec<u8>,
    last: bool,
) -> StoreResult<SealStep> {
    tokio::task::spawn_blocking(move || -> StoreResult<SealStep> {
        hasher.update(&plaintext);
        // Sealed in place: a ciphertext copy of the batch would double the memory each upload
        // in flight holds.
        let mut batch = plaintext;
        let count = cipher.seal_batch(first_segment, last, &mut batch)?;
        file.write_all(&batch).map_err(StoreError::io("write a temporary file"))?;
        Ok(SealStep { file, hasher, next_segment: first_segment + count })
    })
    .await
    .map_err(|e| StoreError::Io { context: "write a temporary file", source: io::Error::other(e) })?
}

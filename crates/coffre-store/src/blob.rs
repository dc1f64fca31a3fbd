//! The data path on disk: chunk files under `chunks/ab/cd/<id>`, written once and never
//! modified.
//!
//! A write streams into `tmp/`, hashing as it goes, and is fsynced there (stage). Only once the
//! caller has verified the client's digests is the file renamed into `chunks/` and its
//! directory fsynced (publish); only then is the metadata committed. A crash before the commit
//! leaves a file that no record references: `tmp/` is emptied at start-up and unreferenced
//! chunk files older than the start are swept in the background.

use std::collections::HashSet;
use std::fmt;
use std::io::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::checksum::{ChecksumAlgorithm, ContentDigests, ContentHasher};
use crate::error::{StoreError, StoreResult};
use crate::limits::{INLINE_OBJECT_BYTES_MAX, READ_BUFFER_BYTES};
use crate::records::{ChunkId, ChunkRef};

/// Size of the buffer handed to one blocking write (and hash) step.
const WRITE_BUFFER_BYTES: usize = 1024 * 1024;

/// A request body failed while it was being read (client gone, bad chunk signature, ...).
#[derive(Debug)]
pub struct BodyError(pub Box<dyn std::error::Error + Send + Sync>);

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request body: {}", self.0)
    }
}

impl std::error::Error for BodyError {}

/// Chunk files and the temporary area.
pub struct BlobStore {
    tmp_dir: PathBuf,
    chunks_dir: PathBuf,
    fsync: bool,
}

/// Data received and hashed, durable in `tmp/` (or small enough to live in its record), not
/// yet part of any object. Dropping it removes the temporary file.
pub struct StagedData {
    /// Digests of the data.
    pub digests: ContentDigests,
    body: StagedBody,
}

enum StagedBody {
    Inline(Vec<u8>),
    File {
        id: ChunkId,
        tmp_path: PathBuf,
        published: bool,
    },
}

impl StagedData {
    /// Size in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.digests.size_bytes
    }

    pub(crate) fn take_inline(&mut self) -> Option<Vec<u8>> {
        match &mut self.body {
            StagedBody::Inline(data) => Some(std::mem::take(data)),
            StagedBody::File { .. } => None,
        }
    }
}

impl Drop for StagedData {
    fn drop(&mut self) {
        if let StagedBody::File {
            tmp_path,
            published: false,
            ..
        } = &self.body
        {
            let _ = std::fs::remove_file(tmp_path);
        }
    }
}

impl BlobStore {
    /// Opens the data directories, creating them, and empties `tmp/`: anything there is an
    /// interrupted write.
    pub fn open(root: &Path, fsync: bool) -> StoreResult<BlobStore> {
        let tmp_dir = root.join("tmp");
        let chunks_dir = root.join("chunks");
        std::fs::create_dir_all(&chunks_dir)
            .map_err(StoreError::io("create the chunks directory"))?;
        if tmp_dir.exists() {
            std::fs::remove_dir_all(&tmp_dir)
                .map_err(StoreError::io("empty the temporary directory"))?;
        }
        std::fs::create_dir_all(&tmp_dir)
            .map_err(StoreError::io("create the temporary directory"))?;
        Ok(BlobStore {
            tmp_dir,
            chunks_dir,
            fsync,
        })
    }

    fn chunk_path(&self, id: ChunkId) -> PathBuf {
        let hex = id.to_hex();
        let (a, rest) = hex.split_at(2);
        let (b, _) = rest.split_at(2);
        self.chunks_dir.join(a).join(b).join(&hex)
    }

    /// Receives a body: hashes it and keeps it in memory if it is small enough to be inlined
    /// (`inline_allowed`), otherwise streams it into a durable temporary file. Fails with
    /// `EntityTooLarge` past `size_bytes_max`.
    pub async fn stage<S>(
        &self,
        mut body: S,
        algorithm: Option<ChecksumAlgorithm>,
        inline_allowed: bool,
        size_bytes_max: u64,
    ) -> StoreResult<StagedData>
    where
        S: Stream<Item = Result<Bytes, BodyError>> + Unpin,
    {
        let mut hasher = ContentHasher::new(algorithm);
        let mut buffer: Vec<u8> = Vec::new();
        let mut handle: Option<std::fs::File> = None;
        // Owns the temporary file from its creation: an early return removes it.
        let mut staged: Option<StagedData> = None;
        let mut size: u64 = 0;
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|e| StoreError::Body(e.0))?;
            size += piece.len() as u64;
            if size > size_bytes_max {
                return Err(StoreError::EntityTooLarge);
            }
            buffer.extend_from_slice(&piece);
            if staged.is_none() && (!inline_allowed || buffer.len() > INLINE_OBJECT_BYTES_MAX) {
                let id = ChunkId::generate();
                let tmp_path = self.tmp_dir.join(id.to_hex());
                handle = Some(
                    std::fs::File::create(&tmp_path)
                        .map_err(StoreError::io("create a temporary file"))?,
                );
                staged = Some(StagedData {
                    digests: ContentHasher::new(None).finalize(),
                    body: StagedBody::File {
                        id,
                        tmp_path,
                        published: false,
                    },
                });
            }
            if buffer.len() >= WRITE_BUFFER_BYTES
                && let Some(f) = handle.take()
            {
                let (f, h, mut b) = write_and_hash(f, hasher, std::mem::take(&mut buffer)).await?;
                handle = Some(f);
                hasher = h;
                b.clear();
                buffer = b;
            }
        }
        let (Some(mut staged), Some(f)) = (staged, handle) else {
            hasher.update(&buffer);
            return Ok(StagedData {
                digests: hasher.finalize(),
                body: StagedBody::Inline(buffer),
            });
        };
        let (f, h, _) = write_and_hash(f, hasher, buffer).await?;
        if self.fsync {
            tokio::task::spawn_blocking(move || f.sync_data())
                .await
                .map_err(|e| StoreError::Io {
                    context: "sync a temporary file",
                    source: io::Error::other(e),
                })?
                .map_err(StoreError::io("sync a temporary file"))?;
        }
        staged.digests = h.finalize();
        Ok(staged)
    }

    /// Moves staged data into its final place, durably. Returns the chunk it now lives in, or
    /// `None` for inline data.
    pub(crate) async fn publish(&self, staged: &mut StagedData) -> StoreResult<Option<ChunkRef>> {
        let size_bytes = staged.size_bytes();
        let StagedBody::File {
            id,
            tmp_path,
            published,
        } = &mut staged.body
        else {
            return Ok(None);
        };
        let final_path = self.chunk_path(*id);
        let from = tmp_path.clone();
        let fsync = self.fsync;
        let chunks_dir = self.chunks_dir.clone();
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            let dir = final_path
                .parent()
                .ok_or_else(|| io::Error::other("chunk path has no parent"))?;
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
            std::fs::rename(&from, &final_path)?;
            if fsync {
                sync_dir(dir)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Io {
            context: "publish a chunk",
            source: io::Error::other(e),
        })?
        .map_err(StoreError::io("publish a chunk"))?;
        *published = true;
        Ok(Some(ChunkRef {
            id: *id,
            size_bytes,
        }))
    }

    /// Streams `range` (in object coordinates) out of the chunks that make up an object.
    pub fn read(
        &self,
        chunks: &[ChunkRef],
        range: Range<u64>,
    ) -> impl Stream<Item = io::Result<Bytes>> + Send + Sync + 'static {
        // Plan which byte range of which file each piece comes from.
        let mut plan = Vec::new();
        let mut offset = 0u64;
        for c in chunks {
            let start = range.start.max(offset);
            let end = range.end.min(offset + c.size_bytes);
            if start < end {
                plan.push((self.chunk_path(c.id), start - offset, end - start));
            }
            offset += c.size_bytes;
        }
        futures::stream::iter(plan)
            .then(|(path, skip, len)| async move {
                let mut file = tokio::fs::File::open(&path).await?;
                file.seek(io::SeekFrom::Start(skip)).await?;
                Ok::<_, io::Error>(tokio_util::io::ReaderStream::with_capacity(
                    file.take(len),
                    READ_BUFFER_BYTES,
                ))
            })
            .flat_map(|opened| match opened {
                Ok(stream) => stream.left_stream(),
                Err(e) => futures::stream::once(async move { Err(e) }).right_stream(),
            })
    }

    /// Deletes a chunk file; a missing file is not an error (deletion is idempotent).
    pub async fn delete(&self, id: ChunkId) -> StoreResult<()> {
        match tokio::fs::remove_file(self.chunk_path(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Io {
                context: "delete a chunk",
                source: e,
            }),
        }
    }

    /// Deletes chunk files that no metadata knows and that predate `started`: orphans of writes
    /// interrupted by a crash. Returns how many were removed.
    pub fn sweep_orphans(
        &self,
        known: &HashSet<ChunkId>,
        started: SystemTime,
    ) -> StoreResult<usize> {
        let mut removed = 0;
        let walk = |dir: &Path| -> io::Result<Vec<PathBuf>> {
            let mut out = Vec::new();
            for entry in std::fs::read_dir(dir)? {
                out.push(entry?.path());
            }
            Ok(out)
        };
        let io_err = StoreError::io("sweep orphaned chunks");
        for level1 in walk(&self.chunks_dir).map_err(io_err)? {
            let Ok(level2s) = walk(&level1) else { continue };
            for level2 in level2s {
                let Ok(files) = walk(&level2) else { continue };
                for file in files {
                    let Some(id) = file
                        .file_name()
                        .and_then(|n| n.to_str())
                        .and_then(ChunkId::from_hex)
                    else {
                        continue;
                    };
                    if known.contains(&id) {
                        continue;
                    }
                    let old = std::fs::metadata(&file)
                        .and_then(|m| m.modified())
                        .is_ok_and(|m| m < started);
                    if old && std::fs::remove_file(&file).is_ok() {
                        removed += 1;
                    }
                }
            }
        }
        Ok(removed)
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Hashes and writes one buffer on the blocking pool, so that MD5 and disk writes never stall
/// the request threads.
async fn write_and_hash(
    mut file: std::fs::File,
    mut hasher: ContentHasher,
    buffer: Vec<u8>,
) -> StoreResult<(std::fs::File, ContentHasher, Vec<u8>)> {
    tokio::task::spawn_blocking(move || -> io::Result<_> {
        hasher.update(&buffer);
        file.write_all(&buffer)?;
        Ok((file, hasher, buffer))
    })
    .await
    .map_err(|e| StoreError::Io {
        context: "write a temporary file",
        source: io::Error::other(e),
    })?
    .map_err(StoreError::io("write a temporary file"))
}

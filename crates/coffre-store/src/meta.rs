//! Metadata on redb: buckets, object versions, multipart uploads, chunk ownership and the
//! garbage queue.
//!
//! All writes go through one writer thread that folds every operation waiting in its queue
//! into one durable commit (group commit): under load, N concurrent PUTs cost one fsync, not
//! N. Conditions (`If-None-Match: *`, `If-Match`) are evaluated inside that commit, so two
//! racing writers can never both win. Readers use redb snapshots and never block the writer.
//!
//! Layout: one table of object versions per bucket, keyed by `(key bytes, version rank)`, so
//! a listing is a range scan and skipping a common prefix is one seek. The rank orders the
//! versions of a key newest first; unversioned buckets hold one ("null") version per key.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};
use tokio::sync::{mpsc, oneshot};

use crate::changes::{AttributesChange, BucketChange};
use crate::checksum::{self, ChecksumAlgorithm, ChecksumType, PartChecksumInput};
use crate::db_slot::{DbSlot, needs_reopen};
use crate::error::{StoreError, StoreResult};
use crate::limits::{
    COMMIT_BATCH_OPS_MAX, COMMIT_QUEUE_DEPTH, GC_GRACE_MS, OBJECT_SIZE_BYTES_MAX, PART_SIZE_BYTES_MIN,
};
use crate::records::{
    self, BucketRecord, ChunkId, ChunkRef, DataLayout, ObjectRecord, PartRecord, UnixNanos, UploadRecord, Usage,
};
use crate::space::SpaceGuard;

const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
/// `(bucket, key, upload id)` → upload.
const UPLOADS: TableDefinition<(&str, &[u8], &str), &[u8]> = TableDefinition::new("uploads");
/// `(upload id, part number)` → part.
const PARTS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("parts");
/// Chunk files referenced by an object version or a part.
const CHUNKS: TableDefinition<&[u8], ()> = TableDefinition::new("chunks");
/// `(deletable after, unix ms; chunk id)`: chunk files no longer referenced.
const GARBAGE: TableDefinition<(u64, &[u8]), ()> = TableDefinition::new("garbage");
/// Bucket → usage (bytes, objects) of its current versions, kept in step with every write.
const USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("usage");
/// Request id → (commit time, unix ms; pending audit record): see [`crate::intent`].
const AUDIT_INTENTS: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("audit_intents");
/// Identity records (tenants, users, sealed access keys, token hashes), by kind/name.
const IAM: TableDefinition<&str, &[u8]> = TableDefinition::new("iam");

type VersionKey<'a> = (&'a [u8], u64);

fn objects_table_name(bucket: &str) -> String {
    format!("objects/{bucket}")
}

fn objects_table(name: &str) -> TableDefinition<'_, VersionKey<'static>, &'static [u8]> {
    TableDefinition::new(name)
}

/// Rank of a version in its key's list: newer versions sort first.
fn version_rank(last_modified_ns: UnixNanos) -> u64 {
    u64::MAX - u64::try_from(last_modified_ns).unwrap_or(0)
}

/// A condition a write must meet, evaluated atomically with its commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// Unconditional: last writer wins.
    None,
    /// `If-None-Match: *`: only if the key does not exist.
    IfNoneMatchAny,
    /// `If-Match: *`: only if the key exists.
    IfMatchAny,
    /// `If-Match: "etag"`: only if the current ETag is this one.
    IfMatch(String),
}

impl WriteCondition {
    fn check(&self, current: Option<&ObjectRecord>) -> StoreResult<()> {
        match (self, current) {
            (WriteCondition::None, _) => Ok(()),
            (WriteCondition::IfNoneMatchAny, None) => Ok(()),
            (WriteCondition::IfNoneMatchAny, Some(_)) => Err(StoreError::PreconditionFailed),
            (WriteCondition::IfMatchAny | WriteCondition::IfMatch(_), None) => Err(StoreError::NoSuchKey),
            (WriteCondition::IfMatchAny, Some(_)) => Ok(()),
            (WriteCondition::IfMatch(etag), Some(cur)) if *etag == cur.etag => Ok(()),
            (WriteCondition::IfMatch(_), Some(_)) => Err(StoreError::PreconditionFailed),
        }
    }
}

/// A part named in CompleteMultipartUpload.
#[derive(Debug, Clone)]
pub struct CompletedPart {
    /// Part number.
    pub part_number: u32,
    /// ETag the client got for it, without quotes.
    pub etag: String,
    /// Checksum the client got for it, if it sends one back.
    pub checksum_base64: Option<String>,
}

/// What CompleteMultipartUpload asks for.
#[derive(Debug, Clone)]
pub struct CompleteRequest {
    /// The parts, in the client's order.
    pub parts: Vec<CompletedPart>,
    /// Condition on the key.
    pub condition: WriteCondition,
    /// A full-object checksum the client computed, to compare with ours.
    pub expected_checksum: Option<(ChecksumAlgorithm, String)>,
    /// Checksum type the client expects.
    pub checksum_type: Option<ChecksumType>,
    /// `x-amz-mp-object-size`, if sent.
    pub expected_size_bytes: Option<u64>,
}

pub(crate) enum MetaOp {
    CreateBucket {
        bucket: String,
        record: BucketRecord,
    },
    UpdateBucket {
        bucket: String,
        change: BucketChange,
    },
    DeleteBucket {
        bucket: String,
    },
    PutObject {
        bucket: String,
        key: String,
        record: Box<ObjectRecord>,
        inline: Vec<u8>,
        condition: WriteCondition,
    },
    DeleteObject {
        bucket: String,
        key: String,
        condition: WriteCondition,
    },
    UpdateAttributes {
        bucket: String,
        key: String,
        change: AttributesChange,
    },
    WriteIam {
        changes: Vec<(String, Option<Vec<u8>>)>,
    },
    ForgetAuditIntents {
        keys: Vec<String>,
    },
    CreateUpload {
        bucket: String,
        key: String,
        upload_id: String,
        record: UploadRecord,
    },
    PutPart {
        bucket: String,
        key: String,
        upload_id: String,
        part_number: u32,
        record: PartRecord,
    },
    CompleteUpload {
        bucket: String,
        key: String,
        upload_id: String,
        request: CompleteRequest,
        now_ns: UnixNanos,
    },
    AbortUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    ForgetGarbage {
        entries: Vec<(u64, ChunkId)>,
    },
    /// Replaces the wrapped data keys of object versions, if each is still the version read.
    ReplaceKeys {
        bucket: String,
        updates: Vec<KeyUpdate>,
    },
    /// Crypto-shredding aftermath: frees the data of versions whose key was destroyed.
    Shred {
        bucket: String,
        versions: Vec<(String, u64)>,
        key_id: String,
    },
}

/// New wrapped keys for one object version (see [`MetaOp::ReplaceKeys`]).
pub(crate) struct KeyUpdate {
    pub key: String,
    pub rank: u64,
    /// The version's Last-Modified when it was read: a changed version is left alone.
    pub last_modified_ns: UnixNanos,
    pub layout: DataLayout,
}

impl KeyUpdate {
    fn layout_chunk_ids(&self) -> impl Iterator<Item = ChunkId> + '_ {
        let chunks: &[ChunkRef] = match &self.layout {
            DataLayout::Inline(_) => &[],
            DataLayout::Chunks(c) => c,
        };
        chunks.iter().map(|c| c.id)
    }
}

/// One object version as a scan returns it.
pub struct ScannedVersion {
    /// Object key.
    pub key: String,
    /// Version rank in the table.
    pub rank: u64,
    /// Its record.
    pub record: ObjectRecord,
}

pub(crate) enum MetaOutcome {
    Done,
    Object(Box<ObjectRecord>),
    Deleted(bool),
    Count(u64),
}

impl MetaOutcome {
    fn unexpected(&self, wanted: &str) -> StoreError {
        let got = match self {
            MetaOutcome::Done => "done",
            MetaOutcome::Object(_) => "an object",
            MetaOutcome::Deleted(_) => "a deletion",
            MetaOutcome::Count(_) => "a count",
        };
        StoreError::Corrupt { what: format!("the metadata writer answered {got} where {wanted} was due") }
    }

    /// The object a write committed.
    pub(crate) fn object(self) -> StoreResult<ObjectRecord> {
        match self {
            MetaOutcome::Object(record) => Ok(*record),
            other @ (MetaOutcome::Done | MetaOutcome::Deleted(_) | MetaOutcome::Count(_)) => {
                Err(other.unexpected("an object"))
            }
        }
    }

    /// Whether a delete found something to delete.
    pub(crate) fn deleted(self) -> StoreResult<bool> {
        match self {
            MetaOutcome::Deleted(existed) => Ok(existed),
            other @ (MetaOutcome::Done | MetaOutcome::Object(_) | MetaOutcome::Count(_)) => {
                Err(other.unexpected("a deletion"))
            }
        }
    }

    /// How many versions a bulk change touched.
    pub(crate) fn count(self) -> StoreResult<u64> {
        match self {
            MetaOutcome::Count(n) => Ok(n),
            other @ (MetaOutcome::Done | MetaOutcome::Object(_) | MetaOutcome::Deleted(_)) => {
                Err(other.unexpected("a count"))
            }
        }
    }
}

/// An audit intent on its way into a commit.
struct PendingIntent {
    key: String,
    record: Vec<u8>,
    committed: Arc<std::sync::atomic::AtomicBool>,
}

/// A metadata change as the writer commits it: the operation and every input its commit uses
/// besides the database (when it was asked for, the audit record to commit with it), so that
/// applying it reads no clock and no task-local.
pub(crate) struct Command {
    op: MetaOp,
    /// When the change was asked for (unix ms).
    at_ms: u64,
    /// The audit record to commit with the change (see [`crate::intent`]).
    intent: Option<PendingIntent>,
}

struct Job {
    command: Command,
    reply: oneshot::Sender<StoreResult<MetaOutcome>>,
}

/// The metadata store: snapshot reads and a group-committing writer.
pub struct MetaStore {
    db: Arc<DbSlot>,
    writer: mpsc::Sender<Job>,
    /// Joined on drop, so that the database is closed (and marked clean) before the process
    /// exits: a database not closed cleanly is checked page by page at the next start.
    writer_thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for MetaStore {
    fn drop(&mut self) {
        // Closing the queue ends the writer once it has committed what was queued; it then
        // drops its handle, and `db` (dropped after this) is the last one.
        drop(std::mem::replace(&mut self.writer, mpsc::channel(1).0));
        if let Some(thread) = self.writer_thread.take() {
            let _ = thread.join();
        }
    }
}

impl MetaStore {
    /// Opens (or creates) the database, with a page cache of `cache_bytes`, and starts its
    /// writer thread. `durable: false` is a benchmark-only setting that skips the fsync of
    /// commits.
    pub fn open(path: &Path, durable: bool, cache_bytes: usize, space: Arc<SpaceGuard>) -> StoreResult<MetaStore> {
        let db = Arc::new(DbSlot::open(path, cache_bytes, space)?);
        {
            let txn = db.get()?.begin_write()?;
            txn.open_table(BUCKETS)?;
            txn.open_table(UPLOADS)?;
            txn.open_table(PARTS)?;
            txn.open_table(CHUNKS)?;
            txn.open_table(GARBAGE)?;
            txn.open_table(USAGE)?;
            txn.open_table(IAM)?;
            txn.open_table(AUDIT_INTENTS)?;
            txn.commit()?;
        }
        let (tx, rx) = mpsc::channel(COMMIT_QUEUE_DEPTH);
        let writer_db = Arc::clone(&db);
        let writer_thread = std::thread::Builder::new()
            .name("coffre-meta-writer".into())
            .spawn(move || writer_loop(&writer_db, rx, durable))
            .map_err(StoreError::io("start the metadata writer"))?;
        Ok(MetaStore { db, writer: tx, writer_thread: Some(writer_thread) })
    }

    pub(crate) async fn apply(&self, op: MetaOp) -> StoreResult<MetaOutcome> {
        let (reply, answer) = oneshot::channel();
        let intent = crate::intent::current().map(|i| PendingIntent {
            record: (i.snapshot)(),
            key: i.key,
            committed: i.committed,
        });
        let command = Command { op, at_ms: now_ms(), intent };
        self.writer.send(Job { command, reply }).await.map_err(|_| StoreError::ShuttingDown)?;
        answer.await.map_err(|_| StoreError::ShuttingDown)?
    }

    fn read(&self) -> StoreResult<ReadTransaction> {
        Ok(self.db.get()?.begin_read()?)
    }

    /// The bucket, if it exists.
    pub fn bucket(&self, bucket: &str) -> StoreResult<Option<BucketRecord>> {
        let txn = self.read()?;
        let table = txn.open_table(BUCKETS)?;
        match table.get(bucket)? {
            Some(v) => Ok(Some(records::decode::<BucketRecord>(v.value())?.0)),
            None => Ok(None),
        }
    }

    /// What a bucket's current versions hold.
    pub fn usage(&self, bucket: &str) -> StoreResult<Usage> {
        read_usage(&self.read()?.open_table(USAGE)?, bucket)
    }

    /// Audit intents committed before `before_ms` (unix ms): `(key, record)`.
    pub fn audit_intents(&self, before_ms: u64) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let txn = self.read()?;
        let table = txn.open_table(AUDIT_INTENTS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            let (at, record) = v.value();
            if at < before_ms {
                out.push((k.value().to_owned(), record.to_vec()));
            }
        }
        Ok(out)
    }

    /// Every identity record.
    pub fn iam_records(&self) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let txn = self.read()?;
        let table = txn.open_table(IAM)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            out.push((k.value().to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// All buckets, by name.
    pub fn buckets(&self) -> StoreResult<Vec<(String, BucketRecord)>> {
        let txn = self.read()?;
        let table = txn.open_table(BUCKETS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            out.push((k.value().to_owned(), records::decode::<BucketRecord>(v.value())?.0));
        }
        Ok(out)
    }

    /// The current version of a key, with its inline payload.
    pub fn object(&self, bucket: &str, key: &str) -> StoreResult<(ObjectRecord, Vec<u8>)> {
        let txn = self.read()?;
        require_bucket(&txn, bucket)?;
        let name = objects_table_name(bucket);
        let table = txn.open_table(objects_table(&name))?;
        let mut range = table.range((key.as_bytes(), 0)..=(key.as_bytes(), u64::MAX))?;
        match range.next() {
            Some(entry) => {
                let (_, v) = entry?;
                let (record, payload) = records::decode::<ObjectRecord>(v.value())?;
                Ok((record, payload.to_vec()))
            }
            None => Err(StoreError::NoSuchKey),
        }
    }

    /// One page of a bucket listing. See [`ListQuery`].
    pub fn list_objects(&self, bucket: &str, query: &ListQuery) -> StoreResult<ListPage> {
        let txn = self.read()?;
        require_bucket(&txn, bucket)?;
        let name = objects_table_name(bucket);
        let table = txn.open_table(objects_table(&name))?;
        list_table(&table, query)
    }

    /// An upload in progress.
    pub fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> StoreResult<UploadRecord> {
        let txn = self.read()?;
        require_bucket(&txn, bucket)?;
        let table = txn.open_table(UPLOADS)?;
        let v = table.get((bucket, key.as_bytes(), upload_id))?.ok_or(StoreError::NoSuchUpload)?;
        Ok(records::decode::<UploadRecord>(v.value())?.0)
    }

    /// Parts of an upload with numbers above `after`, at most `max` (plus whether more exist).
    pub fn parts(&self, upload_id: &str, after: u32, max: usize) -> StoreResult<(Vec<(u32, PartRecord)>, bool)> {
        let txn = self.read()?;
        let table = txn.open_table(PARTS)?;
        let mut out = Vec::new();
        let start = after.saturating_add(1);
        for entry in table.range((upload_id, start)..=(upload_id, u32::MAX))? {
            let (k, v) = entry?;
            if out.len() == max {
                return Ok((out, true));
            }
            out.push((k.value().1, records::decode::<PartRecord>(v.value())?.0));
        }
        Ok((out, false))
    }

    /// Uploads of a bucket in key order, then creation order, after the markers.
    pub fn uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
    ) -> StoreResult<Vec<(String, String, UploadRecord)>> {
        let txn = self.read()?;
        require_bucket(&txn, bucket)?;
        let table = txn.open_table(UPLOADS)?;
        let mut out = Vec::new();
        let start: (&str, &[u8], &str) = (bucket, prefix.as_bytes(), "");
        for entry in table.range(start..)? {
            let (k, v) = entry?;
            let (b, key, id) = k.value();
            if b != bucket || !key.starts_with(prefix.as_bytes()) {
                break;
            }
            let key = String::from_utf8_lossy(key).into_owned();
            if let Some(marker) = key_marker {
                let after = match upload_id_marker {
                    Some(id_marker) => (key.as_str(), id) > (marker, id_marker),
                    None => key.as_str() > marker,
                };
                if !after {
                    continue;
                }
            }
            out.push((key, id.to_owned(), records::decode::<UploadRecord>(v.value())?.0));
        }
        Ok(out)
    }

    /// Garbage entries due before `now_ms`, at most `max`.
    pub(crate) fn garbage_due(&self, now_ms: u64, max: usize) -> StoreResult<Vec<(u64, ChunkId)>> {
        let txn = self.read()?;
        let table = txn.open_table(GARBAGE)?;
        let mut out = Vec::new();
        for entry in table.range((0u64, &[][..])..(now_ms, &[][..]))? {
            let (k, _) = entry?;
            let (t, id) = k.value();
            if let Ok(id) = <[u8; 16]>::try_from(id) {
                out.push((t, ChunkId(id)));
            }
            if out.len() == max {
                break;
            }
        }
        Ok(out)
    }

    /// Up to `max` object versions of a bucket after `after` (exclusive), in key order.
    pub fn scan_versions(
        &self,
        bucket: &str,
        after: Option<&(String, u64)>,
        max: usize,
    ) -> StoreResult<Vec<ScannedVersion>> {
        let txn = self.read()?;
        require_bucket(&txn, bucket)?;
        let name = objects_table_name(bucket);
        let table = txn.open_table(objects_table(&name))?;
        let start: Bound<VersionKey<'_>> = match after {
            Some((k, r)) => Bound::Excluded((k.as_bytes(), *r)),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for entry in table.range::<VersionKey<'_>>((start, Bound::Unbounded))? {
            let (k, v) = entry?;
            let (key, rank) = k.value();
            out.push(ScannedVersion {
                key: String::from_utf8_lossy(key).into_owned(),
                rank,
                record: records::decode::<ObjectRecord>(v.value())?.0,
            });
            if out.len() == max {
                break;
            }
        }
        Ok(out)
    }

    /// Number of object versions whose data keys are wrapped by `key_id` (a full scan: for
    /// key administration, not the request path).
    pub fn count_objects_with_key(&self, key_id: &str) -> StoreResult<u64> {
        let txn = self.read()?;
        let mut count = 0;
        for (bucket, _) in self.buckets()? {
            let name = objects_table_name(&bucket);
            let table = txn.open_table(objects_table(&name))?;
            for entry in table.iter()? {
                let (_, v) = entry?;
                let (record, _) = records::decode::<ObjectRecord>(v.value())?;
                count += u64::from(record.uses_key(key_id));
            }
        }
        Ok(count)
    }

    /// Chunk ids known to the metadata: referenced, or queued for deletion. A chunk file
    /// that is neither is an orphan of an interrupted write.
    pub(crate) fn known_chunks(&self) -> StoreResult<std::collections::HashSet<ChunkId>> {
        let txn = self.read()?;
        let mut known = std::collections::HashSet::new();
        for entry in txn.open_table(CHUNKS)?.iter()? {
            if let Ok(id) = <[u8; 16]>::try_from(entry?.0.value()) {
                known.insert(ChunkId(id));
            }
        }
        for entry in txn.open_table(GARBAGE)?.iter()? {
            if let Ok(id) = <[u8; 16]>::try_from(entry?.0.value().1) {
                known.insert(ChunkId(id));
            }
        }
        Ok(known)
    }
}

fn require_bucket(txn: &ReadTransaction, bucket: &str) -> StoreResult<()> {
    let table = txn.open_table(BUCKETS)?;
    if table.get(bucket)?.is_none() {
        return Err(StoreError::NoSuchBucket);
    }
    Ok(())
}

/// What a listing asks for.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only keys that start with this.
    pub prefix: String,
    /// Roll keys up to common prefixes at the first occurrence of this after the prefix.
    pub delimiter: Option<String>,
    /// Start after this key (exclusive): a marker, `start-after` or a continuation token.
    pub start_after: Option<String>,
    /// Most entries (keys plus common prefixes) to return.
    pub max_keys: usize,
}

/// An entry of a listing.
#[derive(Debug, Clone)]
pub enum ListEntry {
    /// An object's current version.
    Object {
        /// Its key.
        key: String,
        /// Its record.
        record: Box<ObjectRecord>,
    },
    /// A common prefix.
    CommonPrefix(String),
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// Entries in key order.
    pub entries: Vec<ListEntry>,
    /// Whether more entries follow.
    pub truncated: bool,
    /// Table rows read to build the page: the cost of the listing, which must follow what is
    /// returned rather than the size of the bucket.
    pub rows_examined: usize,
}

impl ListPage {
    /// The last key or common prefix returned: where the next page starts after.
    pub fn last_position(&self) -> Option<&str> {
        self.entries.last().map(|e| match e {
            ListEntry::Object { key, .. } => key.as_str(),
            ListEntry::CommonPrefix(p) => p.as_str(),
        })
    }
}

/// The smallest byte string greater than every string that starts with `prefix`.
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < u8::MAX {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

/// The common prefix `key` rolls up to, if any.
fn common_prefix<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    let pos = rest.find(delimiter)?;
    key.get(..prefix.len() + pos + delimiter.len())
}

fn list_table<T: ReadableTable<VersionKey<'static>, &'static [u8]>>(
    table: &T,
    query: &ListQuery,
) -> StoreResult<ListPage> {
    let prefix = query.prefix.as_str();
    let delimiter = query.delimiter.as_deref();
    let mut page = ListPage::default();
    // Where to seek next. A start-after inside a common prefix skips that whole prefix, as
    // the prefix was already returned on an earlier page.
    let mut cursor: Vec<u8> = prefix.as_bytes().to_vec();
    let mut exclusive: Option<Vec<u8>> = None;
    if let Some(after) = query.start_after.as_deref().filter(|a| a.as_bytes() >= prefix.as_bytes()) {
        match common_prefix(after, prefix, delimiter) {
            Some(cp) => match prefix_successor(cp.as_bytes()) {
                Some(next) => cursor = next,
                None => return Ok(page),
            },
            None => {
                cursor = after.as_bytes().to_vec();
                exclusive = Some(cursor.clone());
            }
        }
    }
    loop {
        let start: Bound<VersionKey<'_>> = match &exclusive {
            Some(k) => Bound::Excluded((k.as_slice(), u64::MAX)),
            None => Bound::Included((cursor.as_slice(), 0)),
        };
        let mut range = table.range::<VersionKey<'_>>((start, Bound::Unbounded))?;
        let mut reseek: Option<Vec<u8>> = None;
        let mut last_key: Option<Vec<u8>> = None;
        for entry in range.by_ref() {
            let (k, v) = entry?;
            page.rows_examined += 1;
            let (key_bytes, _rank) = k.value();
            if !key_bytes.starts_with(prefix.as_bytes()) {
                return Ok(page);
            }
            if last_key.as_deref() == Some(key_bytes) {
                continue; // an older version of a key already listed
            }
            let key = String::from_utf8_lossy(key_bytes).into_owned();
            if page.entries.len() == query.max_keys {
                page.truncated = true;
                return Ok(page);
            }
            if let Some(cp) = common_prefix(&key, prefix, delimiter) {
                page.entries.push(ListEntry::CommonPrefix(cp.to_owned()));
                match prefix_successor(cp.as_bytes()) {
                    Some(next) => reseek = Some(next),
                    None => return Ok(page),
                }
                break;
            }
            let (record, _) = records::decode::<ObjectRecord>(v.value())?;
            page.entries.push(ListEntry::Object { key, record: Box::new(record) });
            last_key = Some(key_bytes.to_vec());
        }
        match reseek {
            Some(next) => {
                cursor = next;
                exclusive = None;
            }
            None => return Ok(page),
        }
    }
}

fn writer_loop(slot: &DbSlot, mut rx: mpsc::Receiver<Job>, durable: bool) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < COMMIT_BATCH_OPS_MAX {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (commands, replies): (Vec<Command>, Vec<_>) = jobs.into_iter().map(|j| (j.command, j.reply)).unzip();
        let committed = slot.get_or_reopen().and_then(|db| commit_batch(&db, commands, durable));
        match committed {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "metadata commit failed; the batch is rejected");
                if needs_reopen(&e) {
                    slot.fail(&e);
                }
                // A full disk is the client's to know (507), not an internal error.
                let out_of_space = e.is_out_of_space();
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(if out_of_space {
                        slot.space.insufficient()
                    } else {
                        StoreError::Io { context: "commit metadata", source: std::io::Error::other(message.clone()) }
                    }));
                }
                if needs_reopen(&e) {
                    // At once, so that /health recovers without waiting for the next write.
                    let _ = slot.get_or_reopen();
                }
            }
        }
    }
}

fn commit_batch(db: &Database, commands: Vec<Command>, durable: bool) -> StoreResult<Vec<StoreResult<MetaOutcome>>> {
    let mut txn = db.begin_write()?;
    if !durable {
        txn.set_durability(redb::Durability::None).map_err(|e| StoreError::Io {
            context: "set commit durability",
            source: std::io::Error::other(e.to_string()),
        })?;
    }
    let mut results = Vec::with_capacity(commands.len());
    let mut committed_intents = Vec::new();
    for Command { op, at_ms, intent } in commands {
        let mut result = apply(&txn, op, at_ms);
        if let (Ok(_), Some(intent)) = (&result, intent) {
            match txn.open_table(AUDIT_INTENTS).and_then(|mut t| {
                t.insert(intent.key.as_str(), (at_ms, intent.record.as_slice()))?;
                Ok(())
            }) {
                Ok(()) => committed_intents.push(intent.committed),
                Err(e) => result = Err(e.into()),
            }
        }
        // Operations check every condition before they change anything, so a refused one
        // leaves the batch intact; a database failure midway poisons the whole batch.
        if let Err(StoreError::Meta(_) | StoreError::Io { .. } | StoreError::Corrupt { .. }) = &result {
            txn.abort()?;
            return Err(result.err().unwrap_or(StoreError::ShuttingDown));
        }
        results.push(result);
    }
    txn.commit()?;
    for flag in committed_intents {
        flag.store(true, std::sync::atomic::Ordering::Release);
    }
    Ok(results)
}

/// Now, in unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// Moves chunks from "referenced" to the garbage queue.
fn discard_chunks(txn: &WriteTransaction, chunks: &[ChunkRef], at_ms: u64) -> StoreResult<()> {
    if chunks.is_empty() {
        return Ok(());
    }
    let mut owned = txn.open_table(CHUNKS)?;
    let mut garbage = txn.open_table(GARBAGE)?;
    let due = at_ms + GC_GRACE_MS;
    for c in chunks {
        owned.remove(&c.id.0[..])?;
        garbage.insert((due, &c.id.0[..]), ())?;
    }
    Ok(())
}

fn own_chunks(txn: &WriteTransaction, chunks: &[ChunkRef]) -> StoreResult<()> {
    let mut owned = txn.open_table(CHUNKS)?;
    for c in chunks {
        owned.insert(&c.id.0[..], ())?;
    }
    Ok(())
}

fn bucket_exists(txn: &WriteTransaction, bucket: &str) -> StoreResult<bool> {
    Ok(txn.open_table(BUCKETS)?.get(bucket)?.is_some())
}

/// The current version of a key inside a write transaction: its table key rank and record.
fn current_version(txn: &WriteTransaction, bucket: &str, key: &str) -> StoreResult<Option<(u64, ObjectRecord)>> {
    let name = objects_table_name(bucket);
    let table = txn.open_table(objects_table(&name))?;
    let mut range = table.range((key.as_bytes(), 0)..=(key.as_bytes(), u64::MAX))?;
    match range.next() {
        Some(entry) => {
            let (k, v) = entry?;
            Ok(Some((k.value().1, records::decode::<ObjectRecord>(v.value())?.0)))
        }
        None => Ok(None),
    }
}

/// Refuses a write that would take the bucket past its quota (before anything changes).
fn check_quota(
    txn: &WriteTransaction,
    bucket: &str,
    record: &ObjectRecord,
    previous: Option<&ObjectRecord>,
) -> StoreResult<()> {
    let quota = match txn.open_table(BUCKETS)?.get(bucket)? {
        Some(v) => records::decode::<BucketRecord>(v.value())?.0.quota,
        None => return Err(StoreError::NoSuchBucket),
    };
    let Some(quota) = quota else { return Ok(()) };
    let usage = read_usage(&txn.open_table(USAGE)?, bucket)?;
    let bytes = usage.bytes.saturating_sub(previous.map_or(0, |p| p.size_bytes)).saturating_add(record.size_bytes);
    let objects = usage.objects + u64::from(previous.is_none());
    let over_bytes = quota.max_bytes.is_some_and(|max| bytes > max && record.size_bytes > 0);
    let over_objects = quota.max_objects.is_some_and(|max| objects > max);
    if over_bytes || over_objects {
        return Err(StoreError::QuotaExceeded { quota, usage });
    }
    Ok(())
}

fn read_usage(table: &impl ReadableTable<&'static str, (u64, u64)>, bucket: &str) -> StoreResult<Usage> {
    Ok(table.get(bucket)?.map(|v| v.value()).map(|(bytes, objects)| Usage { bytes, objects }).unwrap_or_default())
}

fn add_usage(txn: &WriteTransaction, bucket: &str, bytes: i128, objects: i64) -> StoreResult<()> {
    let mut table = txn.open_table(USAGE)?;
    let now = read_usage(&table, bucket)?;
    let apply = |v: u64, d: i128| u64::try_from((i128::from(v) + d).max(0)).unwrap_or(u64::MAX);
    table.insert(bucket, (apply(now.bytes, bytes), apply(now.objects, i128::from(objects))))?;
    Ok(())
}

/// Replaces the current ("null") version of a key with `record`.
fn replace_current(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    record: &ObjectRecord,
    inline: &[u8],
    previous: Option<(u64, ObjectRecord)>,
    at_ms: u64,
) -> StoreResult<()> {
    let name = objects_table_name(bucket);
    let (mut bytes_delta, mut objects_delta) = (i128::from(record.size_bytes), 1);
    if let Some((rank, old)) = previous {
        txn.open_table(objects_table(&name))?.remove((key.as_bytes(), rank))?;
        discard_chunks(txn, old.chunks(), at_ms)?;
        bytes_delta -= i128::from(old.size_bytes);
        objects_delta -= 1;
    }
    add_usage(txn, bucket, bytes_delta, objects_delta)?;
    own_chunks(txn, record.chunks())?;
    let bytes = records::encode(record, inline);
    txn.open_table(objects_table(&name))?
        .insert((key.as_bytes(), version_rank(record.last_modified_ns)), bytes.as_slice())?;
    Ok(())
}

fn apply(txn: &WriteTransaction, op: MetaOp, at_ms: u64) -> StoreResult<MetaOutcome> {
    match op {
        MetaOp::CreateBucket { bucket, record } => {
            let mut table = txn.open_table(BUCKETS)?;
            if table.get(bucket.as_str())?.is_some() {
                return Err(StoreError::BucketAlreadyOwnedByYou);
            }
            table.insert(bucket.as_str(), records::encode(&record, &[]).as_slice())?;
            drop(table);
            txn.open_table(objects_table(&objects_table_name(&bucket)))?;
            Ok(MetaOutcome::Done)
        }
        MetaOp::DeleteBucket { bucket } => delete_bucket(txn, &bucket, at_ms),
        MetaOp::UpdateBucket { bucket, change } => {
            let mut table = txn.open_table(BUCKETS)?;
            let mut record = match table.get(bucket.as_str())? {
                Some(v) => records::decode::<BucketRecord>(v.value())?.0,
                None => return Err(StoreError::NoSuchBucket),
            };
            change.apply(&mut record)?;
            table.insert(bucket.as_str(), records::encode(&record, &[]).as_slice())?;
            Ok(MetaOutcome::Done)
        }
        MetaOp::ForgetAuditIntents { mut keys } => {
            let mut table = txn.open_table(AUDIT_INTENTS)?;
            keys.sort_unstable();
            for key in keys {
                table.remove(key.as_str())?;
            }
            Ok(MetaOutcome::Done)
        }
        MetaOp::WriteIam { changes } => {
            let mut table = txn.open_table(IAM)?;
            for (key, value) in changes {
                match value {
                    Some(v) => table.insert(key.as_str(), v.as_slice())?,
                    None => table.remove(key.as_str())?,
                };
            }
            Ok(MetaOutcome::Done)
        }
        MetaOp::PutObject { bucket, key, record, inline, condition } => {
            if !bucket_exists(txn, &bucket)? {
                return Err(StoreError::NoSuchBucket);
            }
            let previous = current_version(txn, &bucket, &key)?;
            condition.check(previous.as_ref().map(|(_, r)| r))?;
            check_quota(txn, &bucket, &record, previous.as_ref().map(|(_, r)| r))?;
            replace_current(txn, &bucket, &key, &record, &inline, previous, at_ms)?;
            Ok(MetaOutcome::Object(record))
        }
        MetaOp::DeleteObject { bucket, key, condition } => {
            if !bucket_exists(txn, &bucket)? {
                return Err(StoreError::NoSuchBucket);
            }
            let current = current_version(txn, &bucket, &key)?;
            // Evaluated in the commit that deletes: no writer can slip in between.
            condition.check(current.as_ref().map(|(_, r)| r))?;
            let Some((rank, old)) = current else {
                return Ok(MetaOutcome::Deleted(false));
            };
            txn.open_table(objects_table(&objects_table_name(&bucket)))?.remove((key.as_bytes(), rank))?;
            discard_chunks(txn, old.chunks(), at_ms)?;
            add_usage(txn, &bucket, -i128::from(old.size_bytes), -1)?;
            Ok(MetaOutcome::Deleted(true))
        }
        MetaOp::UpdateAttributes { bucket, key, change } => {
            if !bucket_exists(txn, &bucket)? {
                return Err(StoreError::NoSuchBucket);
            }
            let (rank, mut record) = current_version(txn, &bucket, &key)?.ok_or(StoreError::NoSuchKey)?;
            let name = objects_table_name(&bucket);
            let mut table = txn.open_table(objects_table(&name))?;
            let inline = match table.get((key.as_bytes(), rank))? {
                Some(v) => records::decode::<ObjectRecord>(v.value())?.1.to_vec(),
                None => return Err(StoreError::NoSuchKey),
            };
            change.apply(&mut record.attributes);
            table.insert((key.as_bytes(), rank), records::encode(&record, &inline).as_slice())?;
            Ok(MetaOutcome::Done)
        }
        MetaOp::CreateUpload { bucket, key, upload_id, record } => {
            if !bucket_exists(txn, &bucket)? {
                return Err(StoreError::NoSuchBucket);
            }
            txn.open_table(UPLOADS)?.insert(
                (bucket.as_str(), key.as_bytes(), upload_id.as_str()),
                records::encode(&record, &[]).as_slice(),
            )?;
            Ok(MetaOutcome::Done)
        }
        MetaOp::PutPart { bucket, key, upload_id, part_number, record } => {
            if txn.open_table(UPLOADS)?.get((bucket.as_str(), key.as_bytes(), upload_id.as_str()))?.is_none() {
                return Err(StoreError::NoSuchUpload);
            }
            let mut parts = txn.open_table(PARTS)?;
            let old = match parts.get((upload_id.as_str(), part_number))? {
                Some(v) => Some(records::decode::<PartRecord>(v.value())?.0),
                None => None,
            };
            parts.insert((upload_id.as_str(), part_number), records::encode(&record, &[]).as_slice())?;
            drop(parts);
            if let Some(old) = old {
                discard_chunks(txn, std::slice::from_ref(&old.chunk), at_ms)?;
            }
            own_chunks(txn, std::slice::from_ref(&record.chunk))?;
            Ok(MetaOutcome::Done)
        }
        MetaOp::CompleteUpload { bucket, key, upload_id, request, now_ns } => {
            complete_upload(txn, &bucket, &key, &upload_id, &request, now_ns, at_ms)
        }
        MetaOp::AbortUpload { bucket, key, upload_id } => {
            if !bucket_exists(txn, &bucket)? {
                return Err(StoreError::NoSuchBucket);
            }
            let removed =
                txn.open_table(UPLOADS)?.remove((bucket.as_str(), key.as_bytes(), upload_id.as_str()))?.is_some();
            if !removed {
                return Err(StoreError::NoSuchUpload);
            }
            drop_parts(txn, &upload_id, &[], at_ms)?;
            Ok(MetaOutcome::Done)
        }
        MetaOp::ReplaceKeys { bucket, updates } => {
            let name = objects_table_name(&bucket);
            let mut table = txn.open_table(objects_table(&name))?;
            let mut replaced = 0u64;
            for u in updates {
                let current = match table.get((u.key.as_bytes(), u.rank))? {
                    Some(v) => {
                        let (record, payload) = records::decode::<ObjectRecord>(v.value())?;
                        (record, payload.to_vec())
                    }
                    None => continue,
                };
                let (mut record, payload) = current;
                let same_data = record.chunks().iter().map(|c| c.id).eq(u.layout_chunk_ids());
                if record.last_modified_ns != u.last_modified_ns || !same_data {
                    continue; // overwritten meanwhile: the new version has new keys anyway
                }
                record.layout = u.layout;
                table.insert((u.key.as_bytes(), u.rank), records::encode(&record, &payload).as_slice())?;
                replaced += 1;
            }
            Ok(MetaOutcome::Count(replaced))
        }
        MetaOp::Shred { bucket, versions, key_id } => {
            let name = objects_table_name(&bucket);
            let mut shredded = 0u64;
            for (key, rank) in versions {
                let found = match txn.open_table(objects_table(&name))?.get((key.as_bytes(), rank))? {
                    Some(v) => Some(records::decode::<ObjectRecord>(v.value())?.0),
                    None => None,
                };
                let Some(record) = found else { continue };
                if !record.uses_key(&key_id) {
                    continue;
                }
                // The record stays (with its wrapped keys), so a read fails on the destroyed key
                // with a clear error instead of "no such key"; its bytes, undecryptable for good,
                // are freed. Discarding a chunk twice (on a later delete) is harmless.
                discard_chunks(txn, record.chunks(), at_ms)?;
                txn.open_table(objects_table(&name))?
                    .insert((key.as_bytes(), rank), records::encode(&record, &[]).as_slice())?;
                shredded += 1;
            }
            Ok(MetaOutcome::Count(shredded))
        }
        MetaOp::ForgetGarbage { entries } => {
            let mut garbage = txn.open_table(GARBAGE)?;
            for (t, id) in entries {
                garbage.remove((t, &id.0[..]))?;
            }
            Ok(MetaOutcome::Done)
        }
    }
}

/// Removes all part records of an upload; chunks of parts not in `keep` become garbage.
fn drop_parts(txn: &WriteTransaction, upload_id: &str, keep: &[ChunkId], at_ms: u64) -> StoreResult<()> {
    let mut parts = txn.open_table(PARTS)?;
    let mut discarded = Vec::new();
    let mut numbers = Vec::new();
    for entry in parts.range((upload_id, 0)..=(upload_id, u32::MAX))? {
        let (k, v) = entry?;
        let part = records::decode::<PartRecord>(v.value())?.0;
        numbers.push(k.value().1);
        if !keep.contains(&part.chunk.id) {
            discarded.push(part.chunk.clone());
        }
    }
    for n in numbers {
        parts.remove((upload_id, n))?;
    }
    drop(parts);
    discard_chunks(txn, &discarded, at_ms)
}

fn delete_bucket(txn: &WriteTransaction, bucket: &str, at_ms: u64) -> StoreResult<MetaOutcome> {
    if !bucket_exists(txn, bucket)? {
        return Err(StoreError::NoSuchBucket);
    }
    let name = objects_table_name(bucket);
    if !txn.open_table(objects_table(&name))?.is_empty()? {
        return Err(StoreError::BucketNotEmpty);
    }
    // Uploads still in progress are aborted with the bucket, as S3 does.
    let mut ids = Vec::new();
    {
        let uploads = txn.open_table(UPLOADS)?;
        let start: (&str, &[u8], &str) = (bucket, &[], "");
        for entry in uploads.range(start..)? {
            let (k, _) = entry?;
            let (b, key, id) = k.value();
            if b != bucket {
                break;
            }
            ids.push((key.to_vec(), id.to_owned()));
        }
    }
    for (key, id) in ids {
        txn.open_table(UPLOADS)?.remove((bucket, key.as_slice(), id.as_str()))?;
        drop_parts(txn, &id, &[], at_ms)?;
    }
    txn.delete_table(objects_table(&name))?;
    txn.open_table(BUCKETS)?.remove(bucket)?;
    txn.open_table(USAGE)?.remove(bucket)?;
    Ok(MetaOutcome::Done)
}

fn complete_upload(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    upload_id: &str,
    request: &CompleteRequest,
    now_ns: UnixNanos,
    at_ms: u64,
) -> StoreResult<MetaOutcome> {
    if !bucket_exists(txn, bucket)? {
        return Err(StoreError::NoSuchBucket);
    }
    let parts_sha256 = completed_parts_sha256(&request.parts);
    let upload = match txn.open_table(UPLOADS)?.get((bucket, key.as_bytes(), upload_id))? {
        Some(v) => records::decode::<UploadRecord>(v.value())?.0,
        None => {
            // The same Complete again (a retry after a timeout): the object it made, unchanged,
            // as AWS answers. Another part list for a completed upload finds no upload.
            let done = current_version(txn, bucket, key)?.map(|(_, r)| r).filter(|r| {
                r.completed_upload.as_ref().is_some_and(|c| c.upload_id == upload_id && c.parts_sha256 == parts_sha256)
            });
            return match done {
                Some(record) => Ok(MetaOutcome::Object(Box::new(record))),
                None => Err(StoreError::NoSuchUpload),
            };
        }
    };
    if request.parts.is_empty() {
        return Err(StoreError::invalid_argument("You must specify at least one part"));
    }
    let mut chosen: Vec<PartRecord> = Vec::with_capacity(request.parts.len());
    {
        let parts = txn.open_table(PARTS)?;
        let mut previous = 0u32;
        for p in &request.parts {
            if p.part_number <= previous {
                return Err(StoreError::InvalidPartOrder);
            }
            previous = p.part_number;
            let part = match parts.get((upload_id, p.part_number))? {
                Some(v) => records::decode::<PartRecord>(v.value())?.0,
                None => return Err(StoreError::InvalidPart),
            };
            if part.md5_hex != p.etag.trim_matches('"') {
                return Err(StoreError::InvalidPart);
            }
            if let (Some(sent), Some(ours)) = (&p.checksum_base64, &part.checksum_base64)
                && sent != ours
            {
                return Err(StoreError::InvalidPart);
            }
            chosen.push(part);
        }
    }
    let last = chosen.len() - 1;
    for (i, part) in chosen.iter().enumerate() {
        if i != last && part.size_bytes < PART_SIZE_BYTES_MIN {
            return Err(StoreError::EntityTooSmall { part_number: request.parts.get(i).map_or(0, |p| p.part_number) });
        }
    }
    let size_bytes: u64 = chosen.iter().map(|p| p.size_bytes).sum();
    // Checked before anything is written: the upload stays, and no object exists past the limit.
    if size_bytes > OBJECT_SIZE_BYTES_MAX {
        return Err(StoreError::EntityTooLarge);
    }
    if let Some(expected) = request.expected_size_bytes
        && expected != size_bytes
    {
        return Err(StoreError::invalid_argument(format!(
            "The provided 'x-amz-mp-object-size' header value {expected} does not match what was computed: {size_bytes}"
        )));
    }
    let checksum = multipart_checksum(&upload, &chosen, request)?;
    let previous = current_version(txn, bucket, key)?;
    request.condition.check(previous.as_ref().map(|(_, r)| r))?;

    let mut md5s = Vec::with_capacity(chosen.len());
    for p in &chosen {
        let mut m = [0u8; 16];
        hex::decode_to_slice(&p.md5_hex, &mut m).map_err(|_| StoreError::Corrupt { what: "part md5".into() })?;
        md5s.push(m);
    }
    let record = ObjectRecord {
        version_id: None,
        size_bytes,
        etag: checksum::multipart_etag(&md5s),
        last_modified_ns: now_ns,
        attributes: upload.attributes.clone(),
        checksum: Some(checksum),
        part_sizes: chosen.iter().map(|p| p.size_bytes).collect(),
        layout: DataLayout::Chunks(chosen.iter().map(|p| p.chunk.clone()).collect()),
        encryption: upload.encryption.clone(),
        completed_upload: Some(Box::new(records::CompletedUpload { upload_id: upload_id.to_owned(), parts_sha256 })),
    };
    check_quota(txn, bucket, &record, previous.as_ref().map(|(_, r)| r))?;
    let kept: Vec<ChunkId> = chosen.iter().map(|p| p.chunk.id).collect();
    txn.open_table(UPLOADS)?.remove((bucket, key.as_bytes(), upload_id))?;
    drop_parts(txn, upload_id, &kept, at_ms)?;
    // The kept chunks move from the parts to the object: `replace_current` owns them again.
    replace_current(txn, bucket, key, &record, &[], previous, at_ms)?;
    Ok(MetaOutcome::Object(Box::new(record)))
}

/// What identifies a Complete's part list: SHA-256 of `number:etag` lines, in order.
fn completed_parts_sha256(parts: &[CompletedPart]) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for p in parts {
        hasher.update(format!("{}:{}\n", p.part_number, p.etag.trim_matches('"')).as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The checksum of a completed multipart object: the upload's algorithm and type, or a
/// full-object CRC64NVME when the upload declared none.
fn multipart_checksum(
    upload: &UploadRecord,
    parts: &[PartRecord],
    request: &CompleteRequest,
) -> StoreResult<checksum::Checksum> {
    let (algorithm, kind) = match upload.checksum_algorithm {
        Some(a) => {
            let default_kind =
                if a == ChecksumAlgorithm::Crc64Nvme { ChecksumType::FullObject } else { ChecksumType::Composite };
            (a, upload.checksum_type.unwrap_or(default_kind))
        }
        None => (ChecksumAlgorithm::Crc64Nvme, ChecksumType::FullObject),
    };
    if let Some(t) = request.checksum_type
        && upload.checksum_algorithm.is_some()
        && t != kind
    {
        return Err(StoreError::invalid_argument(format!(
            "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
            kind.name()
        )));
    }
    let raws: Vec<Vec<u8>> = parts
        .iter()
        .map(|p| match (&p.checksum_base64, algorithm) {
            (_, ChecksumAlgorithm::Crc64Nvme) => Ok(p.crc64nvme.to_be_bytes().to_vec()),
            (Some(b64), a) => checksum::decode_checksum(a, b64),
            (None, _) => Err(StoreError::InvalidPart),
        })
        .collect::<StoreResult<_>>()?;
    let inputs: Vec<PartChecksumInput<'_>> =
        raws.iter().zip(parts).map(|(raw, p)| PartChecksumInput { raw, size_bytes: p.size_bytes }).collect();
    let combined = checksum::combine_parts(algorithm, kind, &inputs)?;
    if let Some((a, expected)) = &request.expected_checksum
        && *a == algorithm
        && kind == ChecksumType::FullObject
        && *expected != combined.value
    {
        return Err(StoreError::BadDigest { algorithm: algorithm.name() });
    }
    Ok(combined)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ObjectRecord {
        ObjectRecord {
            version_id: None,
            size_bytes: 1,
            etag: "e".into(),
            last_modified_ns: 1,
            attributes: crate::records::ObjectAttributes::default(),
            checksum: None,
            part_sizes: Vec::new(),
            layout: DataLayout::Chunks(Vec::new()),
            encryption: crate::records::Encryption::sse_s3("k".into()),
            completed_upload: None,
        }
    }

    /// A refused command in the middle of a group commit changes nothing, and the commands
    /// around it commit.
    #[test]
    fn a_refused_command_in_a_batch_leaves_the_rest_committed() {
        use crate::records::{BucketLogging, PublicAccessBlock, Quota};
        let dir = tempfile::tempdir().unwrap();
        let space = Arc::new(SpaceGuard::new(dir.path(), crate::space::Reserve::Bytes(0)));
        let store = MetaStore::open(&dir.path().join("m.redb"), false, 1 << 20, space).unwrap();
        let db = store.db.get().unwrap();
        let mut bucket = BucketRecord::new(1, None, Some("acme".into()));
        bucket.public_access_block = Some(PublicAccessBlock { block_public_policy: true, ..Default::default() });
        let create = MetaOp::CreateBucket { bucket: "b".into(), record: bucket };
        assert!(commit_batch(&db, vec![Command { op: create, at_ms: 1, intent: None }], false).unwrap()[0].is_ok());
        let change =
            |change| Command { op: MetaOp::UpdateBucket { bucket: "b".into(), change }, at_ms: 2, intent: None };
        let results = commit_batch(
            &db,
            vec![
                change(BucketChange::SetQuota(Some(Quota { max_bytes: Some(5), max_objects: None }))),
                change(BucketChange::SetPolicy { policy: "{}".into(), public: true }),
                change(BucketChange::SetLogging(Some(BucketLogging {
                    target_bucket: "b".into(),
                    target_prefix: String::new(),
                }))),
            ],
            false,
        )
        .unwrap();
        assert!(results[0].is_ok() && results[2].is_ok());
        assert!(matches!(results[1], Err(StoreError::PublicAccessBlocked)));
        let stored = store.bucket("b").unwrap().unwrap();
        assert_eq!(stored.quota.and_then(|q| q.max_bytes), Some(5));
        assert!(stored.logging.is_some());
        assert_eq!(stored.policy, None, "the refused policy was not written");
    }

    /// Small objects live inline in the metadata pages: the cache must hold no more than it was
    /// given however many are written (redb's own default would keep all of these).
    #[test]
    fn the_metadata_cache_stays_within_its_size() {
        use redb::ReadableDatabase as _;
        let dir = tempfile::tempdir().unwrap();
        let cache_bytes = 1024 * 1024;
        let space = Arc::new(SpaceGuard::new(dir.path(), crate::space::Reserve::Bytes(0)));
        let store = MetaStore::open(&dir.path().join("m.redb"), false, cache_bytes, space).unwrap();
        let name = objects_table_name("b");
        let inline = vec![7u8; 4096];
        for batch in 0..16 {
            let txn = store.db.get().unwrap().begin_write().unwrap();
            {
                let mut t = txn.open_table(objects_table(&name)).unwrap();
                let bytes = records::encode(&record(), &inline);
                for i in 0..256 {
                    let key = format!("k{batch:02}-{i:04}");
                    t.insert((key.as_bytes(), 0), bytes.as_slice()).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        let used = store.db.get().unwrap().cache_stats().used_bytes();
        // 16 MiB of objects written; the cache may overshoot by a page or two.
        assert!(used <= cache_bytes + 64 * 1024, "cache holds {used} bytes, given {cache_bytes}");
    }

    /// A delimiter listing seeks over each common prefix: the rows it reads do not grow with
    /// the number of keys under the prefixes it rolls up.
    #[test]
    fn delimiter_listing_cost_does_not_grow_with_the_bucket() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("m.redb")).unwrap();
        let name = objects_table_name("b");
        let rows_for = |keys_per_prefix: usize| {
            let txn = db.begin_write().unwrap();
            {
                let mut t = txn.open_table(objects_table(&name)).unwrap();
                let bytes = records::encode(&record(), &[]);
                for p in 0..5 {
                    for i in 0..keys_per_prefix {
                        let key = format!("dir{p}/{i:08}");
                        t.insert((key.as_bytes(), 0), bytes.as_slice()).unwrap();
                    }
                }
                t.insert((b"top".as_slice(), 0), bytes.as_slice()).unwrap();
            }
            txn.commit().unwrap();
            let read = db.begin_read().unwrap();
            let t = read.open_table(objects_table(&name)).unwrap();
            let q = ListQuery { delimiter: Some("/".into()), max_keys: 1000, ..Default::default() };
            let page = list_table(&t, &q).unwrap();
            assert_eq!(page.entries.len(), 6, "five common prefixes and one key");
            page.rows_examined
        };
        let small = rows_for(10);
        let large = rows_for(5_000);
        assert_eq!(small, large, "rows read: {small} for a small bucket, {large} for a large one");
        assert!(large <= 12);
    }

    /// A page costs what it returns: listing 100 keys of a 20,000-key bucket reads ~100 rows.
    #[test]
    fn page_cost_follows_page_size() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("m.redb")).unwrap();
        let name = objects_table_name("b");
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(objects_table(&name)).unwrap();
            let bytes = records::encode(&record(), &[]);
            for i in 0..20_000 {
                let key = format!("k{i:08}");
                t.insert((key.as_bytes(), 0), bytes.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
        let read = db.begin_read().unwrap();
        let t = read.open_table(objects_table(&name)).unwrap();
        let q = ListQuery { start_after: Some("k00010000".into()), max_keys: 100, ..Default::default() };
        let page = list_table(&t, &q).unwrap();
        assert_eq!(page.entries.len(), 100);
        assert!(page.truncated);
        assert!(page.rows_examined <= 101, "{}", page.rows_examined);
    }

    #[test]
    fn successor_and_common_prefix() {
        assert_eq!(prefix_successor(b"a/"), Some(b"a0".to_vec()));
        assert_eq!(prefix_successor(&[0xff]), None);
        assert_eq!(common_prefix("photos/2024/a.jpg", "photos/", Some("/")), Some("photos/2024/"));
        assert_eq!(common_prefix("photos/a.jpg", "photos/", Some("/")), None);
        assert_eq!(common_prefix("a.jpg", "", None), None);
    }
}

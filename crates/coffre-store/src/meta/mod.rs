//! Metadata on redb: buckets, object versions, multipart uploads, chunk ownership and the
//! garbage queue.
//!
//! All writes go through one writer thread that folds every operation waiting in its queue
//! into one durable commit (group commit): under load, N concurrent PUTs cost one fsync, not
//! N. Conditions (`If-None-Match: *`, `If-Match`) are evaluated inside that commit, so two
//! racing writers can never both win. Readers use redb snapshots and never block the writer.
//!
//! Layout: one table of object versions per bucket, keyed by `(key bytes, version rank)`; the
//! rank orders the versions of a key newest first, and unversioned buckets hold one ("null")
//! version per key. Beside it, a table of current versions (see [`current`]) keyed by key
//! bytes, so a listing is a range scan of only what it shows, and skipping a common prefix is
//! one seek.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};
use tokio::sync::{mpsc, oneshot};

use crate::checksum::{self, ChecksumAlgorithm, ChecksumType, PartChecksumInput};
use crate::db_slot::{DbSlot, needs_reopen};
use crate::error::{StoreError, StoreResult};
use crate::limits::{
    COMMIT_BATCH_OPS_MAX, COMMIT_QUEUE_DEPTH, GC_GRACE_MS, OBJECT_SIZE_BYTES_MAX, PART_SIZE_BYTES_MIN,
};
use crate::records::{
    self, BucketRecord, ChunkId, ChunkRef, DataLayout, ObjectRecord, PartRecord, UnixNanos, UploadRecord, Usage,
    Version,
};
use crate::space::SpaceGuard;

mod apply;
mod command;
mod current;
mod list;
mod versions;

pub(crate) use apply::now_ms;
use apply::{apply, read_usage};
pub(crate) use command::{AuditIntent, Bytes64, Command, KeyUpdate, MetaOp};
pub use command::{CompleteRequest, CompletedPart, WriteCondition};
pub use current::ListedObject;
pub use list::{ListEntry, ListPage, ListQuery, VersionEntry, VersionPage, VersionQuery};
use list::{list_table, list_versions_table};

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

/// What a key-encryption key protects (see [`MetaStore::key_usage`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyUsage {
    /// Object versions whose data keys it wraps.
    pub versions: u64,
    /// Of those, the versions Object Lock keeps: COMPLIANCE retention in force or legal hold.
    pub locked: u64,
    /// The latest COMPLIANCE retain-until date among them.
    pub locked_until: Option<UnixNanos>,
}

/// One row of a version list as a scan returns it.
pub struct ScannedVersion {
    /// Object key.
    pub key: String,
    /// Version rank in the table.
    pub rank: u64,
    /// The version (or delete marker).
    pub version: Version,
}

impl ScannedVersion {
    /// The object version, unless the row is a delete marker.
    pub fn object(&self) -> Option<&ObjectRecord> {
        self.version.object()
    }
}

/// What a DeleteObject did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// Whether it found something to delete (or hide behind a delete marker).
    pub existed: bool,
    /// The version deleted, or the delete marker written; `None` in a bucket that never had
    /// versioning.
    pub version: Option<crate::VersionId>,
    /// Whether the version deleted, or the one written, is a delete marker.
    pub delete_marker: bool,
}

pub(crate) enum MetaOutcome {
    Done,
    Object(Box<ObjectRecord>),
    Deleted(Deletion),
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

    /// What a delete did.
    pub(crate) fn deleted(self) -> StoreResult<Deletion> {
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

struct Job {
    command: Command,
    /// Set once the command's audit intent is durably committed.
    intent_committed: Option<Arc<std::sync::atomic::AtomicBool>>,
    reply: oneshot::Sender<StoreResult<MetaOutcome>>,
}

/// What is told of a committed change to a bucket's record: its name and its record as
/// committed (`None`: deleted). It runs on the writer thread: it must be quick and not block.
pub type BucketObserver = Arc<dyn Fn(&str, Option<&BucketRecord>) + Send + Sync>;

type Observers = Arc<std::sync::RwLock<Vec<BucketObserver>>>;

/// The metadata store: snapshot reads and a group-committing writer.
pub struct MetaStore {
    db: Arc<DbSlot>,
    writer: mpsc::Sender<Job>,
    /// Told of every committed change to a bucket's record, on the writer thread, in commit
    /// order and before the change is acknowledged.
    observers: Observers,
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
            txn.open_table(versions::SEQUENCES)?;
            // A data directory from a release before the current-version tables gets them now.
            current::build_missing(&txn)?;
            txn.commit()?;
        }
        let (tx, rx) = mpsc::channel(COMMIT_QUEUE_DEPTH);
        let observers = Observers::default();
        let writer_db = Arc::clone(&db);
        let writer_thread = std::thread::Builder::new()
            .name("coffre-meta-writer".into())
            .spawn({
                let observers = Arc::clone(&observers);
                move || writer_loop(&writer_db, rx, durable, &observers)
            })
            .map_err(StoreError::io("start the metadata writer"))?;
        Ok(MetaStore { db, writer: tx, observers, writer_thread: Some(writer_thread) })
    }

    pub(crate) async fn apply(&self, op: MetaOp) -> StoreResult<MetaOutcome> {
        let (reply, answer) = oneshot::channel();
        let (intent, intent_committed) = match crate::intent::current() {
            Some(i) => (Some(AuditIntent { record: Bytes64((i.snapshot)()), key: i.key }), Some(i.committed)),
            None => (None, None),
        };
        let command = Command { op, at_ms: now_ms(), intent };
        self.writer.send(Job { command, intent_committed, reply }).await.map_err(|_| StoreError::ShuttingDown)?;
        answer.await.map_err(|_| StoreError::ShuttingDown)?
    }

    /// Tells `observer` of every bucket record change committed from now on (see
    /// [`BucketObserver`]): caches kept in step by what was applied, not by who asked.
    pub(crate) fn observe(&self, observer: BucketObserver) {
        self.observers.write().unwrap_or_else(std::sync::PoisonError::into_inner).push(observer);
    }

    /// Commands queued for the writer and not yet taken.
    pub(crate) fn backlog(&self) -> usize {
        self.writer.max_capacity().saturating_sub(self.writer.capacity())
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

    /// A version of a key, with its inline payload: the latest one (NoSuchKey if none), or the
    /// one named (NoSuchVersion if none).
    pub fn version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&crate::VersionId>,
    ) -> StoreResult<(Version, Vec<u8>)> {
        let txn = self.read()?;
        require_bucket(&txn, bucket)?;
        let name = objects_table_name(bucket);
        let table = txn.open_table(objects_table(&name))?;
        let id = match version {
            None => {
                let mut range = table.range((key.as_bytes(), 0)..=(key.as_bytes(), u64::MAX))?;
                return match range.next() {
                    Some(entry) => {
                        let (_, v) = entry?;
                        let (version, payload) = records::decode_version(v.value())?;
                        Ok((version, payload.to_vec()))
                    }
                    None => Err(StoreError::NoSuchKey),
                };
            }
            Some(crate::VersionId::Null) => None,
            Some(crate::VersionId::Assigned(id)) => Some(id.as_str()),
        };
        match versions::find(&table, key, id)? {
            Some((_, version, payload)) => Ok((version, payload)),
            None => Err(StoreError::NoSuchVersion),
        }
    }

    /// One page of a bucket listing. See [`ListQuery`].
    pub fn list_objects(&self, bucket: &str, query: &ListQuery) -> StoreResult<ListPage> {
        let txn = self.read()?;
        require_bucket(&txn, bucket)?;
        let name = current::current_table_name(bucket);
        let table = txn.open_table(current::current_table(&name))?;
        list_table(&table, query)
    }

    /// One page of a bucket's version list. See [`VersionQuery`].
    pub fn list_versions(&self, bucket: &str, query: &VersionQuery) -> StoreResult<VersionPage> {
        let txn = self.read()?;
        require_bucket(&txn, bucket)?;
        let name = objects_table_name(bucket);
        let table = txn.open_table(objects_table(&name))?;
        list_versions_table(&table, query)
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
            let key = String::from_utf8_lossy(key).into_owned();
            out.push(ScannedVersion { key, rank, version: records::decode_version(v.value())?.0 });
            if out.len() == max {
                break;
            }
        }
        Ok(out)
    }

    /// The object versions whose data keys are wrapped by `key_id`, and those of them Object
    /// Lock keeps at `now_ns` (COMPLIANCE retention in force, or a legal hold): a full scan,
    /// for key administration, not the request path.
    pub fn key_usage(&self, key_id: &str, now_ns: UnixNanos) -> StoreResult<KeyUsage> {
        let txn = self.read()?;
        let mut usage = KeyUsage::default();
        for (bucket, _) in self.buckets()? {
            let name = objects_table_name(&bucket);
            let table = txn.open_table(objects_table(&name))?;
            for entry in table.iter()? {
                let (_, v) = entry?;
                let (version, _) = records::decode_version(v.value())?;
                let Some(o) = version.object().filter(|o| o.uses_key(key_id)) else { continue };
                usage.versions += 1;
                let compliance = o
                    .retention
                    .as_ref()
                    .filter(|r| r.mode == records::RetentionMode::Compliance && r.retain_until_ns > now_ns);
                if compliance.is_some() || o.legal_hold {
                    usage.locked += 1;
                }
                if let Some(r) = compliance {
                    usage.locked_until = usage.locked_until.max(Some(r.retain_until_ns));
                }
            }
        }
        Ok(usage)
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

/// Tells the observers of the bucket records `changed` in a commit just made.
fn notify(db: &Database, observers: &Observers, changed: &[String]) {
    let observers = observers.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    if observers.is_empty() {
        return;
    }
    let table = db.begin_read().map_err(StoreError::from).and_then(|txn| Ok(txn.open_table(BUCKETS)?));
    for bucket in changed {
        let committed = table.as_ref().map_err(ToString::to_string).and_then(|t| {
            let row = t.get(bucket.as_str()).map_err(|e| e.to_string())?;
            row.map(|v| records::decode::<BucketRecord>(v.value()).map(|(r, _)| r))
                .transpose()
                .map_err(|e| e.to_string())
        });
        // Unreadable: observers forget what they knew of it, and read it again when asked.
        let record = committed.unwrap_or_else(|e| {
            tracing::error!(bucket, error = %e, "could not read a changed bucket record for its observers");
            None
        });
        for observer in observers.iter() {
            observer(bucket, record.as_ref());
        }
    }
}

fn writer_loop(slot: &DbSlot, mut rx: mpsc::Receiver<Job>, durable: bool, observers: &Observers) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < COMMIT_BATCH_OPS_MAX {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let mut commands = Vec::with_capacity(jobs.len());
        let mut replies = Vec::with_capacity(jobs.len());
        // (position in the batch, bucket) of the commands that change a bucket's record.
        let mut bucket_changes = Vec::new();
        for (i, job) in jobs.into_iter().enumerate() {
            if let Some(bucket) = job.command.op.changed_bucket() {
                bucket_changes.push((i, bucket.to_owned()));
            }
            commands.push(job.command);
            replies.push((job.reply, job.intent_committed));
        }
        let committed = slot.get_or_reopen().and_then(|db| Ok((commit_batch(&db, commands, durable)?, db)));
        match committed {
            Ok((results, db)) => {
                let changed: Vec<String> =
                    bucket_changes.into_iter().filter(|(i, _)| results[*i].is_ok()).map(|(_, b)| b).collect();
                if !changed.is_empty() {
                    // Before the changes are acknowledged: a client's next request sees them.
                    notify(&db, observers, &changed);
                }
                // A command that committed committed its intent with it (or was refused).
                for ((_, flag), result) in replies.iter().zip(&results) {
                    if let (Some(flag), Ok(_)) = (flag, result) {
                        flag.store(true, std::sync::atomic::Ordering::Release);
                    }
                }
                for ((reply, _), result) in replies.into_iter().zip(results) {
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
                for (reply, _) in replies {
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
    for Command { op, at_ms, intent } in commands {
        let mut result = apply(&txn, op, at_ms);
        if let (Ok(_), Some(intent)) = (&result, intent)
            && let Err(e) = txn.open_table(AUDIT_INTENTS).and_then(|mut t| {
                t.insert(intent.key.as_str(), (at_ms, intent.record.0.as_slice()))?;
                Ok(())
            })
        {
            result = Err(e.into());
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
    Ok(results)
}

#[cfg(test)]
mod tests;

//! The audit log of a node: one writer thread appends records to segment files and makes
//! each batch durable (`fdatasync`) before any of its callers is answered (group commit, as the
//! metadata writer does), signs a Merkle checkpoint every N records or T seconds, and drops
//! whole segments past the retention period, recording that it did.
//!
//! On disk (`<data>/audit/`):
//! - `segments/<first seq>.log`: records, one line each (see [`crate::record`]);
//! - `checkpoints.log`: signed checkpoints, one JSON line each;
//! - `pruned.hashes`: the chain hashes (32 bytes each) of records dropped by retention, so the
//!   chain and the Merkle tree stay checkable from the first record.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::merkle::{Frontier, Hash, leaf};
use crate::record::{AuditEvent, Line, Record, hash_from_hex, now_rfc3339, write_line};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit trail unavailable: {0}")]
    Unavailable(String),
    #[error("audit trail damaged: {0}")]
    Damaged(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> AuditError {
    let context = context.into();
    move |source| AuditError::Io { context, source }
}

/// Signs checkpoints with the node's key.
pub trait Signer: Send + Sync + 'static {
    /// Signature and public key, both base64 (Ed25519).
    fn sign(&self, message: &[u8]) -> Result<(String, String), String>;
}

/// The node's Ed25519 key, kept sealed by its local key provider.
impl Signer for coffre_crypto::LocalKeyProvider {
    fn sign(&self, message: &[u8]) -> Result<(String, String), String> {
        coffre_crypto::LocalKeyProvider::sign(self, message).map_err(|e| e.to_string())
    }
}

/// A signed summary of the log: the Merkle root over its first `tree_size` records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub tree_size: u64,
    /// Hex.
    pub root: String,
    /// Hash of record `tree_size - 1` (hex).
    pub last_hash: String,
    pub time: String,
    /// Ed25519 public key, base64.
    pub public_key: String,
    /// Ed25519 signature over [`Checkpoint::message`], base64.
    pub signature: String,
}

impl Checkpoint {
    /// The signed bytes.
    pub fn message(&self) -> Vec<u8> {
        format!("coffre-audit-checkpoint-v1\n{}\n{}\n{}\n{}\n", self.tree_size, self.root, self.last_hash, self.time)
            .into_bytes()
    }

    /// Whether the signature is valid for `public_key` (base64).
    pub fn signature_holds(&self, public_key: &str) -> bool {
        coffre_crypto::signature::verify_ed25519(public_key, &self.message(), &self.signature)
    }
}

/// Settings.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// `<data>/audit`.
    pub dir: PathBuf,
    /// Sign a checkpoint after this many records...
    pub checkpoint_records: u64,
    /// ...or this long after the first record not yet covered.
    pub checkpoint_interval: Duration,
    /// Drop whole segments whose records are all older than this.
    pub retention: Option<Duration>,
    /// Start a new segment past this size.
    pub segment_bytes_max: u64,
    /// Benchmark-only: skip `fdatasync` (records can be lost on power failure).
    pub dangerous_skip_fsync: bool,
}

impl AuditConfig {
    /// Defaults for a data directory.
    pub fn new(dir: PathBuf) -> AuditConfig {
        AuditConfig {
            dir,
            checkpoint_records: 1000,
            checkpoint_interval: Duration::from_secs(5),
            retention: None,
            segment_bytes_max: 64 * 1024 * 1024,
            dangerous_skip_fsync: false,
        }
    }
}

/// About how long a record's line is (to size a batch's buffer).
const LINE_BYTES_TYPICAL: usize = 512;

/// How far a segment is zero-filled ahead of its records at a time.
const SEGMENT_FILL_BYTES: u64 = 256 * 1024;

pub(crate) fn segments_dir(dir: &Path) -> PathBuf {
    dir.join("segments")
}

pub(crate) fn checkpoints_path(dir: &Path) -> PathBuf {
    dir.join("checkpoints.log")
}

pub(crate) fn pruned_path(dir: &Path) -> PathBuf {
    dir.join("pruned.hashes")
}

/// The segment files, ordered by their first sequence number.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, AuditError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(segments_dir(dir)) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io("list audit segments")(e)),
    };
    for entry in entries {
        let path = entry.map_err(io("list audit segments"))?.path();
        let first = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first) = first {
            out.push((first, path));
        }
    }
    out.sort();
    Ok(out)
}

/// The chain hashes of records dropped by retention.
pub(crate) fn read_pruned(dir: &Path) -> Result<Vec<Hash>, AuditError> {
    let bytes = match std::fs::read(pruned_path(dir)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("read pruned hashes")(e)),
    };
    Ok(bytes.chunks_exact(32).map(|c| c.try_into().unwrap_or([0u8; 32])).collect())
}

/// The checkpoints written so far (a torn last line, from a crash, is ignored).
pub fn read_checkpoints(dir: &Path) -> Result<Vec<Checkpoint>, AuditError> {
    let text = match std::fs::read_to_string(checkpoints_path(dir)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("read checkpoints")(e)),
    };
    let mut out = Vec::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if !line.ends_with('\n') {
            break;
        }
        let c = serde_json::from_str(line.trim_end())
            .map_err(|e| AuditError::Damaged(format!("checkpoints.log line {}: {e}", i + 1)))?;
        out.push(c);
    }
    Ok(out)
}

/// Reads a segment's complete lines; `torn_at` is the byte offset of an incomplete last line.
pub(crate) struct SegmentScan {
    pub lines: Vec<(usize, Result<Line, String>)>,
    pub complete_bytes: u64,
    pub torn: bool,
}

pub(crate) fn scan_segment(path: &Path) -> Result<SegmentScan, AuditError> {
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(io(format!("read {}", path.display())))?;
    // Segments are zero-filled ahead of the records (see `State::append_batch`): they end at
    // the first NUL.
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    let zero_tail = end < bytes.len();
    bytes.truncate(end);
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = Vec::new();
    let mut complete_bytes = 0u64;
    let mut torn = zero_tail;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        if !raw.ends_with('\n') {
            torn = true;
            break;
        }
        complete_bytes += raw.len() as u64;
        let body = raw.trim_end_matches('\n');
        lines.push((i + 1, Line::parse(body).ok_or_else(|| "malformed line".to_owned())));
    }
    // `torn`: something follows the last complete line (a partial line or the zero fill).
    torn |= complete_bytes < end as u64;
    Ok(SegmentScan { lines, complete_bytes, torn })
}

struct Segment {
    first_seq: u64,
    path: PathBuf,
    last_time: Option<String>,
}

/// The writer's state at the end of a closed segment, kept next to it
/// (`<first seq>.summary`) so that a restart need not read the segments again. Only a cache:
/// if it is missing, stale or damaged, the segment is read; verification never uses it.
#[derive(Serialize, Deserialize)]
struct SegmentSummary {
    first_seq: u64,
    bytes: u64,
    next_seq: u64,
    last_hash: String,
    last_time: Option<String>,
    frontier: Vec<(u32, String)>,
    frontier_size: u64,
    tenants: HashMap<String, (u64, String)>,
}

fn summary_path(segment: &Path) -> PathBuf {
    segment.with_extension("summary")
}

impl SegmentSummary {
    /// The summary of `segment`, if it describes the file as it is.
    fn read(segment: &Path, first_seq: u64) -> Option<SegmentSummary> {
        let s: SegmentSummary = serde_json::from_slice(&std::fs::read(summary_path(segment)).ok()?).ok()?;
        let bytes = std::fs::metadata(segment).ok()?.len();
        (s.first_seq == first_seq && s.bytes == bytes).then_some(s)
    }
}

struct State {
    config: AuditConfig,
    signer: Arc<dyn Signer>,
    next_seq: u64,
    last_hash: Hash,
    frontier: Frontier,
    tenants: HashMap<String, (u64, Hash)>,
    segments: Vec<Segment>,
    file: File,
    /// End of the records in the current segment.
    file_len: u64,
    /// End of its zero fill: appends below it change no file metadata, so their `fdatasync`
    /// writes data only (no journal commit).
    allocated: u64,
    /// Records written without a sync yet (see [`AuditLog::append_deferred`]).
    unsynced: bool,
    /// The intent keys of those records: recorded at the next sync.
    awaiting_sync: Vec<String>,
    /// Intent keys whose records are durable in the trail (see [`AuditLog::take_recorded`]).
    recorded: Arc<std::sync::Mutex<Vec<String>>>,
    uncheckpointed_since: Option<Instant>,
    checkpointed_size: u64,
    listener: Option<tokio::sync::mpsc::Sender<Record>>,
}

type Reply = oneshot::Sender<Result<u64, AuditError>>;

/// Who waits for a queued record.
enum Waiter {
    /// A caller, answered once the record is durable: the record's batch is synced at once.
    Caller(Reply),
    /// Nobody: the record is durable already, in the audit intent with this key. It is written
    /// with a later batch and synced with the next one that has a caller, or the next checkpoint.
    Intent(String),
}

/// How many records without a caller may wait for the writer before they wake it.
const DEFERRED_BATCH: usize = 256;
/// How long a record without a caller may wait for the writer: the trail on disk lags the
/// changes it records by about this much (their intents hold the records meanwhile).
const DEFERRED_WAIT: Duration = Duration::from_millis(20);

/// How many times the writer yields its CPU before it takes a batch smaller than
/// [`GATHER_ENOUGH`] (see [`Shared::let_requests_queue_more`]).
const GATHER_YIELDS: usize = 4;
const GATHER_ENOUGH: usize = 16;

/// What the writer thread and the callers share.
struct Shared {
    /// The writer's state: held by the writer thread for each batch, and by [`AuditLog::checkpoint`]
    /// and [`AuditLog::close`]; `None` once closed.
    state: std::sync::Mutex<Option<State>>,
    queue: std::sync::Mutex<Queue>,
    /// Wakes the writer when it waits for records.
    wake: std::sync::Condvar,
    healthy: AtomicBool,
}

/// Records waiting for the writer.
#[derive(Default)]
struct Queue {
    records: Vec<(AuditEvent, Waiter)>,
    /// Whether a queued record has a caller waiting for it.
    caller_waiting: bool,
    /// The writer sleeps on [`Shared::wake`]: a record it should not sleep through wakes it (a
    /// caller's, the first of an empty queue, or the one that makes the queue due). Otherwise it
    /// takes records with its next batch, and nobody pays for a wake-up.
    writer_waiting: bool,
    stopping: bool,
}

impl Queue {
    /// Whether the writer should take the queue now rather than let records gather: a caller
    /// waits, or records without one have piled up.
    fn due(&self) -> bool {
        self.caller_waiting || self.records.len() >= DEFERRED_BATCH
    }
}

impl Shared {
    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, Option<State>> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The writer thread: takes every queued record as one batch, writes it and makes it durable
    /// (group commit: records queued during one `fdatasync` share the next), answers the
    /// callers, and signs checkpoints when due. Requests never block a runtime thread on the
    /// disk and no thread is handed work per request. Records without a caller gather (up to
    /// [`DEFERRED_BATCH`] records or [`DEFERRED_WAIT`]) so that they cost few wake-ups.
    fn write_until_stopped(&self, idle_wait: Duration) {
        loop {
            {
                let mut queue = self.lock_queue();
                while !queue.stopping && !queue.due() {
                    let wait = if queue.records.is_empty() { idle_wait } else { DEFERRED_WAIT };
                    queue.writer_waiting = true;
                    let (q, waited) = self.wake.wait_timeout(queue, wait).unwrap_or_else(|p| p.into_inner());
                    queue = q;
                    queue.writer_waiting = false;
                    if waited.timed_out() {
                        break;
                    }
                }
                if queue.stopping {
                    // What is still queued is written by `close`.
                    return;
                }
            }
            self.let_requests_queue_more();
            let mut guard = self.lock_state();
            // `close` takes the state only after this thread has stopped.
            let Some(state) = guard.as_mut() else { return };
            self.write_queued(state);
            if state.checkpoint_due()
                && let Err(e) = state.checkpoint_and_retain()
            {
                tracing::error!(error = %e, "audit checkpoint failed");
            }
        }
    }

    /// Before it takes a small batch that a caller waits for, the writer yields its CPU a few times. `sched_yield`
    /// returns at once when no other thread is runnable on this CPU, so an idle node pays
    /// nothing; under load, the request threads that are running finish their requests and
    /// queue their records first, and one `fdatasync` covers more reads. (Measured with
    /// `scripts/cpu-per-op.py`, 4 KiB GETs at 64 clients: batches grow, the writer's CPU per
    /// GET falls by a third and context switches halve; see docs/audit.md.)
    fn let_requests_queue_more(&self) {
        for _ in 0..GATHER_YIELDS {
            let queue = self.lock_queue();
            // Records without a caller can wait for a later flush: nobody gains from yielding.
            if !queue.caller_waiting || queue.records.len() >= GATHER_ENOUGH {
                return;
            }
            drop(queue);
            std::thread::yield_now();
        }
    }

    /// Writes what is queued. The queue is taken only while the state is held, so batches
    /// reach the trail in the order their records were queued.
    fn write_queued(&self, state: &mut State) {
        let batch = {
            let mut queue = self.lock_queue();
            queue.caller_waiting = false;
            std::mem::take(&mut queue.records)
        };
        if batch.is_empty() {
            return;
        }
        let sync = batch.iter().any(|(_, waiter)| matches!(waiter, Waiter::Caller(_)));
        let (events, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        match state.append_batch(events, sync) {
            Ok(first_seq) => {
                self.healthy.store(true, Ordering::Relaxed);
                let mut callers = Vec::new();
                for (seq, waiter) in (first_seq..).zip(waiters) {
                    match waiter {
                        Waiter::Caller(reply) => callers.push((seq, reply)),
                        Waiter::Intent(key) => state.awaiting_sync.push(key),
                    }
                }
                // The batch is durable (it was synced): its intents and those of earlier
                // batches are recorded before any caller hears of it.
                if sync && let Err(e) = state.sync() {
                    tracing::error!(error = %e, "audit sync failed");
                }
                for (seq, reply) in callers {
                    let _ = reply.send(Ok(seq));
                }
            }
            Err(e) => {
                self.healthy.store(false, Ordering::Relaxed);
                tracing::error!(error = %e, "audit append failed; the requests it records are refused");
                let message = e.to_string();
                for waiter in waiters {
                    // A record without a caller stays in its intent, recorded from there later.
                    if let Waiter::Caller(reply) = waiter {
                        let _ = reply.send(Err(AuditError::Unavailable(message.clone())));
                    }
                }
            }
        }
    }
}

/// Runs blocking file work from async code without stalling the runtime's other tasks.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A node's audit log.
pub struct AuditLog {
    shared: Arc<Shared>,
    recorded: Arc<std::sync::Mutex<Vec<String>>>,
    writer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    dir: PathBuf,
}

impl AuditLog {
    /// Opens the log (recovering its state from the segments) and starts its writer thread.
    /// `listener` receives every record once it is written (best effort: a full channel drops).
    pub fn open(
        config: AuditConfig,
        signer: Arc<dyn Signer>,
        listener: Option<tokio::sync::mpsc::Sender<Record>>,
    ) -> Result<Arc<AuditLog>, AuditError> {
        // The signing key is made (a new node) or unsealed now rather than at the first
        // checkpoint, under load; a log that cannot sign its checkpoints does not open.
        signer
            .sign(b"coffre-audit-open")
            .map_err(|e| AuditError::Unavailable(format!("the audit signing key cannot sign: {e}")))?;
        let state = State::recover(config, signer, listener)?;
        let recorded = Arc::clone(&state.recorded);
        let dir = state.config.dir.clone();
        let interval = state.config.checkpoint_interval;
        let shared = Arc::new(Shared {
            state: std::sync::Mutex::new(Some(state)),
            queue: std::sync::Mutex::new(Queue::default()),
            wake: std::sync::Condvar::new(),
            healthy: AtomicBool::new(true),
        });
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("coffre-audit".into())
            .spawn(move || writer_shared.write_until_stopped(interval))
            .map_err(io("start the audit writer"))?;
        Ok(Arc::new(AuditLog { shared, recorded, writer: std::sync::Mutex::new(Some(writer)), dir }))
    }

    /// Appends a record; returns its sequence number once it is durable.
    pub async fn append(&self, event: AuditEvent) -> Result<u64, AuditError> {
        let (reply, wait) = oneshot::channel();
        self.enqueue(event, Waiter::Caller(reply))?;
        wait.await.map_err(|_| AuditError::Unavailable("the audit writer stopped".into()))?
    }

    /// Queues a record that is already durable in the audit intent `intent_key`, and returns at
    /// once: it is written with a later batch and synced with the next record that must be
    /// durable at once, or the next checkpoint. Once it is durable, its key is among
    /// [`AuditLog::take_recorded`]; if it cannot be written, the intent stays.
    pub fn append_deferred(&self, event: AuditEvent, intent_key: String) -> Result<(), AuditError> {
        self.enqueue(event, Waiter::Intent(intent_key))
    }

    fn enqueue(&self, event: AuditEvent, waiter: Waiter) -> Result<(), AuditError> {
        let mut queue = self.shared.lock_queue();
        if queue.stopping {
            return Err(AuditError::Unavailable("the audit log is closed".into()));
        }
        queue.caller_waiting |= matches!(waiter, Waiter::Caller(_));
        queue.records.push((event, waiter));
        // The first record of an empty queue also wakes the writer: it then waits at most
        // DEFERRED_WAIT for more.
        if queue.writer_waiting && (queue.due() || queue.records.len() == 1) {
            queue.writer_waiting = false;
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    /// The intent keys of deferred records that are durable in the trail since the last call.
    pub fn take_recorded(&self) -> Vec<String> {
        std::mem::take(&mut *self.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Writes what is queued and makes everything written durable.
    pub async fn flush(&self) -> Result<(), AuditError> {
        self.after_queued(State::sync)
    }

    /// Signs a checkpoint now over everything appended so far, queued records included
    /// (`None`: nothing new).
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        self.after_queued(State::checkpoint_and_retain)
    }

    /// Writes what is queued, then runs `f` on the writer's state (from outside the writer
    /// thread, without stalling the runtime).
    fn after_queued<T>(&self, f: impl FnOnce(&mut State) -> Result<T, AuditError>) -> Result<T, AuditError> {
        blocking(|| {
            let mut guard = self.shared.lock_state();
            let state = guard.as_mut().ok_or_else(|| AuditError::Unavailable("the audit log is closed".into()))?;
            self.shared.write_queued(state);
            f(state)
        })
    }

    /// Whether the last write succeeded (for health reporting).
    pub fn healthy(&self) -> bool {
        self.shared.healthy.load(Ordering::Relaxed)
    }

    /// The audit directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes what is queued, signs a final checkpoint and closes the log.
    pub fn close(&self) {
        self.shared.lock_queue().stopping = true;
        self.shared.wake.notify_one();
        if let Some(writer) = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            let _ = writer.join();
        }
        let mut guard = self.shared.lock_state();
        if let Some(mut state) = guard.take() {
            self.shared.write_queued(&mut state);
            state.finish();
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.close();
    }
}

fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(format!("sync {}", dir.display())))
}

impl State {
    fn recover(
        config: AuditConfig,
        signer: Arc<dyn Signer>,
        listener: Option<tokio::sync::mpsc::Sender<Record>>,
    ) -> Result<State, AuditError> {
        let dir = config.dir.clone();
        std::fs::create_dir_all(segments_dir(&dir)).map_err(io("create the audit directory"))?;
        let pruned = read_pruned(&dir)?;
        let mut frontier = Frontier::default();
        for h in &pruned {
            frontier.push(leaf(h));
        }
        let mut next_seq = pruned.len() as u64;
        let mut last_hash = pruned.last().copied().unwrap_or([0u8; 32]);
        let mut tenants: HashMap<String, (u64, Hash)> = HashMap::new();
        let mut segments = Vec::new();
        for (first, path) in list_segments(&dir)? {
            if first >= next_seq
                && let Some(s) = SegmentSummary::read(&path, first)
            {
                let parts =
                    s.frontier.iter().map(|(h, x)| hash_from_hex(x).map(|x| (*h, x))).collect::<Option<Vec<_>>>();
                let adopted =
                    parts.and_then(|p| Frontier::from_parts(p, s.frontier_size)).zip(hash_from_hex(&s.last_hash));
                let tenant_heads: Option<HashMap<String, (u64, Hash)>> =
                    s.tenants.iter().map(|(t, (n, h))| hash_from_hex(h).map(|h| (t.clone(), (*n, h)))).collect();
                if let (Some((f, h)), Some(t)) = (adopted, tenant_heads)
                    && f.size() == s.next_seq
                {
                    frontier = f;
                    last_hash = h;
                    next_seq = s.next_seq;
                    tenants = t;
                    segments.push(Segment { first_seq: first, path, last_time: s.last_time });
                    continue;
                }
            }
            let scan = scan_segment(&path)?;
            // Records below the pruned ones: a retention run stopped before deleting them.
            if first < next_seq
                && scan.lines.last().and_then(|(_, l)| l.as_ref().ok()).is_some_and(|l| l.seq < next_seq)
            {
                std::fs::remove_file(&path).map_err(io("finish dropping an expired segment"))?;
                continue;
            }
            let mut last_time = None;
            for (number, line) in &scan.lines {
                let line =
                    line.as_ref().map_err(|e| AuditError::Damaged(format!("{} line {number}: {e}", path.display())))?;
                if line.seq != next_seq || line.prev != last_hash {
                    return Err(AuditError::Damaged(format!(
                        "{} line {number}: record {} does not follow record {}; run `coffre audit verify`",
                        path.display(),
                        line.seq,
                        next_seq.wrapping_sub(1)
                    )));
                }
                let record = line.record().ok_or_else(|| {
                    AuditError::Damaged(format!("{} line {number}: unreadable record", path.display()))
                })?;
                tenants.insert(record.event.tenant.clone().unwrap_or_default(), (record.tenant_seq + 1, line.hash));
                last_time = Some(record.event.time);
                frontier.push(leaf(&line.hash));
                last_hash = line.hash;
                next_seq += 1;
            }
            if scan.torn {
                // The zero fill, and any append that was never made durable (and never
                // acknowledged): cut off.
                let f = OpenOptions::new().write(true).open(&path).map_err(io("open a segment"))?;
                f.set_len(scan.complete_bytes).and_then(|()| f.sync_all()).map_err(io("cut a segment's tail"))?;
            }
            segments.push(Segment { first_seq: first, path, last_time });
        }
        let checkpointed_size = read_checkpoints(&dir)?.last().map_or(0, |c| c.tree_size);
        // Appends go to a fresh segment: nothing is ever written after a crash's leftovers.
        let path = segments_dir(&dir).join(format!("{next_seq:020}.log"));
        // It is open again: a summary of it (empty, from a clean stop) no longer holds.
        let _ = std::fs::remove_file(summary_path(&path));
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(io("open an audit segment"))?;
        let file_len = file.metadata().map_err(io("stat an audit segment"))?.len();
        if !segments.iter().any(|s| s.path == path) {
            segments.push(Segment { first_seq: next_seq, path, last_time: None });
        }
        sync_dir(&segments_dir(&dir))?;
        Ok(State {
            config,
            signer,
            next_seq,
            last_hash,
            frontier,
            tenants,
            segments,
            file,
            file_len,
            allocated: file_len,
            unsynced: false,
            awaiting_sync: Vec::new(),
            recorded: Arc::default(),
            uncheckpointed_since: None,
            checkpointed_size,
            listener,
        })
    }

    fn checkpoint_due(&self) -> bool {
        self.uncheckpointed_since.is_some_and(|t| t.elapsed() >= self.config.checkpoint_interval)
            || self.next_seq - self.checkpointed_size >= self.config.checkpoint_records
    }

    /// Signs a checkpoint, then drops what retention allows.
    fn checkpoint_and_retain(&mut self) -> Result<Option<Checkpoint>, AuditError> {
        let checkpoint = self.write_checkpoint()?;
        self.apply_retention();
        Ok(checkpoint)
    }

    /// The last checkpoint (after a sync), then the segment without its zero fill.
    fn finish(&mut self) {
        if let Err(e) = self.write_checkpoint() {
            tracing::error!(error = %e, "final audit checkpoint failed");
        }
        if let Err(e) = self.file.set_len(self.file_len).and_then(|()| self.file.sync_all()) {
            tracing::warn!(error = %e, "could not trim the audit segment");
            return;
        }
        self.summarise();
    }

    /// Appends records durably; returns the first one's sequence number. On failure nothing
    /// is appended (a partial write is cut off).
    fn append_batch(&mut self, events: Vec<AuditEvent>, sync: bool) -> Result<u64, AuditError> {
        let first_seq = self.next_seq;
        let mut text = Vec::with_capacity(events.len() * LINE_BYTES_TYPICAL);
        let mut json = Vec::with_capacity(LINE_BYTES_TYPICAL);
        let mut lines = Vec::with_capacity(events.len());
        let (mut seq, mut prev) = (self.next_seq, self.last_hash);
        let mut tenants: HashMap<String, (u64, Hash)> = HashMap::new();
        for event in events {
            let tenant = event.tenant.clone().unwrap_or_default();
            let (tenant_seq, tenant_prev) =
                tenants.get(&tenant).or_else(|| self.tenants.get(&tenant)).copied().unwrap_or((0, [0u8; 32]));
            let record = Record { event, tenant_seq, tenant_prev: hex::encode(tenant_prev) };
            let hash = write_line(seq, &prev, &record, &mut json, &mut text);
            tenants.insert(tenant, (tenant_seq + 1, hash));
            prev = hash;
            seq += 1;
            lines.push((hash, record));
        }
        use std::os::unix::fs::FileExt as _;
        let end = self.file_len + text.len() as u64;
        if end > self.allocated {
            let target = end.max(self.allocated + SEGMENT_FILL_BYTES);
            // From one static buffer: a fresh one would cost page faults each time.
            static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
            while self.allocated < target {
                let n = usize::try_from(target - self.allocated).map_or(ZEROS.len(), |n| n.min(ZEROS.len()));
                self.file.write_all_at(&ZEROS[..n], self.allocated).map_err(io("extend an audit segment"))?;
                self.allocated += n as u64;
            }
        }
        let skip_sync = self.config.dangerous_skip_fsync || !sync;
        let started = Instant::now();
        let written = self
            .file
            .write_all_at(&text, self.file_len)
            .and_then(|()| if skip_sync { Ok(()) } else { self.file.sync_data() });
        metrics::histogram!("coffre_audit_append_seconds", "synced" => if skip_sync { "no" } else { "yes" })
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("coffre_audit_batch_records").record(lines.len() as f64);
        if written.is_ok() {
            self.unsynced = !sync;
        }
        if let Err(e) = written {
            // Leave no partial record behind (zeros end the segment); if even that fails, the
            // next start cuts it.
            let _ = self.file.write_all_at(&vec![0u8; text.len()], self.file_len);
            return Err(io("append to the audit trail")(e));
        }
        self.file_len += text.len() as u64;
        if let (Some(segment), Some((_, last))) = (self.segments.last_mut(), lines.last()) {
            segment.last_time = Some(last.event.time.clone());
        }
        for (hash, record) in lines {
            self.frontier.push(leaf(&hash));
            if let Some(l) = &self.listener {
                let _ = l.try_send(record);
            }
        }
        self.tenants.extend(tenants);
        self.next_seq = seq;
        self.last_hash = prev;
        self.uncheckpointed_since.get_or_insert_with(Instant::now);
        if self.file_len >= self.config.segment_bytes_max {
            self.rotate()?;
        }
        Ok(first_seq)
    }

    /// Makes every written record durable, and answers those that waited for it.
    fn sync(&mut self) -> Result<(), AuditError> {
        if self.unsynced {
            if !self.config.dangerous_skip_fsync {
                self.file.sync_data().map_err(io("sync the audit trail"))?;
            }
            self.unsynced = false;
        }
        if !self.awaiting_sync.is_empty() {
            self.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).append(&mut self.awaiting_sync);
        }
        Ok(())
    }

    /// Writes the summary of the current segment (it is being closed).
    fn summarise(&self) {
        let Some(segment) = self.segments.last() else { return };
        let (subtrees, frontier_size) = self.frontier.parts();
        let summary = SegmentSummary {
            first_seq: segment.first_seq,
            bytes: self.file_len,
            next_seq: self.next_seq,
            last_hash: hex::encode(self.last_hash),
            last_time: segment.last_time.clone(),
            frontier: subtrees.iter().map(|(h, x)| (*h, hex::encode(x))).collect(),
            frontier_size,
            tenants: self.tenants.iter().map(|(t, (n, h))| (t.clone(), (*n, hex::encode(h)))).collect(),
        };
        let path = summary_path(&segment.path);
        let tmp = path.with_extension("summary.tmp");
        let written = serde_json::to_vec(&summary)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not write an audit segment summary; the next start reads the segment");
        }
    }

    fn rotate(&mut self) -> Result<(), AuditError> {
        self.sync()?;
        // The file ends at its records: no zero fill in a closed segment.
        self.file.set_len(self.file_len).map_err(io("trim a closed audit segment"))?;
        self.summarise();
        let path = segments_dir(&self.config.dir).join(format!("{:020}.log", self.next_seq));
        self.file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(io("open an audit segment"))?;
        self.file_len = 0;
        self.allocated = 0;
        sync_dir(&segments_dir(&self.config.dir))?;
        self.segments.push(Segment { first_seq: self.next_seq, path, last_time: None });
        Ok(())
    }

    fn write_checkpoint(&mut self) -> Result<Option<Checkpoint>, AuditError> {
        // A checkpoint vouches only for records that are on disk.
        self.sync()?;
        if self.next_seq == self.checkpointed_size {
            self.uncheckpointed_since = None;
            return Ok(None);
        }
        let mut checkpoint = Checkpoint {
            tree_size: self.next_seq,
            root: hex::encode(self.frontier.root()),
            last_hash: hex::encode(self.last_hash),
            time: now_rfc3339(),
            public_key: String::new(),
            signature: String::new(),
        };
        let (signature, public_key) =
            self.signer.sign(&checkpoint.message()).map_err(|e| AuditError::Unavailable(format!("sign: {e}")))?;
        checkpoint.signature = signature;
        checkpoint.public_key = public_key;
        let mut line = serde_json::to_string(&checkpoint).unwrap_or_default();
        line.push('\n');
        let path = checkpoints_path(&self.config.dir);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()).and_then(|()| f.sync_data()))
            .map_err(io("write an audit checkpoint"))?;
        self.checkpointed_size = self.next_seq;
        self.uncheckpointed_since = None;
        Ok(Some(checkpoint))
    }

    /// Drops whole segments past the retention period (never the one being written): their
    /// hashes are kept, the drop is recorded in the chain, then the files are deleted.
    fn apply_retention(&mut self) {
        let Some(retention) = self.config.retention else { return };
        let cutoff = time::OffsetDateTime::now_utc() - retention;
        let format = time::format_description::well_known::Rfc3339;
        let expired = |s: &Segment| {
            s.last_time
                .as_deref()
                .and_then(|t| time::OffsetDateTime::parse(t, &format).ok())
                .is_some_and(|t| t < cutoff)
        };
        while self.segments.len() > 1 && self.segments.first().is_some_and(expired) {
            if let Err(e) = self.drop_first_segment() {
                tracing::error!(error = %e, "audit retention stopped");
                return;
            }
        }
    }

    fn drop_first_segment(&mut self) -> Result<(), AuditError> {
        let segment = self.segments.first().ok_or_else(|| AuditError::Damaged("no segment".into()))?;
        let scan = scan_segment(&segment.path)?;
        let mut hashes = Vec::new();
        let mut last_seq = None;
        for (_, line) in &scan.lines {
            let line = line.as_ref().map_err(|e| AuditError::Damaged(e.clone()))?;
            hashes.extend_from_slice(&line.hash);
            last_seq = Some(line.seq);
        }
        let path = segment.path.clone();
        let first_seq = segment.first_seq;
        if let Some(last) = last_seq {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(pruned_path(&self.config.dir))
                .map_err(io("open pruned hashes"))?;
            f.write_all(&hashes).and_then(|()| f.sync_data()).map_err(io("keep the hashes of dropped records"))?;
            let event = AuditEvent {
                time: now_rfc3339(),
                request_id: format!("retention-{first_seq}"),
                interface: "audit".into(),
                actor: crate::record::Actor { kind: "system".into(), ..Default::default() },
                operation: "AuditRetention".into(),
                status: 200,
                dropped_through_seq: Some(last),
                note: Some(format!("records {first_seq} to {last} dropped after the retention period")),
                ..Default::default()
            };
            self.append_batch(vec![event], true)?;
        }
        std::fs::remove_file(&path).map_err(io("delete an expired segment"))?;
        let _ = std::fs::remove_file(summary_path(&path));
        sync_dir(&segments_dir(&self.config.dir))?;
        self.segments.remove(0);
        tracing::info!(segment = %path.display(), "audit segment dropped after the retention period");
        Ok(())
    }
}

/// Every record's chain hash, the dropped ones included, and every stored line with its
/// segment, for export and verification.
pub(crate) struct Trail {
    pub pruned: Vec<Hash>,
    pub lines: Vec<(PathBuf, usize, Result<Line, String>)>,
}

pub(crate) fn read_trail(dir: &Path) -> Result<Trail, AuditError> {
    let pruned = read_pruned(dir)?;
    let mut lines = Vec::new();
    for (_, path) in list_segments(dir)? {
        let scan = scan_segment(&path)?;
        for (n, line) in scan.lines {
            lines.push((path.clone(), n, line));
        }
    }
    Ok(Trail { pruned, lines })
}

/// Which of `wanted` request ids have a record in the trail.
pub fn recorded_request_ids(
    dir: &Path,
    wanted: &std::collections::HashSet<String>,
) -> Result<std::collections::HashSet<String>, AuditError> {
    let mut found = std::collections::HashSet::new();
    for (_, path) in list_segments(dir)? {
        for (_, line) in scan_segment(&path)?.lines {
            if let Some(record) = line.ok().and_then(|l| l.record())
                && wanted.contains(&record.event.request_id)
            {
                found.insert(record.event.request_id);
            }
        }
    }
    Ok(found)
}

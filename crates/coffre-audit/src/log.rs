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
use crate::record::{AuditEvent, Line, Record, now_rfc3339};

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
        }
    }
}

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
    let mut text = String::new();
    File::open(path).and_then(|mut f| f.read_to_string(&mut text)).map_err(io(format!("read {}", path.display())))?;
    let mut lines = Vec::new();
    let mut complete_bytes = 0u64;
    let mut torn = false;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        if !raw.ends_with('\n') {
            torn = true;
            break;
        }
        complete_bytes += raw.len() as u64;
        let body = raw.trim_end_matches('\n');
        lines.push((i + 1, Line::parse(body).ok_or_else(|| "malformed line".to_owned())));
    }
    Ok(SegmentScan { lines, complete_bytes, torn })
}

struct Segment {
    first_seq: u64,
    path: PathBuf,
    last_time: Option<String>,
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
    file_len: u64,
    uncheckpointed_since: Option<Instant>,
    checkpointed_size: u64,
    listener: Option<tokio::sync::mpsc::Sender<Record>>,
}

enum Job {
    Append(AuditEvent, oneshot::Sender<Result<u64, AuditError>>),
    Checkpoint(oneshot::Sender<Result<Option<Checkpoint>, AuditError>>),
}

/// A node's audit log.
pub struct AuditLog {
    jobs: std::sync::Mutex<Option<std::sync::mpsc::Sender<Job>>>,
    writer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    healthy: Arc<AtomicBool>,
    dir: PathBuf,
}

impl AuditLog {
    /// Opens the log (recovering its state from the segments) and starts the writer.
    /// `listener` receives every record once it is durable (best effort: a full channel drops).
    pub fn open(
        config: AuditConfig,
        signer: Arc<dyn Signer>,
        listener: Option<tokio::sync::mpsc::Sender<Record>>,
    ) -> Result<Arc<AuditLog>, AuditError> {
        let mut state = State::recover(config, signer, listener)?;
        let dir = state.config.dir.clone();
        let healthy = Arc::new(AtomicBool::new(true));
        let (tx, rx) = std::sync::mpsc::channel();
        let flag = Arc::clone(&healthy);
        let writer = std::thread::Builder::new()
            .name("coffre-audit".into())
            .spawn(move || state.run(&rx, &flag))
            .map_err(io("start the audit writer"))?;
        Ok(Arc::new(AuditLog {
            jobs: std::sync::Mutex::new(Some(tx)),
            writer: std::sync::Mutex::new(Some(writer)),
            healthy,
            dir,
        }))
    }

    fn send(&self, job: Job) -> Result<(), AuditError> {
        let jobs = self.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = jobs.as_ref().ok_or_else(|| AuditError::Unavailable("the audit log is closed".into()))?;
        tx.send(job).map_err(|_| AuditError::Unavailable("the audit writer stopped".into()))
    }

    /// Appends a record; returns its sequence number once it is durable.
    pub async fn append(&self, event: AuditEvent) -> Result<u64, AuditError> {
        let (reply, wait) = oneshot::channel();
        self.send(Job::Append(event, reply))?;
        wait.await.map_err(|_| AuditError::Unavailable("the audit writer stopped".into()))?
    }

    /// Signs a checkpoint now over everything appended so far (`None`: nothing new).
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        let (reply, wait) = oneshot::channel();
        self.send(Job::Checkpoint(reply))?;
        wait.await.map_err(|_| AuditError::Unavailable("the audit writer stopped".into()))?
    }

    /// Whether the last write succeeded (for health reporting).
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// The audit directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the writer after a final checkpoint.
    pub fn close(&self) {
        self.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(w) = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            let _ = w.join();
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
                // An append that was never made durable (and never acknowledged): cut it off.
                let f = OpenOptions::new().write(true).open(&path).map_err(io("open a torn segment"))?;
                f.set_len(scan.complete_bytes).and_then(|()| f.sync_all()).map_err(io("cut a torn segment"))?;
                tracing::warn!(segment = %path.display(), "cut an incomplete audit record left by a crash");
            }
            segments.push(Segment { first_seq: first, path, last_time });
        }
        let checkpointed_size = read_checkpoints(&dir)?.last().map_or(0, |c| c.tree_size);
        // Appends go to a fresh segment: nothing is ever written after a crash's leftovers.
        let path = segments_dir(&dir).join(format!("{next_seq:020}.log"));
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io("open an audit segment"))?;
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
            uncheckpointed_since: None,
            checkpointed_size,
            listener,
        })
    }

    fn run(&mut self, rx: &std::sync::mpsc::Receiver<Job>, healthy: &AtomicBool) {
        loop {
            let timeout = match self.uncheckpointed_since {
                Some(t) => self.config.checkpoint_interval.saturating_sub(t.elapsed()),
                None => self.config.checkpoint_interval,
            };
            let first = match rx.recv_timeout(timeout) {
                Ok(job) => Some(job),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut appends = Vec::new();
            let mut checkpoints = Vec::new();
            let mut take = |job: Job| match job {
                Job::Append(e, r) => appends.push((e, r)),
                Job::Checkpoint(r) => checkpoints.push(r),
            };
            if let Some(job) = first {
                take(job);
                for _ in 1..4096 {
                    match rx.try_recv() {
                        Ok(job) => take(job),
                        Err(_) => break,
                    }
                }
            }
            if !appends.is_empty() {
                let (events, replies): (Vec<_>, Vec<_>) = appends.into_iter().unzip();
                match self.append_batch(events) {
                    Ok(first_seq) => {
                        healthy.store(true, Ordering::Relaxed);
                        for (i, reply) in replies.into_iter().enumerate() {
                            let _ = reply.send(Ok(first_seq + i as u64));
                        }
                    }
                    Err(e) => {
                        healthy.store(false, Ordering::Relaxed);
                        tracing::error!(error = %e, "audit append failed; the requests it records are refused");
                        let message = e.to_string();
                        for reply in replies {
                            let _ = reply.send(Err(AuditError::Unavailable(message.clone())));
                        }
                    }
                }
            }
            let due = self.uncheckpointed_since.is_some_and(|t| t.elapsed() >= self.config.checkpoint_interval)
                || self.next_seq - self.checkpointed_size >= self.config.checkpoint_records;
            if due || !checkpoints.is_empty() {
                let result = self.write_checkpoint();
                if let Err(e) = &result {
                    tracing::error!(error = %e, "audit checkpoint failed");
                }
                if result.is_ok() {
                    self.apply_retention();
                }
                let message = result.as_ref().err().map(ToString::to_string);
                for reply in checkpoints {
                    let _ = reply.send(match (&result, &message) {
                        (Ok(c), _) => Ok(c.clone()),
                        (Err(_), m) => Err(AuditError::Unavailable(m.clone().unwrap_or_default())),
                    });
                }
            }
        }
        if let Err(e) = self.write_checkpoint() {
            tracing::error!(error = %e, "final audit checkpoint failed");
        }
    }

    /// Appends records durably; returns the first one's sequence number. On failure nothing
    /// is appended (a partial write is cut off).
    fn append_batch(&mut self, events: Vec<AuditEvent>) -> Result<u64, AuditError> {
        let first_seq = self.next_seq;
        let mut text = String::new();
        let mut lines = Vec::with_capacity(events.len());
        let (mut seq, mut prev) = (self.next_seq, self.last_hash);
        let mut tenants: HashMap<String, (u64, Hash)> = HashMap::new();
        for event in events {
            let tenant = event.tenant.clone().unwrap_or_default();
            let (tenant_seq, tenant_prev) =
                tenants.get(&tenant).or_else(|| self.tenants.get(&tenant)).copied().unwrap_or((0, [0u8; 32]));
            let record = Record { event, tenant_seq, tenant_prev: hex::encode(tenant_prev) };
            let line = Line::new(seq, prev, &record);
            text.push_str(&line.to_text());
            tenants.insert(tenant, (tenant_seq + 1, line.hash));
            prev = line.hash;
            seq += 1;
            lines.push((line, record));
        }
        let written = self.file.write_all(text.as_bytes()).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Leave no partial record behind; if even that fails, the next start cuts it.
            let _ = self.file.set_len(self.file_len);
            return Err(io("append to the audit trail")(e));
        }
        self.file_len += text.len() as u64;
        for (line, record) in lines {
            self.frontier.push(leaf(&line.hash));
            if let Some(s) = self.segments.last_mut() {
                s.last_time = Some(record.event.time.clone());
            }
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

    fn rotate(&mut self) -> Result<(), AuditError> {
        let path = segments_dir(&self.config.dir).join(format!("{:020}.log", self.next_seq));
        self.file = OpenOptions::new().create(true).append(true).open(&path).map_err(io("open an audit segment"))?;
        self.file_len = 0;
        sync_dir(&segments_dir(&self.config.dir))?;
        self.segments.push(Segment { first_seq: self.next_seq, path, last_time: None });
        Ok(())
    }

    fn write_checkpoint(&mut self) -> Result<Option<Checkpoint>, AuditError> {
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
            self.append_batch(vec![event])?;
        }
        std::fs::remove_file(&path).map_err(io("delete an expired segment"))?;
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

//! What the request paths (S3 and admin) share: the record of a request in progress
//! ([`AuditNote`]), and the [`AuditSink`] that appends finished records and keeps the
//! metadata store's audit intents in step (see `coffre_store::intent`): forgotten once their
//! record is in the trail, recorded from themselves when their request never recorded.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::log::{AuditError, AuditLog};
use crate::record::AuditEvent;

/// The record of the request in progress, shared through the request's extensions.
#[derive(Clone)]
pub struct AuditNote(Arc<Mutex<AuditEvent>>);

impl AuditNote {
    /// A note for a new record.
    pub fn new(event: AuditEvent) -> AuditNote {
        AuditNote(Arc::new(Mutex::new(event)))
    }

    /// Changes the record.
    pub fn update(&self, f: impl FnOnce(&mut AuditEvent)) {
        f(&mut self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    /// The record as it stands.
    pub fn snapshot(&self) -> AuditEvent {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The record as it stands, as JSON (the form an intent stores).
    pub fn snapshot_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.snapshot()).unwrap_or_default()
    }
}

/// The metadata store's pending audit records.
#[async_trait::async_trait]
pub trait IntentStore: Send + Sync + 'static {
    /// Intents committed before `before_ms` (unix ms): `(request id, record JSON)`.
    fn pending(&self, before_ms: u64) -> Result<Vec<(String, Vec<u8>)>, String>;
    /// Forgets intents whose records are in the trail.
    async fn forget(&self, ids: Vec<String>) -> Result<(), String>;
}

/// Appends finished records and keeps the intents in step.
pub struct AuditSink {
    pub log: Arc<AuditLog>,
    intents: Arc<dyn IntentStore>,
    recorded: Mutex<Vec<String>>,
    /// How long an intent may wait for its request's record before it is taken as orphaned
    /// (its request could not record, e.g. while the audit storage was full) and recorded
    /// from itself.
    orphan_after: std::time::Duration,
    /// Records being appended after their response (see [`AuditSink::record_committed`]).
    in_flight: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

impl AuditSink {
    pub fn new(log: Arc<AuditLog>, intents: Arc<dyn IntentStore>, orphan_after: std::time::Duration) -> Arc<AuditSink> {
        Arc::new(AuditSink {
            log,
            intents,
            recorded: Mutex::new(Vec::new()),
            orphan_after,
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            idle: tokio::sync::Notify::new(),
        })
    }

    /// Appends `event` and returns once it is durable: for a request whose record is not yet
    /// durable anywhere else (reads, refusals, failed changes).
    pub async fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.log.append(event).await.map(|_| ())
    }

    /// Appends the final record of a request whose change committed together with its intent:
    /// the record is already durable (the intent), so the response need not wait. Once the
    /// record is in the trail the intent is forgotten; if it cannot be written, the intent is
    /// recorded by a later sweep.
    pub fn record_committed(self: &Arc<Self>, event: AuditEvent) {
        let sink = Arc::clone(self);
        sink.in_flight.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        tokio::spawn(async move {
            let id = event.request_id.clone();
            match sink.log.append_deferred(event).await {
                Ok(_) => sink.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(id),
                Err(e) => tracing::warn!(error = %e, request = %id, "audit record deferred; its intent stays"),
            }
            if sink.in_flight.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
                sink.idle.notify_waiters();
            }
        });
    }

    /// Waits (at most `limit`) for the records [`AuditSink::record_committed`] is writing.
    pub async fn drain(&self, limit: std::time::Duration) {
        let _ = tokio::time::timeout(limit, async {
            loop {
                let idle = self.idle.notified();
                if self.in_flight.load(std::sync::atomic::Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        })
        .await;
    }

    /// Whether requests may change anything: not while the trail cannot be written.
    pub fn writable(&self) -> bool {
        self.log.healthy()
    }

    /// Forgets the intents of recorded requests, then records orphaned intents: all of them
    /// at start-up (`at_start`, skipping those the trail already holds), else those older than
    /// `orphan_after`.
    pub async fn sweep(&self, at_start: bool) {
        let ids = std::mem::take(&mut *self.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        if let Err(e) = self.intents.forget(ids.clone()).await {
            tracing::warn!(error = %e, "could not forget recorded audit intents; retrying later");
            self.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(ids);
            return;
        }
        let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp() * 1000).unwrap_or(0);
        let orphan_ms = u64::try_from(self.orphan_after.as_millis()).unwrap_or(u64::MAX);
        let before = if at_start { u64::MAX } else { now.saturating_sub(orphan_ms) };
        let orphans = match self.intents.pending(before) {
            Ok(o) if !o.is_empty() => o,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not read audit intents");
                return;
            }
        };
        let already = if at_start {
            let wanted: HashSet<String> = orphans.iter().map(|(id, _)| id.clone()).collect();
            crate::log::recorded_request_ids(self.log.dir(), &wanted).unwrap_or_default()
        } else {
            HashSet::new()
        };
        let mut done = Vec::new();
        for (id, bytes) in orphans {
            if !already.contains(&id) {
                let Ok(mut event) = serde_json::from_slice::<AuditEvent>(&bytes) else { continue };
                event.note = Some(if at_start {
                    "committed before a crash; no response was sent".to_owned()
                } else {
                    "committed, but its record could not be written then; the client got an error".to_owned()
                });
                if let Err(e) = self.log.append(event).await {
                    tracing::warn!(error = %e, "could not record an orphaned audit intent; retrying later");
                    break;
                }
            }
            done.push(id);
        }
        if let Err(e) = self.intents.forget(done).await {
            tracing::warn!(error = %e, "could not forget recorded audit intents");
        }
    }
}

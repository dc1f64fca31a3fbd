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
    /// Intents committed before `before_ms` (unix ms): `(intent key, record JSON)`.
    fn pending(&self, before_ms: u64) -> Result<Vec<(String, Vec<u8>)>, String>;
    /// Forgets intents (by key) whose records are in the trail.
    async fn forget(&self, keys: Vec<String>) -> Result<(), String>;
}

/// Appends finished records and keeps the intents in step.
pub struct AuditSink {
    pub log: Arc<AuditLog>,
    intents: Arc<dyn IntentStore>,
    /// Keys of intents recorded in the trail that could not be forgotten yet.
    recorded: Mutex<Vec<String>>,
    /// How long an intent may wait for its request's record before it is taken as orphaned
    /// (its request could not record, e.g. while the audit storage was full) and recorded
    /// from itself.
    orphan_after: std::time::Duration,
}

impl AuditSink {
    pub fn new(log: Arc<AuditLog>, intents: Arc<dyn IntentStore>, orphan_after: std::time::Duration) -> Arc<AuditSink> {
        Arc::new(AuditSink { log, intents, recorded: Mutex::new(Vec::new()), orphan_after })
    }

    /// Appends `event` and returns once it is durable: for a request whose record is not yet
    /// durable anywhere else (reads, refusals, failed changes).
    pub async fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.log.append(event).await.map(|_| ())
    }

    /// Queues the final record of a request whose change committed together with its intent
    /// (`intent_key`): the record is already durable (the intent), so the response need not
    /// wait. Once the record is durable in the trail the intent is forgotten; if it cannot be
    /// written, the intent is recorded by a later sweep.
    pub fn record_committed(&self, event: AuditEvent, intent_key: String) {
        if let Err(e) = self.log.append_deferred(event, intent_key) {
            tracing::warn!(error = %e, "audit record deferred; its intent stays");
        }
    }

    /// Writes the queued records and makes them durable (before a shutdown's last sweep).
    pub async fn flush(&self) {
        if let Err(e) = self.log.flush().await {
            tracing::warn!(error = %e, "could not flush the audit trail; intents stay");
        }
    }

    /// Whether requests may change anything: not while the trail cannot be written.
    pub fn writable(&self) -> bool {
        self.log.healthy()
    }

    /// Forgets the intents of recorded requests, then records orphaned intents: all of them
    /// at start-up (`at_start`, skipping those the trail already holds), else those older than
    /// `orphan_after`.
    pub async fn sweep(&self, at_start: bool) {
        let mut keys = std::mem::take(&mut *self.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        keys.extend(self.log.take_recorded());
        if let Err(e) = self.intents.forget(keys.clone()).await {
            tracing::warn!(error = %e, "could not forget recorded audit intents; retrying later");
            self.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(keys);
            return;
        }
        let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp() * 1000).unwrap_or(0);
        let orphan_ms = u64::try_from(self.orphan_after.as_millis()).unwrap_or(u64::MAX);
        let before = if at_start { u64::MAX } else { now.saturating_sub(orphan_ms) };
        let orphans: Vec<(String, AuditEvent)> = match self.intents.pending(before) {
            Ok(o) if !o.is_empty() => o
                .into_iter()
                .filter_map(|(key, bytes)| Some((key, serde_json::from_slice::<AuditEvent>(&bytes).ok()?)))
                .collect(),
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not read audit intents");
                return;
            }
        };
        let already = if at_start {
            let wanted: HashSet<String> = orphans.iter().map(|(_, event)| event.request_id.clone()).collect();
            crate::log::recorded_request_ids(self.log.dir(), &wanted).unwrap_or_default()
        } else {
            HashSet::new()
        };
        let mut done = Vec::new();
        for (key, mut event) in orphans {
            if !already.contains(&event.request_id) {
                event.note = Some(if at_start {
                    "committed before a crash; no response was sent".to_owned()
                } else {
                    "committed; its record could not be written when the request was answered (status not known)"
                        .to_owned()
                });
                if let Err(e) = self.log.append(event).await {
                    tracing::warn!(error = %e, "could not record an orphaned audit intent; retrying later");
                    break;
                }
            }
            done.push(key);
        }
        if let Err(e) = self.intents.forget(done).await {
            tracing::warn!(error = %e, "could not forget recorded audit intents");
        }
    }
}

//! The lifecycle worker: applies every bucket's lifecycle rules in passes, as the lifecycle
//! principal, and records each action in the audit trail.
//!
//! A pass walks each bucket with rules a page of versions at a time (the step's budget),
//! decides on the page ([`coffre_store::lifecycle::KeyWalk`]), then acts, one engine command
//! per version; the command re-checks what the worker saw, so a client's write racing the
//! worker always wins, and Object Lock refuses to let any locked version go. Between steps
//! the worker yields to foreground load: while the metadata writer has commands queued, it
//! waits. Its status (state, passes, what it did) is on the worker board the admin API reads.

use std::sync::Arc;
use std::time::Duration;

use coffre_audit::{Actor, AuditEvent, AuditNote, AuditSink};
use coffre_store::lifecycle::{Decision, KeyWalk, LifecycleConfiguration, LifecycleDay};
use coffre_store::worker::{CancellationToken, WorkerHandle, WorkerState};
use coffre_store::{BucketName, Expiry, ObjectKey, PermitIssuer, Store, StoreError, UploadId, permit};

use crate::errors::to_s3;

/// Versions a step reads and decides on.
const STEP_VERSIONS: usize = 256;
/// Commands queued for the metadata writer above which the worker waits: foreground requests
/// are committing.
const FOREGROUND_BACKLOG: usize = 4;
/// How long the worker waits when foreground requests are committing.
const YIELD_PAUSE: Duration = Duration::from_millis(20);

/// How the worker runs.
#[derive(Debug, Clone, Copy)]
pub struct LifecycleSettings {
    /// The length of a lifecycle day.
    pub day: LifecycleDay,
    /// Time between the start of one pass and the next.
    pub pass_interval: Duration,
}

impl LifecycleSettings {
    /// Passes hourly (rules count in days; an hour keeps expiry within the day AWS allows),
    /// or four times per day when the day is shortened for tests.
    pub fn for_day(day: LifecycleDay) -> LifecycleSettings {
        let quarter = Duration::from_nanos(day.as_nanos().unsigned_abs() / 4).max(Duration::from_millis(100));
        LifecycleSettings { day, pass_interval: quarter.min(Duration::from_secs(3600)) }
    }
}

/// The worker.
pub struct LifecycleWorker {
    pub store: Arc<Store>,
    pub permits: PermitIssuer,
    pub audit: Option<Arc<AuditSink>>,
    pub settings: LifecycleSettings,
    pub status: WorkerHandle,
    pub stop: CancellationToken,
}

/// One action decided on a page, and the key it is for.
struct Planned {
    key: String,
    decision: Decision,
}

/// Why an action did not happen.
enum Failure {
    /// Object Lock keeps the version.
    Locked,
    /// The bucket, or the upload, is gone.
    Gone,
    /// Anything else: the step failed.
    Other(String),
}

impl Failure {
    fn of(e: &StoreError) -> Failure {
        match e {
            StoreError::ObjectLocked => Failure::Locked,
            StoreError::NoSuchBucket | StoreError::NoSuchUpload => Failure::Gone,
            other => Failure::Other(other.to_string()),
        }
    }
}

fn operation(expiry: Expiry) -> &'static str {
    match expiry {
        Expiry::Current { .. } => "LifecycleExpiration",
        Expiry::Noncurrent { .. } => "LifecycleNoncurrentVersionExpiration",
        Expiry::LoneDeleteMarker { .. } => "LifecycleExpiredObjectDeleteMarker",
    }
}

fn counter(expiry: Expiry) -> &'static str {
    match expiry {
        Expiry::Current { .. } => "expired",
        Expiry::Noncurrent { .. } => "noncurrent_expired",
        Expiry::LoneDeleteMarker { .. } => "delete_markers_removed",
    }
}

impl LifecycleWorker {
    /// Runs passes until stopped (the board then marks it stopped).
    pub async fn run(self) {
        let mut tick = tokio::time::interval(self.settings.pass_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            self.pass().await;
        }
    }

    /// One pass over every bucket that has rules.
    pub async fn pass(&self) {
        self.status.update(|s| {
            s.state = WorkerState::Running;
            s.pass_started = Some(coffre_store::worker::now_rfc3339());
        });
        let now = coffre_store::now_ns();
        match self.store.buckets() {
            Ok(buckets) => {
                for (bucket, record) in buckets {
                    if self.stop.is_cancelled() {
                        return;
                    }
                    if let Some(rules) = self.store.lifecycle(&bucket) {
                        self.bucket_pass(&bucket, record.owner.as_deref(), &rules, now).await;
                    }
                }
            }
            Err(e) => self.status.failed(&e),
        }
        self.status.update(|s| {
            s.state = WorkerState::Idle;
            s.passes += 1;
            s.pass_finished = Some(coffre_store::worker::now_rfc3339());
        });
    }

    /// Waits while foreground requests are committing.
    async fn yield_to_foreground(&self) {
        let mut waited = Duration::ZERO;
        while self.store.commit_backlog() > FOREGROUND_BACKLOG && !self.stop.is_cancelled() {
            self.status.update(|s| s.state = WorkerState::Throttled);
            tokio::time::sleep(YIELD_PAUSE).await;
            waited += YIELD_PAUSE;
        }
        if !waited.is_zero() {
            let ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
            self.status.update(|s| {
                s.state = WorkerState::Running;
                s.throttled_ms += ms;
            });
        }
        // Let other tasks run between steps even when idle.
        tokio::task::yield_now().await;
    }

    async fn bucket_pass(&self, bucket: &BucketName, owner: Option<&str>, rules: &LifecycleConfiguration, now: i64) {
        let day = self.settings.day;
        let mut after: Option<(String, u64)> = None;
        let mut walk: Option<KeyWalk<'_>> = None;
        loop {
            if self.stop.is_cancelled() {
                return;
            }
            self.yield_to_foreground().await;
            let page = match self.store.scan_versions(bucket, after.as_ref(), STEP_VERSIONS) {
                Ok(page) => page,
                // Deleted meanwhile: nothing left to do.
                Err(StoreError::NoSuchBucket) => return,
                Err(e) => return self.status.failed(&e),
            };
            let Some(last) = page.last() else { break };
            after = Some((last.key.clone(), last.rank));
            let mut planned = Vec::new();
            for row in &page {
                if walk.as_ref().is_none_or(|w| w.key() != row.key) {
                    if let Some(done) = walk.take() {
                        planned.extend(finish(done));
                    }
                    walk = Some(KeyWalk::new(rules, day, now, row.key.clone()));
                }
                let Some(w) = walk.as_mut() else { continue };
                let Some(decision) = w.visit(row.rank, &row.version) else { continue };
                let locked = row.object().is_some_and(|o| o.locked(now, false));
                if matches!(decision.expiry, Expiry::Noncurrent { .. }) && locked {
                    // Object Lock keeps it: never attempted.
                    self.status.count("kept_locked", 1);
                    continue;
                }
                planned.push(Planned { key: row.key.clone(), decision });
            }
            self.status.count("versions_scanned", page.len() as u64);
            for p in planned {
                self.act(bucket, owner, p).await;
            }
        }
        if let Some(p) = walk.take().and_then(finish) {
            self.act(bucket, owner, p).await;
        }
        self.abort_uploads(bucket, owner, rules, now).await;
    }

    async fn abort_uploads(&self, bucket: &BucketName, owner: Option<&str>, rules: &LifecycleConfiguration, now: i64) {
        let uploads = match self.store.uploads(bucket, "", None, None) {
            Ok(u) => u,
            Err(StoreError::NoSuchBucket) => return,
            Err(e) => return self.status.failed(&e),
        };
        for (key, upload_id, record) in uploads {
            let Some(rule) = rules.upload_abort(&key, record.initiated_ns, self.settings.day, now) else { continue };
            let (Ok(object), Ok(id)) = (ObjectKey::parse(&key), UploadId::parse(&upload_id)) else { continue };
            self.yield_to_foreground().await;
            let permit = self.permits.object("s3:AbortMultipartUpload", bucket.clone(), object);
            let event = self.event(bucket, owner, &key, "LifecycleAbortIncompleteMultipartUpload", rule);
            let outcome = self.audited(event, self.store.abort_upload(&permit, &id)).await;
            match outcome {
                Ok(()) => self.status.count("uploads_aborted", 1),
                // Completed or aborted meanwhile.
                Err(Failure::Gone) => {}
                Err(Failure::Locked) => self.status.count("kept_locked", 1),
                Err(Failure::Other(e)) => self.status.failed(&e),
            }
        }
    }

    fn event(&self, bucket: &BucketName, owner: Option<&str>, key: &str, operation: &str, rule: &str) -> AuditEvent {
        AuditEvent {
            time: coffre_audit::now_rfc3339(),
            request_id: format!("{:016X}", crate::front::rand_u64()),
            tenant: owner.map(str::to_owned),
            interface: "lifecycle".to_owned(),
            actor: Actor { kind: "system".to_owned(), user: Some("lifecycle".to_owned()), ..Default::default() },
            operation: operation.to_owned(),
            bucket: Some(bucket.as_str().to_owned()),
            key: Some(key.to_owned()),
            note: Some(format!("lifecycle rule {rule}")),
            ..Default::default()
        }
    }

    /// Runs `change` with its audit record committed alongside (as an S3 request's is), then
    /// records the outcome: 200, or the S3 error a client would have got.
    async fn audited<T>(
        &self,
        event: AuditEvent,
        change: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, Failure> {
        let Some(sink) = &self.audit else { return change.await.map_err(|e| Failure::of(&e)) };
        let request_id = event.request_id.clone();
        let note = AuditNote::new(event);
        let intent = crate::audit::intent(&note, &request_id);
        let outcome = coffre_store::intent::with_intent(intent.clone(), change).await;
        let mut event = note.snapshot();
        let outcome = match outcome {
            Ok(done) => {
                event.status = 200;
                Ok(done)
            }
            Err(e) => {
                let failure = Failure::of(&e);
                let error = to_s3(e);
                event.status = error.status_code().map_or(500, |s| s.as_u16());
                event.error_code = Some(error.code().as_str().to_owned());
                Err(failure)
            }
        };
        if intent.committed() {
            sink.record_committed(event, intent.key.clone());
        } else if let Err(e) = sink.record(event).await {
            tracing::warn!(error = %e, "lifecycle action not recorded in the audit trail");
        }
        outcome
    }

    async fn act(&self, bucket: &BucketName, owner: Option<&str>, planned: Planned) {
        let Ok(key) = ObjectKey::parse(&planned.key) else { return };
        self.yield_to_foreground().await;
        let expiry = planned.decision.expiry;
        let mut event = self.event(bucket, owner, &planned.key, operation(expiry), &planned.decision.rule_id);
        event.version_id = planned.decision.version_id;
        let permit = self.permits.object(permit::actions::LIFECYCLE, bucket.clone(), key);
        match self.audited(event, self.store.expire(&permit, expiry)).await {
            Ok(d) if d.existed => self.status.count(counter(expiry), 1),
            Ok(_) => self.status.count("changed_meanwhile", 1),
            Err(Failure::Locked) => self.status.count("kept_locked", 1),
            Err(Failure::Gone) => {}
            Err(Failure::Other(e)) => self.status.failed(&e),
        }
    }
}

/// The action a finished key walk decides, if any.
fn finish(walk: KeyWalk<'_>) -> Option<Planned> {
    let key = walk.key().to_owned();
    Some(Planned { key, decision: walk.finish()? })
}

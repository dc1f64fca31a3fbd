//! Audit intents: the record of a request that changes metadata is committed in the same
//! transaction as the change, so that no change can become durable without its audit record
//! surviving somewhere. The front puts the request's pending record in scope
//! ([`with_intent`]); every metadata commit made inside that scope stores it. Once the final
//! record is in the audit trail the intent is forgotten; intents left by a crash (or by an
//! audit trail that could not be written) are appended to the trail later.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A request's pending audit record.
#[derive(Clone)]
pub struct Intent {
    /// The request id.
    pub id: String,
    /// The record as it stands (serialised by the caller; opaque here).
    pub snapshot: Arc<dyn Fn() -> Vec<u8> + Send + Sync>,
    /// Set once a change made in this scope is durably committed with the record: from then on
    /// the record is durable, whatever happens to the audit trail.
    pub committed: Arc<AtomicBool>,
}

impl Intent {
    /// An intent for request `id` whose record is produced by `snapshot`.
    pub fn new(id: String, snapshot: Arc<dyn Fn() -> Vec<u8> + Send + Sync>) -> Intent {
        Intent { id, snapshot, committed: Arc::new(AtomicBool::new(false)) }
    }

    /// Whether a change of this request committed (with its record).
    pub fn committed(&self) -> bool {
        self.committed.load(Ordering::Acquire)
    }
}

tokio::task_local! {
    static INTENT: Intent;
}

/// Runs `f` with `intent` in scope for the metadata commits it makes.
pub async fn with_intent<F: Future>(intent: Intent, f: F) -> F::Output {
    INTENT.scope(intent, f).await
}

/// The intent in scope, if any.
pub(crate) fn current() -> Option<Intent> {
    INTENT.try_with(Intent::clone).ok()
}

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
    /// Its key in the metadata store's intents table (see [`intent_key`]); the audit sink
    /// forgets the intent by it once the request's record is in the trail.
    pub key: String,
    /// The record as it stands (serialised by the caller; opaque here).
    pub snapshot: Arc<dyn Fn() -> Vec<u8> + Send + Sync>,
    /// Set once a change made in this scope is durably committed with the record: from then on
    /// the record is durable, whatever happens to the audit trail.
    pub committed: Arc<AtomicBool>,
}

impl Intent {
    /// An intent for request `id` whose record is produced by `snapshot`.
    pub fn new(id: &str, snapshot: Arc<dyn Fn() -> Vec<u8> + Send + Sync>) -> Intent {
        Intent { key: intent_key(id), snapshot, committed: Arc::new(AtomicBool::new(false)) }
    }

    /// Whether a change of this request committed (with its record).
    pub fn committed(&self) -> bool {
        self.committed.load(Ordering::Acquire)
    }
}

/// The intents table key of request `id`: the time now (unix ms, 12 hex digits), then the id.
/// Keys in time order make each metadata commit insert its intents at the end of the table,
/// into one leaf, and the intents forgotten together sit side by side; request ids alone are
/// random, and each intent would rewrite a leaf of its own (measured: about a third of the
/// metadata writer's work per small PUT, see docs/audit.md).
fn intent_key(id: &str) -> String {
    format!("{:012x}{id}", crate::meta::now_ms())
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

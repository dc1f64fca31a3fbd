//! Audit intents: the record of a request that changes metadata is committed in the same
//! transaction as the change, so that no change can become durable without its audit record
//! surviving somewhere. The front puts the request's pending record in scope
//! ([`with_intent`]); every metadata commit made inside that scope stores it. Once the final
//! record is in the audit trail the intent is forgotten; intents left by a crash (or by an
//! audit trail that could not be written) are appended to the trail later.

use std::future::Future;
use std::sync::Arc;

/// A request's pending audit record.
#[derive(Clone)]
pub struct Intent {
    /// The request id.
    pub id: String,
    /// The record as it stands (serialised by the caller; opaque here).
    pub snapshot: Arc<dyn Fn() -> Vec<u8> + Send + Sync>,
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

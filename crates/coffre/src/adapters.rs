//! The traits other crates define, implemented over this node's engine: where the
//! identity directory and the audit intents live (the metadata database). (The node's key
//! provider signs audit checkpoints itself: coffre-audit implements its `Signer`.)

use std::sync::Arc;

use coffre_store::Store;

/// Identity records in the metadata database (one table, written in the metadata writer's
/// durable commits).
pub struct MetaDirectoryStorage(pub Arc<Store>);

#[async_trait::async_trait]
impl coffre_iam::DirectoryStorage for MetaDirectoryStorage {
    fn load(&self) -> Result<Vec<(String, Vec<u8>)>, String> {
        self.0.iam_records().map_err(|e| e.to_string())
    }

    async fn write(&self, changes: Vec<(String, Option<Vec<u8>>)>) -> Result<(), String> {
        self.0.write_iam(changes).await.map_err(|e| e.to_string())
    }
}

/// Audit intents in the metadata database.
pub struct MetaIntents(pub Arc<Store>);

#[async_trait::async_trait]
impl coffre_audit::IntentStore for MetaIntents {
    fn pending(&self, before_ms: u64) -> Result<Vec<(String, Vec<u8>)>, String> {
        self.0.audit_intents(before_ms).map_err(|e| e.to_string())
    }

    async fn forget(&self, keys: Vec<String>) -> Result<(), String> {
        self.0.forget_audit_intents(keys).await.map_err(|e| e.to_string())
    }
}

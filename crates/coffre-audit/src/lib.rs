//! Coffre's audit trail: every S3 request and admin call leaves exactly one record, appended
//! to a hash chain in segment files, made durable before the response it describes, and
//! summarised by Ed25519-signed Merkle checkpoints. Tenants export their own records with
//! inclusion proofs and verify them offline; anyone with the node's public key verifies a whole
//! trail. Knows nothing of S3 beyond the record.

#![forbid(unsafe_code)]

pub mod export;
pub mod log;
pub mod merkle;
pub mod record;
pub mod sink;
pub mod verify;

pub use crate::export::{Export, export, verify_export};
pub use crate::log::{AuditConfig, AuditError, AuditLog, Checkpoint, Signer};
pub use crate::record::{Actor, AuditEvent, BreakGlassUse, Record, now_rfc3339};
pub use crate::sink::{AuditNote, AuditSink, IntentStore};
pub use crate::verify::{Report, verify_dir};

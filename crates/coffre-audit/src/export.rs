//! Tenant exports: a tenant's records, each with a Merkle inclusion proof against a signed
//! checkpoint, and a signed seal stating how many records of the tenant the export holds. A
//! tenant verifies it offline with the node's public key alone, without seeing any other
//! tenant's records (the proofs carry only hashes).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::log::{AuditError, Checkpoint, Signer, read_checkpoints, read_trail};
use crate::merkle::{Levels, leaf, verify_inclusion};
use crate::record::{Line, hash_from_hex};

/// Format tag of exports.
pub const EXPORT_FORMAT: &str = "coffre-audit-export-v1";

/// One exported record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedRecord {
    pub seq: u64,
    /// Hex.
    pub prev: String,
    /// Hex.
    pub hash: String,
    /// The record, exactly as hashed.
    pub record: String,
    /// Sibling hashes (hex), leaf to root, against the export's checkpoint.
    pub proof: Vec<String>,
}

/// What the node signs about an export, so that records cannot be dropped from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub tenant: String,
    pub since: Option<String>,
    pub until: Option<String>,
    pub count: u64,
    pub first_tenant_seq: Option<u64>,
    pub last_tenant_seq: Option<u64>,
    pub tree_size: u64,
    pub time: String,
    pub public_key: String,
    pub signature: String,
}

impl Seal {
    fn message(&self) -> Vec<u8> {
        format!(
            "coffre-audit-export-v1\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
            self.tenant,
            self.since.as_deref().unwrap_or(""),
            self.until.as_deref().unwrap_or(""),
            self.count,
            self.first_tenant_seq.map_or(String::new(), |s| s.to_string()),
            self.last_tenant_seq.map_or(String::new(), |s| s.to_string()),
            self.tree_size,
            self.time
        )
        .into_bytes()
    }
}

/// A tenant's export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    pub format: String,
    pub tenant: String,
    pub checkpoint: Checkpoint,
    pub records: Vec<ExportedRecord>,
    pub seal: Seal,
}

/// Exports the records of `tenant` (time within `since..=until`, RFC 3339) covered by the
/// latest checkpoint in `dir`.
pub fn export(
    dir: &Path,
    tenant: &str,
    since: Option<&str>,
    until: Option<&str>,
    signer: &dyn Signer,
) -> Result<Export, AuditError> {
    let checkpoint = read_checkpoints(dir)?
        .pop()
        .ok_or_else(|| AuditError::Unavailable("no checkpoint has been signed yet".into()))?;
    let trail = read_trail(dir)?;
    let size = usize::try_from(checkpoint.tree_size).unwrap_or(usize::MAX);
    let mut leaves: Vec<_> = trail.pruned.iter().map(leaf).collect();
    let mut chosen: Vec<(usize, Line)> = Vec::new();
    for (path, number, line) in trail.lines {
        let line = line.map_err(|e| AuditError::Damaged(format!("{} line {number}: {e}", path.display())))?;
        if leaves.len() >= size {
            break;
        }
        if line.seq != leaves.len() as u64 {
            return Err(AuditError::Damaged(format!("{} line {number}: out of sequence", path.display())));
        }
        leaves.push(leaf(&line.hash));
        let Some(record) = line.record() else { continue };
        let mine = record.event.tenant.as_deref() == Some(tenant);
        let in_range = since.is_none_or(|s| record.event.time.as_str() >= s)
            && until.is_none_or(|u| record.event.time.as_str() <= u);
        if mine && in_range {
            chosen.push((leaves.len() - 1, line));
        }
    }
    if leaves.len() != size {
        return Err(AuditError::Damaged(format!(
            "the last checkpoint covers {size} records but only {} are present",
            leaves.len()
        )));
    }
    let levels = Levels::build(leaves);
    let mut tenant_seqs = Vec::new();
    let records: Vec<ExportedRecord> = chosen
        .into_iter()
        .map(|(index, line)| {
            if let Some(r) = line.record() {
                tenant_seqs.push(r.tenant_seq);
            }
            ExportedRecord {
                seq: line.seq,
                prev: hex::encode(line.prev),
                hash: hex::encode(line.hash),
                record: line.json,
                proof: levels.proof(index).iter().map(hex::encode).collect(),
            }
        })
        .collect();
    let mut seal = Seal {
        tenant: tenant.to_owned(),
        since: since.map(str::to_owned),
        until: until.map(str::to_owned),
        count: records.len() as u64,
        first_tenant_seq: tenant_seqs.first().copied(),
        last_tenant_seq: tenant_seqs.last().copied(),
        tree_size: checkpoint.tree_size,
        time: crate::record::now_rfc3339(),
        public_key: String::new(),
        signature: String::new(),
    };
    let (signature, public_key) = signer.sign(&seal.message()).map_err(AuditError::Unavailable)?;
    seal.signature = signature;
    seal.public_key = public_key;
    Ok(Export { format: EXPORT_FORMAT.to_owned(), tenant: tenant.to_owned(), checkpoint, records, seal })
}

/// Verifies an export with the node's public key (base64); returns the problems found, each
/// naming the record (empty: intact).
pub fn verify_export(export: &Export, public_key: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if export.format != EXPORT_FORMAT {
        problems.push(format!("unknown export format {:?}", export.format));
    }
    let c = &export.checkpoint;
    if !c.signature_holds(public_key) {
        problems.push("the checkpoint's signature is not valid for this key".to_owned());
    }
    if !coffre_crypto::signature::verify_ed25519(public_key, &export.seal.message(), &export.seal.signature) {
        problems.push("the export's seal is not valid for this key (the export was altered)".to_owned());
    }
    if export.seal.tenant != export.tenant || export.seal.tree_size != c.tree_size {
        problems.push("the seal does not describe this export".to_owned());
    }
    if export.seal.count != export.records.len() as u64 {
        problems.push(format!(
            "the export holds {} records, its seal says {}: records were removed or added",
            export.records.len(),
            export.seal.count
        ));
    }
    let root = hash_from_hex(&c.root).unwrap_or([0u8; 32]);
    let mut previous: Option<(u64, String)> = None;
    for (i, r) in export.records.iter().enumerate() {
        let place = format!("record {} (number {} in the export)", r.seq, i + 1);
        let (Some(prev), Some(hash)) = (hash_from_hex(&r.prev), hash_from_hex(&r.hash)) else {
            problems.push(format!("{place}: malformed hash"));
            continue;
        };
        let line = Line { seq: r.seq, prev, hash, json: r.record.clone() };
        if !line.hash_holds() {
            problems.push(format!("{place}: edited (its hash does not match its content)"));
        }
        let proof: Option<Vec<_>> = r.proof.iter().map(|p| hash_from_hex(p)).collect();
        if !proof.is_some_and(|p| verify_inclusion(r.seq, c.tree_size, &leaf(&hash), &p, &root)) {
            problems.push(format!("{place}: not in the signed log (its inclusion proof fails)"));
        }
        let Some(record) = line.record() else {
            problems.push(format!("{place}: not a readable record"));
            continue;
        };
        if record.event.tenant.as_deref() != Some(export.tenant.as_str()) {
            problems.push(format!("{place}: belongs to another tenant"));
        }
        match &previous {
            Some((seq, hash)) if record.tenant_seq != seq + 1 || record.tenant_prev != *hash => {
                problems.push(format!(
                    "{place}: does not follow the record before it in the export (records removed, inserted or reordered)"
                ));
            }
            Some(_) => {}
            None if export.seal.first_tenant_seq != Some(record.tenant_seq) => {
                problems.push(format!("{place}: the export does not start where its seal says"));
            }
            None => {}
        }
        previous = Some((record.tenant_seq, r.hash.clone()));
    }
    if previous.as_ref().map(|p| p.0) != export.seal.last_tenant_seq {
        problems.push("the export does not end where its seal says: it was truncated or extended".to_owned());
    }
    problems
}

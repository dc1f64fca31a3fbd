//! Verification of a node's audit trail: every record in place and unchanged, the chain
//! unbroken, every checkpoint's signature valid and its Merkle root equal to the root of the
//! records it covers, nothing cut off after a checkpoint, and every dropped record accounted
//! for by a retention record. Findings name the file, line and record.

use std::path::Path;

use crate::log::{AuditError, read_checkpoints, read_trail};
use crate::merkle::{Frontier, leaf};

/// What a verification found.
#[derive(Debug, Default)]
pub struct Report {
    /// Records checked (dropped ones included, by their hashes).
    pub records: u64,
    /// Checkpoints whose signature and root were checked.
    pub checkpoints: u64,
    /// Records after the last checkpoint, chained but not yet signed.
    pub unsigned_tail: u64,
    /// Everything wrong, each naming where.
    pub problems: Vec<String>,
}

impl Report {
    /// Whether the trail is intact.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the trail in `dir` against the node's public key (base64).
pub fn verify_dir(dir: &Path, public_key: &str) -> Result<Report, AuditError> {
    let trail = read_trail(dir)?;
    let checkpoints = read_checkpoints(dir)?;
    let mut report = Report::default();
    let mut frontier = Frontier::default();
    let mut last_hash = [0u8; 32];
    let pruned = trail.pruned.len() as u64;
    let mut expected = pruned;
    let mut dropped_through: Option<u64> = None;
    let mut pending = checkpoints.iter().enumerate().peekable();
    let mut check_at = |size: u64, root: [u8; 32], last: [u8; 32], report: &mut Report| {
        while let Some((i, c)) = pending.next_if(|(_, c)| c.tree_size <= size) {
            report.checkpoints += 1;
            let place = format!("checkpoints.log line {} (covering {} records)", i + 1, c.tree_size);
            if !c.signature_holds(public_key) {
                report.problems.push(format!("{place}: the signature is not valid for this node's key"));
            }
            if c.tree_size < size {
                report.problems.push(format!("{place}: checkpoints are out of order"));
            } else if c.root != hex::encode(root) || c.last_hash != hex::encode(last) {
                report.problems.push(format!(
                    "{place}: the records it covers no longer have the root it signed (a record before number {} was edited, removed, inserted or reordered)",
                    c.tree_size
                ));
            }
        }
    };
    for h in &trail.pruned {
        frontier.push(leaf(h));
        last_hash = *h;
        check_at(frontier.size(), frontier.root(), last_hash, &mut report);
    }
    for (path, number, line) in &trail.lines {
        let place = format!("{} line {number}", path.file_name().and_then(|n| n.to_str()).unwrap_or("?"));
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                report.problems.push(format!("{place}: {e}; the record there was damaged"));
                continue;
            }
        };
        if line.seq != expected {
            let what = if line.seq > expected {
                format!("records {expected} to {} are missing", line.seq - 1)
            } else {
                format!("record {} appears again or out of order", line.seq)
            };
            report.problems.push(format!("{place}: expected record {expected}, found record {}: {what}", line.seq));
        } else if line.prev != last_hash {
            report.problems.push(format!(
                "{place}: record {} does not link to the record before it (inserted, reordered or the one before was changed)",
                line.seq
            ));
        }
        if !line.hash_holds() {
            report
                .problems
                .push(format!("{place}: record {} was edited (its hash does not match its content)", line.seq));
        }
        match line.record() {
            Some(r) => {
                if let Some(d) = r.event.dropped_through_seq {
                    dropped_through = Some(dropped_through.map_or(d, |x| x.max(d)));
                }
            }
            None => report.problems.push(format!("{place}: record {} is not a readable record", line.seq)),
        }
        frontier.push(leaf(&line.hash));
        last_hash = line.hash;
        expected = line.seq.max(expected) + 1;
        check_at(frontier.size(), frontier.root(), last_hash, &mut report);
    }
    for (i, c) in pending {
        report.problems.push(format!(
            "checkpoints.log line {}: it covers {} records but only {} are present: the trail was truncated",
            i + 1,
            c.tree_size,
            frontier.size()
        ));
    }
    if pruned > 0 && dropped_through.is_none_or(|d| d + 1 < pruned) {
        report
            .problems
            .push(format!("{pruned} records were dropped without a retention record saying so (pruned.hashes)"));
    }
    report.records = frontier.size();
    report.unsigned_tail = frontier.size() - checkpoints.last().map_or(0, |c| c.tree_size.min(frontier.size()));
    Ok(report)
}

//! Audit records and the chain that links them.
//!
//! A record is stored as one line, `SEQ \t PREV \t HASH \t JSON`, where `HASH` is
//! `SHA-256("coffre-audit-v1\0" ‖ SEQ (u64 BE) ‖ PREV ‖ JSON)` and `PREV` the hash of the record
//! before it: changing, removing, inserting or reordering any record breaks the chain at that
//! place. JSON (compact, so it holds no tab or newline) is kept byte for byte, and the hash is
//! over those bytes. Each record also links to the previous record of the same tenant
//! (`tenant_seq`, `tenant_prev`), so that a tenant's export is checkable on its own.

use std::io::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// Who made a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `user` (a tenant's), `operator`, `anonymous` or `system`.
    pub kind: String,
    /// The user's tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
}

/// A break-glass grant used by an operator's request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakGlassUse {
    pub grant: String,
    pub approved_by: String,
}

/// What happened: one S3 request, one admin API call, or the audit trail's own events.
/// Never secrets, object data or keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    pub request_id: String,
    /// The tenant the record belongs to (whose data or settings it concerns); `None`: the
    /// service's own records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// `s3`, `admin` or `audit`.
    pub interface: String,
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// The S3 operation (`GetObject`), or the admin call (`POST /admin/v1/tenants`).
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// HTTP status; 0 when not known: a record recovered from its audit intent (after a crash,
    /// or when the record could not be written as the request was answered).
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The KMS key that protected the data, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<BreakGlassUse>,
    /// Free text for the trail's own events (retention, recovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For a retention record: every record up to this one was dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_through_seq: Option<u64>,
}

/// A record as stored: the event plus its tenant chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    #[serde(flatten)]
    pub event: AuditEvent,
    /// Position among the records of the same tenant (from 0).
    pub tenant_seq: u64,
    /// Hash of the previous record of the same tenant (hex; zeros for the first).
    pub tenant_prev: String,
}

/// One line of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub seq: u64,
    pub prev: Hash,
    pub hash: Hash,
    /// The record's JSON, exactly as hashed.
    pub json: String,
}

/// The chain hash of a record.
pub fn chain_hash(seq: u64, prev: &Hash, json: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(b"coffre-audit-v1\0");
    h.update(seq.to_be_bytes());
    h.update(prev);
    h.update(json);
    h.finalize().into()
}

fn parse_hash(s: &str) -> Option<Hash> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Hex digits of a hash, without allocating.
fn hex_digits(hash: &Hash) -> [u8; 64] {
    let mut out = [0u8; 64];
    // Cannot fail: the buffer is exactly twice the hash's length.
    let _ = hex::encode_to_slice(hash, &mut out);
    out
}

/// Writes the line of `record` after `prev` to `out` (newline included) and returns its hash.
/// `json` is scratch space that callers reuse across records, so a batch allocates little.
pub fn write_line(seq: u64, prev: &Hash, record: &Record, json: &mut Vec<u8>, out: &mut Vec<u8>) -> Hash {
    json.clear();
    // Invariant: records are plain structs that always serialize.
    let _ = serde_json::to_writer(&mut *json, record);
    let hash = chain_hash(seq, prev, json);
    let _ = write!(out, "{seq}\t");
    out.extend_from_slice(&hex_digits(prev));
    out.push(b'\t');
    out.extend_from_slice(&hex_digits(&hash));
    out.push(b'\t');
    out.extend_from_slice(json);
    out.push(b'\n');
    hash
}

impl Line {
    /// Parses one line (without its newline); `None` if it is not a well-formed line.
    pub fn parse(text: &str) -> Option<Line> {
        let mut parts = text.splitn(4, '\t');
        let seq = parts.next()?.parse().ok()?;
        let prev = parse_hash(parts.next()?)?;
        let hash = parse_hash(parts.next()?)?;
        let json = parts.next()?.to_owned();
        Some(Line { seq, prev, hash, json })
    }

    /// Whether the stored hash is the hash of the line's content.
    pub fn hash_holds(&self) -> bool {
        chain_hash(self.seq, &self.prev, self.json.as_bytes()) == self.hash
    }

    /// The record.
    pub fn record(&self) -> Option<Record> {
        serde_json::from_str(&self.json).ok()
    }
}

/// Parses a hex hash.
pub fn hash_from_hex(s: &str) -> Option<Hash> {
    parse_hash(s)
}

/// Now, as records write it.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    now.format(&format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_round_trips_and_its_hash_binds_every_field() {
        let record = Record {
            event: AuditEvent { operation: "GetObject".into(), key: Some("a\tb\nc".into()), ..Default::default() },
            tenant_seq: 3,
            tenant_prev: hex::encode([1u8; 32]),
        };
        let mut text = Vec::new();
        let hash = write_line(7, &[9u8; 32], &record, &mut Vec::new(), &mut text);
        let text = String::from_utf8(text).unwrap();
        assert_eq!(text.matches('\n').count(), 1, "one line");
        let back = Line::parse(text.trim_end_matches('\n')).unwrap();
        assert_eq!((back.seq, back.prev, back.hash), (7, [9u8; 32], hash));
        assert_eq!(back.json, serde_json::to_string(&record).unwrap());
        assert!(back.hash_holds());
        assert_eq!(back.record().unwrap(), record);
        let mut moved = back.clone();
        moved.seq = 8;
        assert!(!moved.hash_holds());
        let mut edited = back;
        edited.json = edited.json.replace("GetObject", "PutObject");
        assert!(!edited.hash_holds());
    }
}

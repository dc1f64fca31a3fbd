//! The commands of the metadata writer: what a change is, as data that can be logged, replayed
//! and (later) replicated through a consensus log, and its stable serialised form.
//!
//! A command is encoded as `[format version: u8][json]`. The version byte lets a later release
//! read the commands of an older one (a replicated log outlives the binary that wrote it); a
//! frozen fixture of every variant in `fixtures/commands-v1.json` must keep decoding.

use serde::{Deserialize, Serialize};

use crate::changes::{AttributesChange, BucketChange};
use crate::checksum::{ChecksumAlgorithm, ChecksumType};
use crate::error::{StoreError, StoreResult};
use crate::records::{BucketRecord, ChunkId, ChunkRef, DataLayout, ObjectRecord, PartRecord, UnixNanos, UploadRecord};

/// Current format version of commands.
const COMMAND_FORMAT_V1: u8 = 1;

/// A condition a write must meet, evaluated atomically with its commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteCondition {
    /// Unconditional: last writer wins.
    None,
    /// `If-None-Match: *`: only if the key does not exist.
    IfNoneMatchAny,
    /// `If-Match: *`: only if the key exists.
    IfMatchAny,
    /// `If-Match: "etag"`: only if the current ETag is this one.
    IfMatch(String),
}

impl WriteCondition {
    pub(crate) fn check(&self, current: Option<&ObjectRecord>) -> StoreResult<()> {
        match (self, current) {
            (WriteCondition::None, _) => Ok(()),
            (WriteCondition::IfNoneMatchAny, None) => Ok(()),
            (WriteCondition::IfNoneMatchAny, Some(_)) => Err(StoreError::PreconditionFailed),
            (WriteCondition::IfMatchAny | WriteCondition::IfMatch(_), None) => Err(StoreError::NoSuchKey),
            (WriteCondition::IfMatchAny, Some(_)) => Ok(()),
            (WriteCondition::IfMatch(etag), Some(cur)) if *etag == cur.etag => Ok(()),
            (WriteCondition::IfMatch(_), Some(_)) => Err(StoreError::PreconditionFailed),
        }
    }
}

/// A part named in CompleteMultipartUpload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompletedPart {
    /// Part number.
    pub part_number: u32,
    /// ETag the client got for it, without quotes.
    pub etag: String,
    /// Checksum the client got for it, if it sends one back.
    pub checksum_base64: Option<String>,
}

/// What CompleteMultipartUpload asks for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompleteRequest {
    /// The parts, in the client's order.
    pub parts: Vec<CompletedPart>,
    /// Condition on the key.
    pub condition: WriteCondition,
    /// A full-object checksum the client computed, to compare with ours.
    pub expected_checksum: Option<(ChecksumAlgorithm, String)>,
    /// Checksum type the client expects.
    pub checksum_type: Option<ChecksumType>,
    /// `x-amz-mp-object-size`, if sent.
    pub expected_size_bytes: Option<u64>,
}

/// A metadata change, as plain data: every input it needs is in it (ids generated, records
/// built and times read before it was made), so applying it is a function of the database and
/// the command alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op")]
pub(crate) enum MetaOp {
    CreateBucket {
        bucket: String,
        record: BucketRecord,
    },
    UpdateBucket {
        bucket: String,
        change: BucketChange,
    },
    DeleteBucket {
        bucket: String,
    },
    PutObject {
        bucket: String,
        key: String,
        record: Box<ObjectRecord>,
        /// The sealed bytes of an object small enough to live in its record.
        inline: Bytes64,
        condition: WriteCondition,
    },
    DeleteObject {
        bucket: String,
        key: String,
        condition: WriteCondition,
        /// The version to delete; without one, the current version (hidden behind a delete
        /// marker when versioning is on). Added after v1's first commands.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<crate::VersionId>,
        /// Whether a GOVERNANCE retention may be bypassed (authorised by the caller's
        /// `s3:BypassGovernanceRetention`). Added after v1's first commands.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        bypass_governance: bool,
    },
    /// A lifecycle action on one version (added after v1's first commands).
    Expire {
        bucket: String,
        key: String,
        expiry: crate::lifecycle::Expiry,
    },
    UpdateAttributes {
        bucket: String,
        key: String,
        change: AttributesChange,
        /// The version to change; without one, the current version. Added after v1's first
        /// commands.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<crate::VersionId>,
    },
    WriteIam {
        changes: Vec<(String, Option<Bytes64>)>,
    },
    ForgetAuditIntents {
        keys: Vec<String>,
    },
    CreateUpload {
        bucket: String,
        key: String,
        upload_id: String,
        record: UploadRecord,
    },
    PutPart {
        bucket: String,
        key: String,
        upload_id: String,
        part_number: u32,
        record: PartRecord,
    },
    CompleteUpload {
        bucket: String,
        key: String,
        upload_id: String,
        request: CompleteRequest,
        now_ns: UnixNanos,
    },
    AbortUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    ForgetGarbage {
        entries: Vec<(u64, ChunkId)>,
    },
    /// Replaces the wrapped data keys of object versions, if each is still the version read.
    ReplaceKeys {
        bucket: String,
        updates: Vec<KeyUpdate>,
    },
    /// Crypto-shredding aftermath: frees the data of versions whose key was destroyed.
    Shred {
        bucket: String,
        versions: Vec<(String, u64)>,
        key_id: String,
    },
}

/// New wrapped keys for one object version (see [`MetaOp::ReplaceKeys`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyUpdate {
    pub key: String,
    pub rank: u64,
    /// The version's Last-Modified when it was read: a changed version is left alone.
    pub last_modified_ns: UnixNanos,
    pub layout: DataLayout,
}

impl KeyUpdate {
    pub(crate) fn layout_chunk_ids(&self) -> impl Iterator<Item = ChunkId> + '_ {
        let chunks: &[ChunkRef] = match &self.layout {
            DataLayout::Inline(_) => &[],
            DataLayout::Chunks(c) => c,
        };
        chunks.iter().map(|c| c.id)
    }
}

/// Bytes in a command, base64 in its serialised form (a JSON array of numbers would be four
/// times their size).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Bytes64(pub Vec<u8>);

impl Serialize for Bytes64 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine as _;
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(text).map(Bytes64).map_err(serde::de::Error::custom)
    }
}

/// The audit record a change commits with (see [`crate::intent`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AuditIntent {
    /// Its key in the intents table.
    pub key: String,
    /// The pending record, serialised by the audit layer (opaque here).
    pub record: Bytes64,
}

/// A metadata change as the writer commits it: the operation and every input its commit uses
/// besides the database (when it was asked for, the audit record to commit with it), so that
/// applying it reads no clock, no randomness and no task-local.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Command {
    /// The change.
    pub op: MetaOp,
    /// When the change was asked for (unix ms): garbage due times, intents' commit times.
    pub at_ms: u64,
    /// The audit record to commit with the change.
    pub intent: Option<AuditIntent>,
}

impl MetaOp {
    /// The bucket whose record the command changes, if it changes one.
    pub(crate) fn changed_bucket(&self) -> Option<&str> {
        match self {
            MetaOp::CreateBucket { bucket, .. }
            | MetaOp::DeleteBucket { bucket }
            | MetaOp::UpdateBucket { bucket, .. } => Some(bucket),
            _ => None,
        }
    }
}

impl Command {
    /// The command's stable serialised form.
    #[cfg_attr(not(test), expect(dead_code, reason = "the cluster's replicated log carries commands in this form"))]
    pub(crate) fn encode(&self) -> Vec<u8> {
        // Invariant: commands are plain data (strings, numbers, maps), which always serialize.
        #[allow(clippy::expect_used)]
        let json = serde_json::to_vec(self).expect("Invariant: commands always serialize");
        let mut out = Vec::with_capacity(1 + json.len());
        out.push(COMMAND_FORMAT_V1);
        out.extend_from_slice(&json);
        out
    }

    /// Reads a command from its serialised form.
    #[cfg_attr(not(test), expect(dead_code, reason = "the cluster's replicated log carries commands in this form"))]
    pub(crate) fn decode(bytes: &[u8]) -> StoreResult<Command> {
        let corrupt = |what: String| StoreError::Corrupt { what: format!("metadata command: {what}") };
        match bytes.split_first() {
            Some((&COMMAND_FORMAT_V1, json)) => serde_json::from_slice(json).map_err(|e| corrupt(e.to_string())),
            Some((version, _)) => Err(corrupt(format!("unknown format version {version}"))),
            None => Err(corrupt("empty".into())),
        }
    }
}

#[cfg(test)]
mod tests;

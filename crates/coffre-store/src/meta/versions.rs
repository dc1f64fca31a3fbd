//! A key's version list inside a write: which version is current, where a new one goes, and
//! how one is added or removed with its chunks and usage kept in step.
//!
//! A bucket's table of versions is keyed by `(key, rank)`; ranks ascend from the newest
//! version to the oldest, so the first row of a key is its latest version. A rank comes from
//! the bucket's version sequence, assigned inside the command (never from a clock read while
//! applying): `sequence = max(last + 1, the command's time in ns)`, `rank = u64::MAX -
//! sequence`. The same command on the same state gives the same rank on every replica, ranks
//! never collide, and a version written now sorts newer than the versions of earlier releases
//! (whose rank came from their Last-Modified in ns). An assigned version id is the rank in 16
//! hex digits, so ids sort newest first within a key and name their row directly.

use super::apply::{add_usage, discard_chunks, own_chunks};
use super::current;
use super::*;
use crate::VersionId;
use crate::records::{DeleteMarker, Version, Versioning};

/// `bucket` → the last version sequence number assigned in it.
pub(super) const SEQUENCES: TableDefinition<&str, u64> = TableDefinition::new("version_sequences");

/// The version id of a rank.
pub(crate) fn version_id_of(rank: u64) -> String {
    format!("{rank:016x}")
}

/// The rank a version id names, if it is one the engine could have assigned.
pub(crate) fn rank_of(version_id: &str) -> Option<u64> {
    (version_id.len() == 16 && version_id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| u64::from_str_radix(version_id, 16).ok())
        .flatten()
}

/// The bucket's versioning state; NoSuchBucket if it does not exist.
pub(super) fn versioning(txn: &WriteTransaction, bucket: &str) -> StoreResult<Option<Versioning>> {
    match txn.open_table(BUCKETS)?.get(bucket)? {
        Some(v) => Ok(records::decode::<BucketRecord>(v.value())?.0.versioning),
        None => Err(StoreError::NoSuchBucket),
    }
}

/// The next rank of `bucket` (see the module doc).
pub(super) fn next_rank(txn: &WriteTransaction, bucket: &str, at_ms: u64) -> StoreResult<u64> {
    let mut table = txn.open_table(SEQUENCES)?;
    let last = table.get(bucket)?.map_or(0, |v| v.value());
    let sequence = last.saturating_add(1).max(at_ms.saturating_mul(1_000_000));
    table.insert(bucket, sequence)?;
    Ok(u64::MAX - sequence)
}

/// A key's latest version, with its rank.
pub(super) fn latest(txn: &WriteTransaction, bucket: &str, key: &str) -> StoreResult<Option<(u64, Version)>> {
    let name = objects_table_name(bucket);
    let table = txn.open_table(objects_table(&name))?;
    let mut range = table.range((key.as_bytes(), 0)..=(key.as_bytes(), u64::MAX))?;
    match range.next() {
        Some(entry) => {
            let (k, v) = entry?;
            Ok(Some((k.value().1, records::decode_version(v.value())?.0)))
        }
        None => Ok(None),
    }
}

/// A key's latest version in `table`, with its rank and payload.
pub(super) fn latest_in(
    table: &impl ReadableTable<VersionKey<'static>, &'static [u8]>,
    key: &str,
) -> StoreResult<Option<(u64, Version, Vec<u8>)>> {
    let mut range = table.range((key.as_bytes(), 0)..=(key.as_bytes(), u64::MAX))?;
    match range.next() {
        Some(entry) => {
            let (k, v) = entry?;
            let (version, payload) = records::decode_version(v.value())?;
            Ok(Some((k.value().1, version, payload.to_vec())))
        }
        None => Ok(None),
    }
}

/// The key's current object: its latest version, unless that is a delete marker.
pub(super) fn current_object(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
) -> StoreResult<Option<(u64, ObjectRecord)>> {
    Ok(match latest(txn, bucket, key)? {
        Some((rank, Version::Object(record))) => Some((rank, *record)),
        Some((_, Version::DeleteMarker(_))) | None => None,
    })
}

/// The version `version_id` names (`None`: the null version), with its rank and payload.
pub(super) fn find(
    table: &impl ReadableTable<VersionKey<'static>, &'static [u8]>,
    key: &str,
    version_id: Option<&str>,
) -> StoreResult<Option<(u64, Version, Vec<u8>)>> {
    if let Some(id) = version_id {
        let Some(rank) = rank_of(id) else {
            return Err(StoreError::invalid_argument("Invalid version id specified"));
        };
        return match table.get((key.as_bytes(), rank))? {
            Some(v) => {
                let (version, payload) = records::decode_version(v.value())?;
                Ok(Some((rank, version, payload.to_vec())))
            }
            None => Ok(None),
        };
    }
    // The null version: at most one per key, anywhere in its list.
    for entry in table.range((key.as_bytes(), 0)..=(key.as_bytes(), u64::MAX))? {
        let (k, v) = entry?;
        let (version, payload) = records::decode_version(v.value())?;
        if VersionId::of_record(version.version_id()).is_null() {
            return Ok(Some((k.value().1, version, payload.to_vec())));
        }
    }
    Ok(None)
}

/// Removes one version, freeing its chunks and its share of the bucket's usage, and keeps the
/// key's current-version row in step.
pub(super) fn remove(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    (rank, version): (u64, &Version),
    at_ms: u64,
) -> StoreResult<()> {
    remove_row(txn, bucket, key, (rank, version), at_ms)?;
    match latest(txn, bucket, key)? {
        // It was not the latest: the current version did not change.
        Some((latest_rank, _)) if latest_rank < rank => Ok(()),
        next => current::sync(txn, bucket, key, next.as_ref().map(|(_, v)| v)),
    }
}

/// [`remove`] without the current-version row, for a write that replaces the row next.
fn remove_row(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    (rank, version): (u64, &Version),
    at_ms: u64,
) -> StoreResult<()> {
    txn.open_table(objects_table(&objects_table_name(bucket)))?.remove((key.as_bytes(), rank))?;
    discard_chunks(txn, version.chunks(), at_ms)?;
    if let Version::Object(o) = version {
        add_usage(txn, bucket, -i128::from(o.size_bytes), -1)?;
    }
    Ok(())
}

/// What a new version of a key replaces, as the bucket's versioning decides: nothing when
/// versioning is on, else the null version (if any). Reads only: a command checks all it
/// requires before it writes.
pub(super) struct Placement {
    state: Option<Versioning>,
    pub replaced: Option<(u64, Version)>,
}

impl Placement {
    /// The object the new version replaces, for quotas.
    pub fn replaced_object(&self) -> Option<&ObjectRecord> {
        self.replaced.as_ref().and_then(|(_, v)| v.object())
    }
}

/// Where a new version of `key` goes at `now_ns` in a bucket whose versioning is `state`; a
/// locked null version is never replaced.
pub(super) fn place(
    txn: &WriteTransaction,
    (bucket, key): (&str, &str),
    state: Option<Versioning>,
    now_ns: UnixNanos,
) -> StoreResult<Placement> {
    if state == Some(Versioning::Enabled) {
        return Ok(Placement { state, replaced: None });
    }
    let name = objects_table_name(bucket);
    let replaced = find(&txn.open_table(objects_table(&name))?, key, None)?.map(|(r, v, _)| (r, v));
    if replaced.as_ref().and_then(|(_, v)| v.object()).is_some_and(|o| o.locked(now_ns, false)) {
        return Err(StoreError::ObjectLocked);
    }
    Ok(Placement { state, replaced })
}

/// Writes the version `make` builds from its id where `placement` says, replacing the null
/// version it names; returns it. The id is the rank's when versioning is on, `null` when it is
/// suspended (so responses name the null version, as AWS's do), none in a bucket that never
/// had versioning.
pub(super) fn write(
    txn: &WriteTransaction,
    (bucket, key): (&str, &str),
    placement: Placement,
    make: impl FnOnce(Option<String>) -> Version,
    inline: &[u8],
    at_ms: u64,
) -> StoreResult<Version> {
    let rank = next_rank(txn, bucket, at_ms)?;
    let version = make(match placement.state {
        Some(Versioning::Enabled) => Some(version_id_of(rank)),
        Some(Versioning::Suspended) => Some("null".to_owned()),
        None => None,
    });
    if let Some((old_rank, old)) = &placement.replaced {
        remove_row(txn, bucket, key, (*old_rank, old), at_ms)?;
    }
    if let Version::Object(o) = &version {
        add_usage(txn, bucket, i128::from(o.size_bytes), 1)?;
        own_chunks(txn, o.chunks())?;
    }
    txn.open_table(objects_table(&objects_table_name(bucket)))?
        .insert((key.as_bytes(), rank), records::encode_version(&version, inline).as_slice())?;
    // The new version is the latest: it is what listings show now (or, a marker, hides).
    current::sync(txn, bucket, key, Some(&version))?;
    Ok(version)
}

/// A delete marker with `version_id`, made at `at_ms`.
pub(super) fn marker(version_id: Option<String>, at_ms: u64) -> Version {
    let last_modified_ns = i64::try_from(at_ms.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
    Version::DeleteMarker(DeleteMarker { version_id, last_modified_ns })
}

/// Applies a lifecycle action, once the commit has checked that what the worker saw still
/// holds (see [`crate::Expiry`]); `existed: false` when it no longer does.
pub(super) fn expire(
    txn: &WriteTransaction,
    (bucket, key): (&str, &str),
    expiry: crate::Expiry,
    at_ms: u64,
) -> StoreResult<MetaOutcome> {
    use crate::Expiry;
    let unchanged = MetaOutcome::Deleted(Deletion { existed: false, version: None, delete_marker: false });
    let Some((latest_rank, latest_version)) = latest(txn, bucket, key)? else { return Ok(unchanged) };
    let now = super::apply::at_ns(at_ms);
    let removed = |version: &Version| {
        MetaOutcome::Deleted(Deletion {
            existed: true,
            version: version.version_id().map(|id| VersionId::of_record(Some(id))),
            delete_marker: matches!(version, Version::DeleteMarker(_)),
        })
    };
    match expiry {
        Expiry::Current { rank } => {
            if latest_rank != rank || latest_version.object().is_none() {
                return Ok(unchanged);
            }
            let state = versioning(txn, bucket)?;
            if state.is_none() {
                remove(txn, bucket, key, (rank, &latest_version), at_ms)?;
                return Ok(removed(&latest_version));
            }
            let placement = place(txn, (bucket, key), state, now)?;
            let marker = write(txn, (bucket, key), placement, |id| marker(id, at_ms), &[], at_ms)?;
            let version = Some(VersionId::of_record(marker.version_id()));
            Ok(MetaOutcome::Deleted(Deletion { existed: true, version, delete_marker: true }))
        }
        Expiry::Noncurrent { rank } => {
            if latest_rank == rank {
                return Ok(unchanged);
            }
            let name = objects_table_name(bucket);
            let found = txn
                .open_table(objects_table(&name))?
                .get((key.as_bytes(), rank))?
                .map(|row| records::decode_version(row.value()).map(|(version, _)| version));
            let Some(version) = found.transpose()? else { return Ok(unchanged) };
            if version.object().is_some_and(|o| o.locked(now, false)) {
                return Err(StoreError::ObjectLocked);
            }
            remove(txn, bucket, key, (rank, &version), at_ms)?;
            Ok(removed(&version))
        }
        Expiry::LoneDeleteMarker { rank } => {
            if latest_rank != rank || latest_version.object().is_some() {
                return Ok(unchanged);
            }
            // The latest row has the smallest rank of its key; any other row ranks after it.
            let name = objects_table_name(bucket);
            let others = match rank.checked_add(1) {
                Some(next) => txn
                    .open_table(objects_table(&name))?
                    .range((key.as_bytes(), next)..=(key.as_bytes(), u64::MAX))?
                    .next()
                    .is_some(),
                None => false,
            };
            if others {
                return Ok(unchanged);
            }
            remove(txn, bucket, key, (rank, &latest_version), at_ms)?;
            Ok(removed(&latest_version))
        }
    }
}

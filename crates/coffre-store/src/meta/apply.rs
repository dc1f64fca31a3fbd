//! The write side of the metadata: how one command changes the database, inside the writer's
//! commit. Each function checks what it requires before it writes, so a refused command
//! leaves its commit batch intact.

use super::versions::{self, current_object};
use super::*;
use crate::VersionId;
use crate::records::Version;

/// A command's time in unix ns: the clock Object Lock is judged by (the server's, read when
/// the command was made, so that a retention never depends on when or where it is applied).
pub(super) fn at_ns(at_ms: u64) -> UnixNanos {
    i64::try_from(at_ms.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
}

fn bucket_record(txn: &WriteTransaction, bucket: &str) -> StoreResult<BucketRecord> {
    match txn.open_table(BUCKETS)?.get(bucket)? {
        Some(v) => Ok(records::decode::<BucketRecord>(v.value())?.0),
        None => Err(StoreError::NoSuchBucket),
    }
}

/// Now, in unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// Moves chunks from "referenced" to the garbage queue.
pub(super) fn discard_chunks(txn: &WriteTransaction, chunks: &[ChunkRef], at_ms: u64) -> StoreResult<()> {
    if chunks.is_empty() {
        return Ok(());
    }
    let mut owned = txn.open_table(CHUNKS)?;
    let mut garbage = txn.open_table(GARBAGE)?;
    let due = at_ms + GC_GRACE_MS;
    for c in chunks {
        owned.remove(&c.id.0[..])?;
        garbage.insert((due, &c.id.0[..]), ())?;
    }
    Ok(())
}

pub(super) fn own_chunks(txn: &WriteTransaction, chunks: &[ChunkRef]) -> StoreResult<()> {
    let mut owned = txn.open_table(CHUNKS)?;
    for c in chunks {
        owned.insert(&c.id.0[..], ())?;
    }
    Ok(())
}

fn bucket_exists(txn: &WriteTransaction, bucket: &str) -> StoreResult<bool> {
    Ok(txn.open_table(BUCKETS)?.get(bucket)?.is_some())
}

/// Refuses a write that would take the bucket past its quota (before anything changes).
fn check_quota(
    txn: &WriteTransaction,
    (bucket, quota): (&str, Option<records::Quota>),
    record: &ObjectRecord,
    previous: Option<&ObjectRecord>,
) -> StoreResult<()> {
    let Some(quota) = quota else { return Ok(()) };
    let usage = read_usage(&txn.open_table(USAGE)?, bucket)?;
    let bytes = usage.bytes.saturating_sub(previous.map_or(0, |p| p.size_bytes)).saturating_add(record.size_bytes);
    let objects = usage.objects + u64::from(previous.is_none());
    let over_bytes = quota.max_bytes.is_some_and(|max| bytes > max && record.size_bytes > 0);
    let over_objects = quota.max_objects.is_some_and(|max| objects > max);
    if over_bytes || over_objects {
        return Err(StoreError::QuotaExceeded { quota, usage });
    }
    Ok(())
}

pub(super) fn read_usage(table: &impl ReadableTable<&'static str, (u64, u64)>, bucket: &str) -> StoreResult<Usage> {
    Ok(table.get(bucket)?.map(|v| v.value()).map(|(bytes, objects)| Usage { bytes, objects }).unwrap_or_default())
}

pub(super) fn add_usage(txn: &WriteTransaction, bucket: &str, bytes: i128, objects: i64) -> StoreResult<()> {
    let mut table = txn.open_table(USAGE)?;
    let now = read_usage(&table, bucket)?;
    let apply = |v: u64, d: i128| u64::try_from((i128::from(v) + d).max(0)).unwrap_or(u64::MAX);
    table.insert(bucket, (apply(now.bytes, bytes), apply(now.objects, i128::from(objects))))?;
    Ok(())
}

/// Commits `record` as the key's new version (or its new null version, replacing the old one,
/// when versioning is not on), within the bucket's quota and with its lock settings, all
/// checked before anything is written. `settings` is the bucket's record, read once.
fn commit_object(
    txn: &WriteTransaction,
    (bucket, key): (&str, &str),
    settings: &BucketRecord,
    mut record: ObjectRecord,
    inline: &[u8],
    at_ms: u64,
) -> StoreResult<MetaOutcome> {
    match &settings.object_lock {
        None if record.retention.is_some() || record.legal_hold => {
            return Err(StoreError::MissingObjectLockConfiguration);
        }
        // The bucket's default retention, for a version whose write names none.
        Some(l) if record.retention.is_none() => {
            record.retention = l.default_retention.as_ref().map(|d| records::Retention {
                mode: d.mode,
                retain_until_ns: at_ns(at_ms).saturating_add(d.period.nanos()),
            });
        }
        _ => {}
    }
    let placement = versions::place(txn, (bucket, key), settings.versioning, at_ns(at_ms))?;
    check_quota(txn, (bucket, settings.quota), &record, placement.replaced_object())?;
    let make = |version_id| {
        record.version_id = version_id;
        Version::Object(Box::new(record))
    };
    match versions::write(txn, (bucket, key), placement, make, inline, at_ms)? {
        Version::Object(record) => Ok(MetaOutcome::Object(record)),
        Version::DeleteMarker(_) => Err(StoreError::Corrupt { what: "an object write made a delete marker".into() }),
    }
}

/// Deletes a key's version (`version`), or, without one, its current version: removed when
/// versioning was never on, hidden behind a new delete marker when it is.
fn delete_object(
    txn: &WriteTransaction,
    (bucket, key): (&str, &str),
    (version, bypass_governance): (Option<VersionId>, bool),
    condition: &WriteCondition,
    at_ms: u64,
) -> StoreResult<MetaOutcome> {
    let state = versions::versioning(txn, bucket)?;
    // Evaluated in the commit that deletes: no writer can slip in between.
    condition.check(current_object(txn, bucket, key)?.as_ref().map(|(_, r)| r))?;
    if let Some(version) = version {
        let name = objects_table_name(bucket);
        let id = match &version {
            VersionId::Null => None,
            VersionId::Assigned(id) => Some(id.as_str()),
        };
        let found = versions::find(&txn.open_table(objects_table(&name))?, key, id)?;
        let Some((rank, old, _)) = found else {
            return Ok(MetaOutcome::Deleted(Deletion { existed: false, version: Some(version), delete_marker: false }));
        };
        if old.object().is_some_and(|o| o.locked(at_ns(at_ms), bypass_governance)) {
            return Err(StoreError::ObjectLocked);
        }
        versions::remove(txn, bucket, key, (rank, &old), at_ms)?;
        let delete_marker = matches!(old, Version::DeleteMarker(_));
        return Ok(MetaOutcome::Deleted(Deletion { existed: true, version: Some(version), delete_marker }));
    }
    if state.is_none() {
        let Some((rank, old)) = versions::latest(txn, bucket, key)? else {
            return Ok(MetaOutcome::Deleted(Deletion { existed: false, version: None, delete_marker: false }));
        };
        versions::remove(txn, bucket, key, (rank, &old), at_ms)?;
        return Ok(MetaOutcome::Deleted(Deletion { existed: true, version: None, delete_marker: false }));
    }
    let placement = versions::place(txn, (bucket, key), state, at_ns(at_ms))?;
    let marker = versions::write(txn, (bucket, key), placement, |id| versions::marker(id, at_ms), &[], at_ms)?;
    let version = Some(VersionId::of_record(marker.version_id()));
    Ok(MetaOutcome::Deleted(Deletion { existed: true, version, delete_marker: true }))
}

pub(super) fn apply(txn: &WriteTransaction, op: MetaOp, at_ms: u64) -> StoreResult<MetaOutcome> {
    match op {
        MetaOp::CreateBucket { bucket, record } => {
            let mut table = txn.open_table(BUCKETS)?;
            if table.get(bucket.as_str())?.is_some() {
                return Err(StoreError::BucketAlreadyOwnedByYou);
            }
            table.insert(bucket.as_str(), records::encode(&record, &[]).as_slice())?;
            drop(table);
            txn.open_table(objects_table(&objects_table_name(&bucket)))?;
            txn.open_table(super::current::current_table(&super::current::current_table_name(&bucket)))?;
            Ok(MetaOutcome::Done)
        }
        MetaOp::DeleteBucket { bucket } => delete_bucket(txn, &bucket, at_ms),
        MetaOp::UpdateBucket { bucket, change } => {
            let mut table = txn.open_table(BUCKETS)?;
            let mut record = match table.get(bucket.as_str())? {
                Some(v) => records::decode::<BucketRecord>(v.value())?.0,
                None => return Err(StoreError::NoSuchBucket),
            };
            change.apply(&mut record)?;
            table.insert(bucket.as_str(), records::encode(&record, &[]).as_slice())?;
            Ok(MetaOutcome::Done)
        }
        MetaOp::ForgetAuditIntents { mut keys } => {
            let mut table = txn.open_table(AUDIT_INTENTS)?;
            keys.sort_unstable();
            for key in keys {
                table.remove(key.as_str())?;
            }
            Ok(MetaOutcome::Done)
        }
        MetaOp::WriteIam { changes } => {
            let mut table = txn.open_table(IAM)?;
            for (key, value) in changes {
                match value {
                    Some(v) => table.insert(key.as_str(), v.0.as_slice())?,
                    None => table.remove(key.as_str())?,
                };
            }
            Ok(MetaOutcome::Done)
        }
        MetaOp::PutObject { bucket, key, record, inline, condition } => {
            let settings = bucket_record(txn, &bucket)?;
            condition.check(current_object(txn, &bucket, &key)?.as_ref().map(|(_, r)| r))?;
            commit_object(txn, (&bucket, &key), &settings, *record, &inline.0, at_ms)
        }
        MetaOp::DeleteObject { bucket, key, condition, version, bypass_governance } => {
            delete_object(txn, (&bucket, &key), (version, bypass_governance), &condition, at_ms)
        }
        MetaOp::Expire { bucket, key, expiry } => versions::expire(txn, (&bucket, &key), expiry, at_ms),
        MetaOp::UpdateAttributes { bucket, key, change, version } => {
            let lock_enabled = bucket_record(txn, &bucket)?.object_lock.is_some();
            let name = objects_table_name(&bucket);
            let mut table = txn.open_table(objects_table(&name))?;
            let found = match &version {
                None => versions::latest_in(&table, &key)?,
                Some(v) => versions::find(&table, &key, v.assigned())?,
            };
            let (rank, mut record, inline) = match found {
                Some((rank, Version::Object(record), inline)) => (rank, *record, inline),
                Some((_, Version::DeleteMarker(m), _)) => {
                    return Err(StoreError::DeleteMarker { version_id: m.version_id, named: version.is_some() });
                }
                None if version.is_some() => return Err(StoreError::NoSuchVersion),
                None => return Err(StoreError::NoSuchKey),
            };
            change.apply(&mut record, lock_enabled, at_ns(at_ms))?;
            let row = records::encode_version(&Version::Object(Box::new(record)), &inline);
            table.insert((key.as_bytes(), rank), row.as_slice())?;
            Ok(MetaOutcome::Done)
        }
        MetaOp::CreateUpload { bucket, key, upload_id, record } => {
            let lock_enabled = bucket_record(txn, &bucket)?.object_lock.is_some();
            if !lock_enabled && (record.retention.is_some() || record.legal_hold) {
                return Err(StoreError::MissingObjectLockConfiguration);
            }
            txn.open_table(UPLOADS)?.insert(
                (bucket.as_str(), key.as_bytes(), upload_id.as_str()),
                records::encode(&record, &[]).as_slice(),
            )?;
            Ok(MetaOutcome::Done)
        }
        MetaOp::PutPart { bucket, key, upload_id, part_number, record } => {
            if txn.open_table(UPLOADS)?.get((bucket.as_str(), key.as_bytes(), upload_id.as_str()))?.is_none() {
                return Err(StoreError::NoSuchUpload);
            }
            let mut parts = txn.open_table(PARTS)?;
            let old = match parts.get((upload_id.as_str(), part_number))? {
                Some(v) => Some(records::decode::<PartRecord>(v.value())?.0),
                None => None,
            };
            parts.insert((upload_id.as_str(), part_number), records::encode(&record, &[]).as_slice())?;
            drop(parts);
            if let Some(old) = old {
                discard_chunks(txn, std::slice::from_ref(&old.chunk), at_ms)?;
            }
            own_chunks(txn, std::slice::from_ref(&record.chunk))?;
            Ok(MetaOutcome::Done)
        }
        MetaOp::CompleteUpload { bucket, key, upload_id, request, now_ns } => {
            complete_upload(txn, &bucket, &key, &upload_id, &request, now_ns, at_ms)
        }
        MetaOp::AbortUpload { bucket, key, upload_id } => {
            if !bucket_exists(txn, &bucket)? {
                return Err(StoreError::NoSuchBucket);
            }
            let removed =
                txn.open_table(UPLOADS)?.remove((bucket.as_str(), key.as_bytes(), upload_id.as_str()))?.is_some();
            if !removed {
                return Err(StoreError::NoSuchUpload);
            }
            drop_parts(txn, &upload_id, &[], at_ms)?;
            Ok(MetaOutcome::Done)
        }
        MetaOp::ReplaceKeys { bucket, updates } => {
            let name = objects_table_name(&bucket);
            let mut table = txn.open_table(objects_table(&name))?;
            let mut replaced = 0u64;
            for u in updates {
                let current = match table.get((u.key.as_bytes(), u.rank))? {
                    Some(v) => match records::decode_version(v.value())? {
                        (Version::Object(record), payload) => (*record, payload.to_vec()),
                        (Version::DeleteMarker(_), _) => continue,
                    },
                    None => continue,
                };
                let (mut record, payload) = current;
                let same_data = record.chunks().iter().map(|c| c.id).eq(u.layout_chunk_ids());
                if record.last_modified_ns != u.last_modified_ns || !same_data {
                    continue; // overwritten meanwhile: the new version has new keys anyway
                }
                record.layout = u.layout;
                let row = records::encode_version(&Version::Object(Box::new(record)), &payload);
                table.insert((u.key.as_bytes(), u.rank), row.as_slice())?;
                replaced += 1;
            }
            Ok(MetaOutcome::Count(replaced))
        }
        MetaOp::Shred { bucket, versions, key_id } => {
            let name = objects_table_name(&bucket);
            let mut shredded = 0u64;
            for (key, rank) in versions {
                let found = match txn.open_table(objects_table(&name))?.get((key.as_bytes(), rank))? {
                    Some(v) => records::decode_version(v.value())?.0,
                    None => continue,
                };
                let Version::Object(record) = found else { continue };
                if !record.uses_key(&key_id) {
                    continue;
                }
                // The record stays (with its wrapped keys), so a read fails on the destroyed key
                // with a clear error instead of "no such key"; its bytes, undecryptable for good,
                // are freed. Discarding a chunk twice (on a later delete) is harmless.
                discard_chunks(txn, record.chunks(), at_ms)?;
                let row = records::encode_version(&Version::Object(record), &[]);
                txn.open_table(objects_table(&name))?.insert((key.as_bytes(), rank), row.as_slice())?;
                shredded += 1;
            }
            Ok(MetaOutcome::Count(shredded))
        }
        MetaOp::ForgetGarbage { entries } => {
            let mut garbage = txn.open_table(GARBAGE)?;
            for (t, id) in entries {
                garbage.remove((t, &id.0[..]))?;
            }
            Ok(MetaOutcome::Done)
        }
    }
}

/// Removes all part records of an upload; chunks of parts not in `keep` become garbage.
fn drop_parts(txn: &WriteTransaction, upload_id: &str, keep: &[ChunkId], at_ms: u64) -> StoreResult<()> {
    let mut parts = txn.open_table(PARTS)?;
    let mut discarded = Vec::new();
    let mut numbers = Vec::new();
    for entry in parts.range((upload_id, 0)..=(upload_id, u32::MAX))? {
        let (k, v) = entry?;
        let part = records::decode::<PartRecord>(v.value())?.0;
        numbers.push(k.value().1);
        if !keep.contains(&part.chunk.id) {
            discarded.push(part.chunk.clone());
        }
    }
    for n in numbers {
        parts.remove((upload_id, n))?;
    }
    drop(parts);
    discard_chunks(txn, &discarded, at_ms)
}

fn delete_bucket(txn: &WriteTransaction, bucket: &str, at_ms: u64) -> StoreResult<MetaOutcome> {
    if !bucket_exists(txn, bucket)? {
        return Err(StoreError::NoSuchBucket);
    }
    let name = objects_table_name(bucket);
    if !txn.open_table(objects_table(&name))?.is_empty()? {
        return Err(StoreError::BucketNotEmpty);
    }
    // Uploads still in progress are aborted with the bucket, as S3 does.
    let mut ids = Vec::new();
    {
        let uploads = txn.open_table(UPLOADS)?;
        let start: (&str, &[u8], &str) = (bucket, &[], "");
        for entry in uploads.range(start..)? {
            let (k, _) = entry?;
            let (b, key, id) = k.value();
            if b != bucket {
                break;
            }
            ids.push((key.to_vec(), id.to_owned()));
        }
    }
    for (key, id) in ids {
        txn.open_table(UPLOADS)?.remove((bucket, key.as_slice(), id.as_str()))?;
        drop_parts(txn, &id, &[], at_ms)?;
    }
    txn.delete_table(objects_table(&name))?;
    txn.delete_table(super::current::current_table(&super::current::current_table_name(bucket)))?;
    txn.open_table(versions::SEQUENCES)?.remove(bucket)?;
    txn.open_table(BUCKETS)?.remove(bucket)?;
    txn.open_table(USAGE)?.remove(bucket)?;
    Ok(MetaOutcome::Done)
}

fn complete_upload(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    upload_id: &str,
    request: &CompleteRequest,
    now_ns: UnixNanos,
    at_ms: u64,
) -> StoreResult<MetaOutcome> {
    let settings = bucket_record(txn, bucket)?;
    let parts_sha256 = completed_parts_sha256(&request.parts);
    let upload = match txn.open_table(UPLOADS)?.get((bucket, key.as_bytes(), upload_id))? {
        Some(v) => records::decode::<UploadRecord>(v.value())?.0,
        None => {
            // The same Complete again (a retry after a timeout): the object it made, unchanged,
            // as AWS answers. Another part list for a completed upload finds no upload.
            let done = current_object(txn, bucket, key)?.map(|(_, r)| r).filter(|r| {
                r.completed_upload.as_ref().is_some_and(|c| c.upload_id == upload_id && c.parts_sha256 == parts_sha256)
            });
            return match done {
                Some(record) => Ok(MetaOutcome::Object(Box::new(record))),
                None => Err(StoreError::NoSuchUpload),
            };
        }
    };
    if request.parts.is_empty() {
        return Err(StoreError::invalid_argument("You must specify at least one part"));
    }
    let mut chosen: Vec<PartRecord> = Vec::with_capacity(request.parts.len());
    {
        let parts = txn.open_table(PARTS)?;
        let mut previous = 0u32;
        for p in &request.parts {
            if p.part_number <= previous {
                return Err(StoreError::InvalidPartOrder);
            }
            previous = p.part_number;
            let part = match parts.get((upload_id, p.part_number))? {
                Some(v) => records::decode::<PartRecord>(v.value())?.0,
                None => return Err(StoreError::InvalidPart),
            };
            if part.md5_hex != p.etag.trim_matches('"') {
                return Err(StoreError::InvalidPart);
            }
            if let (Some(sent), Some(ours)) = (&p.checksum_base64, &part.checksum_base64)
                && sent != ours
            {
                return Err(StoreError::InvalidPart);
            }
            chosen.push(part);
        }
    }
    let last = chosen.len() - 1;
    for (i, part) in chosen.iter().enumerate() {
        if i != last && part.size_bytes < PART_SIZE_BYTES_MIN {
            return Err(StoreError::EntityTooSmall { part_number: request.parts.get(i).map_or(0, |p| p.part_number) });
        }
    }
    let size_bytes: u64 = chosen.iter().map(|p| p.size_bytes).sum();
    // Checked before anything is written: the upload stays, and no object exists past the limit.
    if size_bytes > OBJECT_SIZE_BYTES_MAX {
        return Err(StoreError::EntityTooLarge);
    }
    if let Some(expected) = request.expected_size_bytes
        && expected != size_bytes
    {
        return Err(StoreError::invalid_argument(format!(
            "The provided 'x-amz-mp-object-size' header value {expected} does not match what was computed: {size_bytes}"
        )));
    }
    let checksum = multipart_checksum(&upload, &chosen, request)?;
    request.condition.check(current_object(txn, bucket, key)?.as_ref().map(|(_, r)| r))?;

    let mut md5s = Vec::with_capacity(chosen.len());
    for p in &chosen {
        let mut m = [0u8; 16];
        hex::decode_to_slice(&p.md5_hex, &mut m).map_err(|_| StoreError::Corrupt { what: "part md5".into() })?;
        md5s.push(m);
    }
    let record = ObjectRecord {
        version_id: None,
        size_bytes,
        etag: checksum::multipart_etag(&md5s),
        last_modified_ns: now_ns,
        attributes: upload.attributes.clone(),
        checksum: Some(checksum),
        part_sizes: chosen.iter().map(|p| p.size_bytes).collect(),
        layout: DataLayout::Chunks(chosen.iter().map(|p| p.chunk.clone()).collect()),
        encryption: upload.encryption.clone(),
        completed_upload: Some(Box::new(records::CompletedUpload { upload_id: upload_id.to_owned(), parts_sha256 })),
        retention: upload.retention.clone(),
        legal_hold: upload.legal_hold,
    };
    // The object first: it checks its quota and lock before writing, so a refusal leaves the
    // upload as it was. The kept chunks move from the parts to the object, which owns them.
    let committed = commit_object(txn, (bucket, key), &settings, record, &[], at_ms)?;
    let kept: Vec<ChunkId> = chosen.iter().map(|p| p.chunk.id).collect();
    txn.open_table(UPLOADS)?.remove((bucket, key.as_bytes(), upload_id))?;
    drop_parts(txn, upload_id, &kept, at_ms)?;
    Ok(committed)
}

/// What identifies a Complete's part list: SHA-256 of `number:etag` lines, in order.
fn completed_parts_sha256(parts: &[CompletedPart]) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for p in parts {
        hasher.update(format!("{}:{}\n", p.part_number, p.etag.trim_matches('"')).as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The checksum of a completed multipart object: the upload's algorithm and type, or a
/// full-object CRC64NVME when the upload declared none.
fn multipart_checksum(
    upload: &UploadRecord,
    parts: &[PartRecord],
    request: &CompleteRequest,
) -> StoreResult<checksum::Checksum> {
    let (algorithm, kind) = match upload.checksum_algorithm {
        Some(a) => {
            let default_kind =
                if a == ChecksumAlgorithm::Crc64Nvme { ChecksumType::FullObject } else { ChecksumType::Composite };
            (a, upload.checksum_type.unwrap_or(default_kind))
        }
        None => (ChecksumAlgorithm::Crc64Nvme, ChecksumType::FullObject),
    };
    if let Some(t) = request.checksum_type
        && upload.checksum_algorithm.is_some()
        && t != kind
    {
        return Err(StoreError::invalid_argument(format!(
            "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
            kind.name()
        )));
    }
    let raws: Vec<Vec<u8>> = parts
        .iter()
        .map(|p| match (&p.checksum_base64, algorithm) {
            (_, ChecksumAlgorithm::Crc64Nvme) => Ok(p.crc64nvme.to_be_bytes().to_vec()),
            (Some(b64), a) => checksum::decode_checksum(a, b64),
            (None, _) => Err(StoreError::InvalidPart),
        })
        .collect::<StoreResult<_>>()?;
    let inputs: Vec<PartChecksumInput<'_>> =
        raws.iter().zip(parts).map(|(raw, p)| PartChecksumInput { raw, size_bytes: p.size_bytes }).collect();
    let combined = checksum::combine_parts(algorithm, kind, &inputs)?;
    if let Some((a, expected)) = &request.expected_checksum
        && *a == algorithm
        && kind == ChecksumType::FullObject
        && *expected != combined.value
    {
        return Err(StoreError::BadDigest { algorithm: algorithm.name() });
    }
    Ok(combined)
}

//! The table of current versions beside each bucket's table of all versions: one row per key
//! whose latest version is an object (not a delete marker), holding only what a listing
//! shows, in a small binary form. ListObjects reads only these rows: it never steps over old
//! versions or delete markers, and never decodes a full record or an inline payload.
//!
//! Every change to a key's version list goes through [`super::versions`], which keeps this
//! table in step in the same commit. A data directory written before the table existed gets
//! it built once, at open ([`build_missing`]).

use super::*;
use crate::checksum::{Checksum, ChecksumAlgorithm, ChecksumType};

/// Format of a current-version row.
const CURRENT_ROW_FORMAT_V1: u8 = 1;

/// `meta_format` → the schema steps this database has been brought to.
const META_FORMAT: TableDefinition<&str, u64> = TableDefinition::new("meta_format");
/// The step that added the current-version tables.
const CURRENT_TABLES_STEP: &str = "current_tables";

pub(super) fn current_table_name(bucket: &str) -> String {
    format!("current/{bucket}")
}

pub(super) fn current_table(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

/// What a listing shows of a key's current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Its size in bytes.
    pub size_bytes: u64,
    /// Its ETag, without quotes.
    pub etag: String,
    /// When it was written.
    pub last_modified_ns: UnixNanos,
    /// Its additional checksum's algorithm and type, if it has one.
    pub checksum: Option<(ChecksumAlgorithm, ChecksumType)>,
    /// Its version id (`None`: a bucket that never had versioning).
    pub version_id: Option<String>,
}

impl ListedObject {
    /// What a listing shows of `record`.
    pub(crate) fn of(record: &ObjectRecord) -> ListedObject {
        ListedObject {
            size_bytes: record.size_bytes,
            etag: record.etag.clone(),
            last_modified_ns: record.last_modified_ns,
            checksum: record.checksum.as_ref().map(|c: &Checksum| (c.algorithm, c.kind)),
            version_id: record.version_id.clone(),
        }
    }
}

const ALGORITHMS: [ChecksumAlgorithm; 5] = [
    ChecksumAlgorithm::Crc32,
    ChecksumAlgorithm::Crc32c,
    ChecksumAlgorithm::Crc64Nvme,
    ChecksumAlgorithm::Sha1,
    ChecksumAlgorithm::Sha256,
];

fn put_text(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(t) => {
            // Invariant: ETags and version ids are tens of bytes, far below u16::MAX (none).
            let len = u16::try_from(t.len()).unwrap_or(u16::MAX - 1).min(u16::MAX - 1);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&t.as_bytes()[..usize::from(len)]);
        }
        None => out.extend_from_slice(&u16::MAX.to_le_bytes()),
    }
}

/// Encodes a current-version row: format, size, last-modified, checksum (algorithm and type
/// in one byte; 0: none), ETag and version id (u16 length-prefixed; `u16::MAX`: none).
pub(super) fn encode(o: &ListedObject) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 8 + 8 + 1 + 2 + o.etag.len() + 2 + 16);
    out.push(CURRENT_ROW_FORMAT_V1);
    out.extend_from_slice(&o.size_bytes.to_le_bytes());
    out.extend_from_slice(&o.last_modified_ns.to_le_bytes());
    let checksum = o.checksum.map_or(0u8, |(a, k)| {
        let a = ALGORITHMS.iter().position(|x| *x == a).map_or(0, |i| i + 1);
        // Invariant: five algorithms fit in the low nibble.
        #[allow(clippy::cast_possible_truncation)]
        let a = a as u8;
        a | if k == ChecksumType::Composite { 0x10 } else { 0 }
    });
    out.push(checksum);
    put_text(&mut out, Some(&o.etag));
    put_text(&mut out, o.version_id.as_deref());
    out
}

/// Decodes a current-version row.
pub(super) fn decode(bytes: &[u8]) -> StoreResult<ListedObject> {
    let corrupt = || StoreError::Corrupt { what: "current-version row".into() };
    let mut r = Reader(bytes);
    if r.take(1).ok_or_else(corrupt)? != [CURRENT_ROW_FORMAT_V1] {
        return Err(StoreError::Corrupt { what: "current-version row: unknown format version".into() });
    }
    let size_bytes = u64::from_le_bytes(r.array().ok_or_else(corrupt)?);
    let last_modified_ns = i64::from_le_bytes(r.array().ok_or_else(corrupt)?);
    let [c] = r.array().ok_or_else(corrupt)?;
    let checksum = match c & 0x0f {
        0 => None,
        n => {
            let algorithm = *ALGORITHMS.get(usize::from(n) - 1).ok_or_else(corrupt)?;
            Some((algorithm, if c & 0x10 != 0 { ChecksumType::Composite } else { ChecksumType::FullObject }))
        }
    };
    let etag = r.text().ok_or_else(corrupt)?.ok_or_else(corrupt)?;
    let version_id = r.text().ok_or_else(corrupt)?;
    Ok(ListedObject { size_bytes, etag, last_modified_ns, checksum, version_id })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn text(&mut self) -> Option<Option<String>> {
        let len = u16::from_le_bytes(self.array()?);
        if len == u16::MAX {
            return Some(None);
        }
        let bytes = self.take(usize::from(len))?;
        Some(Some(String::from_utf8(bytes.to_vec()).ok()?))
    }
}

/// Brings `key`'s current-version row in step with its version list, whose latest version is
/// now `latest` (`None`: no version left).
pub(super) fn sync(txn: &WriteTransaction, bucket: &str, key: &str, latest: Option<&Version>) -> StoreResult<()> {
    let name = current_table_name(bucket);
    let mut table = txn.open_table(current_table(&name))?;
    match latest.and_then(Version::object) {
        Some(record) => {
            table.insert(key.as_bytes(), encode(&ListedObject::of(record)).as_slice())?;
        }
        None => {
            table.remove(key.as_bytes())?;
        }
    }
    Ok(())
}

/// Builds the current-version table of every bucket that has none (a data directory from a
/// release before them), once: the step is recorded in `txn`, the commit that opens the
/// database.
pub(super) fn build_missing(txn: &WriteTransaction) -> StoreResult<()> {
    if txn.open_table(META_FORMAT)?.get(CURRENT_TABLES_STEP)?.is_some() {
        return Ok(());
    }
    let buckets: Vec<String> = {
        let table = txn.open_table(BUCKETS)?;
        table.iter()?.map(|e| e.map(|(k, _)| k.value().to_owned())).collect::<Result<_, _>>()?
    };
    for bucket in buckets {
        let name = objects_table_name(&bucket);
        let versions = txn.open_table(objects_table(&name))?;
        let current_name = current_table_name(&bucket);
        let mut current = txn.open_table(current_table(&current_name))?;
        let mut last: Option<Vec<u8>> = None;
        for entry in versions.iter()? {
            let (k, v) = entry?;
            let key = k.value().0;
            if last.as_deref() == Some(key) {
                continue;
            }
            last = Some(key.to_vec());
            if let Version::Object(record) = records::decode_version(v.value())?.0 {
                current.insert(key, encode(&ListedObject::of(&record)).as_slice())?;
            }
        }
    }
    txn.open_table(META_FORMAT)?.insert(CURRENT_TABLES_STEP, 1)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row as v1 wrote it: it must keep decoding to the same values.
    const FROZEN_V1: &str = "01050000000000000007000000000000001320003564343134303261626334623261373662393731396439313130313763353932100066666666653961306336653766336666";

    fn sample() -> ListedObject {
        ListedObject {
            size_bytes: 5,
            etag: "5d41402abc4b2a76b9719d911017c592".into(),
            last_modified_ns: 7,
            checksum: Some((ChecksumAlgorithm::Crc64Nvme, ChecksumType::Composite)),
            version_id: Some("ffffe9a0c6e7f3ff".into()),
        }
    }

    #[test]
    fn rows_round_trip_and_the_v1_form_still_decodes() {
        let row = encode(&sample());
        assert_eq!(decode(&row).ok(), Some(sample()));
        let bare = ListedObject { checksum: None, version_id: None, ..sample() };
        assert_eq!(decode(&encode(&bare)).ok(), Some(bare));
        let frozen = hex::decode(FROZEN_V1).unwrap_or_default();
        assert_eq!(decode(&frozen).ok(), Some(sample()), "encoded now: {}", hex::encode(&row));
        assert!(decode(&row[..row.len() - 1]).is_err(), "a cut row is refused");
        assert!(decode(&[2]).is_err(), "a later format is not guessed at");
    }
}

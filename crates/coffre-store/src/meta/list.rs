//! Listings: one page of a bucket's keys and common prefixes, by range scans that skip a
//! rolled-up prefix in one seek.

use super::*;
use crate::records::Version;

/// What a listing asks for.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only keys that start with this.
    pub prefix: String,
    /// Roll keys up to common prefixes at the first occurrence of this after the prefix.
    pub delimiter: Option<String>,
    /// Start after this key (exclusive): a marker, `start-after` or a continuation token.
    pub start_after: Option<String>,
    /// Most entries (keys plus common prefixes) to return.
    pub max_keys: usize,
}

/// An entry of a listing.
#[derive(Debug, Clone)]
pub enum ListEntry {
    /// An object's current version.
    Object {
        /// Its key.
        key: String,
        /// What a listing shows of it.
        object: super::current::ListedObject,
    },
    /// A common prefix.
    CommonPrefix(String),
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// Entries in key order.
    pub entries: Vec<ListEntry>,
    /// Whether more entries follow.
    pub truncated: bool,
    /// Table rows read to build the page: the cost of the listing, which must follow what is
    /// returned rather than the size of the bucket.
    pub rows_examined: usize,
}

impl ListPage {
    /// The last key or common prefix returned: where the next page starts after.
    pub fn last_position(&self) -> Option<&str> {
        self.entries.last().map(|e| match e {
            ListEntry::Object { key, .. } => key.as_str(),
            ListEntry::CommonPrefix(p) => p.as_str(),
        })
    }
}

/// The smallest byte string greater than every string that starts with `prefix`.
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < u8::MAX {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

/// The common prefix `key` rolls up to, if any.
fn common_prefix<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    let pos = rest.find(delimiter)?;
    key.get(..prefix.len() + pos + delimiter.len())
}

pub(super) fn list_table<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    query: &ListQuery,
) -> StoreResult<ListPage> {
    let prefix = query.prefix.as_str();
    let delimiter = query.delimiter.as_deref();
    let mut page = ListPage::default();
    // Where to seek next. A start-after inside a common prefix skips that whole prefix, as
    // the prefix was already returned on an earlier page.
    let mut cursor: Vec<u8> = prefix.as_bytes().to_vec();
    let mut exclusive = false;
    if let Some(after) = query.start_after.as_deref().filter(|a| a.as_bytes() >= prefix.as_bytes()) {
        match common_prefix(after, prefix, delimiter) {
            Some(cp) => match prefix_successor(cp.as_bytes()) {
                Some(next) => cursor = next,
                None => return Ok(page),
            },
            None => {
                cursor = after.as_bytes().to_vec();
                exclusive = true;
            }
        }
    }
    loop {
        let start: Bound<&[u8]> =
            if exclusive { Bound::Excluded(cursor.as_slice()) } else { Bound::Included(cursor.as_slice()) };
        let mut reseek: Option<Vec<u8>> = None;
        for entry in table.range::<&[u8]>((start, Bound::Unbounded))? {
            let (k, v) = entry?;
            page.rows_examined += 1;
            let key_bytes = k.value();
            if !key_bytes.starts_with(prefix.as_bytes()) {
                return Ok(page);
            }
            if page.entries.len() == query.max_keys {
                page.truncated = true;
                return Ok(page);
            }
            let key = String::from_utf8_lossy(key_bytes).into_owned();
            if let Some(cp) = common_prefix(&key, prefix, delimiter) {
                page.entries.push(ListEntry::CommonPrefix(cp.to_owned()));
                match prefix_successor(cp.as_bytes()) {
                    Some(next) => reseek = Some(next),
                    None => return Ok(page),
                }
                break;
            }
            page.entries.push(ListEntry::Object { key, object: super::current::decode(v.value())? });
        }
        match reseek {
            Some(next) => {
                cursor = next;
                exclusive = false;
            }
            None => return Ok(page),
        }
    }
}

/// What a version listing (ListObjectVersions) asks for.
#[derive(Debug, Clone, Default)]
pub struct VersionQuery {
    /// Only keys that start with this.
    pub prefix: String,
    /// Roll keys up to common prefixes at the first occurrence of this after the prefix.
    pub delimiter: Option<String>,
    /// Start after this key: after all its versions, or with `version_id_marker` after that
    /// version of it.
    pub key_marker: Option<String>,
    /// See `key_marker` (`null`: the null version).
    pub version_id_marker: Option<String>,
    /// Most entries (versions, delete markers and common prefixes) to return.
    pub max_keys: usize,
}

/// An entry of a version listing.
#[derive(Debug, Clone)]
pub enum VersionEntry {
    /// A version or delete marker.
    Version {
        /// Its key.
        key: String,
        /// The version.
        version: Version,
        /// Whether it is the key's latest.
        is_latest: bool,
    },
    /// A common prefix.
    CommonPrefix(String),
}

/// One page of a version listing.
#[derive(Debug, Clone, Default)]
pub struct VersionPage {
    /// Entries in AWS's order: keys ascending, each key's versions newest first.
    pub entries: Vec<VersionEntry>,
    /// Whether more entries follow.
    pub truncated: bool,
    /// Table rows read (see [`ListPage::rows_examined`]).
    pub rows_examined: usize,
}

pub(super) fn list_versions_table<T: ReadableTable<VersionKey<'static>, &'static [u8]>>(
    table: &T,
    query: &VersionQuery,
) -> StoreResult<VersionPage> {
    let prefix = query.prefix.as_str();
    let delimiter = query.delimiter.as_deref();
    let mut page = VersionPage::default();
    // Where to start: (key, rank, exclusive). The rows of the marker's key after the version
    // marker are not its latest.
    let mut cursor: (Vec<u8>, u64, bool) = (prefix.as_bytes().to_vec(), 0, false);
    let mut last_key: Option<Vec<u8>> = None;
    if let Some(marker) = query.key_marker.as_deref().filter(|m| !m.is_empty() && m.as_bytes() >= prefix.as_bytes()) {
        let version_marker = query.version_id_marker.as_deref().filter(|v| !v.is_empty());
        match (common_prefix(marker, prefix, delimiter), version_marker) {
            (Some(cp), _) => match prefix_successor(cp.as_bytes()) {
                Some(next) => cursor = (next, 0, false),
                None => return Ok(page),
            },
            (None, None) => cursor = (marker.as_bytes().to_vec(), u64::MAX, true),
            (None, Some(id)) => {
                let rank = match id {
                    "null" => versions::find(table, marker, None)?.map(|(rank, _, _)| rank),
                    _ => versions::rank_of(id),
                };
                let rank = rank.ok_or_else(|| StoreError::invalid_argument("Invalid version id marker"))?;
                cursor = (marker.as_bytes().to_vec(), rank, true);
                last_key = Some(marker.as_bytes().to_vec());
            }
        }
    }
    loop {
        let start: Bound<VersionKey<'_>> = if cursor.2 {
            Bound::Excluded((cursor.0.as_slice(), cursor.1))
        } else {
            Bound::Included((cursor.0.as_slice(), cursor.1))
        };
        let mut reseek: Option<Vec<u8>> = None;
        for entry in table.range::<VersionKey<'_>>((start, Bound::Unbounded))? {
            let (k, v) = entry?;
            page.rows_examined += 1;
            let (key_bytes, _rank) = k.value();
            if !key_bytes.starts_with(prefix.as_bytes()) {
                return Ok(page);
            }
            if page.entries.len() == query.max_keys {
                page.truncated = true;
                return Ok(page);
            }
            let key = String::from_utf8_lossy(key_bytes).into_owned();
            if let Some(cp) = common_prefix(&key, prefix, delimiter) {
                page.entries.push(VersionEntry::CommonPrefix(cp.to_owned()));
                match prefix_successor(cp.as_bytes()) {
                    Some(next) => reseek = Some(next),
                    None => return Ok(page),
                }
                break;
            }
            let is_latest = last_key.as_deref() != Some(key_bytes);
            last_key = Some(key_bytes.to_vec());
            let (version, _) = records::decode_version(v.value())?;
            page.entries.push(VersionEntry::Version { key, version, is_latest });
        }
        match reseek {
            Some(next) => cursor = (next, 0, false),
            None => return Ok(page),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor_and_common_prefix() {
        assert_eq!(prefix_successor(b"a/"), Some(b"a0".to_vec()));
        assert_eq!(prefix_successor(&[0xff]), None);
        assert_eq!(common_prefix("photos/2024/a.jpg", "photos/", Some("/")), Some("photos/2024/"));
        assert_eq!(common_prefix("photos/a.jpg", "photos/", Some("/")), None);
        assert_eq!(common_prefix("a.jpg", "", None), None);
    }
}

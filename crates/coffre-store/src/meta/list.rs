//! Listings: one page of a bucket's keys and common prefixes, by range scans that skip a
//! rolled-up prefix in one seek.

use super::*;

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
        /// Its record.
        record: Box<ObjectRecord>,
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

pub(super) fn list_table<T: ReadableTable<VersionKey<'static>, &'static [u8]>>(
    table: &T,
    query: &ListQuery,
) -> StoreResult<ListPage> {
    let prefix = query.prefix.as_str();
    let delimiter = query.delimiter.as_deref();
    let mut page = ListPage::default();
    // Where to seek next. A start-after inside a common prefix skips that whole prefix, as
    // the prefix was already returned on an earlier page.
    let mut cursor: Vec<u8> = prefix.as_bytes().to_vec();
    let mut exclusive: Option<Vec<u8>> = None;
    if let Some(after) = query.start_after.as_deref().filter(|a| a.as_bytes() >= prefix.as_bytes()) {
        match common_prefix(after, prefix, delimiter) {
            Some(cp) => match prefix_successor(cp.as_bytes()) {
                Some(next) => cursor = next,
                None => return Ok(page),
            },
            None => {
                cursor = after.as_bytes().to_vec();
                exclusive = Some(cursor.clone());
            }
        }
    }
    loop {
        let start: Bound<VersionKey<'_>> = match &exclusive {
            Some(k) => Bound::Excluded((k.as_slice(), u64::MAX)),
            None => Bound::Included((cursor.as_slice(), 0)),
        };
        let mut range = table.range::<VersionKey<'_>>((start, Bound::Unbounded))?;
        let mut reseek: Option<Vec<u8>> = None;
        let mut last_key: Option<Vec<u8>> = None;
        for entry in range.by_ref() {
            let (k, v) = entry?;
            page.rows_examined += 1;
            let (key_bytes, _rank) = k.value();
            if !key_bytes.starts_with(prefix.as_bytes()) {
                return Ok(page);
            }
            if last_key.as_deref() == Some(key_bytes) {
                continue; // an older version of a key already seen
            }
            last_key = Some(key_bytes.to_vec());
            if records::is_delete_marker(v.value()) {
                continue; // deleted: its latest version is a delete marker
            }
            let key = String::from_utf8_lossy(key_bytes).into_owned();
            if page.entries.len() == query.max_keys {
                page.truncated = true;
                return Ok(page);
            }
            if let Some(cp) = common_prefix(&key, prefix, delimiter) {
                page.entries.push(ListEntry::CommonPrefix(cp.to_owned()));
                match prefix_successor(cp.as_bytes()) {
                    Some(next) => reseek = Some(next),
                    None => return Ok(page),
                }
                break;
            }
            let Version::Object(record) = records::decode_version(v.value())?.0 else {
                continue;
            };
            page.entries.push(ListEntry::Object { key, record });
        }
        match reseek {
            Some(next) => {
                cursor = next;
                exclusive = None;
            }
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

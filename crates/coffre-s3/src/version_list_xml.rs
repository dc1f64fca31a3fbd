//! ListObjectVersions in AWS's order. A page lists versions and delete markers interleaved
//! (keys ascending, each key's newest first), and tools that read the XML in document order
//! (minio-go, and so `mc`) depend on it. s3s writes a page's `<DeleteMarker>` elements before
//! its `<Version>` elements instead. The handler leaves the page's order (which entry is a
//! marker) in the response's extensions, and the front puts the elements back in that order.
//! Each group keeps s3s's order, so only the interleaving moves.

use bytes::Bytes;

/// The kinds of a page's entries, in order: `true` for a delete marker, `false` for a version.
#[derive(Debug, Clone)]
pub struct VersionListOrder(pub Vec<bool>);

/// The spans of every `<tag>…</tag>` element of `body`. Element text is escaped XML, so a tag
/// found is an element.
fn spans(body: &[u8], tag: &str) -> Option<Vec<(usize, usize)>> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(start) = find(&body[at..], open.as_bytes()).map(|i| at + i) {
        let end = find(&body[start..], close.as_bytes())? + start + close.len();
        out.push((start, end));
        at = end;
    }
    Some(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `body` with its `<Version>` and `<DeleteMarker>` elements interleaved as `order` says, where
/// its first `<Version>` (or `<DeleteMarker>`) was; `None` if the body does not match the order.
pub fn interleave(body: &[u8], order: &VersionListOrder) -> Option<Bytes> {
    let versions = spans(body, "Version")?;
    let markers = spans(body, "DeleteMarker")?;
    let marker_count = order.0.iter().filter(|m| **m).count();
    if markers.is_empty() || versions.is_empty() {
        return None; // nothing to interleave
    }
    if marker_count != markers.len() || order.0.len() != markers.len() + versions.len() {
        return None;
    }
    let mut removed: Vec<(usize, usize)> = versions.iter().chain(&markers).copied().collect();
    removed.sort_unstable();
    let insert_at = removed.first()?.0;
    let (mut v, mut m) = (versions.iter(), markers.iter());
    let mut entries = Vec::with_capacity(body.len());
    for is_marker in &order.0 {
        let (s, e) = if *is_marker { m.next()? } else { v.next()? };
        entries.extend_from_slice(&body[*s..*e]);
    }
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    for (s, e) in removed {
        if s == insert_at {
            out.extend_from_slice(&body[at..s]);
            out.extend_from_slice(&entries);
        } else {
            out.extend_from_slice(&body[at..s]);
        }
        at = e;
    }
    out.extend_from_slice(&body[at..]);
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_and_versions_are_interleaved_in_the_page_order() {
        let body =
            b"<R><Name>b</Name><DeleteMarker><Key>a</Key></DeleteMarker><DeleteMarker><Key>c</Key></DeleteMarker>\
<IsTruncated>false</IsTruncated><Version><Key>a</Key><VersionId>2</VersionId></Version>\
<Version><Key>b&lt;Version&gt;</Key></Version><VersionIdMarker></VersionIdMarker></R>";
        // a: marker, then its older version; b: a version; c: a marker.
        let order = VersionListOrder(vec![true, false, false, true]);
        let out = interleave(body, &order).unwrap_or_default();
        let text = String::from_utf8_lossy(&out);
        assert_eq!(
            text,
            "<R><Name>b</Name><DeleteMarker><Key>a</Key></DeleteMarker><Version><Key>a</Key><VersionId>2</VersionId></Version>\
<Version><Key>b&lt;Version&gt;</Key></Version><DeleteMarker><Key>c</Key></DeleteMarker>\
<IsTruncated>false</IsTruncated><VersionIdMarker></VersionIdMarker></R>"
        );
        assert!(interleave(body, &VersionListOrder(vec![true, false])).is_none(), "an order that does not match");
    }
}

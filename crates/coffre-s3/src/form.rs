//! Browser form uploads (PostObject): two things a form carries that s3s parses but does not
//! pass on to us — the uploaded file's name (for `${filename}` in the key) and the `tagging`
//! field. The front reads the beginning of the form (bounded), notes both, and hands the body,
//! unchanged, to s3s, which does the real parsing and checks the policy.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::Frame;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

/// Most bytes read ahead to find the file part's header: the fields before it (policy,
/// signature, metadata) are small.
pub const FORM_PEEK_BYTES_MAX: usize = 256 * 1024;

/// What the form says that s3s does not pass on.
#[derive(Debug, Clone, Default)]
pub struct FormFields {
    /// The uploaded file's name, from its part's Content-Disposition.
    pub file_name: Option<String>,
    /// The `tagging` field: a `<Tagging>` XML document.
    pub tagging: Option<String>,
    /// The `key` field, as sent (before `${filename}` is substituted), for authorisation.
    pub key: Option<String>,
    /// The whole form was read, well-formed, and holds no `file` part (S3 requires one).
    pub no_file: bool,
}

impl FormFields {
    /// The object key the form writes: its `key` field with `${filename}` substituted.
    pub fn object_key(&self) -> Option<String> {
        let key = self.key.as_deref()?;
        Some(key.replace("${filename}", self.file_name.as_deref().unwrap_or("")))
    }
}

/// The multipart boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim().eq_ignore_ascii_case("boundary").then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// A body that replays what was read ahead, then the rest of the connection's body.
pub struct Replayed {
    prefix: Option<Bytes>,
    inner: Incoming,
}

impl http_body::Body for Replayed {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if let Some(prefix) = self.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.inner.is_end_stream()
    }
}

/// Reads the start of a form until the file part's header (or the bound), and returns what it
/// found with a body that still yields every byte.
pub async fn peek(mut body: Incoming, boundary: &str) -> Result<(FormFields, Replayed), hyper::Error> {
    let mut prefix = BytesMut::new();
    let mut ended = false;
    while prefix.len() < FORM_PEEK_BYTES_MAX && !has_file_header(&prefix) {
        match body.frame().await {
            Some(frame) => {
                if let Ok(data) = frame?.into_data() {
                    prefix.extend_from_slice(&data);
                }
            }
            None => {
                ended = true;
                break;
            }
        }
    }
    let mut fields = scan(&prefix, boundary);
    // Only a complete, well-formed form (its closing delimiter read) is known to lack a file;
    // a broken one is s3s's to refuse (MalformedPOSTRequest).
    let closing = format!("--{boundary}--");
    fields.no_file = ended && !has_file_header(&prefix) && find(&prefix, closing.as_bytes()).is_some();
    Ok((fields, Replayed { prefix: Some(prefix.freeze()), inner: body }))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn has_file_header(buf: &[u8]) -> bool {
    find(buf, b"name=\"file\"").is_some_and(|at| find(buf.get(at..).unwrap_or_default(), b"\r\n\r\n").is_some())
}

/// The value of `attr="..."` in a Content-Disposition header.
fn attribute(header: &str, attr: &str) -> Option<String> {
    let needle = format!("{attr}=\"");
    let start = header.to_ascii_lowercase().find(&needle)? + needle.len();
    let rest = header.get(start..)?;
    Some(rest.get(..rest.find('"')?)?.to_owned())
}

fn scan(buf: &[u8], boundary: &str) -> FormFields {
    let mut fields = FormFields::default();
    let delimiter = format!("--{boundary}");
    let text = String::from_utf8_lossy(buf);
    for part in text.split(delimiter.as_str()).skip(1) {
        let Some((headers, content)) = part.split_once("\r\n\r\n") else { continue };
        let Some(disposition) = headers.lines().find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
        else {
            continue;
        };
        match attribute(disposition, " name").or_else(|| attribute(disposition, ";name")).as_deref() {
            Some("file") => fields.file_name = attribute(disposition, "filename"),
            Some("tagging") => fields.tagging = Some(content.trim_end_matches("\r\n").to_owned()),
            Some(name) if name.eq_ignore_ascii_case("key") => {
                fields.key = Some(content.trim_end_matches("\r\n").to_owned());
            }
            _ => {}
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_file_name_and_tagging() {
        let form = "--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nuploads/${filename}\r\n--XyZ\r\n\
                    Content-Disposition: form-data; name=\"tagging\"\r\n\r\n<Tagging><TagSet></TagSet></Tagging>\r\n--XyZ\r\n\
                    Content-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\nContent-Type: image/jpeg\r\n\r\nDATA";
        assert!(has_file_header(form.as_bytes()));
        let f = scan(form.as_bytes(), "XyZ");
        assert_eq!(f.file_name.as_deref(), Some("photo.jpg"));
        assert_eq!(f.tagging.as_deref(), Some("<Tagging><TagSet></TagSet></Tagging>"));
        assert_eq!(f.object_key().as_deref(), Some("uploads/photo.jpg"));
        assert_eq!(boundary("multipart/form-data; boundary=\"XyZ\"").as_deref(), Some("XyZ"));
        assert_eq!(boundary("application/json"), None);
    }
}

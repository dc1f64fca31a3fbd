//! The S3 side of the audit trail: the front starts each request's record (an
//! [`coffre_audit::AuditNote`] in the request's extensions), authorisation and the operations
//! fill in who, which bucket and key and which KMS key, and the front finishes it with the
//! result and makes it durable before the response leaves.

use std::sync::Arc;

use coffre_audit::AuditNote;

/// The metadata-commit intent carrying a request's record (status 0: no response sent yet).
pub fn intent(note: &AuditNote, request_id: &str) -> coffre_store::intent::Intent {
    let note = note.clone();
    coffre_store::intent::Intent::new(request_id, Arc::new(move || note.snapshot_json()))
}

/// Records the KMS key protecting the data an operation touched.
pub fn note_kms_key(extensions: &http::Extensions, key_id: &str) {
    if let Some(note) = extensions.get::<AuditNote>() {
        note.update(|e| e.kms_key = Some(key_id.to_owned()));
    }
}

/// Records the object version an operation read, wrote or deleted (`None`: nothing to record,
/// as for the null version of a bucket that never had versioning).
pub fn note_version(extensions: &http::Extensions, version_id: Option<&str>) {
    if let (Some(note), Some(id)) = (extensions.get::<AuditNote>(), version_id) {
        note.update(|e| e.version_id = Some(id.to_owned()));
    }
}

/// The S3 error code in an error response body, if there is one.
pub fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].to_owned())
}

//! The request layer in front of s3s: what s3s does not decide for us.
//!
//! - SigV2 is refused with the error AWS gives in regions that only accept SigV4.
//! - Presigned URLs may not live longer than seven days (`X-Amz-Expires` ≤ 604800, checked where
//!   the signature is read: `crate::signing`).
//! - When a region is configured, a request signed for another region is refused; when none
//!   is, any region is accepted.
//! - Every response carries a request id, and every request is counted and timed by operation
//!   and status for `/metrics`.
//! - Every request leaves exactly one audit record, durable before its response leaves; if the
//!   audit trail cannot be written the client gets 503 instead, and while it cannot, requests
//!   that would change anything are refused up front.

use std::sync::Arc;
use std::time::Instant;

use coffre_audit::{Actor, AuditEvent, AuditNote, AuditSink};
use http::{HeaderValue, Method, Request, Response};
use hyper::body::Incoming;
use s3s::service::S3Service;
use s3s::{Body, HttpError, S3Error, S3ErrorCode};

use crate::idle_body::IdleBody;
use crate::operation::S3Op;
use crate::signing::Signing;
use tracing::Instrument as _;

/// What the front checks before s3s sees a request.
#[derive(Debug, Clone)]
pub struct FrontLimits {
    /// The region requests must be signed for (`None`: any).
    pub region: Option<String>,
    /// The base domain of virtual-hosted-style requests, if enabled.
    pub domain: Option<String>,
    /// How long a request body may go without data before the request fails (`RequestTimeout`).
    pub body_idle_timeout: std::time::Duration,
}

impl Default for FrontLimits {
    fn default() -> FrontLimits {
        FrontLimits { region: None, domain: None, body_idle_timeout: BODY_IDLE_TIMEOUT_DEFAULT }
    }
}

/// Default for [`FrontLimits::body_idle_timeout`].
pub const BODY_IDLE_TIMEOUT_DEFAULT: std::time::Duration = std::time::Duration::from_secs(60);

/// How a request arrived, for the operations that care (SSE-C needs TLS).
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    /// Whether the connection is TLS.
    pub secure: bool,
    /// The client's address.
    pub peer: Option<std::net::IpAddr>,
}

/// The S3 listener's request handler.
#[derive(Clone)]
pub struct Front {
    inner: S3Service,
    limits: Arc<FrontLimits>,
    /// `None` only in the benchmark-only audit-off mode.
    audit: Option<Arc<AuditSink>>,
}

/// The 503 a request gets when its audit record cannot be written.
fn audit_unavailable() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::ServiceUnavailable,
        "The audit trail cannot be written, so the request was not served. Retry later.",
    )
}

/// Bucket and key of a path-style request path (virtual-hosted requests are corrected by
/// authorisation, which sees s3s's parse).
fn path_bucket_key(path: &str) -> (Option<String>, Option<String>) {
    let decode = |s: &str| Some(crate::request::percent_decode(s)).filter(|t| !t.is_empty());
    match path.trim_start_matches('/').split_once('/') {
        Some((b, k)) => (decode(b), decode(k)),
        None => (decode(path.trim_start_matches('/')), None),
    }
}

impl Front {
    /// Wraps an s3s service; every request is recorded in `audit`.
    pub fn new(inner: S3Service, limits: FrontLimits, audit: Option<Arc<AuditSink>>) -> Front {
        Front { inner, limits: Arc::new(limits), audit }
    }

    /// Handles one request.
    pub async fn handle(&self, mut req: Request<Incoming>, transport: Transport) -> Result<Response<Body>, HttpError> {
        req.extensions_mut().insert(transport);
        let started = Instant::now();
        let request_id = format!("{:016X}", rand_u64());
        let operation = operation_name(&req, self.limits.domain.as_deref());
        let span = tracing::info_span!("s3", request_id = %request_id, operation);
        // Instrumented, not entered: a guard held across an await leaks the span into whatever
        // else runs on the thread meanwhile (tracing-subscriber then panics on a closed parent).
        self.serve(req, transport, started, request_id, operation).instrument(span).await
    }

    /// [`Front::handle`] within the request's span.
    async fn serve(
        &self,
        mut req: Request<Incoming>,
        transport: Transport,
        started: Instant,
        request_id: String,
        operation: &'static str,
    ) -> Result<Response<Body>, HttpError> {
        let bytes_in = content_length(req.headers());
        let changes_metadata = !matches!(*req.method(), Method::GET | Method::HEAD);
        let head = req.method() == Method::HEAD;
        let (bucket, key) = path_bucket_key(req.uri().path());
        let note = AuditNote::new(AuditEvent {
            time: coffre_audit::now_rfc3339(),
            request_id: request_id.clone(),
            interface: "s3".to_owned(),
            actor: Actor { kind: "anonymous".to_owned(), ..Default::default() },
            source_ip: transport.peer.map(|ip| ip.to_string()),
            operation: operation.to_owned(),
            bucket,
            key,
            bytes_in,
            ..Default::default()
        });
        let signing = crate::signing::read(&req);
        let claimed_key = match &signing {
            Ok(Signing::Header(claim) | Signing::Presigned(claim)) => Some(claim.access_key().to_owned()),
            _ => None,
        };
        if let Some(key) = claimed_key.filter(|k| !k.is_empty()) {
            // Until SigV4 is verified (authorisation replaces it), only a claim.
            note.update(|e| {
                e.actor = Actor { kind: "unverified".to_owned(), access_key_id: Some(key), ..Default::default() }
            });
        }
        req.extensions_mut().insert(note.clone());
        // Only requests that may change metadata carry an intent (reads never commit one).
        let intent = (self.audit.is_some() && changes_metadata).then(|| crate::audit::intent(&note, &request_id));
        let refused = match &self.audit {
            Some(sink) if changes_metadata && !sink.writable() => Some(audit_unavailable()),
            _ if method_not_allowed(&req, operation) => Some(S3Error::with_message(
                S3ErrorCode::MethodNotAllowed,
                "The specified method is not allowed against this resource.",
            )),
            _ => self.precheck(&req, signing),
        };
        let prepared = match refused {
            Some(err) => Err(err),
            None => prepare_body(req, operation, self.limits.body_idle_timeout).await?,
        };
        let mut response = match prepared {
            Err(err) => render(err)?,
            Ok(req) => match &intent {
                Some(intent) => coffre_store::intent::with_intent(intent.clone(), self.inner.call(req)).await?,
                None => self.inner.call(req).await?,
            },
        };
        // Versions and delete markers interleaved, as AWS lists them (see `version_list_xml`).
        if let Some(order) = response.extensions().get::<crate::version_list_xml::VersionListOrder>().cloned()
            && let Some(ordered) = response.body().bytes().and_then(|b| crate::version_list_xml::interleave(&b, &order))
        {
            *response.body_mut() = Body::from(ordered);
        }
        if operation == "PostObject" && response.status() == http::StatusCode::BAD_REQUEST {
            response = policy_failure_as_access_denied(response).await?;
        }
        // s3s answers HEAD with 200 whatever the output says; a ranged HEAD is partial content.
        if operation == "HeadObject"
            && response.status() == http::StatusCode::OK
            && response.headers().contains_key(http::header::CONTENT_RANGE)
        {
            *response.status_mut() = http::StatusCode::PARTIAL_CONTENT;
        }
        let bytes_out = if head { 0 } else { body_bytes(&response) };
        let mut event = note.snapshot();
        // The operation as s3s routed it, once authorisation has named it; the front's guess
        // only for requests refused before.
        let operation = S3Op::from_name(&event.operation).map_or(operation, S3Op::name);
        if let Some(sink) = &self.audit {
            event.status = response.status().as_u16();
            event.bytes_out = bytes_out;
            if response.status().is_client_error() || response.status().is_server_error() {
                event.error_code = response.body().bytes().and_then(|b| crate::audit::error_code(&b));
            }
            if let Some(intent) = intent.as_ref().filter(|i| i.committed()) {
                // Its record committed with its change: durable already.
                sink.record_committed(event, intent.key.clone());
            } else if let Err(e) = sink.record(event).await {
                tracing::error!(error = %e, "audit record not written; answering 503");
                response = render(audit_unavailable())?;
            }
        }
        if head {
            // RFC 9110 §9.3.2: no content in a reply to HEAD, errors included. HTTP/1 drops it
            // by itself; HTTP/2 would send it as DATA frames.
            *response.body_mut() = Body::empty();
        }
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            headers.insert("x-amz-request-id", v.clone());
            headers.insert("x-amz-id-2", v);
        }
        headers.insert(http::header::SERVER, HeaderValue::from_static("Coffre"));
        let status = response.status().as_u16().to_string();
        metrics::counter!("coffre_s3_requests_total", "operation" => operation, "status" => status.clone())
            .increment(1);
        metrics::histogram!("coffre_s3_request_duration_seconds", "operation" => operation, "status" => status.clone())
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("coffre_s3_received_bytes_total", "operation" => operation, "status" => status.clone())
            .increment(bytes_in);
        metrics::counter!("coffre_s3_sent_bytes_total", "operation" => operation, "status" => status)
            .increment(bytes_out);
        Ok(response)
    }

    fn precheck(&self, req: &Request<Incoming>, signing: Result<Signing, S3Error>) -> Option<S3Error> {
        let claim = match signing {
            Err(e) => return Some(e),
            Ok(Signing::Anonymous) => return None,
            Ok(Signing::SigV2) => {
                return Some(S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
                ));
            }
            Ok(Signing::Header(claim) | Signing::Presigned(claim)) => claim,
        };
        // As s3s does: over HTTP/2 the host is the `:authority`, which is not a header.
        let authority_is_host =
            matches!(req.version(), http::Version::HTTP_2 | http::Version::HTTP_3) && req.uri().authority().is_some();
        if let Err(e) = crate::signing::check_coverage(&claim, req.headers(), authority_is_host) {
            return Some(e);
        }
        let region = self.limits.region.as_deref()?;
        let signed_region = claim.region()?;
        if signed_region != region {
            return Some(S3Error::with_message(
                S3ErrorCode::AuthorizationHeaderMalformed,
                format!(
                    "The authorization header is malformed; the region '{signed_region}' is wrong; expecting '{region}'"
                ),
            ));
        }
        None
    }
}

/// Methods S3 has no operation for on the resource named (s3s would answer 501 "Unknown
/// operation"; AWS answers 405). OPTIONS is left to CORS.
fn method_not_allowed<B>(req: &Request<B>, operation: &str) -> bool {
    let m = req.method();
    let known = [Method::GET, Method::HEAD, Method::PUT, Method::POST, Method::DELETE, Method::OPTIONS];
    if !known.contains(m) {
        return true;
    }
    let query = req.uri().query().unwrap_or_default();
    let has = |name: &str| query.split('&').any(|kv| kv.split('=').next() == Some(name));
    match operation {
        // The service itself: only ListBuckets.
        "Other" => *m != Method::HEAD && *m != Method::OPTIONS,
        "OtherObjectOperation" => {
            *m == Method::POST && !(has("uploads") || has("uploadId") || has("restore") || has("select"))
        }
        _ => false,
    }
}

/// Readies a request's body for s3s: object data streams on (refused up front, before any
/// `100 Continue`, when it announces more than one request may upload); a browser form's
/// fields are read ahead; any other body is a document, read and checked in full
/// ([`crate::config_body`]).
async fn prepare_body(
    req: Request<Incoming>,
    operation: &'static str,
    idle: std::time::Duration,
) -> Result<Result<Request<Body>, S3Error>, HttpError> {
    match operation {
        "PutObject" | "UploadPart" => {
            if crate::request::announced_length(req.headers())
                .is_some_and(|n| n > coffre_store::limits::PART_SIZE_BYTES_MAX)
            {
                return Ok(Err(crate::errors::to_s3(coffre_store::StoreError::EntityTooLarge)));
            }
            Ok(Ok(req.map(|body| Body::http_body_unsync(IdleBody::new(body, idle)))))
        }
        "PostObject" => {
            let boundary = req
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::form::boundary);
            let Some(boundary) = boundary else {
                return Ok(Err(crate::errors::custom(
                    "PreconditionFailed",
                    http::StatusCode::PRECONDITION_FAILED,
                    "Bucket POST must be of the enclosure-type multipart/form-data",
                )));
            };
            let (mut parts, body) = req.into_parts();
            let Ok(peeked) = tokio::time::timeout(idle, crate::form::peek(body, &boundary)).await else {
                return Ok(Err(crate::idle_body::request_timeout()));
            };
            let (fields, body) = peeked.map_err(|e| HttpError::new(Box::new(e)))?;
            if fields.no_file {
                return Ok(Err(crate::errors::custom(
                    "IncorrectNumberOfFilesInPostRequest",
                    http::StatusCode::BAD_REQUEST,
                    "POST requires exactly one file upload per request.",
                )));
            }
            parts.extensions.insert(fields);
            Ok(Ok(Request::from_parts(parts, Body::http_body_unsync(IdleBody::new(body, idle)))))
        }
        _ if http_body::Body::is_end_stream(req.body()) => Ok(Ok(req.map(Body::from))),
        _ => Ok(crate::config_body::read(req.map(|body| IdleBody::new(body, idle)), operation).await),
    }
}

/// AWS answers a form upload that breaks its policy with 403 AccessDenied ("Invalid according
/// to Policy"); s3s checks the policy before our code runs and says 400 InvalidPolicyDocument,
/// so the answer is corrected here. Error bodies are small; they are read with a limit.
async fn policy_failure_as_access_denied(mut response: Response<Body>) -> Result<Response<Body>, HttpError> {
    const ERROR_BODY_BYTES_MAX: usize = 64 * 1024;
    let body = response.body_mut().store_all_limited(ERROR_BODY_BYTES_MAX).await.map_err(HttpError::new)?;
    let text = String::from_utf8_lossy(&body);
    if text.contains("<Code>InvalidPolicyDocument</Code>") && text.contains("Policy condition") {
        return render(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Invalid according to Policy: Policy Condition failed",
        ));
    }
    *response.body_mut() = Body::from(body);
    Ok(response)
}

fn render(err: S3Error) -> Result<Response<Body>, HttpError> {
    err.to_http_response().map_err(|e| HttpError::new(Box::new(e)))
}

/// The bytes of a response's body: its `Content-Length`, or the size of a body in memory
/// (XML replies carry none).
fn body_bytes(response: &Response<Body>) -> u64 {
    match response.headers().get(http::header::CONTENT_LENGTH) {
        Some(_) => content_length(response.headers()),
        None => http_body::Body::size_hint(response.body()).exact().unwrap_or(0),
    }
}

fn content_length(headers: &http::HeaderMap) -> u64 {
    headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

pub(crate) fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded per process and per instance: enough for request ids.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

/// The S3 operation a request looks like from its URL, before s3s routes it: it decides only
/// how the front reads the body (object data streams, documents are read and checked) and names
/// requests refused before s3s. Authorisation, the audit record and the metrics of a routed
/// request use s3s's own routing ([`crate::operation::S3Op`]); issue 15 replaces this guess
/// with one parse.
pub fn operation_name<B>(req: &Request<B>, domain: Option<&str>) -> &'static str {
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or_default();
    let names = || query.split('&').filter(|kv| !kv.is_empty()).map(|kv| kv.split('=').next().unwrap_or_default());
    let has = |name: &str| names().any(|n| n == name);
    // Presigned URLs carry their signature in `X-Amz-*` parameters, and SDKs add `x-id`:
    // neither names a subresource.
    let plain = !names().any(|n| !n.starts_with("X-Amz-") && n != "x-id");
    let virtual_host = domain.is_some_and(|d| {
        req.headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.split(':').next().unwrap_or_default())
            .is_some_and(|h| h.len() > d.len() && h.ends_with(d))
    });
    let segments: Vec<&str> = path.trim_start_matches('/').splitn(2, '/').collect();
    let (bucket, key) = if virtual_host {
        (true, !path.trim_start_matches('/').is_empty())
    } else {
        match segments.as_slice() {
            [""] => (false, false),
            [_] => (true, false),
            [_, k] => (true, !k.is_empty()),
            _ => (false, false),
        }
    };
    let copy = req.headers().contains_key("x-amz-copy-source");
    let m = req.method();
    match (bucket, key) {
        (false, _) if *m == Method::GET => "ListBuckets",
        (false, _) => "Other",
        (true, false) => match *m {
            Method::GET if has("location") => "GetBucketLocation",
            Method::GET if has("versioning") => "GetBucketVersioning",
            Method::GET if has("versions") => "ListObjectVersions",
            Method::GET if has("uploads") => "ListMultipartUploads",
            Method::GET if has("list-type") => "ListObjectsV2",
            Method::GET if plain || has("prefix") || has("marker") || has("delimiter") || has("max-keys") => {
                "ListObjects"
            }
            Method::PUT if plain => "CreateBucket",
            Method::PUT if has("lifecycle") => "PutBucketLifecycleConfiguration",
            Method::DELETE if plain => "DeleteBucket",
            Method::HEAD => "HeadBucket",
            Method::POST if has("delete") => "DeleteObjects",
            Method::POST if plain => "PostObject",
            _ => "OtherBucketOperation",
        },
        (true, true) => match *m {
            Method::GET if has("uploadId") => "ListParts",
            Method::GET if has("tagging") => "GetObjectTagging",
            Method::GET
                if has("acl") || has("attributes") || has("retention") || has("legal-hold") || has("torrent") =>
            {
                "OtherObjectOperation"
            }
            Method::GET => "GetObject",
            Method::HEAD => "HeadObject",
            Method::PUT if has("partNumber") && copy => "UploadPartCopy",
            Method::PUT if has("partNumber") => "UploadPart",
            Method::PUT if has("tagging") => "PutObjectTagging",
            Method::PUT if has("acl") || has("retention") || has("legal-hold") => "OtherObjectOperation",
            // As s3s routes it: a PUT on a key that names no subresource writes the object.
            Method::PUT if copy => "CopyObject",
            Method::PUT => "PutObject",
            Method::DELETE if has("uploadId") => "AbortMultipartUpload",
            Method::DELETE if has("tagging") => "DeleteObjectTagging",
            Method::DELETE => "DeleteObject",
            Method::POST if has("uploads") => "CreateMultipartUpload",
            Method::POST if has("uploadId") => "CompleteMultipartUpload",
            _ => "OtherObjectOperation",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: Method, uri: &str) -> &'static str {
        let req = Request::builder().method(method).uri(uri).body(()).unwrap();
        operation_name(&req, None)
    }

    #[test]
    fn operations_are_named() {
        assert_eq!(op(Method::GET, "/"), "ListBuckets");
        assert_eq!(op(Method::GET, "/b?list-type=2"), "ListObjectsV2");
        assert_eq!(op(Method::PUT, "/b/k"), "PutObject");
        assert_eq!(op(Method::PUT, "/b/k?partNumber=1&uploadId=x"), "UploadPart");
        assert_eq!(op(Method::POST, "/b/k?uploads"), "CreateMultipartUpload");
        assert_eq!(op(Method::DELETE, "/b"), "DeleteBucket");
        // Presigned requests are the operations they sign.
        assert_eq!(op(Method::PUT, "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=s"), "PutObject");
        assert_eq!(op(Method::GET, "/b?X-Amz-Algorithm=AWS4-HMAC-SHA256"), "ListObjects");
        assert_eq!(op(Method::PUT, "/b/k?acl"), "OtherObjectOperation");
        assert_eq!(op(Method::PUT, "/b?policy"), "OtherBucketOperation");
    }
}

//! The admin API's side of the audit trail: one record per `/admin/v1` call (who, from where,
//! which call, the tenant it concerns, the result), durable before the answer leaves; calls
//! that would change something are refused with 503 while the trail cannot be written. Also
//! the tenant export and the node's public key.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use coffre_audit::{Actor, AuditEvent, AuditNote};
use coffre_iam::Scope;
use serde::Deserialize;

use crate::{AdminState, ApiError, authorize, bearer_grant, require_tenant_admin};

fn unavailable() -> Response {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, "the audit trail cannot be written; the call was not served".into())
        .into_response()
}

/// Who is calling, as far as the credentials say (the handlers decide what they may do).
fn actor(state: &AdminState, headers: &HeaderMap) -> Actor {
    if let Ok(grant) = bearer_grant(state, headers) {
        let p = &grant.principal;
        return Actor {
            kind: if p.is_operator() { "operator" } else { "user" }.to_owned(),
            tenant: p.tenant.clone(),
            user: Some(p.user.clone()),
            access_key_id: None,
        };
    }
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|d| String::from_utf8(d).ok())
        .and_then(|d| d.split_once(':').map(|(k, _)| k.to_owned()));
    match basic {
        // Only the key id; never what follows it.
        Some(key) => Actor { kind: "credentials".to_owned(), access_key_id: Some(key), ..Default::default() },
        None => Actor { kind: "anonymous".to_owned(), ..Default::default() },
    }
}

/// The tenant a call concerns, from its path.
fn tenant_of(state: &AdminState, path: &str) -> Option<String> {
    let rest = path.strip_prefix("/admin/v1/")?;
    let mut parts = rest.split('/');
    match (parts.next(), parts.next()) {
        (Some("tenants"), Some(t)) => Some(t.to_owned()),
        (Some("buckets"), Some(b)) => {
            coffre_store::BucketName::parse(b).ok().and_then(|b| state.store.bucket(&b).ok()).and_then(|r| r.owner)
        }
        _ => None,
    }
}

/// Middleware: records every `/admin/v1` call.
pub(crate) async fn record(State(state): State<AdminState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let Some(sink) = state.audit.clone().filter(|_| path.starts_with("/admin/v1/")) else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    let changes = method != Method::GET && method != Method::HEAD;
    if changes && !sink.writable() {
        return unavailable();
    }
    let request_id = format!("{:016X}", rand::random::<u64>());
    let source_ip = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    let bytes_in = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let note = AuditNote::new(AuditEvent {
        time: coffre_audit::now_rfc3339(),
        request_id: request_id.clone(),
        tenant: tenant_of(&state, &path),
        interface: "admin".to_owned(),
        actor: actor(&state, request.headers()),
        source_ip,
        operation: format!("{method} {path}"),
        bytes_in,
        ..Default::default()
    });
    request.extensions_mut().insert(note.clone());
    let intent = {
        let note = note.clone();
        coffre_store::intent::Intent::new(&request_id, std::sync::Arc::new(move || note.snapshot_json()))
    };
    let mut response = coffre_store::intent::with_intent(intent.clone(), next.run(request)).await;
    let mut event = note.snapshot();
    event.status = response.status().as_u16();
    event.bytes_out = response
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if intent.committed() {
        sink.record_committed(event, intent.key.clone());
    } else if let Err(e) = sink.record(event).await {
        tracing::error!(error = %e, "audit record of an admin call not written; answering 503");
        return unavailable();
    }
    if let Ok(v) = axum::http::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

#[derive(Deserialize)]
pub(crate) struct ExportRange {
    since: Option<String>,
    until: Option<String>,
}

/// `GET /admin/v1/tenants/{tenant}/audit/export`: the tenant's records with inclusion proofs
/// against a checkpoint signed now (its admins).
pub(crate) async fn export(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    Query(range): Query<ExportRange>,
) -> Result<Json<coffre_audit::Export>, ApiError> {
    require_tenant_admin(&authorize(&state, &headers, Scope::Audit)?, &tenant)?;
    let sink = state.audit.clone().ok_or_else(|| ApiError(StatusCode::NOT_FOUND, "the audit trail is off".into()))?;
    sink.log.checkpoint().await.map_err(|e| ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let dir = sink.log.dir().to_path_buf();
    let signer = state.audit_signer.clone();
    let export = tokio::task::spawn_blocking(move || {
        coffre_audit::export(&dir, &tenant, range.since.as_deref(), range.until.as_deref(), signer.as_ref())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(Json(export))
}

/// `GET /admin/v1/audit/pubkey`: the key that verifies checkpoints and exports.
pub(crate) async fn public_key(State(state): State<AdminState>) -> Result<Json<serde_json::Value>, ApiError> {
    let (_, public_key) = state.audit_signer.sign(b"coffre-audit-pubkey").map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({ "public_key": public_key, "algorithm": "Ed25519" })))
}

//! Coffre's admin API, on its own listener: REST + JSON, described by the OpenAPI document at
//! `/openapi.json`, plus `/health` and `/metrics`.
//!
//! Every `/admin/v1` call carries a bearer token. A token is obtained at `POST /admin/v1/tokens`
//! with an access key and its secret (HTTP Basic), carries scopes (a subset of what the identity's
//! role allows) and expires. Operators run the service (tenants, quotas, usage, encryption keys,
//! break-glass) and never manage a tenant's users; tenant admins manage their own users, keys
//! and policies and see their own usage.

#![forbid(unsafe_code)]

mod audit;
mod buckets;
mod identity;
mod kms;
mod openapi;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use coffre_crypto::{KeyAdmin, LocalKeyProvider};
use coffre_iam::{Directory, IamError, Principal, Role, Scope, TokenGrant};
use coffre_store::{Store, StoreError};
use metrics_exporter_prometheus::PrometheusHandle;

pub use crate::kms::{DeletionAttestation, KeyView, RewrapProgress};

/// What the admin handlers share.
#[derive(Clone)]
pub struct AdminState {
    pub metrics: PrometheusHandle,
    pub directory: Arc<Directory>,
    pub keys: Arc<dyn KeyAdmin>,
    /// Signs deletion attestations with the node key.
    pub signer: Arc<LocalKeyProvider>,
    pub store: Arc<Store>,
    /// Makes the engine's permits for what the admin API authorised (its token scopes and
    /// roles): quotas, key administration.
    pub permits: coffre_store::PermitIssuer,
    pub attestations_dir: std::path::PathBuf,
    /// Progress of the background re-wrap that follows each rotation, by key id.
    pub rewraps: Arc<std::sync::Mutex<std::collections::HashMap<String, RewrapProgress>>>,
    /// Where every admin call is recorded (`None` only in the benchmark-only audit-off mode).
    pub audit: Option<Arc<coffre_audit::AuditSink>>,
    /// Signs audit exports (the node key).
    pub audit_signer: Arc<dyn coffre_audit::Signer>,
    /// The server's background workers and their status.
    pub workers: Arc<coffre_store::worker::WorkerBoard>,
}

/// The admin routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(render_metrics))
        .route("/openapi.json", get(|| async { Json(openapi::document()) }))
        .route("/admin/v1/tokens", post(identity::issue_token))
        .merge(token_routes(state.clone()))
        .layer(axum::middleware::from_fn_with_state(state.clone(), audit::record))
        .with_state(state)
}

/// `200 ok` while the node serves and takes writes; `503` with the reason while it serves
/// reads but cannot take writes (disk below its reserved floor, metadata database failed).
async fn health(State(state): State<AdminState>) -> (StatusCode, String) {
    match state.store.writability() {
        Ok(()) => (StatusCode::OK, "ok\n".to_owned()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("not writable: {reason}\n")),
    }
}

/// The routes that need a bearer token. The token is checked before anything else (a request
/// body is not even parsed without one); each handler then checks the scope it needs.
fn token_routes(state: AdminState) -> Router<AdminState> {
    Router::new()
        .route("/admin/v1/tenants", get(identity::list_tenants).post(identity::create_tenant))
        .route("/admin/v1/tenants/{tenant}", get(identity::show_tenant).delete(identity::delete_tenant))
        .route("/admin/v1/operators", get(identity::list_operators).post(identity::create_operator))
        .route("/admin/v1/operators/{name}/approve", post(identity::approve_operator))
        .route("/admin/v1/tenants/{tenant}/users", get(identity::list_users).post(identity::create_user))
        .route("/admin/v1/tenants/{tenant}/users/{user}", axum::routing::delete(identity::delete_user))
        .route("/admin/v1/tenants/{tenant}/users/{user}/keys", get(identity::list_user_keys).post(identity::create_key))
        .route("/admin/v1/tenants/{tenant}/keys", get(identity::list_tenant_keys))
        .route("/admin/v1/tenants/{tenant}/keys/{id}", axum::routing::delete(identity::delete_key))
        .route("/admin/v1/tenants/{tenant}/keys/{id}/{action}", post(identity::key_status))
        .route(
            "/admin/v1/tenants/{tenant}/users/{user}/policies/{name}",
            put(identity::put_policy).get(identity::get_policy).delete(identity::delete_policy),
        )
        .route("/admin/v1/tenants/{tenant}/usage", get(buckets::tenant_usage))
        .route("/admin/v1/buckets/{bucket}/quota", get(buckets::get_quota).put(buckets::set_quota))
        .route("/admin/v1/workers", get(workers))
        .route("/admin/v1/break-glass", get(identity::list_break_glass).post(identity::request_break_glass))
        .route("/admin/v1/break-glass/{id}/approve", post(identity::approve_break_glass))
        .route("/admin/v1/tenants/{tenant}/audit/export", get(audit::export))
        .route("/admin/v1/audit/pubkey", get(audit::public_key))
        .route("/admin/v1/keys", get(kms::list_keys).post(kms::create_key))
        .route("/admin/v1/keys/{id}", get(kms::show_key))
        .route("/admin/v1/keys/{id}/rewrap", get(kms::rewrap_progress))
        .route("/admin/v1/keys/{id}/{action}", post(kms::key_action))
        .route_layer(axum::middleware::from_fn_with_state(state, require_token))
}

async fn require_token(
    axum::extract::State(state): axum::extract::State<AdminState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match bearer_grant(&state, request.headers()) {
        Ok(_) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// `GET /admin/v1/workers`: every background worker's status (operators).
async fn workers(
    State(state): State<AdminState>,
    headers: HeaderMap,
) -> Result<Json<Vec<coffre_store::worker::WorkerStatus>>, ApiError> {
    let grant = authorize(&state, &headers, Scope::Usage)?;
    require_operator(&grant)?;
    Ok(Json(state.workers.statuses()))
}

async fn render_metrics(axum::extract::State(state): axum::extract::State<AdminState>) -> String {
    state.metrics.render()
}

/// A JSON error answer: `{"error": "..."}` with its status.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "admin API internal error");
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server log".into())
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError(StatusCode::FORBIDDEN, message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<IamError> for ApiError {
    fn from(e: IamError) -> Self {
        let status = match &e {
            IamError::NotFound(_) => StatusCode::NOT_FOUND,
            IamError::AlreadyExists(_) => StatusCode::CONFLICT,
            IamError::Invalid(_) | IamError::MalformedPolicy(_) => StatusCode::BAD_REQUEST,
            IamError::Forbidden(_) => StatusCode::FORBIDDEN,
            IamError::BadCredentials | IamError::KeyInactive(_) | IamError::KeyExpired(_) => StatusCode::UNAUTHORIZED,
            IamError::Storage(_) | IamError::Crypto(_) => return ApiError::internal(e),
        };
        ApiError(status, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchBucket => ApiError(StatusCode::NOT_FOUND, "no such bucket".into()),
            other => ApiError::internal(other),
        }
    }
}

/// The caller, from its bearer token, after checking that the token holds `scope`.
pub(crate) fn authorize(state: &AdminState, headers: &HeaderMap, scope: Scope) -> Result<TokenGrant, ApiError> {
    let grant = bearer_grant(state, headers)?;
    if !grant.scopes.contains(&scope) {
        return Err(ApiError::forbidden(format!("the token lacks the scope {}", scope.name())));
    }
    Ok(grant)
}

/// What the request's bearer token grants; 401 without a valid, unexpired one.
pub(crate) fn bearer_grant(state: &AdminState, headers: &HeaderMap) -> Result<TokenGrant, ApiError> {
    let unauthorized = |m: &str| ApiError(StatusCode::UNAUTHORIZED, m.to_owned());
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("a bearer token is required (POST /admin/v1/tokens)"))?;
    let token = value.strip_prefix("Bearer ").ok_or_else(|| unauthorized("a bearer token is required"))?;
    state.directory.token(token.trim()).map_err(|e| match e {
        IamError::Forbidden(m) => unauthorized(&m),
        _ => unauthorized("invalid token"),
    })
}

/// Only operators.
pub(crate) fn require_operator(grant: &TokenGrant) -> Result<&Principal, ApiError> {
    if grant.principal.role == Role::Operator {
        Ok(&grant.principal)
    } else {
        Err(ApiError::forbidden("only operators may do this"))
    }
}

/// Only the admins of `tenant`: operators run the service but never manage a tenant's
/// identities (that would let them mint themselves access to its data).
pub(crate) fn require_tenant_admin<'g>(grant: &'g TokenGrant, tenant: &str) -> Result<&'g Principal, ApiError> {
    let p = &grant.principal;
    if p.role == Role::Admin && p.tenant.as_deref() == Some(tenant) {
        Ok(p)
    } else if p.role == Role::Operator {
        Err(ApiError::forbidden("operators do not manage a tenant's users, keys or policies; its admins do"))
    } else {
        Err(ApiError::forbidden(format!("only admins of tenant {tenant} may do this")))
    }
}

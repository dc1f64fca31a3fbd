//! Tokens, tenants, operators, users, access keys, user policies and break-glass requests.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use base64::Engine as _;
use coffre_audit::AuditNote;
use coffre_iam::{AccessKeyInfo, BreakGlass, KeyStatus, NewAccessKey, Role, Scope, Tenant, User};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{AdminState, ApiError, authorize, require_operator, require_tenant_admin};

/// Default lifetime of a token, when the request names none.
const TOKEN_TTL_DEFAULT_S: i64 = 3600;

#[derive(Deserialize, Default)]
pub(crate) struct TokenRequest {
    /// Scopes wanted; default: every scope the identity's role allows.
    scopes: Option<Vec<Scope>>,
    ttl_seconds: Option<i64>,
}

#[derive(Serialize)]
pub(crate) struct TokenResponse {
    token: String,
    scopes: Vec<Scope>,
    expires_unix_s: i64,
    user: String,
    tenant: Option<String>,
    role: Role,
}

/// `POST /admin/v1/tokens`: an access key and its secret (HTTP Basic) buy a bearer token.
pub(crate) async fn issue_token(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: Option<Json<TokenRequest>>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    let denied = || ApiError(StatusCode::UNAUTHORIZED, "an access key and its secret are required (HTTP Basic)".into());
    let value = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(denied)?;
    let encoded = value.strip_prefix("Basic ").ok_or_else(denied)?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| denied())?;
    let decoded = zeroize::Zeroizing::new(String::from_utf8(decoded).map_err(|_| denied())?);
    let (access_key, secret) = decoded.split_once(':').ok_or_else(denied)?;
    let principal = state.directory.authenticate(access_key, secret).map_err(|_| denied())?;
    let request = body.map(|b| b.0).unwrap_or_default();
    let scopes = request.scopes.unwrap_or_else(|| Scope::allowed_for(principal.role).to_vec());
    if scopes.is_empty() {
        return Err(ApiError::forbidden("this identity may not hold any admin scope"));
    }
    let ttl = request.ttl_seconds.unwrap_or(TOKEN_TTL_DEFAULT_S);
    let (token, grant) = state.directory.issue_token(&principal, &scopes, ttl).await?;
    tracing::info!(user = %principal.user, tenant = principal.tenant.as_deref().unwrap_or("-"), scopes = ?grant.scopes, "admin token issued");
    Ok((
        StatusCode::CREATED,
        Json(TokenResponse {
            token,
            scopes: grant.scopes,
            expires_unix_s: grant.expires_unix_s,
            user: principal.user.clone(),
            tenant: principal.tenant.clone(),
            role: principal.role,
        }),
    ))
}

// ---- tenants and operators

#[derive(Deserialize)]
pub(crate) struct CreateTenant {
    name: String,
    /// Also create this first admin user with an access key (onboarding), shown once.
    admin_user: Option<String>,
}

pub(crate) async fn list_tenants(
    State(state): State<AdminState>,
    headers: HeaderMap,
) -> Result<Json<Vec<Tenant>>, ApiError> {
    require_operator(&authorize(&state, &headers, Scope::Tenants)?)?;
    Ok(Json(state.directory.tenants()))
}

pub(crate) async fn show_tenant(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_operator(&authorize(&state, &headers, Scope::Tenants)?)?;
    let found = state.directory.tenants().into_iter().find(|t| t.name == tenant);
    let t = found.ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("tenant {tenant} not found")))?;
    let users = state.directory.users(Some(&tenant)).len();
    Ok(Json(json!({ "name": t.name, "created_unix_s": t.created_unix_s, "users": users })))
}

pub(crate) async fn create_tenant(
    State(state): State<AdminState>,
    headers: HeaderMap,
    note: Option<Extension<AuditNote>>,
    Json(body): Json<CreateTenant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if let Some(Extension(note)) = &note {
        note.update(|e| e.tenant = Some(body.name.clone()));
    }
    let grant = authorize(&state, &headers, Scope::Tenants)?;
    let operator = require_operator(&grant)?;
    let tenant = state.directory.create_tenant(&body.name).await?;
    tracing::info!(tenant = %tenant.name, operator = %operator.user, "tenant created");
    let mut out = json!({ "tenant": tenant });
    if let Some(user) = &body.admin_user {
        state.directory.create_user(Some(&body.name), user, Role::Admin).await?;
        let key = state.directory.create_access_key(Some(&body.name), user, None).await?;
        out["user"] = json!(user);
        out["access_key_id"] = json!(key.info.access_key_id);
        out["secret_access_key"] = json!(key.secret_access_key);
    }
    Ok((StatusCode::CREATED, Json(out)))
}

pub(crate) async fn delete_tenant(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> Result<StatusCode, ApiError> {
    let grant = authorize(&state, &headers, Scope::Tenants)?;
    let operator = require_operator(&grant)?;
    let owned: Vec<String> = state
        .store
        .buckets()?
        .into_iter()
        .filter(|(_, b)| b.owner.as_deref() == Some(tenant.as_str()))
        .map(|(name, _)| name.to_string())
        .collect();
    if !owned.is_empty() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("tenant {tenant} still owns {} bucket(s): {}", owned.len(), owned.join(", ")),
        ));
    }
    state.directory.delete_tenant(&tenant).await?;
    tracing::info!(tenant = %tenant, operator = %operator.user, "tenant deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub(crate) struct CreateOperator {
    name: String,
}

/// An operator as listed: its record and whether it may act (`active`) or waits for a second
/// operator's approval (`pending`).
fn operator_view(user: &User) -> Value {
    let mut v = json!(user);
    v["status"] = json!(if user.is_pending() { "pending" } else { "active" });
    v
}

pub(crate) async fn list_operators(
    State(state): State<AdminState>,
    headers: HeaderMap,
) -> Result<Json<Vec<Value>>, ApiError> {
    require_operator(&authorize(&state, &headers, Scope::Tenants)?)?;
    Ok(Json(state.directory.users(None).iter().map(operator_view).collect()))
}

/// `POST /admin/v1/operators`: the first operators (bootstrap) are active at once; later ones
/// are pending until a second operator approves them (`.../approve`).
pub(crate) async fn create_operator(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Json(body): Json<CreateOperator>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let grant = authorize(&state, &headers, Scope::Tenants)?;
    let operator = require_operator(&grant)?;
    let created = state.directory.create_operator(operator, &body.name).await?;
    let key = state.directory.create_access_key(None, &body.name, None).await?;
    tracing::info!(
        new_operator = %body.name, by = %operator.user, pending = created.is_pending(),
        "operator created"
    );
    let mut out = operator_view(&created);
    out["user"] = json!(body.name);
    out["access_key_id"] = json!(key.info.access_key_id);
    out["secret_access_key"] = json!(key.secret_access_key);
    Ok((StatusCode::CREATED, Json(out)))
}

/// `POST /admin/v1/operators/{name}/approve`: a second operator makes a pending operator active.
pub(crate) async fn approve_operator(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let grant = authorize(&state, &headers, Scope::Tenants)?;
    let operator = require_operator(&grant)?;
    let approved = state.directory.approve_operator(operator, &name).await?;
    tracing::info!(
        operator = %name, created_by = approved.created_by.as_deref().unwrap_or("-"), approved_by = %operator.user,
        "operator approved"
    );
    Ok(Json(operator_view(&approved)))
}

// ---- users, keys, policies (tenant admins only)

#[derive(Deserialize)]
pub(crate) struct CreateUser {
    name: String,
    #[serde(default = "member")]
    role: Role,
}

fn member() -> Role {
    Role::Member
}

pub(crate) async fn list_users(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<User>>, ApiError> {
    require_tenant_admin(&authorize(&state, &headers, Scope::Iam)?, &tenant)?;
    Ok(Json(state.directory.users(Some(&tenant))))
}

pub(crate) async fn create_user(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    Json(body): Json<CreateUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    require_tenant_admin(&authorize(&state, &headers, Scope::Iam)?, &tenant)?;
    if body.role == Role::Operator {
        return Err(ApiError(StatusCode::BAD_REQUEST, "tenant users are admin or member".into()));
    }
    Ok((StatusCode::CREATED, Json(state.directory.create_user(Some(&tenant), &body.name, body.role).await?)))
}

pub(crate) async fn delete_user(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((tenant, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    require_tenant_admin(&authorize(&state, &headers, Scope::Iam)?, &tenant)?;
    state.directory.delete_user(Some(&tenant), &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
pub(crate) struct CreateKey {
    expires_unix_s: Option<i64>,
}

pub(crate) async fn create_key(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((tenant, user)): Path<(String, String)>,
    body: Option<Json<CreateKey>>,
) -> Result<(StatusCode, Json<NewAccessKey>), ApiError> {
    require_tenant_admin(&authorize(&state, &headers, Scope::Iam)?, &tenant)?;
    let expires = body.and_then(|b| b.0.expires_unix_s);
    Ok((StatusCode::CREATED, Json(state.directory.create_access_key(Some(&tenant), &user, expires).await?)))
}

pub(crate) async fn list_user_keys(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((tenant, user)): Path<(String, String)>,
) -> Result<Json<Vec<AccessKeyInfo>>, ApiError> {
    require_tenant_admin(&authorize(&state, &headers, Scope::Iam)?, &tenant)?;
    state.directory.user(Some(&tenant), &user)?;
    Ok(Json(state.directory.access_keys(Some(&tenant), Some(&user))))
}

pub(crate) async fn list_tenant_keys(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<AccessKeyInfo>>, ApiError> {
    require_tenant_admin(&authorize(&state, &headers, Scope::Iam)?, &tenant)?;
    Ok(Json(state.directory.access_keys(Some(&tenant), None)))
}

pub(crate) async fn key_status(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((tenant, id, action)): Path<(String, String, String)>,
) -> Result<Json<AccessKeyInfo>, ApiError> {
    require_tenant_admin(&authorize(&state, &headers, Scope::Iam)?, &tenant)?;
    let status = match action.as_str() {
        "disable" => KeyStatus::Inactive,
        "enable" => KeyStatus::Active,
        other => return Err(ApiError(StatusCode::NOT_FOUND, format!("unknown key action {other:?}"))),
    };
    state.directory.set_access_key_status(Some(&tenant), &id, status).await?;
    Ok(Json(state.directory.access_key(Some(&tenant), &id)?))
}

pub(crate) async fn delete_key(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    require_tenant_admin(&authorize(&state, &headers, Scope::Iam)?, &tenant)?;
    state.directory.delete_access_key(Some(&tenant), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn put_policy(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((tenant, user, name)): Path<(String, String, String)>,
    body: String,
) -> Result<StatusCode, ApiError> {
    require_tenant_admin(&authorize(&state, &headers, Scope::Iam)?, &tenant)?;
    state.directory.put_user_policy(Some(&tenant), &user, &name, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn get_policy(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((tenant, user, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    require_tenant_admin(&authorize(&state, &headers, Scope::Iam)?, &tenant)?;
    let u = state.directory.user(Some(&tenant), &user)?;
    let text =
        u.policies.get(&name).ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("policy {name} not found")))?;
    serde_json::from_str(text).map(Json).map_err(ApiError::internal)
}

pub(crate) async fn delete_policy(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((tenant, user, name)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    require_tenant_admin(&authorize(&state, &headers, Scope::Iam)?, &tenant)?;
    state.directory.delete_user_policy(Some(&tenant), &user, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- break-glass

#[derive(Deserialize)]
pub(crate) struct BreakGlassRequest {
    tenant: String,
    bucket: Option<String>,
    reason: String,
    #[serde(default = "one_hour")]
    duration_seconds: i64,
}

fn one_hour() -> i64 {
    3600
}

pub(crate) async fn request_break_glass(
    State(state): State<AdminState>,
    headers: HeaderMap,
    note: Option<Extension<AuditNote>>,
    Json(body): Json<BreakGlassRequest>,
) -> Result<(StatusCode, Json<BreakGlass>), ApiError> {
    // The tenant whose data is at stake sees the request on its record.
    if let Some(Extension(note)) = &note {
        note.update(|e| e.tenant = Some(body.tenant.clone()));
    }
    let grant = authorize(&state, &headers, Scope::BreakGlass)?;
    let operator = require_operator(&grant)?;
    let request = state
        .directory
        .request_break_glass(operator, &body.tenant, body.bucket.as_deref(), &body.reason, body.duration_seconds)
        .await?;
    tracing::warn!(
        target: "coffre::break_glass",
        id = %request.id, operator = %operator.user, tenant = %request.tenant,
        bucket = request.bucket.as_deref().unwrap_or("*"), reason = %request.reason,
        "break-glass access requested"
    );
    Ok((StatusCode::CREATED, Json(request)))
}

pub(crate) async fn approve_break_glass(
    State(state): State<AdminState>,
    headers: HeaderMap,
    note: Option<Extension<AuditNote>>,
    Path(id): Path<String>,
) -> Result<Json<BreakGlass>, ApiError> {
    if let (Some(Extension(note)), Some(request)) =
        (&note, state.directory.break_glass_requests().into_iter().find(|r| r.id == id))
    {
        note.update(|e| e.tenant = Some(request.tenant));
    }
    let grant = authorize(&state, &headers, Scope::BreakGlass)?;
    let operator = require_operator(&grant)?;
    let approved = state.directory.approve_break_glass(operator, &id).await?;
    tracing::warn!(
        target: "coffre::break_glass",
        id = %approved.id, requested_by = %approved.requested_by, approved_by = %operator.user,
        tenant = %approved.tenant, expires_unix_s = approved.expires_unix_s.unwrap_or(0),
        "break-glass access approved"
    );
    Ok(Json(approved))
}

pub(crate) async fn list_break_glass(
    State(state): State<AdminState>,
    headers: HeaderMap,
) -> Result<Json<Vec<BreakGlass>>, ApiError> {
    require_operator(&authorize(&state, &headers, Scope::BreakGlass)?)?;
    Ok(Json(state.directory.break_glass_requests()))
}

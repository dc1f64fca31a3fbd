//! Bucket quotas (operators) and usage figures (operators, and a tenant's own admins).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use coffre_iam::{Role, Scope};
use coffre_store::{BucketName, Quota};
use serde::{Deserialize, Serialize};

use crate::{AdminState, ApiError, authorize, require_operator};

#[derive(Serialize)]
pub(crate) struct BucketUsage {
    bucket: String,
    bytes: u64,
    objects: u64,
    quota: Option<Quota>,
}

#[derive(Serialize)]
pub(crate) struct TenantUsage {
    tenant: String,
    buckets: Vec<BucketUsage>,
    total_bytes: u64,
    total_objects: u64,
}

/// `GET /admin/v1/tenants/{tenant}/usage`.
pub(crate) async fn tenant_usage(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> Result<Json<TenantUsage>, ApiError> {
    let grant = authorize(&state, &headers, Scope::Usage)?;
    let p = &grant.principal;
    let own_admin = p.role == Role::Admin && p.tenant.as_deref() == Some(tenant.as_str());
    if p.role != Role::Operator && !own_admin {
        return Err(ApiError::forbidden(format!("only operators and admins of tenant {tenant} see its usage")));
    }
    if !state.directory.tenant_exists(&tenant) {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("tenant {tenant} not found")));
    }
    let mut buckets = Vec::new();
    for (name, record) in state.store.buckets()? {
        if record.owner.as_deref() != Some(tenant.as_str()) {
            continue;
        }
        let usage = state.store.usage(&name)?;
        buckets.push(BucketUsage {
            bucket: name.to_string(),
            bytes: usage.bytes,
            objects: usage.objects,
            quota: record.quota,
        });
    }
    let total_bytes = buckets.iter().map(|b| b.bytes).sum();
    let total_objects = buckets.iter().map(|b| b.objects).sum();
    Ok(Json(TenantUsage { tenant, buckets, total_bytes, total_objects }))
}

#[derive(Deserialize)]
pub(crate) struct SetQuota {
    max_bytes: Option<u64>,
    max_objects: Option<u64>,
}

/// `PUT /admin/v1/buckets/{bucket}/quota`: both limits at once; an absent one is unlimited.
pub(crate) async fn set_quota(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(bucket): Path<String>,
    Json(body): Json<SetQuota>,
) -> Result<Json<BucketUsage>, ApiError> {
    let grant = authorize(&state, &headers, Scope::Quotas)?;
    let operator = require_operator(&grant)?;
    let bucket = bucket_name(&bucket)?;
    let quota = Quota { max_bytes: body.max_bytes, max_objects: body.max_objects };
    let stored = (quota.max_bytes.is_some() || quota.max_objects.is_some()).then_some(quota);
    let permit = state.permits.bucket(coffre_store::permit::actions::SET_QUOTA, bucket.clone());
    state.store.update_bucket(&permit, coffre_store::BucketChange::SetQuota(stored)).await?;
    tracing::info!(bucket = %bucket, operator = %operator.user, ?quota, "bucket quota set");
    bucket_usage(&state, bucket)
}

/// `GET /admin/v1/buckets/{bucket}/quota`: the quota and what the bucket holds.
pub(crate) async fn get_quota(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(bucket): Path<String>,
) -> Result<Json<BucketUsage>, ApiError> {
    require_operator(&authorize(&state, &headers, Scope::Quotas)?)?;
    bucket_usage(&state, bucket_name(&bucket)?)
}

/// A bucket named in a URL; no bucket has a name that does not parse.
fn bucket_name(name: &str) -> Result<BucketName, ApiError> {
    BucketName::parse(name).map_err(|_| coffre_store::StoreError::NoSuchBucket.into())
}

fn bucket_usage(state: &AdminState, bucket: BucketName) -> Result<Json<BucketUsage>, ApiError> {
    let record = state.store.bucket(&bucket)?;
    let usage = state.store.usage(&bucket)?;
    Ok(Json(BucketUsage {
        bucket: bucket.to_string(),
        bytes: usage.bytes,
        objects: usage.objects,
        quota: record.quota,
    }))
}

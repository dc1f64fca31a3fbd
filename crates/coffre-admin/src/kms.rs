//! Encryption key administration under `/admin/v1/keys` (operators, scope `kms`): create,
//! rotate (with a background re-wrap), disable, enable and destroy with a signed attestation.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use coffre_crypto::CryptoError;
use coffre_crypto::local::{KeyState, KeySummary};
use coffre_iam::Scope;
use serde::{Deserialize, Serialize};

use crate::{AdminState, ApiError, authorize, require_operator};

/// Where the re-wrap after a rotation stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RewrapProgress {
    /// Objects protected by the key when the re-wrap started.
    pub total: u64,
    /// Objects examined so far.
    pub done: u64,
    /// Objects whose data keys were re-wrapped.
    pub rewrapped: u64,
    /// Whether it has finished.
    pub finished: bool,
    /// The error that stopped it, if any.
    pub error: Option<String>,
}

impl From<CryptoError> for ApiError {
    fn from(e: CryptoError) -> Self {
        let status = match &e {
            CryptoError::NoSuchKey(_) => StatusCode::NOT_FOUND,
            CryptoError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            CryptoError::KeyDestroyed(_) | CryptoError::KeyDisabled(_) | CryptoError::KeyStore(_) => {
                StatusCode::CONFLICT
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

/// A key as the API shows it.
#[derive(Serialize, Deserialize)]
pub struct KeyView {
    #[serde(flatten)]
    pub summary: KeySummary,
    /// Buckets whose default encryption names this key.
    pub bucket_count: usize,
}

fn view(state: &AdminState, summary: KeySummary) -> Result<KeyView, ApiError> {
    let buckets = state.store.buckets().map_err(ApiError::internal)?;
    let bucket_count =
        buckets.iter().filter(|(_, b)| b.default_encryption.as_ref().is_some_and(|e| e.key_id == summary.id)).count();
    Ok(KeyView { summary, bucket_count })
}

pub(crate) async fn list_keys(
    State(state): State<AdminState>,
    headers: HeaderMap,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    require_operator(&authorize(&state, &headers, Scope::Kms)?)?;
    let keys = state.keys.list();
    Ok(Json(keys.into_iter().map(|k| view(&state, k)).collect::<Result<_, _>>()?))
}

#[derive(Deserialize)]
pub(crate) struct CreateKey {
    id: String,
}

pub(crate) async fn create_key(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Json(body): Json<CreateKey>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    require_operator(&authorize(&state, &headers, Scope::Kms)?)?;
    let summary = state.keys.create(&body.id)?;
    Ok((StatusCode::CREATED, Json(view(&state, summary)?)))
}

pub(crate) async fn show_key(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    require_operator(&authorize(&state, &headers, Scope::Kms)?)?;
    Ok(Json(view(&state, state.keys.summary(&id)?)?))
}

#[derive(Deserialize, Default)]
pub(crate) struct ActionBody {
    /// For `destroy`: must repeat the key id.
    confirm: Option<String>,
}

/// The signed record of a crypto-shredding.
#[derive(Serialize, Deserialize)]
pub struct DeletionAttestation {
    pub key_id: String,
    pub destroyed_unix_s: i64,
    pub objects_affected: u64,
    pub statement: String,
    /// Ed25519 signature over the JSON of the fields above, base64.
    pub signature: String,
    /// The node's Ed25519 public key, base64.
    pub public_key: String,
}

pub(crate) async fn key_action(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: Option<Json<ActionBody>>,
) -> Result<Response, ApiError> {
    require_operator(&authorize(&state, &headers, Scope::Kms)?)?;
    let summary = match action.as_str() {
        "disable" => state.keys.set_enabled(&id, false)?,
        "enable" => state.keys.set_enabled(&id, true)?,
        "rotate" => {
            let summary = state.keys.rotate(&id)?;
            start_rewrap(&state, &id)?;
            summary
        }
        "destroy" => {
            let confirm = body.and_then(|b| b.0.confirm);
            if confirm.as_deref() != Some(id.as_str()) {
                return Err(ApiError(StatusCode::BAD_REQUEST, "destroy needs {\"confirm\": \"<key id>\"}".into()));
            }
            return destroy(&state, &id).await.map(|a| Json(a).into_response());
        }
        other => return Err(ApiError(StatusCode::NOT_FOUND, format!("unknown key action {other:?}"))),
    };
    Ok(Json(view(&state, summary)?).into_response())
}

/// Re-wraps the key's data keys with its new version in the background; progress is visible at
/// `GET /admin/v1/keys/{id}/rewrap`.
fn start_rewrap(state: &AdminState, id: &str) -> Result<(), ApiError> {
    let total = state.store.count_objects_with_key(id).map_err(ApiError::internal)?;
    let progress = RewrapProgress { total, ..Default::default() };
    if let Ok(mut map) = state.rewraps.lock() {
        map.insert(id.to_owned(), progress);
    }
    let (store, rewraps, id) = (Arc::clone(&state.store), Arc::clone(&state.rewraps), id.to_owned());
    let permit = state.permits.service(coffre_store::permit::actions::ADMINISTER_KEYS);
    // A worker of the server's board: shutdown stops it between batches and waits for it.
    state.workers.spawn(&format!("key-rewrap:{id}"), |status, stop| async move {
        status.update(|s| s.state = coffre_store::worker::WorkerState::Running);
        let update = |f: &dyn Fn(&mut RewrapProgress)| {
            if let Ok(mut map) = rewraps.lock()
                && let Some(p) = map.get_mut(&id)
            {
                f(p);
            }
        };
        let result =
            store.rewrap_key(&permit, &id, &stop, |done| update(&|p: &mut RewrapProgress| p.done = done)).await;
        status.update(|s| s.passes += 1);
        match result {
            Ok(n) => update(&|p: &mut RewrapProgress| {
                p.rewrapped = n;
                p.finished = true;
            }),
            Err(e) => {
                tracing::warn!(key = %id, error = %e, "re-wrap after rotation stopped");
                status.failed(&e);
                let message = e.to_string();
                update(&|p: &mut RewrapProgress| {
                    p.error = Some(message.clone());
                    p.finished = true;
                });
            }
        }
    });
    Ok(())
}

pub(crate) async fn rewrap_progress(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RewrapProgress>, ApiError> {
    require_operator(&authorize(&state, &headers, Scope::Kms)?)?;
    let progress = state.rewraps.lock().ok().and_then(|m| m.get(&id).cloned());
    progress.map(Json).ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no re-wrap of key {id} since start-up")))
}

async fn destroy(state: &AdminState, id: &str) -> Result<DeletionAttestation, ApiError> {
    let current = state.keys.summary(id)?;
    if current.state == KeyState::Destroyed {
        return Err(ApiError(StatusCode::CONFLICT, format!("key {id} was already destroyed")));
    }
    let usage = state.store.key_usage(id).map_err(ApiError::internal)?;
    if usage.locked > 0 {
        // Destroying the key would erase what Object Lock promises to keep.
        let until = usage.locked_until.map_or_else(
            || "a legal hold is lifted".to_owned(),
            |ns| {
                time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
                    .map_or_else(|_| ns.to_string(), |t| t.date().to_string())
            },
        );
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "key {id} protects {} object versions under COMPLIANCE retention or legal hold (kept until {until}); it cannot be destroyed before",
                usage.locked
            ),
        ));
    }
    let objects_affected = usage.versions;
    state.keys.destroy(id)?;
    // Reclaim the space of what can never be read again.
    let permit = state.permits.service(coffre_store::permit::actions::ADMINISTER_KEYS);
    let shredded = state.store.shred_key(&permit, id).await.map_err(ApiError::internal)?;
    tracing::info!(key = id, objects = shredded, "freed the data of objects under the destroyed key");
    let destroyed_unix_s = time::OffsetDateTime::now_utc().unix_timestamp();
    let statement = format!(
        "Every version of key {id} was erased from this node's key store; the {objects_affected} objects it protected can no longer be decrypted."
    );
    let signed = serde_json::json!({
        "key_id": id, "destroyed_unix_s": destroyed_unix_s, "objects_affected": objects_affected, "statement": statement,
    });
    let (signature, public_key) = state.signer.sign(signed.to_string().as_bytes())?;
    let attestation = DeletionAttestation {
        key_id: id.to_owned(),
        destroyed_unix_s,
        objects_affected,
        statement,
        signature,
        public_key,
    };
    std::fs::create_dir_all(&state.attestations_dir).map_err(ApiError::internal)?;
    let path = state.attestations_dir.join(format!("{id}-{destroyed_unix_s}.json"));
    let json = serde_json::to_vec_pretty(&attestation).map_err(ApiError::internal)?;
    std::fs::write(&path, json).map_err(ApiError::internal)?;
    tracing::info!(key = id, objects = objects_affected, attestation = %path.display(), "key destroyed");
    Ok(attestation)
}

//! The admin listener: `/health` (200 once the server serves), `/metrics` (Prometheus), and
//! the key administration API under `/admin/v1/keys`, authenticated with the root credentials
//! (HTTP Basic, compared in constant time). The full admin API with scoped tokens comes with
//! the identity issue and will move into `coffre-admin`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use coffre_crypto::local::{KeyState, KeySummary};
use coffre_crypto::{CryptoError, KeyAdmin, LocalKeyProvider};
use coffre_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::credentials::RootCredentials;

/// What the admin handlers share.
#[derive(Clone)]
pub struct AdminState {
    pub metrics: PrometheusHandle,
    pub keys: Arc<dyn KeyAdmin>,
    /// Signs deletion attestations with the node key.
    pub signer: Arc<LocalKeyProvider>,
    pub store: Arc<Store>,
    pub root: Arc<RootCredentials>,
    pub attestations_dir: std::path::PathBuf,
    /// Progress of the background re-wrap that follows each rotation, by key id.
    pub rewraps: Arc<std::sync::Mutex<std::collections::HashMap<String, RewrapProgress>>>,
}

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

/// The admin routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/metrics", get(render_metrics))
        .route("/admin/v1/keys", get(list_keys).post(create_key))
        .route("/admin/v1/keys/{id}", get(show_key))
        .route("/admin/v1/keys/{id}/rewrap", get(rewrap_progress))
        .route("/admin/v1/keys/{id}/{action}", post(key_action))
        .with_state(state)
}

async fn render_metrics(State(state): State<AdminState>) -> String {
    state.metrics.render()
}

/// A JSON error answer.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
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

fn authorize(state: &AdminState, headers: &HeaderMap) -> Result<(), ApiError> {
    use base64::Engine as _;
    let denied = || ApiError(StatusCode::UNAUTHORIZED, "root credentials required (HTTP Basic)".into());
    let value = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(denied)?;
    let encoded = value.strip_prefix("Basic ").ok_or_else(denied)?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| denied())?;
    let expected = format!("{}:{}", state.root.access_key, state.root.secret_key);
    if bool::from(decoded.ct_eq(expected.as_bytes())) { Ok(()) } else { Err(denied()) }
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
    let buckets = state.store.buckets().map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let bucket_count =
        buckets.iter().filter(|(_, b)| b.default_encryption.as_ref().is_some_and(|e| e.key_id == summary.id)).count();
    Ok(KeyView { summary, bucket_count })
}

async fn list_keys(State(state): State<AdminState>, headers: HeaderMap) -> Result<Json<Vec<KeyView>>, ApiError> {
    authorize(&state, &headers)?;
    let keys = state.keys.list();
    Ok(Json(keys.into_iter().map(|k| view(&state, k)).collect::<Result<_, _>>()?))
}

#[derive(Deserialize)]
struct CreateKey {
    id: String,
}

async fn create_key(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Json(body): Json<CreateKey>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    authorize(&state, &headers)?;
    let summary = state.keys.create(&body.id)?;
    Ok((StatusCode::CREATED, Json(view(&state, summary)?)))
}

async fn show_key(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    authorize(&state, &headers)?;
    Ok(Json(view(&state, state.keys.summary(&id)?)?))
}

#[derive(Deserialize, Default)]
struct ActionBody {
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

async fn key_action(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: Option<Json<ActionBody>>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
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
    let total = state
        .store
        .count_objects_with_key(id)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let progress = RewrapProgress { total, ..Default::default() };
    if let Ok(mut map) = state.rewraps.lock() {
        map.insert(id.to_owned(), progress);
    }
    let (store, rewraps, id) = (Arc::clone(&state.store), Arc::clone(&state.rewraps), id.to_owned());
    tokio::spawn(async move {
        let update = |f: &dyn Fn(&mut RewrapProgress)| {
            if let Ok(mut map) = rewraps.lock()
                && let Some(p) = map.get_mut(&id)
            {
                f(p);
            }
        };
        let result = store.rewrap_key(&id, |done| update(&|p: &mut RewrapProgress| p.done = done)).await;
        match result {
            Ok(n) => update(&|p: &mut RewrapProgress| {
                p.rewrapped = n;
                p.finished = true;
            }),
            Err(e) => {
                tracing::warn!(key = %id, error = %e, "re-wrap after rotation stopped");
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

async fn rewrap_progress(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RewrapProgress>, ApiError> {
    authorize(&state, &headers)?;
    let progress = state.rewraps.lock().ok().and_then(|m| m.get(&id).cloned());
    progress.map(Json).ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no re-wrap of key {id} since start-up")))
}

async fn destroy(state: &AdminState, id: &str) -> Result<DeletionAttestation, ApiError> {
    let current = state.keys.summary(id)?;
    if current.state == KeyState::Destroyed {
        return Err(ApiError(StatusCode::CONFLICT, format!("key {id} was already destroyed")));
    }
    let objects_affected = state
        .store
        .count_objects_with_key(id)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    state.keys.destroy(id)?;
    // Reclaim the space of what can never be read again.
    let shredded =
        state.store.shred_key(id).await.map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
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
    std::fs::create_dir_all(&state.attestations_dir)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let path = state.attestations_dir.join(format!("{id}-{destroyed_unix_s}.json"));
    let json = serde_json::to_vec_pretty(&attestation)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    std::fs::write(&path, json).map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    tracing::info!(key = id, objects = objects_affected, attestation = %path.display(), "key destroyed");
    Ok(attestation)
}

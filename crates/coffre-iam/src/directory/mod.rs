//! The identity directory: tenants → users → access keys, user policies, admin tokens and
//! break-glass grants. Everything lives in memory for the hot path (a SigV4 secret lookup is one
//! hash-map read) and every change is written through [`DirectoryStorage`] before it takes
//! effect, so a change the admin API acknowledged survives a crash.
//!
//! Secrets are stored only sealed (under a data key wrapped by the key provider) and are shown
//! once, when created. Admin tokens are stored as their SHA-256, never in clear.
//!
//! Break-glass needs two distinct people, and the directory cannot see people, only operator
//! identities; so it keeps each operator's provenance (who asked for it, who approved it, since
//! when it may act) and refuses a second person who may be the first one under another name
//! (issue 14): see [`Directory::approve_break_glass`] and docs/iam.md, "Break-glass trust model".

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use coffre_crypto::{KeyProvider, SealedSecret};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::policy::{Policy, PolicyError};

mod two_person;

/// What can go wrong in the directory.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("invalid credentials")]
    BadCredentials,
    #[error("the access key {0} is not active")]
    KeyInactive(String),
    #[error("the access key {0} has expired")]
    KeyExpired(String),
    #[error("MalformedPolicy: {0}")]
    MalformedPolicy(#[from] PolicyError),
    #[error("identity storage: {0}")]
    Storage(String),
    #[error("key provider: {0}")]
    Crypto(#[from] coffre_crypto::CryptoError),
}

/// Result of directory operations.
pub type IamResult<T> = Result<T, IamError>;

/// The operator of the root credentials: a bootstrap identity, not a person.
pub const ROOT_OPERATOR: &str = "root";
/// Operators besides root that are active as soon as they are created (bootstrap: two, so
/// that break-glass has a requester and an approver); every further one waits for a second
/// operator's approval.
pub const BOOTSTRAP_OPERATORS_MAX: usize = 2;
/// How long an operator must have been active before it may approve (break-glass access, a
/// new operator), by default: a day, so that its creation is on the audit trail for a day
/// before it can count as a second person.
pub const BREAK_GLASS_COOLDOWN_S_DEFAULT: i64 = 86_400;
/// The longest cool-down accepted: 30 days.
pub const BREAK_GLASS_COOLDOWN_S_MAX: i64 = 30 * 86_400;
const _: () = assert!(BREAK_GLASS_COOLDOWN_S_DEFAULT <= BREAK_GLASS_COOLDOWN_S_MAX);

/// Where the directory keeps its records (the metadata database, in the server).
#[async_trait::async_trait]
pub trait DirectoryStorage: Send + Sync + 'static {
    /// Every stored record, as written.
    fn load(&self) -> Result<Vec<(String, Vec<u8>)>, String>;
    /// Durably writes (`Some`) or removes (`None`) records, all or none.
    async fn write(&self, changes: Vec<(String, Option<Vec<u8>>)>) -> Result<(), String>;
}

/// What an identity may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Runs the service: tenants, quotas, keys. No access to tenant data.
    Operator,
    /// Administers one tenant: its users, keys and policies; all of its buckets.
    Admin,
    /// A tenant user: exactly what policies grant.
    Member,
}

/// What an admin token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Create, list and delete tenants and operators.
    Tenants,
    /// Users, access keys and user policies.
    Iam,
    /// Bucket quotas.
    Quotas,
    /// Usage figures.
    Usage,
    /// Encryption keys (create, rotate, disable, destroy).
    Kms,
    /// Request and approve break-glass data access.
    BreakGlass,
    /// Export the tenant's audit records.
    Audit,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 7] =
        [Scope::Tenants, Scope::Iam, Scope::Quotas, Scope::Usage, Scope::Kms, Scope::BreakGlass, Scope::Audit];
    /// The scopes of operators.
    const OPERATOR: [Scope; 6] =
        [Scope::Tenants, Scope::Iam, Scope::Quotas, Scope::Usage, Scope::Kms, Scope::BreakGlass];

    /// The scopes a role may hold.
    pub fn allowed_for(role: Role) -> &'static [Scope] {
        match role {
            Role::Operator => &Scope::OPERATOR,
            Role::Admin => &[Scope::Iam, Scope::Usage, Scope::Audit],
            Role::Member => &[],
        }
    }

    /// The name used in the API.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Tenants => "tenants",
            Scope::Iam => "iam",
            Scope::Quotas => "quotas",
            Scope::Usage => "usage",
            Scope::Kms => "kms",
            Scope::BreakGlass => "break-glass",
            Scope::Audit => "audit",
        }
    }
}

/// An authenticated identity, as authorisation sees it.
#[derive(Debug)]
pub struct Principal {
    /// The tenant; `None` for operators.
    pub tenant: Option<String>,
    pub user: String,
    pub role: Role,
    /// `arn:aws:iam::<tenant>:user/<name>`, or `arn:coffre:iam:::operator/<name>`.
    pub arn: String,
    /// The user's identity policies, parsed.
    pub policies: Vec<Arc<Policy>>,
}

impl Principal {
    /// Whether this is an operator identity.
    pub fn is_operator(&self) -> bool {
        self.role == Role::Operator
    }
}

/// A tenant (a customer organisation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tenant {
    pub name: String,
    pub created_unix_s: i64,
}

/// A user; `tenant` is `None` for operators.
///
/// Stored as JSON. Format history (each change only adds defaulted fields, so every older
/// record still decodes; a test decodes a frozen record of each): v1 had no provenance; v2
/// adds `created_by`, `creation_approved_by` and `active_since_unix_s`. A v1 operator reads
/// as created by no one known and active since the epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub tenant: Option<String>,
    pub name: String,
    pub role: Role,
    /// Inline identity policies by name (their JSON, as given).
    #[serde(default)]
    pub policies: BTreeMap<String, String>,
    pub created_unix_s: i64,
    /// Operators: the operator that created this one (`None`: not known, for root and for
    /// operators created before this was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Operators created after bootstrap: the second operator that approved the creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_approved_by: Option<String>,
    /// Since when the user may act; `None` while an operator awaits a second operator's
    /// approval (its keys do not authenticate). Always written, since a missing field means a
    /// v1 record: active since the epoch.
    #[serde(default = "active_since_v1")]
    pub active_since_unix_s: Option<i64>,
}

fn active_since_v1() -> Option<i64> {
    Some(0)
}

impl User {
    /// Whether this is an operator still waiting for a second operator's approval.
    pub fn is_pending(&self) -> bool {
        self.active_since_unix_s.is_none()
    }
}

/// Whether an access key may sign requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyStatus {
    Active,
    Inactive,
}

/// An access key, as listed (never with its secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessKeyInfo {
    pub access_key_id: String,
    pub tenant: Option<String>,
    pub user: String,
    pub status: KeyStatus,
    pub expires_unix_s: Option<i64>,
    pub created_unix_s: i64,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    #[serde(flatten)]
    info: AccessKeyInfo,
    secret: SealedSecret,
}

/// A newly created access key: the only time its secret is shown.
#[derive(Debug, Serialize)]
pub struct NewAccessKey {
    #[serde(flatten)]
    pub info: AccessKeyInfo,
    pub secret_access_key: String,
}

/// What a valid admin token grants.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub principal: Arc<Principal>,
    pub scopes: Vec<Scope>,
    pub expires_unix_s: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredToken {
    tenant: Option<String>,
    user: String,
    scopes: Vec<Scope>,
    expires_unix_s: i64,
}

/// A request by one operator to read one tenant's data, which a different operator approves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BreakGlass {
    pub id: String,
    pub requested_by: String,
    pub tenant: String,
    /// Limited to one bucket, or every bucket of the tenant.
    pub bucket: Option<String>,
    pub reason: String,
    pub duration_s: i64,
    pub requested_unix_s: i64,
    pub approved_by: Option<String>,
    /// Set on approval: access ends then.
    pub expires_unix_s: Option<i64>,
}

struct KeyEntry {
    info: AccessKeyInfo,
    secret: Zeroizing<String>,
    stored: Option<SealedSecret>,
}

#[derive(Default)]
struct State {
    tenants: BTreeMap<String, Tenant>,
    /// By (tenant or "" for operators, user name).
    users: BTreeMap<(String, String), User>,
    principals: HashMap<(String, String), Arc<Principal>>,
    keys: HashMap<String, KeyEntry>,
    tokens: HashMap<String, StoredToken>,
    break_glass: BTreeMap<String, BreakGlass>,
}

/// The identity directory.
pub struct Directory {
    state: RwLock<State>,
    /// Serialises changes so that "validate, persist, apply" is atomic.
    changes: tokio::sync::Mutex<()>,
    storage: Arc<dyn DirectoryStorage>,
    keys: Arc<dyn KeyProvider>,
    /// How long an operator must have been active before it may approve, in seconds.
    cooldown_s: AtomicI64,
}

/// Seconds since the Unix epoch.
pub fn now_unix_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// An access key that may sign now (active, unexpired), with its user's identity.
fn active_key<'s>(state: &'s State, access_key_id: &str) -> IamResult<(&'s KeyEntry, Arc<Principal>)> {
    let entry = state.keys.get(access_key_id).ok_or(IamError::BadCredentials)?;
    if entry.info.status != KeyStatus::Active {
        return Err(IamError::KeyInactive(access_key_id.to_owned()));
    }
    if entry.info.expires_unix_s.is_some_and(|e| e <= now_unix_s()) {
        return Err(IamError::KeyExpired(access_key_id.to_owned()));
    }
    let key = user_key(entry.info.tenant.as_deref(), &entry.info.user);
    if state.users.get(&key).is_some_and(User::is_pending) {
        return Err(IamError::KeyInactive(access_key_id.to_owned()));
    }
    let principal = state.principals.get(&key).cloned().ok_or(IamError::BadCredentials)?;
    Ok((entry, principal))
}

fn user_key(tenant: Option<&str>, user: &str) -> (String, String) {
    (tenant.unwrap_or("").to_owned(), user.to_owned())
}

fn secret_label(access_key_id: &str) -> String {
    format!("coffre-access-key-v1\0{access_key_id}")
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_string(alphabet: &[u8], len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len).map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())])).collect()
}

/// Tenant names: 3–63 lowercase letters, digits and hyphens, as bucket names.
fn validate_tenant_name(name: &str) -> IamResult<()> {
    let ok = (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if ok { Ok(()) } else { Err(IamError::Invalid(format!("invalid tenant name {name:?}: 3-63 of a-z, 0-9, -"))) }
}

/// User names as IAM allows them: 1–64 of letters, digits and `+=,.@_-`.
fn validate_user_name(name: &str) -> IamResult<()> {
    let ok =
        (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok { Ok(()) } else { Err(IamError::Invalid(format!("invalid user name {name:?}: 1-64 of A-Z a-z 0-9 +=,.@_-"))) }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Invariant: directory records are plain structs that always serialize.
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> IamResult<T> {
    serde_json::from_slice(bytes).map_err(|e| IamError::Storage(format!("record {key}: {e}")))
}

fn build_principal(user: &User) -> IamResult<Arc<Principal>> {
    let policies = user.policies.values().map(|p| Policy::parse(p).map(Arc::new)).collect::<Result<_, _>>()?;
    let arn = match &user.tenant {
        Some(t) => format!("arn:aws:iam::{t}:user/{}", user.name),
        None => format!("arn:coffre:iam:::operator/{}", user.name),
    };
    Ok(Arc::new(Principal { tenant: user.tenant.clone(), user: user.name.clone(), role: user.role, arn, policies }))
}

impl Directory {
    /// Loads the directory; secrets are unsealed with `keys`.
    pub fn open(storage: Arc<dyn DirectoryStorage>, keys: Arc<dyn KeyProvider>) -> IamResult<Directory> {
        let mut state = State::default();
        let mut stored_keys = Vec::new();
        for (key, bytes) in storage.load().map_err(IamError::Storage)? {
            match key.split_once('/').map(|(kind, _)| kind) {
                Some("tenant") => {
                    let t: Tenant = decode(&key, &bytes)?;
                    state.tenants.insert(t.name.clone(), t);
                }
                Some("user") => {
                    let u: User = decode(&key, &bytes)?;
                    state.users.insert(user_key(u.tenant.as_deref(), &u.name), u);
                }
                Some("key") => stored_keys.push(decode::<StoredKey>(&key, &bytes)?),
                Some("token") => {
                    let hash = key.trim_start_matches("token/").to_owned();
                    state.tokens.insert(hash, decode(&key, &bytes)?);
                }
                Some("break-glass") => {
                    let b: BreakGlass = decode(&key, &bytes)?;
                    state.break_glass.insert(b.id.clone(), b);
                }
                _ => return Err(IamError::Storage(format!("unknown identity record {key}"))),
            }
        }
        for (k, u) in &state.users {
            state.principals.insert(k.clone(), build_principal(u)?);
        }
        for k in stored_keys {
            let plain =
                coffre_crypto::open_with_provider(keys.as_ref(), &secret_label(&k.info.access_key_id), &k.secret)?;
            let secret = Zeroizing::new(String::from_utf8_lossy(&plain).into_owned());
            state.keys.insert(k.info.access_key_id.clone(), KeyEntry { info: k.info, secret, stored: Some(k.secret) });
        }
        let cooldown_s = AtomicI64::new(BREAK_GLASS_COOLDOWN_S_DEFAULT);
        Ok(Directory { state: RwLock::new(state), changes: tokio::sync::Mutex::new(()), storage, keys, cooldown_s })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn persist(&self, changes: Vec<(String, Option<Vec<u8>>)>) -> IamResult<()> {
        self.storage.write(changes).await.map_err(IamError::Storage)
    }

    /// Installs the root operator (from the server's root credentials file); kept in memory.
    pub fn install_root(&self, access_key: &str, secret: &str) {
        let user = User {
            tenant: None,
            name: ROOT_OPERATOR.to_owned(),
            role: Role::Operator,
            policies: BTreeMap::new(),
            created_unix_s: 0,
            created_by: None,
            creation_approved_by: None,
            active_since_unix_s: Some(0),
        };
        let mut state = self.write();
        if let Ok(p) = build_principal(&user) {
            state.principals.insert(user_key(None, ROOT_OPERATOR), p);
        }
        state.users.insert(user_key(None, ROOT_OPERATOR), user);
        let info = AccessKeyInfo {
            access_key_id: access_key.to_owned(),
            tenant: None,
            user: ROOT_OPERATOR.to_owned(),
            status: KeyStatus::Active,
            expires_unix_s: None,
            created_unix_s: 0,
        };
        state
            .keys
            .insert(access_key.to_owned(), KeyEntry { info, secret: Zeroizing::new(secret.to_owned()), stored: None });
    }

    // ---- authentication

    /// The secret and identity behind an access key, for SigV4 verification (which compares
    /// signatures in constant time). Inactive and expired keys are refused.
    pub fn secret_for(&self, access_key_id: &str) -> IamResult<(Zeroizing<String>, Arc<Principal>)> {
        let state = self.read();
        let (entry, principal) = active_key(&state, access_key_id)?;
        Ok((entry.secret.clone(), principal))
    }

    /// The identity behind an access key (already authenticated by SigV4). Runs on every
    /// request: it does not copy the secret.
    pub fn principal_for(&self, access_key_id: &str) -> Option<Arc<Principal>> {
        active_key(&self.read(), access_key_id).ok().map(|(_, p)| p)
    }

    /// Checks an access key and its secret (the admin API's token request), in constant time.
    pub fn authenticate(&self, access_key_id: &str, secret: &str) -> IamResult<Arc<Principal>> {
        let (expected, principal) = self.secret_for(access_key_id).map_err(|_| IamError::BadCredentials)?;
        if bool::from(expected.as_bytes().ct_eq(secret.as_bytes())) {
            Ok(principal)
        } else {
            Err(IamError::BadCredentials)
        }
    }

    // ---- tenants

    /// Creates a tenant.
    pub async fn create_tenant(&self, name: &str) -> IamResult<Tenant> {
        validate_tenant_name(name)?;
        let _serial = self.changes.lock().await;
        if self.read().tenants.contains_key(name) {
            return Err(IamError::AlreadyExists(format!("tenant {name}")));
        }
        let tenant = Tenant { name: name.to_owned(), created_unix_s: now_unix_s() };
        self.persist(vec![(format!("tenant/{name}"), Some(encode(&tenant)))]).await?;
        self.write().tenants.insert(name.to_owned(), tenant.clone());
        Ok(tenant)
    }

    /// All tenants.
    pub fn tenants(&self) -> Vec<Tenant> {
        self.read().tenants.values().cloned().collect()
    }

    /// Whether a tenant exists.
    pub fn tenant_exists(&self, name: &str) -> bool {
        self.read().tenants.contains_key(name)
    }

    /// Deletes a tenant with its users, their keys and tokens. The caller checks it owns no
    /// buckets.
    pub async fn delete_tenant(&self, name: &str) -> IamResult<()> {
        let _serial = self.changes.lock().await;
        if !self.read().tenants.contains_key(name) {
            return Err(IamError::NotFound(format!("tenant {name}")));
        }
        let (users, keys, tokens) = {
            let state = self.read();
            let users: Vec<_> = state.users.keys().filter(|(t, _)| t == name).cloned().collect();
            let keys: Vec<_> = state
                .keys
                .values()
                .filter(|k| k.info.tenant.as_deref() == Some(name))
                .map(|k| k.info.access_key_id.clone())
                .collect();
            let tokens: Vec<_> = state
                .tokens
                .iter()
                .filter(|(_, t)| t.tenant.as_deref() == Some(name))
                .map(|(h, _)| h.clone())
                .collect();
            (users, keys, tokens)
        };
        let mut changes = vec![(format!("tenant/{name}"), None)];
        changes.extend(users.iter().map(|(t, u)| (format!("user/{t}/{u}"), None)));
        changes.extend(keys.iter().map(|k| (format!("key/{k}"), None)));
        changes.extend(tokens.iter().map(|h| (format!("token/{h}"), None)));
        self.persist(changes).await?;
        let mut state = self.write();
        state.tenants.remove(name);
        for u in &users {
            state.users.remove(u);
            state.principals.remove(u);
        }
        for k in &keys {
            state.keys.remove(k);
        }
        for h in &tokens {
            state.tokens.remove(h);
        }
        Ok(())
    }

    // ---- users

    /// Creates a user in a tenant: an admin or a member. Operators are made by
    /// [`Directory::create_operator`].
    pub async fn create_user(&self, tenant: Option<&str>, name: &str, role: Role) -> IamResult<User> {
        validate_user_name(name)?;
        let Some(tenant) = tenant.filter(|_| role != Role::Operator) else {
            return Err(IamError::Invalid("operators belong to no tenant; tenant users are admin or member".into()));
        };
        let _serial = self.changes.lock().await;
        if !self.read().tenants.contains_key(tenant) {
            return Err(IamError::NotFound(format!("tenant {tenant}")));
        }
        let now = now_unix_s();
        let user = User {
            tenant: Some(tenant.to_owned()),
            name: name.to_owned(),
            role,
            policies: BTreeMap::new(),
            created_unix_s: now,
            created_by: None,
            creation_approved_by: None,
            active_since_unix_s: Some(now),
        };
        self.insert_user(user).await
    }

    /// Stores a new user; the caller holds `changes`.
    async fn insert_user(&self, user: User) -> IamResult<User> {
        let key = user_key(user.tenant.as_deref(), &user.name);
        if self.read().users.contains_key(&key) {
            return Err(IamError::AlreadyExists(format!("user {}", user.name)));
        }
        let principal = build_principal(&user)?;
        self.persist(vec![(format!("user/{}/{}", key.0, key.1), Some(encode(&user)))]).await?;
        let mut state = self.write();
        state.principals.insert(key.clone(), principal);
        state.users.insert(key, user.clone());
        Ok(user)
    }

    /// The users of a tenant (or the operators).
    pub fn users(&self, tenant: Option<&str>) -> Vec<User> {
        let t = tenant.unwrap_or("");
        self.read().users.iter().filter(|((ut, _), _)| ut == t).map(|(_, u)| u.clone()).collect()
    }

    /// One user.
    pub fn user(&self, tenant: Option<&str>, name: &str) -> IamResult<User> {
        self.read()
            .users
            .get(&user_key(tenant, name))
            .cloned()
            .ok_or_else(|| IamError::NotFound(format!("user {name}")))
    }

    /// Deletes a user and its access keys.
    pub async fn delete_user(&self, tenant: Option<&str>, name: &str) -> IamResult<()> {
        let _serial = self.changes.lock().await;
        let key = user_key(tenant, name);
        if tenant.is_none() && name == ROOT_OPERATOR {
            return Err(IamError::Forbidden("the root operator cannot be deleted".into()));
        }
        if !self.read().users.contains_key(&key) {
            return Err(IamError::NotFound(format!("user {name}")));
        }
        let keys: Vec<String> = self
            .read()
            .keys
            .values()
            .filter(|k| k.info.tenant.as_deref() == tenant && k.info.user == name)
            .map(|k| k.info.access_key_id.clone())
            .collect();
        let mut changes = vec![(format!("user/{}/{}", key.0, key.1), None)];
        changes.extend(keys.iter().map(|k| (format!("key/{k}"), None)));
        self.persist(changes).await?;
        let mut state = self.write();
        state.users.remove(&key);
        state.principals.remove(&key);
        for k in &keys {
            state.keys.remove(k);
        }
        Ok(())
    }

    /// Attaches (or replaces) an inline identity policy; rejected with the reason if malformed.
    pub async fn put_user_policy(&self, tenant: Option<&str>, user: &str, name: &str, json: &str) -> IamResult<()> {
        Policy::parse(json)?;
        validate_user_name(name).map_err(|_| IamError::Invalid(format!("invalid policy name {name:?}")))?;
        self.update_user(tenant, user, |u| {
            u.policies.insert(name.to_owned(), json.to_owned());
            Ok(())
        })
        .await
    }

    /// Removes an inline identity policy.
    pub async fn delete_user_policy(&self, tenant: Option<&str>, user: &str, name: &str) -> IamResult<()> {
        self.update_user(tenant, user, |u| {
            u.policies.remove(name).map(|_| ()).ok_or_else(|| IamError::NotFound(format!("policy {name}")))
        })
        .await
    }

    async fn update_user(
        &self,
        tenant: Option<&str>,
        name: &str,
        change: impl FnOnce(&mut User) -> IamResult<()>,
    ) -> IamResult<()> {
        let _serial = self.changes.lock().await;
        let key = user_key(tenant, name);
        let mut user =
            self.read().users.get(&key).cloned().ok_or_else(|| IamError::NotFound(format!("user {name}")))?;
        change(&mut user)?;
        let principal = build_principal(&user)?;
        self.persist(vec![(format!("user/{}/{}", key.0, key.1), Some(encode(&user)))]).await?;
        let mut state = self.write();
        state.principals.insert(key.clone(), principal);
        state.users.insert(key, user);
        Ok(())
    }

    // ---- access keys

    /// Creates an access key for a user; the secret is returned here and never again.
    pub async fn create_access_key(
        &self,
        tenant: Option<&str>,
        user: &str,
        expires_unix_s: Option<i64>,
    ) -> IamResult<NewAccessKey> {
        if expires_unix_s.is_some_and(|e| e <= now_unix_s()) {
            return Err(IamError::Invalid("the expiry must be in the future".into()));
        }
        let _serial = self.changes.lock().await;
        if !self.read().users.contains_key(&user_key(tenant, user)) {
            return Err(IamError::NotFound(format!("user {user}")));
        }
        let id = format!("CO{}", random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 18));
        let secret =
            Zeroizing::new(random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40));
        let sealed = coffre_crypto::seal_with_provider(
            self.keys.as_ref(),
            self.keys.default_key_id(),
            &secret_label(&id),
            secret.as_bytes(),
        )?;
        let info = AccessKeyInfo {
            access_key_id: id.clone(),
            tenant: tenant.map(str::to_owned),
            user: user.to_owned(),
            status: KeyStatus::Active,
            expires_unix_s,
            created_unix_s: now_unix_s(),
        };
        let stored = StoredKey { info: info.clone(), secret: sealed.clone() };
        self.persist(vec![(format!("key/{id}"), Some(encode(&stored)))]).await?;
        let shown = secret.as_str().to_owned();
        self.write().keys.insert(id, KeyEntry { info: info.clone(), secret, stored: Some(sealed) });
        Ok(NewAccessKey { info, secret_access_key: shown })
    }

    /// The access keys of a user (or of a whole tenant with `user` `None`).
    pub fn access_keys(&self, tenant: Option<&str>, user: Option<&str>) -> Vec<AccessKeyInfo> {
        let mut keys: Vec<AccessKeyInfo> = self
            .read()
            .keys
            .values()
            .filter(|k| k.stored.is_some() && k.info.tenant.as_deref() == tenant)
            .filter(|k| user.is_none_or(|u| k.info.user == u))
            .map(|k| k.info.clone())
            .collect();
        keys.sort_by(|a, b| (a.created_unix_s, &a.access_key_id).cmp(&(b.created_unix_s, &b.access_key_id)));
        keys
    }

    /// One access key, within a tenant (`None`: an operator's).
    pub fn access_key(&self, tenant: Option<&str>, id: &str) -> IamResult<AccessKeyInfo> {
        self.read()
            .keys
            .get(id)
            .filter(|k| k.stored.is_some() && k.info.tenant.as_deref() == tenant)
            .map(|k| k.info.clone())
            .ok_or_else(|| IamError::NotFound(format!("access key {id}")))
    }

    /// Activates or deactivates an access key.
    pub async fn set_access_key_status(&self, tenant: Option<&str>, id: &str, status: KeyStatus) -> IamResult<()> {
        let _serial = self.changes.lock().await;
        self.access_key(tenant, id)?;
        let stored = {
            let state = self.read();
            let entry = state.keys.get(id).ok_or_else(|| IamError::NotFound(format!("access key {id}")))?;
            let secret = entry.stored.clone().ok_or_else(|| IamError::NotFound(format!("access key {id}")))?;
            StoredKey { info: AccessKeyInfo { status, ..entry.info.clone() }, secret }
        };
        self.persist(vec![(format!("key/{id}"), Some(encode(&stored)))]).await?;
        if let Some(entry) = self.write().keys.get_mut(id) {
            entry.info.status = status;
        }
        Ok(())
    }

    /// Deletes an access key.
    pub async fn delete_access_key(&self, tenant: Option<&str>, id: &str) -> IamResult<()> {
        let _serial = self.changes.lock().await;
        self.access_key(tenant, id)?;
        self.persist(vec![(format!("key/{id}"), None)]).await?;
        self.write().keys.remove(id);
        Ok(())
    }

    // ---- admin tokens

    /// Issues a bearer token for `principal` with `scopes` (each must be allowed for its role)
    /// valid for `ttl_s` seconds.
    pub async fn issue_token(
        &self,
        principal: &Principal,
        scopes: &[Scope],
        ttl_s: i64,
    ) -> IamResult<(String, TokenGrant)> {
        let allowed = Scope::allowed_for(principal.role);
        if let Some(s) = scopes.iter().find(|s| !allowed.contains(s)) {
            return Err(IamError::Forbidden(format!("a {:?} may not hold the scope {}", principal.role, s.name())));
        }
        if !(1..=86_400).contains(&ttl_s) {
            return Err(IamError::Invalid("token lifetime must be 1 s to 24 h".into()));
        }
        let token =
            format!("coffre_{}", random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 43));
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        let stored = StoredToken {
            tenant: principal.tenant.clone(),
            user: principal.user.clone(),
            scopes: scopes.clone(),
            expires_unix_s: now_unix_s() + ttl_s,
        };
        let _serial = self.changes.lock().await;
        let hash = token_hash(&token);
        // Drop expired tokens while here, so the table does not grow without bound.
        let now = now_unix_s();
        let expired: Vec<String> =
            self.read().tokens.iter().filter(|(_, t)| t.expires_unix_s <= now).map(|(h, _)| h.clone()).collect();
        let mut changes: Vec<_> = expired.iter().map(|h| (format!("token/{h}"), None)).collect();
        changes.push((format!("token/{hash}"), Some(encode(&stored))));
        self.persist(changes).await?;
        let mut state = self.write();
        for h in &expired {
            state.tokens.remove(h);
        }
        let principal = state
            .principals
            .get(&user_key(stored.tenant.as_deref(), &stored.user))
            .cloned()
            .ok_or_else(|| IamError::NotFound(format!("user {}", stored.user)))?;
        state.tokens.insert(hash, stored.clone());
        Ok((token, TokenGrant { principal, scopes, expires_unix_s: stored.expires_unix_s }))
    }

    /// What a bearer token grants; expired tokens and tokens of deleted users grant nothing.
    pub fn token(&self, token: &str) -> IamResult<TokenGrant> {
        let state = self.read();
        let stored = state.tokens.get(&token_hash(token)).ok_or(IamError::BadCredentials)?;
        if stored.expires_unix_s <= now_unix_s() {
            return Err(IamError::Forbidden("the token has expired".into()));
        }
        let principal = state
            .principals
            .get(&user_key(stored.tenant.as_deref(), &stored.user))
            .cloned()
            .ok_or(IamError::BadCredentials)?;
        Ok(TokenGrant { principal, scopes: stored.scopes.clone(), expires_unix_s: stored.expires_unix_s })
    }
}

#[cfg(test)]
mod tests {
    //! The two-person rules of issue 14, on a directory in memory.

    use super::*;

    /// Records in memory.
    #[derive(Default)]
    struct MemStorage(std::sync::Mutex<BTreeMap<String, Vec<u8>>>);

    #[async_trait::async_trait]
    impl DirectoryStorage for MemStorage {
        fn load(&self) -> Result<Vec<(String, Vec<u8>)>, String> {
            Ok(self.0.lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        }

        async fn write(&self, changes: Vec<(String, Option<Vec<u8>>)>) -> Result<(), String> {
            let mut records = self.0.lock().unwrap();
            for (k, v) in changes {
                match v {
                    Some(v) => records.insert(k, v),
                    None => records.remove(&k),
                };
            }
            Ok(())
        }
    }

    /// A directory with a tenant `acme` and the root operator, over `records`; the key store
    /// lives in a directory removed on drop.
    struct Fixture {
        dir: Directory,
        keys_dir: std::path::PathBuf,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.keys_dir);
        }
    }

    const ROOT_KEY: &str = "ROOTACCESSKEY";
    const ROOT_SECRET: &str = "root-secret";

    async fn fixture_with(records: &[(&str, &str)], cooldown_s: i64) -> Fixture {
        let keys_dir = std::env::temp_dir().join(format!(
            "coffre-iam-test-{}-{}",
            std::process::id(),
            random_string(b"abcdefghijklmnopqrstuvwxyz", 12)
        ));
        let keys = Arc::new(coffre_crypto::LocalKeyProvider::open(&keys_dir).unwrap());
        let storage = MemStorage::default();
        for (k, v) in records {
            storage.0.lock().unwrap().insert((*k).to_owned(), v.as_bytes().to_vec());
        }
        let dir = Directory::open(Arc::new(storage), keys).unwrap();
        dir.set_break_glass_cooldown_s(cooldown_s).unwrap();
        dir.install_root(ROOT_KEY, ROOT_SECRET);
        if !dir.tenant_exists("acme") {
            dir.create_tenant("acme").await.unwrap();
        }
        Fixture { dir, keys_dir }
    }

    async fn fixture(cooldown_s: i64) -> Fixture {
        fixture_with(&[], cooldown_s).await
    }

    impl Fixture {
        fn root(&self) -> Arc<Principal> {
            self.dir.authenticate(ROOT_KEY, ROOT_SECRET).unwrap()
        }

        /// `by` creates operator `name`; its key (which does not authenticate while pending).
        async fn operator(&self, by: &Principal, name: &str) -> NewAccessKey {
            self.dir.create_operator(by, name).await.unwrap();
            self.dir.create_access_key(None, name, None).await.unwrap()
        }

        fn login(&self, key: &NewAccessKey) -> IamResult<Arc<Principal>> {
            self.dir.authenticate(&key.info.access_key_id, &key.secret_access_key)
        }

        async fn request(&self, by: &Principal) -> IamResult<BreakGlass> {
            self.dir.request_break_glass(by, "acme", None, "incident 42", 600).await
        }
    }

    fn forbidden_because(result: IamResult<impl std::fmt::Debug>, why: &str) {
        match result {
            Err(IamError::Forbidden(m)) => {
                assert!(m.starts_with("two-person rule:") && m.contains(why), "{m:?} should say {why:?}")
            }
            other => panic!("expected a refusal saying {why:?}, got {other:?}"),
        }
    }

    /// Goal: operator and user records written before provenance was kept still decode, and an
    /// old operator counts as active since long ago (past any cool-down). Method: frozen v1
    /// records, decoded alone and by a directory that then lets the old operator approve.
    #[tokio::test]
    async fn v1_user_records_decode_as_active_with_unknown_creator() {
        const V1_OPERATOR: &str =
            r#"{"tenant":null,"name":"olga","role":"operator","policies":{},"created_unix_s":1700000000}"#;
        const V1_MEMBER: &str = r#"{"tenant":"acme","name":"mia","role":"member","created_unix_s":1700000000}"#;
        let olga: User = decode("user//olga", V1_OPERATOR.as_bytes()).unwrap();
        assert_eq!((olga.created_by, olga.creation_approved_by, olga.active_since_unix_s), (None, None, Some(0)));
        let mia: User = decode("user/acme/mia", V1_MEMBER.as_bytes()).unwrap();
        assert!(!mia.is_pending() && mia.policies.is_empty());

        let tenant = r#"{"name":"acme","created_unix_s":1700000000}"#;
        let f = fixture_with(
            &[("tenant/acme", tenant), ("user//olga", V1_OPERATOR), ("user/acme/mia", V1_MEMBER)],
            BREAK_GLASS_COOLDOWN_S_DEFAULT,
        )
        .await;
        let olga_key = f.dir.create_access_key(None, "olga", None).await.unwrap();
        let olga = f.login(&olga_key).unwrap();
        // A fresh bootstrap operator asks; the old one, long active, may approve.
        let ann = f.operator(&f.root(), "ann").await;
        let ann = f.login(&ann).unwrap();
        let request = f.request(&ann).await.unwrap();
        let approved = f.dir.approve_break_glass(&olga, &request.id).await.unwrap();
        assert_eq!(approved.approved_by.as_deref(), Some("olga"));
        assert!(f.dir.break_glass_grant(&ann, "acme", "any").is_some());
    }

    /// Goal: the root credentials can neither request nor approve break-glass access, and a
    /// grant requested by root (from before the rule) grants nothing.
    #[tokio::test]
    async fn root_neither_requests_nor_approves_break_glass() {
        let f = fixture(0).await;
        let root = f.root();
        forbidden_because(f.request(&root).await, "bootstrap identity");
        let ann = f.operator(&root, "ann").await;
        let ann = f.login(&ann).unwrap();
        let request = f.request(&ann).await.unwrap();
        forbidden_because(f.dir.approve_break_glass(&root, &request.id).await, "bootstrap identity");
        assert!(f.dir.break_glass_grant(&ann, "acme", "b").is_none());
        // A root grant approved under the old rule.
        let old = BreakGlass {
            id: "bg-old".into(),
            requested_by: ROOT_OPERATOR.into(),
            tenant: "acme".into(),
            bucket: None,
            reason: "before issue 14".into(),
            duration_s: 600,
            requested_unix_s: now_unix_s(),
            approved_by: Some("ann".into()),
            expires_unix_s: Some(now_unix_s() + 600),
        };
        f.dir.write().break_glass.insert(old.id.clone(), old);
        assert!(f.dir.break_glass_grant(&root, "acme", "b").is_none());
    }

    /// Goal: the first two operators are active at once; after that root creates none, a new
    /// operator is pending (its keys do not authenticate) until a second person approves it,
    /// and its provenance is kept.
    #[tokio::test]
    async fn operators_after_bootstrap_wait_for_a_second_operator() {
        let f = fixture(0).await;
        let root = f.root();
        let ann = f.operator(&root, "ann").await;
        let bob = f.operator(&root, "bob").await;
        let (ann, bob) = (f.login(&ann).unwrap(), f.login(&bob).unwrap());
        let before = f.dir.users(None).len();
        match f.dir.create_operator(&root, "mallory").await {
            Err(IamError::Forbidden(m)) => assert!(m.contains("only bootstrap"), "{m}"),
            other => panic!("root created a third operator: {other:?}"),
        }
        assert_eq!(f.dir.users(None).len(), before);

        let cid = f.operator(&ann, "cid").await;
        let pending = f.dir.user(None, "cid").unwrap();
        assert!(pending.is_pending());
        assert_eq!(pending.created_by.as_deref(), Some("ann"));
        assert!(matches!(f.login(&cid), Err(IamError::BadCredentials)));
        assert!(matches!(f.dir.secret_for(&cid.info.access_key_id), Err(IamError::KeyInactive(_))));
        assert!(f.dir.principal_for(&cid.info.access_key_id).is_none());

        forbidden_because(f.dir.approve_operator(&ann, "cid").await, "their own request");
        forbidden_because(f.dir.approve_operator(&root, "cid").await, "bootstrap identity");
        let active = f.dir.approve_operator(&bob, "cid").await.unwrap();
        assert_eq!(active.creation_approved_by.as_deref(), Some("bob"));
        assert!(active.active_since_unix_s.is_some());
        assert!(f.login(&cid).is_ok());
        assert!(matches!(f.dir.approve_operator(&bob, "cid").await, Err(IamError::Invalid(_))));
        // The provenance survives a reload.
        let stored = f.dir.storage.load().unwrap();
        let record = stored.iter().find(|(k, _)| k == "user//cid").unwrap();
        let reloaded: User = decode(&record.0, &record.1).unwrap();
        assert_eq!(
            (reloaded.created_by.as_deref(), reloaded.creation_approved_by.as_deref()),
            (Some("ann"), Some("bob"))
        );
    }

    /// Goal: the issue's attack: an operator's stand-in (created or approved by it) is not a
    /// second person for it, in either direction, and neither are the stand-in's approver and
    /// the stand-in; an independent operator is.
    #[tokio::test]
    async fn a_stand_in_is_not_a_second_person() {
        let f = fixture(0).await;
        let root = f.root();
        let ann = f.operator(&root, "ann").await;
        let bob = f.operator(&root, "bob").await;
        let (ann, bob) = (f.login(&ann).unwrap(), f.login(&bob).unwrap());
        let stand_in = f.operator(&ann, "ann2").await;
        f.dir.approve_operator(&bob, "ann2").await.unwrap();
        let stand_in = f.login(&stand_in).unwrap();

        let by_ann = f.request(&ann).await.unwrap();
        forbidden_because(f.dir.approve_break_glass(&stand_in, &by_ann.id).await, "created or approved by ann");
        let by_stand_in = f.request(&stand_in).await.unwrap();
        forbidden_because(f.dir.approve_break_glass(&ann, &by_stand_in.id).await, "was created or approved by ann");
        forbidden_because(f.dir.approve_break_glass(&bob, &by_stand_in.id).await, "was created or approved by bob");
        for g in [&by_ann, &by_stand_in] {
            assert!(f.dir.break_glass_requests().iter().any(|r| r.id == g.id && r.approved_by.is_none()));
        }
        assert!(f.dir.break_glass_grant(&ann, "acme", "b").is_none());
        assert!(f.dir.break_glass_grant(&stand_in, "acme", "b").is_none());
        // A stand-in cannot vouch for its creator's next operator either.
        f.operator(&ann, "ann3").await;
        forbidden_because(f.dir.approve_operator(&stand_in, "ann3").await, "created or approved by ann");

        // Two operators created independently of each other can.
        let approved = f.dir.approve_break_glass(&bob, &by_ann.id).await.unwrap();
        assert_eq!(approved.approved_by.as_deref(), Some("bob"));
        assert!(f.dir.break_glass_grant(&ann, "acme", "b").is_some());
        assert!(f.dir.break_glass_grant(&bob, "acme", "b").is_none(), "the approver gets nothing");
    }

    /// Goal: an operator active for less than the cool-down approves nothing, and the refusal
    /// says until when.
    #[tokio::test]
    async fn a_fresh_operator_approves_nothing_within_the_cool_down() {
        let f = fixture(3600).await;
        let root = f.root();
        let ann = f.operator(&root, "ann").await;
        let bob = f.operator(&root, "bob").await;
        let (ann, bob) = (f.login(&ann).unwrap(), f.login(&bob).unwrap());
        let request = f.request(&ann).await.unwrap();
        forbidden_because(f.dir.approve_break_glass(&bob, &request.id).await, "less than the cool-down of 3600 s");
        f.operator(&ann, "cid").await;
        forbidden_because(f.dir.approve_operator(&bob, "cid").await, "less than the cool-down");
        assert!(f.dir.user(None, "cid").unwrap().is_pending());
        // The cool-down is read when approving: with none, the same approval passes.
        f.dir.set_break_glass_cooldown_s(0).unwrap();
        f.dir.approve_break_glass(&bob, &request.id).await.unwrap();
    }

    /// Goal: the cool-down is bounded.
    #[tokio::test]
    async fn the_cool_down_is_bounded() {
        let f = fixture(0).await;
        assert!(matches!(f.dir.set_break_glass_cooldown_s(-1), Err(IamError::Invalid(_))));
        assert!(matches!(f.dir.set_break_glass_cooldown_s(BREAK_GLASS_COOLDOWN_S_MAX + 1), Err(IamError::Invalid(_))));
        f.dir.set_break_glass_cooldown_s(BREAK_GLASS_COOLDOWN_S_MAX).unwrap();
        assert_eq!(f.dir.break_glass_cooldown_s(), BREAK_GLASS_COOLDOWN_S_MAX);
    }

    /// Goal: operators are made only by `create_operator` (with its rules).
    #[tokio::test]
    async fn create_user_makes_no_operator() {
        let f = fixture(0).await;
        assert!(matches!(f.dir.create_user(None, "eve", Role::Operator).await, Err(IamError::Invalid(_))));
        assert!(matches!(f.dir.create_user(Some("acme"), "eve", Role::Operator).await, Err(IamError::Invalid(_))));
        assert!(matches!(f.dir.create_user(None, "eve", Role::Admin).await, Err(IamError::Invalid(_))));
        let eve = f.dir.create_user(Some("acme"), "eve", Role::Member).await.unwrap();
        assert!(!eve.is_pending());
    }
}

//! The identity directory: tenants → users → access keys, user policies, admin tokens and
//! break-glass grants. Everything lives in memory for the hot path (a SigV4 secret lookup is one
//! hash-map read) and every change is written through [`DirectoryStorage`] before it takes
//! effect, so a change the admin API acknowledged survives a crash.
//!
//! Secrets are stored only sealed (under a data key wrapped by the key provider) and are shown
//! once, when created. Admin tokens are stored as their SHA-256, never in clear.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use coffre_crypto::{KeyProvider, SealedSecret};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::policy::{Policy, PolicyError};

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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub tenant: Option<String>,
    pub name: String,
    pub role: Role,
    /// Inline identity policies by name (their JSON, as given).
    #[serde(default)]
    pub policies: BTreeMap<String, String>,
    pub created_unix_s: i64,
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
    let principal = state
        .principals
        .get(&user_key(entry.info.tenant.as_deref(), &entry.info.user))
        .cloned()
        .ok_or(IamError::BadCredentials)?;
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
        Ok(Directory { state: RwLock::new(state), changes: tokio::sync::Mutex::new(()), storage, keys })
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
            name: "root".to_owned(),
            role: Role::Operator,
            policies: BTreeMap::new(),
            created_unix_s: 0,
        };
        let mut state = self.write();
        if let Ok(p) = build_principal(&user) {
            state.principals.insert(user_key(None, "root"), p);
        }
        state.users.insert(user_key(None, "root"), user);
        let info = AccessKeyInfo {
            access_key_id: access_key.to_owned(),
            tenant: None,
            user: "root".to_owned(),
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

    /// Creates a user in a tenant (or, with `tenant` `None`, an operator).
    pub async fn create_user(&self, tenant: Option<&str>, name: &str, role: Role) -> IamResult<User> {
        validate_user_name(name)?;
        if tenant.is_some() == (role == Role::Operator) {
            return Err(IamError::Invalid("operators belong to no tenant; tenant users are admin or member".into()));
        }
        let _serial = self.changes.lock().await;
        if let Some(t) = tenant
            && !self.read().tenants.contains_key(t)
        {
            return Err(IamError::NotFound(format!("tenant {t}")));
        }
        let key = user_key(tenant, name);
        if self.read().users.contains_key(&key) {
            return Err(IamError::AlreadyExists(format!("user {name}")));
        }
        let user = User {
            tenant: tenant.map(str::to_owned),
            name: name.to_owned(),
            role,
            policies: BTreeMap::new(),
            created_unix_s: now_unix_s(),
        };
        self.persist(vec![(format!("user/{}/{}", key.0, key.1), Some(encode(&user)))]).await?;
        let principal = build_principal(&user)?;
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
        if tenant.is_none() && name == "root" {
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

    // ---- break-glass

    /// Records an operator's request to read a tenant's data; nothing is granted until a
    /// different operator approves it.
    pub async fn request_break_glass(
        &self,
        requester: &Principal,
        tenant: &str,
        bucket: Option<&str>,
        reason: &str,
        duration_s: i64,
    ) -> IamResult<BreakGlass> {
        if !requester.is_operator() {
            return Err(IamError::Forbidden("only operators request break-glass access".into()));
        }
        if reason.trim().is_empty() {
            return Err(IamError::Invalid("a break-glass request needs a reason".into()));
        }
        if !(60..=86_400).contains(&duration_s) {
            return Err(IamError::Invalid("break-glass access lasts 1 min to 24 h".into()));
        }
        let _serial = self.changes.lock().await;
        if !self.read().tenants.contains_key(tenant) {
            return Err(IamError::NotFound(format!("tenant {tenant}")));
        }
        let request = BreakGlass {
            id: format!("bg-{}", random_string(b"abcdefghijklmnopqrstuvwxyz0123456789", 12)),
            requested_by: requester.user.clone(),
            tenant: tenant.to_owned(),
            bucket: bucket.map(str::to_owned),
            reason: reason.to_owned(),
            duration_s,
            requested_unix_s: now_unix_s(),
            approved_by: None,
            expires_unix_s: None,
        };
        self.persist(vec![(format!("break-glass/{}", request.id), Some(encode(&request)))]).await?;
        self.write().break_glass.insert(request.id.clone(), request.clone());
        Ok(request)
    }

    /// Approves a break-glass request: by an operator other than the requester, once.
    pub async fn approve_break_glass(&self, approver: &Principal, id: &str) -> IamResult<BreakGlass> {
        if !approver.is_operator() {
            return Err(IamError::Forbidden("only operators approve break-glass access".into()));
        }
        let _serial = self.changes.lock().await;
        let mut request =
            self.read().break_glass.get(id).cloned().ok_or_else(|| IamError::NotFound(format!("break-glass {id}")))?;
        if request.requested_by == approver.user {
            return Err(IamError::Forbidden("two-person rule: the requester cannot approve their own request".into()));
        }
        if request.approved_by.is_some() {
            return Err(IamError::Invalid(format!("break-glass {id} was already approved")));
        }
        request.approved_by = Some(approver.user.clone());
        request.expires_unix_s = Some(now_unix_s() + request.duration_s);
        self.persist(vec![(format!("break-glass/{id}"), Some(encode(&request)))]).await?;
        self.write().break_glass.insert(id.to_owned(), request.clone());
        Ok(request)
    }

    /// All break-glass requests, newest first.
    pub fn break_glass_requests(&self) -> Vec<BreakGlass> {
        let mut all: Vec<_> = self.read().break_glass.values().cloned().collect();
        all.sort_by_key(|b| std::cmp::Reverse(b.requested_unix_s));
        all
    }

    /// The approved, unexpired grant letting `operator` read `bucket` of `tenant`, if any.
    pub fn break_glass_grant(&self, operator: &Principal, tenant: &str, bucket: &str) -> Option<BreakGlass> {
        if !operator.is_operator() {
            return None;
        }
        let now = now_unix_s();
        self.read()
            .break_glass
            .values()
            .find(|g| {
                g.requested_by == operator.user
                    && g.tenant == tenant
                    && g.bucket.as_deref().is_none_or(|b| b == bucket)
                    && g.expires_unix_s.is_some_and(|e| e > now)
            })
            .cloned()
    }
}

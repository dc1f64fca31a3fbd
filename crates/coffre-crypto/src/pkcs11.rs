//! The `pkcs11` key provider: KEKs are non-extractable AES-256 keys inside a PKCS#11 token
//! (an HSM; SoftHSM2 in tests), reached through the `cryptoki` crate. Data keys are wrapped and
//! unwrapped by AES-GCM *inside* the token; key material never leaves it.
//!
//! Key states (enabled, disabled, destroyed) and the list of versions live in a small file next
//! to the data (no key material in it). When the token cannot be reached every wrap and unwrap
//! fails closed with [`CryptoError::Unavailable`]; the connection is re-established on the next
//! request, so service recovers by itself when the HSM returns.

use std::path::PathBuf;
use std::sync::{Mutex, RwLock};

use aws_lc_rs::aead::NONCE_LEN;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use serde::{Deserialize, Serialize};

use crate::envelope::WrappedKey;
use crate::error::{CryptoError, CryptoResult};
use crate::keys::{DataKey, KEY_BYTES};
use crate::local::{DEFAULT_KEY_ID, KeyState, KeySummary};
use crate::{KeyAdmin, KeyProvider};

/// How to reach the token.
#[derive(Clone)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (shared library).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The user PIN.
    pub pin: String,
    /// Where the key states live.
    pub state_dir: PathBuf,
}

#[derive(Clone, Serialize, Deserialize)]
struct KeyRecord {
    id: String,
    state: KeyState,
    created_unix_s: i64,
    versions: Vec<u32>,
}

struct Connection {
    // Kept alive as long as the session: the session borrows the library.
    _ctx: Pkcs11,
    session: Session,
}

/// The PKCS#11 key provider.
pub struct Pkcs11KeyProvider {
    config: Pkcs11Config,
    connection: Mutex<Option<Connection>>,
    records: RwLock<Vec<KeyRecord>>,
}

fn unavailable(e: impl std::fmt::Display) -> CryptoError {
    CryptoError::Unavailable(format!("the HSM is unreachable: {e}"))
}

fn label(id: &str, version: u32) -> Vec<u8> {
    format!("coffre:{id}:v{version}").into_bytes()
}

fn aad(key_id: &str, version: u32) -> Vec<u8> {
    format!("coffre-dek-v1\0{key_id}\0{version}").into_bytes()
}

impl Pkcs11KeyProvider {
    /// Connects to the token and loads the key states, creating the default key on first use.
    pub fn open(config: Pkcs11Config) -> CryptoResult<Pkcs11KeyProvider> {
        std::fs::create_dir_all(&config.state_dir)
            .map_err(|source| CryptoError::Io { context: "create the keys directory", source })?;
        let path = config.state_dir.join("pkcs11-keys.json");
        let records: Vec<KeyRecord> = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| CryptoError::KeyStore(format!("pkcs11 key states: {e}")))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(CryptoError::Io { context: "read the pkcs11 key states", source }),
        };
        let provider = Pkcs11KeyProvider { config, connection: Mutex::new(None), records: RwLock::new(records) };
        provider.with_session(|_| Ok(()))?;
        if provider.record(DEFAULT_KEY_ID).is_none() {
            provider.create(DEFAULT_KEY_ID)?;
        }
        Ok(provider)
    }

    fn connect(&self) -> CryptoResult<Connection> {
        let ctx = Pkcs11::new(&self.config.module).map_err(unavailable)?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).map_err(unavailable)?;
        let slot = ctx
            .get_slots_with_token()
            .map_err(unavailable)?
            .into_iter()
            .find(|s| ctx.get_token_info(*s).is_ok_and(|t| t.label() == self.config.token_label))
            .ok_or_else(|| unavailable(format!("no token labelled {:?}", self.config.token_label)))?;
        let session = ctx.open_rw_session(slot).map_err(unavailable)?;
        session.login(UserType::User, Some(&AuthPin::from(self.config.pin.clone()))).map_err(unavailable)?;
        Ok(Connection { _ctx: ctx, session })
    }

    /// Runs `f` with a logged-in session, connecting first if needed. A failure of the token
    /// drops the connection, so the next call reconnects.
    fn with_session<T>(&self, f: impl FnOnce(&Session) -> Result<T, cryptoki::error::Error>) -> CryptoResult<T> {
        let mut guard = self.connection.lock().map_err(|_| CryptoError::KeyStore("HSM lock poisoned".into()))?;
        if guard.is_none() {
            *guard = Some(self.connect()?);
        }
        let Some(conn) = guard.as_ref() else { return Err(unavailable("not connected")) };
        match f(&conn.session) {
            Ok(v) => Ok(v),
            Err(e) => {
                *guard = None;
                Err(unavailable(e))
            }
        }
    }

    fn key_handle(session: &Session, id: &str, version: u32) -> Result<Option<ObjectHandle>, cryptoki::error::Error> {
        let found =
            session.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Label(label(id, version))])?;
        Ok(found.into_iter().next())
    }

    fn record(&self, id: &str) -> Option<KeyRecord> {
        self.records.read().ok()?.iter().find(|r| r.id == id).cloned()
    }

    fn persist(&self, records: &[KeyRecord]) -> CryptoResult<()> {
        let bytes = serde_json::to_vec_pretty(records).map_err(|e| CryptoError::KeyStore(e.to_string()))?;
        crate::local::replace_private_file(&self.config.state_dir, "pkcs11-keys.json", &bytes)
    }

    fn generate(&self, id: &str, version: u32) -> CryptoResult<()> {
        let value_len = u64::try_from(KEY_BYTES).unwrap_or(32);
        self.with_session(|s| {
            s.generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(value_len.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Label(label(id, version)),
                ],
            )
            .map(|_| ())
        })
    }

    fn usable_version(&self, id: &str, version: Option<u32>) -> CryptoResult<u32> {
        let r = self.record(id).ok_or_else(|| CryptoError::NoSuchKey(id.to_owned()))?;
        match r.state {
            KeyState::Enabled => {}
            KeyState::Disabled => return Err(CryptoError::KeyDisabled(id.to_owned())),
            KeyState::Destroyed => return Err(CryptoError::KeyDestroyed(id.to_owned())),
        }
        match version {
            Some(v) if r.versions.contains(&v) => Ok(v),
            Some(_) => Err(CryptoError::KeyDestroyed(id.to_owned())),
            None => r.versions.last().copied().ok_or_else(|| CryptoError::KeyDestroyed(id.to_owned())),
        }
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut KeyRecord) -> CryptoResult<()>) -> CryptoResult<KeySummary> {
        let mut records = self.records.write().map_err(|_| CryptoError::KeyStore("key states lock poisoned".into()))?;
        let r = records.iter_mut().find(|r| r.id == id).ok_or_else(|| CryptoError::NoSuchKey(id.to_owned()))?;
        f(r)?;
        self.persist(&records)?;
        drop(records);
        self.summary(id)
    }
}

impl KeyProvider for Pkcs11KeyProvider {
    fn wrap(&self, key_id: &str, key: &DataKey) -> CryptoResult<WrappedKey> {
        let version = self.usable_version(key_id, None)?;
        let mut iv = [0u8; NONCE_LEN];
        rand::fill(&mut iv);
        let aad = aad(key_id, version);
        let sealed = self.with_session(|s| {
            let handle = Self::key_handle(s, key_id, version)?;
            let handle = handle.ok_or(cryptoki::error::Error::NullFunctionPointer)?;
            let mut iv_param = iv;
            let params = GcmParams::new(&mut iv_param, &aad, 128.into())?;
            s.encrypt(&Mechanism::AesGcm(params), handle, key.bytes())
        })?;
        let mut envelope = iv.to_vec();
        envelope.extend_from_slice(&sealed);
        Ok(WrappedKey { key_id: key_id.to_owned(), key_version: version, envelope: BASE64.encode(envelope) })
    }

    fn unwrap(&self, wrapped: &WrappedKey) -> CryptoResult<DataKey> {
        let version = self.usable_version(&wrapped.key_id, Some(wrapped.key_version))?;
        let raw = BASE64.decode(&wrapped.envelope).map_err(|_| CryptoError::UnwrapFailed)?;
        let (iv, sealed) = raw.split_at_checked(NONCE_LEN).ok_or(CryptoError::UnwrapFailed)?;
        let aad = aad(&wrapped.key_id, version);
        let mut plain = self.with_session(|s| {
            let handle = Self::key_handle(s, &wrapped.key_id, version)?;
            let handle = handle.ok_or(cryptoki::error::Error::NullFunctionPointer)?;
            let mut iv = iv.to_vec();
            let params = GcmParams::new(&mut iv, &aad, 128.into())?;
            s.decrypt(&Mechanism::AesGcm(params), handle, sealed)
        })?;
        let bytes: Result<[u8; KEY_BYTES], _> = plain.as_slice().try_into();
        zeroize::Zeroize::zeroize(&mut plain);
        Ok(DataKey::from_bytes(bytes.map_err(|_| CryptoError::UnwrapFailed)?))
    }

    fn default_key_id(&self) -> &str {
        DEFAULT_KEY_ID
    }

    fn current_version(&self, key_id: &str) -> CryptoResult<u32> {
        self.usable_version(key_id, None)
    }
}

impl KeyAdmin for Pkcs11KeyProvider {
    fn create(&self, id: &str) -> CryptoResult<KeySummary> {
        crate::local::check_key_id(id)?;
        if self.record(id).is_some() {
            return Err(CryptoError::KeyStore(format!("key {id} already exists")));
        }
        self.generate(id, 1)?;
        let created_unix_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
            .unwrap_or(0);
        let mut records = self.records.write().map_err(|_| CryptoError::KeyStore("key states lock poisoned".into()))?;
        records.push(KeyRecord { id: id.to_owned(), state: KeyState::Enabled, created_unix_s, versions: vec![1] });
        self.persist(&records)?;
        drop(records);
        self.summary(id)
    }

    fn summary(&self, id: &str) -> CryptoResult<KeySummary> {
        let r = self.record(id).ok_or_else(|| CryptoError::NoSuchKey(id.to_owned()))?;
        Ok(KeySummary {
            id: r.id,
            provider: "pkcs11".into(),
            state: r.state,
            versions: u32::try_from(r.versions.len()).unwrap_or(u32::MAX),
            created_unix_s: r.created_unix_s,
        })
    }

    fn list(&self) -> Vec<KeySummary> {
        let ids: Vec<String> =
            self.records.read().map(|r| r.iter().map(|k| k.id.clone()).collect()).unwrap_or_default();
        ids.iter().filter_map(|id| self.summary(id).ok()).collect()
    }

    fn set_enabled(&self, id: &str, enabled: bool) -> CryptoResult<KeySummary> {
        self.update(id, |r| {
            if r.state == KeyState::Destroyed {
                return Err(CryptoError::KeyDestroyed(r.id.clone()));
            }
            r.state = if enabled { KeyState::Enabled } else { KeyState::Disabled };
            Ok(())
        })
    }

    fn rotate(&self, id: &str) -> CryptoResult<KeySummary> {
        let r = self.record(id).ok_or_else(|| CryptoError::NoSuchKey(id.to_owned()))?;
        if r.state == KeyState::Destroyed {
            return Err(CryptoError::KeyDestroyed(id.to_owned()));
        }
        let version = r.versions.last().copied().unwrap_or(0) + 1;
        self.generate(id, version)?;
        self.update(id, |r| {
            r.versions.push(version);
            Ok(())
        })
    }

    fn destroy(&self, id: &str) -> CryptoResult<KeySummary> {
        if id == DEFAULT_KEY_ID {
            return Err(CryptoError::KeyStore("the server's default key cannot be destroyed".into()));
        }
        let r = self.record(id).ok_or_else(|| CryptoError::NoSuchKey(id.to_owned()))?;
        // Mark destroyed first: from here on nothing unwraps, even if erasing fails midway.
        self.update(id, |r| {
            r.state = KeyState::Destroyed;
            Ok(())
        })?;
        for v in &r.versions {
            self.with_session(|s| match Self::key_handle(s, id, *v)? {
                Some(h) => s.destroy_object(h),
                None => Ok(()),
            })?;
        }
        self.update(id, |r| {
            r.versions.clear();
            Ok(())
        })
    }
}

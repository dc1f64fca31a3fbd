//! The embedded key provider (`local`): a 256-bit master key created on first start in
//! `<data>/keys/master.key` (mode 0600), and a keyring file whose KEKs are stored only wrapped
//! by the master key. KEKs are unwrapped into memory at start-up and zeroized on drop.
//!
//! Key states follow the lifecycle of the encryption issue: enabled (wraps and unwraps),
//! disabled (both fail closed), destroyed (the wrapped KEK material is erased from the
//! keyring: everything it protected is unreadable for good).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use crate::KeyProvider;
use crate::envelope::{self, WrappedKey};
use crate::error::{CryptoError, CryptoResult};
use crate::keys::{DataKey, KEY_BYTES, KeyEncryptionKey};

/// Id of the key created on first start and used when a bucket names none.
pub const DEFAULT_KEY_ID: &str = "coffre-default";

/// Lifecycle state of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    /// In use.
    Enabled,
    /// Fails closed until enabled again.
    Disabled,
    /// Gone for good.
    Destroyed,
}

#[derive(Serialize, Deserialize)]
struct KeyringFile {
    format: u8,
    keys: Vec<KeyRecord>,
}

#[derive(Clone, Serialize, Deserialize)]
struct KeyRecord {
    id: String,
    state: KeyState,
    created_unix_s: i64,
    /// Version number → KEK wrapped by the master key (empty once destroyed).
    versions: BTreeMap<u32, String>,
}

/// A key as `coffre keys list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeySummary {
    /// Key id.
    pub id: String,
    /// Provider name.
    pub provider: String,
    /// State.
    pub state: KeyState,
    /// Number of versions.
    pub versions: u32,
    /// Creation time (Unix seconds).
    pub created_unix_s: i64,
}

struct Ring {
    records: Vec<KeyRecord>,
    keks: BTreeMap<(String, u32), KeyEncryptionKey>,
}

/// The local key provider.
pub struct LocalKeyProvider {
    dir: PathBuf,
    master: KeyEncryptionKey,
    ring: RwLock<Ring>,
}

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> CryptoError {
    move |source| CryptoError::Io { context, source }
}

/// Replaces `dir/name` durably and atomically (temporary file, fsync, rename, directory fsync),
/// readable by the owner only: key stores must never be seen half-written.
pub(crate) fn replace_private_file(dir: &Path, name: &str, bytes: &[u8]) -> CryptoResult<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("write a key store file"))?;
    f.write_all(bytes).map_err(io("write a key store file"))?;
    f.sync_all().map_err(io("sync a key store file"))?;
    std::fs::rename(&tmp, dir.join(name)).map_err(io("replace a key store file"))?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("sync the keys directory"))?;
    Ok(())
}

/// Key ids: 1 to 128 characters of letters, digits and `-_./`.
pub(crate) fn check_key_id(id: &str) -> CryptoResult<()> {
    if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b)) {
        return Err(CryptoError::KeyStore(format!("invalid key id {id:?}")));
    }
    Ok(())
}

/// Prefix of a master key file protected by a passphrase: `argon2id-v1:<salt>:<sealed key>`.
const PASSPHRASE_PREFIX: &str = "argon2id-v1:";

/// The key that seals the master key under a passphrase: Argon2id with its default
/// (OWASP-recommended) parameters and a random 16-byte salt.
fn passphrase_key(passphrase: &str, salt: &[u8]) -> CryptoResult<KeyEncryptionKey> {
    let mut out = [0u8; KEY_BYTES];
    argon2::Argon2::default()
        .hash_password_into(passphrase.as_bytes(), salt, &mut out)
        .map_err(|e| CryptoError::KeyStore(format!("derive the passphrase key: {e}")))?;
    let key = KeyEncryptionKey::from_bytes(out);
    zeroize::Zeroize::zeroize(&mut out);
    Ok(key)
}

fn load_or_create_master(path: &Path, passphrase: Option<&str>) -> CryptoResult<KeyEncryptionKey> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    if path.exists() {
        let mode = std::fs::metadata(path).map_err(io("stat the master key"))?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(CryptoError::KeyStore(format!(
                "{} is accessible to other users (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            )));
        }
        let bytes = std::fs::read(path).map_err(io("read the master key"))?;
        if let Some(rest) = bytes.strip_prefix(PASSPHRASE_PREFIX.as_bytes()) {
            let passphrase = passphrase.ok_or_else(|| {
                CryptoError::KeyStore(
                    "the master key is protected by a passphrase: set COFFRE_MASTER_KEY_PASSPHRASE".into(),
                )
            })?;
            let text = String::from_utf8_lossy(rest);
            let (salt, sealed) =
                text.split_once(':').ok_or_else(|| CryptoError::KeyStore("the master key file is damaged".into()))?;
            let salt = b64.decode(salt).map_err(|_| CryptoError::KeyStore("the master key file is damaged".into()))?;
            let mut raw = envelope::open_secret(&passphrase_key(passphrase, &salt)?, "master-key", sealed.trim())
                .map_err(|_| CryptoError::KeyStore("wrong passphrase for the master key".into()))?;
            let key: Result<[u8; KEY_BYTES], _> = raw.as_slice().try_into();
            zeroize::Zeroize::zeroize(&mut raw);
            return Ok(KeyEncryptionKey::from_bytes(
                key.map_err(|_| CryptoError::KeyStore("the master key file is damaged".into()))?,
            ));
        }
        let bytes: [u8; KEY_BYTES] =
            bytes.try_into().map_err(|_| CryptoError::KeyStore("the master key file is damaged".into()))?;
        return Ok(KeyEncryptionKey::from_bytes(bytes));
    }
    let master = KeyEncryptionKey::generate();
    let contents = match passphrase {
        Some(p) => {
            let mut salt = [0u8; 16];
            rand::fill(&mut salt);
            let sealed = envelope::seal_secret(&passphrase_key(p, &salt)?, "master-key", master.bytes())?;
            format!("{PASSPHRASE_PREFIX}{}:{sealed}", b64.encode(salt)).into_bytes()
        }
        None => master.bytes().to_vec(),
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io("create the master key"))?;
    f.write_all(&contents).map_err(io("write the master key"))?;
    f.sync_all().map_err(io("sync the master key"))?;
    Ok(master)
}

impl LocalKeyProvider {
    /// Opens the key store in `dir`, creating the master key and the default key on first start.
    pub fn open(dir: &Path) -> CryptoResult<LocalKeyProvider> {
        LocalKeyProvider::open_with_passphrase(dir, None)
    }

    /// As [`LocalKeyProvider::open`]; with a passphrase, a new master key is stored sealed under
    /// an Argon2id key derived from it, and an existing protected one needs it to open.
    pub fn open_with_passphrase(dir: &Path, passphrase: Option<&str>) -> CryptoResult<LocalKeyProvider> {
        std::fs::create_dir_all(dir).map_err(io("create the keys directory"))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("restrict the keys directory"))?;
        let master = load_or_create_master(&dir.join("master.key"), passphrase)?;
        let ring_path = dir.join("keyring.json");
        let records: Vec<KeyRecord> = if ring_path.exists() {
            let text = std::fs::read(&ring_path).map_err(io("read the keyring"))?;
            let file: KeyringFile =
                serde_json::from_slice(&text).map_err(|e| CryptoError::KeyStore(format!("keyring: {e}")))?;
            file.keys
        } else {
            Vec::new()
        };
        let mut keks = BTreeMap::new();
        for r in &records {
            for (v, wrapped) in &r.versions {
                let kek = envelope::unwrap_kek(&master, &format!("kek:{}:{v}", r.id), wrapped).map_err(|_| {
                    CryptoError::KeyStore(format!("KEK {} v{v} does not unwrap with this master key", r.id))
                })?;
                keks.insert((r.id.clone(), *v), kek);
            }
        }
        let provider = LocalKeyProvider { dir: dir.to_owned(), master, ring: RwLock::new(Ring { records, keks }) };
        if provider.key(DEFAULT_KEY_ID).is_none() {
            provider.create(DEFAULT_KEY_ID)?;
        }
        Ok(provider)
    }

    fn key(&self, id: &str) -> Option<KeyRecord> {
        let ring = self.ring.read().ok()?;
        ring.records.iter().find(|r| r.id == id).cloned()
    }

    fn persist(&self, records: &[KeyRecord]) -> CryptoResult<()> {
        let file = KeyringFile { format: 1, keys: records.to_vec() };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| CryptoError::KeyStore(e.to_string()))?;
        replace_private_file(&self.dir, "keyring.json", &bytes)
    }

    fn modify<T>(&self, f: impl FnOnce(&mut Ring, &KeyEncryptionKey) -> CryptoResult<T>) -> CryptoResult<T> {
        let mut ring = self.ring.write().map_err(|_| CryptoError::KeyStore("keyring lock poisoned".into()))?;
        let out = f(&mut ring, &self.master)?;
        self.persist(&ring.records)?;
        Ok(out)
    }

    /// Creates a key with one version.
    pub fn create(&self, id: &str) -> CryptoResult<KeySummary> {
        check_key_id(id)?;
        self.modify(|ring, master| {
            if ring.records.iter().any(|r| r.id == id) {
                return Err(CryptoError::KeyStore(format!("key {id} already exists")));
            }
            let kek = KeyEncryptionKey::generate();
            let wrapped = envelope::wrap_kek(master, &format!("kek:{id}:1"), &kek)?;
            ring.keks.insert((id.to_owned(), 1), kek);
            let created_unix_s = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
                .unwrap_or(0);
            ring.records.push(KeyRecord {
                id: id.to_owned(),
                state: KeyState::Enabled,
                created_unix_s,
                versions: BTreeMap::from([(1, wrapped)]),
            });
            Ok(())
        })?;
        self.summary(id)
    }

    /// Summary of one key.
    pub fn summary(&self, id: &str) -> CryptoResult<KeySummary> {
        let r = self.key(id).ok_or_else(|| CryptoError::NoSuchKey(id.to_owned()))?;
        Ok(KeySummary {
            id: r.id,
            provider: "local".into(),
            state: r.state,
            versions: u32::try_from(r.versions.len()).unwrap_or(u32::MAX),
            created_unix_s: r.created_unix_s,
        })
    }

    /// All keys.
    pub fn list(&self) -> Vec<KeySummary> {
        let ids: Vec<String> =
            self.ring.read().map(|r| r.records.iter().map(|k| k.id.clone()).collect()).unwrap_or_default();
        ids.iter().filter_map(|id| self.summary(id).ok()).collect()
    }

    /// Disables or enables a key. Takes effect on the next wrap or unwrap (no cache), and is
    /// persisted, so it holds across restarts.
    pub fn set_enabled(&self, id: &str, enabled: bool) -> CryptoResult<KeySummary> {
        self.modify(|ring, _| {
            let r =
                ring.records.iter_mut().find(|r| r.id == id).ok_or_else(|| CryptoError::NoSuchKey(id.to_owned()))?;
            if r.state == KeyState::Destroyed {
                return Err(CryptoError::KeyDestroyed(id.to_owned()));
            }
            r.state = if enabled { KeyState::Enabled } else { KeyState::Disabled };
            Ok(())
        })?;
        self.summary(id)
    }

    /// Adds a version: new data keys are wrapped by it; older versions still unwrap.
    pub fn rotate(&self, id: &str) -> CryptoResult<KeySummary> {
        self.modify(|ring, master| {
            let r =
                ring.records.iter_mut().find(|r| r.id == id).ok_or_else(|| CryptoError::NoSuchKey(id.to_owned()))?;
            if r.state == KeyState::Destroyed {
                return Err(CryptoError::KeyDestroyed(id.to_owned()));
            }
            let version = r.versions.keys().next_back().copied().unwrap_or(0) + 1;
            let kek = KeyEncryptionKey::generate();
            r.versions.insert(version, envelope::wrap_kek(master, &format!("kek:{id}:{version}"), &kek)?);
            ring.keks.insert((id.to_owned(), version), kek);
            Ok(())
        })?;
        self.summary(id)
    }

    /// Crypto-shredding: erases every version of the key from memory and from the keyring on
    /// disk. Irreversible: whatever it protected can never be decrypted again.
    pub fn destroy(&self, id: &str) -> CryptoResult<KeySummary> {
        if id == DEFAULT_KEY_ID {
            return Err(CryptoError::KeyStore("the server's default key cannot be destroyed".into()));
        }
        self.modify(|ring, _| {
            let r =
                ring.records.iter_mut().find(|r| r.id == id).ok_or_else(|| CryptoError::NoSuchKey(id.to_owned()))?;
            r.state = KeyState::Destroyed;
            r.versions.clear();
            ring.keks.retain(|(k, _), _| k != id);
            Ok(())
        })?;
        self.summary(id)
    }

    /// Signs `message` with the node's Ed25519 key (created on first use, stored only sealed
    /// by the master key). Returns the signature and the public key, both base64.
    pub fn sign(&self, message: &[u8]) -> CryptoResult<(String, String)> {
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
        use base64::Engine as _;
        const LABEL: &str = "node-signing-key";
        let path = self.dir.join("node-signing.key");
        let mut pkcs8 = if path.exists() {
            let sealed = std::fs::read_to_string(&path).map_err(io("read the node signing key"))?;
            envelope::open_secret(&self.master, LABEL, &sealed)?
        } else {
            let doc = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
                .map_err(|_| CryptoError::Primitive)?;
            let sealed = envelope::seal_secret(&self.master, LABEL, doc.as_ref())?;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(io("create the node signing key"))?;
            f.write_all(sealed.as_bytes()).map_err(io("write the node signing key"))?;
            f.sync_all().map_err(io("sync the node signing key"))?;
            doc.as_ref().to_vec()
        };
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| CryptoError::Primitive);
        zeroize::Zeroize::zeroize(&mut pkcs8);
        let pair = pair?;
        let b64 = base64::engine::general_purpose::STANDARD;
        Ok((b64.encode(pair.sign(message).as_ref()), b64.encode(pair.public_key().as_ref())))
    }

    fn current(&self, id: &str) -> CryptoResult<u32> {
        let r = self.key(id).ok_or_else(|| CryptoError::NoSuchKey(id.to_owned()))?;
        match r.state {
            KeyState::Enabled => {
                r.versions.keys().next_back().copied().ok_or_else(|| CryptoError::KeyDestroyed(id.to_owned()))
            }
            KeyState::Disabled => Err(CryptoError::KeyDisabled(id.to_owned())),
            KeyState::Destroyed => Err(CryptoError::KeyDestroyed(id.to_owned())),
        }
    }
}

impl crate::KeyAdmin for LocalKeyProvider {
    fn create(&self, id: &str) -> CryptoResult<KeySummary> {
        LocalKeyProvider::create(self, id)
    }
    fn summary(&self, id: &str) -> CryptoResult<KeySummary> {
        LocalKeyProvider::summary(self, id)
    }
    fn list(&self) -> Vec<KeySummary> {
        LocalKeyProvider::list(self)
    }
    fn set_enabled(&self, id: &str, enabled: bool) -> CryptoResult<KeySummary> {
        LocalKeyProvider::set_enabled(self, id, enabled)
    }
    fn rotate(&self, id: &str) -> CryptoResult<KeySummary> {
        LocalKeyProvider::rotate(self, id)
    }
    fn destroy(&self, id: &str) -> CryptoResult<KeySummary> {
        LocalKeyProvider::destroy(self, id)
    }
}

impl KeyProvider for LocalKeyProvider {
    fn wrap(&self, key_id: &str, key: &DataKey) -> CryptoResult<WrappedKey> {
        let version = self.current(key_id)?;
        let ring = self.ring.read().map_err(|_| CryptoError::KeyStore("keyring lock poisoned".into()))?;
        let kek =
            ring.keks.get(&(key_id.to_owned(), version)).ok_or_else(|| CryptoError::KeyDestroyed(key_id.to_owned()))?;
        envelope::wrap(kek, key_id, version, key)
    }

    fn unwrap(&self, wrapped: &WrappedKey) -> CryptoResult<DataKey> {
        self.current(&wrapped.key_id)?;
        let ring = self.ring.read().map_err(|_| CryptoError::KeyStore("keyring lock poisoned".into()))?;
        let kek = ring
            .keks
            .get(&(wrapped.key_id.clone(), wrapped.key_version))
            .ok_or_else(|| CryptoError::KeyDestroyed(wrapped.key_id.clone()))?;
        envelope::unwrap(kek, wrapped)
    }

    fn default_key_id(&self) -> &str {
        DEFAULT_KEY_ID
    }

    fn current_version(&self, key_id: &str) -> CryptoResult<u32> {
        self.current(key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passphrase_protects_the_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = LocalKeyProvider::open_with_passphrase(dir.path(), Some("correct horse")).unwrap();
        let dek = DataKey::generate();
        let w = p.wrap(DEFAULT_KEY_ID, &dek).unwrap();
        drop(p);
        assert!(std::fs::read(dir.path().join("master.key")).unwrap().starts_with(PASSPHRASE_PREFIX.as_bytes()));
        assert!(LocalKeyProvider::open(dir.path()).is_err(), "no passphrase, no keys");
        assert!(LocalKeyProvider::open_with_passphrase(dir.path(), Some("wrong")).is_err());
        let p = LocalKeyProvider::open_with_passphrase(dir.path(), Some("correct horse")).unwrap();
        assert_eq!(p.unwrap(&w).unwrap().bytes(), dek.bytes());
    }

    #[test]
    fn lifecycle_disable_rotate_destroy() {
        let dir = tempfile::tempdir().unwrap();
        let p = LocalKeyProvider::open(dir.path()).unwrap();
        p.create("tenant-a").unwrap();
        let dek = DataKey::generate();
        let v1 = p.wrap("tenant-a", &dek).unwrap();
        p.set_enabled("tenant-a", false).unwrap();
        assert!(matches!(p.unwrap(&v1), Err(CryptoError::KeyDisabled(_))));
        assert!(matches!(p.wrap("tenant-a", &dek), Err(CryptoError::KeyDisabled(_))));
        drop(p);
        // Disabled survives a restart.
        let p = LocalKeyProvider::open(dir.path()).unwrap();
        assert!(matches!(p.unwrap(&v1), Err(CryptoError::KeyDisabled(_))));
        p.set_enabled("tenant-a", true).unwrap();
        p.rotate("tenant-a").unwrap();
        let v2 = p.wrap("tenant-a", &dek).unwrap();
        assert_eq!(v2.key_version, 2);
        assert_eq!(p.unwrap(&v1).unwrap().bytes(), dek.bytes());
        p.destroy("tenant-a").unwrap();
        assert!(matches!(p.unwrap(&v2), Err(CryptoError::KeyDestroyed(_))));
        drop(p);
        let keyring = std::fs::read_to_string(dir.path().join("keyring.json")).unwrap();
        let p = LocalKeyProvider::open(dir.path()).unwrap();
        assert!(matches!(p.unwrap(&v1), Err(CryptoError::KeyDestroyed(_))));
        assert!(p.set_enabled("tenant-a", true).is_err(), "a destroyed key stays destroyed");
        assert!(keyring.contains("Destroyed"));
    }

    #[test]
    fn keys_persist_and_wrap_across_reopen_with_a_private_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = LocalKeyProvider::open(dir.path()).unwrap();
        let dek = DataKey::generate();
        let w = p.wrap(DEFAULT_KEY_ID, &dek).unwrap();
        drop(p);
        let mode = std::fs::metadata(dir.path().join("master.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let p = LocalKeyProvider::open(dir.path()).unwrap();
        assert_eq!(p.unwrap(&w).unwrap().bytes(), dek.bytes());
        // The keyring never holds a KEK in clear: it does not unwrap without the master key.
        std::fs::remove_file(dir.path().join("master.key")).unwrap();
        assert!(LocalKeyProvider::open(dir.path()).is_err());
    }
}

//! Coffre's cryptography, composed only from audited primitives (AES-256-GCM from aws-lc-rs):
//!
//! - [`sealed`]: the sealed-stream format every byte of object data is stored in;
//! - [`keys`]: data keys (DEKs) and key-encryption keys (KEKs) that zeroize on drop;
//! - [`envelope`]: DEKs wrapped by a KEK, the only form in which a DEK is stored;
//! - [`local`]: the embedded key provider (a master key in a 0600 file, KEKs wrapped by it).

#![forbid(unsafe_code)]

pub mod customer;
pub mod envelope;
pub mod error;
pub mod keys;
pub mod local;
pub mod pkcs11;
pub mod sealed;
pub mod signature;

pub use crate::customer::{CustomerKey, CustomerKeyError, CustomerKeyFingerprint};
pub use crate::envelope::{SealedSecret, WrappedKey, open_with_provider, seal_with_provider};
pub use crate::error::{CryptoError, CryptoResult};
pub use crate::keys::DataKey;
pub use crate::local::{KeyState, KeySummary, LocalKeyProvider};
pub use crate::pkcs11::{Pkcs11Config, Pkcs11KeyProvider};
pub use crate::sealed::{SEGMENT_PLAINTEXT_BYTES, SegmentCipher, StreamId};

/// A source of key-encryption keys: wraps and unwraps data keys. Wrapping happens where the
/// KEK lives (in memory for `local`, inside the HSM for `pkcs11`); the KEK never leaves it.
pub trait KeyProvider: Send + Sync + 'static {
    /// Wraps a data key under the current version of `key_id`.
    fn wrap(&self, key_id: &str, key: &DataKey) -> CryptoResult<WrappedKey>;
    /// Unwraps a data key; fails closed if the KEK is unknown, disabled or destroyed.
    fn unwrap(&self, wrapped: &WrappedKey) -> CryptoResult<DataKey>;
    /// The key used when a bucket names none.
    fn default_key_id(&self) -> &str;
    /// The version new data keys of `key_id` are wrapped with; fails closed like `wrap`.
    fn current_version(&self, key_id: &str) -> CryptoResult<u32>;
}

/// Key administration (`coffre keys`), for every provider.
pub trait KeyAdmin: KeyProvider {
    /// Creates a key with one version.
    fn create(&self, id: &str) -> CryptoResult<KeySummary>;
    /// One key.
    fn summary(&self, id: &str) -> CryptoResult<KeySummary>;
    /// All keys.
    fn list(&self) -> Vec<KeySummary>;
    /// Disables or enables a key; takes effect on the next wrap or unwrap and survives restarts.
    fn set_enabled(&self, id: &str, enabled: bool) -> CryptoResult<KeySummary>;
    /// Adds a version for new data keys; older versions keep unwrapping.
    fn rotate(&self, id: &str) -> CryptoResult<KeySummary>;
    /// Erases every version for good (crypto-shredding).
    fn destroy(&self, id: &str) -> CryptoResult<KeySummary>;
}

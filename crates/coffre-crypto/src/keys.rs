//! Key material types. They are not `Clone`, print as `[redacted]` and zeroize on drop, so key
//! bytes do not linger in memory or reach logs.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of every symmetric key here: AES-256.
pub const KEY_BYTES: usize = 32;

/// A data-encryption key: one per object version or part.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; KEY_BYTES]);

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> DataKey {
        let mut k = [0u8; KEY_BYTES];
        rand::fill(&mut k);
        DataKey(k)
    }

    /// A key from raw bytes (after unwrapping, or an SSE-C customer key).
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> DataKey {
        DataKey(bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

/// A key-encryption key held by a provider.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct KeyEncryptionKey([u8; KEY_BYTES]);

impl KeyEncryptionKey {
    pub(crate) fn generate() -> KeyEncryptionKey {
        let mut k = [0u8; KEY_BYTES];
        rand::fill(&mut k);
        KeyEncryptionKey(k)
    }

    pub(crate) fn from_bytes(bytes: [u8; KEY_BYTES]) -> KeyEncryptionKey {
        KeyEncryptionKey(bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey([redacted])")
    }
}

//! SSE-C: keys the customer sends with each request and the server never keeps. A customer key
//! wraps the object's data keys directly; to tell the right key from a wrong one, the server
//! stores only a salted keyed hash of it (HMAC-SHA256 with a random per-object salt).

use std::fmt;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::envelope::{self, WrappedKey};
use crate::error::{CryptoError, CryptoResult};
use crate::keys::{DataKey, KEY_BYTES, KeyEncryptionKey};

/// The key id recorded in envelopes made with a customer key.
pub const CUSTOMER_KEY_ID: &str = "sse-c";

/// Why a set of SSE-C headers was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerKeyError {
    /// The algorithm is not AES256.
    Algorithm,
    /// The key is not 32 bytes of base64.
    Key,
    /// The key's MD5 does not match the one sent.
    Md5,
}

/// A customer-provided key, for the duration of one request.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct CustomerKey {
    key: [u8; KEY_BYTES],
    #[zeroize(skip)]
    md5_base64: String,
}

impl fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CustomerKey([redacted])")
    }
}

/// What the server keeps to recognise a customer key: a salt and HMAC-SHA256(salt, key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerKeyFingerprint {
    /// Random salt, base64.
    pub salt: String,
    /// HMAC-SHA256 keyed by the salt over the customer key, base64.
    pub mac: String,
}

impl CustomerKey {
    /// Parses the three SSE-C headers; `md5` is the key's MD5 the client computed, which S3
    /// requires and checks.
    pub fn parse(
        algorithm: &str,
        key_base64: &str,
        md5_base64: &str,
        md5_of: impl Fn(&[u8]) -> [u8; 16],
    ) -> Result<CustomerKey, CustomerKeyError> {
        if algorithm != "AES256" {
            return Err(CustomerKeyError::Algorithm);
        }
        let mut raw = BASE64.decode(key_base64.trim()).map_err(|_| CustomerKeyError::Key)?;
        let key: Result<[u8; KEY_BYTES], _> = raw.as_slice().try_into();
        let digest = md5_of(&raw);
        raw.zeroize();
        let key = key.map_err(|_| CustomerKeyError::Key)?;
        if BASE64.encode(digest) != md5_base64.trim() {
            return Err(CustomerKeyError::Md5);
        }
        Ok(CustomerKey { key, md5_base64: md5_base64.trim().to_owned() })
    }

    /// The key's MD5 as the client sent it (S3 echoes it).
    pub fn md5_base64(&self) -> &str {
        &self.md5_base64
    }

    /// A fresh fingerprint of this key.
    pub fn fingerprint(&self) -> CustomerKeyFingerprint {
        let mut salt = [0u8; 16];
        rand::fill(&mut salt);
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &salt), &self.key);
        CustomerKeyFingerprint { salt: BASE64.encode(salt), mac: BASE64.encode(tag.as_ref()) }
    }

    /// Whether this is the key a fingerprint was made from (constant-time comparison).
    pub fn matches(&self, fingerprint: &CustomerKeyFingerprint) -> bool {
        let (Ok(salt), Ok(mac)) = (BASE64.decode(&fingerprint.salt), BASE64.decode(&fingerprint.mac)) else {
            return false;
        };
        hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, &salt), &self.key, &mac).is_ok()
    }

    /// Wraps a data key under this customer key.
    pub fn wrap(&self, key: &DataKey) -> CryptoResult<WrappedKey> {
        envelope::wrap(&KeyEncryptionKey::from_bytes(self.key), CUSTOMER_KEY_ID, 0, key)
    }

    /// Unwraps a data key wrapped by [`CustomerKey::wrap`]; fails for any other key.
    pub fn unwrap(&self, wrapped: &WrappedKey) -> CryptoResult<DataKey> {
        if wrapped.key_id != CUSTOMER_KEY_ID {
            return Err(CryptoError::UnwrapFailed);
        }
        envelope::unwrap(&KeyEncryptionKey::from_bytes(self.key), wrapped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_md5(d: &[u8]) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (i, b) in d.iter().enumerate() {
            out[i % 16] ^= *b;
        }
        out
    }

    fn key(byte: u8) -> CustomerKey {
        let raw = [byte; 32];
        CustomerKey::parse("AES256", &BASE64.encode(raw), &BASE64.encode(fake_md5(&raw)), fake_md5).unwrap()
    }

    #[test]
    fn fingerprints_recognise_only_the_right_key() {
        let (a, b) = (key(1), key(2));
        let fp = a.fingerprint();
        assert!(a.matches(&fp));
        assert!(!b.matches(&fp));
        assert_ne!(fp, a.fingerprint(), "salted: two fingerprints of one key differ");
        let dek = DataKey::generate();
        let w = a.wrap(&dek).unwrap();
        assert_eq!(a.unwrap(&w).unwrap().bytes(), dek.bytes());
        assert!(b.unwrap(&w).is_err());
    }

    #[test]
    fn bad_headers_are_refused() {
        let raw = [7u8; 32];
        let md5 = BASE64.encode(fake_md5(&raw));
        assert_eq!(
            CustomerKey::parse("AES128", &BASE64.encode(raw), &md5, fake_md5).unwrap_err(),
            CustomerKeyError::Algorithm
        );
        assert_eq!(
            CustomerKey::parse("AES256", &BASE64.encode([1u8; 16]), &md5, fake_md5).unwrap_err(),
            CustomerKeyError::Key
        );
        assert_eq!(
            CustomerKey::parse("AES256", &BASE64.encode(raw), "AAAA", fake_md5).unwrap_err(),
            CustomerKeyError::Md5
        );
    }
}

//! Envelope encryption: a data key is stored only wrapped by a KEK, as
//! `nonce (12) ‖ AES-256-GCM(KEK, DEK) ‖ tag (16)` with the key id and version as associated
//! data, so an envelope cannot be moved to another key.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::error::{CryptoError, CryptoResult};
use crate::keys::{DataKey, KEY_BYTES, KeyEncryptionKey};

/// A wrapped data key, as stored in metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// The KEK's id.
    pub key_id: String,
    /// The KEK version that wrapped it.
    pub key_version: u32,
    /// The envelope, base64.
    pub envelope: String,
}

fn aad(key_id: &str, key_version: u32) -> Vec<u8> {
    let mut a = b"coffre-dek-v1\0".to_vec();
    a.extend_from_slice(key_id.as_bytes());
    a.push(0);
    a.extend_from_slice(&key_version.to_be_bytes());
    a
}

/// Wraps `key` under `kek`.
pub(crate) fn wrap(kek: &KeyEncryptionKey, key_id: &str, key_version: u32, key: &DataKey) -> CryptoResult<WrappedKey> {
    let sealing = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, kek.bytes()).map_err(|_| CryptoError::Primitive)?);
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut nonce);
    let mut buf = key.bytes().to_vec();
    sealing
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad(key_id, key_version)), &mut buf)
        .map_err(|_| CryptoError::Primitive)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    zeroize::Zeroize::zeroize(&mut buf);
    Ok(WrappedKey { key_id: key_id.to_owned(), key_version, envelope: BASE64.encode(out) })
}

/// Unwraps an envelope with `kek`.
pub(crate) fn unwrap(kek: &KeyEncryptionKey, wrapped: &WrappedKey) -> CryptoResult<DataKey> {
    let opening = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, kek.bytes()).map_err(|_| CryptoError::Primitive)?);
    let raw = BASE64.decode(&wrapped.envelope).map_err(|_| CryptoError::UnwrapFailed)?;
    let (nonce, sealed) = raw.split_at_checked(NONCE_LEN).ok_or(CryptoError::UnwrapFailed)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::UnwrapFailed)?;
    let mut buf = sealed.to_vec();
    let plain = opening
        .open_in_place(nonce, Aad::from(aad(&wrapped.key_id, wrapped.key_version)), &mut buf)
        .map_err(|_| CryptoError::UnwrapFailed)?;
    let bytes: [u8; KEY_BYTES] = plain.try_into().map_err(|_| CryptoError::UnwrapFailed)?;
    zeroize::Zeroize::zeroize(&mut buf);
    Ok(DataKey::from_bytes(bytes))
}

/// Seals arbitrary secret bytes under a KEK with `label` as associated data: the stored form
/// of KEKs and signing keys of the local provider. Base64 of `nonce ‖ ciphertext ‖ tag`.
pub(crate) fn seal_secret(kek: &KeyEncryptionKey, label: &str, secret: &[u8]) -> CryptoResult<String> {
    seal_with(kek.bytes(), label, secret)
}

/// Opens what [`seal_secret`] sealed; the caller zeroizes the result.
pub(crate) fn open_secret(kek: &KeyEncryptionKey, label: &str, sealed: &str) -> CryptoResult<Vec<u8>> {
    open_with(kek.bytes(), label, sealed)
}

/// A small secret (an access key's secret) sealed under its own data key, which is wrapped by
/// a provider's KEK: the only form in which such secrets are stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// The data key, wrapped.
    pub key: WrappedKey,
    /// Base64 of `nonce ‖ ciphertext ‖ tag`, with the label as associated data.
    pub sealed: String,
}

/// Seals `secret` under a fresh data key wrapped by `key_id` of `provider`; `label` binds it
/// to its owner so a sealed secret cannot be moved to another record.
pub fn seal_with_provider(
    provider: &dyn crate::KeyProvider,
    key_id: &str,
    label: &str,
    secret: &[u8],
) -> CryptoResult<SealedSecret> {
    let data_key = DataKey::generate();
    Ok(SealedSecret { key: provider.wrap(key_id, &data_key)?, sealed: seal_with(data_key.bytes(), label, secret)? })
}

/// Opens a [`SealedSecret`]; the result zeroizes on drop.
pub fn open_with_provider(
    provider: &dyn crate::KeyProvider,
    label: &str,
    sealed: &SealedSecret,
) -> CryptoResult<zeroize::Zeroizing<Vec<u8>>> {
    let data_key = provider.unwrap(&sealed.key)?;
    Ok(zeroize::Zeroizing::new(open_with(data_key.bytes(), label, &sealed.sealed)?))
}

fn seal_with(key: &[u8; KEY_BYTES], label: &str, secret: &[u8]) -> CryptoResult<String> {
    let sealing = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError::Primitive)?);
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut nonce);
    let mut buf = secret.to_vec();
    sealing
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(label.as_bytes()), &mut buf)
        .map_err(|_| CryptoError::Primitive)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(BASE64.encode(out))
}

fn open_with(key: &[u8; KEY_BYTES], label: &str, sealed: &str) -> CryptoResult<Vec<u8>> {
    let opening = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError::Primitive)?);
    let raw = BASE64.decode(sealed.trim()).map_err(|_| CryptoError::UnwrapFailed)?;
    let (nonce, body) = raw.split_at_checked(NONCE_LEN).ok_or(CryptoError::UnwrapFailed)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::UnwrapFailed)?;
    let mut buf = body.to_vec();
    let len = opening
        .open_in_place(nonce, Aad::from(label.as_bytes()), &mut buf)
        .map_err(|_| CryptoError::UnwrapFailed)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// Wraps raw KEK bytes under another KEK (the local provider's master key).
pub(crate) fn wrap_kek(master: &KeyEncryptionKey, label: &str, kek: &KeyEncryptionKey) -> CryptoResult<String> {
    seal_secret(master, label, kek.bytes())
}

/// Unwraps KEK bytes wrapped by [`wrap_kek`].
pub(crate) fn unwrap_kek(master: &KeyEncryptionKey, label: &str, sealed: &str) -> CryptoResult<KeyEncryptionKey> {
    let mut raw = open_secret(master, label, sealed)?;
    let bytes: Result<[u8; KEY_BYTES], _> = raw.as_slice().try_into();
    zeroize::Zeroize::zeroize(&mut raw);
    Ok(KeyEncryptionKey::from_bytes(bytes.map_err(|_| CryptoError::UnwrapFailed)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_round_trips_and_binds_the_key_identity() {
        let kek = KeyEncryptionKey::generate();
        let dek = DataKey::generate();
        let w = wrap(&kek, "k1", 1, &dek).unwrap();
        assert_eq!(unwrap(&kek, &w).unwrap().bytes(), dek.bytes());
        let moved = WrappedKey { key_id: "k2".into(), ..w.clone() };
        assert!(unwrap(&kek, &moved).is_err());
        let other = KeyEncryptionKey::generate();
        assert!(unwrap(&other, &w).is_err());
    }
}

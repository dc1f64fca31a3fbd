//! Verification of the node's Ed25519 signatures (checkpoints, exports, attestations), for
//! anyone holding only the public key.

use base64::Engine as _;

/// Whether `signature` (base64) is a valid Ed25519 signature of `message` by `public_key`
/// (base64, 32 bytes).
pub fn verify_ed25519(public_key: &str, message: &[u8], signature: &str) -> bool {
    use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
    let b64 = base64::engine::general_purpose::STANDARD;
    let (Ok(key), Ok(sig)) = (b64.decode(public_key.trim()), b64.decode(signature.trim())) else { return false };
    UnparsedPublicKey::new(&ED25519, key).verify(message, &sig).is_ok()
}

//! SigV4 secrets lookup for s3s. The signature comparison itself (constant time) is s3s's;
//! this only answers "which secret belongs to this access key".

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};
use subtle::ConstantTimeEq;

/// The root credentials of a single-node server.
pub struct RootAuth {
    access_key: String,
    secret_key: SecretKey,
}

impl RootAuth {
    /// Credentials from an access key id and its secret.
    pub fn new(access_key: String, secret_key: String) -> RootAuth {
        RootAuth { access_key, secret_key: SecretKey::from(secret_key) }
    }
}

#[async_trait::async_trait]
impl S3Auth for RootAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        // Constant time, so that the response time does not reveal a prefix of the key id.
        if bool::from(access_key.as_bytes().ct_eq(self.access_key.as_bytes())) {
            Ok(self.secret_key.clone())
        } else {
            Err(s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records."))
        }
    }
}

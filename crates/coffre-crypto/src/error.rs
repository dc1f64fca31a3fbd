//! Errors of the crypto layer. None of them carries key material.

/// What the crypto layer can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Authentication of sealed data failed: tampered, truncated, reordered or swapped.
    #[error("sealed data failed authentication (segment {segment})")]
    Tampered {
        /// The segment that failed.
        segment: u64,
    },
    /// A wrapped key failed to unwrap: wrong KEK or damaged envelope.
    #[error("the data key could not be unwrapped")]
    UnwrapFailed,
    /// The named key does not exist.
    #[error("key {0} does not exist")]
    NoSuchKey(String),
    /// The key exists but is disabled: reads and writes fail closed.
    #[error("key {0} is disabled")]
    KeyDisabled(String),
    /// The key was destroyed: the data it protected is gone for good.
    #[error("key {0} was destroyed")]
    KeyDestroyed(String),
    /// The key provider cannot be reached (an HSM down or disconnected): fail closed, retry later.
    #[error("{0}")]
    Unavailable(String),
    /// The key store on disk is unusable.
    #[error("key store: {0}")]
    KeyStore(String),
    /// The primitive refused (should not happen with valid sizes).
    #[error("cryptographic primitive failed")]
    Primitive,
    /// I/O on the key store.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Result of the crypto layer.
pub type CryptoResult<T> = Result<T, CryptoError>;

//! Root credentials: from `COFFRE_ROOT_ACCESS_KEY`/`COFFRE_ROOT_SECRET_KEY`, or generated on
//! first start, printed once, and kept in `<data>/root-credentials.toml` (mode 0600).

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::{Context, bail};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

const FILE_NAME: &str = "root-credentials.toml";

/// The root access key pair.
#[derive(Clone, Serialize, Deserialize)]
pub struct RootCredentials {
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for RootCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootCredentials").field("access_key", &self.access_key).finish_non_exhaustive()
    }
}

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| char::from(alphabet.get(rng.random_range(0..alphabet.len())).copied().unwrap_or(b'A'))).collect()
}

/// Loads (or creates) the root credentials. Returns them and whether they were just generated.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<(RootCredentials, bool)> {
    if let (Ok(access_key), Ok(secret_key)) =
        (std::env::var("COFFRE_ROOT_ACCESS_KEY"), std::env::var("COFFRE_ROOT_SECRET_KEY"))
    {
        if access_key.len() < 3 || secret_key.len() < 8 {
            bail!("COFFRE_ROOT_ACCESS_KEY must have at least 3 characters and COFFRE_ROOT_SECRET_KEY at least 8");
        }
        return Ok((RootCredentials { access_key, secret_key }, false));
    }
    let path = data_dir.join(FILE_NAME);
    if path.exists() {
        let mode = std::fs::metadata(&path)?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!("{} is readable by other users (mode {:o}); chmod 600 it", path.display(), mode & 0o777);
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        return Ok((toml::from_str(&text).with_context(|| format!("parse {}", path.display()))?, false));
    }
    let creds = RootCredentials {
        access_key: format!("CO{}", random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 18)),
        secret_key: random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40),
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("create {}", path.display()))?;
    file.write_all(toml::to_string(&creds)?.as_bytes())?;
    file.sync_all()?;
    Ok((creds, true))
}

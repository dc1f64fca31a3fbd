//! Configuration in two stages: a raw `ConfigFile` (TOML, unknown fields refused) merged with
//! command-line flags and environment variables (flags win, then env, then file, then the
//! embedded default) into one validated [`Config`], built once at start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// Default data directory: `./coffre-data`.
pub const DATA_DIR_DEFAULT: &str = "coffre-data";
/// Default S3 listener.
pub const S3_LISTEN_DEFAULT: &str = "127.0.0.1:9000";
/// Default admin listener.
pub const ADMIN_LISTEN_DEFAULT: &str = "127.0.0.1:9001";

/// The TOML configuration file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub data_dir: Option<PathBuf>,
    pub s3_listen: Option<SocketAddr>,
    pub admin_listen: Option<SocketAddr>,
    pub region: Option<String>,
    pub domain: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_self_signed: Option<bool>,
    pub shutdown_grace_seconds: Option<u64>,
    pub audit_retention_days: Option<u64>,
    pub audit_checkpoint_seconds: Option<u64>,
    pub access_log_flush_seconds: Option<u64>,
    pub metadata_cache_mib: Option<u64>,
    pub kms: Option<KmsKind>,
    pub pkcs11_module: Option<PathBuf>,
    pub pkcs11_token_label: Option<String>,
    pub max_connections: Option<usize>,
    pub first_byte_timeout_seconds: Option<u64>,
    pub header_timeout_seconds: Option<u64>,
    pub body_idle_timeout_seconds: Option<u64>,
    pub break_glass_cooldown_seconds: Option<u64>,
    pub disk_reserve_mib: Option<u64>,
}

/// Which key provider holds the KEKs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum KmsKind {
    /// A master key in a 0600 file in the data dir (the embedded default).
    Local,
    /// A PKCS#11 HSM; the PIN comes from COFFRE_PKCS11_PIN.
    Pkcs11,
}

/// Options given on the command line or in the environment (clap fills both).
#[derive(Debug, Default, clap::Args)]
pub struct ServerArgs {
    /// TOML configuration file; flags and environment variables override it.
    #[arg(long, env = "COFFRE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where data and metadata live [default: ./coffre-data].
    #[arg(long, env = "COFFRE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the S3 listener [default: 127.0.0.1:9000].
    #[arg(long, env = "COFFRE_S3_LISTEN")]
    pub s3_listen: Option<SocketAddr>,
    /// Address of the admin listener (health, metrics) [default: 127.0.0.1:9001].
    #[arg(long, env = "COFFRE_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Region of this server; requests signed for another region are refused. Unset: any.
    #[arg(long, env = "COFFRE_REGION")]
    pub region: Option<String>,
    /// Base domain for virtual-hosted-style requests (bucket.DOMAIN).
    #[arg(long, env = "COFFRE_DOMAIN")]
    pub domain: Option<String>,
    /// PEM certificate chain for TLS on the S3 listener.
    #[arg(long, env = "COFFRE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS on the S3 listener.
    #[arg(long, env = "COFFRE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve TLS with a certificate for localhost/127.0.0.1 generated into the data dir.
    #[arg(long, env = "COFFRE_TLS_SELF_SIGNED")]
    pub tls_self_signed: bool,
    /// Key provider for KEKs: `local` (default) or `pkcs11`.
    #[arg(long, env = "COFFRE_KMS", value_enum)]
    pub kms: Option<KmsKind>,
    /// PKCS#11 module (shared library) of the HSM, for `--kms pkcs11`.
    #[arg(long, env = "COFFRE_PKCS11_MODULE")]
    pub pkcs11_module: Option<PathBuf>,
    /// Label of the HSM token, for `--kms pkcs11`.
    #[arg(long, env = "COFFRE_PKCS11_TOKEN_LABEL")]
    pub pkcs11_token_label: Option<String>,
    /// Benchmark-only: skip every fsync. Acknowledged writes can be lost. Never in production.
    #[arg(long, hide = true, env = "COFFRE_DANGEROUS_SKIP_FSYNC")]
    pub dangerous_skip_fsync: bool,
    /// Drop audit segments whose records are all older than this many days (default: keep all).
    #[arg(long, env = "COFFRE_AUDIT_RETENTION_DAYS")]
    pub audit_retention_days: Option<u64>,
    /// Sign an audit checkpoint at least this often, in seconds (default 5).
    #[arg(long, env = "COFFRE_AUDIT_CHECKPOINT_SECONDS")]
    pub audit_checkpoint_seconds: Option<u64>,
    /// Deliver S3 server access logs (PutBucketLogging) this often, in seconds (default 60).
    #[arg(long, env = "COFFRE_ACCESS_LOG_FLUSH_SECONDS")]
    pub access_log_flush_seconds: Option<u64>,
    /// Memory for the metadata database's page cache, in MiB (default 64). More keeps more
    /// small objects and listings in memory, at that cost in RSS.
    #[arg(long, env = "COFFRE_METADATA_CACHE_MIB")]
    pub metadata_cache_mib: Option<u64>,
    /// Most S3 connections open at once [default: sized to the open-file limit: (limit - a
    /// quarter of it, at most 1024) / 2].
    #[arg(long, env = "COFFRE_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a new connection may take to complete TLS and send its first byte [default 10].
    #[arg(long, env = "COFFRE_FIRST_BYTE_TIMEOUT_SECONDS")]
    pub first_byte_timeout_seconds: Option<u64>,
    /// Seconds a request head may take, and an idle keep-alive connection may stay [default 30].
    #[arg(long, env = "COFFRE_HEADER_TIMEOUT_SECONDS")]
    pub header_timeout_seconds: Option<u64>,
    /// Seconds a request body may go without data before the request fails [default 60].
    #[arg(long, env = "COFFRE_BODY_IDLE_TIMEOUT_SECONDS")]
    pub body_idle_timeout_seconds: Option<u64>,
    /// Seconds an operator must have been active before it may approve break-glass access or a
    /// new operator [default 86400; 0 turns the cool-down off].
    #[arg(long, env = "COFFRE_BREAK_GLASS_COOLDOWN_SECONDS")]
    pub break_glass_cooldown_seconds: Option<u64>,
    /// Free disk space, in MiB, that new object data must leave for metadata, the audit trail
    /// and recovery [default: 5% of the filesystem, at most 512 MiB; 0: none].
    #[arg(long, env = "COFFRE_DISK_RESERVE_MIB")]
    pub disk_reserve_mib: Option<u64>,
    /// Benchmark-only: no audit trail at all. Requests go unrecorded. Never in production.
    #[arg(long, hide = true, env = "COFFRE_DANGEROUS_SKIP_AUDIT")]
    pub dangerous_skip_audit: bool,
    /// TEST ONLY: a lifecycle "day" lasts this many seconds, so that lifecycle rules of days
    /// expire objects in seconds (like Ceph's rgw_lc_debug_interval). Never in production:
    /// every lifecycle rule would delete data thousands of times sooner than it says.
    #[arg(long, env = "COFFRE_TEST_ONLY_LIFECYCLE_DAY_SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub test_only_lifecycle_day_seconds: Option<u64>,
}

/// How the S3 listener speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain HTTP.
    Off,
    /// TLS with the given PEM files.
    Files { cert: PathBuf, key: PathBuf },
    /// TLS with a generated certificate kept in the data dir.
    SelfSigned,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub s3_listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub region: Option<String>,
    pub domain: Option<String>,
    pub tls: TlsMode,
    pub shutdown_grace_seconds: u64,
    pub dangerous_skip_fsync: bool,
    pub kms: Kms,
    pub audit_retention: Option<std::time::Duration>,
    pub audit_checkpoint_interval: std::time::Duration,
    pub access_log_flush_interval: std::time::Duration,
    pub metadata_cache_bytes: usize,
    pub dangerous_skip_audit: bool,
    /// `None`: sized to the open-file limit at start.
    pub max_connections: Option<usize>,
    pub first_byte_timeout: std::time::Duration,
    pub header_timeout: std::time::Duration,
    pub body_idle_timeout: std::time::Duration,
    pub break_glass_cooldown_s: i64,
    pub disk_reserve: coffre_store::space::Reserve,
    /// The lifecycle day: a real day, unless the test-only setting shortens it.
    pub lifecycle_day: coffre_store::LifecycleDay,
}

/// The validated key provider choice.
#[derive(Debug, Clone)]
pub enum Kms {
    /// The embedded local provider.
    Local,
    /// A PKCS#11 token.
    Pkcs11 { module: PathBuf, token_label: String },
}

fn read_file(path: &Path) -> anyhow::Result<ConfigFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parse config file {}", path.display()))
}

/// A timeout in whole seconds (at least one), or its default.
fn seconds(given: Option<u64>, default: u64) -> std::time::Duration {
    std::time::Duration::from_secs(given.unwrap_or(default).max(1))
}

impl Config {
    /// Merges flags, environment and file into the validated configuration.
    pub fn build(args: ServerArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => ConfigFile::default(),
        };
        let default_addr = |s: &str| s.parse::<SocketAddr>().context("parse a default address");
        let tls = match (args.tls_cert.or(file.tls_cert), args.tls_key.or(file.tls_key)) {
            (Some(cert), Some(key)) => TlsMode::Files { cert, key },
            (None, None) if args.tls_self_signed || file.tls_self_signed.unwrap_or(false) => TlsMode::SelfSigned,
            (None, None) => TlsMode::Off,
            _ => bail!("tls_cert and tls_key must be given together"),
        };
        if let Some(region) = args.region.as_deref().or(file.region.as_deref())
            && (region.is_empty() || !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
        {
            bail!("region {region:?} is not a valid region name (lowercase letters, digits and hyphens)");
        }
        let kms = match args.kms.or(file.kms).unwrap_or(KmsKind::Local) {
            KmsKind::Local => Kms::Local,
            KmsKind::Pkcs11 => Kms::Pkcs11 {
                module: args
                    .pkcs11_module
                    .or(file.pkcs11_module)
                    .ok_or_else(|| anyhow::anyhow!("--kms pkcs11 needs --pkcs11-module"))?,
                token_label: args
                    .pkcs11_token_label
                    .or(file.pkcs11_token_label)
                    .ok_or_else(|| anyhow::anyhow!("--kms pkcs11 needs --pkcs11-token-label"))?,
            },
        };
        Ok(Config {
            kms,
            data_dir: args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from(DATA_DIR_DEFAULT)),
            s3_listen: match args.s3_listen.or(file.s3_listen) {
                Some(a) => a,
                None => default_addr(S3_LISTEN_DEFAULT)?,
            },
            admin_listen: match args.admin_listen.or(file.admin_listen) {
                Some(a) => a,
                None => default_addr(ADMIN_LISTEN_DEFAULT)?,
            },
            region: args.region.or(file.region),
            domain: args.domain.or(file.domain).map(|d| d.trim_end_matches('.').to_ascii_lowercase()),
            tls,
            shutdown_grace_seconds: file.shutdown_grace_seconds.unwrap_or(30),
            dangerous_skip_fsync: args.dangerous_skip_fsync,
            audit_retention: args
                .audit_retention_days
                .or(file.audit_retention_days)
                .map(|d| std::time::Duration::from_secs(d.saturating_mul(86_400))),
            audit_checkpoint_interval: std::time::Duration::from_secs(
                args.audit_checkpoint_seconds.or(file.audit_checkpoint_seconds).unwrap_or(5).max(1),
            ),
            access_log_flush_interval: std::time::Duration::from_secs(
                args.access_log_flush_seconds.or(file.access_log_flush_seconds).unwrap_or(60).max(1),
            ),
            metadata_cache_bytes: match args.metadata_cache_mib.or(file.metadata_cache_mib) {
                Some(mib) => usize::try_from(mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX),
                None => coffre_store::limits::METADATA_CACHE_BYTES_DEFAULT,
            },
            dangerous_skip_audit: args.dangerous_skip_audit,
            max_connections: match args.max_connections.or(file.max_connections) {
                Some(0) => bail!("max_connections must be at least 1"),
                other => other,
            },
            first_byte_timeout: seconds(args.first_byte_timeout_seconds.or(file.first_byte_timeout_seconds), 10),
            header_timeout: seconds(args.header_timeout_seconds.or(file.header_timeout_seconds), 30),
            body_idle_timeout: seconds(
                args.body_idle_timeout_seconds.or(file.body_idle_timeout_seconds),
                coffre_s3::front::BODY_IDLE_TIMEOUT_DEFAULT.as_secs(),
            ),
            break_glass_cooldown_s: i64::try_from(
                args.break_glass_cooldown_seconds
                    .or(file.break_glass_cooldown_seconds)
                    .unwrap_or(coffre_iam::BREAK_GLASS_COOLDOWN_S_DEFAULT.unsigned_abs()),
            )
            .context("break_glass_cooldown_seconds")?,
            disk_reserve: match args.disk_reserve_mib.or(file.disk_reserve_mib) {
                Some(mib) => coffre_store::space::Reserve::Bytes(mib.saturating_mul(1024 * 1024)),
                None => coffre_store::space::Reserve::Default,
            },
            lifecycle_day: args
                .test_only_lifecycle_day_seconds
                .map_or_else(coffre_store::LifecycleDay::default, coffre_store::LifecycleDay::shortened),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_and_defaults_apply() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "data_dir = \"/srv/coffre\"\nregion = \"eu-west-3\"\ns3_listen = \"127.0.0.1:7000\"\n")
            .unwrap();
        let args = ServerArgs { config: Some(path.clone()), region: Some("eu-central-1".into()), ..Default::default() };
        let c = Config::build(args).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/coffre"));
        assert_eq!(c.region.as_deref(), Some("eu-central-1"));
        assert_eq!(c.s3_listen.port(), 7000);
        assert_eq!(c.admin_listen.to_string(), ADMIN_LISTEN_DEFAULT);
        assert_eq!(c.tls, TlsMode::Off);
    }

    #[test]
    fn the_metadata_cache_is_bounded_by_default_and_settable() {
        let default = Config::build(ServerArgs::default()).unwrap();
        assert_eq!(default.metadata_cache_bytes, 64 * 1024 * 1024);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "metadata_cache_mib = 16\n").unwrap();
        let from_file = Config::build(ServerArgs { config: Some(path.clone()), ..Default::default() }).unwrap();
        assert_eq!(from_file.metadata_cache_bytes, 16 * 1024 * 1024);
        let args = ServerArgs { config: Some(path), metadata_cache_mib: Some(256), ..Default::default() };
        assert_eq!(Config::build(args).unwrap().metadata_cache_bytes, 256 * 1024 * 1024);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "data_dri = \"x\"\n").unwrap();
        assert!(Config::build(ServerArgs { config: Some(path), ..Default::default() }).is_err());
    }
}

//! `coffre audit`: the node's public key, verification of a node's trail or of a tenant's
//! export, and tenant exports straight from a data directory (server running or not).

use std::path::PathBuf;

use anyhow::{Context, bail};

/// `coffre audit` options.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Print the Ed25519 public key that verifies this node's checkpoints and exports.
    Pubkey {
        #[arg(long, env = "COFFRE_DATA_DIR", default_value = "coffre-data")]
        data_dir: PathBuf,
    },
    /// Verify a node's audit trail (with --data-dir) or a tenant's export (a file, with --pubkey).
    /// Exits non-zero and says what and where if anything was changed.
    Verify {
        #[arg(long, env = "COFFRE_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The node's public key (base64); for a trail, default: the node's own.
        #[arg(long)]
        pubkey: Option<String>,
        /// An export (`coffre audit export` or the admin API) to verify offline.
        export: Option<PathBuf>,
    },
    /// Export a tenant's records with inclusion proofs against the latest signed checkpoint.
    Export {
        #[arg(long, env = "COFFRE_DATA_DIR", default_value = "coffre-data")]
        data_dir: PathBuf,
        #[arg(long)]
        tenant: String,
        /// Only records at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Only records at or before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

fn node_signer(data_dir: &std::path::Path) -> anyhow::Result<coffre_crypto::LocalKeyProvider> {
    let passphrase = std::env::var("COFFRE_MASTER_KEY_PASSPHRASE").ok().filter(|p| !p.is_empty());
    let local = coffre_crypto::LocalKeyProvider::open_with_passphrase(&data_dir.join("keys"), passphrase.as_deref())
        .context("open the node's key store")?;
    Ok(local)
}

fn public_key(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let (_, key) = node_signer(data_dir)?.sign(b"coffre-audit-pubkey")?;
    Ok(key)
}

pub fn run(args: AuditArgs) -> anyhow::Result<()> {
    match args.command {
        AuditCommand::Pubkey { data_dir } => println!("{}", public_key(&data_dir)?),
        AuditCommand::Verify { data_dir, pubkey, export: Some(file) } => {
            let _ = data_dir;
            let key = pubkey.context("verifying an export needs --pubkey (from `coffre audit pubkey`)")?;
            let text = std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
            let export: coffre_audit::Export = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a Coffre audit export (or was damaged)", file.display()))?;
            let problems = coffre_audit::verify_export(&export, &key);
            if !problems.is_empty() {
                for p in &problems {
                    eprintln!("{}: {p}", file.display());
                }
                bail!("the export of tenant {} does not verify ({} problems)", export.tenant, problems.len());
            }
            println!(
                "OK: {} records of tenant {} verified against the checkpoint of {} records signed {}",
                export.records.len(),
                export.tenant,
                export.checkpoint.tree_size,
                export.checkpoint.time
            );
        }
        AuditCommand::Verify { data_dir, pubkey, export: None } => {
            let data_dir = data_dir.context("give --data-dir to verify a node's trail, or an export file")?;
            let key = match pubkey {
                Some(k) => k,
                None => public_key(&data_dir)?,
            };
            let report = coffre_audit::verify_dir(&data_dir.join("audit"), &key)?;
            if !report.ok() {
                for p in &report.problems {
                    eprintln!("{}/audit: {p}", data_dir.display());
                }
                bail!("the audit trail does not verify ({} problems)", report.problems.len());
            }
            println!(
                "OK: {} records and {} signed checkpoints verified ({} records after the last checkpoint, chained but not yet signed)",
                report.records, report.checkpoints, report.unsigned_tail
            );
        }
        AuditCommand::Export { data_dir, tenant, since, until, output } => {
            let signer = node_signer(&data_dir)?;
            let export =
                coffre_audit::export(&data_dir.join("audit"), &tenant, since.as_deref(), until.as_deref(), &signer)?;
            let json = serde_json::to_string_pretty(&export)?;
            match output {
                Some(path) => std::fs::write(&path, json).with_context(|| format!("write {}", path.display()))?,
                None => println!("{json}"),
            }
        }
    }
    Ok(())
}

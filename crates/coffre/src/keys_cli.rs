//! `coffre keys`: key administration against a running server's admin listener, with the root
//! credentials (from COFFRE_ROOT_ACCESS_KEY/SECRET_KEY or the data dir's credentials file).

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;

use anyhow::{Context, bail};
use base64::Engine as _;

/// `coffre keys` options.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    /// Admin listener of the server.
    #[arg(long, env = "COFFRE_ADMIN_URL", default_value = "http://127.0.0.1:9001", global = true)]
    pub admin_url: String,
    /// Data directory to read the root credentials from when the environment has none.
    #[arg(long, env = "COFFRE_DATA_DIR", default_value = "coffre-data", global = true)]
    pub data_dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// Key operations.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// List keys: id, provider, state, versions, bucket count.
    List,
    /// Create a key.
    Create { id: String },
    /// Show one key.
    Show { id: String },
    /// Add a key version; new data keys are wrapped by it.
    Rotate { id: String },
    /// Disable a key: reads and writes of the objects it protects fail closed.
    Disable { id: String },
    /// Enable a disabled key.
    Enable { id: String },
    /// Destroy a key for good (crypto-shredding); writes a signed deletion attestation.
    Destroy {
        id: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

fn credentials(data_dir: &std::path::Path) -> anyhow::Result<(String, String)> {
    if let (Ok(a), Ok(s)) = (std::env::var("COFFRE_ROOT_ACCESS_KEY"), std::env::var("COFFRE_ROOT_SECRET_KEY")) {
        return Ok((a, s));
    }
    let path = data_dir.join("root-credentials.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("no COFFRE_ROOT_* in the environment and cannot read {}", path.display()))?;
    let c: crate::credentials::RootCredentials = toml::from_str(&text)?;
    Ok((c.access_key, c.secret_key))
}

pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    let (access, secret) = credentials(&args.data_dir)?;
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{access}:{secret}")));
    let base = format!("{}/admin/v1/keys", args.admin_url.trim_end_matches('/'));
    let client = reqwest::Client::new();
    let (method, url, body) = match &args.command {
        KeysCommand::List => (reqwest::Method::GET, base.clone(), None),
        KeysCommand::Create { id } => (reqwest::Method::POST, base.clone(), Some(serde_json::json!({ "id": id }))),
        KeysCommand::Show { id } => (reqwest::Method::GET, format!("{base}/{id}"), None),
        KeysCommand::Rotate { id } => (reqwest::Method::POST, format!("{base}/{id}/rotate"), None),
        KeysCommand::Disable { id } => (reqwest::Method::POST, format!("{base}/{id}/disable"), None),
        KeysCommand::Enable { id } => (reqwest::Method::POST, format!("{base}/{id}/enable"), None),
        KeysCommand::Destroy { id, yes } => {
            if !yes {
                eprint!(
                    "Destroying key {id} makes every object it protects unreadable forever.\nType the key id to confirm: "
                );
                std::io::stderr().flush()?;
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                if line.trim() != id {
                    bail!("not confirmed; nothing destroyed");
                }
            }
            (reqwest::Method::POST, format!("{base}/{id}/destroy"), Some(serde_json::json!({ "confirm": id })))
        }
    };
    let mut request = client.request(method, url).header("authorization", auth.clone());
    if let Some(b) = body {
        request = request.header("content-type", "application/json").body(b.to_string());
    }
    let response = request.send().await.context("reach the admin listener")?;
    let status = response.status();
    let text = response.text().await?;
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    if !status.is_success() {
        bail!("{}: {}", status, value.get("error").and_then(|e| e.as_str()).unwrap_or(&value.to_string()));
    }
    if let KeysCommand::Rotate { id } = &args.command {
        follow_rewrap(&client, &format!("{base}/{id}/rewrap"), &auth, args.json).await?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = match value {
        serde_json::Value::Array(a) => a,
        other if other.get("signature").is_some() => {
            println!("{}", serde_json::to_string_pretty(&other)?);
            return Ok(());
        }
        other => vec![other],
    };
    println!("{:<32} {:<9} {:<10} {:>8} {:>8}", "ID", "PROVIDER", "STATE", "VERSIONS", "BUCKETS");
    for r in rows {
        let s = |k: &str| {
            r.get(k).map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).unwrap_or_default()
        };
        println!(
            "{:<32} {:<9} {:<10} {:>8} {:>8}",
            s("id"),
            s("provider"),
            s("state"),
            s("versions"),
            s("bucket_count")
        );
    }
    Ok(())
}

/// Shows the background re-wrap that follows a rotation until it finishes.
async fn follow_rewrap(client: &reqwest::Client, url: &str, auth: &str, quiet: bool) -> anyhow::Result<()> {
    let bar = indicatif::ProgressBar::new(0);
    if quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("re-wrapping data keys {bar:40} {pos}/{len} objects ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    loop {
        let response =
            client.get(url).header("authorization", auth).send().await.context("reach the admin listener")?;
        let progress: serde_json::Value = serde_json::from_str(&response.text().await?)?;
        bar.set_length(progress["total"].as_u64().unwrap_or(0));
        bar.set_position(progress["done"].as_u64().unwrap_or(0));
        if let Some(error) = progress["error"].as_str() {
            bar.abandon();
            bail!("re-wrap stopped: {error}");
        }
        if progress["finished"].as_bool() == Some(true) {
            bar.finish();
            if !quiet {
                eprintln!("re-wrapped the data keys of {} objects", progress["rewrapped"]);
            }
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

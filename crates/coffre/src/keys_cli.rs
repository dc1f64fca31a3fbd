//! `coffre keys`: encryption key administration over a running server's admin API (an
//! operator token, bought with the root credentials unless told otherwise).

use std::io::{BufRead as _, Write as _};

use anyhow::bail;

use crate::admin_client::{AdminClient, ConnectArgs};

/// `coffre keys` options.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
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

pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    let client = AdminClient::connect(&args.connect).await?;
    let base = "/admin/v1/keys".to_owned();
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
    let value = client.call(method, &url, body).await?;
    if let KeysCommand::Rotate { id } = &args.command {
        follow_rewrap(&client, &format!("{base}/{id}/rewrap"), args.connect.json).await?;
    }
    if args.connect.json {
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
async fn follow_rewrap(client: &AdminClient, path: &str, quiet: bool) -> anyhow::Result<()> {
    let bar = indicatif::ProgressBar::new(0);
    if quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("re-wrapping data keys {bar:40} {pos}/{len} objects ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    loop {
        let progress = client.call(reqwest::Method::GET, path, None).await?;
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

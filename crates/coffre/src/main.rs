//! `coffre`: the sovereign S3-compatible object store. `coffre server` runs it.

#![forbid(unsafe_code)]

mod adapters;
mod admin_cli;
mod admin_client;
mod audit_cli;
mod config;
mod credentials;
mod keys_cli;
mod listener;
mod server;
mod tls;

use clap::{Parser, Subcommand};

/// Thread-caching allocator: requests allocate on runtime threads and the audit writer frees,
/// which glibc's malloc pays for in arena locking and consolidation (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "coffre", version, about = "Sovereign S3-compatible object storage")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (S3 on 127.0.0.1:9000, admin on 127.0.0.1:9001, data in ./coffre-data).
    Server(config::ServerArgs),
    /// Manage encryption keys of a running server (create, list, rotate, disable, destroy).
    Keys(keys_cli::KeysArgs),
    /// Administer a running server: tenants, users, access keys, policies, quotas, usage, break-glass.
    Admin(admin_cli::AdminArgs),
    /// The audit trail: public key, verification, tenant exports.
    Audit(audit_cli::AuditArgs),
    /// Load any S3 endpoint (put, get, mixed, list, multipart, delete) and measure this
    /// machine's ceilings (--limits).
    Bench(coffre_bench::BenchArgs),
}

fn main() {
    if let Err(e) = run() {
        // One line for people and scripts (no backtrace): what failed and why.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("COFFRE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,s3s=off"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match cli.command {
        Command::Server(args) => {
            let config = config::Config::build(args)?;
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("coffre").build()?;
            runtime.block_on(server::run(config))
        }
        Command::Keys(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(keys_cli::run(args))
        }
        Command::Audit(args) => audit_cli::run(args),
        Command::Bench(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(coffre_bench::run(args))
        }
        Command::Admin(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(admin_cli::run(args))
        }
    }
}

//! `coffre bench`: load for any S3 endpoint through aws-sdk-s3 at its default settings (the
//! client stack users run, checksums and retries included), with latency percentiles, the first
//! error shown, a live progress bar and JSON output; and `--limits`, this machine's ceilings
//! (fsynced sequential writes, 4 KiB write+fsync latency, AES-256-GCM, MD5 and SHA-256 per
//! core), against which each figure is also given as a ratio.

#![forbid(unsafe_code)]

mod limits;
mod load;

use std::path::PathBuf;

pub use crate::limits::Limits;
pub use crate::load::Report;

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// PUT new objects.
    Put,
    /// GET objects written first.
    Get,
    /// HEAD objects written first.
    Head,
    /// 45% GET, 30% PUT, 15% HEAD, 10% DELETE over a pre-written set.
    Mixed,
    /// Pre-write `--keys` objects, then full paginated listings and delimiter listings.
    List,
    /// Pre-write `--keys` objects, then single ListObjectVersions pages of up to 1,000
    /// entries, each from a key marker spread over the bucket: the cost of a page.
    #[value(name = "list-versions")]
    #[serde(rename = "list-versions")]
    ListVersions,
    /// Multipart uploads of `--size` objects in 5 MiB parts (or `--part-size`).
    Multipart,
    /// DELETE objects written first.
    Delete,
}

/// `coffre bench` options.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// S3 endpoint (credentials and region come from the usual AWS environment variables).
    #[arg(long, env = "COFFRE_BENCH_ENDPOINT", default_value = "http://127.0.0.1:9000")]
    pub endpoint: String,
    #[arg(long, value_enum, default_value = "put")]
    pub workload: Workload,
    /// Object size: bytes, or with a unit (4KiB, 1MiB, 64MiB).
    #[arg(long, default_value = "4KiB", value_parser = parse_size)]
    pub size: u64,
    /// Requests in flight.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Stop after this many operations...
    #[arg(long)]
    pub ops: Option<u64>,
    /// ...or after this many seconds (default 10 when --ops is not given).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Bucket to use (created if missing); default: a new `coffre-bench-…` bucket.
    #[arg(long)]
    pub bucket: Option<String>,
    /// Key prefix of the objects written.
    #[arg(long, default_value = "bench/")]
    pub prefix: String,
    /// Objects written before `get`, `head`, `mixed`, `delete`, `list` and `list-versions` runs.
    #[arg(long, default_value_t = 1000)]
    pub keys: u64,
    /// The objects of `get`, `mixed`, `delete` and `list` are there already (an earlier run with
    /// the same `--bucket`, `--prefix` and `--keys`): do not write them again.
    #[arg(long)]
    pub populated: bool,
    /// `list`: every listing is a delimiter listing ("/") of this prefix only (one folder),
    /// instead of full and delimiter listings of `--prefix` in turn.
    #[arg(long)]
    pub list_prefix: Option<String>,
    /// Turn versioning on in the bucket before the run (every write then adds a version).
    #[arg(long)]
    pub versioned: bool,
    /// Part size of `multipart`.
    #[arg(long, default_value = "5MiB", value_parser = parse_size)]
    pub part_size: u64,
    /// Region to sign for.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Also measure this machine's ceilings, on the disk of `--data-dir`, and give each figure
    /// as a ratio of the ceiling it is bound by.
    #[arg(long)]
    pub limits: bool,
    /// Where `--limits` measures the disk (the server's data directory).
    #[arg(long, env = "COFFRE_DATA_DIR", default_value = ".")]
    pub data_dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Parses `4096`, `4KiB`, `1MiB`, `64MiB`, `1GiB` (also KB/MB/GB as powers of ten).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("invalid size {text:?}"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => return Err(format!("unknown size unit {other:?}")),
    };
    n.checked_mul(factor).ok_or_else(|| format!("size {text:?} is too large"))
}

/// Runs `coffre bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let limits = if args.limits {
        if !args.json {
            eprintln!("measuring this machine's ceilings on {} ...", args.data_dir.display());
        }
        let dir = args.data_dir.clone();
        Some(tokio::task::spawn_blocking(move || Limits::measure(&dir)).await??)
    } else {
        None
    };
    let report = load::run(&args).await?;
    if args.json {
        let mut out = serde_json::json!({ "workload": args.workload, "report": report });
        if let Some(l) = &limits {
            out["limits"] = serde_json::to_value(l)?;
            out["ratios"] = serde_json::to_value(l.ratios(&args, &report))?;
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        if let Some(l) = &limits {
            l.print();
        }
        report.print();
        if let Some(l) = &limits {
            for (what, ratio) in l.ratios(&args, &report) {
                println!("  {what}: {:.0}%", ratio * 100.0);
            }
        }
    }
    if report.errors > 0 {
        anyhow::bail!("{} operations failed; first: {}", report.errors, report.first_error.as_deref().unwrap_or("?"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1 GiB"), Ok(1 << 30));
        assert!(parse_size("4 parsecs").is_err());
        assert!(parse_size("").is_err());
    }
}

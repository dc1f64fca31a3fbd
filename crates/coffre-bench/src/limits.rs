//! This machine's ceilings, measured in the same run as the load so that noise hits both: the
//! data directory's disk (fsynced sequential writes, 4 KiB write+fsync latency) and one core's
//! AES-256-GCM, MD5 and SHA-256 throughput, with the primitives Coffre itself uses.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{BenchArgs, Report, Workload};

/// The ceilings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Limits {
    /// Sequential writes of 1 MiB blocks, fsynced at the end, MiB/s.
    pub seq_write_fsync_mib_s: f64,
    /// Mean latency of a 4 KiB append followed by fdatasync, ms.
    pub write_4k_fsync_ms: f64,
    /// AES-256-GCM sealing of 64 KiB segments on one core, MiB/s.
    pub aes_gcm_mib_s: f64,
    /// MD5 (the ETag) on one core, MiB/s.
    pub md5_mib_s: f64,
    /// SHA-256 on one core, MiB/s.
    pub sha256_mib_s: f64,
    /// Cores available.
    pub cores: usize,
}

fn mib_per_s(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64().max(1e-9)
}

/// Runs `f` over `data` repeatedly for about `budget`; MiB/s.
fn throughput(data: &[u8], budget: Duration, mut f: impl FnMut(&[u8])) -> f64 {
    let started = Instant::now();
    let mut done = 0usize;
    while started.elapsed() < budget {
        f(data);
        done += data.len();
    }
    mib_per_s(done, started.elapsed())
}

impl Limits {
    /// Measures, writing scratch files in `dir` (removed afterwards).
    pub fn measure(dir: &Path) -> anyhow::Result<Limits> {
        std::fs::create_dir_all(dir)?;
        let scratch = dir.join(format!(".coffre-bench-{:08x}", rand::random::<u32>()));
        let result = Limits::measure_in(&scratch);
        let _ = std::fs::remove_file(&scratch);
        result
    }

    fn measure_in(scratch: &Path) -> anyhow::Result<Limits> {
        // Disk: 256 MiB in 1 MiB writes, then one fsync, as a large PUT writes a chunk file.
        let block = vec![0x5au8; 1 << 20];
        let total = 256usize;
        let started = Instant::now();
        {
            let mut f = std::fs::File::create(scratch)?;
            for _ in 0..total {
                f.write_all(&block)?;
            }
            f.sync_all()?;
        }
        let seq_write_fsync_mib_s = mib_per_s(total << 20, started.elapsed());
        std::fs::remove_file(scratch)?;
        // 4 KiB append + fdatasync, one writer waiting for each.
        let small = vec![0x5au8; 4096];
        let rounds = 200u32;
        let started = Instant::now();
        {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(scratch)?;
            for _ in 0..rounds {
                f.write_all(&small)?;
                f.sync_data()?;
            }
        }
        let write_4k_fsync_ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds);
        // CPU, one core each, with the primitives of the data path.
        let data = vec![0x17u8; 64 * 1024];
        let budget = Duration::from_millis(400);
        let aes_gcm_mib_s = {
            use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
            let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).map_err(|_| anyhow::anyhow!("aes"))?);
            let mut buf = data.clone();
            throughput(&data, budget, |d| {
                buf.clear();
                buf.extend_from_slice(d);
                let _ = key.seal_in_place_append_tag(Nonce::assume_unique_for_key([1u8; 12]), Aad::empty(), &mut buf);
            })
        };
        let md5_mib_s = throughput(&data, budget, |d| {
            use md5::Digest as _;
            std::hint::black_box(md5::Md5::digest(d));
        });
        let sha256_mib_s = throughput(&data, budget, |d| {
            use sha2::Digest as _;
            std::hint::black_box(sha2::Sha256::digest(d));
        });
        Ok(Limits {
            seq_write_fsync_mib_s,
            write_4k_fsync_ms,
            aes_gcm_mib_s,
            md5_mib_s,
            sha256_mib_s,
            cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        })
    }

    pub fn print(&self) {
        println!(
            "ceilings: sequential write+fsync {:.0} MiB/s; 4 KiB write+fsync {:.3} ms ({:.0}/s one at a time); per core: AES-256-GCM {:.0} MiB/s, MD5 {:.0} MiB/s, SHA-256 {:.0} MiB/s; {} cores",
            self.seq_write_fsync_mib_s,
            self.write_4k_fsync_ms,
            1000.0 / self.write_4k_fsync_ms,
            self.aes_gcm_mib_s,
            self.md5_mib_s,
            self.sha256_mib_s,
            self.cores
        );
    }

    /// Each figure of `report` as a fraction of the ceiling that bounds it.
    pub fn ratios(&self, args: &BenchArgs, report: &Report) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        let large = args.size >= 1 << 20;
        // A PUT moves every byte through MD5 and AES-GCM, then to the disk; a GET through
        // AES-GCM. With N cores the hashing and sealing ceilings scale to N.
        let cores = self.cores as f64;
        match args.workload {
            Workload::Put | Workload::Multipart if large => {
                out.push((
                    "of fsynced sequential write".to_owned(),
                    report.mib_per_second / self.seq_write_fsync_mib_s,
                ));
                let cpu = 1.0 / (1.0 / self.md5_mib_s + 1.0 / self.aes_gcm_mib_s) * cores;
                out.push(("of MD5+AES-GCM on all cores".to_owned(), report.mib_per_second / cpu));
            }
            Workload::Get if large => {
                out.push(("of AES-GCM on all cores".to_owned(), report.mib_per_second / (self.aes_gcm_mib_s * cores)));
            }
            Workload::Put | Workload::Delete | Workload::Multipart => {
                out.push((
                    "of one-at-a-time 4 KiB write+fsync rate".to_owned(),
                    report.ops_per_second / (1000.0 / self.write_4k_fsync_ms),
                ));
            }
            _ => {}
        }
        out
    }
}

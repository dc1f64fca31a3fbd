//! The load generator: workers sharing one aws-sdk-s3 client (default settings), an op budget or
//! a deadline, latency recorded per operation, errors counted with the first one kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;

use crate::{BenchArgs, Workload};

/// What a run measured.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub operations: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub seconds: f64,
    pub ops_per_second: f64,
    /// Object bytes moved (sent or received), per second.
    pub mib_per_second: f64,
    /// Keys (and common prefixes) listed, in all (`list`).
    pub keys_listed: Option<u64>,
    /// Listed keys per second (`list`).
    pub keys_per_second: Option<f64>,
    pub latency_ms_p50: f64,
    pub latency_ms_p90: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
    pub object_bytes: u64,
    pub concurrency: usize,
}

impl Report {
    pub fn print(&self) {
        println!(
            "{} ops in {:.2} s: {:.0} ops/s, {:.1} MiB/s{}; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} errors",
            self.operations,
            self.seconds,
            self.ops_per_second,
            self.mib_per_second,
            self.keys_per_second.map(|k| format!(", {k:.0} keys/s listed")).unwrap_or_default(),
            self.latency_ms_p50,
            self.latency_ms_p90,
            self.latency_ms_p99,
            self.latency_ms_max,
            self.errors
        );
        if let Some(e) = &self.first_error {
            println!("first error: {e}");
        }
    }
}

/// One operation's outcome: object bytes moved and keys listed.
struct Done {
    bytes: u64,
    keys: u64,
}

struct Shared {
    client: aws_sdk_s3::Client,
    bucket: String,
    args: BenchArgs,
    payload: Bytes,
    issued: AtomicU64,
    /// Keys written before the run, for reads and deletes.
    existing: u64,
}

fn key(prefix: &str, i: u64) -> String {
    format!("{prefix}{i:012}")
}

fn describe<E>(e: &aws_sdk_s3::error::SdkError<E>) -> String
where
    E: std::error::Error + Send + Sync + 'static + aws_sdk_s3::error::ProvideErrorMetadata,
{
    match e.as_service_error().and_then(|se| Some((se.code()?, se.message().unwrap_or_default()))) {
        Some((code, message)) => format!("{code}: {message}"),
        // No S3 error code (a transport failure, or a response the SDK could not read): the
        // whole error chain, so that nothing is hidden.
        None => aws_sdk_s3::error::DisplayErrorContext(e).to_string().chars().take(500).collect(),
    }
}

impl Shared {
    async fn put(&self, key: &str) -> Result<Done, String> {
        let body = ByteStream::from(self.payload.clone());
        self.client.put_object().bucket(&self.bucket).key(key).body(body).send().await.map_err(|e| describe(&e))?;
        Ok(Done { bytes: self.payload.len() as u64, keys: 0 })
    }

    async fn get(&self, key: &str) -> Result<Done, String> {
        let out = self.client.get_object().bucket(&self.bucket).key(key).send().await.map_err(|e| describe(&e))?;
        let body = out.body.collect().await.map_err(|e| e.to_string())?;
        Ok(Done { bytes: body.into_bytes().len() as u64, keys: 0 })
    }

    async fn multipart(&self, key: &str) -> Result<Done, String> {
        let c = &self.client;
        let up = c.create_multipart_upload().bucket(&self.bucket).key(key).send().await.map_err(|e| describe(&e))?;
        let id = up.upload_id().unwrap_or_default().to_owned();
        let part_size = usize::try_from(self.args.part_size).unwrap_or(usize::MAX).max(1);
        let mut parts = Vec::new();
        for (i, chunk) in self.payload.chunks(part_size).enumerate() {
            let n = i32::try_from(i + 1).unwrap_or(i32::MAX);
            let body = ByteStream::from(self.payload.slice_ref(chunk));
            let p = c
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&id)
                .part_number(n)
                .body(body)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            parts.push(CompletedPart::builder().part_number(n).set_e_tag(p.e_tag().map(str::to_owned)).build());
        }
        let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
        c.complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(&id)
            .multipart_upload(done)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        Ok(Done { bytes: self.payload.len() as u64, keys: 0 })
    }

    async fn list(&self, delimiter: bool) -> Result<Done, String> {
        let (prefix, delimiter) = match &self.args.list_prefix {
            Some(folder) => (folder, true),
            None => (&self.args.prefix, delimiter),
        };
        let mut keys = 0u64;
        let mut token = None;
        loop {
            let mut req = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix);
            if delimiter {
                req = req.delimiter("/");
            }
            let out = req.set_continuation_token(token).send().await.map_err(|e| describe(&e))?;
            keys += out.contents().len() as u64 + out.common_prefixes().len() as u64;
            token = out.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                return Ok(Done { bytes: 0, keys });
            }
        }
    }

    /// The `n`-th operation of the run.
    async fn op(&self, n: u64) -> Result<Done, String> {
        let existing = self.existing.max(1);
        let args = &self.args;
        match args.workload {
            Workload::Put => self.put(&key(&args.prefix, self.existing + n)).await,
            Workload::Multipart => self.multipart(&key(&args.prefix, self.existing + n)).await,
            Workload::Get => self.get(&key(&args.prefix, n % existing)).await,
            Workload::Head => {
                let k = key(&args.prefix, n % existing);
                self.client.head_object().bucket(&self.bucket).key(k).send().await.map_err(|e| describe(&e))?;
                Ok(Done { bytes: 0, keys: 0 })
            }
            Workload::ListVersions => {
                // Markers stride over the keys, so pages come from all over the bucket.
                let marker = key(&args.prefix, n.wrapping_mul(7919) % existing);
                let out = self
                    .client
                    .list_object_versions()
                    .bucket(&self.bucket)
                    .prefix(&args.prefix)
                    .key_marker(marker)
                    .max_keys(1000)
                    .send()
                    .await
                    .map_err(|e| describe(&e))?;
                Ok(Done { bytes: 0, keys: (out.versions().len() + out.delete_markers().len()) as u64 })
            }
            Workload::Delete => {
                let k = key(&args.prefix, n % existing);
                self.client.delete_object().bucket(&self.bucket).key(k).send().await.map_err(|e| describe(&e))?;
                Ok(Done { bytes: 0, keys: 0 })
            }
            Workload::List => self.list(n % 2 == 1).await,
            Workload::Mixed => {
                let k = key(&args.prefix, n % existing);
                match n % 20 {
                    // A key the mix deleted earlier: 404 is the right answer, not a failure.
                    0..=8 => match self.get(&k).await {
                        Err(e) if e.starts_with("NoSuchKey") => Ok(Done { bytes: 0, keys: 0 }),
                        other => other,
                    },
                    9..=14 => self.put(&k).await,
                    15..=17 => {
                        let out = self.client.head_object().bucket(&self.bucket).key(&k).send().await;
                        match out {
                            Ok(_) => Ok(Done { bytes: 0, keys: 0 }),
                            // A key the mix deleted earlier: HEAD answers 404, which is an answer.
                            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                                Ok(Done { bytes: 0, keys: 0 })
                            }
                            Err(e) => Err(describe(&e)),
                        }
                    }
                    _ => {
                        self.client
                            .delete_object()
                            .bucket(&self.bucket)
                            .key(k)
                            .send()
                            .await
                            .map_err(|e| describe(&e))?;
                        Ok(Done { bytes: 0, keys: 0 })
                    }
                }
            }
        }
    }
}

async fn client(args: &BenchArgs) -> aws_sdk_s3::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(args.region.clone()))
        .endpoint_url(&args.endpoint)
        .load()
        .await;
    aws_sdk_s3::Client::new(&config)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

/// Writes `count` objects with `concurrency` writers (set-up, not measured).
async fn populate(shared: &Arc<Shared>, count: u64, concurrency: usize) -> anyhow::Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (shared, next) = (Arc::clone(shared), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<(), String>(());
                }
                shared.put(&key(&shared.args.prefix, i)).await?;
            }
        }));
    }
    for t in tasks {
        t.await?.map_err(|e| anyhow::anyhow!("writing the objects to read: {e}"))?;
    }
    Ok(())
}

/// Runs the workload.
pub async fn run(args: &BenchArgs) -> anyhow::Result<Report> {
    let client = client(args).await;
    let bucket = args.bucket.clone().unwrap_or_else(|| format!("coffre-bench-{:08x}", rand::random::<u32>()));
    if client.head_bucket().bucket(&bucket).send().await.is_err() {
        client
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("create bucket {bucket}: {}", describe(&e)))?;
    }
    if args.versioned {
        let enabled = aws_sdk_s3::types::VersioningConfiguration::builder()
            .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
            .build();
        client
            .put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(enabled)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("turn versioning on in {bucket}: {}", describe(&e)))?;
    }
    let size = usize::try_from(args.size).unwrap_or(usize::MAX);
    let payload = Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let needs_keys = matches!(
        args.workload,
        Workload::Get | Workload::Head | Workload::Mixed | Workload::Delete | Workload::List | Workload::ListVersions
    );
    let existing = if needs_keys { args.keys } else { 0 };
    let shared = Arc::new(Shared { client, bucket, args: args.clone(), payload, issued: AtomicU64::new(0), existing });
    if needs_keys && !args.populated {
        populate(&shared, existing, args.concurrency.max(8)).await?;
    }
    let ops_limit = match (args.ops, args.workload) {
        (Some(n), _) => Some(n),
        (None, Workload::Delete) => Some(existing),
        (None, _) => None,
    };
    let deadline = ops_limit.is_none().then(|| Duration::from_secs_f64(args.duration.unwrap_or(10.0)));
    let bar = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = match ops_limit {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {bar:30} {pos} ops {per_sec} ({elapsed}) {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (shared, bar) = (Arc::clone(&shared), bar.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut bytes, mut keys, mut errors, mut first_error) =
                (Vec::new(), 0u64, 0u64, 0u64, None);
            loop {
                if deadline.is_some_and(|d| started.elapsed() >= d) {
                    break;
                }
                let n = shared.issued.fetch_add(1, Ordering::Relaxed);
                if ops_limit.is_some_and(|limit| n >= limit) {
                    break;
                }
                let t = Instant::now();
                match shared.op(n).await {
                    Ok(done) => {
                        bytes += done.bytes;
                        keys += done.keys;
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
                latencies.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                bar.inc(1);
            }
            (latencies, bytes, keys, errors, first_error)
        }));
    }
    let mut report = Report { object_bytes: args.size, concurrency: args.concurrency, ..Default::default() };
    let mut all = Vec::new();
    let (mut bytes, mut keys) = (0u64, 0u64);
    for t in tasks {
        let (latencies, b, k, errors, first) = t.await?;
        all.extend(latencies);
        bytes += b;
        keys += k;
        report.errors += errors;
        if report.first_error.is_none() {
            report.first_error = first;
        }
    }
    bar.finish_and_clear();
    report.seconds = started.elapsed().as_secs_f64();
    all.sort_unstable();
    report.operations = all.len() as u64;
    report.ops_per_second = report.operations as f64 / report.seconds;
    report.mib_per_second = bytes as f64 / (1024.0 * 1024.0) / report.seconds;
    if matches!(args.workload, Workload::List | Workload::ListVersions) {
        report.keys_listed = Some(keys);
        report.keys_per_second = Some(keys as f64 / report.seconds);
    }
    report.latency_ms_p50 = percentile(&all, 0.50);
    report.latency_ms_p90 = percentile(&all, 0.90);
    report.latency_ms_p99 = percentile(&all, 0.99);
    report.latency_ms_max = all.last().map_or(0.0, |m| *m as f64 / 1000.0);
    Ok(report)
}

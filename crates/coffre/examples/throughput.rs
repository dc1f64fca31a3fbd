//! A quick PUT/GET throughput probe with aws-sdk-s3 at default settings (the full `coffre
//! bench` comes with its own issue). Usage:
//!
//! ```sh
//! AWS_ACCESS_KEY_ID=.. AWS_SECRET_ACCESS_KEY=.. cargo run --release --example throughput -- \
//!     http://127.0.0.1:9000 SIZE_BYTES COUNT CONCURRENCY
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let endpoint = args.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:9000".into());
    let size: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4096);
    let count: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let concurrency: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(16);
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("eu-west-3"))
        .endpoint_url(&endpoint)
        .load()
        .await;
    let client = aws_sdk_s3::Client::new(&config);
    let bucket = format!("throughput-{:08x}", rand::random::<u32>());
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let payload = bytes::Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<u8>>());

    for phase in ["PUT", "GET"] {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (client, bucket, payload, next) = (client.clone(), bucket.clone(), payload.clone(), Arc::clone(&next));
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let key = format!("obj-{i}");
                    if phase == "PUT" {
                        client
                            .put_object()
                            .bucket(&bucket)
                            .key(&key)
                            .body(ByteStream::from(payload.clone()))
                            .send()
                            .await
                            .unwrap();
                    } else {
                        let out = client.get_object().bucket(&bucket).key(&key).send().await.unwrap();
                        let got = out.body.collect().await.unwrap().into_bytes();
                        assert_eq!(got.len(), payload.len());
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        let mib = (size * count) as f64 / (1024.0 * 1024.0);
        println!(
            "{phase} size={size} count={count} concurrency={concurrency}: {:.0} ops/s, {:.1} MiB/s ({secs:.2} s)",
            count as f64 / secs,
            mib / secs
        );
    }
}

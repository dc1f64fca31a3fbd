//! What authorisation costs on the hot path: small-object GETs from a bucket without a policy
//! and from one with a 20-statement bucket policy (19 statements that do not match, each with
//! conditions, and a last one that grants), by the same caller, alternating ROUNDS times so
//! that machine noise hits both alike. Usage (keys of a tenant admin):
//!
//! ```sh
//! AWS_ACCESS_KEY_ID=.. AWS_SECRET_ACCESS_KEY=.. cargo run --release --example authz_cost -- \
//!     http://127.0.0.1:9000 OBJECTS CONCURRENCY ROUNDS
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;

/// A 20-statement policy: 19 statements about other principals, prefixes and networks, which
/// every request still has to evaluate, then the grant.
fn policy(bucket: &str, tenant_arn: &str) -> String {
    let mut statements = Vec::new();
    for i in 0..19 {
        statements.push(serde_json::json!({
            "Sid": format!("other{i}"),
            "Effect": if i % 4 == 0 { "Deny" } else { "Allow" },
            "Principal": { "AWS": format!("arn:aws:iam::other-tenant-{i}:user/someone") },
            "Action": ["s3:GetObject", "s3:PutObject", "s3:List*"],
            "Resource": format!("arn:aws:s3:::{bucket}/prefix-{i}/*"),
            "Condition": {
                "IpAddress": { "aws:SourceIp": format!("10.{i}.0.0/16") },
                "StringLike": { "s3:prefix": [format!("home/{i}/*")] },
            },
        }));
    }
    statements.push(serde_json::json!({
        "Sid": "grant", "Effect": "Allow", "Principal": { "AWS": tenant_arn },
        "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*"),
    }));
    serde_json::json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
}

async fn gets(client: &aws_sdk_s3::Client, bucket: &str, objects: usize, concurrency: usize) -> f64 {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, bucket, next) = (client.clone(), bucket.to_owned(), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= objects {
                    break;
                }
                let out = client.get_object().bucket(&bucket).key(format!("obj-{i}")).send().await.unwrap();
                out.body.collect().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    objects as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let endpoint = args.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:9000".into());
    let objects: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3000);
    let concurrency: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(16);
    let rounds: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(3);
    let tenant = std::env::var("COFFRE_BENCH_TENANT").unwrap_or_else(|_| "bench".into());
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("eu-west-3"))
        .endpoint_url(&endpoint)
        .load()
        .await;
    let client = aws_sdk_s3::Client::new(&config);
    let id = rand::random::<u32>();
    let (plain, governed) = (format!("authz-none-{id:08x}"), format!("authz-policy-{id:08x}"));
    let payload = bytes::Bytes::from(vec![7u8; 4096]);
    for bucket in [&plain, &governed] {
        client.create_bucket().bucket(bucket).send().await.unwrap();
        for i in 0..objects {
            let body = ByteStream::from(payload.clone());
            client.put_object().bucket(bucket).key(format!("obj-{i}")).body(body).send().await.unwrap();
        }
    }
    let document = policy(&governed, &format!("arn:aws:iam::{tenant}:root"));
    client.put_bucket_policy().bucket(&governed).policy(document).send().await.unwrap();
    let (mut none, mut with) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        none.push(gets(&client, &plain, objects, concurrency).await);
        with.push(gets(&client, &governed, objects, concurrency).await);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    for (a, b) in none.iter().zip(&with) {
        println!("round: no policy {a:.0} GET/s, 20-statement policy {b:.0} GET/s");
    }
    println!(
        "4 KiB GET x{objects}, {concurrency} concurrent, {rounds} rounds: no policy {:.0} ops/s, 20-statement policy {:.0} ops/s, ratio {:.3}",
        mean(&none),
        mean(&with),
        mean(&with) / mean(&none)
    );
}

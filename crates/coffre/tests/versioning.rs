//! Black-box tests of versioning's accounting with aws-sdk-s3 and `coffre admin`: quotas and
//! usage count every stored version, and a version's data is reclaimed from disk when that
//! version is deleted, never earlier (a delete marker frees nothing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use common::{Server, body, bucket, code, data};

async fn versioned_bucket(c: &aws_sdk_s3::Client, name: &str) -> String {
    let b = bucket(name);
    c.create_bucket().bucket(&b).send().await.unwrap();
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    c.put_bucket_versioning().bucket(&b).versioning_configuration(enabled).send().await.unwrap();
    b
}

/// Polls (with a deadline) until the data directory holds `n` chunk files.
async fn wait_for_chunk_files(server: &Server, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while common::chunk_files(server.data_dir()) != n {
        assert!(Instant::now() < deadline, "chunk files: {} (expected {n})", common::chunk_files(server.data_dir()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Goal: quotas and usage count every version; overwriting in a versioned bucket adds one.
#[tokio::test]
async fn quotas_and_usage_count_every_version() {
    let server = Server::start();
    let c = server.client().await;
    let b = versioned_bucket(&c, "vquota").await;
    server.admin_cli(&["quota", "set", &b, "--max-objects", "3"]);
    for i in 0..3 {
        c.put_object().bucket(&b).key("k").body(ByteStream::from(vec![i; 1000])).send().await.unwrap();
    }
    let usage = server.admin_cli(&["quota", "get", &b]);
    assert_eq!((usage["bytes"].as_u64(), usage["objects"].as_u64()), (Some(3000), Some(3)));
    let e = c.put_object().bucket(&b).key("k").body(ByteStream::from(vec![9u8; 10])).send().await.unwrap_err();
    assert_eq!(code(&e), "QuotaExceeded", "a fourth version of the same key is a fourth object");
    // A delete marker stores nothing: the versions stay counted.
    c.delete_object().bucket(&b).key("k").send().await.unwrap();
    let usage = server.admin_cli(&["quota", "get", &b]);
    assert_eq!((usage["bytes"].as_u64(), usage["objects"].as_u64()), (Some(3000), Some(3)));
}

/// Goal: a version's data is reclaimed when that version is deleted, and not before: a delete
/// marker and newer versions leave the older versions' data in place.
#[tokio::test]
async fn a_versions_data_is_freed_exactly_when_it_is_deleted() {
    let server = Server::start();
    let c = server.client().await;
    let b = versioned_bucket(&c, "vgc").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        // Large enough to be a chunk file of its own (small objects live inline).
        let out = c.put_object().bucket(&b).key("k").body(ByteStream::from(data(100_000, i))).send().await.unwrap();
        ids.push(out.version_id().unwrap().to_owned());
    }
    c.delete_object().bucket(&b).key("k").send().await.unwrap();
    // Deleting one version frees its chunk (after the readers' grace period), the others stay.
    c.delete_object().bucket(&b).key("k").version_id(&ids[1]).send().await.unwrap();
    wait_for_chunk_files(&server, 2).await;
    for (i, id) in [(0u64, &ids[0]), (2, &ids[2])] {
        let got = c.get_object().bucket(&b).key("k").version_id(id).send().await.unwrap();
        assert_eq!(body(got).await, data(100_000, i), "version {id} is intact");
    }
    c.delete_object().bucket(&b).key("k").version_id(&ids[0]).send().await.unwrap();
    c.delete_object().bucket(&b).key("k").version_id(&ids[2]).send().await.unwrap();
    wait_for_chunk_files(&server, 0).await;
}

//! Crash safety: the server is killed with SIGKILL at random moments while clients upload
//! small objects and multipart objects concurrently, then restarted, 20 times over.
//! Afterwards every acknowledged object reads back byte-identical, no object is ever partly
//! visible, and the temporary area is empty. The seed is printed; set COFFRE_TEST_SEED to replay.
//! A clean stop leaves the metadata database closed; a crash has it checked at the next start.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::{Server, body, bucket, data, md5_hex};
use rand::{Rng, SeedableRng};

/// Every write attempted on a key, in order, with whether the server acknowledged it.
type History = Arc<Mutex<HashMap<String, Vec<(String, bool)>>>>;

fn attempt(history: &History, key: &str, md5: &str) {
    history.lock().unwrap().entry(key.to_owned()).or_default().push((md5.to_owned(), false));
}

fn acknowledge(history: &History, key: &str, md5: &str) {
    let mut h = history.lock().unwrap();
    if let Some(entry) = h.get_mut(key).and_then(|v| v.iter_mut().rev().find(|(m, _)| m == md5)) {
        entry.1 = true;
    }
}

async fn small_writer(c: aws_sdk_s3::Client, b: String, writer: u64, seed: u64, history: History) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    loop {
        // Keys are owned by one writer, so writes to a key are ordered.
        let key = format!("small/{writer}/{}", rng.random_range(0..8));
        let d = data(rng.random_range(0..40_000), rng.random());
        let md5 = md5_hex(&d);
        attempt(&history, &key, &md5);
        if c.put_object().bucket(&b).key(&key).body(ByteStream::from(d)).send().await.is_err() {
            return;
        }
        acknowledge(&history, &key, &md5);
    }
}

async fn multipart_writer(c: aws_sdk_s3::Client, b: String, writer: u64, seed: u64, history: History) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    loop {
        let key = format!("multi/{writer}/{}", rng.random_range(0..3));
        let parts = [data(5 * 1024 * 1024, rng.random()), data(rng.random_range(1..200_000), rng.random())];
        let md5 = md5_hex(&parts.concat());
        let Ok(up) = c.create_multipart_upload().bucket(&b).key(&key).send().await else { return };
        let id = up.upload_id().unwrap().to_owned();
        let mut completed = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let n = i as i32 + 1;
            let Ok(out) = c
                .upload_part()
                .bucket(&b)
                .key(&key)
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from(p.clone()))
                .send()
                .await
            else {
                return;
            };
            completed.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
        }
        attempt(&history, &key, &md5);
        let done = c
            .complete_multipart_upload()
            .bucket(&b)
            .key(&key)
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
            .send()
            .await;
        if done.is_err() {
            return;
        }
        acknowledge(&history, &key, &md5);
    }
}

/// Checks every key against its history: the last acknowledged write or a later attempt, never
/// anything else; a key never acknowledged is absent or one of its attempts.
async fn verify(c: &aws_sdk_s3::Client, b: &str, history: &History) -> usize {
    let snapshot = history.lock().unwrap().clone();
    let mut acknowledged = 0;
    for (key, writes) in snapshot {
        let last_ack = writes.iter().rposition(|(_, acked)| *acked);
        let allowed: Vec<&String> = writes[last_ack.unwrap_or(0)..].iter().map(|(m, _)| m).collect();
        match c.get_object().bucket(b).key(&key).send().await {
            Ok(out) => {
                let bytes = out.body.collect().await.unwrap().into_bytes();
                let got = md5_hex(&bytes);
                assert!(allowed.contains(&&got), "{key}: content {got} is none of the allowed versions {allowed:?}");
                if last_ack.is_some() {
                    acknowledged += 1;
                }
            }
            Err(e) => {
                assert!(last_ack.is_none(), "{key}: acknowledged object lost: {e:?}");
            }
        }
    }
    acknowledged
}

fn tmp_entries(server: &Server) -> usize {
    std::fs::read_dir(server.data_dir().join("tmp")).map(|d| d.count()).unwrap_or(0)
}

/// Goal: an acknowledged write survives `kill -9`; nothing is ever half-written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_uploads_loses_nothing_acknowledged() {
    let seed: u64 = std::env::var("COFFRE_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("COFFRE_TEST_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut server = Server::start();
    let b = bucket("crash");
    server.client().await.create_bucket().bucket(&b).send().await.unwrap();
    let history: History = Arc::default();
    let mut total_acknowledged = 0;
    for cycle in 0..20u64 {
        let c = server.client().await;
        let mut tasks = Vec::new();
        for w in 0..6 {
            tasks.push(tokio::spawn(small_writer(c.clone(), b.clone(), w, rng.random(), Arc::clone(&history))));
        }
        for w in 0..2 {
            tasks.push(tokio::spawn(multipart_writer(c.clone(), b.clone(), w, rng.random(), Arc::clone(&history))));
        }
        // The crash moment is the random variable under test, not a synchronisation.
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..700))).await;
        server.kill9();
        for t in tasks {
            let _ = t.await;
        }
        server.start_again();
        assert_eq!(tmp_entries(&server), 0, "cycle {cycle}: the temporary area is emptied at start-up");
        let c = server.client().await;
        total_acknowledged = verify(&c, &b, &history).await;
    }
    println!("acknowledged objects verified after 20 crashes: {total_acknowledged}");
    assert!(total_acknowledged > 20, "the test must actually have written objects");
    // Orphaned chunk files of interrupted writes are swept after start-up.
    server.restart();
    let c = server.client().await;
    let mut expected_chunks = 0;
    let mut token = None;
    loop {
        let out = c.list_objects_v2().bucket(&b).set_continuation_token(token.clone()).send().await.unwrap();
        for o in out.contents() {
            let size = o.size().unwrap_or(0);
            if o.e_tag().unwrap_or_default().contains('-') {
                expected_chunks += 2;
            } else if size > 16 * 1024 {
                expected_chunks += 1;
            }
        }
        if out.is_truncated() != Some(true) {
            break;
        }
        token = out.next_continuation_token().map(str::to_owned);
    }
    // Unfinished uploads still own their parts; abort them so only objects remain.
    let uploads = c.list_multipart_uploads().bucket(&b).send().await.unwrap();
    for u in uploads.uploads() {
        c.abort_multipart_upload()
            .bucket(&b)
            .key(u.key().unwrap())
            .upload_id(u.upload_id().unwrap())
            .send()
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while common::chunk_files(server.data_dir()) != expected_chunks {
        assert!(
            std::time::Instant::now() < deadline,
            "chunk files {} != referenced {expected_chunks}",
            common::chunk_files(server.data_dir())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A clean stop closes the metadata database, so the next start does not check it page by page
/// (which takes seconds with a million objects); after a crash it is checked, and nothing
/// acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_stop_closes_the_metadata_database_and_a_crash_is_repaired() {
    const CHECKED: &str = "the metadata database was not closed cleanly";
    let mut server = Server::start();
    let c = server.client().await;
    let b = bucket("closing");
    c.create_bucket().bucket(&b).send().await.unwrap();
    c.put_object().bucket(&b).key("k").body(data(1000, 1).into()).send().await.unwrap();
    server.restart();
    server.restart();
    assert!(!server.log().contains(CHECKED), "a clean stop must leave the database clean:\n{}", server.log());
    server.kill9();
    server.start_again();
    assert_eq!(server.log().matches(CHECKED).count(), 1, "a crash is repaired at the next start");
    let c = server.client().await;
    let got = c.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(body(got).await, data(1000, 1));
}

/// An acknowledged version: its key, its id, and its content's MD5 (`None`: a delete marker).
type Versions = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

async fn versioned_writer(c: aws_sdk_s3::Client, b: String, writer: u64, seed: u64, acked: Versions) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    loop {
        let key = format!("v/{writer}/{}", rng.random_range(0..3));
        if rng.random_range(0..4) == 0 {
            let Ok(out) = c.delete_object().bucket(&b).key(&key).send().await else { return };
            assert_eq!(out.delete_marker(), Some(true), "{key}: a delete in a versioned bucket writes a marker");
            acked.lock().unwrap().push((key, out.version_id().unwrap().to_owned(), None));
        } else {
            let d = data(rng.random_range(0..40_000), rng.random());
            let md5 = md5_hex(&d);
            let Ok(out) = c.put_object().bucket(&b).key(&key).body(ByteStream::from(d)).send().await else {
                return;
            };
            acked.lock().unwrap().push((key, out.version_id().unwrap().to_owned(), Some(md5)));
        }
    }
}

/// Lists every version of `b` and checks each key's list is consistent (every id once, one
/// latest, the newest latest) and that ListObjectsV2 shows exactly the keys whose latest
/// version is an object; returns `key → [(version id, is latest)]`.
async fn consistent_version_lists(c: &aws_sdk_s3::Client, b: &str, cycle: u64) -> HashMap<String, Vec<(String, bool)>> {
    let mut listed: HashMap<String, Vec<(String, bool)>> = HashMap::new();
    // Keys whose latest version is an object (not a delete marker): what ListObjects shows.
    let mut current = std::collections::BTreeSet::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = c
            .list_object_versions()
            .bucket(b)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .unwrap();
        for v in page.versions() {
            if v.is_latest() == Some(true) {
                current.insert(v.key().unwrap().to_owned());
            }
            listed
                .entry(v.key().unwrap().to_owned())
                .or_default()
                .push((v.version_id().unwrap().to_owned(), v.is_latest().unwrap()));
        }
        for m in page.delete_markers() {
            listed
                .entry(m.key().unwrap().to_owned())
                .or_default()
                .push((m.version_id().unwrap().to_owned(), m.is_latest().unwrap()));
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
    for (key, versions) in &listed {
        let mut ids: Vec<&String> = versions.iter().map(|(id, _)| id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), versions.len(), "cycle {cycle}, {key}: a version listed twice");
        assert_eq!(versions.iter().filter(|(_, latest)| *latest).count(), 1, "cycle {cycle}, {key}: one latest");
        let newest = ids.first().map(|id| id.as_str());
        assert!(
            versions.iter().any(|(id, latest)| *latest && Some(id.as_str()) == newest),
            "{key}: the newest is latest"
        );
    }
    // The table of current versions agrees with the version lists it summarises.
    let mut objects = std::collections::BTreeSet::new();
    let mut token = None;
    loop {
        let page = c.list_objects_v2().bucket(b).set_continuation_token(token).send().await.unwrap();
        objects.extend(page.contents().iter().map(|o| o.key().unwrap().to_owned()));
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(objects, current, "cycle {cycle}: ListObjectsV2 shows exactly the keys whose latest is an object");
    listed
}

/// Goal (issue 16): in a versioned bucket, `kill -9` at any moment loses no acknowledged
/// version or delete marker, and leaves each key's version list consistent: every
/// acknowledged id listed once, one latest per key, and reads by id return what was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_versioned_writes_loses_no_acknowledged_version() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let seed: u64 = std::env::var("COFFRE_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("COFFRE_TEST_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut server = Server::start();
    let b = bucket("crash-versions");
    let c = server.client().await;
    c.create_bucket().bucket(&b).send().await.unwrap();
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    c.put_bucket_versioning().bucket(&b).versioning_configuration(enabled).send().await.unwrap();
    let acked: Versions = Arc::default();
    for cycle in 0..6u64 {
        let c = server.client().await;
        let tasks: Vec<_> = (0..4)
            .map(|w| tokio::spawn(versioned_writer(c.clone(), b.clone(), w, rng.random(), Arc::clone(&acked))))
            .collect();
        // The crash moment is the random variable under test, not a synchronisation.
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..500))).await;
        server.kill9();
        for t in tasks {
            let _ = t.await;
        }
        server.start_again();
        let c = server.client().await;
        let listed = consistent_version_lists(&c, &b, cycle).await;
        let snapshot = acked.lock().unwrap().clone();
        for (key, id, md5) in &snapshot {
            let found = listed.get(key).is_some_and(|v| v.iter().any(|(listed_id, _)| listed_id == id));
            assert!(found, "cycle {cycle}: acknowledged version {key}@{id} is not listed");
            match md5 {
                Some(md5) => {
                    let out = c.get_object().bucket(&b).key(key).version_id(id).send().await.unwrap();
                    assert_eq!(&md5_hex(&body(out).await), md5, "{key}@{id}");
                }
                None => {
                    let e = c.head_object().bucket(&b).key(key).version_id(id).send().await.unwrap_err();
                    assert_eq!(common::status(&e), 405, "{key}@{id} is a delete marker");
                }
            }
        }
    }
    assert!(acked.lock().unwrap().len() > 20, "the test must actually have written versions");
}

/// Goal (issue 16): `kill -9` in the middle of a lifecycle pass leaves every version list
/// consistent, ListObjectsV2 in step with it, and every version still listed readable, over
/// several crashes while the worker expires noncurrent versions and current ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_a_lifecycle_pass_leaves_consistent_version_lists() {
    use aws_sdk_s3::types::{
        BucketLifecycleConfiguration, BucketVersioningStatus, ExpirationStatus, LifecycleExpiration, LifecycleRule,
        LifecycleRuleFilter, NoncurrentVersionExpiration, VersioningConfiguration,
    };
    let seed: u64 = std::env::var("COFFRE_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("COFFRE_TEST_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut server = Server::start_with(&["--test-only-lifecycle-day-seconds", "1"]);
    let b = bucket("crash-lifecycle");
    let mut c = server.client().await;
    c.create_bucket().bucket(&b).send().await.unwrap();
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    c.put_bucket_versioning().bucket(&b).versioning_configuration(enabled).send().await.unwrap();
    // Many versions to expire, so that a pass lasts long enough to be crashed into.
    let mut written: HashMap<String, String> = HashMap::new();
    let puts = futures::future::join_all((0..600u64).map(|i| {
        let (c, b) = (c.clone(), b.clone());
        async move {
            let d = data(100 + i as usize, i);
            let out = c.put_object().bucket(&b).key(format!("k{}", i % 150)).body(ByteStream::from(d.clone()));
            (out.send().await.unwrap().version_id().unwrap().to_owned(), md5_hex(&d))
        }
    }))
    .await;
    written.extend(puts);
    let rule = LifecycleRule::builder()
        .id("expire")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("k").build())
        .expiration(LifecycleExpiration::builder().days(1).build())
        .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(1).build())
        .build()
        .unwrap();
    let rules = BucketLifecycleConfiguration::builder().rules(rule).build().unwrap();
    let mut remaining = written.len();
    for cycle in 0..5u64 {
        c.put_bucket_lifecycle_configuration().bucket(&b).lifecycle_configuration(rules.clone()).send().await.unwrap();
        // The crash moment is the random variable under test, not a synchronisation.
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..1500))).await;
        server.kill9();
        server.start_again();
        // The rules off and the worker stopped mid-pass once more, so the lists below are
        // read while nothing changes them.
        server.client().await.delete_bucket_lifecycle().bucket(&b).send().await.unwrap();
        server.kill9();
        server.start_again();
        c = server.client().await;
        let listed = consistent_version_lists(&c, &b, cycle).await;
        remaining = listed.values().flatten().filter(|(id, _)| written.contains_key(id)).count();
        for (key, versions) in &listed {
            for (id, _) in versions {
                let Some(md5) = written.get(id) else { continue }; // a marker lifecycle wrote
                let out = c.get_object().bucket(&b).key(key).version_id(id).send().await.unwrap();
                assert_eq!(&md5_hex(&body(out).await), md5, "cycle {cycle}: {key}@{id} reads back");
            }
        }
    }
    assert!(remaining < written.len(), "the worker must actually have expired versions between the crashes");
}

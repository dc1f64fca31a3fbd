//! Server lifecycle and resource bounds: clean shutdown with an upload in flight, bounded
//! memory for large transfers, oversized request heads, restart with data intact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::{Server, body, bucket, md5_hex};

/// Goal: SIGTERM stops accepting connections but lets an in-flight upload finish; the server
/// then exits 0 and the object is there after a restart.
#[tokio::test]
async fn sigterm_drains_in_flight_requests() {
    use aws_sdk_s3::presigning::PresigningConfig;
    let mut server = Server::start();
    let c = server.client().await;
    let b = bucket("term");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let url = c
        .put_object()
        .bucket(&b)
        .key("inflight")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap()
        .uri()
        .to_owned();
    let half = vec![7u8; 1024 * 1024];
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let upload = tokio::spawn(async move {
        reqwest::Client::new()
            .put(url)
            .header("content-length", (2 * 1024 * 1024).to_string())
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
    });
    tx.send(Ok(half.clone())).await.unwrap();
    // The upload is in flight once its first bytes are staged in tmp/.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(server.data_dir().join("tmp")).unwrap().count() == 0 {
        assert!(Instant::now() < deadline, "the upload never reached the server");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.send_sigterm();
    // The listener closes first: wait (bounded) until new connections are refused.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&server.s3_addr).is_ok() {
        assert!(Instant::now() < deadline, "the S3 listener kept accepting after SIGTERM");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tx.send(Ok(half.clone())).await.unwrap();
    drop(tx);
    let response = upload.await.unwrap().unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let status = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    server.start_again();
    let c = server.client().await;
    let got = body(c.get_object().bucket(&b).key("inflight").send().await.unwrap()).await;
    assert_eq!(got.len(), 2 * 1024 * 1024);
    assert!(got.iter().all(|x| *x == 7));
}

/// Goal: a 1 GiB upload and download stream through the server with bounded memory: its peak
/// RSS stays far below the object size.
#[tokio::test]
async fn large_transfers_use_bounded_memory() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("mem");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let size = 1024 * 1024 * 1024;
    let pattern: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let object: Vec<u8> = pattern.iter().copied().cycle().take(size).collect();
    let md5 = md5_hex(&object);
    let put = c.put_object().bucket(&b).key("big").body(ByteStream::from(object)).send().await.unwrap();
    assert_eq!(put.e_tag(), Some(format!("\"{md5}\"").as_str()));
    let mut out = c.get_object().bucket(&b).key("big").send().await.unwrap().body;
    let mut received = 0usize;
    while let Some(piece) = out.try_next().await.unwrap() {
        received += piece.len();
    }
    assert_eq!(received, size);
    // A 1-byte ranged read of the 1 GiB object opens exactly one sealed segment.
    let opened = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("coffre_store_segments_opened_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let before = opened(&server.admin_get("/metrics").await.1);
    let one = c.get_object().bucket(&b).key("big").range("bytes=500000000-500000000").send().await.unwrap();
    assert_eq!(body(one).await.len(), 1);
    let after = opened(&server.admin_get("/metrics").await.1);
    assert_eq!(after - before, 1, "segments opened by a 1-byte ranged GET of 1 GiB");
    let peak_mib = server.peak_rss_kib() / 1024;
    println!("server peak RSS after 1 GiB up and down: {peak_mib} MiB");
    assert!(peak_mib < 128, "server peak RSS {peak_mib} MiB for a 1 GiB transfer");
}

/// Goal: an oversized request head is refused without harm, and the server keeps serving.
#[tokio::test]
async fn oversized_headers_are_refused() {
    let server = Server::start();
    let r = reqwest::Client::new()
        .get(format!("{}/some-bucket", server.endpoint()))
        .header("x-amz-meta-huge", "a".repeat(100 * 1024))
        .send()
        .await;
    match r {
        Ok(r) => assert_eq!(r.status(), 431),
        Err(e) => panic!("expected a 431 answer, got {e}"),
    }
    let c = server.client().await;
    c.list_buckets().send().await.unwrap();
}

/// Goal: data and metadata survive a clean restart; generated root credentials are kept in a
/// 0600 file and reused.
#[tokio::test]
async fn restart_keeps_everything() {
    let mut server = Server::start();
    let c = server.client().await;
    let b = bucket("restart");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let d = common::data(200_000, 1);
    c.put_object().bucket(&b).key("k").body(ByteStream::from(d.clone())).send().await.unwrap();
    c.put_object().bucket(&b).key("small").body(ByteStream::from_static(b"inline")).send().await.unwrap();
    server.restart();
    let c = server.client().await;
    assert_eq!(body(c.get_object().bucket(&b).key("k").send().await.unwrap()).await, d);
    assert_eq!(body(c.get_object().bucket(&b).key("small").send().await.unwrap()).await, b"inline");
}

/// Goal: without COFFRE_ROOT_* the server generates root credentials once, prints them once,
/// keeps them in a 0600 file, and uses the same ones after a restart.
#[test]
fn generated_root_credentials_are_kept_private() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_coffre"))
            .args(["server", "--s3-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env_remove("COFFRE_ROOT_ACCESS_KEY")
            .env_remove("COFFRE_ROOT_SECRET_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = Vec::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok) {
            let done = line.starts_with("Coffre serving");
            lines.push(line);
            if done {
                break;
            }
        }
        Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
        assert!(child.wait().unwrap().success());
        lines.join("\n")
    };
    let first = start();
    assert!(first.contains("AWS_SECRET_ACCESS_KEY="), "{first}");
    let file = dir.path().join("root-credentials.toml");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let secret_line = first.lines().find(|l| l.contains("AWS_SECRET_ACCESS_KEY=")).unwrap();
    let secret = secret_line.split('=').nth(1).unwrap();
    assert!(std::fs::read_to_string(&file).unwrap().contains(secret));
    let second = start();
    assert!(!second.contains("AWS_SECRET_ACCESS_KEY="), "the secret is printed only once");
}

/// Goal: a master key protected by a passphrase (COFFRE_MASTER_KEY_PASSPHRASE) cannot be used
/// without it: the server refuses to start, with a clear message, and starts with it.
#[test]
fn master_key_passphrase_is_required_once_set() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let start = |passphrase: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffre"));
        cmd.args(["server", "--s3-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("COFFRE_ROOT_ACCESS_KEY", common::ACCESS_KEY)
            .env("COFFRE_ROOT_SECRET_KEY", common::SECRET_KEY)
            .env_remove("COFFRE_MASTER_KEY_PASSPHRASE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(p) = passphrase {
            cmd.env("COFFRE_MASTER_KEY_PASSPHRASE", p);
        }
        let mut child = cmd.spawn().unwrap();
        let ready = BufReader::new(child.stdout.take().unwrap())
            .lines()
            .map_while(Result::ok)
            .any(|l| l.starts_with("Coffre serving"));
        if ready {
            Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
        }
        let out = child.wait_with_output().unwrap();
        (ready, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert!(start(Some("correct horse battery")).0);
    let (ready, stderr) = start(None);
    assert!(!ready, "the server must not start without the passphrase");
    assert!(stderr.contains("COFFRE_MASTER_KEY_PASSPHRASE"), "{stderr}");
    let (ready, stderr) = start(Some("wrong"));
    assert!(!ready);
    assert!(stderr.contains("wrong passphrase"), "{stderr}");
    assert!(start(Some("correct horse battery")).0);
}

/// Goal: background work is stopped, not aborted: server access log records held for the
/// next delivery (here an hour away) are written to their target when the server stops.
#[tokio::test]
async fn a_clean_stop_delivers_the_access_logs_it_held() {
    use aws_sdk_s3::types::{BucketLoggingStatus, LoggingEnabled};
    let mut server = Server::start_with(&["--access-log-flush-seconds", "3600"]);
    let c = server.client().await;
    let (logged, target) = (bucket("logged"), bucket("logs"));
    c.create_bucket().bucket(&logged).send().await.unwrap();
    c.create_bucket().bucket(&target).send().await.unwrap();
    let logging = BucketLoggingStatus::builder()
        .logging_enabled(LoggingEnabled::builder().target_bucket(&target).target_prefix("access/").build().unwrap())
        .build();
    c.put_bucket_logging().bucket(&logged).bucket_logging_status(logging).send().await.unwrap();
    c.put_object().bucket(&logged).key("report.pdf").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let listed = c.list_objects_v2().bucket(&target).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "nothing delivered before the hour is up");
    server.restart();
    let c = server.client().await;
    let listed = c.list_objects_v2().bucket(&target).prefix("access/").send().await.unwrap();
    let key = listed.contents().first().and_then(|o| o.key()).expect("a log object written at the stop").to_owned();
    let log = String::from_utf8(body(c.get_object().bucket(&target).key(key).send().await.unwrap()).await).unwrap();
    assert!(log.contains("REST.PUT.OBJECT report.pdf"), "{log}");
}

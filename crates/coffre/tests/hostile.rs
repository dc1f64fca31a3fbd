//! Issue 14: a server under hostile connection patterns stays reachable. Idle connections
//! beyond what the process can hold wait in the kernel's backlog instead of exhausting file
//! descriptors, are closed once their first-byte timeout passes, and neither `/health` on the
//! admin listener nor real S3 clients are locked out meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Server;

const FIRST_BYTE_TIMEOUT_S: u64 = 2;

/// Opens `n` connections that never send a byte.
fn idle_connections(addr: &str, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| TcpStream::connect(addr).expect("connect (the kernel's backlog accepts)")).collect()
}

/// Waits until the server has closed every one of `conns` (EOF or reset); fails after `limit`.
fn all_closed_within(conns: Vec<TcpStream>, limit: Duration) {
    let deadline = Instant::now() + limit;
    for mut c in conns {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        c.set_read_timeout(Some(left)).unwrap();
        let mut buf = [0u8; 64];
        match c.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("an idle connection got {n} bytes: {:?}", String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("an idle connection was still open after {limit:?}: {e}"),
        }
    }
}

async fn health(server: &Server) -> u16 {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    match http.get(format!("http://{}/health", server.admin_addr)).send().await {
        Ok(r) => r.status().as_u16(),
        Err(e) => panic!("/health unreachable: {e}"),
    }
}

/// Goal: more idle connections than the process has descriptors neither take S3 or `/health`
/// down nor flood the log; with the default connection cap the accept loop never even meets
/// EMFILE.
#[tokio::test]
async fn issue14_idle_connections_do_not_exhaust_descriptors() {
    let timeout = FIRST_BYTE_TIMEOUT_S.to_string();
    let mut server = Server::start_with_fd_limit(&["--first-byte-timeout-seconds", &timeout], 256);
    server.allowed_log.push("connection limit reached".into());
    let c = server.client().await;
    let b = common::bucket("fds");
    c.create_bucket().bucket(&b).send().await.unwrap();

    let idle = idle_connections(&server.s3_addr, 400);
    assert_eq!(health(&server).await, 200, "the admin listener keeps its own connection slots");
    // Served once the idle connections ahead of it have timed out.
    c.put_object().bucket(&b).key("k").body(b"still here".to_vec().into()).send().await.unwrap();
    let got = c.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(common::body(got).await, b"still here");
    all_closed_within(idle, Duration::from_secs(60));

    let log = server.log();
    assert!(!log.contains("os error 24"), "the cap keeps the process off its descriptor limit:\n{log}");
    assert!(log.contains("connection limit reached"), "the limit was reached, and said so:\n{log}");
    c.delete_object().bucket(&b).key("k").send().await.unwrap();
    c.delete_bucket().bucket(&b).send().await.unwrap();
}

/// Goal: when the operator sets a cap above what the descriptor limit allows, the accept
/// loop meets EMFILE: it backs off and logs once per interval instead of spinning (it used to
/// log half a million lines a second), and recovers once connections close.
#[tokio::test]
async fn issue14_out_of_descriptors_the_accept_loop_backs_off() {
    let timeout = FIRST_BYTE_TIMEOUT_S.to_string();
    let mut server =
        Server::start_with_fd_limit(&["--first-byte-timeout-seconds", &timeout, "--max-connections", "5000"], 128);
    server.allowed_log.push("accept failed".into());
    server.allowed_log.push("connection limit reached".into());
    let idle = idle_connections(&server.s3_addr, 300);
    all_closed_within(idle, Duration::from_secs(60));
    let c = server.client().await;
    c.list_buckets().send().await.unwrap();
    let log = server.log();
    let lines = log.lines().filter(|l| l.contains("accept failed")).count();
    assert!((1..=10).contains(&lines), "{lines} accept-failure lines (one per 10 s expected):\n{log}");
}

//! Black-box test harness: starts the real `coffre` binary on loopback with a temporary data
//! directory (ports chosen by the kernel and read back from the server's start-up line) and
//! builds aws-sdk-s3 clients at their default settings against it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Root (operator) credentials: they administer the server but read no tenant data.
pub const ACCESS_KEY: &str = "COFFRETESTKEY";
pub const SECRET_KEY: &str = "coffre-test-secret-key";
/// The tenant every test server gets at its first start, whose admin the S3 clients use.
pub const TENANT: &str = "tests";
pub const REGION: &str = "eu-west-3";

thread_local! {
    /// The size of the ext4 the next server of this thread gets as its data directory.
    static SMALL_EXT4: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// A running `coffre server`.
pub struct Server {
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    data_dir: PathBuf,
    pub s3_addr: String,
    pub admin_addr: String,
    pub https: bool,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    log_path: PathBuf,
    /// Log lines at WARN or ERROR that a test expects (e.g. after a crash).
    pub allowed_log: Vec<String>,
    /// Access key and secret of the admin of tenant [`TENANT`].
    pub tenant_keys: (String, String),
    /// If set, the server runs in its own mount namespace with its audit directory on a tmpfs
    /// of this many bytes (reachable at [`Server::audit_dir`]), so a test can fill it up.
    audit_tmpfs_bytes: Option<u64>,
    /// If set, the server runs with this open-file limit (soft and hard), via `prlimit`.
    fd_limit: Option<u64>,
    /// A loop-mounted filesystem under the data directory, unmounted on drop.
    pub mount: Option<PathBuf>,
}

impl Server {
    /// Starts a server over plain HTTP with a fresh data directory.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a server with extra flags.
    pub fn start_with(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    /// Starts a server with extra flags and environment variables.
    pub fn start_with_env(args: &[&str], envs: &[(&str, &str)]) -> Server {
        Server::start_full(args, envs, None)
    }

    /// Starts a server whose audit directory is a small tmpfs of its own (see
    /// `audit_tmpfs_bytes`).
    pub fn start_with_small_audit_disk(args: &[&str], bytes: u64) -> Server {
        Server::start_full(args, &[], Some(bytes))
    }

    /// Whether this machine can loop-mount a filesystem (root, loop devices, mkfs.ext4).
    pub fn can_loop_mount() -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let image = dir.path().join("probe.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir_all(&mnt).map_err(|e| e.to_string())?;
        let ok = |cmd: &mut Command| {
            cmd.output().map_err(|e| e.to_string()).and_then(|o| {
                if o.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&o.stderr).into_owned()) }
            })
        };
        ok(Command::new("truncate").args(["-s", "8M"]).arg(&image))?;
        ok(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image))?;
        ok(Command::new("mount").args(["-o", "loop"]).arg(&image).arg(&mnt))?;
        ok(Command::new("umount").arg(&mnt))
    }

    /// Starts a server whose data directory is a fresh ext4 of `bytes`, loop-mounted.
    pub fn start_on_small_ext4(args: &[&str], bytes: u64) -> Server {
        SMALL_EXT4.with(|c| c.set(Some(bytes)));
        Server::start_full(args, &[], None)
    }

    /// Starts a server whose open-file limit is `fds` (soft and hard).
    pub fn start_with_fd_limit(args: &[&str], fds: u64) -> Server {
        Server::start_full_limited(args, &[], None, Some(fds))
    }

    fn start_full(args: &[&str], envs: &[(&str, &str)], audit_tmpfs_bytes: Option<u64>) -> Server {
        Server::start_full_limited(args, envs, audit_tmpfs_bytes, None)
    }

    fn start_full_limited(
        args: &[&str],
        envs: &[(&str, &str)],
        audit_tmpfs_bytes: Option<u64>,
        fd_limit: Option<u64>,
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let mut server = Server {
            child: None,
            data_dir,
            log_path: dir.path().join("server.log"),
            dir: Some(dir),
            s3_addr: String::new(),
            admin_addr: String::new(),
            https: args.contains(&"--tls-self-signed"),
            args: args.iter().map(|s| s.to_string()).collect(),
            envs: envs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            allowed_log: Vec::new(),
            tenant_keys: (String::new(), String::new()),
            audit_tmpfs_bytes,
            fd_limit,
            mount: None,
        };
        if let Some(ext4) = SMALL_EXT4.with(|c| c.take()) {
            // The data directory is the root of a small ext4 of its own.
            let image = server.dir.as_ref().unwrap().path().join("disk.img");
            std::fs::create_dir_all(&server.data_dir).unwrap();
            let run = |cmd: &mut Command| {
                let out = cmd.output().unwrap();
                assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
            };
            run(Command::new("truncate").arg("-s").arg(ext4.to_string()).arg(&image));
            run(Command::new("mkfs.ext4").args(["-q", "-F", "-m", "0"]).arg(&image));
            run(Command::new("mount").args(["-o", "loop"]).arg(&image).arg(&server.data_dir));
            server.mount = Some(server.data_dir.clone());
        }
        server.spawn();
        let created = server.admin_cli(&["tenant", "create", TENANT, "--admin-user", "admin"]);
        server.tenant_keys = (
            created["access_key_id"].as_str().unwrap().to_owned(),
            created["secret_access_key"].as_str().unwrap().to_owned(),
        );
        server
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The audit directory as the server sees it (inside its mount namespace, if it has one).
    pub fn audit_dir(&self) -> PathBuf {
        match self.audit_tmpfs_bytes {
            None => self.data_dir.join("audit"),
            Some(_) => PathBuf::from(format!("/proc/{}/root", self.pid()))
                .join(self.data_dir.strip_prefix("/").unwrap())
                .join("audit"),
        }
    }

    /// The audit records once `done` holds for them (polled, with a deadline).
    pub fn audit_records_until(&self, done: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let records = self.audit_records();
            if done(&records) || Instant::now() > deadline {
                return records;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every audit record written so far, as JSON values (with `seq`), in order.
    pub fn audit_records(&self) -> Vec<serde_json::Value> {
        let dir = self.audit_dir().join("segments");
        let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        segments.sort();
        let mut out = Vec::new();
        for s in segments {
            let text = std::fs::read_to_string(&s).unwrap();
            // A segment being written is zero-filled past its last record.
            for line in text.split('\0').next().unwrap_or_default().lines() {
                let fields: Vec<&str> = line.splitn(4, '\t').collect();
                let mut record: serde_json::Value = serde_json::from_str(fields[3]).unwrap();
                record["seq"] = serde_json::json!(fields[0].parse::<u64>().unwrap());
                out.push(record);
            }
        }
        out
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log_path).unwrap();
        let mut command = match self.audit_tmpfs_bytes {
            None if self.fd_limit.is_some() => {
                // prlimit execs coffre: the child's pid is the server's.
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={0}:{0}", self.fd_limit.unwrap_or_default()))
                    .arg("--")
                    .arg(env!("CARGO_BIN_EXE_coffre"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_coffre")),
            Some(bytes) => {
                // unshare execs the shell, which execs coffre: the child's pid is the server's.
                let mut c = Command::new("unshare");
                c.args(["-m", "sh", "-c"])
                    .arg(format!(
                        "mkdir -p \"$1/audit\" && mount -t tmpfs -o size={bytes} tmpfs \"$1/audit\" && shift && exec \"$@\""
                    ))
                    .arg("sh")
                    .arg(&self.data_dir)
                    .arg(env!("CARGO_BIN_EXE_coffre"));
                c
            }
        };
        let mut child = command
            .arg("server")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--s3-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .args(&self.args)
            .env("COFFRE_ROOT_ACCESS_KEY", ACCESS_KEY)
            .env("COFFRE_ROOT_SECRET_KEY", SECRET_KEY)
            .env("COFFRE_LOG", "info,s3s=off")
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start coffre");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "server did not report its addresses; log:\n{}",
                    std::fs::read_to_string(&self.log_path).unwrap_or_default()
                )
            });
            // "Coffre serving S3 on http://127.0.0.1:PORT and admin on http://127.0.0.1:PORT (data: ...)"
            if let Some(rest) = line.strip_prefix("Coffre serving S3 on ") {
                let mut words = rest.split_whitespace();
                let s3 = words.next().unwrap();
                let admin = words.nth(3).unwrap();
                self.s3_addr = s3.split("://").nth(1).unwrap().to_owned();
                self.admin_addr = admin.split("://").nth(1).unwrap().to_owned();
                break;
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        self.child = Some(child);
        self.wait_healthy();
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(mut s) = std::net::TcpStream::connect(&self.admin_addr) {
                use std::io::{Read, Write};
                let _ = s.write_all(b"GET /health HTTP/1.0\r\n\r\n");
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                if out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("server never became healthy");
    }

    pub fn endpoint(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.s3_addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGKILL: the crash every acknowledged write must survive.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        Command::new("kill").arg("-TERM").arg(c.id().to_string()).status().unwrap();
        Some(c.wait().unwrap())
    }

    /// Sends SIGTERM without waiting.
    pub fn send_sigterm(&self) {
        let pid = self.pid();
        Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
    }

    /// Waits for the server to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.child.take().unwrap().wait().unwrap()
    }

    /// Peak resident memory of the server so far, in KiB (VmHWM).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Starts the server again on the same data directory.
    pub fn restart(&mut self) {
        self.terminate();
        self.spawn();
    }

    /// Starts the server again after a crash.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none());
        self.spawn();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// A client with the keys of tenant [`TENANT`]'s admin.
    pub async fn client(&self) -> aws_sdk_s3::Client {
        client_for(&self.endpoint(), &self.tenant_keys.0, &self.tenant_keys.1).await
    }

    /// Creates tenant `tenant` with admin `user` and returns a client with its keys, and the
    /// CLI's answer (keys included).
    pub async fn new_tenant_client(&self, tenant: &str, user: &str) -> (aws_sdk_s3::Client, serde_json::Value) {
        let created = self.admin_cli(&["tenant", "create", tenant, "--admin-user", user]);
        let client = client_for(
            &self.endpoint(),
            created["access_key_id"].as_str().unwrap(),
            created["secret_access_key"].as_str().unwrap(),
        )
        .await;
        (client, created)
    }

    /// Runs `coffre admin --json ARGS` against this server as the root operator (unless `envs`
    /// name other credentials) and returns its JSON output; panics if it fails.
    pub fn admin_cli_as(&self, args: &[&str], envs: &[(&str, &str)]) -> serde_json::Value {
        let out = self.admin_cli_output(args, envs);
        assert!(
            out.status.success(),
            "coffre admin {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// `coffre admin --json ARGS` as root; see [`Server::admin_cli_as`].
    pub fn admin_cli(&self, args: &[&str]) -> serde_json::Value {
        self.admin_cli_as(args, &[])
    }

    /// The raw output of `coffre admin --json ARGS`, failed or not.
    pub fn admin_cli_output(&self, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_coffre"))
            .arg("admin")
            .args(["--json", "--admin-url", &format!("http://{}", self.admin_addr)])
            .args(args)
            .env_remove("COFFRE_ADMIN_TOKEN")
            .env_remove("COFFRE_ADMIN_ACCESS_KEY")
            .env_remove("COFFRE_ADMIN_SECRET_KEY")
            .env("COFFRE_ROOT_ACCESS_KEY", ACCESS_KEY)
            .env("COFFRE_ROOT_SECRET_KEY", SECRET_KEY)
            .envs(envs.iter().copied())
            .output()
            .expect("run coffre admin")
    }

    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(format!("http://{}{}", self.admin_addr, path)).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let status = self.terminate();
        // The log is outside the mount; the data directory goes with the temporary directory.
        if let Some(mount) = self.mount.take() {
            let _ = Command::new("umount").arg("-l").arg(&mount).status();
        }
        if std::thread::panicking() {
            eprintln!("server log:\n{}", self.log());
            return;
        }
        if let Some(status) = status {
            assert!(status.success(), "server exited with {status}; log:\n{}", self.log());
        }
        let log = self.log();
        for line in log.lines() {
            // A panic that a client's retry hid is still a failed request.
            let bad = line.contains(" ERROR ") || line.contains(" WARN ") || line.contains("panicked at");
            if bad && !self.allowed_log.iter().any(|a| line.contains(a.as_str())) {
                panic!("unexpected log line: {line}\nfull log:\n{log}");
            }
        }
        let _ = self.dir.take();
    }
}

/// An aws-sdk-s3 client at default settings (checksums, retries, addressing) for an endpoint.
pub async fn client_for(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    let creds = aws_sdk_s3::config::Credentials::new(access_key, secret_key, None, None, "test");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .load()
        .await;
    aws_sdk_s3::Client::new(&config)
}

/// A unique bucket name per test.
pub fn bucket(name: &str) -> String {
    format!("{name}-{:08x}", rand::random::<u32>())
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn md5_hex(d: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(d))
}

/// The S3 error code of an SDK error.
pub fn code<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match err {
        aws_sdk_s3::error::SdkError::ServiceError(e) => e.err().code().unwrap_or("<none>").to_owned(),
        other => format!("<not a service error: {other:?}>"),
    }
}

/// The HTTP status of an SDK error.
pub fn status<E, R: std::fmt::Debug>(
    err: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response<R>>,
) -> u16 {
    match err {
        aws_sdk_s3::error::SdkError::ServiceError(e) => e.raw().status().as_u16(),
        _ => 0,
    }
}

/// Collects a GetObject body.
pub async fn body(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

/// Number of chunk files under the data directory.
pub fn chunk_files(data_dir: &Path) -> usize {
    fn walk(p: &Path) -> usize {
        let Ok(rd) = std::fs::read_dir(p) else {
            return 0;
        };
        rd.filter_map(Result::ok).map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum()
    }
    walk(&data_dir.join("chunks"))
}

/// Sets a bucket's default encryption to SSE-KMS with `key` (PutBucketEncryption).
pub async fn use_key_by_default(c: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    use aws_sdk_s3::types::{
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule,
    };
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::AwsKms)
        .kms_master_key_id(key)
        .build()
        .unwrap();
    let config = ServerSideEncryptionConfiguration::builder()
        .rules(ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build())
        .build()
        .unwrap();
    c.put_bucket_encryption().bucket(bucket).server_side_encryption_configuration(config).send().await.unwrap();
}

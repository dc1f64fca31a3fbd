//! `coffre bench` against the real server: every workload runs with the tenant's keys and
//! reports operations without errors, `--limits` reports the ceilings and ratios, and a
//! failing endpoint makes it exit non-zero with the first error shown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::Server;
use serde_json::Value;

fn bench(server: &Server, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_coffre"))
        .arg("bench")
        .args(["--endpoint", &server.endpoint(), "--json", "--region", common::REGION])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", &server.tenant_keys.0)
        .env("AWS_SECRET_ACCESS_KEY", &server.tenant_keys.1)
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap()
}

#[test]
fn every_workload_runs_against_coffre_and_reports() {
    let server = Server::start();
    for (workload, extra) in [
        ("put", vec!["--ops", "50"]),
        ("get", vec!["--ops", "50", "--keys", "20"]),
        ("mixed", vec!["--ops", "100", "--keys", "20"]),
        ("list", vec!["--ops", "2", "--keys", "150", "--size", "0"]),
        ("multipart", vec!["--ops", "2", "--size", "6MiB"]),
        ("delete", vec!["--keys", "30"]),
    ] {
        let mut args = vec!["--workload", workload, "--concurrency", "4"];
        args.extend(extra);
        let out = bench(&server, &args);
        assert!(out.status.success(), "{workload}: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let report = &v["report"];
        assert_eq!(report["errors"], 0, "{workload}: {report}");
        assert!(report["operations"].as_u64().unwrap() >= 2, "{workload}: {report}");
        assert!(report["latency_ms_p99"].as_f64().unwrap() >= report["latency_ms_p50"].as_f64().unwrap());
        if workload == "list" {
            // Full listings (150 keys) and delimiter listings (one common prefix).
            assert!(report["keys_per_second"].as_f64().unwrap() > 0.0);
        }
    }
    // One folder of a populated bucket: its 10 keys (bench/000000000010..19) and nothing else.
    let folder = ["--workload", "list", "--concurrency", "1", "--size", "0", "--bucket", "folders"];
    let out = bench(&server, &[&folder[..], &["--keys", "150", "--ops", "1"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = bench(
        &server,
        &[&folder[..], &["--keys", "150", "--populated", "--list-prefix", "bench/00000000001", "--ops", "5"]].concat(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = &serde_json::from_slice::<Value>(&out.stdout).unwrap()["report"];
    assert_eq!(report["keys_listed"], 50, "5 listings of 10 keys: {report}");
    let data = server.data_dir().to_str().unwrap().to_owned();
    let out = bench(&server, &["--workload", "put", "--ops", "20", "--limits", "--data-dir", &data]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for ceiling in ["seq_write_fsync_mib_s", "write_4k_fsync_ms", "aes_gcm_mib_s", "md5_mib_s", "sha256_mib_s"] {
        assert!(v["limits"][ceiling].as_f64().unwrap() > 0.0, "{ceiling}: {v}");
    }
    assert!(!v["ratios"].as_array().unwrap().is_empty());
}

#[test]
fn errors_are_counted_and_the_first_is_shown() {
    let server = Server::start();
    // Keys this tenant does not have: every request fails the same way.
    let out = Command::new(env!("CARGO_BIN_EXE_coffre"))
        .args([
            "bench",
            "--endpoint",
            &server.endpoint(),
            "--region",
            common::REGION,
            "--ops",
            "5",
            "--concurrency",
            "1",
        ])
        .env("AWS_ACCESS_KEY_ID", "NOSUCHKEY")
        .env("AWS_SECRET_ACCESS_KEY", "nosuchsecret")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("InvalidAccessKeyId"), "{said}");
    // Reads of keys never written: each operation fails, all are counted, the first is shown.
    let out = bench(&server, &["--workload", "get", "--keys", "0", "--ops", "5", "--concurrency", "1"]);
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["report"]["errors"], 5, "{report}");
    assert!(report["report"]["first_error"].as_str().unwrap().starts_with("NoSuchKey"), "{report}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("5 operations failed"));
}

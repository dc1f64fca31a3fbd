//! Key lifecycle through `coffre keys` against a running server: create, bucket default
//! encryption with the key, disable (fails closed, also after a restart), enable, rotate, and
//! destroy (crypto-shredding with a signed attestation; unreadable forever).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output, Stdio};

use aws_sdk_s3::primitives::ByteStream;
use common::{Server, body, bucket, code, status};

fn keys(server: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coffre"))
        .arg("keys")
        .args(args)
        .args(["--admin-url", &format!("http://{}", server.admin_addr)])
        .env("COFFRE_ROOT_ACCESS_KEY", common::ACCESS_KEY)
        .env("COFFRE_ROOT_SECRET_KEY", common::SECRET_KEY)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "coffre keys failed: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    text
}

/// Goal: the whole key lifecycle, seen by S3 clients.
#[tokio::test]
async fn key_lifecycle_fails_closed_and_shreds() {
    let mut server = Server::start();
    ok(keys(&server, &["create", "tenant-a"]));
    let c = server.client().await;
    let b = bucket("keys");
    c.create_bucket().bucket(&b).send().await.unwrap();
    common::use_key_by_default(&c, &b, "tenant-a").await;
    let other = bucket("other");
    c.create_bucket().bucket(&other).send().await.unwrap();
    for i in 0..3 {
        c.put_object()
            .bucket(&b)
            .key(format!("k{i}"))
            .body(ByteStream::from(common::data(100_000, i)))
            .send()
            .await
            .unwrap();
    }
    c.put_object().bucket(&b).key("small").body(ByteStream::from_static(b"inline")).send().await.unwrap();
    c.put_object().bucket(&other).key("k").body(ByteStream::from_static(b"other key")).send().await.unwrap();
    let list = ok(keys(&server, &["list"]));
    assert!(
        list.lines().any(|l| l.starts_with("tenant-a") && l.contains("Enabled") && l.trim_end().ends_with('1')),
        "{list}"
    );

    // Disable: reads and writes fail closed with a clear error, even after a restart.
    ok(keys(&server, &["disable", "tenant-a"]));
    let e = c.get_object().bucket(&b).key("k0").send().await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("KMS.DisabledException", 400));
    let e = c.get_object().bucket(&b).key("small").send().await.unwrap_err();
    assert_eq!(code(&e), "KMS.DisabledException");
    let e = c.put_object().bucket(&b).key("new").body(ByteStream::from_static(b"n")).send().await.unwrap_err();
    assert_eq!(code(&e), "KMS.DisabledException");
    assert_eq!(body(c.get_object().bucket(&other).key("k").send().await.unwrap()).await, b"other key");
    server.restart();
    let c = server.client().await;
    let e = c.get_object().bucket(&b).key("k0").send().await.unwrap_err();
    assert_eq!(code(&e), "KMS.DisabledException", "disabled survives a restart");
    ok(keys(&server, &["enable", "tenant-a"]));
    assert_eq!(body(c.get_object().bucket(&b).key("k0").send().await.unwrap()).await, common::data(100_000, 0));

    // Rotate: a new version for new writes; the data keys of existing objects are re-wrapped in
    // the background (the CLI follows it), without rewriting data; objects stay readable.
    let rotated = keys(&server, &["rotate", "tenant-a"]);
    let stderr = String::from_utf8_lossy(&rotated.stderr).into_owned();
    ok(rotated);
    assert!(stderr.contains("re-wrapped the data keys of 4 objects"), "{stderr}");
    let shown = ok(keys(&server, &["show", "tenant-a", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v["versions"], 2);
    c.put_object().bucket(&b).key("after-rotate").body(ByteStream::from_static(b"v2")).send().await.unwrap();
    assert_eq!(body(c.get_object().bucket(&b).key("k1").send().await.unwrap()).await, common::data(100_000, 1));
    assert_eq!(body(c.get_object().bucket(&b).key("after-rotate").send().await.unwrap()).await, b"v2");

    // Destroy needs confirmation.
    let refused = keys(&server, &["destroy", "tenant-a"]);
    assert!(!refused.status.success());
    let attestation = ok(keys(&server, &["destroy", "tenant-a", "--yes"]));
    let a: serde_json::Value = serde_json::from_str(&attestation).unwrap();
    assert_eq!(a["objects_affected"], 5, "{a}");
    let signed = serde_json::json!({
        "key_id": a["key_id"], "destroyed_unix_s": a["destroyed_unix_s"],
        "objects_affected": a["objects_affected"], "statement": a["statement"],
    });
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let public_key = b64.decode(a["public_key"].as_str().unwrap()).unwrap();
    let signature = b64.decode(a["signature"].as_str().unwrap()).unwrap();
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, &public_key)
        .verify(signed.to_string().as_bytes(), &signature)
        .expect("the deletion attestation is signed by the node key");
    let files = std::fs::read_dir(server.data_dir().join("keys/attestations")).unwrap().count();
    assert_eq!(files, 1, "the attestation is kept on the node");
    let e = c.get_object().bucket(&b).key("k2").send().await.unwrap_err();
    assert_eq!(code(&e), "KMS.KMSInvalidStateException");
    // The space of what can never be read again is reclaimed (after the readers' grace period).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while common::chunk_files(server.data_dir()) != 0 {
        assert!(std::time::Instant::now() < deadline, "chunk files of shredded objects were not reclaimed");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    server.restart();
    let c = server.client().await;
    let e = c.get_object().bucket(&b).key("after-rotate").send().await.unwrap_err();
    assert_eq!(code(&e), "KMS.KMSInvalidStateException", "destroyed is forever");
    assert!(!keys(&server, &["enable", "tenant-a"]).status.success());
    assert_eq!(body(c.get_object().bucket(&other).key("k").send().await.unwrap()).await, b"other key");
}

/// Goal: the key API needs an operator's bearer token; credentials buy one only when right.
#[tokio::test]
async fn key_api_requires_an_operator_token() {
    let server = Server::start();
    let admin = format!("http://{}", server.admin_addr);
    let http = reqwest::Client::new();
    let r = http.get(format!("{admin}/admin/v1/keys")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{admin}/admin/v1/keys"))
        .basic_auth(common::ACCESS_KEY, Some(common::SECRET_KEY))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "HTTP Basic is only for buying a token");
    let r = http
        .post(format!("{admin}/admin/v1/tokens"))
        .basic_auth(common::ACCESS_KEY, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let token = |keys: (&str, &str)| {
        let http = http.clone();
        let url = format!("{admin}/admin/v1/tokens");
        let (a, s) = (keys.0.to_owned(), keys.1.to_owned());
        async move {
            let r = http.post(url).basic_auth(a, Some(s)).send().await.unwrap();
            (r.status().as_u16(), serde_json::from_str::<serde_json::Value>(&r.text().await.unwrap()).unwrap())
        }
    };
    let (status, root) = token((common::ACCESS_KEY, common::SECRET_KEY)).await;
    assert_eq!(status, 201);
    let bearer = format!("Bearer {}", root["token"].as_str().unwrap());
    let r = http.get(format!("{admin}/admin/v1/keys")).header("authorization", &bearer).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // A tenant admin may not hold the kms scope at all.
    let (status, _) = token((&server.tenant_keys.0, &server.tenant_keys.1)).await;
    assert_eq!(status, 201, "a tenant admin gets a token with its own scopes");
    let r = http
        .post(format!("{admin}/admin/v1/tokens"))
        .basic_auth(&server.tenant_keys.0, Some(&server.tenant_keys.1))
        .header("content-type", "application/json")
        .body(r#"{"scopes": ["kms"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// Goal (issue 16): a key that protects a COMPLIANCE-locked or legal-held version cannot be
/// destroyed (that would erase what Object Lock promises to keep); the refusal says how many
/// versions and until when, and the data stays readable.
#[tokio::test]
async fn a_key_protecting_locked_versions_is_not_destroyed() {
    use aws_sdk_s3::types::{ObjectLockLegalHoldStatus, ObjectLockMode};
    let server = Server::start();
    ok(keys(&server, &["create", "locked-key"]));
    let c = server.client().await;
    let b = bucket("locked");
    c.create_bucket().bucket(&b).object_lock_enabled_for_bucket(true).send().await.unwrap();
    common::use_key_by_default(&c, &b, "locked-key").await;
    let until = aws_sdk_s3::primitives::DateTime::from_secs(4_102_444_800); // 2100-01-01
    c.put_object()
        .bucket(&b)
        .key("compliance")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(until)
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket(&b)
        .key("held")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .body(ByteStream::from_static(b"held"))
        .send()
        .await
        .unwrap();
    let refused = keys(&server, &["destroy", "locked-key", "--yes"]);
    assert!(!refused.status.success());
    let message = format!("{}{}", String::from_utf8_lossy(&refused.stdout), String::from_utf8_lossy(&refused.stderr));
    assert!(message.contains("2 object versions") && message.contains("2100-01-01"), "{message}");
    assert_eq!(body(c.get_object().bucket(&b).key("compliance").send().await.unwrap()).await, b"kept");
    assert_eq!(body(c.get_object().bucket(&b).key("held").send().await.unwrap()).await, b"held");
}

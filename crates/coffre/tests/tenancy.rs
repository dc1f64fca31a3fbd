//! Black-box tests of the identity layer with aws-sdk-s3 at default settings and the
//! `coffre admin` CLI: the admin API's authentication, identities across restarts, sealed
//! secrets, and operators kept out of tenant data except through two-person break-glass.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::{Server, bucket, code};

/// Goal: every operation the OpenAPI document lists exists and refuses a caller without a
/// token (401), so the document and the routes cannot drift apart.
#[tokio::test]
async fn every_documented_admin_operation_requires_credentials() {
    let server = Server::start();
    let (status, doc) = server.admin_get("/openapi.json").await;
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/admin/v1/tenants") && paths.contains_key("/admin/v1/break-glass/{id}/approve"));
    let http = reqwest::Client::new();
    let mut checked = 0;
    for (path, methods) in paths {
        for method in methods.as_object().unwrap().keys() {
            let concrete = path.replace("{action}", "disable").replace(['{', '}'], "");
            let url = format!("http://{}{concrete}", server.admin_addr);
            let request = http.request(method.to_uppercase().parse().unwrap(), url);
            let r = request.header("content-type", "application/json").body("{}").send().await.unwrap();
            assert_eq!(r.status(), 401, "{method} {path} without credentials");
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} operations documented");
}

/// Goal: tenants, users and keys survive a restart, and no access key secret is stored in
/// clear anywhere in the data directory.
#[tokio::test]
async fn identities_survive_restart_and_secrets_are_sealed() {
    let mut server = Server::start();
    let created = server.admin_cli(&["tenant", "create", "acme", "--admin-user", "alice"]);
    let (key, secret) = (
        created["access_key_id"].as_str().unwrap().to_owned(),
        created["secret_access_key"].as_str().unwrap().to_owned(),
    );
    let c = common::client_for(&server.endpoint(), &key, &secret).await;
    let b = bucket("persist");
    c.create_bucket().bucket(&b).send().await.unwrap();
    server.restart();
    let c = common::client_for(&server.endpoint(), &key, &secret).await;
    c.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"v")).send().await.unwrap();
    let mut stack = vec![server.data_dir().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                for s in [&secret, &server.tenant_keys.1] {
                    assert!(
                        !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                        "a secret access key is in clear in {}",
                        path.display()
                    );
                }
            }
        }
    }
}

/// Goal: operators run the service but read no tenant data; break-glass needs a second
/// operator's approval, is read-only and ends when it expires.
#[tokio::test]
async fn operators_read_tenant_data_only_through_two_person_break_glass() {
    let mut server = Server::start();
    // Break-glass requests, approvals and every access are logged as warnings, on purpose.
    server.allowed_log.push("break-glass".into());
    let tenant = server.client().await;
    let b = bucket("secret");
    tenant.create_bucket().bucket(&b).send().await.unwrap();
    tenant.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"tenant data")).send().await.unwrap();
    let root = common::client_for(&server.endpoint(), common::ACCESS_KEY, common::SECRET_KEY).await;
    let e = root.get_object().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    let e = root.create_bucket().bucket(bucket("operator")).send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    assert!(root.list_buckets().send().await.unwrap().buckets().is_empty());

    let request = server.admin_cli(&[
        "break-glass",
        "request",
        common::TENANT,
        "--bucket",
        &b,
        "--reason",
        "incident 42",
        "--duration",
        "600",
    ]);
    let id = request["id"].as_str().unwrap();
    let own = server.admin_cli_output(&["break-glass", "approve", id], &[]);
    assert!(!own.status.success(), "the requester approved its own request");
    assert!(String::from_utf8_lossy(&own.stderr).contains("two-person"), "{}", String::from_utf8_lossy(&own.stderr));
    let e = root.get_object().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied", "access before approval");

    let second = server.admin_cli(&["operator", "create", "bob"]);
    let bob = [
        ("COFFRE_ADMIN_ACCESS_KEY", second["access_key_id"].as_str().unwrap()),
        ("COFFRE_ADMIN_SECRET_KEY", second["secret_access_key"].as_str().unwrap()),
    ];
    let approved = server.admin_cli_as(&["break-glass", "approve", id], &bob);
    assert_eq!(approved["approved_by"], "bob");
    let got = root.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"tenant data");
    // The tenant's audit trail names the grant and the operator who approved it.
    let records = server.audit_records();
    let read = records
        .iter()
        .find(|r| r["operation"] == "GetObject" && r["actor"]["user"] == "root" && r["status"] == 200)
        .expect("the break-glass read is recorded");
    assert_eq!(read["tenant"], common::TENANT);
    assert_eq!(read["break_glass"]["grant"], id);
    assert_eq!(read["break_glass"]["approved_by"], "bob");
    let e = root.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"x")).send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied", "break-glass is read-only");
    let e = root.delete_object().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied", "break-glass is read-only");
    // Bob's own S3 key was not granted anything.
    let bob_s3 = common::client_for(
        &server.endpoint(),
        second["access_key_id"].as_str().unwrap(),
        second["secret_access_key"].as_str().unwrap(),
    )
    .await;
    assert_eq!(code(&bob_s3.get_object().bucket(&b).key("k").send().await.unwrap_err()), "AccessDenied");
}

/// Goal: quotas refuse the write that would exceed them (single PUT and multipart), leave
/// nothing behind, and usage reports what the bucket holds.
#[tokio::test]
async fn quotas_refuse_writes_beyond_them() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("quota");
    c.create_bucket().bucket(&b).send().await.unwrap();
    server.admin_cli(&["quota", "set", &b, "--max-objects", "2", "--max-bytes", "6000000"]);
    for k in ["a", "b"] {
        c.put_object().bucket(&b).key(k).body(ByteStream::from(vec![1u8; 1000])).send().await.unwrap();
    }
    let e = c.put_object().bucket(&b).key("c").body(ByteStream::from(vec![1u8; 10])).send().await.unwrap_err();
    assert_eq!(code(&e), "QuotaExceeded");
    assert_eq!(common::status(&e), 403);
    assert_eq!(code(&c.head_object().bucket(&b).key("c").send().await.unwrap_err()), "NotFound");
    // Overwriting does not add an object.
    c.put_object().bucket(&b).key("a").body(ByteStream::from(vec![2u8; 2000])).send().await.unwrap();
    let usage = server.admin_cli(&["usage", common::TENANT]);
    let row = usage["buckets"].as_array().unwrap().iter().find(|r| r["bucket"] == b.as_str()).unwrap().clone();
    assert_eq!((row["bytes"].as_u64(), row["objects"].as_u64()), (Some(3000), Some(2)));
    // A multipart upload that would pass max-bytes is refused at completion.
    c.delete_object().bucket(&b).key("b").send().await.unwrap();
    let up = c.create_multipart_upload().bucket(&b).key("big").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for n in 1..=2 {
        let p = c
            .upload_part()
            .bucket(&b)
            .key("big")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(vec![n as u8; 5 * 1024 * 1024]))
            .send()
            .await
            .unwrap();
        parts.push(aws_sdk_s3::types::CompletedPart::builder().part_number(n).e_tag(p.e_tag().unwrap()).build());
    }
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    let e = c
        .complete_multipart_upload()
        .bucket(&b)
        .key("big")
        .upload_id(id)
        .multipart_upload(done)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "QuotaExceeded");
    assert_eq!(code(&c.head_object().bucket(&b).key("big").send().await.unwrap_err()), "NotFound");
    let usage = server.admin_cli(&["quota", "get", &b]);
    assert_eq!((usage["bytes"].as_u64(), usage["objects"].as_u64()), (Some(2000), Some(1)));
}

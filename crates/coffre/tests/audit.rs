//! Black-box tests of the audit trail with aws-sdk-s3 at default settings and the `coffre`
//! CLI: one record per request with the right fields, verification of the node's trail and of
//! a tenant's export (and tampering named), and requests refused with 503, nothing lost, when
//! the audit storage is full.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::primitives::ByteStream;
use common::{Server, bucket, code};
use serde_json::Value;

fn records_of<'a>(records: &'a [Value], request_id: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["request_id"] == request_id).collect()
}

fn coffre(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_coffre")).args(args).output().unwrap()
}

/// Goal: every S3 request (allowed, denied, anonymous) and every admin call leaves exactly
/// one record, with who, what, where, the result and the KMS key, and never a secret.
#[tokio::test]
async fn every_request_leaves_exactly_one_record_with_its_fields() {
    let server = Server::start_with(&["--audit-checkpoint-seconds", "1"]);
    let c = server.client().await;
    let (o, other) = server.new_tenant_client("other", "bob").await;
    let b = bucket("audited");
    let mut ids = Vec::new();
    let created = c.create_bucket().bucket(&b).send().await.unwrap();
    ids.push(("CreateBucket", created.request_id().unwrap().to_owned(), 200, None::<&str>));
    let put = c.put_object().bucket(&b).key("k").body(ByteStream::from(vec![7u8; 1000])).send().await.unwrap();
    ids.push(("PutObject", put.request_id().unwrap().to_owned(), 200, None));
    let got = c.get_object().bucket(&b).key("k").send().await.unwrap();
    ids.push(("GetObject", got.request_id().unwrap().to_owned(), 200, None));
    let listed = c.list_objects_v2().bucket(&b).send().await.unwrap();
    ids.push(("ListObjectsV2", listed.request_id().unwrap().to_owned(), 200, None));
    let denied = o.get_object().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(code(&denied), "AccessDenied");
    ids.push((
        "GetObject",
        denied.as_service_error().unwrap().request_id().unwrap().to_owned(),
        403,
        Some("AccessDenied"),
    ));
    let anonymous = reqwest::get(format!("{}/{b}/k", server.endpoint())).await.unwrap();
    assert_eq!(anonymous.status(), 403);
    let anonymous_id = anonymous.headers()["x-amz-request-id"].to_str().unwrap().to_owned();
    ids.push(("GetObject", anonymous_id.clone(), 403, Some("AccessDenied")));
    let deleted = c.delete_object().bucket(&b).key("k").send().await.unwrap();
    ids.push(("DeleteObject", deleted.request_id().unwrap().to_owned(), 204, None));
    let tenant_admin = [
        ("COFFRE_ADMIN_ACCESS_KEY", server.tenant_keys.0.as_str()),
        ("COFFRE_ADMIN_SECRET_KEY", server.tenant_keys.1.as_str()),
    ];
    server.admin_cli_as(&["user", "create", common::TENANT, "carol"], &tenant_admin);

    // Changes' records are durable with their change and reach the trail just after it (the
    // admin call's too: it is a change).
    let admin_call = |r: &&Value| r["operation"] == "POST /admin/v1/tenants/tests/users";
    let records = server.audit_records_until(|records| {
        ids.iter().all(|(_, id, _, _)| !records_of(records, id).is_empty()) && records.iter().any(|r| admin_call(&r))
    });
    for (operation, id, status, error) in &ids {
        let found = records_of(&records, id);
        assert_eq!(found.len(), 1, "{operation} {id}: {found:?}");
        let r = found[0];
        assert_eq!(r["operation"], *operation, "{r}");
        assert_eq!(r["status"], *status, "{r}");
        assert_eq!(r["error_code"].as_str(), *error, "{r}");
        assert_eq!(r["bucket"], b.as_str(), "{r}");
        assert_eq!(r["tenant"], common::TENANT, "the bucket owner's record: {r}");
        assert_eq!(r["source_ip"], "127.0.0.1", "{r}");
        assert!(r["time"].as_str().unwrap().ends_with('Z'), "{r}");
    }
    let put = records_of(&records, &ids[1].1)[0];
    assert_eq!(put["key"], "k");
    assert_eq!(put["bytes_in"], 1000);
    assert_eq!(put["actor"]["kind"], "user");
    assert_eq!(put["actor"]["user"], "admin");
    assert_eq!(put["actor"]["access_key_id"], server.tenant_keys.0.as_str());
    assert!(put["kms_key"].as_str().is_some_and(|k| !k.is_empty()), "{put}");
    assert_eq!(records_of(&records, &ids[2].1)[0]["bytes_out"], 1000);
    let cross = records_of(&records, &ids[4].1)[0];
    assert_eq!(cross["actor"]["tenant"], "other", "who tried is on the owner's record");
    assert_eq!(records_of(&records, &anonymous_id)[0]["actor"]["kind"], "anonymous");
    let admin_calls: Vec<_> = records.iter().filter(admin_call).collect();
    assert_eq!(admin_calls.len(), 1, "{admin_calls:?}");
    assert_eq!(admin_calls[0]["status"], 201);
    assert_eq!(admin_calls[0]["actor"]["user"], "admin");
    assert_eq!(admin_calls[0]["tenant"], common::TENANT);
    let raw: String = records.iter().map(Value::to_string).collect();
    for secret in [server.tenant_keys.1.as_str(), common::SECRET_KEY, other["secret_access_key"].as_str().unwrap()] {
        assert!(!raw.contains(secret), "a secret is in the audit trail");
    }
}

/// Goal: the node's trail verifies (running or stopped) and a tenant's export verifies offline
/// with the public key alone, without other tenants' records; changed bytes are named.
#[tokio::test]
async fn trail_and_tenant_export_verify_and_tampering_is_named() {
    let mut server = Server::start_with(&["--audit-checkpoint-seconds", "1"]);
    let c = server.client().await;
    let (o, _) = server.new_tenant_client("other", "bob").await;
    let (b, ob) = (bucket("mine"), bucket("theirs"));
    c.create_bucket().bucket(&b).send().await.unwrap();
    o.create_bucket().bucket(&ob).send().await.unwrap();
    for i in 0..5 {
        c.put_object().bucket(&b).key(format!("k{i}")).body(ByteStream::from_static(b"x")).send().await.unwrap();
        o.put_object().bucket(&ob).key(format!("k{i}")).body(ByteStream::from_static(b"y")).send().await.unwrap();
    }
    let data = server.data_dir().to_str().unwrap().to_owned();
    let pubkey = String::from_utf8(coffre(&["audit", "pubkey", "--data-dir", &data]).stdout).unwrap().trim().to_owned();
    assert!(!pubkey.is_empty());

    // Through the admin API, as the tenant's admin.
    let http = reqwest::Client::new();
    let admin = format!("http://{}", server.admin_addr);
    let token = http
        .post(format!("{admin}/admin/v1/tokens"))
        .basic_auth(&server.tenant_keys.0, Some(&server.tenant_keys.1))
        .send()
        .await
        .unwrap();
    let token: Value = serde_json::from_str(&token.text().await.unwrap()).unwrap();
    let export = http
        .get(format!("{admin}/admin/v1/tenants/{}/audit/export", common::TENANT))
        .bearer_auth(token["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    let export = export.text().await.unwrap();
    assert!(!export.contains(&ob) && !export.contains("bob"), "another tenant's records are in the export");
    let exported: Value = serde_json::from_str(&export).unwrap();
    assert!(exported["records"].as_array().unwrap().len() >= 6, "bucket + 5 puts at least");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.json");
    std::fs::write(&file, &export).unwrap();
    let ok = coffre(&["audit", "verify", "--pubkey", &pubkey, file.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let tampered = export.replacen("PutObject", "GetObject", 1);
    std::fs::write(&file, &tampered).unwrap();
    let bad = coffre(&["audit", "verify", "--pubkey", &pubkey, file.to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("edited"), "{}", String::from_utf8_lossy(&bad.stderr));
    // Another tenant's export does not verify as this one: it is a different key's claim.
    let wrong_key =
        coffre(&["audit", "verify", "--pubkey", "AAAAC3NzaC1lZDI1NTE5AAAAIGtlc3Q=", file.to_str().unwrap()]);
    assert!(!wrong_key.status.success());

    // From the data directory, server running: the trail so far verifies.
    let running = coffre(&["audit", "verify", "--data-dir", &data]);
    assert!(running.status.success(), "{}", String::from_utf8_lossy(&running.stderr));
    let cli_export = coffre(&["audit", "export", "--data-dir", &data, "--tenant", "other"]);
    assert!(cli_export.status.success(), "{}", String::from_utf8_lossy(&cli_export.stderr));
    std::fs::write(&file, &cli_export.stdout).unwrap();
    assert!(coffre(&["audit", "verify", "--pubkey", &pubkey, file.to_str().unwrap()]).status.success());

    // Stopped: the final checkpoint covers everything; then one changed byte is found.
    server.terminate();
    let stopped = coffre(&["audit", "verify", "--data-dir", &data]);
    assert!(stopped.status.success(), "{}", String::from_utf8_lossy(&stopped.stderr));
    assert!(String::from_utf8_lossy(&stopped.stdout).contains("0 records after the last checkpoint"));
    let segments = server.data_dir().join("audit/segments");
    let segment = std::fs::read_dir(&segments)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "log") && std::fs::metadata(p).unwrap().len() > 0)
        .unwrap();
    let text = std::fs::read_to_string(&segment).unwrap();
    std::fs::write(&segment, text.replacen("\"status\":200", "\"status\":201", 1)).unwrap();
    let edited = coffre(&["audit", "verify", "--data-dir", &data]);
    assert!(!edited.status.success());
    let said = String::from_utf8_lossy(&edited.stderr);
    assert!(said.contains(segment.file_name().unwrap().to_str().unwrap()) && said.contains("line"), "{said}");
    server.start_again();
}

/// Goal: when the audit storage is full, nothing is served or changed unrecorded: a change
/// whose record is durable with it (its metadata commit) is answered, and recorded in the trail
/// once it is writable again; then reads and changes get 503, and refused changes leave nothing.
/// The trail verifies afterwards.
#[tokio::test]
async fn full_audit_storage_refuses_requests_and_loses_no_record() {
    let mut server = Server::start_with_small_audit_disk(&["--audit-checkpoint-seconds", "1"], 2 * 1024 * 1024);
    server.allowed_log.push("audit".into());
    let c = server.client().await;
    let b = bucket("full");
    c.create_bucket().bucket(&b).send().await.unwrap();
    c.put_object().bucket(&b).key("before").body(ByteStream::from_static(b"v")).send().await.unwrap();

    let fill = server.audit_dir().join("fill");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&fill).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
    }
    // The segment's zero fill still takes records for a while; changes go on being answered,
    // each with its record durable in its metadata commit, until a record cannot be written.
    let mut answered = Vec::new();
    let mut refused = None;
    for i in 0..5000 {
        let key = format!("k{i}");
        match c.put_object().bucket(&b).key(&key).body(ByteStream::from_static(b"c")).send().await {
            Ok(_) => answered.push(key),
            Err(e) => {
                assert_eq!(common::status(&e), 503, "{e:?}");
                refused = Some(key);
                break;
            }
        }
    }
    let refused = refused.expect("the audit trail never ran out of space");
    // Reads are not served unrecorded.
    let e = c.get_object().bucket(&b).key("before").send().await.unwrap_err();
    assert_eq!(common::status(&e), 503);

    std::fs::remove_file(&fill).unwrap();
    c.get_object().bucket(&b).key("before").send().await.unwrap();
    assert_eq!(code(&c.head_object().bucket(&b).key(&refused).send().await.unwrap_err()), "NotFound");
    // Every answered change is in the trail, exactly once, once it is writable again: as
    // answered (200), or recovered from its intent (0, no response known). An attempt refused
    // while the trail was full, which the SDK then retried, is a request of its own, with its
    // own record (503).
    let is_change = |r: &Value| matches!(r["status"].as_u64(), Some(200 | 0));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let records = server.audit_records();
        let missing: Vec<(&String, Vec<&Value>)> = answered
            .iter()
            .map(|k| {
                let found = records.iter().filter(|r| r["operation"] == "PutObject" && r["key"] == k.as_str());
                (k, found.filter(|r| is_change(r)).collect())
            })
            .filter(|(_, found): &(_, Vec<_>)| found.len() != 1)
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} answered changes not recorded once: {missing:?}",
            missing.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for k in &answered {
        c.head_object().bucket(&b).key(k).send().await.unwrap();
    }
    let data = server.audit_dir().parent().unwrap().to_str().unwrap().to_owned();
    let verified = coffre(&["audit", "verify", "--data-dir", &data]);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
}

/// Goal (issue 15): every operation is on the trail, and in the metrics, under its own S3
/// name as s3s routed it: bucket settings used to be recorded as `OtherBucketOperation`.
#[tokio::test]
async fn bucket_settings_are_recorded_under_their_own_names() {
    let server = Server::start_with(&["--audit-checkpoint-seconds", "1"]);
    let c = server.client().await;
    let b = bucket("named");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:DeleteBucket","Resource":"arn:aws:s3:::{b}"}}]}}"#
    );
    let mut ids = Vec::new();
    let r = c.put_bucket_policy().bucket(&b).policy(policy).send().await.unwrap();
    ids.push(("PutBucketPolicy", r.request_id().unwrap().to_owned()));
    let r = c.get_bucket_policy().bucket(&b).send().await.unwrap();
    ids.push(("GetBucketPolicy", r.request_id().unwrap().to_owned()));
    let r = c.delete_bucket_policy().bucket(&b).send().await.unwrap();
    ids.push(("DeleteBucketPolicy", r.request_id().unwrap().to_owned()));
    let r = c.put_bucket_acl().bucket(&b).acl(aws_sdk_s3::types::BucketCannedAcl::Private).send().await.unwrap();
    ids.push(("PutBucketAcl", r.request_id().unwrap().to_owned()));
    let r = c.get_bucket_acl().bucket(&b).send().await.unwrap();
    ids.push(("GetBucketAcl", r.request_id().unwrap().to_owned()));
    let r = c.get_bucket_versioning().bucket(&b).send().await.unwrap();
    ids.push(("GetBucketVersioning", r.request_id().unwrap().to_owned()));
    let r = c.get_public_access_block().bucket(&b).send().await;
    let id = match &r {
        Ok(out) => out.request_id().unwrap().to_owned(),
        Err(e) => e.as_service_error().and_then(|s| s.request_id()).unwrap().to_owned(),
    };
    ids.push(("GetPublicAccessBlock", id));
    // A copy whose source is malformed is refused, and recorded as the copy it is.
    let e = c.copy_object().bucket(&b).key("dest").copy_source(format!("{b}/")).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidArgument");
    ids.push(("CopyObject", e.as_service_error().and_then(|s| s.request_id()).unwrap().to_owned()));
    let metrics = assert_recorded_under_their_names(&server, &ids).await;
    assert!(!metrics.contains("OtherBucketOperation"), "a bucket setting was counted as OtherBucketOperation");
    c.delete_bucket().bucket(&b).send().await.unwrap();
}

/// Checks that each request `(operation, request id)` has exactly one audit record, naming its
/// operation, and that each operation is counted in `/metrics`; returns the metrics text.
async fn assert_recorded_under_their_names(server: &Server, ids: &[(&str, String)]) -> String {
    let records = server.audit_records_until(|records| ids.iter().all(|(_, id)| !records_of(records, id).is_empty()));
    for (operation, id) in ids {
        let found = records_of(&records, id);
        assert_eq!(found.len(), 1, "{operation}: {found:?}");
        assert_eq!(found[0]["operation"], *operation, "{}", found[0]);
    }
    let (_, metrics) = server.admin_get("/metrics").await;
    for (operation, _) in ids {
        assert!(metrics.contains(&format!("operation=\"{operation}\"")), "{operation} not in /metrics");
    }
    metrics
}

/// The request id of an SDK call that must succeed.
macro_rules! ok_id {
    ($call:expr) => {
        $call.send().await.unwrap().request_id().unwrap().to_owned()
    };
}

/// Goal (issue 15): every operation Coffre implements is on the audit trail, and in
/// `/metrics`, under its own S3 API name — the name s3s routed the request to, whether the
/// operation succeeded or not.
#[tokio::test]
async fn every_operation_is_recorded_under_its_own_name() {
    use aws_sdk_s3::types::{
        BucketCannedAcl, BucketLoggingStatus, CompletedMultipartUpload, CompletedPart, Delete, LoggingEnabled,
        ObjectCannedAcl, ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
        ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
    };
    let server = Server::start_with(&["--audit-checkpoint-seconds", "1"]);
    let c = server.client().await;
    let b = bucket("every-op");
    let mut ids: Vec<(&str, String)> = Vec::new();
    ids.push(("CreateBucket", ok_id!(c.create_bucket().bucket(&b))));
    ids.push(("HeadBucket", ok_id!(c.head_bucket().bucket(&b))));
    ids.push(("GetBucketLocation", ok_id!(c.get_bucket_location().bucket(&b))));
    ids.push(("ListBuckets", ok_id!(c.list_buckets())));
    ids.push(("PutObject", ok_id!(c.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"hello")))));
    ids.push(("HeadObject", ok_id!(c.head_object().bucket(&b).key("k"))));
    ids.push(("GetObject", ok_id!(c.get_object().bucket(&b).key("k"))));
    let tagging = Tagging::builder().tag_set(Tag::builder().key("a").value("b").build().unwrap()).build().unwrap();
    ids.push(("PutObjectTagging", ok_id!(c.put_object_tagging().bucket(&b).key("k").tagging(tagging))));
    ids.push(("GetObjectTagging", ok_id!(c.get_object_tagging().bucket(&b).key("k"))));
    ids.push(("DeleteObjectTagging", ok_id!(c.delete_object_tagging().bucket(&b).key("k"))));
    ids.push(("PutObjectAcl", ok_id!(c.put_object_acl().bucket(&b).key("k").acl(ObjectCannedAcl::Private))));
    ids.push(("GetObjectAcl", ok_id!(c.get_object_acl().bucket(&b).key("k"))));
    ids.push(("CopyObject", ok_id!(c.copy_object().bucket(&b).key("k2").copy_source(format!("{b}/k")))));
    ids.push(("ListObjects", ok_id!(c.list_objects().bucket(&b))));
    ids.push(("ListObjectsV2", ok_id!(c.list_objects_v2().bucket(&b))));
    ids.push(("ListObjectVersions", ok_id!(c.list_object_versions().bucket(&b))));

    let created = c.create_multipart_upload().bucket(&b).key("m").send().await.unwrap();
    ids.push(("CreateMultipartUpload", created.request_id().unwrap().to_owned()));
    let upload = created.upload_id().unwrap().to_owned();
    let part = c
        .upload_part()
        .bucket(&b)
        .key("m")
        .upload_id(&upload)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    ids.push(("UploadPart", part.request_id().unwrap().to_owned()));
    ids.push(("ListParts", ok_id!(c.list_parts().bucket(&b).key("m").upload_id(&upload))));
    ids.push(("ListMultipartUploads", ok_id!(c.list_multipart_uploads().bucket(&b))));
    let done = CompletedMultipartUpload::builder()
        .parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
        .build();
    ids.push((
        "CompleteMultipartUpload",
        ok_id!(c.complete_multipart_upload().bucket(&b).key("m").upload_id(&upload).multipart_upload(done)),
    ));
    let copied_into = c.create_multipart_upload().bucket(&b).key("m2").send().await.unwrap();
    let second = copied_into.upload_id().unwrap().to_owned();
    ids.push((
        "UploadPartCopy",
        ok_id!(
            c.upload_part_copy().bucket(&b).key("m2").upload_id(&second).part_number(1).copy_source(format!("{b}/k"))
        ),
    ));
    ids.push(("AbortMultipartUpload", ok_id!(c.abort_multipart_upload().bucket(&b).key("m2").upload_id(&second))));

    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:DeleteBucket","Resource":"arn:aws:s3:::{b}"}}]}}"#
    );
    ids.push(("PutBucketPolicy", ok_id!(c.put_bucket_policy().bucket(&b).policy(policy))));
    ids.push(("GetBucketPolicy", ok_id!(c.get_bucket_policy().bucket(&b))));
    ids.push(("GetBucketPolicyStatus", ok_id!(c.get_bucket_policy_status().bucket(&b))));
    ids.push(("DeleteBucketPolicy", ok_id!(c.delete_bucket_policy().bucket(&b))));
    ids.push(("PutBucketAcl", ok_id!(c.put_bucket_acl().bucket(&b).acl(BucketCannedAcl::Private))));
    ids.push(("GetBucketAcl", ok_id!(c.get_bucket_acl().bucket(&b))));
    let block = PublicAccessBlockConfiguration::builder().block_public_policy(true).build();
    ids.push((
        "PutPublicAccessBlock",
        ok_id!(c.put_public_access_block().bucket(&b).public_access_block_configuration(block)),
    ));
    ids.push(("GetPublicAccessBlock", ok_id!(c.get_public_access_block().bucket(&b))));
    ids.push(("DeletePublicAccessBlock", ok_id!(c.delete_public_access_block().bucket(&b))));
    let by_default =
        ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256).build().unwrap();
    let encryption = ServerSideEncryptionConfiguration::builder()
        .rules(ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build())
        .build()
        .unwrap();
    ids.push((
        "PutBucketEncryption",
        ok_id!(c.put_bucket_encryption().bucket(&b).server_side_encryption_configuration(encryption)),
    ));
    ids.push(("GetBucketEncryption", ok_id!(c.get_bucket_encryption().bucket(&b))));
    ids.push(("DeleteBucketEncryption", ok_id!(c.delete_bucket_encryption().bucket(&b))));
    let logging = BucketLoggingStatus::builder()
        .logging_enabled(LoggingEnabled::builder().target_bucket(&b).target_prefix("logs/").build().unwrap())
        .build();
    ids.push(("PutBucketLogging", ok_id!(c.put_bucket_logging().bucket(&b).bucket_logging_status(logging))));
    ids.push(("GetBucketLogging", ok_id!(c.get_bucket_logging().bucket(&b))));
    let expire = aws_sdk_s3::types::LifecycleRule::builder()
        .id("tmp")
        .status(aws_sdk_s3::types::ExpirationStatus::Enabled)
        .filter(aws_sdk_s3::types::LifecycleRuleFilter::builder().prefix("tmp/").build())
        .expiration(aws_sdk_s3::types::LifecycleExpiration::builder().days(30).build())
        .build()
        .unwrap();
    let rules = aws_sdk_s3::types::BucketLifecycleConfiguration::builder().rules(expire).build().unwrap();
    ids.push((
        "PutBucketLifecycleConfiguration",
        ok_id!(c.put_bucket_lifecycle_configuration().bucket(&b).lifecycle_configuration(rules)),
    ));
    ids.push(("GetBucketLifecycleConfiguration", ok_id!(c.get_bucket_lifecycle_configuration().bucket(&b))));
    ids.push(("DeleteBucketLifecycle", ok_id!(c.delete_bucket_lifecycle().bucket(&b))));
    let suspended = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
        .build();
    ids.push(("PutBucketVersioning", ok_id!(c.put_bucket_versioning().bucket(&b).versioning_configuration(suspended))));
    // Object Lock needs versioning Enabled: refused here (Suspended), and recorded as itself.
    let lock = aws_sdk_s3::types::ObjectLockConfiguration::builder()
        .object_lock_enabled(aws_sdk_s3::types::ObjectLockEnabled::Enabled)
        .build();
    let refused =
        c.put_object_lock_configuration().bucket(&b).object_lock_configuration(lock).send().await.unwrap_err();
    assert_eq!(code(&refused), "InvalidBucketState");
    ids.push((
        "PutObjectLockConfiguration",
        refused.as_service_error().and_then(|e| e.request_id()).unwrap().to_owned(),
    ));
    let missing = c.get_object_lock_configuration().bucket(&b).send().await.unwrap_err();
    ids.push((
        "GetObjectLockConfiguration",
        missing.as_service_error().and_then(|e| e.request_id()).unwrap().to_owned(),
    ));
    let hold = aws_sdk_s3::types::ObjectLockLegalHold::builder()
        .status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
        .build();
    let refused = c.put_object_legal_hold().bucket(&b).key("m").legal_hold(hold).send().await.unwrap_err();
    assert_eq!(code(&refused), "InvalidRequest", "no Object Lock on this bucket");
    ids.push(("PutObjectLegalHold", refused.as_service_error().and_then(|e| e.request_id()).unwrap().to_owned()));
    ids.push(("GetObjectLegalHold", ok_id!(c.get_object_legal_hold().bucket(&b).key("m"))));
    let retention = aws_sdk_s3::types::ObjectLockRetention::builder()
        .mode(aws_sdk_s3::types::ObjectLockRetentionMode::Governance)
        .retain_until_date(aws_sdk_s3::primitives::DateTime::from_secs(4_102_444_800))
        .build();
    let refused = c.put_object_retention().bucket(&b).key("m").retention(retention).send().await.unwrap_err();
    assert_eq!(code(&refused), "InvalidRequest", "no Object Lock on this bucket");
    ids.push(("PutObjectRetention", refused.as_service_error().and_then(|e| e.request_id()).unwrap().to_owned()));
    let none = c.get_object_retention().bucket(&b).key("m").send().await.unwrap_err();
    ids.push(("GetObjectRetention", none.as_service_error().and_then(|e| e.request_id()).unwrap().to_owned()));
    ids.push(("GetBucketVersioning", ok_id!(c.get_bucket_versioning().bucket(&b))));
    let delete = Delete::builder().objects(ObjectIdentifier::builder().key("k2").build().unwrap()).build().unwrap();
    ids.push(("DeleteObjects", ok_id!(c.delete_objects().bucket(&b).delete(delete))));
    ids.push(("DeleteObject", ok_id!(c.delete_object().bucket(&b).key("k"))));
    // A browser form upload (here refused: a form without a key field).
    let form = "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--XYZ--\r\n";
    let posted = reqwest::Client::new()
        .post(format!("{}/{b}", server.endpoint()))
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 400);
    ids.push(("PostObject", posted.headers()["x-amz-request-id"].to_str().unwrap().to_owned()));
    // The bucket still holds `m` (and perhaps its logs): refused, and recorded as the delete.
    let refused = c.delete_bucket().bucket(&b).send().await.unwrap_err();
    assert_eq!(code(&refused), "BucketNotEmpty");
    ids.push(("DeleteBucket", refused.as_service_error().and_then(|e| e.request_id()).unwrap().to_owned()));

    let mut covered: Vec<&str> = ids.iter().map(|(name, _)| *name).collect();
    covered.sort_unstable();
    let mut all: Vec<&str> = coffre_s3::operation::S3Op::ALL.iter().map(|op| op.name()).collect();
    all.sort_unstable();
    assert_eq!(covered, all, "the test drives every operation Coffre implements, once");
    assert_recorded_under_their_names(&server, &ids).await;
}

/// Goal (issue 16): the audit record of a versioned write, read or delete names the version.
#[tokio::test]
async fn versioned_requests_are_recorded_with_their_version() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let server = Server::start_with(&["--audit-checkpoint-seconds", "1"]);
    let c = server.client().await;
    let b = bucket("versioned");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    c.put_bucket_versioning().bucket(&b).versioning_configuration(enabled).send().await.unwrap();
    let put = c.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"v1")).send().await.unwrap();
    let version = put.version_id().unwrap().to_owned();
    let got = c.get_object().bucket(&b).key("k").version_id(&version).send().await.unwrap();
    let deleted = c.delete_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(deleted.delete_marker(), Some(true));
    let marker = deleted.version_id().unwrap().to_owned();
    assert_ne!(marker, version);
    let ids = [
        (put.request_id().unwrap().to_owned(), version.clone()),
        (got.request_id().unwrap().to_owned(), version),
        (deleted.request_id().unwrap().to_owned(), marker),
    ];
    let records = server.audit_records_until(|records| ids.iter().all(|(id, _)| !records_of(records, id).is_empty()));
    for (id, version) in &ids {
        let found = records_of(&records, id);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0]["version_id"], *version, "{}", found[0]);
    }
}

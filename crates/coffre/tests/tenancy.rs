//! Black-box tests of the identity layer with aws-sdk-s3 at default settings and the
//! `coffre admin` CLI: the admin API's authentication, identities across restarts, sealed
//! secrets, and operators kept out of tenant data except through two-person break-glass, which
//! a stand-in operator cannot fake (issue 14).

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

/// The cool-down setting for servers whose tests need operators to approve at once.
const NO_COOLDOWN: (&str, &str) = ("COFFRE_BREAK_GLASS_COOLDOWN_SECONDS", "0");

/// An operator's keys, as `coffre admin operator create` showed them once.
struct Operator {
    key: String,
    secret: String,
}

impl Operator {
    /// Creates operator `name` as `by` (root if `None`); the CLI's answer.
    fn create(server: &Server, by: Option<&Operator>, name: &str) -> (Operator, serde_json::Value) {
        let out = server.admin_cli_as(&["operator", "create", name], &by.map(Operator::env).unwrap_or_default());
        assert_eq!(out["user"], name, "{out}");
        let key = out["access_key_id"].as_str().unwrap().to_owned();
        let secret = out["secret_access_key"].as_str().unwrap().to_owned();
        (Operator { key, secret }, out)
    }

    fn env(&self) -> Vec<(&str, &str)> {
        vec![("COFFRE_ADMIN_ACCESS_KEY", self.key.as_str()), ("COFFRE_ADMIN_SECRET_KEY", self.secret.as_str())]
    }

    async fn s3(&self, server: &Server) -> aws_sdk_s3::Client {
        common::client_for(&server.endpoint(), &self.key, &self.secret).await
    }
}

/// Runs `coffre admin ARGS` as `by` (root if `None`) and checks that it is refused with
/// `status` and a message containing `why`.
fn refused(server: &Server, by: Option<&Operator>, args: &[&str], status: &str, why: &str) {
    let out = server.admin_cli_output(args, &by.map(Operator::env).unwrap_or_default());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "coffre admin {args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
    assert!(
        stderr.contains(status) && stderr.contains(why),
        "coffre admin {args:?}: expected {status} {why:?}, got {stderr}"
    );
}

/// A break-glass request by `by` for `bucket` of tenant [`common::TENANT`]; its id.
fn request_break_glass(server: &Server, by: &Operator, bucket: &str) -> String {
    let args =
        ["break-glass", "request", common::TENANT, "--bucket", bucket, "--reason", "incident 42", "--duration", "600"];
    let request = server.admin_cli_as(&args, &by.env());
    request["id"].as_str().unwrap().to_owned()
}

/// A tenant bucket holding one object, `k` = "tenant data".
async fn tenant_secret(server: &Server) -> String {
    let tenant = server.client().await;
    let b = bucket("secret");
    tenant.create_bucket().bucket(&b).send().await.unwrap();
    tenant.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"tenant data")).send().await.unwrap();
    b
}

/// Goal: operators run the service but read no tenant data; break-glass needs a second
/// operator's approval, is read-only and ends when it expires. Method: the root credentials
/// bootstrap two operators (the cool-down set to 0), one asks, the other approves.
#[tokio::test]
async fn operators_read_tenant_data_only_through_two_person_break_glass() {
    let mut server = Server::start_with_env(&[], &[NO_COOLDOWN]);
    // Break-glass requests, approvals and every access are logged as warnings, on purpose.
    server.allowed_log.push("break-glass".into());
    let b = tenant_secret(&server).await;
    let root = common::client_for(&server.endpoint(), common::ACCESS_KEY, common::SECRET_KEY).await;
    let e = root.get_object().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    let e = root.create_bucket().bucket(bucket("operator")).send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    assert!(root.list_buckets().send().await.unwrap().buckets().is_empty());

    let (ann, _) = Operator::create(&server, None, "ann");
    let (bob, _) = Operator::create(&server, None, "bob");
    let ann_s3 = ann.s3(&server).await;
    let id = request_break_glass(&server, &ann, &b);
    refused(&server, Some(&ann), &["break-glass", "approve", &id], "403", "two-person");
    refused(&server, None, &["break-glass", "approve", &id], "403", "bootstrap identity");
    let e = ann_s3.get_object().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied", "access before approval");

    let approved = server.admin_cli_as(&["break-glass", "approve", &id], &bob.env());
    assert_eq!(approved["approved_by"], "bob");
    let got = ann_s3.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"tenant data");
    // The tenant's audit trail names the grant and the operator who approved it.
    let records = server.audit_records();
    let read = records
        .iter()
        .find(|r| r["operation"] == "GetObject" && r["actor"]["user"] == "ann" && r["status"] == 200)
        .expect("the break-glass read is recorded");
    assert_eq!(read["tenant"], common::TENANT);
    assert_eq!(read["break_glass"]["grant"], id.as_str());
    assert_eq!(read["break_glass"]["approved_by"], "bob");
    let e = ann_s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"x")).send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied", "break-glass is read-only");
    let e = ann_s3.delete_object().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied", "break-glass is read-only");
    // Neither the approver's own S3 key nor root was granted anything.
    for other in [bob.s3(&server).await, root] {
        assert_eq!(code(&other.get_object().bucket(&b).key("k").send().await.unwrap_err()), "AccessDenied");
    }
}

/// Goal (issue 14, item 4: "two-person break-glass is one person"): whoever holds the root
/// credentials cannot read a tenant's data alone through a stand-in operator, and a freshly
/// created operator is no second person. Method: a server with the default cool-down (24 h);
/// root creates a stand-in, then each side of the attack: root asks and the stand-in approves,
/// the stand-in asks and root approves, a second fresh operator approves; the stand-in's own
/// stand-in waits for an approval nobody may give yet. The tenant's object stays unreadable.
#[tokio::test]
async fn issue14_break_glass_stand_in_operator_cannot_approve() {
    let mut server = Server::start();
    server.allowed_log.push("break-glass".into());
    let b = tenant_secret(&server).await;
    let root_s3 = common::client_for(&server.endpoint(), common::ACCESS_KEY, common::SECRET_KEY).await;
    let (stand_in, bootstrapped) = Operator::create(&server, None, "stand-in");

    // Root asks (for the stand-in to approve): root is a bootstrap identity, not a person.
    let root_asks =
        ["break-glass", "request", common::TENANT, "--bucket", &b, "--reason", "incident", "--duration", "600"];
    refused(&server, None, &root_asks, "403", "bootstrap identity");
    // The stand-in asks and root approves.
    let id = request_break_glass(&server, &stand_in, &b);
    refused(&server, None, &["break-glass", "approve", &id], "403", "bootstrap identity");
    // A second operator, as fresh as the stand-in, is no second person within the cool-down.
    let (fresh, _) = Operator::create(&server, None, "fresh");
    refused(&server, Some(&fresh), &["break-glass", "approve", &id], "403", "cool-down");
    refused(&server, Some(&stand_in), &["break-glass", "approve", &id], "403", "two-person");

    assert_eq!(bootstrapped["status"], "active", "bootstrap operators are active at once: {bootstrapped}");
    // Past bootstrap, root creates no operators, and a new one waits for a second operator.
    refused(&server, None, &["operator", "create", "third"], "403", "only bootstrap");
    let (stand_in_2, created) = Operator::create(&server, Some(&stand_in), "stand-in-2");
    assert_eq!(created["status"], "pending", "{created}");
    refused(&server, Some(&stand_in_2), &["break-glass", "list"], "401", "");
    let e = stand_in_2.s3(&server).await.list_buckets().send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidAccessKeyId", "a pending operator's key signs nothing");
    refused(&server, Some(&stand_in), &["operator", "approve", "stand-in-2"], "403", "own request");
    refused(&server, None, &["operator", "approve", "stand-in-2"], "403", "bootstrap identity");
    refused(&server, Some(&fresh), &["operator", "approve", "stand-in-2"], "403", "cool-down");

    let operators = server.admin_cli(&["operator", "list"]);
    let find = |name: &str| operators.as_array().unwrap().iter().find(|o| o["name"] == name).unwrap().clone();
    assert_eq!(
        (find("stand-in")["status"].clone(), find("stand-in")["created_by"].clone()),
        ("active".into(), "root".into())
    );
    assert_eq!(find("stand-in-2")["status"], "pending");
    assert_eq!(find("stand-in-2")["created_by"], "stand-in");
    let listed = server.admin_cli(&["break-glass", "list"]);
    let request = listed.as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).unwrap().clone();
    assert!(request["approved_by"].is_null(), "{request}");

    for who in [stand_in.s3(&server).await, fresh.s3(&server).await, root_s3] {
        assert_eq!(code(&who.get_object().bucket(&b).key("k").send().await.unwrap_err()), "AccessDenied");
    }
    // Every step, refused or not, is on the audit trail under its own operation.
    let records = server.audit_records();
    let calls = |operation: &str, status: u64| {
        records.iter().filter(|r| r["operation"] == operation && r["status"] == status).count()
    };
    assert_eq!(calls("POST /admin/v1/operators", 201), 3);
    assert_eq!(calls("POST /admin/v1/operators", 403), 1);
    assert_eq!(calls("POST /admin/v1/operators/stand-in-2/approve", 403), 3);
    assert_eq!(calls(&format!("POST /admin/v1/break-glass/{id}/approve"), 403), 3);
}

/// Goal (issue 14): an operator and the operators it created or approved into existence are
/// not two people, in either direction; two operators created independently, past the
/// cool-down, are. Method: cool-down 0; root bootstraps ann and bob, ann creates ann-alt and
/// bob approves it; every pairing among them is tried.
#[tokio::test]
async fn issue14_operator_created_by_the_requester_cannot_approve() {
    let mut server = Server::start_with_env(&[], &[NO_COOLDOWN]);
    server.allowed_log.push("break-glass".into());
    let b = tenant_secret(&server).await;
    let (ann, _) = Operator::create(&server, None, "ann");
    let (bob, _) = Operator::create(&server, None, "bob");
    let (alt, _) = Operator::create(&server, Some(&ann), "ann-alt");
    let approved = server.admin_cli_as(&["operator", "approve", "ann-alt"], &bob.env());
    assert_eq!((approved["status"].clone(), approved["creation_approved_by"].clone()), ("active".into(), "bob".into()));

    let by_ann = request_break_glass(&server, &ann, &b);
    refused(&server, Some(&alt), &["break-glass", "approve", &by_ann], "403", "created or approved by ann");
    let by_alt = request_break_glass(&server, &alt, &b);
    refused(&server, Some(&ann), &["break-glass", "approve", &by_alt], "403", "created or approved by ann");
    refused(&server, Some(&bob), &["break-glass", "approve", &by_alt], "403", "created or approved by bob");
    for who in [&ann, &alt] {
        let e = who.s3(&server).await.get_object().bucket(&b).key("k").send().await.unwrap_err();
        assert_eq!(code(&e), "AccessDenied");
    }
    // ann and bob were created independently of each other (by root, at bootstrap).
    server.admin_cli_as(&["break-glass", "approve", &by_ann], &bob.env());
    let got = ann.s3(&server).await.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"tenant data");
    let e = alt.s3(&server).await.get_object().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDenied", "ann's grant is ann's only");
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

//! Black-box tests of the S3 API: the real `coffre` binary driven by aws-sdk-s3 at its default
//! settings (which send CRC32 checksums in aws-chunked trailers). Each test opens with its goal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart,
    CreateBucketConfiguration, Delete, ObjectIdentifier, Tag, Tagging,
};
use common::{Server, body, bucket, code, data, md5_hex, status};

/// Goal: the bucket lifecycle answers like S3, including its errors.
#[tokio::test]
async fn bucket_lifecycle_and_errors() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("life");
    c.create_bucket().bucket(&b).send().await.unwrap();
    c.head_bucket().bucket(&b).send().await.unwrap();
    let listed = c.list_buckets().send().await.unwrap();
    assert!(listed.buckets().iter().any(|x| x.name() == Some(b.as_str())));
    let again = c.create_bucket().bucket(&b).send().await.unwrap_err();
    assert_eq!(code(&again), "BucketAlreadyOwnedByYou");
    assert_eq!(status(&again), 409);
    let v = c.get_bucket_versioning().bucket(&b).send().await.unwrap();
    assert!(v.status().is_none(), "an unversioned bucket has no versioning status");

    c.put_object().bucket(&b).key("x").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let not_empty = c.delete_bucket().bucket(&b).send().await.unwrap_err();
    assert_eq!(code(&not_empty), "BucketNotEmpty");
    assert_eq!(status(&not_empty), 409);
    c.delete_object().bucket(&b).key("x").send().await.unwrap();
    c.delete_bucket().bucket(&b).send().await.unwrap();
    let gone = c.head_bucket().bucket(&b).send().await.unwrap_err();
    assert_eq!(status(&gone), 404);
    let gone = c.list_objects_v2().bucket(&b).send().await.unwrap_err();
    assert_eq!(code(&gone), "NoSuchBucket");
    let bad = c.create_bucket().bucket("Bad_Name").send().await.unwrap_err();
    assert_eq!(code(&bad), "InvalidBucketName");
}

/// Goal: LocationConstraint is validated and reported by GetBucketLocation.
#[tokio::test]
async fn location_constraint() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("loc");
    let conf = CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::EuWest3).build();
    c.create_bucket().bucket(&b).create_bucket_configuration(conf).send().await.unwrap();
    let loc = c.get_bucket_location().bucket(&b).send().await.unwrap();
    assert_eq!(loc.location_constraint().map(|l| l.as_str()), Some("eu-west-3"));
    let conf = CreateBucketConfiguration::builder()
        .location_constraint(BucketLocationConstraint::from("Not A Region"))
        .build();
    let err = c.create_bucket().bucket(bucket("loc")).create_bucket_configuration(conf).send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidLocationConstraint");

    // A server with a region refuses buckets for another one.
    let regional = Server::start_with(&["--region", "eu-west-3"]);
    let c = regional.client().await;
    let conf = CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::EuCentral1).build();
    let err = c.create_bucket().bucket(bucket("loc")).create_bucket_configuration(conf).send().await.unwrap_err();
    assert_eq!(code(&err), "IllegalLocationConstraintException");
}

/// Goal: bytes, ETag, metadata and content headers round-trip at every size class (empty,
/// inline, just over the inline threshold, chunk file).
#[tokio::test]
async fn put_get_round_trip() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("rt");
    c.create_bucket().bucket(&b).send().await.unwrap();
    for (i, len) in [0usize, 1, 16 * 1024, 16 * 1024 + 1, 3 * 1024 * 1024 + 17].into_iter().enumerate() {
        let d = data(len, i as u64);
        let key = format!("obj-{len}");
        let put = c
            .put_object()
            .bucket(&b)
            .key(&key)
            .body(ByteStream::from(d.clone()))
            .content_type("application/x-test")
            .content_disposition("attachment; filename=\"t.bin\"")
            .cache_control("max-age=60")
            .metadata("color", "blue")
            .send()
            .await
            .unwrap();
        assert_eq!(put.e_tag(), Some(format!("\"{}\"", md5_hex(&d)).as_str()));
        let got = c.get_object().bucket(&b).key(&key).send().await.unwrap();
        assert_eq!(got.content_length(), Some(len as i64));
        assert_eq!(got.content_type(), Some("application/x-test"));
        assert_eq!(got.content_disposition(), Some("attachment; filename=\"t.bin\""));
        assert_eq!(got.cache_control(), Some("max-age=60"));
        assert_eq!(got.metadata().unwrap().get("color").map(String::as_str), Some("blue"));
        assert_eq!(got.e_tag(), put.e_tag());
        assert_eq!(body(got).await, d, "size {len}");
    }
    let missing = c.get_object().bucket(&b).key("nope").send().await.unwrap_err();
    assert_eq!(code(&missing), "NoSuchKey");
    assert_eq!(status(&missing), 404);
    let head_missing = c.head_object().bucket(&b).key("nope").send().await.unwrap_err();
    assert_eq!(status(&head_missing), 404);
}

/// Goal: ranges (closed, open, suffix, clamped) and the 416 for unsatisfiable ones.
#[tokio::test]
async fn ranged_reads() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("range");
    c.create_bucket().bucket(&b).send().await.unwrap();
    for (key, len) in [("small", 1000usize), ("large", 2 * 1024 * 1024)] {
        let d = data(len, 7);
        c.put_object().bucket(&b).key(key).body(ByteStream::from(d.clone())).send().await.unwrap();
        for (range, expected) in [
            ("bytes=0-9", &d[0..10]),
            ("bytes=10-", &d[10..]),
            ("bytes=-10", &d[len - 10..]),
            ("bytes=5-999999999", &d[5..]),
            ("bytes=100-100", &d[100..101]),
        ] {
            let got = c.get_object().bucket(&b).key(key).range(range).send().await.unwrap();
            assert!(got.content_range().unwrap().starts_with("bytes "), "{range}");
            assert_eq!(body(got).await, expected, "{key} {range}");
        }
        let err = c.get_object().bucket(&b).key(key).range(format!("bytes={len}-")).send().await.unwrap_err();
        assert_eq!(code(&err), "InvalidRange");
        assert_eq!(status(&err), 416);
    }
}

/// Goal: `response-*` query overrides change the response headers of a GET.
#[tokio::test]
async fn response_header_overrides() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("ovr");
    c.create_bucket().bucket(&b).send().await.unwrap();
    c.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"abc")).send().await.unwrap();
    let got = c
        .get_object()
        .bucket(&b)
        .key("k")
        .response_content_type("text/plain")
        .response_content_disposition("inline")
        .response_cache_control("no-cache")
        .response_content_language("fr")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(got.content_disposition(), Some("inline"));
    assert_eq!(got.cache_control(), Some("no-cache"));
    assert_eq!(got.content_language(), Some("fr"));
}

/// Goal: conditional GET/HEAD answer 304/412 as RFC 9110 and S3 say.
#[tokio::test]
async fn conditional_reads() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("cond");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let put = c.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"abc")).send().await.unwrap();
    let etag = put.e_tag().unwrap().to_owned();
    c.get_object().bucket(&b).key("k").if_match(&etag).send().await.unwrap();
    let e = c.get_object().bucket(&b).key("k").if_match("\"0000\"").send().await.unwrap_err();
    assert_eq!(status(&e), 412);
    let e = c.head_object().bucket(&b).key("k").if_none_match(&etag).send().await.unwrap_err();
    assert_eq!(status(&e), 304);
    let e = c.get_object().bucket(&b).key("k").if_none_match(&etag).send().await.unwrap_err();
    assert_eq!(status(&e), 304);
    let future = aws_smithy_types::DateTime::from_secs(time::OffsetDateTime::now_utc().unix_timestamp() + 3600);
    let past = aws_smithy_types::DateTime::from_secs(time::OffsetDateTime::now_utc().unix_timestamp() - 3600);
    let e = c.get_object().bucket(&b).key("k").if_modified_since(future).send().await.unwrap_err();
    assert_eq!(status(&e), 304);
    c.get_object().bucket(&b).key("k").if_modified_since(past).send().await.unwrap();
    let e = c.get_object().bucket(&b).key("k").if_unmodified_since(past).send().await.unwrap_err();
    assert_eq!(status(&e), 412);
}

/// Goal: `If-None-Match: *` writes are atomic: of many racing creators exactly one wins, and
/// `If-Match` only replaces the version it names.
#[tokio::test]
async fn conditional_writes_race() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("cw");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16u64 {
        let c = c.clone();
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            c.put_object().bucket(&b).key("race").if_none_match("*").body(ByteStream::from(data(100, i))).send().await
        }));
    }
    let mut winners = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => winners += 1,
            Err(e) => assert_eq!(status(&e), 412, "{e:?}"),
        }
    }
    assert_eq!(winners, 1, "exactly one racing creator wins");

    let cur = c.head_object().bucket(&b).key("race").send().await.unwrap();
    let e = c
        .put_object()
        .bucket(&b)
        .key("race")
        .if_match("\"ffff\"")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 412);
    c.put_object()
        .bucket(&b)
        .key("race")
        .if_match(cur.e_tag().unwrap())
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let e = c
        .put_object()
        .bucket(&b)
        .key("absent")
        .if_match("\"ffff\"")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 404);
}

/// Goal: additional checksums are verified on write, stored, and returned with
/// `x-amz-checksum-mode: ENABLED`; a wrong one is refused and stores nothing.
#[tokio::test]
async fn checksums_verified_and_returned() {
    use base64::Engine as _;
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("ck");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let d = data(300_000, 3);
    for algorithm in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ] {
        let key = format!("k-{}", algorithm.as_str());
        c.put_object()
            .bucket(&b)
            .key(&key)
            .checksum_algorithm(algorithm.clone())
            .body(ByteStream::from(d.clone()))
            .send()
            .await
            .unwrap();
        let h = c.head_object().bucket(&b).key(&key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
        let returned = match algorithm {
            ChecksumAlgorithm::Crc32 => h.checksum_crc32(),
            ChecksumAlgorithm::Crc32C => h.checksum_crc32_c(),
            ChecksumAlgorithm::Crc64Nvme => h.checksum_crc64_nvme(),
            ChecksumAlgorithm::Sha1 => h.checksum_sha1(),
            _ => h.checksum_sha256(),
        };
        assert!(returned.is_some(), "{algorithm:?} returned");
        let got = c.get_object().bucket(&b).key(&key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
        assert_eq!(body(got).await, d);
    }
    let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, &d) as u32;
    let h = c.head_object().bucket(&b).key("k-CRC32").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(h.checksum_crc32(), Some(base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes()).as_str()));

    let wrong = base64::engine::general_purpose::STANDARD.encode((crc ^ 1).to_be_bytes());
    let e = c
        .put_object()
        .bucket(&b)
        .key("bad")
        .checksum_crc32(wrong)
        .body(ByteStream::from(d.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "BadDigest");
    let e = c.head_object().bucket(&b).key("bad").send().await.unwrap_err();
    assert_eq!(status(&e), 404, "a refused write leaves nothing behind");

    let md5_of_other = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest_of(b"other"));
    let e = c
        .put_object()
        .bucket(&b)
        .key("bad-md5")
        .content_md5(md5_of_other)
        .body(ByteStream::from(d.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "BadDigest");
    assert_eq!(status(&e), 400);
    assert_eq!(status(&c.head_object().bucket(&b).key("bad-md5").send().await.unwrap_err()), 404);
}

trait DigestOf {
    fn digest_of(d: &[u8]) -> Vec<u8>;
}
impl DigestOf for md5::Md5 {
    fn digest_of(d: &[u8]) -> Vec<u8> {
        use md5::Digest;
        md5::Md5::digest(d).to_vec()
    }
}

/// Goal: single and batch deletes, quiet and verbose.
#[tokio::test]
async fn deletes() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("del");
    c.create_bucket().bucket(&b).send().await.unwrap();
    for k in ["a", "b", "c", "d"] {
        c.put_object().bucket(&b).key(k).body(ByteStream::from_static(b"1")).send().await.unwrap();
    }
    c.delete_object().bucket(&b).key("a").send().await.unwrap();
    c.delete_object().bucket(&b).key("never-existed").send().await.unwrap();
    let ids =
        |keys: &[&str]| keys.iter().map(|k| ObjectIdentifier::builder().key(*k).build().unwrap()).collect::<Vec<_>>();
    let out = c
        .delete_objects()
        .bucket(&b)
        .delete(Delete::builder().set_objects(Some(ids(&["b", "zz"]))).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.deleted().len(), 2, "verbose mode reports every key");
    let out = c
        .delete_objects()
        .bucket(&b)
        .delete(Delete::builder().set_objects(Some(ids(&["c", "d"]))).quiet(true).build().unwrap())
        .send()
        .await
        .unwrap();
    assert!(out.deleted().is_empty(), "quiet mode reports only errors");
    let left = c.list_objects_v2().bucket(&b).send().await.unwrap();
    assert_eq!(left.key_count(), Some(0));
}

/// Goal: CopyObject with COPY and REPLACE directives, source conditions and the self-copy rule.
#[tokio::test]
async fn copy_object() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("cp");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let d = data(100_000, 9);
    let put = c
        .put_object()
        .bucket(&b)
        .key("src")
        .metadata("m", "1")
        .content_type("text/x-src")
        .body(ByteStream::from(d.clone()))
        .send()
        .await
        .unwrap();
    c.copy_object().bucket(&b).key("dst1").copy_source(format!("{b}/src")).send().await.unwrap();
    let h = c.head_object().bucket(&b).key("dst1").send().await.unwrap();
    assert_eq!(h.metadata().unwrap().get("m").map(String::as_str), Some("1"));
    assert_eq!(h.content_type(), Some("text/x-src"));
    assert_eq!(h.e_tag(), put.e_tag());
    assert_eq!(body(c.get_object().bucket(&b).key("dst1").send().await.unwrap()).await, d);

    c.copy_object()
        .bucket(&b)
        .key("dst2")
        .copy_source(format!("{b}/src"))
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .metadata("m", "2")
        .content_type("text/x-dst")
        .send()
        .await
        .unwrap();
    let h = c.head_object().bucket(&b).key("dst2").send().await.unwrap();
    assert_eq!(h.metadata().unwrap().get("m").map(String::as_str), Some("2"));
    assert_eq!(h.content_type(), Some("text/x-dst"));

    let e = c
        .copy_object()
        .bucket(&b)
        .key("dst3")
        .copy_source(format!("{b}/src"))
        .copy_source_if_match("\"0\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 412);
    let e = c
        .copy_object()
        .bucket(&b)
        .key("dst3")
        .copy_source(format!("{b}/src"))
        .copy_source_if_none_match(put.e_tag().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 412);
    let e = c.copy_object().bucket(&b).key("src").copy_source(format!("{b}/src")).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidRequest");
    let e = c.copy_object().bucket(&b).key("dst4").copy_source(format!("{b}/missing")).send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchKey");
    // Keys that need escaping in x-amz-copy-source.
    c.put_object().bucket(&b).key("dir/with space+plus").body(ByteStream::from_static(b"s")).send().await.unwrap();
    c.copy_object().bucket(&b).key("dst5").copy_source(format!("{b}/dir/with%20space%2Bplus")).send().await.unwrap();
    assert_eq!(body(c.get_object().bucket(&b).key("dst5").send().await.unwrap()).await, b"s");
}

/// Goal: ListObjectsV2 and ListObjects: prefix, delimiter, pagination, start-after,
/// encoding-type=url and fetch-owner, with exact results.
#[tokio::test]
async fn listings() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("ls");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let keys = ["a/1", "a/2", "a/b/3", "b/1", "c", "d e", "f+g", "photos/2024/x.jpg", "photos/2025/y.jpg", "z"];
    for k in keys {
        c.put_object().bucket(&b).key(k).body(ByteStream::from_static(b"1")).send().await.unwrap();
    }
    // Full paginated listing.
    let mut all = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let out =
            c.list_objects_v2().bucket(&b).max_keys(3).set_continuation_token(token.clone()).send().await.unwrap();
        pages += 1;
        all.extend(out.contents().iter().map(|o| o.key().unwrap().to_owned()));
        if out.is_truncated() != Some(true) {
            break;
        }
        token = out.next_continuation_token().map(str::to_owned);
    }
    assert_eq!(all, keys);
    assert_eq!(pages, 4);
    // Delimiter.
    let out = c.list_objects_v2().bucket(&b).delimiter("/").send().await.unwrap();
    let prefixes: Vec<_> = out.common_prefixes().iter().map(|p| p.prefix().unwrap()).collect();
    assert_eq!(prefixes, ["a/", "b/", "photos/"]);
    let top: Vec<_> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(top, ["c", "d e", "f+g", "z"]);
    assert_eq!(out.key_count(), Some(7));
    // Delimiter with prefix, paginated one entry at a time across common prefixes.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let out = c
            .list_objects_v2()
            .bucket(&b)
            .prefix("a/")
            .delimiter("/")
            .max_keys(1)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        seen.extend(out.contents().iter().map(|o| o.key().unwrap().to_owned()));
        seen.extend(out.common_prefixes().iter().map(|p| p.prefix().unwrap().to_owned()));
        if out.is_truncated() != Some(true) {
            break;
        }
        token = out.next_continuation_token().map(str::to_owned);
    }
    assert_eq!(seen, ["a/1", "a/2", "a/b/"]);
    // start-after.
    let out = c.list_objects_v2().bucket(&b).start_after("c").send().await.unwrap();
    assert_eq!(out.contents().first().and_then(|o| o.key()), Some("d e"));
    // Owner only on request.
    let out = c.list_objects_v2().bucket(&b).max_keys(1).send().await.unwrap();
    assert!(out.contents()[0].owner().is_none());
    let out = c.list_objects_v2().bucket(&b).max_keys(1).fetch_owner(true).send().await.unwrap();
    assert!(out.contents()[0].owner().is_some());
    // encoding-type=url: keys come back percent-encoded (the Rust SDK does not decode them).
    let out = c
        .list_objects_v2()
        .bucket(&b)
        .prefix("d")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(out.contents()[0].key(), Some("d%20e"));
    let out = c
        .list_objects_v2()
        .bucket(&b)
        .prefix("f")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(out.contents()[0].key(), Some("f%2Bg"));
    // ListObjects v1 with markers.
    let out = c.list_objects().bucket(&b).marker("b/1").max_keys(2).send().await.unwrap();
    let v1: Vec<_> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(v1, ["c", "d e"]);
    assert_eq!(out.is_truncated(), Some(true));
    let out = c.list_objects().bucket(&b).delimiter("/").max_keys(2).send().await.unwrap();
    assert_eq!(out.next_marker(), Some("b/"));
    // max-keys=0.
    let out = c.list_objects_v2().bucket(&b).max_keys(0).send().await.unwrap();
    assert!(out.contents().is_empty());
}

/// Goal: ListObjectVersions tells the truth for an unversioned bucket: one "null" version
/// per key, each the latest.
#[tokio::test]
async fn object_versions_of_unversioned_bucket() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("ver");
    c.create_bucket().bucket(&b).send().await.unwrap();
    for k in ["x", "y"] {
        c.put_object().bucket(&b).key(k).body(ByteStream::from_static(b"1")).send().await.unwrap();
        c.put_object().bucket(&b).key(k).body(ByteStream::from_static(b"22")).send().await.unwrap();
    }
    let out = c.list_object_versions().bucket(&b).send().await.unwrap();
    let v = out.versions();
    assert_eq!(v.len(), 2);
    for (x, k) in v.iter().zip(["x", "y"]) {
        assert_eq!(x.key(), Some(k));
        assert_eq!(x.version_id(), Some("null"));
        assert_eq!(x.is_latest(), Some(true));
        assert_eq!(x.size(), Some(2));
    }
    assert!(out.delete_markers().is_empty());
    c.get_object().bucket(&b).key("x").version_id("null").send().await.unwrap();
}

/// Goal: a full multipart upload: parts, ListParts, ListMultipartUploads, Complete (ETag with
/// `-N`, composite checksum), GET by partNumber, and the errors of bad completions.
#[tokio::test]
async fn multipart_upload() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("mpu");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let sizes = [5 * 1024 * 1024, 5 * 1024 * 1024 + 3, 1000];
    let parts_data: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, n)| data(*n, 100 + i as u64)).collect();
    let up = c
        .create_multipart_upload()
        .bucket(&b)
        .key("big")
        .content_type("video/x-test")
        .metadata("k", "v")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let listed = c.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert_eq!(listed.uploads().len(), 1);
    assert_eq!(listed.uploads()[0].upload_id(), Some(id.as_str()));
    let mut completed = Vec::new();
    for (i, d) in parts_data.iter().enumerate() {
        let n = i as i32 + 1;
        let out = c
            .upload_part()
            .bucket(&b)
            .key("big")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(d.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.e_tag(), Some(format!("\"{}\"", md5_hex(d)).as_str()));
        completed.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .set_checksum_crc32(out.checksum_crc32().map(str::to_owned))
                .build(),
        );
    }
    let parts = c.list_parts().bucket(&b).key("big").upload_id(&id).send().await.unwrap();
    assert_eq!(parts.parts().len(), 3);
    assert_eq!(parts.parts()[1].size(), Some(sizes[1] as i64));
    let page = c.list_parts().bucket(&b).key("big").upload_id(&id).max_parts(2).send().await.unwrap();
    assert_eq!(page.is_truncated(), Some(true));
    assert_eq!(page.next_part_number_marker(), Some("2"));

    // Out of order and unknown parts are refused.
    let reversed: Vec<_> = completed.iter().rev().cloned().collect();
    let e = c
        .complete_multipart_upload()
        .bucket(&b)
        .key("big")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(reversed)).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidPartOrder");
    let bogus = vec![CompletedPart::builder().part_number(1).e_tag("\"00000000000000000000000000000000\"").build()];
    let e = c
        .complete_multipart_upload()
        .bucket(&b)
        .key("big")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(bogus)).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidPart");

    let done = c
        .complete_multipart_upload()
        .bucket(&b)
        .key("big")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed.clone())).build())
        .send()
        .await
        .unwrap();
    let mut md5s = Vec::new();
    for d in &parts_data {
        md5s.extend(hex::decode(md5_hex(d)).unwrap());
    }
    assert_eq!(done.e_tag(), Some(format!("\"{}-3\"", md5_hex(&md5s)).as_str()));
    let whole: Vec<u8> = parts_data.concat();
    let got = c.get_object().bucket(&b).key("big").send().await.unwrap();
    assert_eq!(got.content_type(), Some("video/x-test"));
    assert_eq!(body(got).await, whole);
    let p2 = c.get_object().bucket(&b).key("big").part_number(2).send().await.unwrap();
    assert_eq!(p2.parts_count(), Some(3));
    assert_eq!(body(p2).await, parts_data[1]);
    let h = c.head_object().bucket(&b).key("big").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert!(h.checksum_crc32().is_some_and(|v| v.ends_with("-3")) || h.checksum_crc64_nvme().is_some(), "{h:?}");
    let e = c
        .upload_part()
        .bucket(&b)
        .key("big")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "NoSuchUpload");
    assert!(c.list_multipart_uploads().bucket(&b).send().await.unwrap().uploads().is_empty());

    // A part under 5 MiB that is not the last one.
    let up = c.create_multipart_upload().bucket(&b).key("small-parts").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let mut small = Vec::new();
    for n in 1..=2 {
        let out = c
            .upload_part()
            .bucket(&b)
            .key("small-parts")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(data(1000, n as u64)))
            .send()
            .await
            .unwrap();
        small.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    let e = c
        .complete_multipart_upload()
        .bucket(&b)
        .key("small-parts")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(small)).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "EntityTooSmall");
    let e = c
        .upload_part()
        .bucket(&b)
        .key("small-parts")
        .upload_id(id)
        .part_number(10001)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidArgument");
    c.abort_multipart_upload().bucket(&b).key("small-parts").upload_id(id).send().await.unwrap();
    let e = c.list_parts().bucket(&b).key("small-parts").upload_id(id).send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchUpload");
    assert_eq!(status(&e), 404);
}

/// Goal: full-object CRC64NVME checksums for multipart uploads equal the CRC of the whole
/// object, and `If-None-Match: *` on Complete refuses to overwrite.
#[tokio::test]
async fn multipart_full_object_checksum_and_condition() {
    use base64::Engine as _;
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("mpf");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let parts_data = [data(5 * 1024 * 1024, 1), data(777, 2)];
    let up = c
        .create_multipart_upload()
        .bucket(&b)
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .checksum_type(aws_sdk_s3::types::ChecksumType::FullObject)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut completed = Vec::new();
    for (i, d) in parts_data.iter().enumerate() {
        let n = i as i32 + 1;
        let out = c
            .upload_part()
            .bucket(&b)
            .key("k")
            .upload_id(id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
            .body(ByteStream::from(d.clone()))
            .send()
            .await
            .unwrap();
        completed.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .set_checksum_crc64_nvme(out.checksum_crc64_nvme().map(str::to_owned))
                .build(),
        );
    }
    c.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"exists")).send().await.unwrap();
    let e = c
        .complete_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(id)
        .if_none_match("*")
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed.clone())).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 412);
    c.delete_object().bucket(&b).key("k").send().await.unwrap();
    c.complete_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(id)
        .if_none_match("*")
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
        .send()
        .await
        .unwrap();
    let whole = parts_data.concat();
    let expected = base64::engine::general_purpose::STANDARD
        .encode(crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, &whole).to_be_bytes());
    let h = c.head_object().bucket(&b).key("k").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(h.checksum_crc64_nvme(), Some(expected.as_str()));
    assert_eq!(h.checksum_type().map(|t| t.as_str()), Some("FULL_OBJECT"));
}

/// Goal: UploadPartCopy with a source range builds an object from another object's bytes.
#[tokio::test]
async fn upload_part_copy() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("upc");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let src = data(6 * 1024 * 1024, 5);
    c.put_object().bucket(&b).key("src").body(ByteStream::from(src.clone())).send().await.unwrap();
    let up = c.create_multipart_upload().bucket(&b).key("dst").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let p1 = c
        .upload_part_copy()
        .bucket(&b)
        .key("dst")
        .upload_id(id)
        .part_number(1)
        .copy_source(format!("{b}/src"))
        .copy_source_range("bytes=0-5242879")
        .send()
        .await
        .unwrap();
    let p2 = c
        .upload_part_copy()
        .bucket(&b)
        .key("dst")
        .upload_id(id)
        .part_number(2)
        .copy_source(format!("{b}/src"))
        .copy_source_range("bytes=5242880-6291455")
        .send()
        .await
        .unwrap();
    let e = c
        .upload_part_copy()
        .bucket(&b)
        .key("dst")
        .upload_id(id)
        .part_number(3)
        .copy_source(format!("{b}/src"))
        .copy_source_range("bytes=0-99999999")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidArgument");
    let parts = vec![
        CompletedPart::builder().part_number(1).e_tag(p1.copy_part_result().unwrap().e_tag().unwrap()).build(),
        CompletedPart::builder().part_number(2).e_tag(p2.copy_part_result().unwrap().e_tag().unwrap()).build(),
    ];
    c.complete_multipart_upload()
        .bucket(&b)
        .key("dst")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    assert_eq!(body(c.get_object().bucket(&b).key("dst").send().await.unwrap()).await, src);
}

/// Goal: object tagging through `x-amz-tagging` and the tagging subresource.
#[tokio::test]
async fn tagging() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("tag");
    c.create_bucket().bucket(&b).send().await.unwrap();
    c.put_object()
        .bucket(&b)
        .key("k")
        .tagging("project=coffre&tier=gold")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let tags = c.get_object_tagging().bucket(&b).key("k").send().await.unwrap();
    let mut got: Vec<_> = tags.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
    got.sort();
    assert_eq!(got, [("project".to_owned(), "coffre".to_owned()), ("tier".to_owned(), "gold".to_owned())]);
    let g = c.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(g.tag_count(), Some(2));
    let set = Tagging::builder().tag_set(Tag::builder().key("a").value("1").build().unwrap()).build().unwrap();
    c.put_object_tagging().bucket(&b).key("k").tagging(set).send().await.unwrap();
    assert_eq!(c.get_object_tagging().bucket(&b).key("k").send().await.unwrap().tag_set().len(), 1);
    c.delete_object_tagging().bucket(&b).key("k").send().await.unwrap();
    assert!(c.get_object_tagging().bucket(&b).key("k").send().await.unwrap().tag_set().is_empty());
    let e = c.get_object_tagging().bucket(&b).key("missing").send().await.unwrap_err();
    assert_eq!(code(&e), "NoSuchKey");
    let too_many: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
    let e = c
        .put_object()
        .bucket(&b)
        .key("t")
        .tagging(too_many.join("&"))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 400);
}

/// Goal: presigned GET and PUT URLs work from a plain HTTP client; expiry over 7 days and
/// tampered signatures are refused.
#[tokio::test]
async fn presigned_urls() {
    use aws_sdk_s3::presigning::PresigningConfig;
    use std::time::Duration;
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("pre");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let put = c
        .put_object()
        .bucket(&b)
        .key("k")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let r = http.put(put.uri()).body(b"presigned body".to_vec()).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let get = c
        .get_object()
        .bucket(&b)
        .key("k")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let r = http.get(get.uri()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"presigned body");
    // Without a Content-Type, S3 stores binary/octet-stream.
    let h = c.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(h.content_type(), Some("binary/octet-stream"));
    let signature = get.uri().split("X-Amz-Signature=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    let flipped: String = signature.chars().rev().collect();
    let tampered = get.uri().replace(&signature, &flipped);
    let r = http.get(tampered).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let long = get.uri().replace("X-Amz-Expires=300", "X-Amz-Expires=604801");
    let r = http.get(long).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AuthorizationQueryParametersError"));
    // Signed in the past and expired.
    let past = std::time::SystemTime::now() - Duration::from_secs(3600);
    let old = c
        .get_object()
        .bucket(&b)
        .key("k")
        .presigned(PresigningConfig::builder().start_time(past).expires_in(Duration::from_secs(60)).build().unwrap())
        .await
        .unwrap();
    let r = http.get(old.uri()).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("AccessDenied"));
}

/// Goal: anonymous requests, unknown keys, wrong secrets and SigV2 are refused with AWS's codes.
#[tokio::test]
async fn authentication_failures() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("auth");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let http = reqwest::Client::new();
    let r = http.get(format!("{}/{b}/k", server.endpoint())).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("<Code>AccessDenied</Code>"));
    let wrong_secret = common::client_for(&server.endpoint(), &server.tenant_keys.0, "not-the-secret").await;
    let e = wrong_secret.list_buckets().send().await.unwrap_err();
    assert_eq!(code(&e), "SignatureDoesNotMatch");
    let unknown = common::client_for(&server.endpoint(), "NOSUCHKEY", "whatever-secret").await;
    let e = unknown.list_buckets().send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidAccessKeyId");
    let r = http
        .get(format!("{}/{b}", server.endpoint()))
        .header("Authorization", "AWS COFFRETESTKEY:c2lnbmF0dXJl")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AWS4-HMAC-SHA256"));
    // A server bound to a region refuses signatures for another region.
    let regional = Server::start_with(&["--region", "eu-central-1"]);
    let e = regional.client().await.list_buckets().send().await.unwrap_err();
    assert_eq!(code(&e), "AuthorizationHeaderMalformed");
}

/// Goal: virtual-hosted-style requests (`bucket.DOMAIN`), which SDKs use by default with a
/// named endpoint, work when `--domain` is set; path-style keeps working.
#[tokio::test]
async fn virtual_hosted_style() {
    use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};
    #[derive(Debug, Clone)]
    struct Loopback;
    impl ResolveDns for Loopback {
        fn resolve_dns<'a>(&'a self, _name: &'a str) -> DnsFuture<'a> {
            DnsFuture::ready(Ok(vec![std::net::IpAddr::from([127, 0, 0, 1])]))
        }
    }
    let server = Server::start_with(&["--domain", "s3.coffre.test"]);
    let port = server.s3_addr.rsplit(':').next().unwrap();
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_with_resolver(Loopback);
    let creds = aws_sdk_s3::config::Credentials::new(&server.tenant_keys.0, &server.tenant_keys.1, None, None, "test");
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(common::REGION))
        .endpoint_url(format!("http://s3.coffre.test:{port}"))
        .credentials_provider(creds)
        .http_client(http_client)
        .load()
        .await;
    let c = aws_sdk_s3::Client::new(&conf);
    let b = bucket("vh");
    c.create_bucket().bucket(&b).send().await.unwrap();
    c.put_object().bucket(&b).key("dir/k").body(ByteStream::from_static(b"virtual")).send().await.unwrap();
    assert_eq!(body(c.get_object().bucket(&b).key("dir/k").send().await.unwrap()).await, b"virtual");
    let out = c.list_objects_v2().bucket(&b).send().await.unwrap();
    assert_eq!(out.key_count(), Some(1));
    let path_style = server.client().await;
    assert_eq!(body(path_style.get_object().bucket(&b).key("dir/k").send().await.unwrap()).await, b"virtual");
}

/// Goal: the SDK over HTTPS (which switches to STREAMING-UNSIGNED-PAYLOAD-TRAILER) works with
/// the self-signed CA the server generates.
#[tokio::test]
async fn https_with_self_signed_ca() {
    use aws_smithy_http_client::tls;
    let server = Server::start_with(&["--tls-self-signed"]);
    let ca = std::fs::read(server.data_dir().join("tls/ca.pem")).unwrap();
    let trust = tls::TrustStore::empty().with_pem_certificate(ca.as_slice());
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .tls_context(tls::TlsContext::builder().with_trust_store(trust).build().unwrap())
        .build_https();
    let creds = aws_sdk_s3::config::Credentials::new(&server.tenant_keys.0, &server.tenant_keys.1, None, None, "test");
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(common::REGION))
        .endpoint_url(server.endpoint())
        .credentials_provider(creds)
        .http_client(http_client)
        .load()
        .await;
    let c = aws_sdk_s3::Client::new(&conf);
    let b = bucket("tls");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let d = data(2 * 1024 * 1024, 11);
    c.put_object().bucket(&b).key("k").body(ByteStream::from(d.clone())).send().await.unwrap();
    assert_eq!(body(c.get_object().bucket(&b).key("k").send().await.unwrap()).await, d);
}

/// Goal: /health and /metrics on the admin listener; metrics count requests by operation and
/// status.
#[tokio::test]
async fn health_and_metrics() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("met");
    c.create_bucket().bucket(&b).send().await.unwrap();
    c.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let _ = c.get_object().bucket(&b).key("missing").send().await;
    let (code, text) = server.admin_get("/health").await;
    assert_eq!(code, 200, "{text}");
    let (code, metrics) = server.admin_get("/metrics").await;
    assert_eq!(code, 200);
    assert!(metrics.contains("coffre_s3_requests_total{operation=\"PutObject\",status=\"200\"} 1"), "{metrics}");
    assert!(metrics.contains("coffre_s3_requests_total{operation=\"GetObject\",status=\"404\"} 1"), "{metrics}");
    assert!(metrics.contains("coffre_s3_request_duration_seconds"), "{metrics}");
    assert!(metrics.contains("coffre_s3_received_bytes_total{operation=\"PutObject\",status=\"200\"}"), "{metrics}");
    assert!(metrics.contains("coffre_s3_sent_bytes_total{operation=\"GetObject\",status=\"404\"}"), "{metrics}");
}

/// Goal: overwritten and deleted data is reclaimed from disk; aborted uploads too.
#[tokio::test]
async fn space_is_reclaimed() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("gc");
    c.create_bucket().bucket(&b).send().await.unwrap();
    for i in 0..3 {
        c.put_object().bucket(&b).key("k").body(ByteStream::from(data(100_000, i))).send().await.unwrap();
    }
    c.put_object().bucket(&b).key("gone").body(ByteStream::from(data(100_000, 9))).send().await.unwrap();
    c.delete_object().bucket(&b).key("gone").send().await.unwrap();
    let up = c.create_multipart_upload().bucket(&b).key("mp").send().await.unwrap();
    c.upload_part()
        .bucket(&b)
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from(data(100_000, 10)))
        .send()
        .await
        .unwrap();
    c.abort_multipart_upload().bucket(&b).key("mp").upload_id(up.upload_id().unwrap()).send().await.unwrap();
    // Reclamation waits out a grace period for readers; poll for it with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while common::chunk_files(server.data_dir()) != 1 {
        assert!(std::time::Instant::now() < deadline, "chunks left: {}", common::chunk_files(server.data_dir()));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(body(c.get_object().bucket(&b).key("k").send().await.unwrap()).await, data(100_000, 2));
}

/// Goal: with writers overwriting one key and readers reading it at the same time, every read
/// returns one complete version, never a mix, and the last commit wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_partial_objects() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("conc");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let versions: Vec<Vec<u8>> = (0..4).map(|i| data(1024 * 1024 + i * 10_000, i as u64)).collect();
    let md5s: Vec<String> = versions.iter().map(|v| md5_hex(v)).collect();
    c.put_object().bucket(&b).key("hot").body(ByteStream::from(versions[0].clone())).send().await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..2usize {
        let (c, b, versions) = (c.clone(), b.clone(), versions.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..15usize {
                let v = &versions[(w + i) % versions.len()];
                c.put_object().bucket(&b).key("hot").body(ByteStream::from(v.clone())).send().await.unwrap();
            }
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (c, b, md5s) = (c.clone(), b.clone(), md5s.clone());
        readers.push(tokio::spawn(async move {
            for _ in 0..20 {
                let got = body(c.get_object().bucket(&b).key("hot").send().await.unwrap()).await;
                assert!(md5s.contains(&md5_hex(&got)), "a read returned a mix of versions ({} bytes)", got.len());
            }
        }));
    }
    for t in tasks.into_iter().chain(readers) {
        t.await.unwrap();
    }
    // The last commit wins: a final write is what every later read sees.
    c.put_object().bucket(&b).key("hot").body(ByteStream::from(versions[3].clone())).send().await.unwrap();
    assert_eq!(md5_hex(&body(c.get_object().bucket(&b).key("hot").send().await.unwrap()).await), md5s[3]);
}

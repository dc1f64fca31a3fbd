//! Encryption at rest, seen from outside: no plaintext of any object reaches the disk,
//! whatever path wrote it, and damaged or swapped chunk files are never served as data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::{Server, body, bucket};

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Object bytes carrying `marker` every 4 KiB, so that any plaintext fragment on disk is found.
fn marked(len: usize, marker: &[u8]) -> Vec<u8> {
    let mut d = common::data(len, len as u64);
    let mut at = 0;
    while at + marker.len() <= d.len() {
        d[at..at + marker.len()].copy_from_slice(marker);
        at += 4096;
    }
    d
}

/// Goal: objects written every way (inline, large, multipart, copied, part-copied) leave no
/// plaintext anywhere under the data directory, and still read back intact.
#[tokio::test]
async fn no_plaintext_reaches_the_disk() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("seal");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let marker: Vec<u8> = format!("COFFRE-MARKER-{:016x}", rand::random::<u64>()).into_bytes();
    let small = marked(5000, &marker);
    let large = marked(3 * 1024 * 1024 + 11, &marker);
    c.put_object().bucket(&b).key("inline").body(ByteStream::from(small.clone())).send().await.unwrap();
    c.put_object().bucket(&b).key("large").body(ByteStream::from(large.clone())).send().await.unwrap();
    let parts = [marked(5 * 1024 * 1024, &marker), marked(5 * 1024 * 1024 + 3, &marker)];
    let up = c.create_multipart_upload().bucket(&b).key("multi").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let out = c
            .upload_part()
            .bucket(&b)
            .key("multi")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        done.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    let pc = c
        .upload_part_copy()
        .bucket(&b)
        .key("multi")
        .upload_id(id)
        .part_number(3)
        .copy_source(format!("{b}/large"))
        .send()
        .await
        .unwrap();
    done.push(CompletedPart::builder().part_number(3).e_tag(pc.copy_part_result().unwrap().e_tag().unwrap()).build());
    c.complete_multipart_upload()
        .bucket(&b)
        .key("multi")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
    c.copy_object().bucket(&b).key("copied").copy_source(format!("{b}/large")).send().await.unwrap();
    c.copy_object().bucket(&b).key("copied-inline").copy_source(format!("{b}/inline")).send().await.unwrap();

    let files = files_under(server.data_dir());
    assert!(files.len() > 3, "expected chunk files, the metadata database and the key store");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        assert!(!contains(&bytes, &marker), "plaintext object data found in {}", f.display());
    }
    assert_eq!(body(c.get_object().bucket(&b).key("inline").send().await.unwrap()).await, small);
    assert_eq!(body(c.get_object().bucket(&b).key("copied").send().await.unwrap()).await, large);
    let multi = body(c.get_object().bucket(&b).key("multi").send().await.unwrap()).await;
    assert_eq!(multi, [parts[0].clone(), parts[1].clone(), large.clone()].concat());
    let ranged = c.get_object().bucket(&b).key("large").range("bytes=1000000-1000099").send().await.unwrap();
    assert_eq!(body(ranged).await, large[1_000_000..1_000_100]);
}

fn chunk_files(data: &Path) -> Vec<PathBuf> {
    files_under(&data.join("chunks"))
}

/// Reads `key` and asserts the server does not return wrong bytes: the request fails, either
/// with an error status or by breaking off the body.
async fn assert_not_served(c: &aws_sdk_s3::Client, b: &str, key: &str, original: &[u8]) {
    match c.get_object().bucket(b).key(key).send().await {
        Err(_) => {}
        Ok(out) => match out.body.collect().await {
            Err(_) => {}
            Ok(bytes) => {
                let bytes = bytes.into_bytes();
                panic!(
                    "served {} bytes of a damaged object (equal to the original: {})",
                    bytes.len(),
                    bytes.as_ref() == original
                );
            }
        },
    }
}

/// Goal: a flipped byte, two swapped chunk files or a truncated chunk file make the GET fail;
/// wrong bytes are never returned.
#[tokio::test]
async fn tampered_chunks_are_never_served() {
    let mut server = Server::start();
    server.allowed_log = vec!["sealed data".into(), "internal error".into(), "copy source".into()];
    let c = server.client().await;
    let b = bucket("tamper");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let size = 300_000;
    let originals: Vec<Vec<u8>> = (0..4).map(|i| common::data(size, 40 + i)).collect();
    let mut paths = Vec::new();
    for (i, d) in originals.iter().enumerate() {
        let before = chunk_files(server.data_dir());
        c.put_object().bucket(&b).key(format!("o{i}")).body(ByteStream::from(d.clone())).send().await.unwrap();
        let after = chunk_files(server.data_dir());
        let new: Vec<_> = after.into_iter().filter(|p| !before.contains(p)).collect();
        assert_eq!(new.len(), 1);
        paths.push(new[0].clone());
    }
    // o0: one flipped byte in the middle.
    let mut bytes = std::fs::read(&paths[0]).unwrap();
    bytes[150_000] ^= 0x01;
    std::fs::write(&paths[0], &bytes).unwrap();
    assert_not_served(&c, &b, "o0", &originals[0]).await;
    // Copying a damaged object fails as the server's error and leaves no destination.
    let e = c.copy_object().bucket(&b).key("copy-of-o0").copy_source(format!("{b}/o0")).send().await.unwrap_err();
    assert_eq!((common::code(&e).as_str(), common::status(&e)), ("InternalError", 500));
    assert_eq!(common::status(&c.head_object().bucket(&b).key("copy-of-o0").send().await.unwrap_err()), 404);
    // o1 and o2: files swapped.
    let (one, two) = (std::fs::read(&paths[1]).unwrap(), std::fs::read(&paths[2]).unwrap());
    std::fs::write(&paths[1], &two).unwrap();
    std::fs::write(&paths[2], &one).unwrap();
    assert_not_served(&c, &b, "o1", &originals[1]).await;
    assert_not_served(&c, &b, "o2", &originals[2]).await;
    // o3: truncated at a segment boundary (two whole sealed segments kept).
    let bytes = std::fs::read(&paths[3]).unwrap();
    std::fs::write(&paths[3], &bytes[..2 * (64 * 1024 + 16)]).unwrap();
    assert_not_served(&c, &b, "o3", &originals[3]).await;
    // A range inside an intact segment of the flipped file still reads correctly.
    let got = c.get_object().bucket(&b).key("o0").range("bytes=0-99").send().await.unwrap();
    assert_eq!(body(got).await, originals[0][..100]);
}

/// Goal: `x-amz-server-side-encryption` (AES256 and aws:kms with a key id) is accepted and
/// echoed; unknown keys and methods are refused and store nothing; the bucket default set by
/// PutBucketEncryption applies to new objects and can be read back and deleted.
#[tokio::test]
async fn sse_headers_and_bucket_default_encryption() {
    use aws_sdk_s3::types::ServerSideEncryption;
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("sse");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let put = c.put_object().bucket(&b).key("plain").body(ByteStream::from_static(b"x")).send().await.unwrap();
    assert_eq!(put.server_side_encryption(), Some(&ServerSideEncryption::Aes256), "every object is encrypted");
    let put = c
        .put_object()
        .bucket(&b)
        .key("kms")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("coffre-default")
        .body(ByteStream::from_static(b"y"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    assert_eq!(put.ssekms_key_id(), Some("coffre-default"));
    let head = c.head_object().bucket(&b).key("kms").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    assert_eq!(head.ssekms_key_id(), Some("coffre-default"));
    let e = c
        .put_object()
        .bucket(&b)
        .key("nokey")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("no-such-key")
        .body(ByteStream::from_static(b"z"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&e), "KMS.NotFoundException");
    assert_eq!(common::status(&e), 400);
    assert_eq!(common::status(&c.head_object().bucket(&b).key("nokey").send().await.unwrap_err()), 404);
    let e = c
        .put_object()
        .bucket(&b)
        .key("bad")
        .server_side_encryption(ServerSideEncryption::from("AES999"))
        .body(ByteStream::from_static(b"z"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&e), "InvalidArgument");

    // Bucket default.
    let got = c.get_bucket_encryption().bucket(&b).send().await.unwrap();
    let rule = &got.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(rule.apply_server_side_encryption_by_default().unwrap().sse_algorithm(), &ServerSideEncryption::Aes256);
    common::use_key_by_default(&c, &b, "coffre-default").await;
    let put = c.put_object().bucket(&b).key("defaulted").body(ByteStream::from_static(b"d")).send().await.unwrap();
    assert_eq!(put.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    assert_eq!(put.ssekms_key_id(), Some("coffre-default"));
    let got = c.get_bucket_encryption().bucket(&b).send().await.unwrap();
    let rule = &got.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(rule.apply_server_side_encryption_by_default().unwrap().kms_master_key_id(), Some("coffre-default"));
    c.delete_bucket_encryption().bucket(&b).send().await.unwrap();
    let put = c.put_object().bucket(&b).key("after").body(ByteStream::from_static(b"a")).send().await.unwrap();
    assert_eq!(put.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(body(c.get_object().bucket(&b).key("defaulted").send().await.unwrap()).await, b"d");
}

/// Goal: SSE-C over plain HTTP is refused, as AWS does, and nothing is stored.
#[tokio::test]
async fn sse_c_over_plain_http_is_refused() {
    use base64::Engine as _;
    use md5::Digest as _;
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("ssec");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let key = [7u8; 32];
    let b64 = base64::engine::general_purpose::STANDARD;
    let e = c
        .put_object()
        .bucket(&b)
        .key("k")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(b64.encode(key))
        .sse_customer_key_md5(b64.encode(md5::Md5::digest(key)))
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await
        .unwrap_err();
    assert_eq!((common::code(&e).as_str(), common::status(&e)), ("InvalidRequest", 400));
    assert_eq!(common::status(&c.head_object().bucket(&b).key("k").send().await.unwrap_err()), 404);
}

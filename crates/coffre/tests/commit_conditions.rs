//! Black-box tests (aws-sdk-s3 at its defaults) of what the engine decides inside one commit:
//! conditions evaluated with the change they guard, and a retried CompleteMultipartUpload
//! answered with the object it made (issue 15).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::{Server, body, bucket, code, data};

/// Goal (issue 15): a CompleteMultipartUpload retried after it succeeded (SDKs retry it on a
/// timeout) answers 200 with the same ETag, as AWS does, instead of NoSuchUpload for data that
/// was stored; the same upload id with another part list still finds no upload.
#[tokio::test]
async fn a_retried_complete_answers_with_the_object_it_made() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("retry");
    c.create_bucket().bucket(&b).send().await.unwrap();
    let up = c.create_multipart_upload().bucket(&b).key("k").send().await.unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let mut parts = Vec::new();
    for (n, len) in [(1, 5 * 1024 * 1024), (2, 100)] {
        let out = c
            .upload_part()
            .bucket(&b)
            .key("k")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(data(len, n as u64)))
            .send()
            .await
            .unwrap();
        parts.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    let complete = |parts: Vec<CompletedPart>| {
        c.complete_multipart_upload()
            .bucket(&b)
            .key("k")
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
    };
    let first = complete(parts.clone()).await.unwrap();
    let again = complete(parts.clone()).await.unwrap();
    assert_eq!(again.e_tag(), first.e_tag());
    assert_eq!(again.key(), Some("k"));
    let e = complete(parts[..1].to_vec()).await.unwrap_err();
    assert_eq!(code(&e), "NoSuchUpload");
    let head = c.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(head.e_tag(), first.e_tag());
    assert_eq!(head.content_length(), Some(5 * 1024 * 1024 + 100));
}

/// Goal (issue 15): DeleteObject with `If-Match` is decided in the commit that deletes. Racing
/// an overwrite, it either deletes the version it named (and the overwrite lands after) or
/// fails 412: the new version is never deleted on the strength of the old one's ETag.
#[tokio::test]
async fn a_conditional_delete_never_deletes_a_newer_version() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("ifmatch");
    c.create_bucket().bucket(&b).send().await.unwrap();
    for round in 0..30 {
        let old = c.put_object().bucket(&b).key("k").body(ByteStream::from(format!("old {round}").into_bytes())).send();
        let old_etag = old.await.unwrap().e_tag().unwrap().to_owned();
        let newer = format!("new {round}").into_bytes();
        let put = c.put_object().bucket(&b).key("k").body(ByteStream::from(newer.clone())).send();
        let delete = c.delete_object().bucket(&b).key("k").if_match(&old_etag).send();
        let (put, delete) = tokio::join!(put, delete);
        put.unwrap();
        if let Err(e) = delete {
            assert_eq!(code(&e), "PreconditionFailed", "round {round}");
        }
        let got = c.get_object().bucket(&b).key("k").send().await.unwrap();
        assert_eq!(body(got).await, newer, "round {round}: the newer version survives");
    }
}

/// Goal (issue 15): CompleteMultipartUpload decides its condition in its own commit. Two
/// uploads of one key completed at once with `If-None-Match: *`: exactly one wins, the other
/// gets 412, and the key holds the winner's object.
#[tokio::test]
async fn racing_completes_with_if_none_match_have_one_winner() {
    let server = Server::start();
    let c = server.client().await;
    let b = bucket("race");
    c.create_bucket().bucket(&b).send().await.unwrap();
    for round in 0..5 {
        let key = format!("k{round}");
        let mut uploads = Vec::new();
        for side in 0..2u64 {
            let id =
                c.create_multipart_upload().bucket(&b).key(&key).send().await.unwrap().upload_id().unwrap().to_owned();
            let part = c
                .upload_part()
                .bucket(&b)
                .key(&key)
                .upload_id(&id)
                .part_number(1)
                .body(ByteStream::from(data(1000, side)))
                .send()
                .await
                .unwrap();
            uploads.push((id, part.e_tag().unwrap().to_owned()));
        }
        let complete = |(id, etag): (String, String)| {
            c.complete_multipart_upload()
                .bucket(&b)
                .key(&key)
                .upload_id(id)
                .if_none_match("*")
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
                        .build(),
                )
                .send()
        };
        let (first, second) = tokio::join!(complete(uploads[0].clone()), complete(uploads[1].clone()));
        let (won, lost) = match (first, second) {
            (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
            (Ok(_), Ok(_)) => panic!("round {round}: both completes won the same key"),
            (Err(a), Err(_)) => panic!("round {round}: neither won: {}", code(&a)),
        };
        assert_eq!(code(&lost), "PreconditionFailed", "round {round}");
        let head = c.head_object().bucket(&b).key(&key).send().await.unwrap();
        assert_eq!(head.e_tag(), won.e_tag(), "round {round}: the key holds the winner");
    }
}

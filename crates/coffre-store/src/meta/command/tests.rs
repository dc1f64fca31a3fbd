use super::*;
use crate::checksum::Checksum;
use crate::records::{
    BucketLogging, CompletedUpload, ContentHeaders, Encryption, ObjectAttributes, PublicAccessBlock, Quota,
    SealedInline,
};
use coffre_crypto::WrappedKey;

/// The serialised form of the commands v1 wrote, one per variant: it must keep decoding.
const FROZEN_V1: &str = include_str!("../../../fixtures/commands-v1.json");

/// How many variants [`MetaOp`] has: [`variant`] lists each, so a new one does not compile
/// until this test covers it.
const VARIANTS: usize = 16;

fn variant(op: &MetaOp) -> usize {
    match op {
        MetaOp::CreateBucket { .. } => 0,
        MetaOp::UpdateBucket { .. } => 1,
        MetaOp::DeleteBucket { .. } => 2,
        MetaOp::PutObject { .. } => 3,
        MetaOp::DeleteObject { .. } => 4,
        MetaOp::UpdateAttributes { .. } => 5,
        MetaOp::WriteIam { .. } => 6,
        MetaOp::ForgetAuditIntents { .. } => 7,
        MetaOp::CreateUpload { .. } => 8,
        MetaOp::PutPart { .. } => 9,
        MetaOp::CompleteUpload { .. } => 10,
        MetaOp::AbortUpload { .. } => 11,
        MetaOp::ForgetGarbage { .. } => 12,
        MetaOp::ReplaceKeys { .. } => 13,
        MetaOp::Shred { .. } => 14,
        MetaOp::Expire { .. } => 15,
    }
}

/// A lifecycle configuration with a rule of every kind of filter and action.
fn lifecycle() -> crate::lifecycle::LifecycleConfiguration {
    use crate::lifecycle::*;
    let tag = FilterTag { key: "class".into(), value: "tmp".into() };
    let rule = LifecycleRule::enabled;
    let mut days = rule("days", LifecycleFilter::LegacyPrefix("logs/".into()));
    days.expiration = Some(Expiration::Days(30));
    days.abort_incomplete_upload_days = Some(7);
    let mut date = rule("date", LifecycleFilter::Tag(tag.clone()));
    date.expiration = Some(Expiration::Date(1_767_225_600_000_000_000));
    date.enabled = false;
    let mut markers = rule("markers", LifecycleFilter::All);
    markers.expiration = Some(Expiration::ExpiredObjectDeleteMarker);
    let mut noncurrent = rule(
        "noncurrent",
        LifecycleFilter::And {
            prefix: Some("db/".into()),
            tags: vec![tag],
            size_greater_than: Some(1),
            size_less_than: Some(1 << 30),
        },
    );
    noncurrent.noncurrent_expiration =
        Some(NoncurrentExpiration { noncurrent_days: 3, newer_noncurrent_versions: Some(2) });
    let sizes =
        [LifecycleFilter::Prefix("a/".into()), LifecycleFilter::SizeGreaterThan(5), LifecycleFilter::SizeLessThan(9)];
    let mut rules = vec![days, date, markers, noncurrent];
    rules.extend(sizes.into_iter().enumerate().map(|(i, f)| {
        let mut r = rule(&format!("size-{i}"), f);
        r.expiration = Some(Expiration::Days(1));
        r
    }));
    LifecycleConfiguration { rules }
}

fn wrapped(n: u32) -> WrappedKey {
    WrappedKey { key_id: "kek-1".into(), key_version: n, envelope: format!("envelope-{n}") }
}

fn chunk(n: u8) -> ChunkRef {
    ChunkRef { id: ChunkId([n; 16]), size_bytes: 1 << 20, key: wrapped(u32::from(n)) }
}

fn attributes() -> ObjectAttributes {
    ObjectAttributes {
        headers: ContentHeaders { content_type: Some("text/plain".into()), ..Default::default() },
        user_metadata: [("owner".to_owned(), "ada".to_owned())].into(),
        tags: vec![("team".into(), "blue".into())],
        public_read: false,
    }
}

fn object() -> ObjectRecord {
    ObjectRecord {
        version_id: None,
        size_bytes: 5,
        etag: "5d41402abc4b2a76b9719d911017c592".into(),
        last_modified_ns: 1_764_000_000_000_000_000,
        attributes: attributes(),
        checksum: Some(Checksum {
            algorithm: ChecksumAlgorithm::Crc64Nvme,
            kind: ChecksumType::FullObject,
            value: "AAAAAAAAAAA=".into(),
        }),
        part_sizes: vec![5],
        layout: DataLayout::Inline(SealedInline { stream_id: ChunkId([9; 16]), key: wrapped(1) }),
        encryption: Encryption::sse_s3("kek-1".into()),
        completed_upload: Some(Box::new(CompletedUpload {
            upload_id: "0000018f00000000abcdef0123456789".into(),
            parts_sha256: "00".repeat(32),
        })),
        retention: Some(crate::records::Retention {
            mode: crate::records::RetentionMode::Compliance,
            retain_until_ns: 1_900_000_000_000_000_000,
        }),
        legal_hold: true,
    }
}

fn upload() -> UploadRecord {
    UploadRecord {
        initiated_ns: 7,
        attributes: attributes(),
        checksum_algorithm: Some(ChecksumAlgorithm::Sha256),
        checksum_type: Some(ChecksumType::Composite),
        encryption: Encryption::sse_s3("kek-1".into()),
        retention: Some(crate::records::Retention {
            mode: crate::records::RetentionMode::Governance,
            retain_until_ns: 1_900_000_000_000_000_000,
        }),
        legal_hold: true,
    }
}

/// One command of each variant, with every optional input present.
fn samples() -> Vec<Command> {
    let bucket = || "photos".to_owned();
    let key = || "2026/12/cat.jpg".to_owned();
    let upload_id = || "0000018f00000000abcdef0123456789".to_owned();
    let mut record = BucketRecord::new(1, Some("eu-west-3".into()), Some("acme".into()));
    record.public_access_block = Some(PublicAccessBlock { block_public_acls: true, ..Default::default() });
    record.quota = Some(Quota { max_bytes: Some(1 << 30), max_objects: None });
    record.logging = Some(BucketLogging { target_bucket: "logs".into(), target_prefix: "photos/".into() });
    let ops = vec![
        MetaOp::CreateBucket { bucket: bucket(), record },
        MetaOp::UpdateBucket {
            bucket: bucket(),
            change: BucketChange::SetPolicy { policy: r#"{"Version":"2012-10-17"}"#.into(), public: false },
        },
        MetaOp::DeleteBucket { bucket: bucket() },
        MetaOp::PutObject {
            bucket: bucket(),
            key: key(),
            record: Box::new(object()),
            inline: Bytes64(b"\x00sealed\xff".to_vec()),
            condition: WriteCondition::IfNoneMatchAny,
        },
        MetaOp::DeleteObject {
            bucket: bucket(),
            key: key(),
            condition: WriteCondition::IfMatch("etag".into()),
            version: Some(crate::VersionId::Assigned("ffffe9a0c6e7f3ff".into())),
            bypass_governance: true,
        },
        MetaOp::UpdateAttributes {
            bucket: bucket(),
            key: key(),
            change: AttributesChange::SetTags(vec![("a".into(), "b".into())]),
            version: Some(crate::VersionId::Null),
        },
        MetaOp::WriteIam {
            changes: vec![("user/acme/ada".into(), Some(Bytes64(b"{}".to_vec()))), ("user/acme/bob".into(), None)],
        },
        MetaOp::ForgetAuditIntents { keys: vec!["0190000000001req".into()] },
        MetaOp::CreateUpload { bucket: bucket(), key: key(), upload_id: upload_id(), record: upload() },
        MetaOp::PutPart {
            bucket: bucket(),
            key: key(),
            upload_id: upload_id(),
            part_number: 3,
            record: PartRecord {
                size_bytes: 1 << 20,
                md5_hex: "00".repeat(16),
                crc64nvme: 42,
                checksum_base64: Some("AAAA".into()),
                last_modified_ns: 8,
                chunk: chunk(3),
            },
        },
        MetaOp::CompleteUpload {
            bucket: bucket(),
            key: key(),
            upload_id: upload_id(),
            request: CompleteRequest {
                parts: vec![CompletedPart { part_number: 1, etag: "e1".into(), checksum_base64: Some("AAAA".into()) }],
                condition: WriteCondition::IfMatchAny,
                expected_checksum: Some((ChecksumAlgorithm::Sha256, "AAAA".into())),
                checksum_type: Some(ChecksumType::Composite),
                expected_size_bytes: Some(1 << 20),
            },
            now_ns: 9,
        },
        MetaOp::AbortUpload { bucket: bucket(), key: key(), upload_id: upload_id() },
        MetaOp::ForgetGarbage { entries: vec![(10, ChunkId([1; 16]))] },
        MetaOp::ReplaceKeys {
            bucket: bucket(),
            updates: vec![KeyUpdate {
                key: key(),
                rank: 11,
                last_modified_ns: 12,
                layout: DataLayout::Chunks(vec![chunk(4), chunk(5)]),
            }],
        },
        MetaOp::Shred { bucket: bucket(), versions: vec![(key(), 13)], key_id: "kek-2".into() },
        MetaOp::Expire { bucket: bucket(), key: key(), expiry: crate::lifecycle::Expiry::Noncurrent { rank: 14 } },
        MetaOp::UpdateBucket { bucket: bucket(), change: BucketChange::SetLifecycle(Some(lifecycle())) },
    ];
    ops.into_iter()
        .enumerate()
        .map(|(i, op)| Command {
            op,
            at_ms: 1_764_000_000_000 + i as u64,
            intent: (i % 2 == 0)
                .then(|| AuditIntent { key: format!("019ad0000000req{i}"), record: Bytes64(vec![b'{', b'}']) }),
        })
        .collect()
}

fn covered(commands: &[Command]) -> Vec<usize> {
    let mut seen: Vec<usize> = commands.iter().map(|c| variant(&c.op)).collect();
    seen.sort_unstable();
    seen.dedup();
    seen
}

#[test]
fn every_command_round_trips_through_its_serialised_form() {
    let commands = samples();
    assert_eq!(covered(&commands), (0..VARIANTS).collect::<Vec<_>>(), "every variant is sampled");
    for command in commands {
        let bytes = command.encode();
        assert_eq!(bytes[0], COMMAND_FORMAT_V1);
        let back = Command::decode(&bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
        assert_eq!(format!("{back:?}"), format!("{command:?}"), "decoded as it was encoded");
        assert_eq!(back.encode(), bytes, "re-encoded identically");
    }
}

#[test]
fn commands_written_by_v1_still_decode() {
    let frozen: Vec<serde_json::Value> = serde_json::from_str(FROZEN_V1).unwrap();
    let mut decoded = Vec::new();
    for value in frozen {
        let mut bytes = vec![COMMAND_FORMAT_V1];
        bytes.extend_from_slice(value.to_string().as_bytes());
        let command = Command::decode(&bytes).unwrap_or_else(|e| panic!("{e}: {value}"));
        // Nothing read is lost: the command encodes back to what was frozen.
        let again: serde_json::Value = serde_json::from_slice(&command.encode()[1..]).unwrap();
        assert_eq!(again, value);
        decoded.push(command);
    }
    assert_eq!(covered(&decoded), (0..VARIANTS).collect::<Vec<_>>(), "the fixture holds every variant");
}

#[test]
fn unknown_or_damaged_commands_are_refused() {
    let mut bytes = samples().remove(0).encode();
    assert!(matches!(Command::decode(&[]), Err(StoreError::Corrupt { .. })));
    bytes[0] = 2;
    assert!(matches!(Command::decode(&bytes), Err(StoreError::Corrupt { .. })), "a later format is not guessed at");
    bytes[0] = COMMAND_FORMAT_V1;
    bytes.truncate(bytes.len() - 2);
    assert!(matches!(Command::decode(&bytes), Err(StoreError::Corrupt { .. })));
}

/// Writes the fixture; run once when the format version changes (`-- --ignored`).
#[test]
#[ignore = "writes the frozen fixture"]
fn write_frozen_fixture() {
    let values: Vec<serde_json::Value> =
        samples().iter().map(|c| serde_json::from_slice(&c.encode()[1..]).unwrap()).collect();
    let text = serde_json::to_string_pretty(&values).unwrap();
    std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/commands-v1.json"), text + "\n").unwrap();
}

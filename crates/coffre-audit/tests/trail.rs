//! The audit trail end to end on disk: appends, checkpoints, recovery, retention, exports, and
//! every kind of tampering (edit, removal, insertion, reordering, truncation) caught and located
//! by verification, while an untouched trail and export verify.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use coffre_audit::{
    Actor, AuditConfig, AuditEvent, AuditLog, AuditSink, Export, IntentStore, Signer, export, verify_dir, verify_export,
};

struct Fixture {
    _tmp: tempfile::TempDir,
    audit: PathBuf,
    key: Arc<coffre_crypto::LocalKeyProvider>,
    public_key: String,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let provider = coffre_crypto::LocalKeyProvider::open_with_passphrase(&tmp.path().join("keys"), None).unwrap();
    let key = Arc::new(provider);
    let public_key = key.sign(b"x").unwrap().1;
    Fixture { audit: tmp.path().join("audit"), _tmp: tmp, key, public_key }
}

fn event(tenant: &str, i: usize) -> AuditEvent {
    AuditEvent {
        time: coffre_audit::now_rfc3339(),
        request_id: format!("req-{tenant}-{i}"),
        tenant: Some(tenant.to_owned()),
        interface: "s3".into(),
        actor: Actor {
            kind: "user".into(),
            tenant: Some(tenant.into()),
            user: Some("alice".into()),
            ..Default::default()
        },
        operation: if i.is_multiple_of(2) { "PutObject".into() } else { "GetObject".into() },
        bucket: Some(format!("{tenant}-bucket")),
        key: Some(format!("k{i}")),
        status: 200,
        bytes_in: i as u64,
        ..Default::default()
    }
}

fn config(dir: &Path) -> AuditConfig {
    let mut c = AuditConfig::new(dir.to_path_buf());
    c.checkpoint_records = 7;
    c.checkpoint_interval = Duration::from_secs(3600);
    c
}

/// Writes 40 records (alternating tenants acme/globex) and a final checkpoint.
async fn write_trail(f: &Fixture, config: AuditConfig) {
    let log = AuditLog::open(config, f.key.clone(), None).unwrap();
    for i in 0..40usize {
        let tenant = if i.is_multiple_of(3) { "globex" } else { "acme" };
        log.append(event(tenant, i)).await.unwrap();
    }
    log.checkpoint().await.unwrap();
    log.close();
}

fn segment(dir: &Path) -> PathBuf {
    let mut segments: Vec<_> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    segments.into_iter().find(|p| std::fs::metadata(p).unwrap().len() > 0).unwrap()
}

fn edit_lines(path: &Path, f: impl FnOnce(&mut Vec<String>)) {
    let mut lines: Vec<String> = std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect();
    f(&mut lines);
    std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() { copy_dir(&p, &dest) } else { std::fs::copy(&p, &dest).map(|_| ()).unwrap() }
    }
}

#[tokio::test]
async fn untouched_trail_verifies_and_every_tampering_is_located() {
    let f = fixture();
    write_trail(&f, config(&f.audit)).await;
    let report = verify_dir(&f.audit, &f.public_key).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.records, 40);
    assert!(report.checkpoints >= 5);

    type Tamper = Box<dyn Fn(&mut Vec<String>)>;
    let cases: Vec<(&str, Tamper, &str)> = vec![
        ("edit a byte", Box::new(|l| l[10] = l[10].replacen("alice", "alicf", 1)), "line 11"),
        ("remove a record", Box::new(|l| drop(l.remove(12))), "line 13"),
        ("insert a record", Box::new(|l| l.insert(5, l[4].clone())), "line 6"),
        ("swap two records", Box::new(|l| l.swap(20, 21)), "line 21"),
        ("truncate", Box::new(|l| l.truncate(30)), "truncated"),
    ];
    for (what, tamper, place) in cases {
        let copy = f._tmp.path().join(format!("copy-{}", what.replace(' ', "-")));
        copy_dir(&f.audit, &copy);
        edit_lines(&segment(&copy), tamper);
        let report = verify_dir(&copy, &f.public_key).unwrap();
        assert!(!report.ok(), "{what}: not detected");
        assert!(report.problems.iter().any(|p| p.contains(place)), "{what}: {:?}", report.problems);
    }
    // Re-chaining everything after an edit does not help: the signed roots no longer match.
    let wrong_key = fixture().public_key;
    let report = verify_dir(&f.audit, &wrong_key).unwrap();
    assert!(report.problems.iter().any(|p| p.contains("signature")), "{:?}", report.problems);
}

/// Goal: a record already durable in its audit intent (a change's) is reported recorded, so
/// that its intent may be forgotten, only once it is durable in the trail too; records reach the
/// trail in the order they were queued, whether or not a caller waits for them.
#[tokio::test]
async fn deferred_records_release_their_intents_only_once_durable_and_keep_their_order() {
    let f = fixture();
    let mut c = config(&f.audit);
    c.checkpoint_records = 1_000_000;
    let log = AuditLog::open(c, f.key.clone(), None).unwrap();
    log.append_deferred(event("acme", 0), "intent-0".into()).unwrap();
    log.append_deferred(event("acme", 1), "intent-1".into()).unwrap();
    assert!(log.take_recorded().is_empty(), "recorded before any sync");
    // A record whose caller waits is synced with everything queued before it.
    log.append(event("acme", 2)).await.unwrap();
    assert_eq!(log.take_recorded(), ["intent-0", "intent-1"]);
    log.append_deferred(event("acme", 3), "intent-3".into()).unwrap();
    assert!(log.take_recorded().is_empty(), "recorded before any sync");
    log.flush().await.unwrap();
    assert_eq!(log.take_recorded(), ["intent-3"]);
    log.checkpoint().await.unwrap();
    log.close();
    let order = exported_request_ids(&f, "acme");
    assert_eq!(order, ["req-acme-0", "req-acme-1", "req-acme-2", "req-acme-3"]);
}

/// The metadata store's intents table, in memory: key -> (commit time, unix ms; record JSON).
#[derive(Default)]
struct Intents(std::sync::Mutex<std::collections::BTreeMap<String, (u64, Vec<u8>)>>);

#[async_trait::async_trait]
impl IntentStore for Intents {
    fn pending(&self, before_ms: u64) -> Result<Vec<(String, Vec<u8>)>, String> {
        let table = self.0.lock().unwrap();
        Ok(table.iter().filter(|(_, (at, _))| *at < before_ms).map(|(k, (_, r))| (k.clone(), r.clone())).collect())
    }

    async fn forget(&self, keys: Vec<String>) -> Result<(), String> {
        let mut table = self.0.lock().unwrap();
        for key in keys {
            table.remove(&key);
        }
        Ok(())
    }
}

/// Goal: every committed change is in the trail exactly once. Its record queued after the
/// response releases its intent (by the intent's key) before the sweep looks for orphans; an
/// intent whose request never recorded is recorded from itself, once, and forgotten.
#[tokio::test]
async fn each_committed_change_is_recorded_once_whether_from_its_request_or_its_intent() {
    let f = fixture();
    let log = AuditLog::open(config(&f.audit), f.key.clone(), None).unwrap();
    let intents = Arc::new(Intents::default());
    // Both intents are older than any orphan age (committed at time 0).
    for (key, i) in [("0001-answered", 0), ("0002-orphaned", 1)] {
        intents.0.lock().unwrap().insert(key.into(), (0, serde_json::to_vec(&event("acme", i)).unwrap()));
    }
    let sink = AuditSink::new(Arc::clone(&log), intents.clone(), Duration::ZERO);
    sink.record_committed(event("acme", 0), "0001-answered".into());
    sink.flush().await;
    for _ in 0..2 {
        sink.sweep(false).await;
    }
    assert!(intents.0.lock().unwrap().is_empty(), "every intent forgotten");
    log.checkpoint().await.unwrap();
    let ids = exported_request_ids(&f, "acme");
    assert_eq!(ids, ["req-acme-0", "req-acme-1"], "each change once");
    log.close();
}

/// A signing key that cannot sign (e.g. its sealed file is unreadable).
struct BrokenKey;

impl Signer for BrokenKey {
    fn sign(&self, _message: &[u8]) -> Result<(String, String), String> {
        Err("the sealed key cannot be opened".into())
    }
}

/// Goal: a trail whose checkpoints could not be signed is never started; the node finds out
/// when it opens the log, not at its first checkpoint under load.
#[test]
fn a_log_whose_key_cannot_sign_does_not_open() {
    let f = fixture();
    let Err(e) = AuditLog::open(config(&f.audit), Arc::new(BrokenKey), None) else {
        panic!("opened with a key that cannot sign");
    };
    assert!(e.to_string().contains("cannot be opened"), "{e}");
    assert!(AuditLog::open(config(&f.audit), f.key.clone(), None).is_ok());
}

#[tokio::test]
async fn restart_continues_the_chain_and_cuts_a_torn_append() {
    let f = fixture();
    write_trail(&f, config(&f.audit)).await;
    // A crash in the middle of an append leaves half a line, never acknowledged.
    let seg = segment(&f.audit);
    let mut text = std::fs::read_to_string(&seg).unwrap();
    text.push_str("40\tdeadbeef\tpartial");
    std::fs::write(&seg, text).unwrap();
    let log = AuditLog::open(config(&f.audit), f.key.clone(), None).unwrap();
    assert_eq!(log.append(event("acme", 99)).await.unwrap(), 40);
    log.checkpoint().await.unwrap();
    log.close();
    let report = verify_dir(&f.audit, &f.public_key).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.records, 41);
}

/// Closed segments leave a summary so a restart does not read them again; a damaged summary
/// is ignored (the segment is read), and either way the chain continues unbroken.
#[tokio::test]
async fn restart_uses_segment_summaries_and_survives_damaged_ones() {
    let f = fixture();
    let mut c = config(&f.audit);
    c.segment_bytes_max = 3000;
    write_trail(&f, c.clone()).await;
    let summaries = || {
        std::fs::read_dir(f.audit.join("segments"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "summary"))
            .collect::<Vec<_>>()
    };
    assert!(summaries().len() >= 2, "closed segments are summarised");
    let log = AuditLog::open(c.clone(), f.key.clone(), None).unwrap();
    assert_eq!(log.append(event("acme", 200)).await.unwrap(), 40);
    log.close();
    for s in summaries() {
        std::fs::write(&s, b"{ not a summary").unwrap();
    }
    let log = AuditLog::open(c, f.key.clone(), None).unwrap();
    assert_eq!(log.append(event("globex", 201)).await.unwrap(), 41);
    log.close();
    let report = verify_dir(&f.audit, &f.public_key).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.records, 42);
}

#[tokio::test]
async fn retention_drops_whole_segments_and_says_so() {
    let f = fixture();
    let mut c = config(&f.audit);
    c.segment_bytes_max = 2000;
    write_trail(&f, c.clone()).await;
    let before = std::fs::read_dir(f.audit.join("segments")).unwrap().count();
    c.retention = Some(Duration::ZERO);
    let log = AuditLog::open(c, f.key.clone(), None).unwrap();
    log.append(event("acme", 100)).await.unwrap();
    log.checkpoint().await.unwrap();
    log.close();
    let after = std::fs::read_dir(f.audit.join("segments")).unwrap().count();
    assert!(after < before, "{before} segments before, {after} after");
    let report = verify_dir(&f.audit, &f.public_key).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert!(report.records > 41, "dropped records still count by their hashes");
    // Dropping segments without the trail saying so is tampering.
    let sneaky = f._tmp.path().join("sneaky");
    copy_dir(&f.audit, &sneaky);
    for entry in std::fs::read_dir(sneaky.join("segments")).unwrap() {
        let p = entry.unwrap().path();
        edit_lines(&p, |l| l.retain(|line| !line.contains("AuditRetention")));
    }
    let report = verify_dir(&sneaky, &f.public_key).unwrap();
    assert!(!report.ok());
}

fn tenant_export(f: &Fixture, tenant: &str) -> Export {
    export(&f.audit, tenant, None, None, f.key.as_ref()).unwrap()
}

/// The request ids of a tenant's exported records, in trail order.
fn exported_request_ids(f: &Fixture, tenant: &str) -> Vec<String> {
    let records = tenant_export(f, tenant).records;
    records
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.record).unwrap()["request_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn tenant_export_verifies_offline_and_tampering_is_located() {
    let f = fixture();
    write_trail(&f, config(&f.audit)).await;
    let e = tenant_export(&f, "acme");
    assert_eq!(e.records.len(), (0..40).filter(|i: &usize| !i.is_multiple_of(3)).count());
    assert!(e.records.iter().all(|r| !r.record.contains("globex")), "another tenant's record leaked");
    let json = serde_json::to_string(&e).unwrap();
    assert!(!json.contains("globex"));
    assert!(verify_export(&e, &f.public_key).is_empty(), "{:?}", verify_export(&e, &f.public_key));

    type Change = Box<dyn Fn(&mut Export)>;
    let tamper: Vec<(&str, Change, &str)> = vec![
        ("edit", Box::new(|e| e.records[3].record = e.records[3].record.replace("alice", "mallory")), "edited"),
        ("remove", Box::new(|e| drop(e.records.remove(4))), "removed"),
        ("insert", Box::new(|e| e.records.insert(2, e.records[1].clone())), "follow"),
        ("swap", Box::new(|e| e.records.swap(5, 6)), "follow"),
        ("truncate", Box::new(|e| e.records.truncate(10)), "seal"),
    ];
    for (what, change, expected) in tamper {
        let mut copy = e.clone();
        change(&mut copy);
        let problems = verify_export(&copy, &f.public_key);
        assert!(problems.iter().any(|p| p.contains(expected)), "{what}: {problems:?}");
    }
    let other_key = fixture().public_key;
    assert!(!verify_export(&e, &other_key).is_empty());
}

//! What the audit writer spends per record, apart from the disk: typical GET records appended
//! in batches of 1, 4 and 32 (the batch sizes a loaded node sees) into a fresh trail, with
//! `fdatasync` skipped so that the figure is CPU only (serialising, hashing, the Merkle
//! frontier, the write into the page cache). Rounds alternate the batch sizes so that machine
//! noise hits each alike. Usage:
//!
//! ```sh
//! cargo run --release -p coffre-audit --example append_cost -- [RECORDS_PER_ROUND] [ROUNDS]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use coffre_audit::{Actor, AuditConfig, AuditEvent, AuditLog};

fn get_record(i: usize) -> AuditEvent {
    AuditEvent {
        time: coffre_audit::now_rfc3339(),
        request_id: format!("{i:016X}"),
        tenant: Some("acme".into()),
        interface: "s3".into(),
        actor: Actor {
            kind: "user".into(),
            tenant: Some("acme".into()),
            user: Some("reader".into()),
            access_key_id: Some("CFAKACME0000000000001".into()),
        },
        source_ip: Some("127.0.0.1".into()),
        operation: "GetObject".into(),
        bucket: Some("invoices".into()),
        key: Some(format!("2026/12/{i:08}.pdf")),
        status: 200,
        bytes_out: 4096,
        kms_key: Some("acme-key-1".into()),
        ..Default::default()
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let per_round: usize = args.next().map_or(20_000, |a| a.parse().expect("RECORDS_PER_ROUND"));
    let rounds: usize = args.next().map_or(3, |a| a.parse().expect("ROUNDS"));
    let tmp = tempfile::tempdir().unwrap();
    let keys = coffre_crypto::LocalKeyProvider::open_with_passphrase(&tmp.path().join("keys"), None).unwrap();
    let mut config = AuditConfig::new(tmp.path().join("audit"));
    config.dangerous_skip_fsync = true;
    // Checkpoints are signed with a throwaway key: signing is not what is measured.
    let log = AuditLog::open(config, Arc::new(keys), None).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut next = 0usize;
    for round in 1..=rounds {
        for batch in [1usize, 4, 32] {
            let batches = per_round / batch;
            let records: Vec<Vec<(AuditEvent, String)>> = (0..batches)
                .map(|_| {
                    (0..batch)
                        .map(|_| {
                            next += 1;
                            (get_record(next), format!("intent-{next}"))
                        })
                        .collect()
                })
                .collect();
            let started = Instant::now();
            for records in records {
                for (event, intent) in records {
                    log.append_deferred(event, intent).unwrap();
                }
                runtime.block_on(log.flush()).unwrap();
            }
            let per_record = started.elapsed().as_secs_f64() * 1e6 / (batches * batch) as f64;
            log.take_recorded();
            println!("round {round} batch {batch:>2}: {per_record:.2} us per record");
        }
    }
}

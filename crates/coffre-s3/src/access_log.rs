//! S3 server access logging (PutBucketLogging): the audit records of requests to a bucket with
//! logging enabled are delivered, in the S3 server access log format, as objects in the target
//! bucket the tenant named, so tools that read S3 access logs read these.
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/LogFormat.html>
//!
//! Delivery is best effort and periodic, as in S3: records are collected once durable in the
//! audit trail (which is the record that counts) and written every flush interval.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use coffre_audit::Record;
use coffre_store::records::BucketLogging;
use coffre_store::{
    BucketName, Encryption, KeyWrap, ObjectAttributes, ObjectKey, PermitIssuer, Store, VersionLock, WriteCondition,
};

use crate::access::BucketAccessCache;

/// The S3 operation name the access log uses (`REST.GET.OBJECT`).
fn log_operation(operation: &str) -> String {
    if let Some(op) = crate::operation::S3Op::from_name(operation) {
        return op.access_log_name().to_owned();
    }
    // Operations Coffre does not implement (501), and requests refused before s3s named
    // them: REST.<METHOD>.<SUBRESOURCE>, from the name's verb and noun.
    let split = operation.find(|c: char| c.is_ascii_uppercase() && operation.find(c) != Some(0)).unwrap_or(0);
    let (verb, noun) = operation.split_at(split);
    let method = match verb {
        "Get" | "List" => "GET",
        "Put" | "Create" => "PUT",
        "Delete" => "DELETE",
        "Head" => "HEAD",
        _ => "POST",
    };
    let mut snake = String::new();
    for (i, c) in noun.trim_start_matches("Bucket").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            snake.push('_');
        }
        snake.push(c.to_ascii_uppercase());
    }
    format!("REST.{method}.{}", if snake.is_empty() { "BUCKET".to_owned() } else { snake })
}

/// `[06/Feb/2019:00:00:38 +0000]` from an RFC 3339 time.
fn log_time(rfc3339: &str) -> String {
    let parsed = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339);
    let format = time::macros::format_description!("[[[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000]");
    parsed.ok().and_then(|t| t.format(&format).ok()).unwrap_or_else(|| "[-]".to_owned())
}

fn dash(v: Option<&str>) -> String {
    match v {
        Some(s) if !s.is_empty() => s.replace(' ', "%20"),
        _ => "-".to_owned(),
    }
}

/// One access log line for a record of a request to its bucket.
pub fn format_line(record: &Record, owner_id: &str) -> String {
    let e = &record.event;
    let operation = log_operation(&e.operation);
    let method = operation.split('.').nth(1).unwrap_or("GET");
    let method = if method == "COPY" { "PUT" } else { method };
    let bucket = e.bucket.as_deref().unwrap_or("-");
    let uri = match &e.key {
        Some(k) => format!("{method} /{bucket}/{} HTTP/1.1", k.replace(' ', "%20")),
        None => format!("{method} /{bucket} HTTP/1.1"),
    };
    let requester = match (&e.actor.tenant, &e.actor.user) {
        (Some(t), Some(u)) => format!("arn:aws:iam::{t}:user/{u}"),
        (None, Some(u)) => format!("arn:coffre:iam:::operator/{u}"),
        _ => "-".to_owned(),
    };
    let bytes_sent = if e.bytes_out > 0 { e.bytes_out.to_string() } else { "-".to_owned() };
    let object_size = if e.bytes_in > 0 { e.bytes_in.to_string() } else { "-".to_owned() };
    let auth = if e.actor.access_key_id.is_some() { "AuthHeader" } else { "-" };
    format!(
        "{owner_id} {bucket} {} {} {requester} {} {operation} {} \"{uri}\" {} {} {bytes_sent} {object_size} - - \"-\" \"-\" {} {} SigV4 - {auth} - - - -",
        log_time(&e.time),
        dash(e.source_ip.as_deref()),
        e.request_id,
        dash(e.key.as_deref()),
        e.status,
        dash(e.error_code.as_deref()),
        dash(e.version_id.as_deref()),
        e.request_id,
    )
}

/// The bucket's logging target and its owner's canonical id, if logging is on. From the
/// authorisation cache, which follows each committed PutBucketLogging: a change applies from the next
/// request on, and a record of an unlogged bucket costs a map lookup.
fn target_of(buckets: &BucketAccessCache, store: &Store, bucket: &str) -> Option<(BucketLogging, String)> {
    let access = buckets.get(store, &BucketName::parse(bucket).ok()?).ok()??;
    let logging = access.logging.clone()?;
    Some((logging, access.owner.clone()))
}

/// Server access log delivery, a background worker: collects the records of logged buckets
/// and writes them to their targets every `interval`, and what it holds when it is stopped.
pub struct Delivery {
    pub store: Arc<Store>,
    pub buckets: Arc<BucketAccessCache>,
    pub permits: PermitIssuer,
    pub interval: Duration,
}

/// Log lines waiting, by (target bucket, prefix, owning tenant of the logged bucket).
type Pending = HashMap<(String, String, String), String>;

impl Delivery {
    /// Runs until `stop` (or until the audit trail closes its end of `records`).
    pub async fn run(
        self,
        mut records: tokio::sync::mpsc::Receiver<Record>,
        status: coffre_store::worker::WorkerHandle,
        stop: coffre_store::worker::CancellationToken,
    ) {
        let mut pending = Pending::new();
        let mut tick = tokio::time::interval(self.interval);
        tick.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                record = records.recv() => {
                    let Some(record) = record else { break };
                    self.collect(&mut pending, &record);
                }
                _ = tick.tick() => self.flush(&mut pending, &status).await,
            }
        }
        // Records already durable when the server stops still reach their targets.
        while let Ok(record) = records.try_recv() {
            self.collect(&mut pending, &record);
        }
        self.flush(&mut pending, &status).await;
    }

    fn collect(&self, pending: &mut Pending, record: &Record) {
        if record.event.interface != "s3" {
            return;
        }
        let Some(bucket) = record.event.bucket.as_deref() else { return };
        if let Some((target, owner)) = target_of(&self.buckets, &self.store, bucket) {
            let line = format_line(record, &crate::service::canonical_id(Some(&owner)));
            let lines = pending.entry((target.target_bucket, target.target_prefix, owner)).or_default();
            lines.push_str(&line);
            lines.push('\n');
        }
    }

    async fn flush(&self, pending: &mut Pending, status: &coffre_store::worker::WorkerHandle) {
        status.update(|s| s.passes += 1);
        for ((bucket, prefix, owner), lines) in pending.drain() {
            match write_log_object(&self.store, &self.permits, (&bucket, &owner), &prefix, lines).await {
                Ok(()) => status.count("log_objects_written", 1),
                Err(e) => {
                    tracing::warn!(bucket, error = %e, "server access log delivery failed");
                    status.failed(&e);
                }
            }
        }
    }
}

/// Writes one log object into `target`, a bucket of `owner` (the logged bucket's tenant): the
/// write PutBucketLogging authorised, into a bucket that must still be that tenant's (a target
/// deleted and re-created by another tenant gets nothing).
async fn write_log_object(
    store: &Store,
    permits: &PermitIssuer,
    (target, owner): (&str, &str),
    prefix: &str,
    lines: String,
) -> Result<(), String> {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year]-[month]-[day]-[hour]-[minute]-[second]");
    let name = format!("{prefix}{}-{:016X}", now.format(&format).map_err(|e| e.to_string())?, crate::front::rand_u64());
    let key = ObjectKey::parse(&name).map_err(|e| e.to_string())?;
    let bucket = BucketName::parse(target).map_err(|e| e.to_string())?;
    let record = store.bucket(&bucket).map_err(|e| e.to_string())?;
    if record.owner.as_deref().unwrap_or(crate::access::LEGACY_OWNER) != owner {
        return Err(format!("the target bucket is no longer owned by tenant {owner}"));
    }
    let encryption = record.default_encryption.unwrap_or_else(|| Encryption::sse_s3(store.default_key_id()));
    let body = futures::stream::iter([Ok::<Bytes, coffre_store::BodyError>(Bytes::from(lines))]);
    let staged =
        store.stage(body, None, true, KeyWrap::Provider(&encryption.key_id)).await.map_err(|e| e.to_string())?;
    let mut attributes = ObjectAttributes::default();
    attributes.headers.content_type = Some("text/plain".to_owned());
    let permit = permits.object("s3:PutObject", bucket, key);
    let lock = VersionLock::default();
    store
        .put_object(&permit, staged, attributes, encryption, WriteCondition::None, lock)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_follow_the_log_format() {
        assert_eq!(log_operation("GetObject"), "REST.GET.OBJECT");
        assert_eq!(log_operation("PutBucketPolicy"), "REST.PUT.BUCKETPOLICY");
        assert_eq!(log_operation("PutBucketVersioning"), "REST.PUT.VERSIONING");
        assert_eq!(log_operation("GetBucketAcl"), "REST.GET.ACL");
        assert_eq!(log_time("2019-02-06T00:00:38.123Z"), "[06/Feb/2019:00:00:38 +0000]");
    }
}

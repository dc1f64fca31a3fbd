//! The Coffre object engine: buckets, objects, multipart uploads, their metadata (redb) and
//! the data path (chunk files). It knows nothing of HTTP or XML; `coffre-s3` translates.
//!
//! Durability contract (DESIGN.md): object data is fsynced, then the metadata commit is
//! fsynced, then the call returns. A crash at any point leaves the old object or the new one.

#![forbid(unsafe_code)]

pub mod blob;
mod bucket_settings;
pub mod changes;
pub mod checksum;
mod db_slot;
pub mod error;
pub mod intent;
pub mod lifecycle;
pub mod limits;
pub mod meta;
pub mod names;
pub mod permit;
pub mod records;
pub mod space;
pub mod worker;

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::Stream;

pub use crate::blob::{BodyError, KeyWrap, StagedData};
pub use crate::checksum::{Checksum, ChecksumAlgorithm, ChecksumType};
pub use crate::error::{StoreError, StoreResult};
pub use crate::meta::{
    CompleteRequest, CompletedPart, Deletion, ListEntry, ListPage, ListQuery, ListedObject, VersionEntry, VersionPage,
    VersionQuery, WriteCondition,
};
pub use crate::names::{BucketName, ObjectKey, PartNumber, UploadId, VersionId};
pub use crate::permit::{Permit, PermitIssuer};
pub use crate::records::{
    BucketRecord, ContentHeaders, DataLayout, DefaultRetention, DeleteMarker, Encryption, ObjectAttributes, ObjectLock,
    ObjectRecord, PartRecord, PublicAccessBlock, Quota, Retention, RetentionMode, RetentionPeriod, SealedInline,
    SseMode, UnixNanos, UploadRecord, Usage, Version, VersionLock, Versioning,
};
pub use coffre_crypto::CryptoError;
pub use coffre_crypto::{CustomerKey, CustomerKeyError};

use crate::blob::{BlobStore, Published};
pub use crate::changes::{AttributesChange, BucketChange};
pub use crate::lifecycle::{Expiry, LifecycleConfiguration, LifecycleDay};
use crate::limits::PART_SIZE_BYTES_MAX;
use crate::meta::{MetaOp, MetaStore};
use coffre_crypto::KeyProvider;

/// How the engine is set up.
#[derive(Clone)]
pub struct StoreConfig {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Benchmark-only: `true` skips every fsync. Never set in production.
    pub dangerous_skip_fsync: bool,
    /// Where key-encryption keys live; every data key is wrapped by one of them.
    pub keys: Arc<dyn KeyProvider>,
    /// Memory for the metadata database's page cache, in bytes (see
    /// [`limits::METADATA_CACHE_BYTES_DEFAULT`]).
    pub metadata_cache_bytes: usize,
    /// Free disk space new object data must leave.
    pub disk_reserve: space::Reserve,
}

/// An object version read from the metadata, with its inline bytes if it has them.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// The record.
    pub record: ObjectRecord,
    inline: Bytes,
}

/// The bytes of an object, streamed.
pub type ObjectStream = std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static>>;

/// The object engine.
pub struct Store {
    space: Arc<space::SpaceGuard>,
    meta: MetaStore,
    blobs: BlobStore,
    keys: Arc<dyn KeyProvider>,
    started: SystemTime,
    /// Whether [`Store::take_permit_issuer`] handed the issuer out.
    issuer_taken: std::sync::atomic::AtomicBool,
    /// What reads need of every bucket (see [`Store::lifecycle`], [`Store::versioning`]).
    bucket_settings: Arc<bucket_settings::SettingsCache>,
}

/// Iterates over all object versions, bucket by bucket, 256 at a time.
struct VersionBatches<'a> {
    meta: &'a MetaStore,
    /// Buckets left, the current one last.
    buckets: Vec<String>,
    after: Option<(String, u64)>,
}

impl Iterator for VersionBatches<'_> {
    type Item = StoreResult<(String, Vec<meta::ScannedVersion>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let bucket = self.buckets.last()?.clone();
            match self.meta.scan_versions(&bucket, self.after.as_ref(), 256) {
                // A bucket deleted meanwhile has nothing left to visit.
                Err(StoreError::NoSuchBucket) => {}
                Err(e) => return Some(Err(e)),
                Ok(batch) => {
                    if let Some(last) = batch.last() {
                        self.after = Some((last.key.clone(), last.rank));
                        return Some(Ok((bucket, batch)));
                    }
                }
            }
            self.buckets.pop();
            self.after = None;
        }
    }
}

/// Current time in nanoseconds since the epoch.
pub fn now_ns() -> UnixNanos {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

impl Store {
    /// Opens the engine on its data directory, creating what is missing, and collects what
    /// interrupted writes left in the temporary area.
    pub fn open(config: &StoreConfig) -> StoreResult<Arc<Store>> {
        std::fs::create_dir_all(&config.data_dir).map_err(StoreError::io("create the data directory"))?;
        let blobs = BlobStore::open(&config.data_dir, !config.dangerous_skip_fsync, Arc::clone(&config.keys))?;
        let space = Arc::new(space::SpaceGuard::new(&config.data_dir, config.disk_reserve));
        let meta = MetaStore::open(
            &config.data_dir.join("meta.redb"),
            !config.dangerous_skip_fsync,
            config.metadata_cache_bytes,
            Arc::clone(&space),
        )?;
        let bucket_settings = bucket_settings::SettingsCache::follow(&meta)?;
        Ok(Arc::new(Store {
            space,
            bucket_settings,
            meta,
            blobs,
            keys: Arc::clone(&config.keys),
            started: SystemTime::now(),
            issuer_taken: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// The issuer of [`Permit`]s, for the process's authorisers: handed out once (the server
    /// gives it to its authorisers at start), `None` after that.
    pub fn take_permit_issuer(&self) -> Option<PermitIssuer> {
        let taken = self.issuer_taken.swap(true, std::sync::atomic::Ordering::AcqRel);
        (!taken).then(PermitIssuer::new)
    }

    /// `Ok` while the engine takes writes; otherwise why not (disk below its reserved floor,
    /// metadata database failed), for `/health`.
    pub fn writability(&self) -> Result<(), String> {
        self.space.writability()
    }

    /// The garbage collector, as a worker of `board`: the orphan sweep (once, at start), then
    /// every half second a bounded step that deletes chunk files whose grace period ended.
    pub fn start_garbage_collector(self: &Arc<Self>, board: &worker::WorkerBoard) {
        let store = Arc::clone(self);
        board.spawn("garbage-collector", |status, stop| async move {
            status.update(|s| s.state = worker::WorkerState::Running);
            let sweeper = Arc::clone(&store);
            let swept = tokio::task::spawn_blocking(move || {
                let known = sweeper.meta.known_chunks()?;
                sweeper.blobs.sweep_orphans(&known, sweeper.started)
            })
            .await;
            match swept {
                Ok(Ok(n)) => {
                    if n > 0 {
                        tracing::info!(removed = n, "swept orphaned chunk files");
                    }
                    status.count("orphans_swept", n as u64);
                }
                Ok(Err(e)) => status.failed(&format!("orphan sweep: {e}")),
                Err(e) => status.failed(&format!("orphan sweep panicked: {e}")),
            }
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                status.update(|s| s.state = worker::WorkerState::Idle);
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let step = store.collect_garbage().await;
                status.update(|s| s.passes += 1);
                match step {
                    Ok(n) => status.count("chunks_deleted", n as u64),
                    Err(e) => {
                        tracing::warn!(error = %e, "garbage collection step failed");
                        status.failed(&e);
                    }
                }
            }
        });
    }

    /// One bounded step of garbage collection: deletes chunk files whose grace period ended.
    pub async fn collect_garbage(&self) -> StoreResult<usize> {
        let now_ms = u64::try_from(now_ns() / 1_000_000).unwrap_or(0);
        let due = self.meta.garbage_due(now_ms, 256)?;
        if due.is_empty() {
            return Ok(0);
        }
        for (_, id) in &due {
            self.blobs.delete(*id).await?;
        }
        let n = due.len();
        self.meta.apply(MetaOp::ForgetGarbage { entries: due }).await?;
        Ok(n)
    }

    // ---- buckets

    /// Creates the permit's bucket, owned by the tenant `owner`; with `object_lock`, Object
    /// Lock is on from the start (and so is versioning).
    pub async fn create_bucket(
        &self,
        permit: &Permit,
        location: Option<String>,
        owner: Option<String>,
        (public_read, object_lock): (bool, bool),
    ) -> StoreResult<()> {
        let bucket = permit.for_bucket(&["s3:CreateBucket"])?;
        let mut record = BucketRecord::new(now_ns(), location, owner);
        record.public_read = public_read;
        if object_lock {
            record.versioning = Some(Versioning::Enabled);
            record.object_lock = Some(ObjectLock::default());
        }
        self.meta.apply(MetaOp::CreateBucket { bucket: bucket.as_str().to_owned(), record }).await?;
        Ok(())
    }

    /// Changes a bucket's record (policy, ACL, public access block, quota, encryption) in one
    /// commit; `change` may refuse with an error, and then nothing changes.
    pub async fn update_bucket(&self, permit: &Permit, change: BucketChange) -> StoreResult<()> {
        let bucket = permit.for_bucket(change.actions())?;
        self.meta.apply(MetaOp::UpdateBucket { bucket: bucket.as_str().to_owned(), change }).await?;
        Ok(())
    }

    /// What a bucket's current objects hold.
    pub fn usage(&self, bucket: &BucketName) -> StoreResult<Usage> {
        self.meta.usage(bucket.as_str())
    }

    /// Audit intents committed before `before_ms` (unix ms), see [`intent`].
    pub fn audit_intents(&self, before_ms: u64) -> StoreResult<Vec<(String, Vec<u8>)>> {
        self.meta.audit_intents(before_ms)
    }

    /// Forgets audit intents whose records are in the audit trail.
    pub async fn forget_audit_intents(&self, keys: Vec<String>) -> StoreResult<()> {
        if !keys.is_empty() {
            self.meta.apply(MetaOp::ForgetAuditIntents { keys }).await?;
        }
        Ok(())
    }

    /// Every identity record (see `coffre-iam`).
    pub fn iam_records(&self) -> StoreResult<Vec<(String, Vec<u8>)>> {
        self.meta.iam_records()
    }

    /// Durably writes and removes identity records, all in one commit.
    pub async fn write_iam(&self, changes: Vec<(String, Option<Vec<u8>>)>) -> StoreResult<()> {
        let changes = changes.into_iter().map(|(key, record)| (key, record.map(meta::Bytes64))).collect();
        self.meta.apply(MetaOp::WriteIam { changes }).await?;
        Ok(())
    }

    /// Deletes the permit's bucket, if empty (aborting its unfinished uploads).
    pub async fn delete_bucket(&self, permit: &Permit) -> StoreResult<()> {
        let bucket = permit.for_bucket(&["s3:DeleteBucket"])?;
        self.meta.apply(MetaOp::DeleteBucket { bucket: bucket.as_str().to_owned() }).await?;
        Ok(())
    }

    /// Tells `observer` of every change to a bucket's record committed from now on, in commit
    /// order and before the change is acknowledged (see [`meta::BucketObserver`]): how caches
    /// outside the engine stay in step with what was applied.
    pub fn observe_buckets(&self, observer: meta::BucketObserver) {
        self.meta.observe(observer);
    }

    /// A bucket's versioning state, from memory (`None`: it never had versioning, or does not
    /// exist).
    pub fn versioning(&self, bucket: &BucketName) -> Option<Versioning> {
        self.bucket_settings.get(bucket.as_str()).and_then(|s| s.versioning)
    }

    /// A bucket's record.
    pub fn bucket(&self, bucket: &BucketName) -> StoreResult<BucketRecord> {
        self.meta.bucket(bucket.as_str())?.ok_or(StoreError::NoSuchBucket)
    }

    /// All buckets by name.
    pub fn buckets(&self) -> StoreResult<Vec<(BucketName, BucketRecord)>> {
        Ok(self.meta.buckets()?.into_iter().map(|(name, record)| (BucketName::stored(name), record)).collect())
    }

    // ---- objects

    /// Receives, hashes and seals a body, its data key wrapped as `wrap` says (see
    /// [`BlobStore::stage`]).
    pub async fn stage<S>(
        &self,
        body: S,
        algorithm: Option<ChecksumAlgorithm>,
        inline_allowed: bool,
        wrap: KeyWrap<'_>,
    ) -> StoreResult<StagedData>
    where
        S: Stream<Item = Result<Bytes, BodyError>> + Unpin,
    {
        // Refused before a byte of the body is read (and so before any `100 Continue`).
        self.space.check_data_write()?;
        self.blobs.stage(body, algorithm, inline_allowed, PART_SIZE_BYTES_MAX, wrap).await
    }

    /// Checks an SSE-C key against how an object (or upload) is encrypted: required and
    /// matching for SSE-C data, refused for anything else.
    pub fn check_customer_key(&self, encryption: &Encryption, customer: Option<&CustomerKey>) -> StoreResult<()> {
        match (&encryption.customer, customer) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(StoreError::SseCustomerKeyNotApplicable),
            (Some(_), None) => Err(StoreError::SseCustomerKeyRequired),
            (Some(fp), Some(k)) if k.matches(fp) => Ok(()),
            (Some(_), Some(_)) => Err(StoreError::SseCustomerKeyMismatch),
        }
    }

    /// Commits staged data as the new current version of the permit's key, if `condition`
    /// holds at commit.
    pub async fn put_object(
        &self,
        permit: &Permit,
        mut staged: StagedData,
        attributes: ObjectAttributes,
        encryption: Encryption,
        condition: WriteCondition,
        lock: records::VersionLock,
    ) -> StoreResult<ObjectRecord> {
        let (bucket, key) = permit.for_object(&["s3:PutObject"])?;
        // Fail fast before publishing data into a bucket that does not exist.
        self.bucket(bucket)?;
        let (layout, inline) = match self.blobs.publish(&mut staged).await? {
            Published::Chunk(chunk) => (DataLayout::Chunks(vec![chunk]), Vec::new()),
            Published::Inline { sealed, seal } => (DataLayout::Inline(seal), sealed),
        };
        let published = match &layout {
            DataLayout::Chunks(chunks) => chunks.clone(),
            DataLayout::Inline(_) => Vec::new(),
        };
        let record = ObjectRecord {
            version_id: None,
            size_bytes: staged.size_bytes(),
            etag: staged.digests.etag(),
            last_modified_ns: now_ns(),
            attributes,
            checksum: Some(staged.digests.object_checksum()),
            part_sizes: Vec::new(),
            layout,
            encryption,
            completed_upload: None,
            retention: lock.retention,
            legal_hold: lock.legal_hold,
        };
        let op = MetaOp::PutObject {
            bucket: bucket.as_str().to_owned(),
            key: key.as_str().to_owned(),
            record: Box::new(record),
            inline: meta::Bytes64(inline),
            condition,
        };
        self.commit_object(op, &published).await
    }

    async fn commit_object(&self, op: MetaOp, published: &[records::ChunkRef]) -> StoreResult<ObjectRecord> {
        match self.meta.apply(op).await {
            Ok(outcome) => outcome.object(),
            Err(e) => {
                // The data was published but is referenced by nothing: remove it now.
                for c in published {
                    let _ = self.blobs.delete(c.id).await;
                }
                Err(e)
            }
        }
    }

    /// A version of a key: the latest one, or the one named (`null`: the null version). A
    /// delete marker is not an object: [`StoreError::DeleteMarker`] says which it is.
    pub fn object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        version: Option<&VersionId>,
    ) -> StoreResult<StoredObject> {
        match self.meta.version(bucket.as_str(), key.as_str(), version)? {
            (records::Version::Object(record), inline) => {
                Ok(StoredObject { record: *record, inline: Bytes::from(inline) })
            }
            (records::Version::DeleteMarker(m), _) => {
                Err(StoreError::DeleteMarker { version_id: m.version_id, named: version.is_some() })
            }
        }
    }

    /// Streams a byte range of an object, decrypting only the segments it touches. Keys are
    /// checked before the first byte: a disabled or destroyed key fails here, not mid-body.
    pub fn read(
        &self,
        object: &StoredObject,
        range: Range<u64>,
        customer: Option<&CustomerKey>,
    ) -> StoreResult<ObjectStream> {
        self.check_customer_key(&object.record.encryption, customer)?;
        match &object.record.layout {
            DataLayout::Inline(seal) => {
                let piece = self.blobs.open_inline(&object.inline, seal, object.record.size_bytes, range, customer)?;
                Ok(Box::pin(futures::stream::once(async move { Ok(piece) })))
            }
            DataLayout::Chunks(chunks) => Ok(Box::pin(self.blobs.read(chunks, range, customer)?)),
        }
    }

    /// Checks that `key_id` can wrap data keys now (exists and is enabled).
    pub fn check_key(&self, key_id: &str) -> StoreResult<()> {
        self.keys.wrap(key_id, &coffre_crypto::DataKey::generate())?;
        Ok(())
    }

    /// Frees the data of every object whose key was destroyed (crypto-shredding aftermath).
    /// Returns how many object versions were shredded.
    pub async fn shred_key(&self, permit: &Permit, key_id: &str) -> StoreResult<u64> {
        permit.for_service(&[permit::actions::ADMINISTER_KEYS])?;
        let mut total = 0;
        for batch in self.version_batches()? {
            let (bucket, batch) = batch?;
            let versions: Vec<(String, u64)> = batch
                .iter()
                .filter(|v| v.object().is_some_and(|o| o.uses_key(key_id)))
                .map(|v| (v.key.clone(), v.rank))
                .collect();
            if !versions.is_empty() {
                let op = MetaOp::Shred { bucket, versions, key_id: key_id.to_owned() };
                total += self.meta.apply(op).await?.count()?;
            }
        }
        Ok(total)
    }

    /// Every object version of every bucket, in batches: the bounded steps of key
    /// administration's background work.
    fn version_batches(&self) -> StoreResult<VersionBatches<'_>> {
        Ok(VersionBatches {
            meta: &self.meta,
            buckets: self.meta.buckets()?.into_iter().map(|(b, _)| b).collect(),
            after: None,
        })
    }

    /// Re-wraps the data keys of every object under an older version of `key_id` with its
    /// current version, without touching the data. Calls `progress` with the number of object
    /// versions examined so far. Objects stay readable throughout: each record is replaced
    /// atomically, and only if it was not overwritten meanwhile.
    pub async fn rewrap_key(
        &self,
        permit: &Permit,
        key_id: &str,
        stop: &worker::CancellationToken,
        progress: impl Fn(u64),
    ) -> StoreResult<u64> {
        permit.for_service(&[permit::actions::ADMINISTER_KEYS])?;
        let mut examined = 0;
        let mut rewrapped = 0;
        for batch in self.version_batches()? {
            // Between batches every version is wrapped by some version of the key, all of
            // which stay usable: stopping here loses nothing.
            if stop.is_cancelled() {
                return Err(StoreError::ShuttingDown);
            }
            let (bucket, batch) = batch?;
            let mut updates = Vec::new();
            for (v, record) in batch.iter().filter_map(|v| Some((v, v.object()?))).filter(|(_, o)| o.uses_key(key_id)) {
                examined += 1;
                if let Some(layout) = self.rewrapped_layout(&record.layout, key_id)? {
                    updates.push(meta::KeyUpdate {
                        key: v.key.clone(),
                        rank: v.rank,
                        last_modified_ns: record.last_modified_ns,
                        layout,
                    });
                }
            }
            if !updates.is_empty() {
                rewrapped += self.meta.apply(MetaOp::ReplaceKeys { bucket, updates }).await?.count()?;
            }
            progress(examined);
        }
        Ok(rewrapped)
    }

    /// The layout with every data key of `key_id` wrapped by its current version, or `None` if
    /// nothing needed it.
    fn rewrapped_layout(&self, layout: &DataLayout, key_id: &str) -> StoreResult<Option<DataLayout>> {
        let current = self.keys.current_version(key_id)?;
        let rewrap = |w: &coffre_crypto::WrappedKey| -> StoreResult<Option<coffre_crypto::WrappedKey>> {
            if w.key_id != key_id || w.key_version >= current {
                return Ok(None);
            }
            let dek = self.keys.unwrap(w)?;
            Ok(Some(self.keys.wrap(key_id, &dek)?))
        };
        match layout {
            DataLayout::Inline(seal) => {
                Ok(rewrap(&seal.key)?.map(|key| DataLayout::Inline(SealedInline { stream_id: seal.stream_id, key })))
            }
            DataLayout::Chunks(chunks) => {
                let mut changed = false;
                let mut out = Vec::with_capacity(chunks.len());
                for c in chunks {
                    match rewrap(&c.key)? {
                        Some(key) => {
                            changed = true;
                            out.push(records::ChunkRef { id: c.id, size_bytes: c.size_bytes, key });
                        }
                        None => out.push(c.clone()),
                    }
                }
                Ok(changed.then_some(DataLayout::Chunks(out)))
            }
        }
    }

    /// Number of objects protected by `key_id`.
    pub fn count_objects_with_key(&self, key_id: &str) -> StoreResult<u64> {
        Ok(self.key_usage(key_id)?.versions)
    }

    /// What `key_id` protects now, including the versions Object Lock keeps (whose key may not
    /// be destroyed).
    pub fn key_usage(&self, key_id: &str) -> StoreResult<meta::KeyUsage> {
        self.meta.key_usage(key_id, now_ns())
    }

    /// The key used when a bucket names none.
    pub fn default_key_id(&self) -> String {
        self.keys.default_key_id().to_owned()
    }

    /// Deletes the permit's key: the version named (`s3:DeleteObjectVersion`), or without one
    /// its current version (`s3:DeleteObject`), hidden behind a new delete marker when
    /// versioning is on. Deleting a missing key succeeds, as in S3.
    pub async fn delete_object(
        &self,
        permit: &Permit,
        version: Option<&VersionId>,
        condition: WriteCondition,
        bypass_governance: bool,
    ) -> StoreResult<Deletion> {
        let actions: &[&str] = if version.is_some() { &["s3:DeleteObjectVersion"] } else { &["s3:DeleteObject"] };
        let (bucket, key) = permit.for_object(actions)?;
        let op = MetaOp::DeleteObject {
            bucket: bucket.as_str().to_owned(),
            key: key.as_str().to_owned(),
            condition,
            version: version.cloned(),
            bypass_governance,
        };
        self.meta.apply(op).await?.deleted()
    }

    /// Replaces the tags of the current version, or of the version named (which needs the
    /// `…VersionTagging` actions).
    pub async fn set_tags(
        &self,
        permit: &Permit,
        version: Option<&VersionId>,
        tags: Vec<(String, String)>,
    ) -> StoreResult<()> {
        let actions: &[&str] = match version {
            None => &["s3:PutObjectTagging", "s3:DeleteObjectTagging"],
            Some(_) => &["s3:PutObjectVersionTagging", "s3:DeleteObjectVersionTagging"],
        };
        self.update_attributes(permit, actions, version, AttributesChange::SetTags(tags)).await
    }

    /// Sets the canned ACL (`public-read` or `private`) of the current version, or of the
    /// version named (`s3:PutObjectVersionAcl`).
    pub async fn set_object_public_read(
        &self,
        permit: &Permit,
        version: Option<&VersionId>,
        public_read: bool,
    ) -> StoreResult<()> {
        let actions: &[&str] = if version.is_some() { &["s3:PutObjectVersionAcl"] } else { &["s3:PutObjectAcl"] };
        self.update_attributes(permit, actions, version, AttributesChange::SetPublicRead(public_read)).await
    }

    /// Sets (or removes) a version's retention (`s3:PutObjectRetention`); weakening a
    /// GOVERNANCE retention needs `bypass_governance`, which the caller's
    /// `s3:BypassGovernanceRetention` allowed.
    pub async fn set_retention(
        &self,
        permit: &Permit,
        version: Option<&VersionId>,
        retention: Option<Retention>,
        bypass_governance: bool,
    ) -> StoreResult<()> {
        let change = AttributesChange::SetRetention { retention, bypass_governance };
        self.update_attributes(permit, &["s3:PutObjectRetention"], version, change).await
    }

    /// Turns a version's legal hold on or off (`s3:PutObjectLegalHold`).
    pub async fn set_legal_hold(&self, permit: &Permit, version: Option<&VersionId>, on: bool) -> StoreResult<()> {
        let change = AttributesChange::SetLegalHold(on);
        self.update_attributes(permit, &["s3:PutObjectLegalHold"], version, change).await
    }

    async fn update_attributes(
        &self,
        permit: &Permit,
        actions: &[&str],
        version: Option<&VersionId>,
        change: AttributesChange,
    ) -> StoreResult<()> {
        let (bucket, key) = permit.for_object(actions)?;
        let (bucket, key) = (bucket.as_str().to_owned(), key.as_str().to_owned());
        self.meta.apply(MetaOp::UpdateAttributes { bucket, key, change, version: version.cloned() }).await?;
        Ok(())
    }

    /// One page of a listing.
    pub fn list(&self, bucket: &BucketName, query: &ListQuery) -> StoreResult<ListPage> {
        self.meta.list_objects(bucket.as_str(), query)
    }

    /// One page of a bucket's version list (ListObjectVersions).
    pub fn list_versions(&self, bucket: &BucketName, query: &VersionQuery) -> StoreResult<VersionPage> {
        self.meta.list_versions(bucket.as_str(), query)
    }

    // ---- multipart uploads

    /// Starts a multipart upload of the permit's key.
    pub async fn create_upload(
        &self,
        permit: &Permit,
        attributes: ObjectAttributes,
        checksum_algorithm: Option<ChecksumAlgorithm>,
        checksum_type: Option<ChecksumType>,
        (encryption, lock): (Encryption, VersionLock),
    ) -> StoreResult<UploadId> {
        let (bucket, key) = permit.for_object(&["s3:PutObject"])?;
        if let (Some(a), Some(ChecksumType::FullObject)) = (checksum_algorithm, checksum_type)
            && !a.supports_full_object()
        {
            return Err(StoreError::invalid_argument(format!(
                "The {} checksum algorithm does not support the FULL_OBJECT checksum type",
                a.name()
            )));
        }
        let now = now_ns();
        let upload_id = UploadId::generate(u64::try_from(now).unwrap_or(0));
        let record = UploadRecord {
            initiated_ns: now,
            attributes,
            checksum_algorithm,
            checksum_type,
            encryption,
            retention: lock.retention,
            legal_hold: lock.legal_hold,
        };
        self.meta
            .apply(MetaOp::CreateUpload {
                bucket: bucket.as_str().to_owned(),
                key: key.as_str().to_owned(),
                upload_id: upload_id.as_str().to_owned(),
                record,
            })
            .await?;
        Ok(upload_id)
    }

    /// An upload in progress.
    pub fn upload(&self, bucket: &BucketName, key: &ObjectKey, upload_id: &UploadId) -> StoreResult<UploadRecord> {
        self.meta.upload(bucket.as_str(), key.as_str(), upload_id.as_str())
    }

    /// Stores one part of an upload of the permit's key.
    pub async fn upload_part(
        &self,
        permit: &Permit,
        upload_id: &UploadId,
        part_number: PartNumber,
        mut staged: StagedData,
    ) -> StoreResult<PartRecord> {
        let (bucket, key) = permit.for_object(&["s3:PutObject"])?;
        let upload = self.upload(bucket, key, upload_id)?;
        let Published::Chunk(chunk) = self.blobs.publish(&mut staged).await? else {
            return Err(StoreError::Corrupt { what: "a part was staged inline".into() });
        };
        let checksum_base64 = upload.checksum_algorithm.and_then(|a| {
            use base64::Engine as _;
            staged.digests.raw(a).map(|raw| base64::engine::general_purpose::STANDARD.encode(raw))
        });
        let record = PartRecord {
            size_bytes: staged.size_bytes(),
            md5_hex: hex::encode(staged.digests.md5),
            crc64nvme: staged.digests.crc64nvme,
            checksum_base64,
            last_modified_ns: now_ns(),
            chunk: chunk.clone(),
        };
        let op = MetaOp::PutPart {
            bucket: bucket.as_str().to_owned(),
            key: key.as_str().to_owned(),
            upload_id: upload_id.as_str().to_owned(),
            part_number: part_number.get(),
            record: record.clone(),
        };
        if let Err(e) = self.meta.apply(op).await {
            let _ = self.blobs.delete(chunk.id).await;
            return Err(e);
        }
        Ok(record)
    }

    /// Completes an upload into the permit's key, if the request's condition holds at commit.
    pub async fn complete_upload(
        &self,
        permit: &Permit,
        upload_id: &UploadId,
        request: CompleteRequest,
    ) -> StoreResult<ObjectRecord> {
        let (bucket, key) = permit.for_object(&["s3:PutObject"])?;
        let op = MetaOp::CompleteUpload {
            bucket: bucket.as_str().to_owned(),
            key: key.as_str().to_owned(),
            upload_id: upload_id.as_str().to_owned(),
            request,
            now_ns: now_ns(),
        };
        self.commit_object(op, &[]).await
    }

    /// Aborts an upload; its parts become garbage.
    pub async fn abort_upload(&self, permit: &Permit, upload_id: &UploadId) -> StoreResult<()> {
        let (bucket, key) = permit.for_object(&["s3:AbortMultipartUpload"])?;
        self.meta
            .apply(MetaOp::AbortUpload {
                bucket: bucket.as_str().to_owned(),
                key: key.as_str().to_owned(),
                upload_id: upload_id.as_str().to_owned(),
            })
            .await?;
        Ok(())
    }

    /// Parts of an upload after `after`, at most `max`, and whether more follow.
    pub fn parts(&self, upload_id: &UploadId, after: u32, max: usize) -> StoreResult<(Vec<(u32, PartRecord)>, bool)> {
        self.meta.parts(upload_id.as_str(), after, max)
    }

    /// Uploads in progress in a bucket: `(key, upload id, record)` in key then creation order.
    pub fn uploads(
        &self,
        bucket: &BucketName,
        prefix: &str,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
    ) -> StoreResult<Vec<(String, String, UploadRecord)>> {
        self.meta.uploads(bucket.as_str(), prefix, key_marker, upload_id_marker)
    }
}

//! Lifecycle in the engine: the rules a bucket keeps ([`rules`]) and the one change lifecycle
//! makes to a version ([`Expiry`], re-checked inside its commit, so a write racing the worker
//! always wins). Reads find a bucket's rules in memory (`crate::bucket_settings`), for
//! `x-amz-expiration` without decoding the bucket's record.

pub mod rules;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Store;
use crate::error::StoreResult;
use crate::meta::{Deletion, MetaOp, ScannedVersion};
use crate::names::BucketName;
use crate::permit::{Permit, actions};
pub use rules::{
    Candidate, Decision, Expiration, FilterTag, KeyWalk, LifecycleConfiguration, LifecycleDay, LifecycleFilter,
    LifecycleRule, NoncurrentExpiration,
};

/// What lifecycle does to one version of a key, named by its rank as the worker saw it. The
/// commit checks again that it still holds: a version overwritten, deleted or locked since
/// the worker looked is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiry {
    /// The current version `rank` expired: removed in a bucket that never had versioning,
    /// hidden behind a new delete marker otherwise. Nothing if it is no longer current.
    Current { rank: u64 },
    /// The noncurrent version `rank` is removed. Nothing if it became current again; refused
    /// while Object Lock keeps it.
    Noncurrent { rank: u64 },
    /// The delete marker `rank`, its key's only version, is removed. Nothing if another
    /// version was written meanwhile.
    LoneDeleteMarker { rank: u64 },
}

impl Store {
    /// `bucket`'s lifecycle rules, if it has any (from memory: cheap enough for every read).
    pub fn lifecycle(&self, bucket: &BucketName) -> Option<Arc<LifecycleConfiguration>> {
        self.bucket_settings.get(bucket.as_str()).and_then(|s| s.lifecycle.clone())
    }

    /// Up to `max` versions of `bucket` after `after` (key, rank), in key order and newest
    /// first within a key: the lifecycle worker's view of a bucket, a page at a time.
    pub fn scan_versions(
        &self,
        bucket: &BucketName,
        after: Option<&(String, u64)>,
        max: usize,
    ) -> StoreResult<Vec<ScannedVersion>> {
        self.meta.scan_versions(bucket.as_str(), after, max)
    }

    /// Commands queued for the metadata writer and not yet committed: the foreground load
    /// background work yields to.
    pub fn commit_backlog(&self) -> usize {
        self.meta.backlog()
    }

    /// Applies one lifecycle action to the permit's key (the lifecycle principal's
    /// [`actions::LIFECYCLE`]); `existed: false` when the version is no longer what the worker
    /// saw, and ObjectLocked when Object Lock keeps it.
    pub async fn expire(&self, permit: &Permit, expiry: Expiry) -> StoreResult<Deletion> {
        let (bucket, key) = permit.for_object(&[actions::LIFECYCLE])?;
        let op = MetaOp::Expire { bucket: bucket.as_str().to_owned(), key: key.as_str().to_owned(), expiry };
        self.meta.apply(op).await?.deleted()
    }
}

//! Lifecycle in the engine: the rules a bucket keeps ([`rules`]), the one change lifecycle
//! makes to a version ([`Expiry`], re-checked inside its commit, so a write racing the worker
//! always wins), and the in-memory copy of every bucket's rules that reads consult for
//! `x-amz-expiration` without decoding the bucket's record.

pub mod rules;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::meta::{Deletion, MetaOp, MetaStore, ScannedVersion};
use crate::names::BucketName;
use crate::permit::{Permit, actions};
use crate::{Store, StoreError};
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

/// Every bucket's lifecycle rules, as of the last commit that changed them.
#[derive(Default)]
pub(crate) struct RulesCache {
    rules: RwLock<HashMap<String, Arc<LifecycleConfiguration>>>,
    /// Held while a bucket's entry is re-read and replaced, so that refreshes apply in commit
    /// order: each re-reads the committed state, never a value it carried from before.
    refresh: Mutex<()>,
}

impl RulesCache {
    /// Every bucket's rules, read from the metadata.
    pub(crate) fn load(meta: &MetaStore) -> StoreResult<RulesCache> {
        let cache = RulesCache::default();
        let mut rules = cache.rules.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (name, record) in meta.buckets()? {
            if let Some(config) = record.lifecycle {
                rules.insert(name, Arc::new(config));
            }
        }
        drop(rules);
        Ok(cache)
    }

    fn get(&self, bucket: &str) -> Option<Arc<LifecycleConfiguration>> {
        self.rules.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(bucket).cloned()
    }

    /// Re-reads `bucket`'s rules after a commit that may have changed them.
    pub(crate) fn refresh(&self, meta: &MetaStore, bucket: &str) -> StoreResult<()> {
        let _order = self.refresh.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let config = meta.bucket(bucket)?.and_then(|r| r.lifecycle);
        let mut rules = self.rules.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match config {
            Some(c) => rules.insert(bucket.to_owned(), Arc::new(c)),
            None => rules.remove(bucket),
        };
        Ok(())
    }
}

impl Store {
    /// `bucket`'s lifecycle rules, if it has any (from memory: cheap enough for every read).
    pub fn lifecycle(&self, bucket: &BucketName) -> Option<Arc<LifecycleConfiguration>> {
        self.lifecycle_rules.get(bucket.as_str())
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

    /// Keeps the rules in memory in step after a commit that may have changed `bucket`'s.
    pub(crate) fn refresh_lifecycle(&self, bucket: &BucketName) -> StoreResult<()> {
        match self.lifecycle_rules.refresh(&self.meta, bucket.as_str()) {
            Err(StoreError::NoSuchBucket) => Ok(()),
            other => other,
        }
    }
}

//! The bucket settings that reads consult on every request (lifecycle rules for
//! `x-amz-expiration`, the versioning state for `x-amz-version-id`), kept in memory so that a
//! GET or HEAD never decodes its bucket's record. The metadata writer tells it of every
//! committed change to a bucket's record, in commit order ([`crate::meta::BucketObserver`]):
//! what was applied keeps it in step, on every replica alike, and nothing outside the engine
//! invalidates it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::error::StoreResult;
use crate::lifecycle::LifecycleConfiguration;
use crate::meta::MetaStore;
use crate::records::{BucketRecord, Versioning};

/// What reads need of one bucket.
#[derive(Debug, Clone, Default)]
pub struct ReadSettings {
    /// Its lifecycle rules, if any.
    pub lifecycle: Option<Arc<LifecycleConfiguration>>,
    /// Its versioning state (`None`: never had versioning).
    pub versioning: Option<Versioning>,
}

impl ReadSettings {
    fn of(record: BucketRecord) -> ReadSettings {
        ReadSettings { lifecycle: record.lifecycle.map(Arc::new), versioning: record.versioning }
    }
}

/// Every bucket's [`ReadSettings`], as of the last commit that changed them.
#[derive(Default)]
pub(crate) struct SettingsCache {
    entries: RwLock<HashMap<String, Arc<ReadSettings>>>,
}

impl SettingsCache {
    /// Every bucket's settings, read from the metadata, then kept in step by the commits
    /// that change them.
    pub(crate) fn follow(meta: &MetaStore) -> StoreResult<Arc<SettingsCache>> {
        let entries = meta.buckets()?.into_iter().map(|(name, record)| (name, Arc::new(ReadSettings::of(record))));
        let cache = Arc::new(SettingsCache { entries: RwLock::new(entries.collect()) });
        let follower = Arc::clone(&cache);
        meta.observe(Arc::new(move |bucket, record| follower.apply(bucket, record.cloned())));
        Ok(cache)
    }

    /// `bucket`'s settings (`None`: no such bucket).
    pub(crate) fn get(&self, bucket: &str) -> Option<Arc<ReadSettings>> {
        self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(bucket).cloned()
    }

    fn apply(&self, bucket: &str, record: Option<BucketRecord>) {
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match record {
            Some(r) => entries.insert(bucket.to_owned(), Arc::new(ReadSettings::of(r))),
            None => entries.remove(bucket),
        };
    }
}

//! The bucket settings that reads consult on every request (lifecycle rules for
//! `x-amz-expiration`, the versioning state for `x-amz-version-id`), kept in memory so that a
//! GET or HEAD never decodes its bucket's record. The engine refreshes a bucket's entry after
//! each commit that may change it (create, delete, versioning, Object Lock, lifecycle), by
//! re-reading what was committed: nothing outside the engine invalidates it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

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
    /// Held while an entry is re-read and replaced, so that refreshes apply in commit order:
    /// each re-reads the committed state, never a value it carried from before.
    refresh: Mutex<()>,
}

impl SettingsCache {
    /// Every bucket's settings, read from the metadata.
    pub(crate) fn load(meta: &MetaStore) -> StoreResult<SettingsCache> {
        let entries = meta.buckets()?.into_iter().map(|(name, record)| (name, Arc::new(ReadSettings::of(record))));
        Ok(SettingsCache { entries: RwLock::new(entries.collect()), refresh: Mutex::new(()) })
    }

    /// `bucket`'s settings (`None`: no such bucket).
    pub(crate) fn get(&self, bucket: &str) -> Option<Arc<ReadSettings>> {
        self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(bucket).cloned()
    }

    /// Re-reads `bucket`'s settings after a commit that may have changed them.
    pub(crate) fn refresh(&self, meta: &MetaStore, bucket: &str) -> StoreResult<()> {
        let _order = self.refresh.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let record = meta.bucket(bucket)?;
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match record {
            Some(r) => entries.insert(bucket.to_owned(), Arc::new(ReadSettings::of(r))),
            None => entries.remove(bucket),
        };
        Ok(())
    }
}

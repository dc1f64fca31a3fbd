//! Changes to a bucket's settings and to an object's client-set attributes, as plain data.
//!
//! They used to be closures carried into the metadata writer; as values they can be logged,
//! replayed and, later, replicated, and each one checks what it requires before it writes
//! anything, so a refused change leaves its record and its commit batch untouched.

use serde::{Deserialize, Serialize};

use crate::error::{StoreError, StoreResult};
use crate::records::{
    BucketLogging, BucketRecord, Encryption, ObjectAttributes, ObjectLock, ObjectRecord, PublicAccessBlock, Quota,
    Retention, RetentionMode, UnixNanos, Versioning,
};

/// A change to a bucket's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BucketChange {
    /// Sets the bucket policy (its JSON text); `public`: whether it grants to everyone, which
    /// BlockPublicPolicy refuses.
    SetPolicy { policy: String, public: bool },
    /// Removes the bucket policy.
    DeletePolicy,
    /// Sets the canned ACL (`public-read` or `private`); a public one is refused under
    /// BlockPublicAcls.
    SetPublicRead { public: bool },
    /// Sets (or removes) the PublicAccessBlock configuration.
    SetPublicAccessBlock(Option<PublicAccessBlock>),
    /// Sets (or removes) server access logging.
    SetLogging(Option<BucketLogging>),
    /// Sets (or removes) the default encryption.
    SetEncryption(Option<Encryption>),
    /// Sets (or removes) the quota.
    SetQuota(Option<Quota>),
    /// Turns versioning on or suspends it (a bucket never goes back to unversioned).
    SetVersioning(Versioning),
    /// Enables Object Lock (versioning must be on) or changes its default retention.
    SetObjectLock(ObjectLock),
    /// Sets (or removes) the lifecycle rules.
    SetLifecycle(Option<crate::lifecycle::LifecycleConfiguration>),
}

impl BucketChange {
    /// The actions a [`crate::Permit`] for this change may allow.
    pub(crate) fn actions(&self) -> &'static [&'static str] {
        match self {
            BucketChange::SetPolicy { .. } => &["s3:PutBucketPolicy"],
            BucketChange::DeletePolicy => &["s3:DeleteBucketPolicy"],
            BucketChange::SetPublicRead { .. } => &["s3:PutBucketAcl"],
            BucketChange::SetPublicAccessBlock(_) => &["s3:PutBucketPublicAccessBlock"],
            BucketChange::SetLogging(_) => &["s3:PutBucketLogging"],
            BucketChange::SetEncryption(_) => &["s3:PutEncryptionConfiguration"],
            BucketChange::SetQuota(_) => &[crate::permit::actions::SET_QUOTA],
            BucketChange::SetVersioning(_) => &["s3:PutBucketVersioning"],
            BucketChange::SetObjectLock(_) => &["s3:PutBucketObjectLockConfiguration"],
            BucketChange::SetLifecycle(_) => &["s3:PutLifecycleConfiguration"],
        }
    }

    /// Applies the change to `bucket`, or refuses it and leaves `bucket` as it was.
    pub(crate) fn apply(self, bucket: &mut BucketRecord) -> StoreResult<()> {
        let blocks = |check: fn(&PublicAccessBlock) -> bool| bucket.public_access_block.as_ref().is_some_and(check);
        match self {
            BucketChange::SetPolicy { public: true, .. } if blocks(|p| p.block_public_policy) => {
                Err(StoreError::PublicAccessBlocked)
            }
            BucketChange::SetPublicRead { public: true } if blocks(|p| p.block_public_acls) => {
                Err(StoreError::PublicAccessBlocked)
            }
            BucketChange::SetPolicy { policy, .. } => {
                bucket.policy = Some(policy);
                Ok(())
            }
            BucketChange::DeletePolicy => {
                bucket.policy = None;
                Ok(())
            }
            BucketChange::SetPublicRead { public } => {
                bucket.public_read = public;
                Ok(())
            }
            BucketChange::SetPublicAccessBlock(block) => {
                bucket.public_access_block = block;
                Ok(())
            }
            BucketChange::SetLogging(logging) => {
                bucket.logging = logging;
                Ok(())
            }
            BucketChange::SetEncryption(encryption) => {
                bucket.default_encryption = encryption;
                Ok(())
            }
            BucketChange::SetQuota(quota) => {
                bucket.quota = quota;
                Ok(())
            }
            BucketChange::SetVersioning(Versioning::Suspended) if bucket.object_lock.is_some() => {
                Err(StoreError::InvalidBucketState {
                    message: "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
                })
            }
            BucketChange::SetVersioning(state) => {
                bucket.versioning = Some(state);
                Ok(())
            }
            BucketChange::SetObjectLock(_) if bucket.versioning != Some(Versioning::Enabled) => {
                Err(StoreError::InvalidBucketState {
                    message: "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
                })
            }
            BucketChange::SetObjectLock(lock) => {
                bucket.object_lock = Some(lock);
                Ok(())
            }
            BucketChange::SetLifecycle(rules) => {
                bucket.lifecycle = rules;
                Ok(())
            }
        }
    }
}

/// A change to a version's client-set attributes, or to its Object Lock settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttributesChange {
    /// Replaces the tag set.
    SetTags(Vec<(String, String)>),
    /// Sets the canned ACL (`public-read` or `private`).
    SetPublicRead(bool),
    /// Sets (or removes) the retention. Weakening one in force needs `bypass_governance` for
    /// GOVERNANCE and is refused for COMPLIANCE.
    SetRetention { retention: Option<Retention>, bypass_governance: bool },
    /// Turns the legal hold on or off.
    SetLegalHold(bool),
}

impl AttributesChange {
    /// Applies the change to `record` at `now_ns` in a bucket with (`lock_enabled`) or without
    /// Object Lock, or refuses it and leaves `record` as it was.
    pub(crate) fn apply(self, record: &mut ObjectRecord, lock_enabled: bool, now_ns: UnixNanos) -> StoreResult<()> {
        let attributes: &mut ObjectAttributes = &mut record.attributes;
        match self {
            AttributesChange::SetTags(tags) => attributes.tags = tags,
            AttributesChange::SetPublicRead(public) => attributes.public_read = public,
            AttributesChange::SetRetention { .. } | AttributesChange::SetLegalHold(_) if !lock_enabled => {
                return Err(StoreError::MissingObjectLockConfiguration);
            }
            AttributesChange::SetRetention { retention, bypass_governance } => {
                if let Some(new) = &retention
                    && new.retain_until_ns <= now_ns
                {
                    return Err(StoreError::invalid_argument("The retain until date must be in the future!"));
                }
                if let Some(current) = record.retention.as_ref().filter(|r| r.retain_until_ns > now_ns) {
                    // At least as strong: the same or a stricter mode, kept at least as long.
                    let keeps = retention.as_ref().is_some_and(|new| {
                        new.retain_until_ns >= current.retain_until_ns
                            && (new.mode == RetentionMode::Compliance || current.mode == RetentionMode::Governance)
                    });
                    let weakening_allowed = current.mode == RetentionMode::Governance && bypass_governance;
                    if !keeps && !weakening_allowed {
                        return Err(StoreError::ObjectLocked);
                    }
                }
                record.retention = retention;
            }
            AttributesChange::SetLegalHold(on) => record.legal_hold = on,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket() -> BucketRecord {
        BucketRecord::new(1, None, Some("acme".into()))
    }

    #[test]
    fn every_change_round_trips_through_its_serialised_form() {
        let changes = vec![
            BucketChange::SetPolicy { policy: "{}".into(), public: true },
            BucketChange::DeletePolicy,
            BucketChange::SetPublicRead { public: false },
            BucketChange::SetPublicAccessBlock(Some(PublicAccessBlock {
                block_public_acls: true,
                ..Default::default()
            })),
            BucketChange::SetLogging(Some(BucketLogging { target_bucket: "logs".into(), target_prefix: "a/".into() })),
            BucketChange::SetEncryption(None),
            BucketChange::SetQuota(Some(Quota { max_bytes: Some(10), max_objects: None })),
        ];
        for change in changes {
            let text = serde_json::to_string(&change).unwrap_or_default();
            let back: BucketChange = serde_json::from_str(&text).unwrap_or(BucketChange::DeletePolicy);
            assert_eq!(back, change, "{text}");
        }
        for change in [AttributesChange::SetTags(vec![("k".into(), "v".into())]), AttributesChange::SetPublicRead(true)]
        {
            let text = serde_json::to_string(&change).unwrap_or_default();
            let back: AttributesChange = serde_json::from_str(&text).unwrap_or(AttributesChange::SetPublicRead(false));
            assert_eq!(back, change, "{text}");
        }
    }

    #[test]
    fn a_refused_change_leaves_the_bucket_as_it_was() {
        let mut b = bucket();
        b.public_access_block =
            Some(PublicAccessBlock { block_public_policy: true, block_public_acls: true, ..Default::default() });
        let before = serde_json::to_string(&b).unwrap_or_default();
        let public_policy = BucketChange::SetPolicy { policy: "{\"public\":1}".into(), public: true };
        assert!(matches!(public_policy.apply(&mut b), Err(StoreError::PublicAccessBlocked)));
        assert!(matches!(
            BucketChange::SetPublicRead { public: true }.apply(&mut b),
            Err(StoreError::PublicAccessBlocked)
        ));
        assert_eq!(serde_json::to_string(&b).unwrap_or_default(), before);
        // A private policy is not blocked.
        assert!(BucketChange::SetPolicy { policy: "{}".into(), public: false }.apply(&mut b).is_ok());
        assert_eq!(b.policy.as_deref(), Some("{}"));
    }
}

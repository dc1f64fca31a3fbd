//! Proof of authorisation at the engine's door.
//!
//! Every call that changes a tenant's data or settings takes a [`Permit`]: the action that was
//! allowed and the exact resource it was allowed on, parsed once into the engine's own names.
//! The engine acts on the permit's resource, never on a second copy of the request's names,
//! and refuses a permit for another action. Only a [`PermitIssuer`] makes permits, and the
//! store gives its issuer out once, to the process's authorisers (the S3 access control and
//! the admin API): a handler cannot make one up.

use std::fmt;

use crate::error::{StoreError, StoreResult};
use crate::names::{BucketName, ObjectKey};

/// What a permit is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resource {
    /// A bucket (its settings, or the bucket itself).
    Bucket(BucketName),
    /// One object key of a bucket.
    Object(BucketName, ObjectKey),
    /// The whole service (key administration across every bucket).
    Service,
}

/// The proof that authorisation allowed `action` on one resource.
#[derive(Clone, PartialEq, Eq)]
pub struct Permit {
    action: &'static str,
    resource: Resource,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permit({} on {:?})", self.action, self.resource)
    }
}

impl Permit {
    /// The action allowed (an IAM action such as `s3:PutObject`, or an admin action).
    pub fn action(&self) -> &'static str {
        self.action
    }

    /// The bucket it is for, if it is for a bucket or an object.
    pub fn bucket(&self) -> Option<&BucketName> {
        match &self.resource {
            Resource::Bucket(b) | Resource::Object(b, _) => Some(b),
            Resource::Service => None,
        }
    }

    /// The object key it is for, if it is for an object.
    pub fn key(&self) -> Option<&ObjectKey> {
        match &self.resource {
            Resource::Object(_, k) => Some(k),
            Resource::Bucket(_) | Resource::Service => None,
        }
    }

    /// Checks that the permit allows one of `actions`.
    fn allows(&self, actions: &[&str]) -> StoreResult<()> {
        if actions.contains(&self.action) {
            Ok(())
        } else {
            Err(StoreError::NotPermitted { action: self.action, wanted: actions.join(" or ") })
        }
    }

    /// The bucket, if the permit allows one of `actions` on it (or on one of its objects).
    pub(crate) fn for_bucket(&self, actions: &[&str]) -> StoreResult<&BucketName> {
        self.allows(actions)?;
        self.bucket().ok_or_else(|| StoreError::NotPermitted { action: self.action, wanted: "a bucket".into() })
    }

    /// The bucket and key, if the permit allows one of `actions` on that object.
    pub(crate) fn for_object(&self, actions: &[&str]) -> StoreResult<(&BucketName, &ObjectKey)> {
        self.allows(actions)?;
        match &self.resource {
            Resource::Object(b, k) => Ok((b, k)),
            Resource::Bucket(_) | Resource::Service => {
                Err(StoreError::NotPermitted { action: self.action, wanted: "an object".into() })
            }
        }
    }

    /// `Ok` if the permit allows one of `actions` on the whole service.
    pub(crate) fn for_service(&self, actions: &[&str]) -> StoreResult<()> {
        self.allows(actions)?;
        match self.resource {
            Resource::Service => Ok(()),
            Resource::Bucket(_) | Resource::Object(..) => {
                Err(StoreError::NotPermitted { action: self.action, wanted: "the service".into() })
            }
        }
    }
}

/// The capability to make permits, held by the authorisers only (see the module doc).
#[derive(Clone)]
pub struct PermitIssuer(());

impl fmt::Debug for PermitIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PermitIssuer")
    }
}

impl PermitIssuer {
    /// The store's issuer; [`crate::Store::take_permit_issuer`] hands it out once.
    pub(crate) fn new() -> PermitIssuer {
        PermitIssuer(())
    }

    /// A permit for `action` on `bucket`.
    pub fn bucket(&self, action: &'static str, bucket: BucketName) -> Permit {
        Permit { action, resource: Resource::Bucket(bucket) }
    }

    /// A permit for `action` on `key` of `bucket`.
    pub fn object(&self, action: &'static str, bucket: BucketName, key: ObjectKey) -> Permit {
        Permit { action, resource: Resource::Object(bucket, key) }
    }

    /// A permit for `action` on the whole service.
    pub fn service(&self, action: &'static str) -> Permit {
        Permit { action, resource: Resource::Service }
    }
}

/// Admin API actions (the S3 ones are IAM actions, named by the S3 layer).
pub mod actions {
    /// Setting a bucket's quota (tenant admins, through the admin API).
    pub const SET_QUOTA: &str = "coffre:SetBucketQuota";
    /// Re-wrapping and shredding data keys across the service (operators' `kms` scope).
    pub const ADMINISTER_KEYS: &str = "coffre:AdministerKeys";
    /// Applying a bucket's lifecycle rules (the lifecycle worker, on rules the bucket's owner
    /// set with `s3:PutLifecycleConfiguration`).
    pub const LIFECYCLE: &str = "coffre:ApplyLifecycle";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket() -> BucketName {
        BucketName::parse("photos").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_permit_serves_only_its_action_and_resource() {
        let issuer = PermitIssuer::new();
        let key = ObjectKey::parse("cat.jpg").unwrap_or_else(|e| panic!("{e}"));
        let put = issuer.object("s3:PutObject", bucket(), key.clone());
        assert_eq!(put.for_object(&["s3:PutObject"]).ok(), Some((&bucket(), &key)));
        assert!(matches!(put.for_object(&["s3:DeleteObject"]), Err(StoreError::NotPermitted { .. })));
        assert!(put.for_service(&["s3:PutObject"]).is_err());
        let policy = issuer.bucket("s3:PutBucketPolicy", bucket());
        assert!(policy.for_object(&["s3:PutBucketPolicy"]).is_err(), "a bucket permit names no object");
        assert_eq!(policy.for_bucket(&["s3:PutBucketPolicy"]).ok(), Some(&bucket()));
        assert!(issuer.service(actions::ADMINISTER_KEYS).for_bucket(&[actions::ADMINISTER_KEYS]).is_err());
    }
}

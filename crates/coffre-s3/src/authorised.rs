//! The request as authorisation decided it: the operation s3s routed, the resource it acts on
//! and, for copies, the source it reads, each parsed once into the engine's names. Handlers
//! take the names and the engine's [`Permit`] from here, never from a second reading of the
//! request, so what runs is exactly what was authorised.

use coffre_store::{BucketName, ObjectKey, Permit, VersionId};
use s3s::{S3Result, s3_error};

use crate::operation::S3Op;

/// The source of CopyObject or UploadPartCopy, as authorised for reading.
#[derive(Debug, Clone)]
pub struct CopySourceName {
    /// Source bucket.
    pub bucket: BucketName,
    /// Source key.
    pub key: ObjectKey,
    /// Source version, if one is named.
    pub version: Option<VersionId>,
}

/// An authorised request (see the module doc).
#[derive(Debug, Clone)]
pub struct Authorised {
    op: S3Op,
    /// The permit for the operation's action on its resource; `None` for ListBuckets, which
    /// names none.
    permit: Option<Permit>,
    copy_source: Option<CopySourceName>,
    /// Whether the request asked to bypass GOVERNANCE retention and may
    /// (`s3:BypassGovernanceRetention`).
    bypass_governance: bool,
}

fn denied() -> s3s::S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

impl Authorised {
    pub(crate) fn new(op: S3Op, permit: Option<Permit>) -> Authorised {
        Authorised { op, permit, copy_source: None, bypass_governance: false }
    }

    pub(crate) fn allow_governance_bypass(&mut self) {
        self.bypass_governance = true;
    }

    /// Whether GOVERNANCE retention may be bypassed (asked for, and allowed).
    pub fn bypass_governance(&self) -> bool {
        self.bypass_governance
    }

    pub(crate) fn set_permit(&mut self, permit: Permit) {
        self.permit = Some(permit);
    }

    pub(crate) fn set_copy_source(&mut self, source: CopySourceName) {
        self.copy_source = Some(source);
    }

    /// The request of `extensions`; a handler reached without one is refused (fail closed).
    pub(crate) fn of(extensions: &http::Extensions) -> S3Result<&Authorised> {
        extensions.get::<Authorised>().ok_or_else(|| {
            tracing::error!("an operation ran without an authorisation decision");
            denied()
        })
    }

    /// The operation.
    pub fn op(&self) -> S3Op {
        self.op
    }

    /// The engine's permit for the operation's action on its resource.
    pub fn permit(&self) -> S3Result<&Permit> {
        self.permit.as_ref().ok_or_else(denied)
    }

    /// The bucket the operation acts on.
    pub fn bucket(&self) -> S3Result<&BucketName> {
        self.permit()?.bucket().ok_or_else(denied)
    }

    /// The bucket and key the operation acts on.
    pub fn object(&self) -> S3Result<(&BucketName, &ObjectKey)> {
        let permit = self.permit()?;
        match (permit.bucket(), permit.key()) {
            (Some(bucket), Some(key)) => Ok((bucket, key)),
            _ => Err(denied()),
        }
    }

    /// The source of a copy, as authorised for reading.
    pub fn copy_source(&self) -> S3Result<&CopySourceName> {
        self.copy_source.as_ref().ok_or_else(denied)
    }
}

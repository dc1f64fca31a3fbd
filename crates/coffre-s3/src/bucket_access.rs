//! The S3 operations that set who may access a bucket or object, and who sees its accesses:
//! bucket policies (and their public status), canned ACLs (`private`, `public-read`),
//! PublicAccessBlock, and server access logging. The authorisation cache follows each
//! committed change (`BucketAccessCache::follow`).

use coffre_iam::Policy;
use coffre_store::{BucketChange, BucketName, PublicAccessBlock};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::authorised::Authorised;
use crate::errors::StoreResultExt;
use crate::service::CoffreS3;

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

/// Whether a canned ACL is `public-read`; `private` (or none) is not. Other ACLs are refused:
/// Coffre supports only these two, as buckets with ACLs disabled do.
pub(crate) fn canned_public_read(acl: Option<&str>) -> S3Result<bool> {
    match acl {
        None | Some("private") => Ok(false),
        Some("public-read") => Ok(true),
        Some(
            other @ ("public-read-write"
            | "authenticated-read"
            | "aws-exec-read"
            | "bucket-owner-read"
            | "bucket-owner-full-control"
            | "log-delivery-write"),
        ) => Err(s3_error!(
            NotImplemented,
            "The canned ACL {} is not supported; use private or public-read, or a bucket policy.",
            other
        )),
        Some(_) => Err(s3_error!(InvalidArgument, "The canned ACL you provided is not valid.")),
    }
}

/// The canned ACL an explicit grant list amounts to: the owner's FULL_CONTROL, plus READ for
/// AllUsers for `public-read`. Anything else is refused.
fn grants_public_read(policy: &AccessControlPolicy) -> S3Result<bool> {
    let mut public = false;
    for grant in policy.grants.iter().flatten() {
        let permission = grant.permission.as_ref().map(Permission::as_str);
        let uri = grant.grantee.as_ref().and_then(|g| g.uri.as_deref());
        match (uri, permission) {
            (Some(ALL_USERS), Some("READ")) => public = true,
            (None, Some("FULL_CONTROL")) => {}
            _ => {
                return Err(s3_error!(
                    NotImplemented,
                    "Only the grants of the canned ACLs private and public-read are supported."
                ));
            }
        }
    }
    Ok(public)
}

fn acl_grants(owner: &Owner, public_read: bool) -> Grants {
    let mut grants = vec![Grant {
        grantee: Some(Grantee {
            display_name: owner.display_name.clone(),
            email_address: None,
            id: owner.id.clone(),
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }];
    if public_read {
        grants.push(Grant {
            grantee: Some(Grantee {
                display_name: None,
                email_address: None,
                id: None,
                type_: Type::from_static(Type::GROUP),
                uri: Some(ALL_USERS.to_owned()),
            }),
            permission: Some(Permission::from_static(Permission::READ)),
        });
    }
    grants
}

/// The public-read flag a PutBucketAcl/PutObjectAcl asks for: a canned ACL or grants.
fn requested_public_read(acl: Option<&str>, policy: Option<&AccessControlPolicy>) -> S3Result<bool> {
    match (acl, policy) {
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidRequest,
            "Specifying both Canned ACLs and Header Grants or an access control policy is not allowed"
        )),
        (_, Some(p)) => grants_public_read(p),
        (a, None) => canned_public_read(a),
    }
}

impl CoffreS3 {
    /// Changes the authorised bucket's access settings (authorisation's cached view of them
    /// follows the commit: [`crate::access::BucketAccessCache::follow`]).
    async fn change_access(&self, extensions: &http::Extensions, change: BucketChange) -> S3Result<()> {
        let authorised = Authorised::of(extensions)?;
        self.store.update_bucket(authorised.permit()?, change).await.s3()?;
        Ok(())
    }

    /// The record of the authorised bucket.
    fn authorised_bucket(&self, extensions: &http::Extensions) -> S3Result<coffre_store::BucketRecord> {
        self.store.bucket(Authorised::of(extensions)?.bucket()?).s3()
    }

    pub(crate) async fn do_put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let input = req.input;
        let policy = Policy::parse(&input.policy).map_err(|e| s3_error!(MalformedPolicy, "{}", e.message))?;
        for statement_resource in resource_buckets(&input.policy) {
            if statement_resource != Authorised::of(&req.extensions)?.bucket()?.as_str() {
                return Err(s3_error!(MalformedPolicy, "Policy has invalid resource"));
            }
        }
        let change = BucketChange::SetPolicy { policy: input.policy.clone(), public: policy.is_public() };
        self.change_access(&req.extensions, change).await?;
        Ok(S3Response::with_status(PutBucketPolicyOutput::default(), http::StatusCode::NO_CONTENT))
    }

    pub(crate) async fn do_get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let bucket = self.authorised_bucket(&req.extensions)?;
        let policy = bucket.policy.ok_or_else(|| s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist"))?;
        Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(policy) }))
    }

    pub(crate) async fn do_delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.change_access(&req.extensions, BucketChange::DeletePolicy).await?;
        Ok(S3Response::with_status(DeleteBucketPolicyOutput::default(), http::StatusCode::NO_CONTENT))
    }

    pub(crate) async fn do_get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        let bucket = self.authorised_bucket(&req.extensions)?;
        let text = bucket.policy.ok_or_else(|| s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist"))?;
        let is_public = Policy::parse(&text).map(|p| p.is_public()).unwrap_or(false);
        Ok(S3Response::new(GetBucketPolicyStatusOutput {
            policy_status: Some(PolicyStatus { is_public: Some(is_public) }),
        }))
    }

    pub(crate) async fn do_get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        let bucket = self.authorised_bucket(&req.extensions)?;
        let owner = self.owner_of(bucket.owner.as_deref());
        Ok(S3Response::new(GetBucketAclOutput {
            grants: Some(acl_grants(&owner, bucket.public_read)),
            owner: Some(owner),
        }))
    }

    pub(crate) async fn do_put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let input = req.input;
        crate::request::refuse_grants!(input, grant_write);
        let public = requested_public_read(
            input.acl.as_ref().map(BucketCannedACL::as_str),
            input.access_control_policy.as_ref(),
        )?;
        self.change_access(&req.extensions, BucketChange::SetPublicRead { public }).await?;
        Ok(S3Response::new(PutBucketAclOutput::default()))
    }

    pub(crate) async fn do_get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let bucket = self.authorised_bucket(&req.extensions)?;
        let (bucket_name, key) = Authorised::of(&req.extensions)?.object()?;
        let version = req.input.version_id.as_deref().map(coffre_store::VersionId::parse).transpose().s3()?;
        let object = self.store.object(bucket_name, key, version.as_ref()).s3()?;
        let owner = self.owner_of(bucket.owner.as_deref());
        Ok(S3Response::new(GetObjectAclOutput {
            grants: Some(acl_grants(&owner, object.record.attributes.public_read)),
            owner: Some(owner),
            request_charged: None,
        }))
    }

    pub(crate) async fn do_put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let input = req.input;
        crate::request::refuse_grants!(input, grant_write);
        let public = requested_public_read(
            input.acl.as_ref().map(ObjectCannedACL::as_str),
            input.access_control_policy.as_ref(),
        )?;
        let version = input.version_id.as_deref().map(coffre_store::VersionId::parse).transpose().s3()?;
        let permit = Authorised::of(&req.extensions)?.permit()?;
        self.store.set_object_public_read(permit, version.as_ref(), public).await.s3()?;
        Ok(S3Response::new(PutObjectAclOutput::default()))
    }

    pub(crate) async fn do_put_bucket_logging(
        &self,
        req: S3Request<PutBucketLoggingInput>,
    ) -> S3Result<S3Response<PutBucketLoggingOutput>> {
        let input = req.input;
        let logging = match input.bucket_logging_status.logging_enabled {
            None => None,
            Some(l) => {
                let source = self.authorised_bucket(&req.extensions)?;
                // Logs go only to a bucket of the same tenant (S3 requires the owner's consent).
                let target = BucketName::parse(&l.target_bucket).ok();
                let same_owner =
                    target.and_then(|t| self.store.bucket(&t).ok()).is_some_and(|t| t.owner == source.owner);
                if !same_owner {
                    return Err(crate::errors::custom(
                        "InvalidTargetBucketForLogging",
                        http::StatusCode::BAD_REQUEST,
                        "The target bucket for logging does not exist or is not owned by you.",
                    ));
                }
                Some(coffre_store::records::BucketLogging {
                    target_bucket: l.target_bucket,
                    target_prefix: l.target_prefix,
                })
            }
        };
        self.change_access(&req.extensions, BucketChange::SetLogging(logging)).await?;
        Ok(S3Response::new(PutBucketLoggingOutput::default()))
    }

    pub(crate) async fn do_get_bucket_logging(
        &self,
        req: S3Request<GetBucketLoggingInput>,
    ) -> S3Result<S3Response<GetBucketLoggingOutput>> {
        let bucket = self.authorised_bucket(&req.extensions)?;
        Ok(S3Response::new(GetBucketLoggingOutput {
            logging_enabled: bucket.logging.map(|l| LoggingEnabled {
                target_bucket: l.target_bucket,
                target_grants: None,
                target_object_key_format: None,
                target_prefix: l.target_prefix,
            }),
        }))
    }

    pub(crate) async fn do_put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        let c = req.input.public_access_block_configuration;
        let block = PublicAccessBlock {
            block_public_acls: c.block_public_acls.unwrap_or(false),
            ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
            block_public_policy: c.block_public_policy.unwrap_or(false),
            restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
        };
        self.change_access(&req.extensions, BucketChange::SetPublicAccessBlock(Some(block))).await?;
        Ok(S3Response::new(PutPublicAccessBlockOutput::default()))
    }

    pub(crate) async fn do_get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        let bucket = self.authorised_bucket(&req.extensions)?;
        let b = bucket.public_access_block.ok_or_else(|| {
            crate::errors::custom(
                "NoSuchPublicAccessBlockConfiguration",
                http::StatusCode::NOT_FOUND,
                "The public access block configuration was not found",
            )
        })?;
        Ok(S3Response::new(GetPublicAccessBlockOutput {
            public_access_block_configuration: Some(PublicAccessBlockConfiguration {
                block_public_acls: Some(b.block_public_acls),
                ignore_public_acls: Some(b.ignore_public_acls),
                block_public_policy: Some(b.block_public_policy),
                restrict_public_buckets: Some(b.restrict_public_buckets),
            }),
        }))
    }

    pub(crate) async fn do_delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        self.change_access(&req.extensions, BucketChange::SetPublicAccessBlock(None)).await?;
        Ok(S3Response::with_status(DeletePublicAccessBlockOutput::default(), http::StatusCode::NO_CONTENT))
    }
}

/// The bucket names in a policy's resource ARNs (`arn:aws:s3:::bucket[/...]`), so that a policy
/// naming another bucket is refused as S3 does.
fn resource_buckets(json: &str) -> Vec<String> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(json) else { return Vec::new() };
    let statements = match &doc["Statement"] {
        serde_json::Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let mut out = Vec::new();
    for s in statements {
        for field in ["Resource", "NotResource"] {
            let values = match &s[field] {
                serde_json::Value::String(v) => vec![v.clone()],
                serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
                _ => Vec::new(),
            };
            for v in values {
                if let Some(rest) = v.strip_prefix("arn:aws:s3:::") {
                    let bucket = rest.split('/').next().unwrap_or(rest);
                    if !bucket.contains(['*', '?']) {
                        out.push(bucket.to_owned());
                    }
                }
            }
        }
    }
    out
}

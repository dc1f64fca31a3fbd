//! Buckets: listing, creation, deletion, location, default encryption, versioning status.

use super::*;

/// A location constraint looks like a region: lowercase letters, digits and hyphens.
fn valid_region_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl CoffreS3 {
    pub(super) async fn do_list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let prefix = req.input.prefix.clone().unwrap_or_default();
        // A tenant sees its own buckets; operators hold none.
        let tenant = caller_tenant(&req.extensions);
        let buckets = self
            .store
            .buckets()
            .s3()?
            .into_iter()
            .filter(|(name, b)| {
                tenant.is_some()
                    && b.owner.as_deref().unwrap_or(crate::access::LEGACY_OWNER) == tenant.as_deref().unwrap_or("")
                    && name.as_str().starts_with(&prefix)
            })
            .map(|(name, b)| Bucket {
                name: Some(name.to_string()),
                creation_date: Some(timestamp(b.created_ns)),
                bucket_region: Some(self.bucket_region(b.location)),
            })
            .collect::<Vec<_>>();
        // Pagination: max-buckets and a continuation token (hex of the last name returned).
        let after = match req.input.continuation_token.as_deref() {
            Some(t) => Some(parse_continuation_token(t)?),
            None => None,
        };
        let max = match req.input.max_buckets {
            None => usize::MAX,
            Some(n) if (1..=10_000).contains(&n) => usize::try_from(n).unwrap_or(usize::MAX),
            Some(_) => return Err(s3_error!(InvalidArgument, "max-buckets must be between 1 and 10000")),
        };
        let mut page: Vec<Bucket> =
            buckets.into_iter().filter(|b| after.as_deref().is_none_or(|a| b.name.as_deref() > Some(a))).collect();
        let truncated = page.len() > max;
        page.truncate(max);
        let token = truncated.then(|| page.last().and_then(|b| b.name.as_deref()).map(continuation_token)).flatten();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(page),
            owner: Some(self.owner_of(tenant.as_deref())),
            prefix: req.input.prefix,
            continuation_token: token,
        }))
    }

    pub(super) async fn do_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let permit = Authorised::of(&req.extensions)?.permit()?;
        let bucket = permit.bucket().ok_or_else(|| s3_error!(AccessDenied, "Access Denied"))?;
        request::refuse_grants!(req.input, grant_write);
        let location = req
            .input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|l| l.as_str().to_owned())
            .filter(|l| !l.is_empty());
        if let Some(l) = &location {
            if !valid_region_name(l) {
                return Err(s3_error!(InvalidLocationConstraint, "The specified location-constraint is not valid"));
            }
            if let Some(region) = &self.config.region
                && region != l
            {
                return Err(crate::errors::custom(
                    "IllegalLocationConstraintException",
                    http::StatusCode::BAD_REQUEST,
                    format!(
                        "The {l} location constraint is incompatible for the region specific endpoint this request was sent to."
                    ),
                ));
            }
        }
        let tenant = caller_tenant(&req.extensions);
        let public_read = canned_public_read(req.input.acl.as_ref().map(BucketCannedACL::as_str))?;
        let object_lock = req.input.object_lock_enabled_for_bucket == Some(true);
        match self.store.create_bucket(permit, location, tenant.clone(), (public_read, object_lock)).await {
            Err(coffre_store::StoreError::BucketAlreadyOwnedByYou)
                if self.store.bucket(bucket).ok().and_then(|b| b.owner) != tenant =>
            {
                return Err(s3_error!(
                    BucketAlreadyExists,
                    "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
                ));
            }
            other => other.s3()?,
        }
        Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{bucket}")) }))
    }

    pub(super) async fn do_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let b = self.store.bucket(Authorised::of(&req.extensions)?.bucket()?).s3()?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(self.bucket_region(b.location)),
            ..Default::default()
        }))
    }

    pub(super) async fn do_delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let permit = Authorised::of(&req.extensions)?.permit()?;
        self.store.delete_bucket(permit).await.s3()?;
        Ok(S3Response::new(DeleteBucketOutput::default()))
    }

    pub(super) async fn do_get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let b = self.store.bucket(Authorised::of(&req.extensions)?.bucket()?).s3()?;
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint: b.location.map(BucketLocationConstraint::from),
        }))
    }

    pub(super) async fn do_put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        let input = req.input;
        let rules = input.server_side_encryption_configuration.rules;
        let default = match rules.as_slice() {
            [rule] => rule.apply_server_side_encryption_by_default.clone(),
            _ => return Err(s3_error!(MalformedXML, "A ServerSideEncryptionConfiguration holds exactly one rule")),
        }
        .ok_or_else(|| s3_error!(MalformedXML, "The rule lacks ApplyServerSideEncryptionByDefault"))?;
        if default.sse_algorithm.as_str() == "AES256" && default.kms_master_key_id.is_some() {
            return Err(s3_error!(
                InvalidArgument,
                "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms"
            ));
        }
        // Resolve through the same rules as a request, without the bucket's current default.
        let e = match default.sse_algorithm.as_str() {
            "AES256" => Encryption::sse_s3(self.store.default_key_id()),
            "aws:kms" | "aws:kms:dsse" => Encryption::sse_kms(
                default
                    .kms_master_key_id
                    .map(|k| k.rsplit(":key/").next().unwrap_or(&k).to_owned())
                    .unwrap_or_else(|| self.store.default_key_id()),
            ),
            other => {
                return Err(s3_error!(InvalidArgument, "The encryption method specified is not supported: {}", other));
            }
        };
        let permit = Authorised::of(&req.extensions)?.permit()?;
        self.store.bucket(Authorised::of(&req.extensions)?.bucket()?).s3()?;
        self.store.check_key(&e.key_id).s3()?;
        self.store.update_bucket(permit, BucketChange::SetEncryption(Some(e))).await.s3()?;
        Ok(S3Response::new(PutBucketEncryptionOutput::default()))
    }

    pub(super) async fn do_get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        let b = self.store.bucket(Authorised::of(&req.extensions)?.bucket()?).s3()?;
        // Every object is encrypted: without a configuration the default is SSE-S3, as in S3.
        let e = b.default_encryption.unwrap_or(Encryption::sse_s3(self.store.default_key_id()));
        let (algorithm, key_id) = sse_fields(&e);
        let rule = ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: algorithm
                .map(|sse_algorithm| ServerSideEncryptionByDefault { sse_algorithm, kms_master_key_id: key_id }),
            bucket_key_enabled: Some(false),
        };
        Ok(S3Response::new(GetBucketEncryptionOutput {
            server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration { rules: vec![rule] }),
        }))
    }

    pub(super) async fn do_delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        let permit = Authorised::of(&req.extensions)?.permit()?;
        self.store.update_bucket(permit, BucketChange::SetEncryption(None)).await.s3()?;
        Ok(S3Response::with_status(DeleteBucketEncryptionOutput::default(), http::StatusCode::NO_CONTENT))
    }

    pub(super) async fn do_get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        // A bucket that never had versioning answers with no Status element, as in S3.
        let bucket = self.store.bucket(Authorised::of(&req.extensions)?.bucket()?).s3()?;
        let status = bucket.versioning.map(|v| {
            BucketVersioningStatus::from_static(match v {
                Versioning::Enabled => BucketVersioningStatus::ENABLED,
                Versioning::Suspended => BucketVersioningStatus::SUSPENDED,
            })
        });
        Ok(S3Response::new(GetBucketVersioningOutput { status, mfa_delete: None }))
    }

    pub(super) async fn do_put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let input = req.input;
        let configuration = input.versioning_configuration;
        if input.mfa.is_some() || configuration.mfa_delete.as_ref().is_some_and(|m| m.as_str() == "Enabled") {
            return Err(s3_error!(NotImplemented, "MFA Delete is not supported: Coffre has no MFA devices"));
        }
        let state = match configuration.status.as_ref().map(BucketVersioningStatus::as_str) {
            Some("Enabled") => Versioning::Enabled,
            Some("Suspended") => Versioning::Suspended,
            _ => {
                return Err(crate::errors::custom(
                    "IllegalVersioningConfigurationException",
                    http::StatusCode::BAD_REQUEST,
                    "The Versioning element must be specified, as Enabled or Suspended",
                ));
            }
        };
        let permit = Authorised::of(&req.extensions)?.permit()?;
        self.store.update_bucket(permit, BucketChange::SetVersioning(state)).await.s3()?;
        Ok(S3Response::new(PutBucketVersioningOutput::default()))
    }
}

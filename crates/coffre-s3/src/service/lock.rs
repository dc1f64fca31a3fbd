//! Object Lock: the bucket's configuration (enabled, default retention) and each version's
//! retention and legal hold. The engine enforces them (no path deletes a locked version);
//! these operations read and set them, with AWS's validation.

use super::*;

/// The default retention of a lock configuration, validated as AWS does.
fn default_retention(rule: Option<&ObjectLockRule>) -> S3Result<Option<coffre_store::DefaultRetention>> {
    let Some(d) = rule.and_then(|r| r.default_retention.as_ref()) else { return Ok(None) };
    let mode = retention_mode(d.mode.as_ref().map(ObjectLockRetentionMode::as_str).unwrap_or_default())
        .map_err(|_| s3_error!(MalformedXML, "The default retention needs a Mode of GOVERNANCE or COMPLIANCE"))?;
    let period = match (d.days, d.years) {
        (Some(days), None) if days > 0 => coffre_store::RetentionPeriod::Days(days.unsigned_abs()),
        (None, Some(years)) if years > 0 => coffre_store::RetentionPeriod::Years(years.unsigned_abs()),
        (Some(_), None) | (None, Some(_)) => {
            return Err(s3_error!(InvalidArgument, "Default retention period must be a positive integer value"));
        }
        _ => return Err(s3_error!(MalformedXML, "The default retention needs exactly one of Days or Years")),
    };
    Ok(Some(coffre_store::DefaultRetention { mode, period }))
}

impl CoffreS3 {
    pub(super) async fn do_put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        let configuration = req.input.object_lock_configuration.unwrap_or_default();
        if configuration.object_lock_enabled.as_ref().map(ObjectLockEnabled::as_str) != Some("Enabled") {
            return Err(s3_error!(MalformedXML, "ObjectLockEnabled must be Enabled"));
        }
        let default_retention = default_retention(configuration.rule.as_ref())?;
        let permit = Authorised::of(&req.extensions)?.permit()?;
        let change = BucketChange::SetObjectLock(coffre_store::ObjectLock { default_retention });
        self.store.update_bucket(permit, change).await.s3()?;
        Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
    }

    pub(super) async fn do_get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        let bucket = self.store.bucket(Authorised::of(&req.extensions)?.bucket()?).s3()?;
        let lock = bucket.object_lock.ok_or_else(|| {
            crate::errors::custom(
                "ObjectLockConfigurationNotFoundError",
                http::StatusCode::NOT_FOUND,
                "Object Lock configuration does not exist for this bucket",
            )
        })?;
        let rule = lock.default_retention.map(|d| {
            let (days, years) = match d.period {
                coffre_store::RetentionPeriod::Days(n) => (Some(i32::try_from(n).unwrap_or(i32::MAX)), None),
                coffre_store::RetentionPeriod::Years(n) => (None, Some(i32::try_from(n).unwrap_or(i32::MAX))),
            };
            let mode = Some(ObjectLockRetentionMode::from(retention_mode_name(d.mode).to_owned()));
            ObjectLockRule { default_retention: Some(DefaultRetention { days, mode, years }) }
        });
        let configuration = ObjectLockConfiguration {
            object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
            rule,
        };
        Ok(S3Response::new(GetObjectLockConfigurationOutput { object_lock_configuration: Some(configuration) }))
    }

    pub(super) async fn do_put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        let input = req.input;
        let authorised = Authorised::of(&req.extensions)?;
        let retention = match input.retention {
            None => None,
            Some(r) => match (r.mode, r.retain_until_date) {
                (None, None) => None,
                (Some(mode), Some(until)) => Some(coffre_store::Retention {
                    mode: retention_mode(mode.as_str())?,
                    retain_until_ns: unix_nanos(until),
                }),
                _ => return Err(s3_error!(MalformedXML, "A retention needs both a Mode and a RetainUntilDate")),
            },
        };
        let version = version(input.version_id.as_deref())?;
        let bypass = authorised.bypass_governance();
        self.store.set_retention(authorised.permit()?, version.as_ref(), retention, bypass).await.s3()?;
        Ok(S3Response::new(PutObjectRetentionOutput::default()))
    }

    pub(super) async fn do_get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        let object = self.object_to_read(&req.extensions, req.input.version_id.as_deref())?;
        let retention = object.record.retention.ok_or_else(|| {
            crate::errors::custom(
                "NoSuchObjectLockConfiguration",
                http::StatusCode::NOT_FOUND,
                "The specified object does not have a ObjectLock configuration",
            )
        })?;
        Ok(S3Response::new(GetObjectRetentionOutput {
            retention: Some(ObjectLockRetention {
                mode: Some(ObjectLockRetentionMode::from(retention_mode_name(retention.mode).to_owned())),
                retain_until_date: Some(timestamp(retention.retain_until_ns)),
            }),
        }))
    }

    pub(super) async fn do_put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        let on = match req
            .input
            .legal_hold
            .as_ref()
            .and_then(|l| l.status.as_ref())
            .map(ObjectLockLegalHoldStatus::as_str)
        {
            Some("ON") => true,
            Some("OFF") => false,
            _ => return Err(s3_error!(MalformedXML, "A legal hold needs a Status of ON or OFF")),
        };
        let version = version(req.input.version_id.as_deref())?;
        let permit = Authorised::of(&req.extensions)?.permit()?;
        self.store.set_legal_hold(permit, version.as_ref(), on).await.s3()?;
        Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
    }

    pub(super) async fn do_get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        let object = self.object_to_read(&req.extensions, req.input.version_id.as_deref())?;
        let status = if object.record.legal_hold { "ON" } else { "OFF" };
        Ok(S3Response::new(GetObjectLegalHoldOutput {
            legal_hold: Some(ObjectLockLegalHold { status: Some(ObjectLockLegalHoldStatus::from(status.to_owned())) }),
        }))
    }
}

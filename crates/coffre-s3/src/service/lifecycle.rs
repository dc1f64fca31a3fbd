//! Lifecycle configuration (Put/Get/DeleteBucketLifecycleConfiguration) with AWS's
//! validation, and the `x-amz-expiration` header of objects a rule will expire. The rules are
//! applied by the lifecycle worker (`crate::lifecycle_worker`).

use coffre_store::lifecycle::{
    Expiration, FilterTag, LifecycleConfiguration, LifecycleDay, LifecycleFilter, LifecycleRule, NoncurrentExpiration,
};
use coffre_store::{ObjectRecord, UnixNanos};

use super::*;

/// Rules a configuration may hold, as in AWS.
const RULES_MAX: usize = 1000;
/// Longest rule id, as in AWS.
const RULE_ID_CHARS_MAX: usize = 255;
/// Largest `NewerNoncurrentVersions`, as in AWS.
const NEWER_NONCURRENT_VERSIONS_MAX: i32 = 100;

fn positive(value: Option<i32>, what: &str) -> S3Result<u32> {
    match value {
        Some(n) if n > 0 => Ok(n.unsigned_abs()),
        _ => Err(s3_error!(InvalidArgument, "'{}' must be a positive integer", what)),
    }
}

fn size_bound(value: Option<i64>, what: &str) -> S3Result<Option<u64>> {
    value
        .map(|n| u64::try_from(n).map_err(|_| s3_error!(InvalidArgument, "'{}' must not be negative", what)))
        .transpose()
}

fn filter_tag(tag: Tag) -> S3Result<FilterTag> {
    match (tag.key, tag.value) {
        (Some(key), value) if !key.is_empty() => Ok(FilterTag { key, value: value.unwrap_or_default() }),
        _ => Err(s3_error!(MalformedXML, "A lifecycle filter Tag needs a Key")),
    }
}

/// A rule's filter: exactly one of the legacy `<Prefix>` and `<Filter>`, and in a filter at most
/// one condition (several go in `<And>`).
fn filter(prefix: Option<String>, filter: Option<LifecycleRuleFilter>) -> S3Result<LifecycleFilter> {
    let f = match (prefix, filter) {
        (Some(p), None) => return Ok(LifecycleFilter::LegacyPrefix(p)),
        (None, Some(f)) => f,
        _ => return Err(s3_error!(MalformedXML, "A lifecycle rule needs exactly one of Prefix and Filter")),
    };
    let conditions = [
        f.prefix.is_some(),
        f.tag.is_some(),
        f.and.is_some(),
        f.object_size_greater_than.is_some(),
        f.object_size_less_than.is_some(),
    ];
    if conditions.iter().filter(|c| **c).count() > 1 {
        return Err(s3_error!(MalformedXML, "A lifecycle Filter holds one condition; combine several with And"));
    }
    let check_sizes = |gt: Option<u64>, lt: Option<u64>| match (gt, lt) {
        (Some(gt), Some(lt)) if gt >= lt => Err(s3_error!(
            InvalidArgument,
            "ObjectSizeGreaterThan must be less than ObjectSizeLessThan in the lifecycle filter"
        )),
        _ => Ok(()),
    };
    Ok(if let Some(p) = f.prefix {
        LifecycleFilter::Prefix(p)
    } else if let Some(t) = f.tag {
        LifecycleFilter::Tag(filter_tag(t)?)
    } else if let Some(n) = size_bound(f.object_size_greater_than, "ObjectSizeGreaterThan")? {
        LifecycleFilter::SizeGreaterThan(n)
    } else if let Some(n) = size_bound(f.object_size_less_than, "ObjectSizeLessThan")? {
        LifecycleFilter::SizeLessThan(n)
    } else if let Some(and) = f.and {
        let tags = and.tags.unwrap_or_default().into_iter().map(filter_tag).collect::<S3Result<Vec<_>>>()?;
        let mut keys: Vec<&str> = tags.iter().map(|t| t.key.as_str()).collect();
        keys.sort_unstable();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return Err(s3_error!(InvalidRequest, "Duplicate Tag Keys are not allowed."));
        }
        let size_greater_than = size_bound(and.object_size_greater_than, "ObjectSizeGreaterThan")?;
        let size_less_than = size_bound(and.object_size_less_than, "ObjectSizeLessThan")?;
        check_sizes(size_greater_than, size_less_than)?;
        LifecycleFilter::And { prefix: and.prefix, tags, size_greater_than, size_less_than }
    } else {
        LifecycleFilter::All
    })
}

fn expiration(e: LifecycleExpiration) -> S3Result<Option<Expiration>> {
    let marker = e.expired_object_delete_marker.unwrap_or(false);
    match (e.days, e.date, marker) {
        (Some(_), Some(_), _) => Err(s3_error!(MalformedXML, "An Expiration holds Days or Date, not both")),
        (Some(_), None, true) | (None, Some(_), true) => Err(s3_error!(
            InvalidArgument,
            "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy"
        )),
        (Some(days), None, false) => Ok(Some(Expiration::Days(positive(Some(days), "Days")?))),
        (None, Some(date), false) => {
            let at = unix_nanos(date);
            if at.rem_euclid(LifecycleDay::default().as_nanos()) != 0 {
                return Err(s3_error!(InvalidArgument, "'Date' must be at midnight GMT"));
            }
            Ok(Some(Expiration::Date(at)))
        }
        (None, None, true) => Ok(Some(Expiration::ExpiredObjectDeleteMarker)),
        (None, None, false) => Ok(None),
    }
}

/// One rule, validated.
fn rule(r: s3s::dto::LifecycleRule) -> S3Result<LifecycleRule> {
    if r.transitions.as_ref().is_some_and(|t| !t.is_empty())
        || r.noncurrent_version_transitions.as_ref().is_some_and(|t| !t.is_empty())
    {
        return Err(s3_error!(NotImplemented, "Lifecycle transitions are not supported: Coffre has one storage class"));
    }
    let enabled = match r.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        _ => return Err(s3_error!(MalformedXML, "A lifecycle rule's Status is Enabled or Disabled")),
    };
    let id = match r.id {
        Some(id) if id.chars().count() > RULE_ID_CHARS_MAX => {
            return Err(s3_error!(InvalidArgument, "ID length should not exceed allowed limit of 255"));
        }
        Some(id) if !id.is_empty() => id,
        // AWS names a rule that has no id.
        _ => format!("rule-{:016x}", crate::front::rand_u64()),
    };
    let filter = filter(r.prefix, r.filter)?;
    let expiration = r.expiration.map(expiration).transpose()?.flatten();
    let noncurrent_expiration = r
        .noncurrent_version_expiration
        .map(|n| {
            let newer_noncurrent_versions = match n.newer_noncurrent_versions {
                None => None,
                Some(k) if (1..=NEWER_NONCURRENT_VERSIONS_MAX).contains(&k) => Some(k.unsigned_abs()),
                Some(_) => {
                    return Err(s3_error!(
                        InvalidArgument,
                        "'NewerNoncurrentVersions' must be a positive integer of at most 100"
                    ));
                }
            };
            Ok(NoncurrentExpiration {
                noncurrent_days: positive(n.noncurrent_days, "NoncurrentDays")?,
                newer_noncurrent_versions,
            })
        })
        .transpose()?;
    let abort_incomplete_upload_days = r
        .abort_incomplete_multipart_upload
        .map(|a| positive(a.days_after_initiation, "DaysAfterInitiation"))
        .transpose()?;
    if expiration.is_none() && noncurrent_expiration.is_none() && abort_incomplete_upload_days.is_none() {
        return Err(s3_error!(InvalidRequest, "At least one action needs to be specified in a rule"));
    }
    if filter.uses_tags() && expiration == Some(Expiration::ExpiredObjectDeleteMarker) {
        return Err(s3_error!(InvalidRequest, "ExpiredObjectDeleteMarker cannot be specified with tag filters"));
    }
    if abort_incomplete_upload_days.is_some() && (filter.uses_tags() || filter.uses_sizes()) {
        return Err(s3_error!(
            InvalidRequest,
            "Tag-based and object-size filters cannot be used with the AbortIncompleteMultipartUpload action"
        ));
    }
    Ok(LifecycleRule { id, enabled, filter, expiration, noncurrent_expiration, abort_incomplete_upload_days })
}

/// A configuration, validated as AWS validates it.
fn configuration(c: BucketLifecycleConfiguration) -> S3Result<LifecycleConfiguration> {
    if c.rules.is_empty() {
        return Err(s3_error!(MalformedXML, "A lifecycle configuration needs at least one Rule"));
    }
    if c.rules.len() > RULES_MAX {
        return Err(s3_error!(InvalidArgument, "A lifecycle configuration holds at most 1000 rules"));
    }
    let rules = c.rules.into_iter().map(rule).collect::<S3Result<Vec<_>>>()?;
    let mut ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(s3_error!(InvalidArgument, "Rule ID must be unique. Found same ID for more than one rule"));
    }
    Ok(LifecycleConfiguration { rules })
}

fn tag_dto(t: &FilterTag) -> Tag {
    Tag { key: Some(t.key.clone()), value: Some(t.value.clone()) }
}

fn size_dto(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn days_dto(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A rule as GetBucketLifecycleConfiguration answers it: in the form it was given.
fn rule_dto(r: &LifecycleRule) -> s3s::dto::LifecycleRule {
    let (prefix, filter) = match &r.filter {
        LifecycleFilter::LegacyPrefix(p) => (Some(p.clone()), None),
        f => {
            let mut out = LifecycleRuleFilter::default();
            match f {
                LifecycleFilter::LegacyPrefix(_) | LifecycleFilter::All => {}
                LifecycleFilter::Prefix(p) => out.prefix = Some(p.clone()),
                LifecycleFilter::Tag(t) => out.tag = Some(tag_dto(t)),
                LifecycleFilter::SizeGreaterThan(n) => out.object_size_greater_than = Some(size_dto(*n)),
                LifecycleFilter::SizeLessThan(n) => out.object_size_less_than = Some(size_dto(*n)),
                LifecycleFilter::And { prefix, tags, size_greater_than, size_less_than } => {
                    out.and = Some(LifecycleRuleAndOperator {
                        prefix: prefix.clone(),
                        tags: (!tags.is_empty()).then(|| tags.iter().map(tag_dto).collect()),
                        object_size_greater_than: size_greater_than.map(size_dto),
                        object_size_less_than: size_less_than.map(size_dto),
                    });
                }
            }
            (None, Some(out))
        }
    };
    let expiration = r.expiration.map(|e| match e {
        Expiration::Days(n) => LifecycleExpiration { days: Some(days_dto(n)), ..Default::default() },
        Expiration::Date(at) => LifecycleExpiration { date: Some(timestamp(at)), ..Default::default() },
        Expiration::ExpiredObjectDeleteMarker => {
            LifecycleExpiration { expired_object_delete_marker: Some(true), ..Default::default() }
        }
    });
    s3s::dto::LifecycleRule {
        abort_incomplete_multipart_upload: r
            .abort_incomplete_upload_days
            .map(|d| AbortIncompleteMultipartUpload { days_after_initiation: Some(days_dto(d)) }),
        expiration,
        filter,
        id: Some(r.id.clone()),
        noncurrent_version_expiration: r.noncurrent_expiration.map(|n| NoncurrentVersionExpiration {
            noncurrent_days: Some(days_dto(n.noncurrent_days)),
            newer_noncurrent_versions: n.newer_noncurrent_versions.map(days_dto),
        }),
        noncurrent_version_transitions: None,
        prefix,
        status: ExpirationStatus::from_static(if r.enabled {
            ExpirationStatus::ENABLED
        } else {
            ExpirationStatus::DISABLED
        }),
        transitions: None,
    }
}

/// `x-amz-expiration`'s value: `expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="…"`.
fn expiration_header((at, rule_id): (UnixNanos, &str)) -> Option<String> {
    let when = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at)).ok()?;
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let date = when.format(&format).ok()?;
    // The rule id is the client's text inside a quoted header field: escaped as RFC 9110 says.
    let id = rule_id.replace('\\', "\\\\").replace('"', "\\\"");
    Some(format!("expiry-date=\"{date}\", rule-id=\"{id}\""))
}

impl CoffreS3 {
    /// `x-amz-expiration` for `record`, the current version of the request's key, if a rule
    /// will expire it.
    pub(super) fn expiration_of(&self, extensions: &http::Extensions, record: &ObjectRecord) -> Option<String> {
        let (bucket, key) = Authorised::of(extensions).ok()?.object().ok()?;
        let rules = self.store.lifecycle(bucket)?;
        let expiry = rules.current_expiry(key.as_str(), record, self.config.lifecycle_day)?;
        expiration_header(expiry).filter(|v| http::HeaderValue::from_str(v).is_ok())
    }

    pub(super) async fn do_put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let Some(c) = req.input.lifecycle_configuration else {
            return Err(s3_error!(MalformedXML, "The request has no LifecycleConfiguration"));
        };
        let config = configuration(c)?;
        let permit = Authorised::of(&req.extensions)?.permit()?;
        self.store.update_bucket(permit, BucketChange::SetLifecycle(Some(config))).await.s3()?;
        Ok(S3Response::new(PutBucketLifecycleConfigurationOutput::default()))
    }

    pub(super) async fn do_get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let bucket = self.store.bucket(Authorised::of(&req.extensions)?.bucket()?).s3()?;
        let config = bucket.lifecycle.ok_or_else(|| {
            crate::errors::custom(
                "NoSuchLifecycleConfiguration",
                http::StatusCode::NOT_FOUND,
                "The lifecycle configuration does not exist",
            )
        })?;
        Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
            rules: Some(config.rules.iter().map(rule_dto).collect()),
            transition_default_minimum_object_size: None,
        }))
    }

    pub(super) async fn do_delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        let permit = Authorised::of(&req.extensions)?.permit()?;
        self.store.update_bucket(permit, BucketChange::SetLifecycle(None)).await.s3()?;
        Ok(S3Response::new(DeleteBucketLifecycleOutput::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiration_header_is_aws_s() {
        let at = 1_356_220_800_000_000_000; // 2012-12-23
        assert_eq!(
            expiration_header((at, "picture-deletion-rule")).as_deref(),
            Some(r#"expiry-date="Sun, 23 Dec 2012 00:00:00 GMT", rule-id="picture-deletion-rule""#)
        );
        assert_eq!(
            expiration_header((at, r#"a"b"#)).as_deref(),
            Some(r#"expiry-date="Sun, 23 Dec 2012 00:00:00 GMT", rule-id="a\"b""#)
        );
    }
}

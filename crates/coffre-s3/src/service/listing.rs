//! Listings of a bucket: ListObjects, ListObjectsV2 and ListObjectVersions, over one engine
//! listing of pages whose cost follows the page.

use super::*;

fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(LIST_KEYS_MAX),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys cannot be negative")),
        Some(n) => Ok(usize::try_from(n).unwrap_or(LIST_KEYS_MAX).min(LIST_KEYS_MAX)),
    }
}

fn list_page(store: &Store, bucket: &BucketName, query: &ListQuery) -> S3Result<ListPage> {
    if query.max_keys == 0 {
        // Still answer NoSuchBucket for a missing bucket.
        store.bucket(bucket).s3()?;
        return Ok(ListPage::default());
    }
    store.list(bucket, query).s3()
}

pub(super) fn encode_if(url: bool, s: String) -> String {
    if url { url_encode(&s) } else { s }
}

struct PageParts {
    contents: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
}

fn split_page(page: &ListPage, url: bool, owner: Option<Owner>) -> PageParts {
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for entry in &page.entries {
        match entry {
            ListEntry::Object { key, object } => contents.push(Object {
                key: Some(encode_if(url, key.clone())),
                e_tag: Some(etag(&object.etag)),
                last_modified: Some(timestamp(object.last_modified_ns)),
                size: Some(size_i64(object.size_bytes)),
                storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
                owner: owner.clone(),
                checksum_algorithm: object.checksum.map(|(a, _)| vec![convert::algorithm_dto(a)]),
                checksum_type: object.checksum.map(|(_, k)| convert::checksum_type_dto(k)),
                ..Default::default()
            }),
            ListEntry::CommonPrefix(p) => prefixes.push(CommonPrefix { prefix: Some(encode_if(url, p.clone())) }),
        }
    }
    PageParts { contents, prefixes }
}

pub(super) fn is_url_encoding(e: Option<&EncodingType>) -> S3Result<bool> {
    match e.map(EncodingType::as_str) {
        None => Ok(false),
        Some("url") => Ok(true),
        Some(_) => Err(s3_error!(InvalidArgument, "Invalid Encoding Method specified in Request")),
    }
}

impl CoffreS3 {
    pub(super) async fn do_list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let bucket = Authorised::of(&req.extensions)?.bucket()?;
        let url = is_url_encoding(input.encoding_type.as_ref())?;
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            start_after: input.marker.clone().filter(|m| !m.is_empty()),
            max_keys: max_keys(input.max_keys)?,
        };
        let page = list_page(&self.store, bucket, &query)?;
        let next_marker = (page.truncated && query.delimiter.is_some())
            .then(|| page.last_position().map(|p| encode_if(url, p.to_owned())))
            .flatten();
        let parts = split_page(&page, url, Some(self.bucket_owner(bucket)));
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(encode_if(url, query.prefix)),
            marker: Some(encode_if(url, input.marker.unwrap_or_default())),
            delimiter: input.delimiter.map(|d| encode_if(url, d)),
            max_keys: Some(i32::try_from(query.max_keys).unwrap_or(1000)),
            is_truncated: Some(page.truncated),
            next_marker,
            contents: Some(parts.contents),
            common_prefixes: Some(parts.prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    pub(super) async fn do_list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let bucket = Authorised::of(&req.extensions)?.bucket()?;
        let url = is_url_encoding(input.encoding_type.as_ref())?;
        let start_after = match input.continuation_token.as_deref() {
            Some(token) => Some(parse_continuation_token(token)?),
            None => input.start_after.clone().filter(|s| !s.is_empty()),
        };
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            start_after,
            max_keys: max_keys(input.max_keys)?,
        };
        let page = list_page(&self.store, bucket, &query)?;
        let owner = input.fetch_owner.unwrap_or(false).then(|| self.bucket_owner(bucket));
        let parts = split_page(&page, url, owner);
        let key_count = parts.contents.len() + parts.prefixes.len();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(encode_if(url, query.prefix)),
            delimiter: input.delimiter.map(|d| encode_if(url, d)),
            max_keys: Some(i32::try_from(query.max_keys).unwrap_or(1000)),
            key_count: Some(i32::try_from(key_count).unwrap_or(i32::MAX)),
            is_truncated: Some(page.truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: page.truncated.then(|| page.last_position().map(continuation_token)).flatten(),
            start_after: input.start_after.map(|s| encode_if(url, s)),
            contents: Some(parts.contents),
            common_prefixes: Some(parts.prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    pub(super) async fn do_list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let bucket = Authorised::of(&req.extensions)?.bucket()?;
        let url = is_url_encoding(input.encoding_type.as_ref())?;
        let key_marker = input.key_marker.clone().filter(|m| !m.is_empty());
        let version_id_marker = input.version_id_marker.clone().filter(|m| !m.is_empty());
        if version_id_marker.is_some() && key_marker.is_none() {
            return Err(s3_error!(InvalidArgument, "A version-id marker cannot be specified without a key marker."));
        }
        let query = VersionQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            key_marker,
            version_id_marker,
            max_keys: max_keys(input.max_keys)?,
        };
        let page = if query.max_keys == 0 {
            // Still answer NoSuchBucket for a missing bucket.
            self.store.bucket(bucket).s3()?;
            coffre_store::VersionPage::default()
        } else {
            self.store.list_versions(bucket, &query).s3()?
        };
        let owner = self.bucket_owner(bucket);
        let (mut versions, mut markers, mut prefixes) = (Vec::new(), Vec::new(), Vec::new());
        for entry in &page.entries {
            match entry {
                VersionEntry::Version { key, version: Version::Object(record), is_latest } => {
                    versions.push(ObjectVersion {
                        key: Some(encode_if(url, key.clone())),
                        version_id: Some(record.version_id.clone().unwrap_or_else(|| "null".to_owned())),
                        is_latest: Some(*is_latest),
                        e_tag: Some(etag(&record.etag)),
                        last_modified: Some(timestamp(record.last_modified_ns)),
                        size: Some(size_i64(record.size_bytes)),
                        storage_class: Some(ObjectVersionStorageClass::from_static(
                            ObjectVersionStorageClass::STANDARD,
                        )),
                        owner: Some(owner.clone()),
                        checksum_algorithm: record.checksum.as_ref().map(|c| vec![convert::algorithm_dto(c.algorithm)]),
                        checksum_type: record.checksum.as_ref().map(|c| convert::checksum_type_dto(c.kind)),
                        ..Default::default()
                    });
                }
                VersionEntry::Version { key, version: Version::DeleteMarker(marker), is_latest } => {
                    markers.push(DeleteMarkerEntry {
                        key: Some(encode_if(url, key.clone())),
                        version_id: Some(marker.version_id.clone().unwrap_or_else(|| "null".to_owned())),
                        is_latest: Some(*is_latest),
                        last_modified: Some(timestamp(marker.last_modified_ns)),
                        owner: Some(owner.clone()),
                    });
                }
                VersionEntry::CommonPrefix(p) => {
                    prefixes.push(CommonPrefix { prefix: Some(encode_if(url, p.clone())) })
                }
            }
        }
        // Where the next page starts: after the last entry returned.
        let (next_key_marker, next_version_id_marker) = match page.entries.last().filter(|_| page.truncated) {
            Some(VersionEntry::Version { key, version, .. }) => {
                (Some(encode_if(url, key.clone())), Some(version.version_id().unwrap_or("null").to_owned()))
            }
            Some(VersionEntry::CommonPrefix(p)) => (Some(encode_if(url, p.clone())), None),
            None => (None, None),
        };
        let order = page
            .entries
            .iter()
            .filter_map(|e| match e {
                VersionEntry::Version { version, .. } => Some(matches!(version, Version::DeleteMarker(_))),
                VersionEntry::CommonPrefix(_) => None,
            })
            .collect();
        let mut response = S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(encode_if(url, query.prefix)),
            delimiter: input.delimiter.map(|d| encode_if(url, d)),
            key_marker: Some(encode_if(url, input.key_marker.unwrap_or_default())),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            max_keys: Some(i32::try_from(query.max_keys).unwrap_or(1000)),
            is_truncated: Some(page.truncated),
            next_key_marker,
            next_version_id_marker,
            versions: Some(versions),
            delete_markers: (!markers.is_empty()).then_some(markers),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        });
        response.extensions.insert(crate::version_list_xml::VersionListOrder(order));
        Ok(response)
    }
}

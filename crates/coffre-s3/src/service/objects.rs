//! Objects: writes (PUT, browser POST, copy), reads (GET, HEAD), deletes and tags.

use super::*;

/// The byte range a GET serves, and the `Content-Range` it answers with (if partial).
fn read_range(
    object: &StoredObject,
    range: Option<&Range>,
    part_number: Option<i32>,
) -> S3Result<(std::ops::Range<u64>, Option<String>, Option<i32>)> {
    let size = object.record.size_bytes;
    let content_range = |r: &std::ops::Range<u64>| format!("bytes {}-{}/{}", r.start, r.end.saturating_sub(1), size);
    match (range, part_number) {
        (Some(_), Some(_)) => {
            Err(s3_error!(InvalidRequest, "Cannot specify both Range header and partNumber query parameter"))
        }
        // RFC 9110 §14.1.1: a range whose last position is before its first is invalid and
        // ignored, as AWS does: the whole object is served.
        (Some(Range::Int { first, last: Some(last) }), None) if last < first => Ok((0..size, None, None)),
        (Some(r), None) => {
            let r = r.check(size).map_err(|_| to_s3(coffre_store::StoreError::InvalidRange { object_size: size }))?;
            let cr = content_range(&r);
            Ok((r, Some(cr), None))
        }
        (None, Some(n)) => {
            let parts = &object.record.part_sizes;
            let count = if parts.is_empty() { 1 } else { parts.len() };
            let index = usize::try_from(n).ok().filter(|n| (1..=count).contains(n)).ok_or_else(|| {
                crate::errors::custom(
                    "InvalidPartNumber",
                    http::StatusCode::RANGE_NOT_SATISFIABLE,
                    "The requested partnumber is not satisfiable",
                )
            })? - 1;
            let (start, len) = if parts.is_empty() {
                (0, size)
            } else {
                (parts.iter().take(index).sum(), parts.get(index).copied().unwrap_or(0))
            };
            let r = start..start + len;
            let cr = content_range(&r);
            let parts_count = (!parts.is_empty()).then(|| i32::try_from(count).unwrap_or(i32::MAX));
            Ok((r, Some(cr), parts_count))
        }
        (None, None) => Ok((0..size, None, None)),
    }
}

/// 304 Not Modified carries the validators of the current object, as RFC 9110 requires.
fn not_modified(record: &coffre_store::ObjectRecord) -> S3Error {
    let mut e = s3_error!(NotModified);
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{}\"", record.etag)) {
        headers.insert(http::header::ETAG, v);
    }
    if let Some(v) =
        convert::http_date(&timestamp(record.last_modified_ns)).and_then(|d| http::HeaderValue::from_str(&d).ok())
    {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    e.set_headers(headers);
    e
}

/// The write condition of a CopyObject on its destination, from `If-None-Match`/`If-Match`.
fn destination_condition(headers: &http::HeaderMap) -> S3Result<WriteCondition> {
    let parse = |name: &str| -> S3Result<Option<ETagCondition>> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => ETagCondition::parse_http_header(v.as_bytes())
                .map(Some)
                .map_err(|_| s3_error!(InvalidArgument, "Invalid {} header", name)),
        }
    };
    request::write_condition(parse("if-match")?.as_ref(), parse("if-none-match")?.as_ref())
}

/// Parses a `<Tagging>` document (the PostObject `tagging` field) with s3s's XML reader.
fn parse_tagging_xml(xml: &str) -> S3Result<Vec<(String, String)>> {
    use s3s::xml::Deserialize as _;
    let mut d = s3s::xml::Deserializer::new(xml.as_bytes());
    let tagging = Tagging::deserialize(&mut d)
        .map_err(|_| s3_error!(MalformedXML, "The tagging field is not a valid Tagging document"))?;
    request::validate_tags(
        tagging.tag_set.into_iter().map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default())).collect(),
    )
}

/// The output of a GET or HEAD (`$output`: their fields share names, not a type) for the
/// object record `$r`, serving `$range` of it, plus the operation's own fields (`$extra`).
macro_rules! object_output {
    ($output:ident, $r:expr, $served:expr, $fields:expr, $sse_c:expr, { $($extra:tt)* }) => {{
        let r = $r;
        let h = &r.attributes.headers;
        let fields = $fields;
        let (range, content_range, parts_count) = $served;
        let (sse_customer_algorithm, sse_customer_key_md5) = $sse_c;
        $output {
            $($extra)*
            accept_ranges: Some("bytes".into()),
            content_length: Some(size_i64(range.end - range.start)),
            content_range,
            parts_count,
            e_tag: Some(etag(&r.etag)),
            last_modified: Some(timestamp(r.last_modified_ns)),
            content_type: h.content_type.clone(),
            content_encoding: h.content_encoding.clone(),
            content_disposition: h.content_disposition.clone(),
            content_language: h.content_language.clone(),
            cache_control: h.cache_control.clone(),
            expires: h.expires.as_deref().and_then(convert::parse_http_date),
            metadata: convert::metadata_dto(&r.attributes.user_metadata),
            checksum_crc32: fields.crc32,
            checksum_crc32c: fields.crc32c,
            checksum_crc64nvme: fields.crc64nvme,
            checksum_sha1: fields.sha1,
            checksum_sha256: fields.sha256,
            checksum_type: fields.kind,
            server_side_encryption: sse_fields(&r.encryption).0,
            ssekms_key_id: sse_fields(&r.encryption).1,
            sse_customer_algorithm,
            sse_customer_key_md5,
            version_id: r.version_id.clone(),
            object_lock_mode: r.retention.as_ref().map(|l| ObjectLockMode::from(retention_mode_name(l.mode).to_owned())),
            object_lock_retain_until_date: r.retention.as_ref().map(|l| timestamp(l.retain_until_ns)),
            object_lock_legal_hold_status: r.legal_hold.then(|| ObjectLockLegalHoldStatus::from_static("ON")),
            ..Default::default()
        }
    }};
}

/// What a GET or HEAD serves of an object: the byte range, its `Content-Range` and part count,
/// and the checksums it answers with (only for the whole object, when asked).
struct ReadPlan {
    range: std::ops::Range<u64>,
    content_range: Option<String>,
    parts_count: Option<i32>,
    fields: ChecksumFields,
}

/// The [`ReadPlan`] of a GET or HEAD input (their fields share names, not a type), once its
/// conditions (`If-Match`, `If-None-Match`, …) hold.
macro_rules! read_plan {
    ($object:expr, $input:expr) => {
        plan_read(
            $object,
            [$input.if_match.as_ref(), $input.if_none_match.as_ref()],
            [$input.if_unmodified_since.as_ref(), $input.if_modified_since.as_ref()],
            $input.range.as_ref(),
            $input.part_number,
            $input.checksum_mode.is_some(),
        )
    };
}

fn plan_read(
    object: &StoredObject,
    [if_match, if_none_match]: [Option<&ETagCondition>; 2],
    [if_unmodified_since, if_modified_since]: [Option<&Timestamp>; 2],
    range: Option<&Range>,
    part_number: Option<i32>,
    checksum_mode: bool,
) -> S3Result<ReadPlan> {
    let r = &object.record;
    if let ReadVerdict::NotModified =
        request::read_conditions(r, if_match, if_unmodified_since, if_none_match, if_modified_since)?
    {
        return Err(not_modified(r));
    }
    let (range, content_range, parts_count) = read_range(object, range, part_number)?;
    let fields = if content_range.is_none() && checksum_mode {
        ChecksumFields::of(r.checksum.as_ref())
    } else {
        ChecksumFields::default()
    };
    Ok(ReadPlan { range, content_range, parts_count, fields })
}

impl CoffreS3 {
    /// The version of the authorised key that a read names, its KMS key noted for the audit.
    pub(super) fn object_to_read(
        &self,
        extensions: &http::Extensions,
        version_id: Option<&str>,
    ) -> S3Result<StoredObject> {
        let (bucket, key) = Authorised::of(extensions)?.object()?;
        let mut object = self.store.object(bucket, key, version(version_id)?.as_ref()).s3()?;
        // A version written before versioning was turned on is the null version, and is named
        // so from then on, as AWS names it.
        if object.record.version_id.is_none() && self.store.versioning(bucket).is_some() {
            object.record.version_id = Some("null".to_owned());
        }
        note_encryption(extensions, &object.record.encryption);
        crate::audit::note_version(extensions, object.record.version_id.as_deref());
        Ok(object)
    }

    pub(super) async fn do_put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        let permit = Authorised::of(&req.extensions)?.permit()?;
        let (bucket, _) = Authorised::of(&req.extensions)?.object()?;
        require_content_length(&req.headers)?;
        check_storage_class(input.storage_class.as_ref())?;
        let lock = version_lock!(input)?;
        request::refuse_grants!(input);
        let md5 = content_md5(&req.headers, input.content_md5.as_deref())?;
        let metadata = request::user_metadata(input.metadata)?;
        let tags = request::parse_tagging_header(input.tagging.as_deref())?;
        let public_read = canned_public_read(input.acl.as_ref().map(ObjectCannedACL::as_str))?;
        let condition = request::write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let checksum = checksum_request(&req.headers)?;
        // Fail before reading the body if the bucket is missing.
        self.store.bucket(bucket).s3()?;
        let customer = request_customer_key!(req, input)?;
        let encryption = self.write_encryption(
            bucket,
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.as_deref(),
            customer.as_ref(),
        )?;
        note_encryption(&req.extensions, &encryption);
        let staged = self
            .store
            .stage(body_stream(input.body), checksum.algorithm, true, key_wrap(&encryption, customer.as_ref()))
            .await
            .s3()?;
        verify_length(&req.headers, staged.size_bytes())?;
        verify_digests(&staged.digests, md5, &checksum, req.trailing_headers.as_ref())?;
        let attributes = ObjectAttributes {
            headers: HeaderInput {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: input.expires,
            }
            .into_headers(),
            user_metadata: metadata,
            tags,
            public_read,
        };
        let record = self.store.put_object(permit, staged, attributes, encryption, condition, lock).await.s3()?;
        crate::audit::note_version(&req.extensions, record.version_id.as_deref());
        let (server_side_encryption, ssekms_key_id) = sse_fields(&record.encryption);
        let mut fields = ChecksumFields::default();
        if let (Some(a), Some(c)) = (checksum.algorithm, &record.checksum)
            && c.algorithm == a
        {
            fields = ChecksumFields::of(Some(c));
        }
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&record.etag)),
            checksum_crc32: fields.crc32,
            checksum_crc32c: fields.crc32c,
            checksum_crc64nvme: fields.crc64nvme,
            checksum_sha1: fields.sha1,
            checksum_sha256: fields.sha256,
            checksum_type: fields.kind,
            size: Some(size_i64(record.size_bytes)),
            expiration: self.expiration_of(&req.extensions, &record),
            version_id: record.version_id.clone(),
            server_side_encryption,
            ssekms_key_id,
            sse_customer_algorithm: customer_fields(customer.as_ref()).0,
            sse_customer_key_md5: customer_fields(customer.as_ref()).1,
            ..Default::default()
        }))
    }

    pub(super) async fn do_post_object(
        &self,
        req: S3Request<PostObjectInput>,
    ) -> S3Result<S3Response<PostObjectOutput>> {
        let mut req = req;
        let form = req.extensions.get::<crate::form::FormFields>().cloned().unwrap_or_default();
        if req.input.key.contains("${filename}") {
            let name = form.file_name.ok_or_else(|| {
                s3_error!(InvalidArgument, "The key uses ${{filename}} but the form's file has no name")
            })?;
            req.input.key = req.input.key.replace("${filename}", &name);
        }
        if let Some(xml) = form.tagging.filter(|x| !x.trim().is_empty()) {
            let tags = parse_tagging_xml(&xml)?;
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &tags {
                query.append_pair(k, v);
            }
            req.input.tagging = Some(query.finish());
        }
        // The request's lengths describe the whole form; what follows concerns the file, which
        // s3s has already read within the policy's content-length-range.
        let file_len = req.input.content_length.unwrap_or(0);
        req.headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(file_len));
        req.headers.remove("x-amz-decoded-content-length");
        let req = req.map_input(|i| PutObjectInput {
            body: i.body,
            bucket: i.bucket,
            key: i.key,
            cache_control: i.cache_control,
            content_disposition: i.content_disposition,
            content_encoding: i.content_encoding,
            content_language: i.content_language,
            content_type: i.content_type,
            content_md5: i.content_md5,
            checksum_crc32: i.checksum_crc32,
            checksum_crc32c: i.checksum_crc32c,
            checksum_crc64nvme: i.checksum_crc64nvme,
            checksum_sha1: i.checksum_sha1,
            checksum_sha256: i.checksum_sha256,
            expires: i.expires,
            metadata: i.metadata,
            tagging: i.tagging,
            ..Default::default()
        });
        let out = self.do_put_object(req).await?;
        // s3s renders the form response (201 body, redirect URL) from the bare ETag value; S3
        // puts the quoted ETag there, and in an ETag header.
        let quoted = out.output.e_tag.as_ref().map(|e| format!("\"{}\"", e.value()));
        let mut resp = S3Response::new(PostObjectOutput {
            e_tag: quoted.clone().map(ETag::Strong),
            version_id: out.output.version_id.clone(),
            ..Default::default()
        });
        if let Some(v) = quoted.and_then(|q| http::HeaderValue::from_str(&q).ok()) {
            resp.headers.insert(http::header::ETAG, v);
        }
        Ok(resp)
    }

    pub(super) async fn do_head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let object = self.object_to_read(&req.extensions, input.version_id.as_deref())?;
        let r = &object.record;
        let customer = request_customer_key!(req, input)?;
        self.store.check_customer_key(&r.encryption, customer.as_ref()).s3()?;
        let (sse_customer_algorithm, sse_customer_key_md5) = customer_fields(customer.as_ref());
        let ReadPlan { range, content_range, parts_count, fields } = read_plan!(&object, input)?;
        let whole = content_range.is_none();
        let served = (range, content_range, parts_count);
        let sse_c = (sse_customer_algorithm, sse_customer_key_md5);
        let expiration = input.version_id.is_none().then(|| self.expiration_of(&req.extensions, r)).flatten();
        let mut resp = S3Response::new(object_output!(HeadObjectOutput, r, served, fields, sse_c, { expiration, }));
        if let Some(n) = convert::tag_count(r)
            && let Ok(v) = http::HeaderValue::from_str(&n.to_string())
        {
            resp.headers.insert("x-amz-tagging-count", v);
        }
        // HEAD honours the response-* overrides as GET does.
        let o = &mut resp.output;
        if input.response_content_type.is_some() {
            o.content_type = input.response_content_type;
        }
        if input.response_content_language.is_some() {
            o.content_language = input.response_content_language;
        }
        if input.response_content_disposition.is_some() {
            o.content_disposition = input.response_content_disposition;
        }
        if input.response_content_encoding.is_some() {
            o.content_encoding = input.response_content_encoding;
        }
        if input.response_cache_control.is_some() {
            o.cache_control = input.response_cache_control;
        }
        if input.response_expires.is_some() {
            o.expires = input.response_expires;
        }
        if !whole {
            resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(resp)
    }

    pub(super) async fn do_get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let object = self.object_to_read(&req.extensions, input.version_id.as_deref())?;
        let r = &object.record;
        let ReadPlan { range, content_range, parts_count, fields } = read_plan!(&object, input)?;
        let range_for_output = range.clone();
        let customer = request_customer_key!(req, input)?;
        let (sse_customer_algorithm, sse_customer_key_md5) = customer_fields(customer.as_ref());
        let body = StreamingBlob::wrap(self.store.read(&object, range, customer.as_ref()).s3()?);
        let served = (range_for_output, content_range, parts_count);
        let sse_c = (sse_customer_algorithm, sse_customer_key_md5);
        let expiration = input.version_id.is_none().then(|| self.expiration_of(&req.extensions, r)).flatten();
        Ok(S3Response::new(object_output!(GetObjectOutput, r, served, fields, sse_c, {
            expiration,
            body: Some(body),
            tag_count: convert::tag_count(r),
        })))
    }

    pub(super) async fn do_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        let permit = Authorised::of(&req.extensions)?.permit()?;
        let version = version(input.version_id.as_deref())?;
        let condition = request::write_condition(input.if_match.as_ref(), None)?;
        let bypass = Authorised::of(&req.extensions)?.bypass_governance();
        let deletion = self.store.delete_object(permit, version.as_ref(), condition, bypass).await.s3()?;
        crate::audit::note_version(&req.extensions, deletion.version.as_ref().map(VersionId::as_str));
        let output = DeleteObjectOutput {
            delete_marker: deletion.delete_marker.then_some(true),
            version_id: deletion.version.as_ref().map(|v| v.as_str().to_owned()),
            ..Default::default()
        };
        Ok(S3Response::with_status(output, http::StatusCode::NO_CONTENT))
    }

    pub(super) async fn do_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        self.store.bucket(Authorised::of(&req.extensions)?.bucket()?).s3()?;
        if input.delete.objects.len() > LIST_KEYS_MAX {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let gate = req.extensions.get::<KeyGate>().ok_or_else(|| s3_error!(AccessDenied, "Access Denied"))?;
        // A bypass asked for and not allowed is no bypass (GOVERNANCE-locked versions stay).
        let bypass = input.bypass_governance_retention == Some(true) && gate.may_bypass_governance();
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for o in input.delete.objects {
            let result = match (gate.delete_permit(&o.key, o.version_id.is_some()), version(o.version_id.as_deref())) {
                (Ok(permit), Ok(version)) => {
                    self.store.delete_object(&permit, version.as_ref(), WriteCondition::None, bypass).await.s3()
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            match result {
                Ok(deletion) => {
                    if !quiet {
                        // A marker written (no version named) or deleted (named) is reported
                        // as AWS does.
                        let marker_id = deletion.version.as_ref().map(|v| v.as_str().to_owned());
                        deleted.push(DeletedObject {
                            key: Some(o.key),
                            delete_marker: deletion.delete_marker.then_some(true),
                            delete_marker_version_id: marker_id.filter(|_| deletion.delete_marker),
                            version_id: o.version_id,
                        });
                    }
                }
                Err(e) => errors.push(Error {
                    key: Some(o.key),
                    version_id: o.version_id,
                    code: Some(e.code().as_str().to_owned()),
                    message: e.message().map(str::to_owned),
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    pub(super) async fn do_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let authorised = Authorised::of(&req.extensions)?;
        let (permit, (bucket, key)) = (authorised.permit()?, authorised.object()?);
        let src = authorised.copy_source()?;
        let condition = destination_condition(&req.headers)?;
        check_storage_class(input.storage_class.as_ref())?;
        // The copy gets the lock the request names (or the bucket's default), never the source's.
        let lock = version_lock!(input)?;
        request::refuse_grants!(input);
        self.store.bucket(bucket).s3()?;
        let source = self.store.object(&src.bucket, &src.key, src.version.as_ref()).s3()?;
        copy_source_conditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
        )?;
        let replace_metadata = match input.metadata_directive.as_ref().map(MetadataDirective::as_str) {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(_) => return Err(s3_error!(InvalidArgument, "Unknown metadata directive.")),
        };
        let replace_tags = match input.tagging_directive.as_ref().map(TaggingDirective::as_str) {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(_) => return Err(s3_error!(InvalidArgument, "Unknown tagging directive.")),
        };
        let same_object = src.bucket == *bucket && src.key == *key;
        if same_object && !replace_metadata && input.checksum_algorithm.is_none() && input.storage_class.is_none() {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let mut attributes = source.record.attributes.clone();
        // The copy gets the ACL the request names (private by default), never the source's.
        attributes.public_read = canned_public_read(input.acl.as_ref().map(ObjectCannedACL::as_str))?;
        if replace_metadata {
            attributes.headers = HeaderInput {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: input.expires,
            }
            .into_headers();
            attributes.user_metadata = request::user_metadata(input.metadata)?;
        }
        if replace_tags {
            attributes.tags = request::parse_tagging_header(input.tagging.as_deref())?;
        }
        let algorithm = input
            .checksum_algorithm
            .as_ref()
            .and_then(convert::algorithm_from_dto)
            .or_else(|| source.record.checksum.as_ref().map(|c| c.algorithm));
        let source_customer = source_customer_key!(req, input)?;
        let customer = request_customer_key!(req, input)?;
        let data = self.store.read(&source, 0..source.record.size_bytes, source_customer.as_ref()).s3()?;
        let encryption = self.write_encryption(
            bucket,
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.as_deref(),
            customer.as_ref(),
        )?;
        note_encryption(&req.extensions, &encryption);
        let staged = self
            .store
            .stage(copy_stream(data), algorithm, true, key_wrap(&encryption, customer.as_ref()))
            .await
            .s3()?;
        let record = self.store.put_object(permit, staged, attributes, encryption, condition, lock).await.s3()?;
        crate::audit::note_version(&req.extensions, record.version_id.as_deref());
        let (server_side_encryption, ssekms_key_id) = sse_fields(&record.encryption);
        let fields = ChecksumFields::of(record.checksum.as_ref());
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&record.etag)),
                last_modified: Some(timestamp(record.last_modified_ns)),
                checksum_crc32: fields.crc32,
                checksum_crc32c: fields.crc32c,
                checksum_crc64nvme: fields.crc64nvme,
                checksum_sha1: fields.sha1,
                checksum_sha256: fields.sha256,
                checksum_type: fields.kind,
            }),
            server_side_encryption,
            ssekms_key_id,
            version_id: record.version_id.clone(),
            expiration: self.expiration_of(&req.extensions, &record),
            copy_source_version_id: source.record.version_id.clone(),
            ..Default::default()
        }))
    }

    pub(super) async fn do_get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let (bucket, key) = Authorised::of(&req.extensions)?.object()?;
        let object = self.store.object(bucket, key, version(req.input.version_id.as_deref())?.as_ref()).s3()?;
        let tag_set = object
            .record
            .attributes
            .tags
            .iter()
            .map(|(k, v)| Tag { key: Some(k.clone()), value: Some(v.clone()) })
            .collect();
        Ok(S3Response::new(GetObjectTaggingOutput { tag_set, version_id: object.record.version_id.clone() }))
    }

    pub(super) async fn do_put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        let tags = input
            .tagging
            .tag_set
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        let tags = request::validate_tags(tags)?;
        let version = version(input.version_id.as_deref())?;
        self.store.set_tags(Authorised::of(&req.extensions)?.permit()?, version.as_ref(), tags).await.s3()?;
        Ok(S3Response::new(PutObjectTaggingOutput { version_id: input.version_id }))
    }

    pub(super) async fn do_delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let version = version(req.input.version_id.as_deref())?;
        let permit = Authorised::of(&req.extensions)?.permit()?;
        self.store.set_tags(permit, version.as_ref(), Vec::new()).await.s3()?;
        let output = DeleteObjectTaggingOutput { version_id: req.input.version_id };
        Ok(S3Response::with_status(output, http::StatusCode::NO_CONTENT))
    }
}

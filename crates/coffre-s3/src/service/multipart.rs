//! Multipart uploads: create, parts (uploaded or copied), complete, abort and their listings.

use super::listing::{encode_if, is_url_encoding};
use super::*;

/// Uploads name the bucket owner as their initiator.
fn initiator(owner: Owner) -> Initiator {
    Initiator { id: owner.id, display_name: owner.display_name }
}

/// Parses `x-amz-copy-source-range: bytes=first-last` against the source size.
fn copy_source_range(range: Option<&str>, size: u64) -> S3Result<std::ops::Range<u64>> {
    let Some(range) = range else {
        return Ok(0..size);
    };
    let invalid = || {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            format!("Range specified is not valid for source object of size: {size}"),
        )
    };
    let spec = range.strip_prefix("bytes=").ok_or_else(invalid)?;
    let (first, last) = spec.split_once('-').ok_or_else(invalid)?;
    let first: u64 = first.parse().map_err(|_| invalid())?;
    let last: u64 = last.parse().map_err(|_| invalid())?;
    if first > last || last >= size {
        return Err(invalid());
    }
    Ok(first..last + 1)
}

impl CoffreS3 {
    pub(super) async fn do_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        let authorised = Authorised::of(&req.extensions)?;
        let (permit, (bucket, key)) = (authorised.permit()?, authorised.object()?);
        check_storage_class(input.storage_class.as_ref())?;
        let lock = version_lock!(input)?;
        request::refuse_grants!(input);
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
            user_metadata: request::user_metadata(input.metadata)?,
            tags: request::parse_tagging_header(input.tagging.as_deref())?,
            public_read: canned_public_read(input.acl.as_ref().map(ObjectCannedACL::as_str))?,
        };
        let algorithm = match input.checksum_algorithm.as_ref() {
            Some(a) => Some(
                convert::algorithm_from_dto(a)
                    .ok_or_else(|| s3_error!(InvalidRequest, "Checksum algorithm provided is unsupported."))?,
            ),
            None => None,
        };
        let kind = match input.checksum_type.as_ref() {
            Some(t) => Some(
                ChecksumType::parse(t.as_str())
                    .ok_or_else(|| s3_error!(InvalidRequest, "Value for x-amz-checksum-type header is invalid."))?,
            ),
            None => None,
        };
        if kind.is_some() && algorithm.is_none() {
            return Err(s3_error!(
                InvalidRequest,
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
            ));
        }
        let customer = request_customer_key!(req, input)?;
        let encryption = self.write_encryption(
            bucket,
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.as_deref(),
            customer.as_ref(),
        )?;
        note_encryption(&req.extensions, &encryption);
        let (server_side_encryption, ssekms_key_id) = sse_fields(&encryption);
        let (sse_customer_algorithm, sse_customer_key_md5) = customer_fields(customer.as_ref());
        let upload_id = self.store.create_upload(permit, attributes, algorithm, kind, (encryption, lock)).await.s3()?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            server_side_encryption,
            ssekms_key_id,
            sse_customer_algorithm,
            sse_customer_key_md5,
            bucket: Some(bucket.to_string()),
            key: Some(key.to_string()),
            upload_id: Some(upload_id.as_str().to_owned()),
            checksum_algorithm: input.checksum_algorithm,
            checksum_type: kind
                .or(algorithm.map(|a| {
                    if a == ChecksumAlgorithm::Crc64Nvme { ChecksumType::FullObject } else { ChecksumType::Composite }
                }))
                .map(convert::checksum_type_dto),
            ..Default::default()
        }))
    }

    pub(super) async fn do_upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        let authorised = Authorised::of(&req.extensions)?;
        let (permit, (bucket, key)) = (authorised.permit()?, authorised.object()?);
        let part_number = PartNumber::parse(i64::from(input.part_number)).s3()?;
        let upload_id = UploadId::parse(&input.upload_id).s3()?;
        let upload = self.store.upload(bucket, key, &upload_id).s3()?;
        let checksum = checksum_request(&req.headers)?;
        if let (Some(declared), Some(sent)) = (upload.checksum_algorithm, checksum.algorithm)
            && declared != sent
        {
            return Err(s3_error!(
                InvalidRequest,
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                declared.name().to_ascii_lowercase(),
                sent.name().to_ascii_lowercase()
            ));
        }
        require_content_length(&req.headers)?;
        let md5 = content_md5(&req.headers, input.content_md5.as_deref())?;
        let customer = request_customer_key!(req, input)?;
        self.store.check_customer_key(&upload.encryption, customer.as_ref()).s3()?;
        let algorithm = upload.checksum_algorithm.or(checksum.algorithm);
        let staged = self
            .store
            .stage(body_stream(input.body), algorithm, false, key_wrap(&upload.encryption, customer.as_ref()))
            .await
            .s3()?;
        verify_length(&req.headers, staged.size_bytes())?;
        verify_digests(&staged.digests, md5, &checksum, req.trailing_headers.as_ref())?;
        let mut fields = ChecksumFields::default();
        if let Some(a) = algorithm
            && let Some(raw) = staged.digests.raw(a)
        {
            use base64::Engine as _;
            fields.set(a, base64::engine::general_purpose::STANDARD.encode(raw));
        }
        let part = self.store.upload_part(permit, &upload_id, part_number, staged).await.s3()?;
        let (server_side_encryption, ssekms_key_id) = sse_fields(&upload.encryption);
        let (sse_customer_algorithm, sse_customer_key_md5) = customer_fields(customer.as_ref());
        Ok(S3Response::new(UploadPartOutput {
            server_side_encryption,
            ssekms_key_id,
            sse_customer_algorithm,
            sse_customer_key_md5,
            e_tag: Some(etag(&part.md5_hex)),
            checksum_crc32: fields.crc32,
            checksum_crc32c: fields.crc32c,
            checksum_crc64nvme: fields.crc64nvme,
            checksum_sha1: fields.sha1,
            checksum_sha256: fields.sha256,
            ..Default::default()
        }))
    }

    pub(super) async fn do_upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        let authorised = Authorised::of(&req.extensions)?;
        let (permit, (bucket, key)) = (authorised.permit()?, authorised.object()?);
        let part_number = PartNumber::parse(i64::from(input.part_number)).s3()?;
        let upload_id = UploadId::parse(&input.upload_id).s3()?;
        let upload = self.store.upload(bucket, key, &upload_id).s3()?;
        let src = authorised.copy_source()?;
        let source = self.store.object(&src.bucket, &src.key, src.version.as_ref()).s3()?;
        copy_source_conditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
        )?;
        let range = copy_source_range(input.copy_source_range.as_deref(), source.record.size_bytes)?;
        let source_customer = source_customer_key!(req, input)?;
        let customer = request_customer_key!(req, input)?;
        self.store.check_customer_key(&upload.encryption, customer.as_ref()).s3()?;
        let data = self.store.read(&source, range, source_customer.as_ref()).s3()?;
        let staged = self
            .store
            .stage(copy_stream(data), upload.checksum_algorithm, false, key_wrap(&upload.encryption, customer.as_ref()))
            .await
            .s3()?;
        let mut fields = ChecksumFields::default();
        if let Some(a) = upload.checksum_algorithm
            && let Some(raw) = staged.digests.raw(a)
        {
            use base64::Engine as _;
            fields.set(a, base64::engine::general_purpose::STANDARD.encode(raw));
        }
        let part = self.store.upload_part(permit, &upload_id, part_number, staged).await.s3()?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(etag(&part.md5_hex)),
                last_modified: Some(timestamp(part.last_modified_ns)),
                checksum_crc32: fields.crc32,
                checksum_crc32c: fields.crc32c,
                checksum_crc64nvme: fields.crc64nvme,
                checksum_sha1: fields.sha1,
                checksum_sha256: fields.sha256,
            }),
            ..Default::default()
        }))
    }

    pub(super) async fn do_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let authorised = Authorised::of(&req.extensions)?;
        let (permit, (bucket, key)) = (authorised.permit()?, authorised.object()?);
        let upload_id = UploadId::parse(&input.upload_id).s3()?;
        let condition = request::write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let listed = input.multipart_upload.and_then(|m| m.parts).ok_or_else(|| {
            s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            )
        })?;
        let mut parts = Vec::with_capacity(listed.len());
        for p in listed {
            let number = p.part_number.ok_or_else(|| s3_error!(MalformedXML, "A part is missing its PartNumber"))?;
            let part_number = PartNumber::parse(i64::from(number)).s3()?;
            let checksum_base64 = p.checksum_crc32.or(p.checksum_crc32c).or(p.checksum_sha1).or(p.checksum_sha256);
            parts.push(CompletedPart {
                part_number: part_number.get(),
                etag: p.e_tag.map(ETag::into_value).unwrap_or_default(),
                checksum_base64,
            });
        }
        let expected_checksum = [
            (ChecksumAlgorithm::Crc32, input.checksum_crc32),
            (ChecksumAlgorithm::Crc32c, input.checksum_crc32c),
            (ChecksumAlgorithm::Crc64Nvme, input.checksum_crc64nvme),
            (ChecksumAlgorithm::Sha1, input.checksum_sha1),
            (ChecksumAlgorithm::Sha256, input.checksum_sha256),
        ]
        .into_iter()
        .find_map(|(a, v)| v.map(|v| (a, v)));
        let request = CompleteRequest {
            parts,
            condition,
            expected_checksum,
            checksum_type: input.checksum_type.as_ref().and_then(|t| ChecksumType::parse(t.as_str())),
            expected_size_bytes: input.mpu_object_size.and_then(|n| u64::try_from(n).ok()),
        };
        let record = self.store.complete_upload(permit, &upload_id, request).await.s3()?;
        crate::audit::note_version(&req.extensions, record.version_id.as_deref());
        let fields = ChecksumFields::of(record.checksum.as_ref());
        let (server_side_encryption, ssekms_key_id) = sse_fields(&record.encryption);
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            server_side_encryption,
            ssekms_key_id,
            bucket: Some(bucket.to_string()),
            key: Some(key.to_string()),
            location: Some(format!("/{bucket}/{key}")),
            version_id: record.version_id.clone(),
            expiration: self.expiration_of(&req.extensions, &record),
            e_tag: Some(etag(&record.etag)),
            checksum_crc32: fields.crc32,
            checksum_crc32c: fields.crc32c,
            checksum_crc64nvme: fields.crc64nvme,
            checksum_sha1: fields.sha1,
            checksum_sha256: fields.sha256,
            checksum_type: fields.kind,
            ..Default::default()
        }))
    }

    pub(super) async fn do_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let upload_id = UploadId::parse(&req.input.upload_id).s3()?;
        self.store.abort_upload(Authorised::of(&req.extensions)?.permit()?, &upload_id).await.s3()?;
        Ok(S3Response::with_status(AbortMultipartUploadOutput::default(), http::StatusCode::NO_CONTENT))
    }

    pub(super) async fn do_list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let (bucket, key) = Authorised::of(&req.extensions)?.object()?;
        let upload_id = UploadId::parse(&input.upload_id).s3()?;
        let upload = self.store.upload(bucket, key, &upload_id).s3()?;
        let max = match input.max_parts {
            None => 1000,
            Some(n) if n < 0 => {
                return Err(s3_error!(InvalidArgument, "max-parts cannot be negative"));
            }
            Some(n) => usize::try_from(n).unwrap_or(1000).min(1000),
        };
        let after = u32::try_from(input.part_number_marker.unwrap_or(0).max(0)).unwrap_or(0);
        let (parts, truncated) = self.store.parts(&upload_id, after, max).s3()?;
        let next = parts.last().map(|(n, _)| i32::try_from(*n).unwrap_or(i32::MAX));
        let parts = parts
            .into_iter()
            .map(|(n, p)| {
                let mut fields = ChecksumFields::default();
                if let (Some(a), Some(v)) = (upload.checksum_algorithm, p.checksum_base64.clone()) {
                    fields.set(a, v);
                }
                Part {
                    part_number: Some(i32::try_from(n).unwrap_or(i32::MAX)),
                    e_tag: Some(etag(&p.md5_hex)),
                    size: Some(size_i64(p.size_bytes)),
                    last_modified: Some(timestamp(p.last_modified_ns)),
                    checksum_crc32: fields.crc32,
                    checksum_crc32c: fields.crc32c,
                    checksum_crc64nvme: fields.crc64nvme,
                    checksum_sha1: fields.sha1,
                    checksum_sha256: fields.sha256,
                }
            })
            .collect();
        let owner = self.bucket_owner(bucket);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            max_parts: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            parts: Some(parts),
            owner: Some(owner.clone()),
            initiator: Some(initiator(owner)),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            checksum_algorithm: upload.checksum_algorithm.map(convert::algorithm_dto),
            ..Default::default()
        }))
    }

    pub(super) async fn do_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let bucket = Authorised::of(&req.extensions)?.bucket()?;
        let url = is_url_encoding(input.encoding_type.as_ref())?;
        let max = match input.max_uploads {
            None => 1000,
            Some(n) if n < 0 => {
                return Err(s3_error!(InvalidArgument, "max-uploads cannot be negative"));
            }
            Some(n) => usize::try_from(n).unwrap_or(1000).min(1000),
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let all = self
            .store
            .uploads(
                bucket,
                &prefix,
                input.key_marker.as_deref().filter(|m| !m.is_empty()),
                input.upload_id_marker.as_deref().filter(|m| !m.is_empty()),
            )
            .s3()?;
        let mut uploads = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut truncated = false;
        let mut next_key = None;
        let mut next_id = None;
        for (key, id, record) in all {
            let cp = delimiter.as_deref().and_then(|d| {
                key.get(prefix.len()..)
                    .and_then(|rest| rest.find(d).map(|pos| key[..prefix.len() + pos + d.len()].to_owned()))
            });
            if let Some(cp) = &cp
                && prefixes.last() == Some(cp)
            {
                continue;
            }
            if uploads.len() + prefixes.len() == max {
                truncated = true;
                break;
            }
            match cp {
                Some(cp) => {
                    next_key = Some(cp.clone());
                    prefixes.push(cp);
                }
                None => {
                    next_key = Some(key.clone());
                    next_id = Some(id.clone());
                    uploads.push(MultipartUpload {
                        key: Some(encode_if(url, key)),
                        upload_id: Some(id),
                        initiated: Some(timestamp(record.initiated_ns)),
                        owner: Some(self.bucket_owner(bucket)),
                        initiator: Some(initiator(self.bucket_owner(bucket))),
                        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                        checksum_algorithm: record.checksum_algorithm.map(convert::algorithm_dto),
                        ..Default::default()
                    });
                }
            }
        }
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: Some(encode_if(url, prefix)),
            delimiter: input.delimiter.map(|d| encode_if(url, d)),
            key_marker: Some(input.key_marker.unwrap_or_default()),
            upload_id_marker: Some(input.upload_id_marker.unwrap_or_default()),
            max_uploads: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            next_key_marker: truncated.then_some(next_key).flatten().map(|k| encode_if(url, k)),
            next_upload_id_marker: truncated.then_some(next_id).flatten(),
            uploads: Some(uploads),
            common_prefixes: Some(
                prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(encode_if(url, p)) }).collect(),
            ),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}

"""The malformed-request catalogue (issue 14), continued from test_malformed.py: each case
sends one bad request and checks AWS's exact error code and HTTP status, that the server did
not fail (no 5xx) and that the request left nothing behind (`state()`: buckets, objects,
uploads, bucket configuration, the existing object's tags).

The expected answers are AWS S3's documented ones: the S3 API reference ("Error responses"
and each operation's page), the bucket naming rules, the SigV4 and POST-policy references;
where the documentation gives only the status, the code AWS returns as the upstream
s3-tests suite records it. Requests whose right answer is not settled are left out.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import os
import socket
import ssl
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import pytest
import requests

from conftest import crc32_b64, md5_b64
from test_malformed import (  # noqa: F401  (ctx_bucket is a fixture)
    BODY_MD5,
    EXISTING_ETAG,
    EXISTING_KEY,
    Case,
    ctx_bucket,
    error_of,
    parse_http_response,
    replace_auth,
    replace_url,
    run_case,
    set_headers,
    sigv4_headers,
    state,
    utcnow,
)

OBJ = "/{bucket}/" + EXISTING_KEY
NEW_OBJ = "/{bucket}/new-object"
SRC = {"x-amz-copy-source": "/{bucket}/" + EXISTING_KEY}
OLD_DATE = "Sat, 01 Jan 2000 00:00:00 GMT"
FUTURE_DATE = "Sun, 01 Jan 2090 00:00:00 GMT"
WRONG_ETAG = '"00000000000000000000000000000000"'

# SSE-C header names and a key.
ALG = "x-amz-server-side-encryption-customer-algorithm"
KEY = "x-amz-server-side-encryption-customer-key"
KMD5 = "x-amz-server-side-encryption-customer-key-MD5"
SSEC_KEY = bytes(range(32))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ssec(key: bytes = SSEC_KEY, *, algorithm="AES256", md5_of: bytes | None = None,
         prefix="x-amz-") -> dict:
    """The three SSE-C headers (or the copy-source ones, with prefix x-amz-copy-source-)."""
    md5 = hashlib.md5(key if md5_of is None else md5_of).digest()
    return {
        ALG.replace("x-amz-", prefix): algorithm,
        KEY.replace("x-amz-", prefix): b64(key),
        KMD5.replace("x-amz-", prefix): b64(md5),
    }


def without(d: dict, name: str) -> dict:
    return {k: v for k, v in d.items() if k != name}


def with_md5(**headers) -> dict:
    """Headers with the right Content-MD5 (of the body as sent)."""
    return {"Content-MD5": BODY_MD5, **headers}


# One lifecycle rule whose action is {action}.
LIFECYCLE_XML = ("<LifecycleConfiguration><Rule><ID>r</ID><Filter><Prefix>logs/</Prefix></Filter>"
                 "<Status>Enabled</Status>{action}</Rule></LifecycleConfiguration>")


def xml_code(body: bytes) -> str | None:
    """The <Code> of an error body read off a raw socket."""
    return error_of(SimpleNamespace(content=body))


def tagging_xml(pairs) -> bytes:
    tags = "".join(f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>" for k, v in pairs)
    return f"<Tagging><TagSet>{tags}</TagSet></Tagging>".encode()


def delete_xml(keys) -> bytes:
    objects = "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
    return f"<Delete>{objects}</Delete>".encode()


def policy(*statements, version="2012-10-17", **top) -> bytes:
    doc = {"Version": version, "Statement": list(statements), **top}
    return json.dumps(doc).encode()


GOOD_STATEMENT = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                  "Resource": "arn:aws:s3:::{bucket}/*"}


def statement(**changes) -> dict:
    """GOOD_STATEMENT with fields changed (None removes one)."""
    st = {**GOOD_STATEMENT, **changes}
    return {k: v for k, v in st.items() if v is not None}


def xml_doc(root: str, inner: str) -> bytes:
    return f'<{root} xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{inner}</{root}>'.encode()


def pab(inner: str) -> bytes:
    return xml_doc("PublicAccessBlockConfiguration", inner)


def sse_config(inner: str) -> bytes:
    return xml_doc("ServerSideEncryptionConfiguration", inner)


def sse_default(algorithm: str, extra: str = "") -> bytes:
    return sse_config(f"<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>{algorithm}"
                      f"</SSEAlgorithm>{extra}</ApplyServerSideEncryptionByDefault></Rule>")


def logging_status(inner: str) -> bytes:
    return xml_doc("BucketLoggingStatus", inner)


def _skew(**delta):
    return lambda: {"when": utcnow() + datetime.timedelta(**delta)}


def _presigned_at(expires: int, **delta):
    return lambda: {"expires": expires, "when": utcnow() + datetime.timedelta(**delta)}


ELEVEN_TAGS = "&".join(f"k{i}=v" for i in range(11))

# --------------------------------------------------------------------------
# requests that need nothing but the bucket holding EXISTING_KEY
# --------------------------------------------------------------------------

BUCKET_NAMES = [
    # General purpose bucket naming rules (User Guide): 400 InvalidBucketName.
    Case(f"bucket-name-{label}", "PUT", "/" + name, 400, "InvalidBucketName")
    for label, name in [
        ("trailing-dash", "bucket-"),
        ("trailing-dot", "bucket."),
        ("leading-dot", ".bucket"),
        ("uppercase-only", "ABCDEF"),
        ("one-uppercase-letter", "bucKet"),
        ("underscore", "bad_bucket"),
        ("xn-prefix", "xn--bucket"),
        ("sthree-prefix", "sthree-bucket"),
        ("amzn-s3-demo-prefix", "amzn-s3-demo-bucket"),
        ("s3alias-suffix", "bucket-s3alias"),
        ("ol-s3-suffix", "bucket--ol-s3"),
        ("mrap-suffix", "bucket.mrap"),
        ("x-s3-suffix", "bucket--x-s3"),
        ("dot-dash", "bad.-name"),
        ("dash-dot", "bad-.name"),
        ("unicode", "caf%C3%A9-bucket"),
        ("space", "bad%20name"),
        ("one-char", "a"),
        ("255-chars", "a" * 255),
        ("ip-address-10", "10.0.0.1"),
    ]
]

KEYS_AND_METADATA = [
    # 342 three-byte characters: 1026 bytes, although only 342 characters.
    Case("key-1026-utf8-bytes", "PUT", "/{bucket}/" + "%E2%82%AC" * 342, 400, "KeyTooLongError",
         body=b"x"),
    Case("key-too-long-create-multipart", "POST", "/{bucket}/" + "k" * 1025, 400,
         "KeyTooLongError", query="uploads"),
    Case("key-too-long-copy-destination", "PUT", "/{bucket}/" + "k" * 1025, 400,
         "KeyTooLongError", headers=SRC),
    # A key must be UTF-8: "Couldn't parse the specified URI."
    Case("key-invalid-utf8-put", "PUT", "/{bucket}/bad%FFkey", 400, "InvalidURI", body=b"x"),
    Case("key-invalid-utf8-get", "GET", "/{bucket}/bad%FFkey", 400, "InvalidURI"),
    # User metadata: at most 2 KB, names plus values (UsingMetadata).
    Case("metadata-2049-bytes", "PUT", NEW_OBJ, 400, "MetadataTooLarge",
         headers={"x-amz-meta-a": "v" * 2048}, body=b"x"),
    Case("metadata-name-over-2k", "PUT", NEW_OBJ, 400, "MetadataTooLarge",
         headers={"x-amz-meta-" + "n" * 2049: "v"}, body=b"x"),
    Case("metadata-too-large-create-multipart", "POST", NEW_OBJ, 400, "MetadataTooLarge",
         query="uploads", headers={"x-amz-meta-a": "v" * 2048}),
    Case("metadata-too-large-copy-replace", "PUT", NEW_OBJ, 400, "MetadataTooLarge",
         headers={**SRC, "x-amz-metadata-directive": "REPLACE", "x-amz-meta-a": "v" * 2048}),
    # 411 MissingContentLength is sent over a raw socket: see test_missing_content_length.
]

CANNED_ACLS = [
    # An unknown canned ACL: 400 InvalidArgument.
    Case("acl-unknown-put-object", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={"x-amz-acl": "bogus"}, body=b"x"),
    Case("acl-uppercase-put-object", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={"x-amz-acl": "PUBLIC-READ"}, body=b"x"),
    Case("acl-underscore-put-object", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={"x-amz-acl": "public_read"}, body=b"x"),
    Case("acl-unknown-create-bucket", "PUT", "/{new}", 400, "InvalidArgument",
         headers={"x-amz-acl": "bogus"}),
    Case("acl-unknown-put-object-acl", "PUT", OBJ, 400, "InvalidArgument", query="acl",
         headers={"x-amz-acl": "bogus"}),
    Case("acl-unknown-create-multipart", "POST", NEW_OBJ, 400, "InvalidArgument",
         query="uploads", headers={"x-amz-acl": "bogus"}),
    Case("acl-unknown-copy-object", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={**SRC, "x-amz-acl": "bogus"}),
]

STORAGE_CLASS_AND_SSE = [
    Case("storage-class-unknown", "PUT", NEW_OBJ, 400, "InvalidStorageClass",
         headers={"x-amz-storage-class": "BOGUS"}, body=b"x"),
    Case("storage-class-lowercase", "PUT", NEW_OBJ, 400, "InvalidStorageClass",
         headers={"x-amz-storage-class": "standard"}, body=b"x"),
    Case("storage-class-unknown-copy", "PUT", NEW_OBJ, 400, "InvalidStorageClass",
         headers={**SRC, "x-amz-storage-class": "FAST"}),
    # x-amz-server-side-encryption takes AES256, aws:kms, aws:kms:dsse.
    Case("sse-aes512", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={"x-amz-server-side-encryption": "AES512"}, body=b"x"),
    Case("sse-lowercase-aes256", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={"x-amz-server-side-encryption": "aes256"}, body=b"x"),
    Case("sse-unknown-kms-variant", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={"x-amz-server-side-encryption": "aws:kms:bogus"}, body=b"x"),
    Case("sse-unknown-create-multipart", "POST", NEW_OBJ, 400, "InvalidArgument",
         query="uploads", headers={"x-amz-server-side-encryption": "DES"}),
    Case("sse-unknown-copy", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={**SRC, "x-amz-server-side-encryption": "DES"}),
    Case("sse-kms-key-id-without-sse-header", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={"x-amz-server-side-encryption-aws-kms-key-id": "some-key"}, body=b"x"),
    Case("sse-kms-unknown-key", "PUT", NEW_OBJ, 400, "KMS.NotFoundException",
         headers={"x-amz-server-side-encryption": "aws:kms",
                  "x-amz-server-side-encryption-aws-kms-key-id": "no-such-key"}, body=b"x"),
    Case("sse-c-with-sse-s3", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={**ssec(), "x-amz-server-side-encryption": "AES256"}, body=b"x"),
    Case("sse-c-with-sse-kms", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={**ssec(), "x-amz-server-side-encryption": "aws:kms"}, body=b"x"),
]

SSE_C_HEADERS = [
    # All three headers or none; the key 256 bits, its MD5 right; AES256 only.
    Case("sse-c-key-without-md5", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers=without(ssec(), KMD5), body=b"x"),
    Case("sse-c-md5-without-key", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers=without(ssec(), KEY), body=b"x"),
    Case("sse-c-key-without-algorithm", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers=without(ssec(), ALG), body=b"x"),
    Case("sse-c-algorithm-only", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={ALG: "AES256"}, body=b"x"),
    Case("sse-c-wrong-key-md5", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers=ssec(md5_of=b"another key"), body=b"x"),
    Case("sse-c-128-bit-key", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers=ssec(bytes(16)), body=b"x"),
    Case("sse-c-512-bit-key", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers=ssec(bytes(64)), body=b"x"),
    Case("sse-c-key-not-base64", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={**ssec(), KEY: "!!not base64!!"}, body=b"x"),
    Case("sse-c-algorithm-aes128", "PUT", NEW_OBJ, 400, "InvalidEncryptionAlgorithmError",
         headers=ssec(algorithm="AES128"), body=b"x"),
    Case("sse-c-algorithm-lowercase", "PUT", NEW_OBJ, 400, "InvalidEncryptionAlgorithmError",
         headers=ssec(algorithm="aes256"), body=b"x"),
    Case("sse-c-key-without-md5-create-multipart", "POST", NEW_OBJ, 400, "InvalidArgument",
         query="uploads", headers=without(ssec(), KMD5)),
    Case("sse-c-wrong-key-md5-get", "GET", OBJ, 400, "InvalidArgument",
         headers=ssec(md5_of=b"another key")),
    # SSE-C headers on an object that is not SSE-C encrypted.
    Case("sse-c-key-on-plain-object", "GET", OBJ, 400, "InvalidRequest", headers=ssec()),
]

TAG_HEADERS = [
    # x-amz-tagging: at most 10 tags ("Object tags cannot be greater than 10", BadRequest),
    # keys of 1 to 128 and values of at most 256 characters, unique keys (InvalidTag).
    Case("tagging-header-11-tags", "PUT", NEW_OBJ, 400, "BadRequest",
         headers={"x-amz-tagging": ELEVEN_TAGS}, body=b"x"),
    Case("tagging-header-key-129", "PUT", NEW_OBJ, 400, "InvalidTag",
         headers={"x-amz-tagging": "k" * 129 + "=v"}, body=b"x"),
    Case("tagging-header-value-257", "PUT", NEW_OBJ, 400, "InvalidTag",
         headers={"x-amz-tagging": "k=" + "v" * 257}, body=b"x"),
    Case("tagging-header-duplicate-key", "PUT", NEW_OBJ, 400, "InvalidTag",
         headers={"x-amz-tagging": "a=1&a=2"}, body=b"x"),
    Case("tagging-header-empty-key", "PUT", NEW_OBJ, 400, "InvalidTag",
         headers={"x-amz-tagging": "=v"}, body=b"x"),
    Case("tagging-header-11-tags-create-multipart", "POST", NEW_OBJ, 400, "BadRequest",
         query="uploads", headers={"x-amz-tagging": ELEVEN_TAGS}),
    Case("tagging-header-duplicate-copy-replace", "PUT", NEW_OBJ, 400, "InvalidTag",
         headers={**SRC, "x-amz-tagging-directive": "REPLACE", "x-amz-tagging": "a=1&a=2"}),
]


def _put_tagging(case_id, status, code, body, path=OBJ):
    return Case(case_id, "PUT", path, status, code, query="tagging", body=body,
                headers=with_md5())


TAGGING_DOCUMENTS = [
    _put_tagging("put-tagging-11-tags", 400, "BadRequest",
                 tagging_xml((f"k{i}", "v") for i in range(11))),
    _put_tagging("put-tagging-key-129", 400, "InvalidTag", tagging_xml([("k" * 129, "v")])),
    _put_tagging("put-tagging-value-257", 400, "InvalidTag", tagging_xml([("k", "v" * 257)])),
    _put_tagging("put-tagging-duplicate-key", 400, "InvalidTag",
                 tagging_xml([("a", "1"), ("a", "2")])),
    _put_tagging("put-tagging-empty-key", 400, "InvalidTag", tagging_xml([("", "v")])),
    _put_tagging("put-tagging-unclosed-xml", 400, "MalformedXML",
                 b"<Tagging><TagSet><Tag><Key>a</Key>"),
    _put_tagging("put-tagging-not-xml", 400, "MalformedXML", b"key=value"),
    _put_tagging("put-tagging-wrong-root", 400, "MalformedXML",
                 b"<Tags><TagSet></TagSet></Tags>"),
    _put_tagging("put-tagging-without-tagset", 400, "MalformedXML", b"<Tagging></Tagging>"),
    _put_tagging("put-tagging-empty-body", 400, "MissingRequestBodyError", b""),
    _put_tagging("put-tagging-missing-key", 404, "NoSuchKey", tagging_xml([("a", "b")]),
                 path="/{bucket}/no-such-key"),
    Case("get-tagging-missing-key", "GET", "/{bucket}/no-such-key", 404, "NoSuchKey",
         query="tagging"),
    Case("delete-tagging-missing-key", "DELETE", "/{bucket}/no-such-key", 404, "NoSuchKey",
         query="tagging"),
]

READS = [
    # Ranges that start at or past the end of a 100-byte object: 416 InvalidRange.
    Case("range-open-from-end", "GET", OBJ, 416, "InvalidRange", headers={"Range": "bytes=100-"}),
    Case("range-open-past-end", "GET", OBJ, 416, "InvalidRange", headers={"Range": "bytes=200-"}),
    Case("range-one-byte-at-end", "GET", OBJ, 416, "InvalidRange",
         headers={"Range": "bytes=100-100"}),
    # partNumber: a single-part object has one part; not with Range; an integer.
    Case("part-number-2-of-single-part", "GET", OBJ, 416, "InvalidPartNumber",
         query="partNumber=2"),
    Case("part-number-with-range", "GET", OBJ, 400, "InvalidRequest", query="partNumber=1",
         headers={"Range": "bytes=0-1"}),
    Case("part-number-not-integer-get", "GET", OBJ, 400, "InvalidArgument",
         query="partNumber=abc"),
    # Conditional reads (RFC 9110 as S3 applies it).
    Case("get-if-match-wrong", "GET", OBJ, 412, "PreconditionFailed",
         headers={"If-Match": WRONG_ETAG}),
    Case("get-if-unmodified-since-past", "GET", OBJ, 412, "PreconditionFailed",
         headers={"If-Unmodified-Since": OLD_DATE}),
]

CONDITIONAL_WRITES = [
    Case("put-if-none-match-star-existing", "PUT", OBJ, 412, "PreconditionFailed",
         headers={"If-None-Match": "*"}, body=b"overwrite"),
    Case("put-if-match-wrong", "PUT", OBJ, 412, "PreconditionFailed",
         headers={"If-Match": WRONG_ETAG}, body=b"overwrite"),
    Case("put-if-match-missing-key", "PUT", NEW_OBJ, 404, "NoSuchKey",
         headers={"If-Match": EXISTING_ETAG}, body=b"x"),
    Case("delete-if-match-wrong", "DELETE", OBJ, 412, "PreconditionFailed",
         headers={"If-Match": WRONG_ETAG}),
    Case("copy-destination-if-none-match-star", "PUT", OBJ, 412, "PreconditionFailed",
         headers={**SRC, "x-amz-metadata-directive": "REPLACE", "If-None-Match": "*"}),
]

LISTINGS = [
    Case("list-v1-max-keys-negative", "GET", "/{bucket}", 400, "InvalidArgument",
         query="max-keys=-1"),
    Case("list-v1-max-keys-not-integer", "GET", "/{bucket}", 400, "InvalidArgument",
         query="max-keys=abc"),
    Case("list-v1-max-keys-fraction", "GET", "/{bucket}", 400, "InvalidArgument",
         query="max-keys=1.5"),
    Case("list-v1-max-keys-over-int32", "GET", "/{bucket}", 400, "InvalidArgument",
         query="max-keys=99999999999"),
    Case("list-v1-encoding-type-base64", "GET", "/{bucket}", 400, "InvalidArgument",
         query="encoding-type=base64"),
    Case("list-v2-max-keys-negative", "GET", "/{bucket}", 400, "InvalidArgument",
         query="list-type=2&max-keys=-1"),
    Case("list-v2-max-keys-not-integer", "GET", "/{bucket}", 400, "InvalidArgument",
         query="list-type=2&max-keys=abc"),
    Case("list-v2-encoding-type-xml", "GET", "/{bucket}", 400, "InvalidArgument",
         query="list-type=2&encoding-type=xml"),
    Case("list-v2-continuation-token-garbage", "GET", "/{bucket}", 400, "InvalidArgument",
         query="list-type=2&continuation-token=zz"),
    Case("list-v2-continuation-token-not-ours", "GET", "/{bucket}", 400, "InvalidArgument",
         query="list-type=2&continuation-token=ff"),
    Case("list-versions-max-keys-negative", "GET", "/{bucket}", 400, "InvalidArgument",
         query="versions&max-keys=-1"),
    Case("list-versions-encoding-type-bad", "GET", "/{bucket}", 400, "InvalidArgument",
         query="versions&encoding-type=bad"),
    Case("list-uploads-max-uploads-negative", "GET", "/{bucket}", 400, "InvalidArgument",
         query="uploads&max-uploads=-1"),
    Case("list-uploads-max-uploads-not-integer", "GET", "/{bucket}", 400, "InvalidArgument",
         query="uploads&max-uploads=abc"),
    Case("list-uploads-encoding-type-bad", "GET", "/{bucket}", 400, "InvalidArgument",
         query="uploads&encoding-type=bad"),
    Case("list-v2-missing-bucket", "GET", "/{new}", 404, "NoSuchBucket", query="list-type=2"),
    Case("list-versions-missing-bucket", "GET", "/{new}", 404, "NoSuchBucket", query="versions"),
    Case("list-uploads-missing-bucket", "GET", "/{new}", 404, "NoSuchBucket", query="uploads"),
    Case("list-buckets-max-buckets-over-10000", "GET", "/", 400, "InvalidArgument",
         query="max-buckets=10001"),
    Case("list-buckets-max-buckets-not-integer", "GET", "/", 400, "InvalidArgument",
         query="max-buckets=abc"),
    Case("list-buckets-continuation-token-garbage", "GET", "/", 400, "InvalidArgument",
         query="continuation-token=zz"),
]

COPIES = [
    # CopyObject (API reference): the copy source, its conditions, the directives.
    Case("copy-source-without-key", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={"x-amz-copy-source": "/{bucket}"}),
    Case("copy-source-missing-bucket", "PUT", NEW_OBJ, 404, "NoSuchBucket",
         headers={"x-amz-copy-source": "/{new}/" + EXISTING_KEY}),
    Case("copy-source-missing-key", "PUT", NEW_OBJ, 404, "NoSuchKey",
         headers={"x-amz-copy-source": "/{bucket}/no-such-key"}),
    Case("copy-onto-itself", "PUT", OBJ, 400, "InvalidRequest", headers=SRC),
    Case("copy-onto-itself-directive-copy", "PUT", OBJ, 400, "InvalidRequest",
         headers={**SRC, "x-amz-metadata-directive": "COPY"}),
    Case("copy-metadata-directive-unknown", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={**SRC, "x-amz-metadata-directive": "MERGE"}),
    Case("copy-tagging-directive-unknown", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={**SRC, "x-amz-tagging-directive": "MERGE"}),
    Case("copy-destination-missing-bucket", "PUT", "/{new}/copy", 404, "NoSuchBucket",
         headers=SRC),
    Case("copy-source-if-match-wrong", "PUT", NEW_OBJ, 412, "PreconditionFailed",
         headers={**SRC, "x-amz-copy-source-if-match": WRONG_ETAG}),
    Case("copy-source-if-none-match-matching", "PUT", NEW_OBJ, 412, "PreconditionFailed",
         headers={**SRC, "x-amz-copy-source-if-none-match": EXISTING_ETAG}),
    Case("copy-source-if-unmodified-since-past", "PUT", NEW_OBJ, 412, "PreconditionFailed",
         headers={**SRC, "x-amz-copy-source-if-unmodified-since": OLD_DATE}),
    Case("copy-source-if-modified-since-future", "PUT", NEW_OBJ, 412, "PreconditionFailed",
         headers={**SRC, "x-amz-copy-source-if-modified-since": FUTURE_DATE}),
]

INTEGRITY = [
    # Each additional checksum algorithm, and the checksum headers' consistency.
    Case("checksum-crc32c-mismatch", "PUT", NEW_OBJ, 400, "BadDigest",
         headers={"x-amz-checksum-crc32c": "AAAAAA=="}, body=b"x"),
    Case("checksum-crc64nvme-mismatch", "PUT", NEW_OBJ, 400, "BadDigest",
         headers={"x-amz-checksum-crc64nvme": "AAAAAAAAAAA="}, body=b"x"),
    Case("checksum-sha1-mismatch", "PUT", NEW_OBJ, 400, "BadDigest",
         headers={"x-amz-checksum-sha1": b64(hashlib.sha1(b"y").digest())}, body=b"x"),
    Case("checksum-two-algorithms", "PUT", NEW_OBJ, 400, "InvalidRequest",
         headers={"x-amz-checksum-crc32": crc32_b64(b"x"),
                  "x-amz-checksum-sha256": b64(hashlib.sha256(b"x").digest())}, body=b"x"),
    Case("content-md5-wrong-with-right-checksum", "PUT", NEW_OBJ, 400, "BadDigest",
         headers={"Content-MD5": md5_b64(b"y"), "x-amz-checksum-crc32": crc32_b64(b"x")},
         body=b"x"),
    Case("content-md5-empty", "PUT", NEW_OBJ, 400, "InvalidDigest",
         headers={"Content-MD5": ""}, body=b"x"),
    Case("content-md5-of-something-for-empty-body", "PUT", NEW_OBJ, 400, "BadDigest",
         headers={"Content-MD5": md5_b64(b"y")}, body=b""),
]

POLICIES = [
    # PutBucketPolicy: anything that is not a valid policy document is 400 MalformedPolicy.
    Case(f"policy-{label}", "PUT", "/{bucket}", 400, "MalformedPolicy", query="policy",
         body=body)
    for label, body in [
        ("json-array", b"[]"),
        ("json-string", b'"policy"'),
        ("without-statement", json.dumps({"Version": "2012-10-17"}).encode()),
        ("empty-statement", policy()),
        ("statement-not-an-object", policy("hello")),
        ("unknown-version", policy(statement(), version="2020-01-01")),
        ("action-without-service", policy(statement(Action="GetObject"))),
        ("action-of-other-service", policy(statement(Action="ec2:RunInstances"))),
        ("effect-unknown", policy(statement(Effect="Maybe"))),
        ("effect-number", policy(statement(Effect=1))),
        ("without-effect", policy(statement(Effect=None))),
        ("without-action", policy(statement(Action=None))),
        ("without-resource", policy(statement(Resource=None))),
        ("resource-other-bucket", policy(statement(Resource="arn:aws:s3:::other-bucket/*"))),
        ("resource-not-arn", policy(statement(Resource="just-a-string"))),
        ("resource-other-service", policy(statement(Resource="arn:aws:ec2:::instance/*"))),
        ("principal-unknown-type", policy(statement(Principal={"Alien": "*"}))),
        ("principal-number", policy(statement(Principal=42))),
        ("condition-unknown-operator",
         policy(statement(Condition={"StringEqualsMaybe": {"aws:SourceIp": "10.0.0.1"}}))),
        ("condition-invalid-ip",
         policy(statement(Condition={"IpAddress": {"aws:SourceIp": "999.1.1.1"}}))),
        ("action-and-notaction", policy(statement(NotAction="s3:PutObject"))),
        ("resource-and-notresource", policy(statement(NotResource="arn:aws:s3:::x/*"))),
        ("unknown-statement-field", policy(statement(Foo=1))),
    ]
] + [
    Case("policy-missing-bucket", "PUT", "/{new}", 404, "NoSuchBucket", query="policy",
         body=policy(statement(Resource="arn:aws:s3:::{new}/*"))),
    Case("get-policy-none", "GET", "/{bucket}", 404, "NoSuchBucketPolicy", query="policy"),
    Case("get-policy-status-none", "GET", "/{bucket}", 404, "NoSuchBucketPolicy",
         query="policyStatus"),
    Case("get-policy-missing-bucket", "GET", "/{new}", 404, "NoSuchBucket", query="policy"),
]


def _config(case_id, subresource, status, code, body, path="/{bucket}"):
    return Case(case_id, "PUT", path, status, code, query=subresource, body=body,
                headers=with_md5())


BUCKET_CONFIGURATION = [
    # PutPublicAccessBlock
    _config("pab-unclosed-xml", "publicAccessBlock", 400, "MalformedXML",
            b"<PublicAccessBlockConfiguration><BlockPublicAcls>true"),
    _config("pab-not-xml", "publicAccessBlock", 400, "MalformedXML", b"block everything"),
    _config("pab-not-a-boolean", "publicAccessBlock", 400, "MalformedXML",
            pab("<BlockPublicAcls>maybe</BlockPublicAcls>")),
    _config("pab-wrong-root", "publicAccessBlock", 400, "MalformedXML",
            b"<PublicAccess><BlockPublicAcls>true</BlockPublicAcls></PublicAccess>"),
    _config("pab-empty-body", "publicAccessBlock", 400, "MissingRequestBodyError", b""),
    _config("pab-missing-bucket", "publicAccessBlock", 404, "NoSuchBucket",
            pab("<BlockPublicAcls>true</BlockPublicAcls>"), path="/{new}"),
    Case("get-pab-none", "GET", "/{bucket}", 404, "NoSuchPublicAccessBlockConfiguration",
         query="publicAccessBlock"),
    # PutBucketEncryption
    _config("encryption-unclosed-xml", "encryption", 400, "MalformedXML",
            b"<ServerSideEncryptionConfiguration><Rule>"),
    _config("encryption-not-xml", "encryption", 400, "MalformedXML", b"AES256"),
    _config("encryption-without-rule", "encryption", 400, "MalformedXML", sse_config("")),
    _config("encryption-without-algorithm", "encryption", 400, "MalformedXML",
            sse_config("<Rule><ApplyServerSideEncryptionByDefault>"
                       "</ApplyServerSideEncryptionByDefault></Rule>")),
    _config("encryption-kms-key-with-aes256", "encryption", 400, "InvalidArgument",
            sse_default("AES256", "<KMSMasterKeyID>some-key</KMSMasterKeyID>")),
    _config("encryption-empty-body", "encryption", 400, "MissingRequestBodyError", b""),
    _config("encryption-missing-bucket", "encryption", 404, "NoSuchBucket",
            sse_default("AES256"), path="/{new}"),
    # PutBucketLogging
    _config("logging-unclosed-xml", "logging", 400, "MalformedXML",
            b"<BucketLoggingStatus><LoggingEnabled>"),
    _config("logging-not-xml", "logging", 400, "MalformedXML", b"log to elsewhere"),
    _config("logging-wrong-root", "logging", 400, "MalformedXML",
            b"<Logging><LoggingEnabled/></Logging>"),
    _config("logging-without-target-bucket", "logging", 400, "MalformedXML",
            logging_status("<LoggingEnabled><TargetPrefix>logs/</TargetPrefix>"
                           "</LoggingEnabled>")),
    _config("logging-without-target-prefix", "logging", 400, "MalformedXML",
            logging_status("<LoggingEnabled><TargetBucket>{bucket}</TargetBucket>"
                           "</LoggingEnabled>")),
    _config("logging-target-missing", "logging", 400, "InvalidTargetBucketForLogging",
            logging_status("<LoggingEnabled><TargetBucket>{new}</TargetBucket>"
                           "<TargetPrefix>logs/</TargetPrefix></LoggingEnabled>")),
    _config("logging-target-invalid-name", "logging", 400, "InvalidTargetBucketForLogging",
            logging_status("<LoggingEnabled><TargetBucket>Bad_Name</TargetBucket>"
                           "<TargetPrefix>logs/</TargetPrefix></LoggingEnabled>")),
    _config("logging-empty-body", "logging", 400, "MissingRequestBodyError", b""),
    _config("logging-missing-bucket", "logging", 404, "NoSuchBucket", logging_status(""),
            path="/{new}"),
    # CreateBucket
    Case("create-bucket-wrong-root", "PUT", "/{new}", 400, "MalformedXML",
         body=b"<BucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint>"
              b"</BucketConfiguration>"),
]


def _delete(case_id, body, status=400, code="MalformedXML", path="/{bucket}"):
    # With the right Content-MD5: a wrong or missing one is another case (issue 14's own).
    return Case(case_id, "POST", path, status, code, query="delete", body=body,
                headers=with_md5())


DELETE_OBJECTS = [
    # DeleteObjects: at most 1000 keys; a Delete with at least one Object, each with a Key.
    _delete("delete-objects-1001-keys", delete_xml(f"k{i}" for i in range(1001))),
    _delete("delete-objects-1001-keys-with-existing",
            delete_xml([EXISTING_KEY] + [f"k{i}" for i in range(1000)])),
    _delete("delete-objects-empty-delete", b"<Delete></Delete>"),
    _delete("delete-objects-object-without-key", b"<Delete><Object></Object></Delete>"),
    _delete("delete-objects-wrong-root",
            b"<Remove><Object><Key>" + EXISTING_KEY.encode() + b"</Key></Object></Remove>"),
    _delete("delete-objects-not-xml", EXISTING_KEY.encode()),
    _delete("delete-objects-quiet-not-boolean",
            b"<Delete><Quiet>maybe</Quiet><Object><Key>" + EXISTING_KEY.encode()
            + b"</Key></Object></Delete>"),
    _delete("delete-objects-empty-body", b"", code="MissingRequestBodyError"),
    _delete("delete-objects-missing-bucket", delete_xml(["a"]), 404, "NoSuchBucket",
            path="/{new}"),
]

AUTHENTICATION = [
    # Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...
    Case("auth-unsupported-type-bearer", "GET", OBJ, 400, "InvalidArgument",
         tamper=set_headers(Authorization="Bearer abc")),
    Case("auth-algorithm-hmac-sha512", "GET", OBJ, 400, "InvalidArgument",
         tamper=replace_auth("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512")),
    Case("auth-without-signed-headers", "GET", OBJ, 400, "AuthorizationHeaderMalformed",
         tamper=replace_auth(r"SignedHeaders=[^,]*, ", "")),
    Case("auth-without-credential", "GET", OBJ, 400, "AuthorizationHeaderMalformed",
         tamper=replace_auth(r"Credential=[^,]*, ", "")),
    Case("auth-without-signature", "GET", OBJ, 400, "AuthorizationHeaderMalformed",
         tamper=replace_auth(r", Signature=.*", "")),
    Case("auth-signature-not-hex", "GET", OBJ, 403, "SignatureDoesNotMatch",
         tamper=replace_auth(r"Signature=.*", "Signature=" + "z" * 64)),
    Case("auth-signature-truncated", "GET", OBJ, 403, "SignatureDoesNotMatch",
         tamper=replace_auth(r"(Signature=.{32}).*", r"\1")),
    # A signature replayed on another request: refused, nothing written or deleted.
    Case("signed-get-sent-as-delete", "GET", OBJ, 403, "SignatureDoesNotMatch",
         send_as={"method": "DELETE"}),
    Case("signed-put-sent-to-other-key", "PUT", NEW_OBJ, 403, "SignatureDoesNotMatch",
         send_as={"path": OBJ}, body=b"overwrite"),
    Case("signed-list-with-query-added", "GET", "/{bucket}", 403, "SignatureDoesNotMatch",
         send_as={"query": "max-keys=1"}),
    Case("signed-header-changed-after-signing", "PUT", NEW_OBJ, 403, "SignatureDoesNotMatch",
         headers={"x-amz-meta-owner": "alice"}, body=b"x",
         tamper=set_headers(x_amz_meta_owner="mallory")),
    Case("wrong-secret-delete-object", "DELETE", OBJ, 403, "SignatureDoesNotMatch",
         sign={"secret_key": "definitely-not-the-secret-key-0123456789"}),
    Case("unknown-access-key-delete-bucket", "DELETE", "/{bucket}", 403, "InvalidAccessKeyId",
         sign={"access_key": "CTNOSUCHKEY000000000"}),
    Case("clock-1-day-behind-delete", "DELETE", OBJ, 403, "RequestTimeTooSkewed",
         sign=_skew(days=-1)),
    # Signature Version 2 in a SigV4-only region, and anonymous requests.
    Case("sigv2-query-string", "GET", OBJ, 400, "InvalidRequest", auth="none",
         query="AWSAccessKeyId=CTNOSUCHKEY000000000&Expires=4102444800&Signature=abc%3D"),
    Case("sigv2-delete-object", "DELETE", OBJ, 400, "InvalidRequest", auth="sigv2"),
    Case("anonymous-delete-object", "DELETE", OBJ, 403, "AccessDenied", auth="none"),
    Case("anonymous-delete-bucket", "DELETE", "/{bucket}", 403, "AccessDenied", auth="none"),
    Case("anonymous-list-objects", "GET", "/{bucket}", 403, "AccessDenied", auth="none"),
    Case("anonymous-create-multipart", "POST", NEW_OBJ, 403, "AccessDenied", auth="none",
         query="uploads"),
    Case("anonymous-put-policy", "PUT", "/{bucket}", 403, "AccessDenied", auth="none",
         query="policy", body=policy(statement())),
]

PRESIGNED = [
    # Query-string authentication (sigv4-query-string-auth): X-Amz-Expires at most 604800.
    Case("presigned-expires-over-a-week", "GET", OBJ, 400, "AuthorizationQueryParametersError",
         auth="presign", sign={"expires": 604801}),
    Case("presigned-expires-negative", "GET", OBJ, 400, "AuthorizationQueryParametersError",
         auth="presign", tamper=replace_url(r"X-Amz-Expires=\d+", "X-Amz-Expires=-1")),
    Case("presigned-expires-not-a-number", "GET", OBJ, 400,
         "AuthorizationQueryParametersError", auth="presign",
         tamper=replace_url(r"X-Amz-Expires=\d+", "X-Amz-Expires=abc")),
    Case("presigned-without-credential", "GET", OBJ, 400, "AuthorizationQueryParametersError",
         auth="presign", tamper=replace_url(r"X-Amz-Credential=[^&]*&", "")),
    Case("presigned-without-signed-headers", "GET", OBJ, 400,
         "AuthorizationQueryParametersError", auth="presign",
         tamper=replace_url(r"X-Amz-SignedHeaders=[^&]*&", "")),
    Case("presigned-expired", "GET", OBJ, 403, "AccessDenied", auth="presign",
         sign=_presigned_at(60, hours=-2)),
    Case("presigned-put-expired", "PUT", NEW_OBJ, 403, "AccessDenied", auth="presign",
         sign=_presigned_at(60, hours=-2), body=b"x"),
    Case("presigned-wrong-signature", "GET", OBJ, 403, "SignatureDoesNotMatch",
         auth="presign", tamper=replace_url(r"X-Amz-Signature=\w+", "X-Amz-Signature=" + "0" * 64)),
    Case("presigned-unknown-access-key", "GET", OBJ, 403, "InvalidAccessKeyId", auth="presign",
         sign={"access_key": "CTNOSUCHKEY000000000"}),
    Case("presigned-get-used-for-put", "GET", OBJ, 403, "SignatureDoesNotMatch",
         auth="presign", send_as={"method": "PUT"}, body=b"overwrite"),
    Case("presigned-get-used-for-delete", "GET", OBJ, 403, "SignatureDoesNotMatch",
         auth="presign", send_as={"method": "DELETE"}),
    Case("presigned-used-for-other-key", "GET", "/{bucket}/other-key", 403,
         "SignatureDoesNotMatch", auth="presign", send_as={"path": OBJ}),
    Case("presigned-response-override-added", "GET", OBJ, 403, "SignatureDoesNotMatch",
         auth="presign", tamper=replace_url(r"$", "&response-content-type=text%2Fhtml")),
]

NOT_IMPLEMENTED = [
    # docs/s3-compatibility.md: canned ACLs other than private and public-read, grants,
    # versioning, Object Lock, lifecycle, CORS, website, replication, notifications:
    # 501 NotImplemented naming the operation.
    Case("object-acl-bucket-owner-full-control", "PUT", OBJ, 501, "NotImplemented",
         query="acl", headers={"x-amz-acl": "bucket-owner-full-control"}),
    Case("put-object-acl-public-read-write", "PUT", NEW_OBJ, 501, "NotImplemented",
         headers={"x-amz-acl": "public-read-write"}, body=b"x"),
    Case("bucket-acl-grant-document", "PUT", "/{bucket}", 501, "NotImplemented", query="acl",
         body=b'<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
              b"<Owner><ID>x</ID></Owner><AccessControlList><Grant><Grantee "
              b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group">'
              b"<URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee>"
              b"<Permission>WRITE</Permission></Grant></AccessControlList>"
              b"</AccessControlPolicy>"),
    Case("put-bucket-versioning-mfa-delete", "PUT", "/{bucket}", 501, "NotImplemented",
         query="versioning",
         body=b"<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled</MfaDelete>"
              b"</VersioningConfiguration>"),
    Case("put-bucket-versioning-unknown-status", "PUT", "/{bucket}", 400,
         "IllegalVersioningConfigurationException", query="versioning",
         body=b"<VersioningConfiguration><Status>Sometimes</Status></VersioningConfiguration>"),
    Case("put-bucket-versioning-no-status", "PUT", "/{bucket}", 400,
         "IllegalVersioningConfigurationException", query="versioning",
         body=b"<VersioningConfiguration></VersioningConfiguration>"),
    Case("put-object-lock-configuration-unversioned", "PUT", "/{bucket}", 409, "InvalidBucketState",
         query="object-lock", body=b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled"
                                    b"</ObjectLockEnabled></ObjectLockConfiguration>"),
    # Lifecycle rules need Content-MD5 (or a checksum) as in AWS, and AWS's validation.
    Case("put-bucket-lifecycle-without-digest", "PUT", "/{bucket}", 400, "InvalidRequest", query="lifecycle",
         body=LIFECYCLE_XML.format(action="<Expiration><Days>1</Days></Expiration>").encode()),
    Case("put-bucket-lifecycle-zero-days", "PUT", "/{bucket}", 400, "InvalidArgument", query="lifecycle",
         body=LIFECYCLE_XML.format(action="<Expiration><Days>0</Days></Expiration>").encode(), headers=with_md5()),
    Case("put-bucket-lifecycle-no-status", "PUT", "/{bucket}", 400, "MalformedXML", query="lifecycle",
         body=b"<LifecycleConfiguration><Rule><ID>r</ID><Filter/><Expiration><Days>1</Days></Expiration>"
              b"</Rule></LifecycleConfiguration>", headers=with_md5()),
    Case("put-bucket-lifecycle-transition", "PUT", "/{bucket}", 501, "NotImplemented", query="lifecycle",
         body=LIFECYCLE_XML.format(action="<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass>"
                                          "</Transition>").encode(), headers=with_md5()),
    Case("put-bucket-cors", "PUT", "/{bucket}", 501, "NotImplemented", query="cors",
         body=b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod>"
              b"<AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>"),
    Case("put-bucket-acl-grant-header", "PUT", "/{bucket}", 501, "NotImplemented", query="acl",
         headers={"x-amz-grant-read": 'id="abc"'}),
    Case("put-object-grant-header", "PUT", NEW_OBJ, 501, "NotImplemented",
         headers={"x-amz-grant-full-control": 'id="abc"'}, body=b"x"),
    Case("object-lock-retain-until-in-the-past", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={"x-amz-object-lock-mode": "GOVERNANCE",
                  "x-amz-object-lock-retain-until-date": "2001-01-01T00:00:00Z"}, body=b"x"),
    Case("put-bucket-website", "PUT", "/{bucket}", 501, "NotImplemented", query="website",
         body=b"<WebsiteConfiguration><IndexDocument><Suffix>index.html</Suffix>"
              b"</IndexDocument></WebsiteConfiguration>"),
]

SCOPES_AND_METHODS = [
    # The credential scope: <key>/YYYYMMDD/<region>/s3/aws4_request (sigv4-create-string-to-sign).
    Case("auth-credential-wrong-service", "GET", OBJ, 400, "AuthorizationHeaderMalformed",
         tamper=replace_auth("/s3/aws4_request", "/ec2/aws4_request")),
    Case("auth-credential-wrong-terminator", "GET", OBJ, 400, "AuthorizationHeaderMalformed",
         tamper=replace_auth("/aws4_request", "/aws5_request")),
    Case("auth-credential-without-region", "GET", OBJ, 400, "AuthorizationHeaderMalformed",
         tamper=replace_auth(r"(Credential=[^/]+/\d{8})/[^/]+/", r"\1/")),
    Case("auth-credential-date-not-request-date", "GET", OBJ, 400, "AuthorizationHeaderMalformed",
         tamper=replace_auth(r"(Credential=[^/]+)/\d{8}/", r"\1/20200101/")),
    Case("auth-x-amz-date-garbage", "GET", OBJ, 403, "AccessDenied",
         tamper=set_headers(X_Amz_Date="yesterday")),
    Case("presigned-algorithm-sha512", "GET", OBJ, 400, "AuthorizationQueryParametersError",
         auth="presign", tamper=replace_url("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA512")),
    Case("presigned-credential-wrong-service", "GET", OBJ, 400, "AuthorizationQueryParametersError",
         auth="presign", tamper=replace_url("%2Fs3%2Faws4_request", "%2Fec2%2Faws4_request")),
    Case("presigned-without-date", "GET", OBJ, 400, "AuthorizationQueryParametersError",
         auth="presign", tamper=replace_url(r"X-Amz-Date=[^&]*&", "")),
    Case("presigned-without-expires", "GET", OBJ, 400, "AuthorizationQueryParametersError",
         auth="presign", tamper=replace_url(r"X-Amz-Expires=[^&]*&", "")),
    Case("presigned-without-signature", "GET", OBJ, 400, "AuthorizationQueryParametersError",
         auth="presign", tamper=replace_url(r"&X-Amz-Signature=\w+", "")),
    # Methods S3 has no operation for on the resource: 405 MethodNotAllowed.
    Case("method-patch-object", "PATCH", OBJ, 405, "MethodNotAllowed", body=b"x"),
    Case("method-post-object-without-subresource", "POST", OBJ, 405, "MethodNotAllowed", body=b"x"),
    Case("method-delete-service", "DELETE", "/", 405, "MethodNotAllowed"),
    Case("method-put-service", "PUT", "/", 405, "MethodNotAllowed"),
    # Object Lock settings on a bucket without an Object Lock configuration (every bucket,
    # until Object Lock is built): refused, never a silently unlocked object.
    Case("object-lock-retention-on-unlocked-bucket", "PUT", NEW_OBJ, 400, "InvalidRequest",
         headers={"x-amz-object-lock-mode": "GOVERNANCE",
                  "x-amz-object-lock-retain-until-date": "2030-01-01T00:00:00Z"}, body=b"x"),
    Case("object-lock-legal-hold-on-unlocked-bucket", "PUT", NEW_OBJ, 400, "InvalidRequest",
         headers={"x-amz-object-lock-legal-hold": "ON"}, body=b"x"),
    Case("object-lock-on-multipart-in-unlocked-bucket", "POST", NEW_OBJ, 400, "InvalidRequest",
         query="uploads", headers={"x-amz-object-lock-legal-hold": "ON"}),
    # Tag keys beginning with aws: are AWS's own.
    Case("tag-key-aws-prefix", "PUT", NEW_OBJ, 400, "InvalidTag",
         headers={"x-amz-tagging": "aws%3Acreated-by=me"}, body=b"x"),
    # CreateMultipartUpload validates the storage class as PutObject does.
    Case("storage-class-unknown-create-multipart", "POST", NEW_OBJ, 400, "InvalidStorageClass",
         query="uploads", headers={"x-amz-storage-class": "FAST"}),
]

CATALOGUE = (BUCKET_NAMES + KEYS_AND_METADATA + CANNED_ACLS + STORAGE_CLASS_AND_SSE
             + SSE_C_HEADERS + TAG_HEADERS + TAGGING_DOCUMENTS + READS + CONDITIONAL_WRITES
             + LISTINGS + COPIES + INTEGRITY + POLICIES + BUCKET_CONFIGURATION + DELETE_OBJECTS
             + AUTHENTICATION + PRESIGNED + SCOPES_AND_METHODS + NOT_IMPLEMENTED)


@pytest.mark.parametrize("case", CATALOGUE, ids=[c.id for c in CATALOGUE])
def test_catalogue(server, s3, ctx_bucket, case: Case):
    run_case(server, s3, ctx_bucket, case)


# --------------------------------------------------------------------------
# an SSE-C object and an SSE-C multipart upload
# --------------------------------------------------------------------------

SSEC_OBJ = "/{bucket}/ssec.bin"
SSEC_SRC = {"x-amz-copy-source": "/{bucket}/ssec.bin"}


@pytest.fixture(scope="module")
def ssec_upload(s3, ctx_bucket) -> str:
    """An object and a multipart upload encrypted with SSEC_KEY; the upload's id."""
    args = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": SSEC_KEY}
    s3.put_object(Bucket=ctx_bucket, Key="ssec.bin", Body=b"customer secret", **args)
    up = s3.create_multipart_upload(Bucket=ctx_bucket, Key="ssec-mpu", **args)
    return up["UploadId"]


SSE_C_OBJECTS = [
    # Without the key: 400 InvalidRequest; with another key: 403 AccessDenied.
    Case("sse-c-object-get-without-key", "GET", SSEC_OBJ, 400, "InvalidRequest"),
    Case("sse-c-object-range-without-key", "GET", SSEC_OBJ, 400, "InvalidRequest",
         headers={"Range": "bytes=0-3"}),
    Case("sse-c-object-get-wrong-key", "GET", SSEC_OBJ, 403, "AccessDenied",
         headers=ssec(os.urandom(32))),
    Case("sse-c-object-copy-without-source-key", "PUT", NEW_OBJ, 400, "InvalidRequest",
         headers=SSEC_SRC),
    Case("sse-c-object-copy-wrong-source-key", "PUT", NEW_OBJ, 403, "AccessDenied",
         headers={**SSEC_SRC, **ssec(os.urandom(32), prefix="x-amz-copy-source-")}),
    Case("sse-c-object-copy-source-key-wrong-md5", "PUT", NEW_OBJ, 400, "InvalidArgument",
         headers={**SSEC_SRC, **ssec(md5_of=b"other", prefix="x-amz-copy-source-")}),
    Case("sse-c-upload-part-without-key", "PUT", "/{bucket}/ssec-mpu", 400, "InvalidRequest",
         query="partNumber=1&uploadId={upload}", body=b"part"),
]


@pytest.mark.parametrize("case", SSE_C_OBJECTS, ids=[c.id for c in SSE_C_OBJECTS])
def test_sse_c_object(server, s3, ctx_bucket, ssec_upload, case: Case):
    run_case(server, s3, ctx_bucket, case, upload=ssec_upload)
    parts = s3.list_parts(Bucket=ctx_bucket, Key="ssec-mpu", UploadId=ssec_upload)
    assert parts.get("Parts", []) == []


# --------------------------------------------------------------------------
# multipart uploads: one upload with two 100-byte parts
# --------------------------------------------------------------------------

MPU = "/{bucket}/mpu-key"
UP = "uploadId={upload}"
UNKNOWN_UPLOAD = "uploadId=0123456789abcdef0123456789abcdef"


@pytest.fixture
def two_parts(s3, ctx_bucket) -> dict:
    up = s3.create_multipart_upload(Bucket=ctx_bucket, Key="mpu-key")["UploadId"]
    etags = [s3.upload_part(Bucket=ctx_bucket, Key="mpu-key", UploadId=up, PartNumber=n,
                            Body=bytes([n]) * 100)["ETag"] for n in (1, 2)]
    yield {"upload": up, "etag1": etags[0], "etag2": etags[1]}
    s3.abort_multipart_upload(Bucket=ctx_bucket, Key="mpu-key", UploadId=up)


def complete_xml(*parts) -> bytes:
    """<CompleteMultipartUpload> of (part number, ETag placeholder) pairs."""
    body = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in parts)
    return f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode()


def _complete(case_id, status, code, body, query=UP, path=MPU):
    return Case(case_id, "POST", path, status, code, query=query, body=body)


def _part_copy(case_id, status, code, headers, query="partNumber=3&" + UP):
    return Case(case_id, "PUT", MPU, status, code, query=query, headers=headers)


MULTIPART = [
    # CompleteMultipartUpload
    _complete("complete-parts-out-of-order", 400, "InvalidPartOrder",
              complete_xml((2, "{etag2}"), (1, "{etag1}"))),
    _complete("complete-part-listed-twice", 400, "InvalidPartOrder",
              complete_xml((1, "{etag1}"), (1, "{etag1}"))),
    _complete("complete-empty-part-list", 400, "MalformedXML",
              b"<CompleteMultipartUpload></CompleteMultipartUpload>"),
    _complete("complete-wrong-root", 400, "MalformedXML",
              complete_xml((1, "{etag1}")).replace(b"CompleteMultipartUpload", b"Complete")),
    _complete("complete-part-never-uploaded", 400, "InvalidPart",
              complete_xml((1, "{etag1}"), (3, "{etag2}"))),
    _complete("complete-etag-of-another-part", 400, "InvalidPart", complete_xml((1, "{etag2}"))),
    _complete("complete-small-non-last-part", 400, "EntityTooSmall",
              complete_xml((1, "{etag1}"), (2, "{etag2}"))),
    _complete("complete-unknown-upload", 404, "NoSuchUpload", complete_xml((1, "{etag1}")),
              query=UNKNOWN_UPLOAD),
    _complete("complete-upload-of-another-key", 404, "NoSuchUpload",
              complete_xml((1, "{etag1}")), path="/{bucket}/other-key"),
    _complete("complete-upload-id-malformed", 404, "NoSuchUpload",
              complete_xml((1, "{etag1}")), query="uploadId=not-an-upload-id"),
    # AbortMultipartUpload, ListParts, UploadPart
    Case("abort-unknown-upload", "DELETE", MPU, 404, "NoSuchUpload", query=UNKNOWN_UPLOAD),
    Case("abort-upload-of-another-key", "DELETE", "/{bucket}/other-key", 404, "NoSuchUpload",
         query=UP),
    Case("list-parts-unknown-upload", "GET", MPU, 404, "NoSuchUpload", query=UNKNOWN_UPLOAD),
    Case("list-parts-upload-of-another-key", "GET", "/{bucket}/other-key", 404,
         "NoSuchUpload", query=UP),
    Case("list-parts-max-parts-negative", "GET", MPU, 400, "InvalidArgument",
         query=UP + "&max-parts=-1"),
    Case("list-parts-max-parts-not-integer", "GET", MPU, 400, "InvalidArgument",
         query=UP + "&max-parts=abc"),
    Case("list-parts-marker-not-integer", "GET", MPU, 400, "InvalidArgument",
         query=UP + "&part-number-marker=abc"),
    Case("upload-part-upload-of-another-key", "PUT", "/{bucket}/other-key", 404,
         "NoSuchUpload", query="partNumber=3&" + UP, body=b"part"),
    Case("upload-part-missing-bucket", "PUT", "/{new}/mpu-key", 404, "NoSuchBucket",
         query="partNumber=3&" + UP, body=b"part"),
    Case("upload-part-number-fraction", "PUT", MPU, 400, "InvalidArgument",
         query="partNumber=1.5&" + UP, body=b"part"),
    Case("upload-part-content-md5-mismatch", "PUT", MPU, 400, "BadDigest",
         query="partNumber=3&" + UP, headers={"Content-MD5": md5_b64(b"other")}, body=b"part"),
    Case("upload-part-crc32-mismatch", "PUT", MPU, 400, "BadDigest",
         query="partNumber=3&" + UP, headers={"x-amz-checksum-crc32": crc32_b64(b"other")},
         body=b"part"),
    # UploadPartCopy: x-amz-copy-source-range must be bytes=first-last within the source.
    *[_part_copy(f"upload-part-copy-range-{label}", 400, "InvalidArgument",
                 {**SRC, "x-amz-copy-source-range": rng})
      for label, rng in [("without-unit", "0-2"), ("one-number", "bytes=0"),
                         ("words", "bytes=hello-world"), ("last-not-number", "bytes=0-bar"),
                         ("first-not-number", "bytes=hello-"), ("two-ranges", "bytes=0-2,3-5"),
                         ("backwards", "bytes=5-2"), ("open-ended", "bytes=0-"),
                         ("suffix", "bytes=-5")]],
    _part_copy("upload-part-copy-missing-source-key", 404, "NoSuchKey",
               {"x-amz-copy-source": "/{bucket}/no-such-key"}),
    _part_copy("upload-part-copy-missing-source-bucket", 404, "NoSuchBucket",
               {"x-amz-copy-source": "/{new}/" + EXISTING_KEY}),
    _part_copy("upload-part-copy-source-without-key", 400, "InvalidArgument",
               {"x-amz-copy-source": "/{bucket}"}),
    _part_copy("upload-part-copy-unknown-upload", 404, "NoSuchUpload", SRC,
               query="partNumber=3&" + UNKNOWN_UPLOAD),
    _part_copy("upload-part-copy-part-number-0", 400, "InvalidArgument", SRC,
               query="partNumber=0&" + UP),
    _part_copy("upload-part-copy-source-if-match-wrong", 412, "PreconditionFailed",
               {**SRC, "x-amz-copy-source-if-match": WRONG_ETAG}),
]


@pytest.mark.parametrize("case", MULTIPART, ids=[c.id for c in MULTIPART])
def test_multipart(server, s3, ctx_bucket, two_parts, case: Case):
    def parts():
        listed = s3.list_parts(Bucket=ctx_bucket, Key="mpu-key", UploadId=two_parts["upload"])
        return [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed.get("Parts", [])]

    before = parts()
    run_case(server, s3, ctx_bucket, case, **two_parts)
    assert parts() == before, "a rejected request changed the upload's parts"
    assert "mpu-key" not in state(s3, ctx_bucket)[1]


# --------------------------------------------------------------------------
# browser form uploads (PostObject) with a policy signed here
# --------------------------------------------------------------------------


def _signing_key(secret: str, date: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signed_form(server, bucket: str, key: str, *, fields=None, conditions=(), document=None,
                expiration=None, access_key=None, secret_key=None) -> dict:
    """The fields of a form upload whose policy (by default: the bucket, the key, the
    signing fields and every field of `fields`, plus `conditions`) is signed here; or
    `document`, the raw policy, signed as it is."""
    now = utcnow()
    date, amz_date = now.strftime("%Y%m%d"), now.strftime("%Y%m%dT%H%M%SZ")
    credential = f"{access_key or server.access_key}/{date}/us-east-1/s3/aws4_request"
    out = {"key": key, "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": credential,
           "x-amz-date": amz_date, **(fields or {})}
    if document is None:
        expires = expiration or (now + datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        conds = [{"bucket": bucket}] + [{k: v} for k, v in out.items()] + list(conditions)
        document = json.dumps({"expiration": expires, "conditions": conds}).encode()
    out["policy"] = b64(document)
    signing_key = _signing_key(secret_key or server.secret_key, date)
    out["x-amz-signature"] = hmac.new(signing_key, out["policy"].encode(),
                                      hashlib.sha256).hexdigest()
    return out


@dataclass
class Form:
    id: str
    status: int
    code: str
    # (server, bucket name) -> the form's fields; the file comes last, as AWS requires.
    fields: Callable
    data: bytes = b"form file"
    bucket: str = "{bucket}"
    raw: bytes | None = None  # a hand-made multipart body instead
    content_type: str = "multipart/form-data; boundary=zzz"


def _form(key, **kw):
    return lambda srv, b: signed_form(srv, b, key, **kw)


ELEVEN_TAGS_XML = tagging_xml((f"k{i}", "v") for i in range(11)).decode()
SIZE_1_TO_10 = [["content-length-range", 1, 10]]

FORMS = [
    Form("post-file-over-content-length-range", 400, "EntityTooLarge",
         _form("f", conditions=SIZE_1_TO_10), data=b"x" * 11),
    Form("post-file-under-content-length-range", 400, "EntityTooSmall",
         _form("f", conditions=SIZE_1_TO_10), data=b""),
    Form("post-key-too-long", 400, "KeyTooLongError", _form("k" * 1025)),
    Form("post-metadata-too-large", 400, "MetadataTooLarge",
         _form("f", fields={"x-amz-meta-a": "v" * 2048})),
    Form("post-tagging-malformed", 400, "MalformedXML",
         _form("f", fields={"tagging": "<Tagging><TagSet>"})),
    Form("post-tagging-11-tags", 400, "BadRequest",
         _form("f", fields={"tagging": ELEVEN_TAGS_XML})),
    Form("post-content-md5-mismatch", 400, "BadDigest",
         _form("f", fields={"Content-MD5": md5_b64(b"other")})),
    # The policy: JSON with an expiration and a list of known conditions.
    Form("post-policy-not-json", 400, "InvalidPolicyDocument", _form("f", document=b"{not json")),
    Form("post-policy-without-expiration", 400, "InvalidPolicyDocument",
         lambda srv, b: signed_form(srv, b, "f", document=json.dumps(
             {"conditions": [{"bucket": b}]}).encode())),
    Form("post-policy-without-conditions", 400, "InvalidPolicyDocument",
         _form("f", document=b'{"expiration": "2090-01-01T00:00:00Z"}')),
    Form("post-policy-expiration-not-a-date", 400, "InvalidPolicyDocument",
         _form("f", expiration="tomorrow")),
    Form("post-policy-conditions-not-a-list", 400, "InvalidPolicyDocument",
         _form("f", document=b'{"expiration": "2090-01-01T00:00:00Z", "conditions": "x"}')),
    Form("post-policy-unknown-condition-operator", 400, "InvalidPolicyDocument",
         _form("f", conditions=[["matches", "$key", "f"]])),
    Form("post-policy-content-length-range-not-numbers", 400, "InvalidPolicyDocument",
         _form("f", conditions=[["content-length-range", "a", "b"]])),
    # Fields against the policy: 403 AccessDenied ("Invalid according to Policy").
    Form("post-field-not-in-policy", 403, "AccessDenied",
         lambda srv, b: {**signed_form(srv, b, "f"), "x-amz-meta-extra": "1"}),
    Form("post-field-violates-condition", 403, "AccessDenied",
         lambda srv, b: {**signed_form(srv, b, "f", conditions=[{"Content-Type": "text/plain"}]),
                         "Content-Type": "image/png"}),
    Form("post-policy-for-another-bucket", 403, "AccessDenied",
         lambda srv, b: signed_form(srv, "another-bucket", "f")),
    Form("post-signed-with-wrong-secret", 403, "SignatureDoesNotMatch",
         _form("f", secret_key="definitely-not-the-secret-key-0123456789")),
    Form("post-unknown-access-key", 403, "InvalidAccessKeyId",
         _form("f", access_key="CTNOSUCHKEY000000000")),
    Form("post-to-missing-bucket", 404, "NoSuchBucket",
         lambda srv, b: signed_form(srv, "never-" + b, "f"), bucket="never-{bucket}"),
    # The body is not well-formed multipart/form-data.
    Form("post-multipart-wrong-boundary", 400, "MalformedPOSTRequest", None,
         raw=b'--other\r\nContent-Disposition: form-data; name="key"\r\n\r\nf\r\n--other--\r\n'),
    Form("post-multipart-truncated", 400, "MalformedPOSTRequest", None,
         raw=b'--zzz\r\nContent-Disposition: form-data; name="key"\r\n\r\nf'),
    # Exactly one file per form; and a bucket POST is a multipart/form-data form.
    Form("post-without-file", 400, "IncorrectNumberOfFilesInPostRequest", None,
         raw=b'--zzz\r\nContent-Disposition: form-data; name="key"\r\n\r\nf\r\n--zzz--\r\n'),
    Form("post-not-multipart", 412, "PreconditionFailed", None, raw=b"key=f&file=x",
         content_type="application/x-www-form-urlencoded"),
]


@pytest.mark.parametrize("form", FORMS, ids=[f.id for f in FORMS])
def test_form_upload(server, s3, ctx_bucket, form: Form):
    target = form.bucket.replace("{bucket}", ctx_bucket)
    before = state(s3, ctx_bucket)
    url = f"{server.endpoint}/{target}"
    if form.raw is not None:
        resp = requests.post(url, data=form.raw, headers={"Content-Type": form.content_type},
                             verify=server.ca, timeout=60)
    else:
        resp = requests.post(url, data=form.fields(server, ctx_bucket),
                             files={"file": ("upload.bin", form.data)}, verify=server.ca,
                             timeout=60)
    info = (f"\nrequest: POST /{target} ({form.id})\nresponse: {resp.status_code}\n"
            f"{resp.text[:1500]}")
    assert resp.status_code < 500, info
    assert (resp.status_code, error_of(resp)) == (form.status, form.code), info
    assert state(s3, ctx_bucket) == before, "a rejected form upload changed the store" + info


def test_form_upload_positive_control(server, s3, ctx_bucket):
    """A form signed by signed_form is accepted: the cases above fail for their defect."""
    fields = signed_form(server, ctx_bucket, "form-ok", conditions=SIZE_1_TO_10)
    resp = requests.post(f"{server.endpoint}/{ctx_bucket}", data=fields,
                         files={"file": ("upload.bin", b"form file")}, verify=server.ca,
                         timeout=60)
    assert resp.status_code == 204, resp.text
    try:
        assert s3.get_object(Bucket=ctx_bucket, Key="form-ok")["Body"].read() == b"form file"
    finally:
        s3.delete_object(Bucket=ctx_bucket, Key="form-ok")


# --------------------------------------------------------------------------
# HTTP framing: a write without Content-Length (a raw TLS exchange)
# --------------------------------------------------------------------------


def tls_exchange(server, raw: bytes, timeout: float = 30) -> tuple[int, bytes]:
    """Sends `raw` over TLS and reads the reply until the server closes; (status, body)."""
    ctx = ssl.create_default_context(cafile=server.ca)
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        with ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            tls.sendall(raw)
            reply = b""
            while True:
                try:
                    chunk = tls.recv(65536)
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    break
                if not chunk:
                    break
                reply += chunk
    return parse_http_response(reply)


@pytest.mark.parametrize("path,query", [
    ("/{bucket}/no-length", ""),
    ("/{bucket}/mpu-key", "partNumber=3&uploadId={upload}"),
], ids=["put-object", "upload-part"])
def test_missing_content_length(server, s3, ctx_bucket, two_parts, path, query):
    # 411 MissingContentLength: "You must provide the Content-Length HTTP header."
    path = path.replace("{bucket}", ctx_bucket)
    query = query.replace("{upload}", two_parts["upload"])
    _, headers = sigv4_headers(server, "PUT", path, query, body=b"")
    headers.pop("Content-Length", None)
    target = path + (f"?{query}" if query else "")
    raw = f"PUT {target} HTTP/1.1\r\nHost: {server.host}\r\nConnection: close\r\n".encode()
    raw += b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n"
    before = state(s3, ctx_bucket)
    status, body = tls_exchange(server, raw)
    info = f"\nrequest: PUT {target} without Content-Length\nresponse: {status}\n{body[:1500]!r}"
    assert (status, xml_code(body)) == (411, "MissingContentLength"), info
    assert state(s3, ctx_bucket) == before, info
    listed = s3.list_parts(Bucket=ctx_bucket, Key="mpu-key", UploadId=two_parts["upload"])
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2]


def test_case_ids_are_unique():
    import test_malformed

    ids = [c.id for c in test_malformed.CASES + CATALOGUE + SSE_C_OBJECTS + MULTIPART]
    ids += [f.id for f in FORMS]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)

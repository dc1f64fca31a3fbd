"""Raw malformed requests: each must get AWS's exact error code and HTTP status,
and must leave nothing behind.

Requests are signed with botocore's S3SigV4Auth / AWSRequest (or deliberately not, or
badly) and sent with `requests`, or over a raw TLS socket where the HTTP framing itself
must be broken. Expected codes follow the Amazon S3 API reference ("Error responses")
and what AWS returns:

* a wrong x-amz-checksum-<alg> value is BadDigest ("The CRC32 you specified did not
  match the calculated checksum."), as for a wrong Content-MD5;
* Signature Version 2 in a region that only supports SigV4 is
  400 InvalidRequest ("The authorization mechanism you have provided is not
  supported. Please use AWS4-HMAC-SHA256.");
* an expired or time-skewed request: 403 RequestTimeTooSkewed (more than 15 minutes).

The catalogue continues in test_malformed_catalogue.py, which uses the helpers here (`Case`,
`run_case`, `state`).
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import hashlib
import hmac
import re
import socket
import ssl
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Callable
from unittest import mock

import botocore.auth
import pytest
import requests
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import crc32_b64, list_keys, md5_b64, sha256_b64, unique_bucket

EXISTING_KEY = "existing.txt"
EXISTING_BODY = b"0123456789" * 10  # 100 bytes
EXISTING_ETAG = '"' + hashlib.md5(EXISTING_BODY).hexdigest() + '"'
# A header value replaced by the Content-MD5 of the body actually sent (after substitutions).
BODY_MD5 = "{body-md5}"
REGION = "us-east-1"


# --------------------------------------------------------------------------
# request helpers
# --------------------------------------------------------------------------


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def sigv4_headers(server, method, path, query="", headers=None, body=b"", *,
                  access_key=None, secret_key=None, when=None, region=REGION,
                  context=None) -> tuple[str, dict]:
    """(url, headers) of a SigV4-signed request, as botocore would sign it."""
    url = server.endpoint + path + (f"?{query}" if query else "")
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    req.context.update(context or {})
    creds = Credentials(access_key or server.access_key, secret_key or server.secret_key)
    auth = S3SigV4Auth(creds, "s3", region)
    if when is not None:
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
            auth.add_auth(req)
    else:
        auth.add_auth(req)
    return url, {k: v for k, v in req.headers.items()}


def presign_url(server, method, path, query="", *, expires=3600, when=None,
                access_key=None, secret_key=None, region=REGION) -> str:
    """A SigV4 presigned URL (query-string authentication), as botocore would make it."""
    url = server.endpoint + path + (f"?{query}" if query else "")
    req = AWSRequest(method=method, url=url)
    creds = Credentials(access_key or server.access_key, secret_key or server.secret_key)
    auth = S3SigV4QueryAuth(creds, "s3", region, expires=expires)
    if when is not None:
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
            auth.add_auth(req)
    else:
        auth.add_auth(req)
    return req.url


def send(server, method, path, query="", headers=None, body=b"", *, auth="sigv4",
         **sign_kw) -> requests.Response:
    headers = dict(headers or {})
    if auth == "sigv4":
        url, headers = sigv4_headers(server, method, path, query, headers, body, **sign_kw)
    elif auth == "none":
        url = server.endpoint + path + (f"?{query}" if query else "")
    elif auth == "sigv2":
        url = server.endpoint + path + (f"?{query}" if query else "")
        headers = sigv2_headers(server, method, path, query, headers)
    else:
        raise ValueError(auth)
    # Use a prepared request so that requests does not rewrite what was signed.
    s = requests.Session()
    prep = requests.Request(method, url, headers=headers, data=body).prepare()
    prep.url = url
    return s.send(prep, verify=server.ca, timeout=60, allow_redirects=False)


def sigv2_headers(server, method, path, query, headers) -> dict:
    """A correctly computed Signature Version 2 Authorization header."""
    headers = dict(headers)
    headers["Date"] = email.utils.formatdate(usegmt=True)
    amz = "".join(
        f"{k.lower()}:{v.strip()}\n"
        for k, v in sorted(headers.items(), key=lambda kv: kv[0].lower())
        if k.lower().startswith("x-amz-")
    )
    resource = path + (f"?{query}" if query in ("acl", "torrent", "delete", "uploads") else "")
    sts = "\n".join(
        [method, headers.get("Content-MD5", ""), headers.get("Content-Type", ""), headers["Date"]]
    ) + "\n" + amz + resource
    sig = base64.b64encode(
        hmac.new(server.secret_key.encode(), sts.encode(), hashlib.sha1).digest()
    ).decode()
    headers["Authorization"] = f"AWS {server.access_key}:{sig}"
    return headers


def error_of(resp: requests.Response) -> str | None:
    try:
        root = ET.fromstring(resp.content)
    except ET.ParseError:
        return None
    code = root.find("Code")
    return code.text if code is not None else None


def describe(method, path, query, resp) -> str:
    return (
        f"\nrequest: {method} {path}{'?' + query if query else ''}"
        f"\nresponse: {resp.status_code} {resp.headers.get('content-type')}\n{resp.text[:1500]}"
    )


def state(s3, bucket) -> tuple:
    """What a rejected request must not change: buckets, objects, pending uploads, and the
    bucket's configuration (policy, public access block, encryption, logging, ACL) and the
    existing object's tags."""
    buckets = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
    keys = list_keys(s3, bucket)
    uploads = sorted(
        (u["Key"], u["UploadId"])
        for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    )

    def get(call, **kw):
        try:
            answer = call(Bucket=bucket, **kw)
        except ClientError as e:
            return e.response["Error"]["Code"]
        answer.pop("ResponseMetadata", None)
        return answer

    config = [
        get(s3.get_bucket_policy),
        get(s3.get_public_access_block),
        get(s3.get_bucket_encryption),
        get(s3.get_bucket_logging),
        get(s3.get_bucket_acl),
        get(s3.get_object_tagging, Key=EXISTING_KEY),
    ]
    return buckets, keys, uploads, config


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctx_bucket(s3):
    from conftest import empty_and_delete_bucket

    name = unique_bucket("bad")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key=EXISTING_KEY, Body=EXISTING_BODY)
    yield name
    empty_and_delete_bucket(s3, name)


# --------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------


@dataclass
class Case:
    """One malformed request and the answer AWS gives it.

    Placeholders in `path`, `query`, header values and `body`: {bucket} is a bucket holding
    {key} (EXISTING_KEY); {new} is a fresh unused bucket name; tests may add their own (an
    upload id, part ETags)."""

    id: str
    method: str
    path: str
    status: int
    code: str | None
    query: str = ""
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    auth: str = "sigv4"  # sigv4 | presign | sigv2 | none
    sign: dict | Callable = field(default_factory=dict)  # keywords of the signer
    # What is actually sent when it is not what was signed: {"method": ..., "path": ...,
    # "query": ...}, each optional.
    send_as: dict = field(default_factory=dict)
    # (url, headers) -> (url, headers), applied after signing: a forged or damaged request.
    tamper: Callable | None = None


def fill(template, values: dict):
    """`template` (str or bytes) with its {name} placeholders replaced."""
    for name, value in values.items():
        if isinstance(template, bytes):
            template = template.replace(b"{" + name.encode() + b"}", value.encode())
        else:
            template = template.replace("{" + name + "}", value)
    return template


def perform(server, case: Case, values: dict) -> tuple[str, requests.Response]:
    """Sends `case` with `values` substituted; (a description of the request, response)."""
    path, query = fill(case.path, values), fill(case.query, values)
    headers = {k: fill(v, values) for k, v in case.headers.items()}
    body = fill(case.body, values)
    headers = {k: md5_b64(body) if v == BODY_MD5 else v for k, v in headers.items()}
    sign = case.sign() if callable(case.sign) else dict(case.sign)
    # Sign a payload hash that is not the hash of the body actually sent.
    override = headers.pop("x-amz-content-sha256-override", None)
    if case.auth == "sigv4":
        url, headers = sigv4_headers(server, case.method, path, query, headers,
                                     b"other" if override else body, **sign)
        if override:
            assert headers["X-Amz-Content-SHA256"] == override
    elif case.auth == "presign":
        url = presign_url(server, case.method, path, query, **sign)
    elif case.auth == "sigv2":
        url = server.endpoint + path + (f"?{query}" if query else "")
        headers = sigv2_headers(server, case.method, path, query, headers)
    elif case.auth == "none":
        url = server.endpoint + path + (f"?{query}" if query else "")
    else:
        raise ValueError(case.auth)
    method = case.send_as.get("method", case.method)
    if "path" in case.send_as or "query" in case.send_as:
        sent_path = fill(case.send_as.get("path", case.path), values)
        sent_query = fill(case.send_as.get("query", case.query), values)
        rest = url.split("?", 1)[1] if case.auth == "presign" else ""
        query_all = "&".join(q for q in (sent_query, rest) if q)
        url = server.endpoint + sent_path + (f"?{query_all}" if query_all else "")
    if case.tamper is not None:
        url, headers = case.tamper(url, dict(headers))
    # A prepared request, so that requests does not rewrite what was signed.
    prep = requests.Request(method, url, headers=headers, data=body).prepare()
    prep.url = url
    resp = requests.Session().send(prep, verify=server.ca, timeout=60, allow_redirects=False)
    shown = url[len(server.endpoint):]
    return f"{method} {shown}", resp


def run_case(server, s3, bucket: str, case: Case, **values) -> requests.Response:
    """Sends one malformed request and checks AWS's code and status, that the server did not
    fail (no 5xx) and that nothing changed: buckets, objects, uploads, configuration."""
    new = unique_bucket("never")
    values = {"bucket": bucket, "new": new, "key": EXISTING_KEY, **values}
    before = state(s3, bucket)
    request, resp = perform(server, case, values)
    info = (f"\nrequest: {request}\nresponse: {resp.status_code} "
            f"{resp.headers.get('content-type')}\n{resp.text[:1500]}")
    # No 5xx but the documented 501 NotImplemented of what Coffre does not implement yet.
    assert resp.status_code < 500 or resp.status_code == case.status == 501, \
        "the server failed" + info
    assert (resp.status_code, error_of(resp)) == (case.status, case.code), info
    after = state(s3, bucket)
    assert after == before, "a rejected request changed the store" + info
    assert new not in after[0]
    # The existing object is intact.
    assert s3.get_object(Bucket=bucket, Key=EXISTING_KEY)["Body"].read() == EXISTING_BODY
    return resp


# Tampering after signing.

def replace_auth(pattern: str, repl: str) -> Callable:
    """Rewrites the Authorization header (a regular expression substitution)."""
    def tamper(url, headers):
        headers["Authorization"] = re.sub(pattern, repl, headers["Authorization"])
        return url, headers
    return tamper


def set_headers(**values) -> Callable:
    """Sets headers (underscores in names become dashes) after signing."""
    def tamper(url, headers):
        headers.update({k.replace("_", "-"): v for k, v in values.items()})
        return url, headers
    return tamper


def replace_url(pattern: str, repl: str) -> Callable:
    """Rewrites the URL (a regular expression substitution), e.g. a presigned URL's query."""
    def tamper(url, headers):
        return re.sub(pattern, repl, url), headers
    return tamper


def _skew(minutes):
    # Resolved at request time so the skew is relative to "now".
    return lambda: {"when": utcnow() + datetime.timedelta(minutes=minutes)}


DELETE_BAD_XML = b"<Delete><Object><Key>existing.txt</Key></Object>"  # never closed
LOCATION_BAD_XML = b"<CreateBucketConfiguration><LocationConstraint>eu-west-1"
LOCATION_INVALID = (
    b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<LocationConstraint>no-such-region-!!</LocationConstraint></CreateBucketConfiguration>"
)

CASES = [
    # bucket names
    Case("bucket-name-uppercase-underscore", "PUT", "/Bad_Bucket_Name", 400, "InvalidBucketName"),
    Case("bucket-name-too-short", "PUT", "/ab", 400, "InvalidBucketName"),
    Case("bucket-name-too-long", "PUT", "/" + "a" * 64, 400, "InvalidBucketName"),
    Case("bucket-name-ip-address", "PUT", "/192.168.5.4", 400, "InvalidBucketName"),
    Case("bucket-name-double-dot", "PUT", "/bad..name", 400, "InvalidBucketName"),
    Case("bucket-name-leading-dash", "PUT", "/-badname", 400, "InvalidBucketName"),
    # keys and metadata
    Case("key-1025-bytes", "PUT", "/{bucket}/" + "k" * 1025, 400, "KeyTooLongError", body=b"x"),
    Case("metadata-one-value-over-2k", "PUT", "/{bucket}/meta", 400, "MetadataTooLarge",
         headers={"x-amz-meta-big": "v" * 2100}, body=b"x"),
    Case("metadata-sum-over-2k", "PUT", "/{bucket}/meta", 400, "MetadataTooLarge",
         headers={f"x-amz-meta-field{i:02d}": "w" * 100 for i in range(25)}, body=b"x"),
    # ranges
    Case("range-past-end", "GET", "/{bucket}/" + EXISTING_KEY, 416, "InvalidRange",
         headers={"Range": "bytes=100-200"}),
    Case("range-far-past-end", "GET", "/{bucket}/" + EXISTING_KEY, 416, "InvalidRange",
         headers={"Range": "bytes=5000-6000"}),
    # missing things
    Case("list-missing-bucket", "GET", "/{new}", 404, "NoSuchBucket"),
    Case("get-in-missing-bucket", "GET", "/{new}/some-key", 404, "NoSuchBucket"),
    Case("put-in-missing-bucket", "PUT", "/{new}/some-key", 404, "NoSuchBucket", body=b"x"),
    Case("get-missing-key", "GET", "/{bucket}/no-such-key", 404, "NoSuchKey"),
    Case("delete-missing-bucket", "DELETE", "/{new}", 404, "NoSuchBucket"),
    # integrity
    Case("content-md5-mismatch", "PUT", "/{bucket}/digest", 400, "BadDigest",
         headers={"Content-MD5": md5_b64(b"something else")}, body=b"payload"),
    Case("content-md5-not-base64", "PUT", "/{bucket}/digest", 400, "InvalidDigest",
         headers={"Content-MD5": "not*base64!"}, body=b"payload"),
    Case("content-md5-wrong-length", "PUT", "/{bucket}/digest", 400, "InvalidDigest",
         headers={"Content-MD5": base64.b64encode(b"12345").decode()}, body=b"payload"),
    Case("checksum-crc32-mismatch", "PUT", "/{bucket}/digest", 400, "BadDigest",
         headers={"x-amz-checksum-crc32": crc32_b64(b"something else")}, body=b"payload"),
    Case("checksum-sha256-mismatch", "PUT", "/{bucket}/digest", 400, "BadDigest",
         headers={"x-amz-checksum-sha256": sha256_b64(b"something else")}, body=b"payload"),
    Case("content-sha256-mismatch", "PUT", "/{bucket}/digest", 400, "XAmzContentSHA256Mismatch",
         headers={"x-amz-content-sha256-override": hashlib.sha256(b"other").hexdigest()},
         body=b"payload"),
    # authentication
    Case("anonymous-get-object", "GET", "/{bucket}/" + EXISTING_KEY, 403, "AccessDenied",
         auth="none"),
    Case("anonymous-put-object", "PUT", "/{bucket}/anon", 403, "AccessDenied", auth="none",
         body=b"x"),
    Case("anonymous-list-buckets", "GET", "/", 403, "AccessDenied", auth="none"),
    Case("anonymous-create-bucket", "PUT", "/{new}", 403, "AccessDenied", auth="none"),
    Case("sigv2-get-object", "GET", "/{bucket}/" + EXISTING_KEY, 400, "InvalidRequest",
         auth="sigv2"),
    Case("sigv2-put-object", "PUT", "/{bucket}/v2", 400, "InvalidRequest", auth="sigv2",
         headers={"Content-Type": "application/octet-stream"}, body=b"x"),
    Case("clock-20-min-behind", "GET", "/{bucket}/" + EXISTING_KEY, 403, "RequestTimeTooSkewed",
         sign=_skew(-20)),
    Case("clock-20-min-ahead-put", "PUT", "/{bucket}/skew", 403, "RequestTimeTooSkewed",
         sign=_skew(+20), body=b"x"),
    Case("wrong-secret-get", "GET", "/{bucket}/" + EXISTING_KEY, 403, "SignatureDoesNotMatch",
         sign={"secret_key": "definitely-not-the-secret-key-0123456789"}),
    Case("wrong-secret-put", "PUT", "/{bucket}/forged", 403, "SignatureDoesNotMatch",
         sign={"secret_key": "definitely-not-the-secret-key-0123456789"}, body=b"x"),
    Case("unknown-access-key", "GET", "/{bucket}/" + EXISTING_KEY, 403, "InvalidAccessKeyId",
         sign={"access_key": "CTNOSUCHKEY000000000"}),
    Case("unknown-access-key-put", "PUT", "/{bucket}/forged", 403, "InvalidAccessKeyId",
         sign={"access_key": "CTNOSUCHKEY000000000"}, body=b"x"),
    # unsupported subresources
    Case("object-torrent", "GET", "/{bucket}/" + EXISTING_KEY, 501, "NotImplemented",
         query="torrent"),
    Case("put-bucket-acl-public-read-write", "PUT", "/{bucket}", 501, "NotImplemented", query="acl",
         headers={"x-amz-acl": "public-read-write"}),
    Case("put-bucket-acl-unknown-canned", "PUT", "/{bucket}", 400, "InvalidArgument", query="acl",
         headers={"x-amz-acl": "everyone-everything"}),
    Case("put-bucket-policy-not-json", "PUT", "/{bucket}", 400, "MalformedPolicy", query="policy",
         body=b"{not json"),
    # XML bodies
    Case("delete-objects-malformed-xml", "POST", "/{bucket}", 400, "MalformedXML", query="delete",
         headers={"Content-MD5": md5_b64(DELETE_BAD_XML)}, body=DELETE_BAD_XML),
    Case("create-bucket-malformed-location-xml", "PUT", "/{new}", 400, "MalformedXML",
         body=LOCATION_BAD_XML),
    Case("create-bucket-invalid-location", "PUT", "/{new}", 400, "InvalidLocationConstraint",
         body=LOCATION_INVALID),
    # bucket state
    Case("delete-non-empty-bucket", "DELETE", "/{bucket}", 409, "BucketNotEmpty"),
    Case("create-bucket-you-own", "PUT", "/{bucket}", 409, "BucketAlreadyOwnedByYou"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_request(server, s3, ctx_bucket, case: Case):
    run_case(server, s3, ctx_bucket, case)


def test_positive_controls(server, s3, ctx_bucket):
    """The same raw requests, made valid, succeed: the table tests the right thing."""
    r = send(server, "GET", f"/{ctx_bucket}/{EXISTING_KEY}")
    assert r.status_code == 200 and r.content == EXISTING_BODY, r.text
    r = send(server, "GET", f"/{ctx_bucket}/{EXISTING_KEY}", headers={"Range": "bytes=90-99"})
    assert r.status_code == 206 and r.content == EXISTING_BODY[90:], r.text
    key = "k" * 1024
    r = send(server, "PUT", f"/{ctx_bucket}/{key}", body=b"ok",
             headers={"Content-MD5": md5_b64(b"ok"), "x-amz-checksum-crc32": crc32_b64(b"ok"),
                      "x-amz-meta-m": "v" * 1000})
    assert r.status_code == 200, r.text
    try:
        got = s3.get_object(Bucket=ctx_bucket, Key=key)
        assert got["Body"].read() == b"ok"
        assert got["Metadata"] == {"m": "v" * 1000}
    finally:
        s3.delete_object(Bucket=ctx_bucket, Key=key)


# --------------------------------------------------------------------------
# multipart
# --------------------------------------------------------------------------


@pytest.fixture
def upload(s3, ctx_bucket):
    up = s3.create_multipart_upload(Bucket=ctx_bucket, Key="mpu-key")
    yield up["UploadId"]
    try:
        s3.abort_multipart_upload(Bucket=ctx_bucket, Key="mpu-key", UploadId=up["UploadId"])
    except Exception:
        pass


@pytest.mark.parametrize("part_number", ["0", "10001", "-1", "abc"])
def test_upload_part_number_out_of_range(server, s3, ctx_bucket, upload, part_number):
    before = state(s3, ctx_bucket)
    query = f"partNumber={part_number}&uploadId={upload}"
    resp = send(server, "PUT", f"/{ctx_bucket}/mpu-key", query, body=b"part data")
    info = describe("PUT", f"/{ctx_bucket}/mpu-key", query, resp)
    assert (resp.status_code, error_of(resp)) == (400, "InvalidArgument"), info
    parts = s3.list_parts(Bucket=ctx_bucket, Key="mpu-key", UploadId=upload)
    assert parts.get("Parts", []) == [], info
    assert state(s3, ctx_bucket) == before


def test_upload_part_unknown_upload_id(server, s3, ctx_bucket):
    before = state(s3, ctx_bucket)
    query = "partNumber=1&uploadId=no-such-upload-id"
    resp = send(server, "PUT", f"/{ctx_bucket}/mpu-key", query, body=b"part data")
    info = describe("PUT", f"/{ctx_bucket}/mpu-key", query, resp)
    assert (resp.status_code, error_of(resp)) == (404, "NoSuchUpload"), info
    assert state(s3, ctx_bucket) == before


@pytest.mark.parametrize(
    "body",
    [
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>",
        b"this is not xml at all",
        b"<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>x</ETag></Part>"
        b"</CompleteMultipartUpload>",
    ],
    ids=["unclosed", "not-xml", "non-numeric-part-number"],
)
def test_complete_multipart_malformed_xml(server, s3, ctx_bucket, upload, body):
    s3.upload_part(Bucket=ctx_bucket, Key="mpu-key", UploadId=upload, PartNumber=1,
                   Body=b"only part")
    before = state(s3, ctx_bucket)
    query = f"uploadId={upload}"
    resp = send(server, "POST", f"/{ctx_bucket}/mpu-key", query, body=body)
    info = describe("POST", f"/{ctx_bucket}/mpu-key", query, resp)
    assert (resp.status_code, error_of(resp)) == (400, "MalformedXML"), info
    assert state(s3, ctx_bucket) == before, info
    assert "mpu-key" not in list_keys(s3, ctx_bucket)
    # The upload is still there and can be completed properly afterwards.
    parts = s3.list_parts(Bucket=ctx_bucket, Key="mpu-key", UploadId=upload)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1]


def test_complete_multipart_wrong_etag(server, s3, ctx_bucket, upload):
    s3.upload_part(Bucket=ctx_bucket, Key="mpu-key", UploadId=upload, PartNumber=1,
                   Body=b"only part")
    before = state(s3, ctx_bucket)
    body = (
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
        b'<ETag>"00000000000000000000000000000000"</ETag></Part></CompleteMultipartUpload>'
    )
    resp = send(server, "POST", f"/{ctx_bucket}/mpu-key", f"uploadId={upload}", body=body)
    info = describe("POST", f"/{ctx_bucket}/mpu-key", f"uploadId={upload}", resp)
    assert (resp.status_code, error_of(resp)) == (400, "InvalidPart"), info
    assert state(s3, ctx_bucket) == before, info


# --------------------------------------------------------------------------
# broken HTTP framing: body shorter than Content-Length
# --------------------------------------------------------------------------


def tls_send_then_half_close(server, raw: bytes, timeout: float = 30) -> bytes:
    """Send `raw` over TLS, close our sending side (close_notify + TCP FIN), read the reply."""
    ctx = ssl.create_default_context(cafile=server.ca)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")

    def flush():
        data = outgoing.read()
        if data:
            sock.sendall(data)

    def pump() -> bool:
        data = sock.recv(65536)
        if not data:
            incoming.write_eof()
            return False
        incoming.write(data)
        return True

    try:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                flush()
                if not pump():
                    raise ConnectionError("server closed during TLS handshake")
        flush()
        tls.write(raw)
        flush()
        try:
            tls.unwrap()  # sends close_notify: "no more data from me"
        except ssl.SSLWantReadError:
            pass
        flush()
        sock.shutdown(socket.SHUT_WR)

        response = b""
        while True:
            try:
                chunk = tls.read(65536)
            except ssl.SSLWantReadError:
                if not pump():
                    break
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
            if not chunk:
                break
            response += chunk
        return response
    finally:
        sock.close()


def parse_http_response(raw: bytes) -> tuple[int, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    if not status_line.startswith(b"HTTP/1.1 "):
        raise AssertionError(f"no HTTP response, got {raw[:300]!r}")
    status = int(status_line.split()[1])
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    elif b"content-length" in headers:
        body = body[: int(headers[b"content-length"])]
    return status, body


def test_body_shorter_than_content_length(server, s3, ctx_bucket):
    key = "incomplete"
    full = bytes(range(100))
    sent = full[:50]
    url, headers = sigv4_headers(server, "PUT", f"/{ctx_bucket}/{key}", body=full)
    headers["Content-Length"] = str(len(full))
    raw = f"PUT /{ctx_bucket}/{key} HTTP/1.1\r\nHost: {server.host}\r\n".encode()
    for k, v in headers.items():
        raw += f"{k}: {v}\r\n".encode()
    raw += b"\r\n" + sent

    before = state(s3, ctx_bucket)
    try:
        reply = tls_send_then_half_close(server, raw)
    except (socket.timeout, ConnectionError, ssl.SSLError) as e:
        pytest.fail(
            f"PUT /{ctx_bucket}/{key} with Content-Length: 100 and 50 bytes, then the client "
            f"closed its side: no response ({e!r})"
        )
    status, body = parse_http_response(reply)
    code = None
    try:
        el = ET.fromstring(body).find("Code")
        code = el.text if el is not None else None
    except ET.ParseError:
        pass
    info = f"\nrequest: PUT /{ctx_bucket}/{key} Content-Length: 100 with 50 bytes\nresponse: {reply[:1500]!r}"
    assert (status, code) == (400, "IncompleteBody"), info
    assert state(s3, ctx_bucket) == before, info


# --------------------------------------------------------------------------
# aws-chunked uploads with a trailing checksum (what current SDKs and the CLI send)
# --------------------------------------------------------------------------


def aws_chunked(data: bytes, trailer_name: str, trailer_value: str, chunk: int = 8192) -> bytes:
    out = b""
    for i in range(0, len(data), chunk):
        piece = data[i:i + chunk]
        out += b"%x\r\n%s\r\n" % (len(piece), piece)
    out += b"0\r\n" + f"{trailer_name}:{trailer_value}\r\n".encode() + b"\r\n"
    return out


def send_trailer_upload(server, path, data, trailer_value) -> requests.Response:
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-decoded-content-length": str(len(data)),
    }
    body = aws_chunked(data, "x-amz-checksum-crc32", trailer_value)
    ctx = {"checksum": {"request_algorithm": {"in": "trailer", "name": "x-amz-checksum-crc32"}}}
    url, hdrs = sigv4_headers(server, "PUT", path, "", headers, body, context=ctx)
    assert hdrs["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    prep = requests.Request("PUT", url, headers=hdrs, data=body).prepare()
    return requests.Session().send(prep, verify=server.ca, timeout=60)


def test_aws_chunked_trailer_checksum_ok(server, s3, ctx_bucket):
    data = bytes(range(256)) * 100  # 25600 bytes, 4 chunks
    resp = send_trailer_upload(server, f"/{ctx_bucket}/chunked-ok", data, crc32_b64(data))
    assert resp.status_code == 200, describe("PUT", f"/{ctx_bucket}/chunked-ok", "", resp)
    try:
        got = s3.get_object(Bucket=ctx_bucket, Key="chunked-ok", ChecksumMode="ENABLED")
        assert got["Body"].read() == data  # the chunk framing is not part of the object
        assert got["ContentLength"] == len(data)
        assert got.get("ChecksumCRC32") == crc32_b64(data)
    finally:
        s3.delete_object(Bucket=ctx_bucket, Key="chunked-ok")


def test_aws_chunked_trailer_checksum_wrong(server, s3, ctx_bucket):
    data = bytes(range(256)) * 100
    before = state(s3, ctx_bucket)
    resp = send_trailer_upload(server, f"/{ctx_bucket}/chunked-bad", data,
                               crc32_b64(b"something else"))
    info = describe("PUT", f"/{ctx_bucket}/chunked-bad", "", resp) + \
        "\n(aws-chunked body, STREAMING-UNSIGNED-PAYLOAD-TRAILER, wrong x-amz-checksum-crc32 trailer)"
    assert (resp.status_code, error_of(resp)) == (400, "BadDigest"), info
    assert state(s3, ctx_bucket) == before, info


# --------------------------------------------------------------------------
# aws-chunked uploads signed chunk by chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)
# --------------------------------------------------------------------------


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def send_signed_streaming(server, path, data, *, tamper=False, chunk=8192) -> requests.Response:
    from botocore.auth import SigV4Auth

    url = server.endpoint + path
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    }
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    encoded_len = sum(
        len(f"{len(p):x};chunk-signature={'0' * 64}\r\n".encode()) + len(p) + 2 for p in pieces
    )
    headers["Content-Length"] = str(encoded_len)
    req = AWSRequest(method="PUT", url=url, data=b"", headers=headers)
    SigV4Auth(Credentials(server.access_key, server.secret_key), "s3", REGION).add_auth(req)
    auth = req.headers["Authorization"]
    prev = auth.rsplit("Signature=", 1)[1]
    amz_date = req.headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + server.secret_key).encode(), amz_date[:8]),
                            REGION), "s3"), "aws4_request")
    empty = hashlib.sha256(b"").hexdigest()
    body = b""
    for i, p in enumerate(pieces):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, empty,
                         hashlib.sha256(p).hexdigest()])
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        sent = p
        if tamper and i == 1:
            sent = bytes([p[0] ^ 0xFF]) + p[1:]  # same length, one byte flipped
        body += f"{len(p):x};chunk-signature={sig}\r\n".encode() + sent + b"\r\n"
        prev = sig
    assert len(body) == encoded_len
    hdrs = dict(req.headers)
    prep = requests.Request("PUT", url, headers=hdrs, data=body).prepare()
    return requests.Session().send(prep, verify=server.ca, timeout=60)


def test_signed_streaming_upload_ok(server, s3, ctx_bucket):
    data = bytes(range(256)) * 100
    resp = send_signed_streaming(server, f"/{ctx_bucket}/streamed-ok", data)
    assert resp.status_code == 200, describe("PUT", f"/{ctx_bucket}/streamed-ok", "", resp)
    try:
        assert s3.get_object(Bucket=ctx_bucket, Key="streamed-ok")["Body"].read() == data
    finally:
        s3.delete_object(Bucket=ctx_bucket, Key="streamed-ok")


def test_signed_streaming_tampered_chunk(server, s3, ctx_bucket):
    data = bytes(range(256)) * 100
    before = state(s3, ctx_bucket)
    resp = send_signed_streaming(server, f"/{ctx_bucket}/streamed-bad", data, tamper=True)
    info = describe("PUT", f"/{ctx_bucket}/streamed-bad", "", resp) + \
        "\n(STREAMING-AWS4-HMAC-SHA256-PAYLOAD, second chunk altered after signing)"
    assert (resp.status_code, error_of(resp)) == (403, "SignatureDoesNotMatch"), info
    assert state(s3, ctx_bucket) == before, info

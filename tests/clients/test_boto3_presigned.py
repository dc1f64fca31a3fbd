"""Presigned URLs made by boto3 (SigV4, path style) used from plain HTTP clients."""

from __future__ import annotations

import datetime
import ssl
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from unittest import mock

import botocore.auth
import pytest
import requests

from conftest import list_keys


def error_code(body: bytes) -> str | None:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    el = root.find("Code")
    return el.text if el is not None else None


def presign_at(s3, when: datetime.datetime, method: str, params: dict, expires: int) -> str:
    """Presign as if the clock read `when` (naive UTC), without waiting for anything."""
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
        return s3.generate_presigned_url(method, Params=params, ExpiresIn=expires)


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def query(url: str) -> dict:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def test_presigned_url_shape(s3, server, bucket):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                    ExpiresIn=300)
    parts = urllib.parse.urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == server.endpoint
    assert parts.path == f"/{bucket}/k"  # path style
    q = query(url)
    assert q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert q["X-Amz-Expires"] == "300"


def test_presigned_get_with_requests(s3, server, bucket):
    data = b"presigned get \x00\x01\xff" * 1000
    s3.put_object(Bucket=bucket, Key="dir/obj.bin", Body=data)
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "dir/obj.bin"}, ExpiresIn=300
    )
    r = requests.get(url, verify=server.ca, timeout=60)
    assert r.status_code == 200, r.text
    assert r.content == data


def test_presigned_get_with_urllib(s3, server, bucket):
    data = b"urllib works too"
    s3.put_object(Bucket=bucket, Key="u", Body=data)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "u"},
                                    ExpiresIn=60)
    ctx = ssl.create_default_context(cafile=server.ca)
    with urllib.request.urlopen(url, context=ctx, timeout=60) as resp:
        assert resp.status == 200
        assert resp.read() == data


def test_presigned_put_with_requests(s3, server, bucket):
    data = b"uploaded through a presigned PUT\n" * 500
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=300
    )
    r = requests.put(url, data=data, verify=server.ca, timeout=60)
    assert r.status_code == 200, r.text
    got = s3.get_object(Bucket=bucket, Key="up.txt")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)


def test_presigned_get_expired_is_access_denied(s3, server, bucket):
    s3.put_object(Bucket=bucket, Key="old", Body=b"secret")
    signed_at = utcnow() - datetime.timedelta(hours=1)
    url = presign_at(s3, signed_at, "get_object", {"Bucket": bucket, "Key": "old"}, expires=1)
    q = query(url)
    assert q["X-Amz-Expires"] == "1"
    assert q["X-Amz-Date"] == signed_at.strftime("%Y%m%dT%H%M%SZ")  # the clock patch worked
    r = requests.get(url, verify=server.ca, timeout=60)
    assert r.status_code == 403, r.text
    assert error_code(r.content) == "AccessDenied", r.text
    assert b"secret" not in r.content


def test_presigned_put_expired_writes_nothing(s3, server, bucket):
    signed_at = utcnow() - datetime.timedelta(minutes=10)
    url = presign_at(s3, signed_at, "put_object", {"Bucket": bucket, "Key": "late"}, expires=60)
    r = requests.put(url, data=b"too late", verify=server.ca, timeout=60)
    assert r.status_code == 403, r.text
    assert error_code(r.content) == "AccessDenied", r.text
    assert list_keys(s3, bucket) == {}


def test_presigned_not_yet_expired_with_past_date_works(s3, server, bucket):
    """Control for the expiry test: signed 1 h ago, valid for 2 h, so still good."""
    s3.put_object(Bucket=bucket, Key="fresh", Body=b"still valid")
    signed_at = utcnow() - datetime.timedelta(hours=1)
    url = presign_at(s3, signed_at, "get_object", {"Bucket": bucket, "Key": "fresh"},
                     expires=7200)
    r = requests.get(url, verify=server.ca, timeout=60)
    assert r.status_code == 200, r.text
    assert r.content == b"still valid"


def _tamper(url: str) -> str:
    q = query(url)
    sig = q["X-Amz-Signature"]
    flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    return url.replace(f"X-Amz-Signature={sig}", f"X-Amz-Signature={flipped}")


def test_presigned_get_tampered_signature(s3, server, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"guarded")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "t"},
                                    ExpiresIn=300)
    r = requests.get(_tamper(url), verify=server.ca, timeout=60)
    assert r.status_code == 403, r.text
    assert error_code(r.content) == "SignatureDoesNotMatch", r.text
    assert b"guarded" not in r.content


def test_presigned_put_tampered_signature_writes_nothing(s3, server, bucket):
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "t"},
                                    ExpiresIn=300)
    r = requests.put(_tamper(url), data=b"evil", verify=server.ca, timeout=60)
    assert r.status_code == 403, r.text
    assert error_code(r.content) == "SignatureDoesNotMatch", r.text
    assert list_keys(s3, bucket) == {}


def test_presigned_url_for_other_key_rejected(s3, server, bucket):
    """Changing the key in a presigned URL invalidates it."""
    s3.put_object(Bucket=bucket, Key="private", Body=b"private data")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "public"},
                                    ExpiresIn=300)
    r = requests.get(url.replace(f"/{bucket}/public?", f"/{bucket}/private?"),
                     verify=server.ca, timeout=60)
    assert r.status_code == 403, r.text
    assert error_code(r.content) == "SignatureDoesNotMatch", r.text

"""S3 server access logging with boto3: PutBucketLogging/GetBucketLogging, and the logs
delivered into the target bucket in the S3 server access log format, readable with the regular
expression AWS documents for querying these logs (Athena), one line per request."""

from __future__ import annotations

import re
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import unique_bucket

# The RegexSerDe AWS documents for S3 server access logs (Athena), first 25 fields.
ACCESS_LOG_LINE = re.compile(
    r'([^ ]*) ([^ ]*) \[(.*?)\] ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ("[^"]*"|-) (-|[0-9]*) ([^ ]*) ([^ ]*) '
    r'([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ("[^"]*"|-) ([^ ]*)(?: ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) '
    r'([^ ]*) ([^ ]*))?.*$'
)
DELIVERY_DEADLINE_S = 60


def client(server, access_key=None, secret_key=None):
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=access_key or server.access_key,
        aws_secret_access_key=secret_key or server.secret_key,
        region_name=server.region,
        verify=server.ca,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def delivered_lines(s3, target: str, prefix: str) -> list[str]:
    lines = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=target, Key=obj["Key"])["Body"].read().decode()
            lines.extend(line for line in body.splitlines() if line)
    return lines


def test_access_logs_are_delivered_in_the_s3_format(server):
    s3 = client(server)
    source, target = unique_bucket("logged"), unique_bucket("logs")
    s3.create_bucket(Bucket=source)
    s3.create_bucket(Bucket=target)
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=source)
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": target, "TargetPrefix": "access/"}})
    enabled = s3.get_bucket_logging(Bucket=source)["LoggingEnabled"]
    assert (enabled["TargetBucket"], enabled["TargetPrefix"]) == (target, "access/")

    put = s3.put_object(Bucket=source, Key="docs/report.pdf", Body=b"x" * 1234)
    got = s3.get_object(Bucket=source, Key="docs/report.pdf")
    got["Body"].read()
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=source, Key="nope")
    expected = {
        put["ResponseMetadata"]["RequestId"]: ("REST.PUT.OBJECT", "docs/report.pdf", "200", "-"),
        got["ResponseMetadata"]["RequestId"]: ("REST.GET.OBJECT", "docs/report.pdf", "200", "-"),
        missing.value.response["ResponseMetadata"]["RequestId"]: ("REST.GET.OBJECT", "nope", "404", "NoSuchKey"),
    }

    deadline = time.monotonic() + DELIVERY_DEADLINE_S
    while True:
        lines = delivered_lines(s3, target, "access/")
        parsed = [ACCESS_LOG_LINE.match(line) for line in lines]
        assert all(parsed), f"lines not in the access log format: {lines}"
        by_request = {m.group(6): m for m in parsed}
        if all(rid in by_request for rid in expected):
            break
        assert time.monotonic() < deadline, f"not all requests delivered: {lines}"
        time.sleep(0.5)  # polling interval for delivery, with a deadline

    for rid, (operation, key, status, error) in expected.items():
        m = by_request[rid]
        assert m.group(2) == source
        assert m.group(4) == "127.0.0.1"
        assert m.group(5) == "arn:aws:iam::tests:user/admin"
        assert (m.group(7), m.group(8), m.group(10), m.group(11)) == (operation, key, status, error)
    assert by_request[got["ResponseMetadata"]["RequestId"]].group(12) == "1234", "bytes sent"

    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={})
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=source)


def test_logs_go_only_to_a_bucket_of_the_same_tenant(server):
    s3 = client(server)
    source = unique_bucket("logged")
    s3.create_bucket(Bucket=source)
    other = server.admin_json("tenant", "create", unique_bucket("ten")[:30], "--admin-user", "eve")
    theirs = client(server, other["access_key_id"], other["secret_access_key"])
    foreign = unique_bucket("foreign")
    theirs.create_bucket(Bucket=foreign)
    for target in (foreign, unique_bucket("missing")):
        with pytest.raises(ClientError) as e:
            s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={
                "LoggingEnabled": {"TargetBucket": target, "TargetPrefix": "x/"}})
        assert e.value.response["Error"]["Code"] == "InvalidTargetBucketForLogging"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=source)

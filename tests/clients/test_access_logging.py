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


def test_logs_never_reach_a_target_another_tenant_recreated(server):
    """A target bucket deleted by its tenant and re-created by another gets none of the first
    tenant's logs: delivery writes only into a bucket the logged bucket's owner still owns."""
    s3 = client(server)
    hijacked_source, kept_source = unique_bucket("logged"), unique_bucket("logged")
    hijacked_target, kept_target = unique_bucket("logs"), unique_bucket("logs")
    for bucket in (hijacked_source, kept_source, hijacked_target, kept_target):
        s3.create_bucket(Bucket=bucket)
    for source, target in ((hijacked_source, hijacked_target), (kept_source, kept_target)):
        s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": target, "TargetPrefix": "access/"}})
    # The target goes away (emptied of anything already delivered), and another tenant takes
    # its name.
    deadline = time.monotonic() + DELIVERY_DEADLINE_S
    while True:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=hijacked_target):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=hijacked_target, Key=obj["Key"])
        try:
            s3.delete_bucket(Bucket=hijacked_target)
            break
        except ClientError as e:
            assert e.response["Error"]["Code"] == "BucketNotEmpty", e.response
            assert time.monotonic() < deadline, "the target bucket could not be emptied"
    other = server.admin_json("tenant", "create", unique_bucket("ten")[:30], "--admin-user", "mallory")
    theirs = client(server, other["access_key_id"], other["secret_access_key"])
    theirs.create_bucket(Bucket=hijacked_target)

    s3.put_object(Bucket=hijacked_source, Key="secret-plan.txt", Body=b"x")
    # A later request on the other logged bucket: once its line is delivered, every record
    # before it (the hijacked bucket's) has been through delivery too.
    marker = s3.put_object(Bucket=kept_source, Key="after", Body=b"y")["ResponseMetadata"]["RequestId"]
    while True:
        lines = delivered_lines(s3, kept_target, "access/")
        if any(marker in line for line in lines):
            break
        assert time.monotonic() < deadline, f"the marker request was not delivered: {lines}"
        time.sleep(0.5)  # polling interval for delivery, with a deadline
    leaked = theirs.list_objects_v2(Bucket=hijacked_target).get("Contents", [])
    assert leaked == [], f"another tenant's bucket received the logs: {leaked}"

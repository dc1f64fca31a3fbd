"""SSE-C with the aws CLI (--sse-c / --sse-c-key, including multipart and copy) and boto3 over
HTTPS: the customer's key is needed for every read, a wrong or missing key is refused, and the
key never reaches the server's disk."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import botocore.exceptions
import pytest

from conftest import sha256_file, write_random_file


def error(exc: botocore.exceptions.ClientError) -> tuple[int, str]:
    return exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"]


def test_aws_cli_sse_c_round_trip_multipart_and_copy(aws, s3, bucket, tmp_path, server):
    # Goal: the CLI's SSE-C options work for a small file, a multipart upload and a copy.
    key = os.urandom(32)
    key_file = tmp_path / "key.bin"
    key_file.write_bytes(key)
    sse = ["--sse-c", "AES256", "--sse-c-key", f"fileb://{key_file}"]
    small = tmp_path / "small.bin"
    small.write_bytes(b"customer secret " * 100)
    big = write_random_file(tmp_path / "big.bin", 20 * 1024 * 1024)
    aws("s3", "cp", small, f"s3://{bucket}/small", *sse)
    aws("s3", "cp", big, f"s3://{bucket}/big", *sse)
    back = tmp_path / "back.bin"
    aws("s3", "cp", f"s3://{bucket}/big", back, *sse)
    assert sha256_file(back) == sha256_file(big)
    aws("s3", "cp", f"s3://{bucket}/small", f"s3://{bucket}/copied", *sse,
        "--sse-c-copy-source", "AES256", "--sse-c-copy-source-key", f"fileb://{key_file}")
    aws("s3", "cp", f"s3://{bucket}/copied", back, *sse)
    assert back.read_bytes() == small.read_bytes()
    # Without the key, or with another one, the object cannot be read.
    missing = aws("s3", "cp", f"s3://{bucket}/small", back, check=False)
    assert missing.returncode != 0
    other = tmp_path / "other.bin"
    other.write_bytes(os.urandom(32))
    wrong = aws("s3", "cp", f"s3://{bucket}/small", back, "--sse-c", "AES256", "--sse-c-key", f"fileb://{other}", check=False)
    assert wrong.returncode != 0
    # The key itself is nowhere on the server's disk.
    for path in Path(server.data_dir).rglob("*"):
        if path.is_file():
            assert key not in path.read_bytes(), f"customer key found in {path}"


def test_boto3_sse_c_errors_are_precise(s3, bucket):
    key = os.urandom(32)
    args = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"payload", **args)
    assert put["SSECustomerAlgorithm"] == "AES256"
    assert put["SSECustomerKeyMD5"]
    got = s3.get_object(Bucket=bucket, Key="k", **args)
    assert got["Body"].read() == b"payload"
    assert s3.head_object(Bucket=bucket, Key="k", **args)["ContentLength"] == 7
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert error(e.value) == (400, "InvalidRequest")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", SSECustomerAlgorithm="AES256", SSECustomerKey=os.urandom(32))
    assert error(e.value) == (403, "AccessDenied")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k", SSECustomerAlgorithm="AES256", SSECustomerKey=os.urandom(32))
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # A key of the wrong length is refused before anything is stored.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="short", Body=b"x", SSECustomerAlgorithm="AES256", SSECustomerKey=os.urandom(16))
    assert error(e.value) == (400, "InvalidArgument")
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="short")
    # SSE-C headers on an object that is not SSE-C encrypted.
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="plain", **args)
    assert error(e.value) == (400, "InvalidRequest")


def test_boto3_sse_c_multipart_every_part_needs_the_key(s3, bucket):
    key = os.urandom(32)
    args = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", **args)
    part1 = os.urandom(5 * 1024 * 1024)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=part1)
    assert error(e.value) == (400, "InvalidRequest")
    p1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=part1, **args)
    p2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=2, Body=b"tail", **args)
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]},
    )
    body = s3.get_object(Bucket=bucket, Key="mp", **args)["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(part1 + b"tail").digest()
    ranged = s3.get_object(Bucket=bucket, Key="mp", Range="bytes=5242878-5242881", **args)["Body"].read()
    assert ranged == (part1 + b"tail")[5242878:5242882]

"""PostObject: browser form uploads with a signed policy document (boto3's
generate_presigned_post), with the policy's conditions enforced."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import requests


def post(server, presigned: dict, data: bytes, **overrides):
    fields = dict(presigned["fields"])
    fields.update(overrides)
    return requests.post(
        presigned["url"], data=fields, files={"file": ("upload.bin", data)}, verify=server.ca, timeout=60
    )


def code(resp) -> str | None:
    try:
        el = ET.fromstring(resp.content).find("Code")
    except ET.ParseError:
        return None
    return el.text if el is not None else None


def test_browser_form_upload_stores_the_file(server, s3, bucket):
    # Goal: a form upload signed by boto3 stores exactly the file, with the form's metadata.
    presigned = s3.generate_presigned_post(
        bucket,
        "uploads/upload.bin",
        Fields={"Content-Type": "text/plain", "x-amz-meta-origin": "browser"},
        Conditions=[
            {"Content-Type": "text/plain"},
            {"x-amz-meta-origin": "browser"},
            ["starts-with", "$key", "uploads/"],
            ["content-length-range", 1, 1024 * 1024],
        ],
        ExpiresIn=300,
    )
    resp = post(server, presigned, b"hello from a form")
    assert resp.status_code == 204, resp.text
    obj = s3.get_object(Bucket=bucket, Key="uploads/upload.bin")
    assert obj["Body"].read() == b"hello from a form"
    assert obj["ContentType"] == "text/plain"
    assert obj["Metadata"] == {"origin": "browser"}


def test_success_action_status_201_returns_xml(server, s3, bucket):
    presigned = s3.generate_presigned_post(
        bucket,
        "k201",
        Fields={"success_action_status": "201"},
        Conditions=[{"success_action_status": "201"}],
        ExpiresIn=300,
    )
    resp = post(server, presigned, b"x")
    assert resp.status_code == 201, resp.text
    root = ET.fromstring(resp.content)
    assert root.find("Key").text == "k201"
    assert root.find("ETag") is not None


def test_policy_conditions_are_enforced(server, s3, bucket):
    # Goal: a form that breaks its signed policy is refused and stores nothing.
    presigned = s3.generate_presigned_post(
        bucket,
        "uploads/a",
        Conditions=[["starts-with", "$key", "uploads/"], ["content-length-range", 1, 10]],
        ExpiresIn=300,
    )
    too_big = post(server, presigned, b"x" * 11)
    assert too_big.status_code in (400, 403), too_big.text
    outside = post(server, presigned, b"x", key="elsewhere/a")
    assert outside.status_code == 403, outside.text
    assert code(outside) == "AccessDenied"
    listed = s3.list_objects_v2(Bucket=bucket)
    assert listed["KeyCount"] == 0


def test_tampered_or_expired_policy_is_refused(server, s3, bucket):
    presigned = s3.generate_presigned_post(bucket, "k", ExpiresIn=300)
    bad_sig = post(server, presigned, b"x", **{"x-amz-signature": "0" * 64})
    assert bad_sig.status_code == 403, bad_sig.text
    assert code(bad_sig) == "SignatureDoesNotMatch"
    expired = s3.generate_presigned_post(bucket, "k", ExpiresIn=-60)
    resp = post(server, expired, b"x")
    assert resp.status_code == 403, resp.text
    assert code(resp) == "AccessDenied"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0

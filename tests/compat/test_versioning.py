"""Bucket versioning with boto3, against AWS's documented semantics: version ids on every
write, reads and deletes by version, delete markers (404 when latest, 405 when named),
suspended buckets and their null version, ListObjectVersions order and pagination, and
DeleteObjects reporting markers."""

from __future__ import annotations

import pytest
import requests
from botocore.exceptions import ClientError

from test_s3_conformance import fails


def enable(s3, bucket, status="Enabled"):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})


def all_versions(s3, bucket, **kwargs):
    """Every (key, version id, is latest, is marker) in the order the pages list them."""
    out = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, **kwargs):
        rows = [(v["Key"], v["VersionId"], v["IsLatest"], False, v["LastModified"]) for v in page.get("Versions", [])]
        rows += [(m["Key"], m["VersionId"], m["IsLatest"], True, m["LastModified"])
                 for m in page.get("DeleteMarkers", [])]
        # boto3 splits a page into versions and markers: restore the page's order, which AWS
        # documents as keys ascending, each key's versions newest first (assigned ids sort
        # that way; order tests use buckets whose versions all have assigned ids).
        rows.sort(key=lambda r: (r[0], r[1]))
        out.extend(r[:4] for r in rows)
    return out


def test_versioning_status_round_trips_and_never_returns_to_unversioned(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    enable(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    enable(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    assert fails(s3.put_bucket_versioning, Bucket=bucket, VersioningConfiguration={}) == (
        400, "IllegalVersioningConfigurationException")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_mfa_delete_is_refused_by_name(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"})
    assert e.value.response["Error"]["Code"] == "NotImplemented"
    assert "MFA Delete" in e.value.response["Error"]["Message"]
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_every_write_makes_a_version_readable_by_its_id(s3, bucket):
    enable(s3, bucket)
    ids = [s3.put_object(Bucket=bucket, Key="doc", Body=f"v{i}".encode())["VersionId"] for i in range(3)]
    assert len(set(ids)) == 3 and all(ids)
    assert ids == sorted(ids, reverse=True), "ids sort newest first"
    for i, vid in enumerate(ids):
        got = s3.get_object(Bucket=bucket, Key="doc", VersionId=vid)
        assert got["Body"].read() == f"v{i}".encode()
        assert got["VersionId"] == vid
        assert s3.head_object(Bucket=bucket, Key="doc", VersionId=vid)["ContentLength"] == 2
    latest = s3.get_object(Bucket=bucket, Key="doc")
    assert (latest["Body"].read(), latest["VersionId"]) == (b"v2", ids[2])
    assert all_versions(s3, bucket) == [
        ("doc", ids[2], True, False), ("doc", ids[1], False, False), ("doc", ids[0], False, False)]
    # Copies and multipart uploads are versions too.
    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "doc", "VersionId": ids[0]})
    assert copied["CopySourceVersionId"] == ids[0] and copied["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == b"v0"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="doc")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="doc", UploadId=upload, PartNumber=1, Body=b"mp")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="doc", UploadId=upload,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert done["VersionId"] not in ids
    assert len([v for v in all_versions(s3, bucket) if v[0] == "doc"]) == 4


def test_delete_markers_hide_and_deleting_them_undeletes(s3, bucket):
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    assert marker != v1
    # The latest is a marker: 404 saying so; the marker by its id: 405.
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    headers = e.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("x-amz-delete-marker") == "true"
    assert headers.get("x-amz-version-id") == marker
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k", VersionId=marker)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 405
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true"
    # The data is still there, by version; listings do not show the key.
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"one"
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert all_versions(s3, bucket) == [("k", marker, True, True), ("k", v1, False, False)]
    # Deleting the marker undeletes.
    gone = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert (gone["DeleteMarker"], gone["VersionId"]) == (True, marker)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    # Deleting a version removes only it.
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    assert s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)["VersionId"] == v2
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    assert fails(s3.get_object, Bucket=bucket, Key="k", VersionId=v2) == (404, "NoSuchVersion")


def test_suspended_buckets_replace_the_null_version_and_keep_the_others(s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"before versioning")
    assert "VersionId" not in first and "VersionId" not in s3.head_object(Bucket=bucket, Key="k"), \
        "a bucket that never had versioning names no version"
    enable(s3, bucket)
    # From now on the version written before is the null version, and named so.
    assert s3.head_object(Bucket=bucket, Key="k")["VersionId"] == "null"
    assert s3.get_object(Bucket=bucket, Key="k")["VersionId"] == "null"
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"versioned")["VersionId"]
    got = s3.get_object(Bucket=bucket, Key="k", VersionId="null")
    assert got["Body"].read() == b"before versioning" and got["VersionId"] == "null"
    enable(s3, bucket, "Suspended")
    s3.put_object(Bucket=bucket, Key="k", Body=b"null one")
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"null two")["VersionId"] == "null"
    assert s3.head_object(Bucket=bucket, Key="k")["VersionId"] == "null"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"null two"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"null two"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=kept)["Body"].read() == b"versioned"
    # One null version (the latest write), and the version from while versioning was on.
    assert sorted((v[1], v[2], v[3]) for v in all_versions(s3, bucket)) == [(kept, False, False), ("null", True, False)]
    # A delete writes a null delete marker, replacing the null version.
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"] == "null"
    listed = all_versions(s3, bucket)
    assert [(v[1], v[3]) for v in listed if v[1] == "null"] == [("null", True)]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=kept)["Body"].read() == b"versioned"


def test_version_listing_pages_in_aws_order_without_repeats_or_gaps(s3, bucket):
    enable(s3, bucket)
    expected = []
    for k in range(7):
        key = f"dir/key-{k:02d}"
        ids = [s3.put_object(Bucket=bucket, Key=key, Body=b"x")["VersionId"] for _ in range(3)]
        rows = [(key, vid, False, False) for vid in reversed(ids)]
        if k % 3 == 0:
            marker = s3.delete_object(Bucket=bucket, Key=key)["VersionId"]
            rows.insert(0, (key, marker, True, True))
        else:
            rows[0] = (key, rows[0][1], True, False)
        expected.extend(rows)
    for page_size in (1, 2, 5, 1000):
        assert all_versions(s3, bucket, PaginationConfig={"PageSize": page_size}) == expected, page_size
    # Prefix and delimiter: the directory rolls up.
    top = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["dir/"]
    assert "Versions" not in top or top["Versions"] == []
    # A version-id marker needs a key marker.
    assert fails(s3.list_object_versions, Bucket=bucket, VersionIdMarker=expected[0][1]) == (400, "InvalidArgument")


def test_delete_objects_with_version_ids_reports_markers(s3, bucket):
    enable(s3, bucket)
    v = s3.put_object(Bucket=bucket, Key="a", Body=b"a")["VersionId"]
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a", "VersionId": v}, {"Key": "b"}]})
    by_key = {d["Key"]: d for d in result["Deleted"]}
    assert by_key["a"]["VersionId"] == v and "DeleteMarker" not in by_key["a"]
    assert by_key["b"]["DeleteMarker"] is True and by_key["b"]["DeleteMarkerVersionId"]
    assert fails(s3.get_object, Bucket=bucket, Key="a", VersionId=v) == (404, "NoSuchVersion")
    assert fails(s3.head_object, Bucket=bucket, Key="b") == (404, "404")


def test_a_bucket_with_versions_or_markers_is_not_empty(s3, bucket):
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="k")
    assert fails(s3.delete_bucket, Bucket=bucket) == (409, "BucketNotEmpty")


def test_bad_version_ids_are_refused(s3, bucket, server):
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert fails(s3.get_object, Bucket=bucket, Key="k", VersionId="not-one-of-ours") == (400, "InvalidArgument")
    assert fails(s3.get_object, Bucket=bucket, Key="k", VersionId="0000000000000001") == (404, "NoSuchVersion")
    # Versioning calls need credentials like any other.
    r = requests.put(f"{server.endpoint}/{bucket}?versioning", verify=server.ca,
                     data=b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>")
    assert r.status_code == 403


def test_tags_and_acls_apply_to_the_version_named(s3, bucket):
    enable(s3, bucket)
    old = s3.put_object(Bucket=bucket, Key="k", Body=b"old")["VersionId"]
    new = s3.put_object(Bucket=bucket, Key="k", Body=b"new")["VersionId"]
    put = s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=old,
                                Tagging={"TagSet": [{"Key": "era", "Value": "old"}]})
    assert put["VersionId"] == old
    got = s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=old)
    assert (got["TagSet"], got["VersionId"]) == ([{"Key": "era", "Value": "old"}], old)
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [], "the current version is untouched"
    s3.delete_object_tagging(Bucket=bucket, Key="k", VersionId=old)
    assert s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=old)["TagSet"] == []
    s3.put_object_acl(Bucket=bucket, Key="k", VersionId=old, ACL="public-read")
    grants = s3.get_object_acl(Bucket=bucket, Key="k", VersionId=old)["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)
    assert not any(g["Grantee"].get("URI", "").endswith("AllUsers")
                   for g in s3.get_object_acl(Bucket=bucket, Key="k", VersionId=new)["Grants"])
    assert fails(s3.put_object_tagging, Bucket=bucket, Key="k", VersionId="0000000000000001",
                 Tagging={"TagSet": []}) == (404, "NoSuchVersion")


def test_the_listing_document_interleaves_markers_and_versions_in_aws_order(s3, bucket):
    """Tools that read the XML in document order (minio-go, and so mc) see AWS's order."""
    import xml.etree.ElementTree as ET

    enable(s3, bucket)
    expected = []
    for key in ("a", "b", "c"):
        first = s3.put_object(Bucket=bucket, Key=key, Body=b"1")["VersionId"]
        marker = s3.delete_object(Bucket=bucket, Key=key)["VersionId"]
        last = s3.put_object(Bucket=bucket, Key=key, Body=b"2")["VersionId"]
        expected += [("Version", key, last), ("DeleteMarker", key, marker), ("Version", key, first)]
    captured = []
    s3.meta.events.register("after-call.s3.ListObjectVersions",
                            lambda http_response, **_: captured.append(http_response.content))
    try:
        s3.list_object_versions(Bucket=bucket)
    finally:
        s3.meta.events.unregister("after-call.s3.ListObjectVersions")
    root = ET.fromstring(captured[0])
    seen = []
    for child in root:
        tag = child.tag.split("}")[-1]
        if tag in ("Version", "DeleteMarker"):
            fields = {c.tag.split("}")[-1]: c.text for c in child}
            seen.append((tag, fields["Key"], fields["VersionId"]))
    assert seen == expected

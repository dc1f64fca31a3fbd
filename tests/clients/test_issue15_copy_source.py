"""Issue 15: every malformed copy source gets AWS's 400 (never a 500) and leaves nothing
behind (its audit record's name: crates/coffre/tests/audit.rs)."""

from __future__ import annotations

import pytest

from test_malformed import EXISTING_KEY, ctx_bucket, error_of, send, state  # noqa: F401

SOURCES = {
    "empty-bucket": "/" + "/" + EXISTING_KEY,
    "empty-key": "/{bucket}/",
    "bad-percent-encoding": "/{bucket}/%ZZ",
    "invalid-utf8": "/{bucket}/%FF%FE",
    "version-id-on-unversioned-bucket": "/{bucket}/" + EXISTING_KEY + "?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
    "only-a-slash": "/",
    "empty": "",
}


@pytest.mark.parametrize("name", list(SOURCES), ids=list(SOURCES))
@pytest.mark.parametrize("operation", ["CopyObject", "UploadPartCopy"])
def test_issue15_malformed_copy_source_is_400(server, s3, ctx_bucket, name, operation):
    source = SOURCES[name].replace("{bucket}", ctx_bucket)
    query = ""
    upload = None
    if operation == "UploadPartCopy":
        upload = s3.create_multipart_upload(Bucket=ctx_bucket, Key="dest")["UploadId"]
        query = f"partNumber=1&uploadId={upload}"
    try:
        before = state(s3, ctx_bucket)
        resp = send(server, "PUT", f"/{ctx_bucket}/dest", query, headers={"x-amz-copy-source": source})
        info = f"\nx-amz-copy-source: {source!r} ({operation})\n{resp.status_code} {resp.text[:600]}"
        assert resp.status_code == 400, info
        assert error_of(resp) in ("InvalidArgument", "InvalidRequest"), info
        assert state(s3, ctx_bucket) == before, info
    finally:
        if upload:
            s3.abort_multipart_upload(Bucket=ctx_bucket, Key="dest", UploadId=upload)


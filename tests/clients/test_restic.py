"""restic (Debian package) against a versioned, Object-Lock bucket with a default COMPLIANCE
retention, configured as docs/clients.md shows: init, backup, check --read-data, restore; then
`forget --prune` inside the retention period, which must not remove any locked data."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from conftest import client_env, doc_block, run, unique_bucket


def _restic(server, tmp_path: Path):
    """The doc's restic command line and environment, for this server and a fresh bucket."""
    lines = [l for l in server.from_doc(doc_block("restic")).splitlines() if l.strip()]
    bucket = unique_bucket("restic")
    text = "\n".join(lines).replace("my-bucket", bucket)
    env = client_env()
    password = tmp_path / "password"
    password.write_text("correct horse battery staple\n")
    cmd = None
    aws_steps = []
    for line in text.replace("\\\n", " ").splitlines():
        toks = shlex.split(line)
        if toks[0] == "aws":
            aws_steps.append(toks[toks.index("--endpoint-url") + 2:])
        elif toks[0] == "export":
            for assignment in toks[1:]:
                name, value = assignment.split("=", 1)
                env[name] = value.replace("~/.restic-password", str(password))
        elif toks[0] == "restic":
            assert toks[-1] == "init", toks
            cmd = toks[:-1]
    assert cmd is not None and len(aws_steps) == 2
    return bucket, aws_steps, cmd, env


def test_restic_backs_up_to_an_object_lock_bucket_and_prune_cannot_destroy_it(server, s3, aws, tmp_path):
    bucket, aws_steps, restic, env = _restic(server, tmp_path)
    for step in aws_steps:  # the doc's bucket set-up, with the aws CLI
        aws(*step)
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]["Rule"] == {
        "DefaultRetention": {"Mode": "COMPLIANCE", "Days": 30}}

    def r(*args, check=True):
        return run(restic + [str(a) for a in args], env=env, check=check, timeout=600)

    r("init")
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_bytes(b"alpha\n" * 1000)
    (data / "sub" / "b.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    r("backup", data)
    (data / "a.txt").write_bytes(b"changed\n")
    r("backup", data)
    r("check", "--read-data")
    restored = tmp_path / "restored"
    r("restore", "latest", "--target", restored)
    got = restored / data.relative_to("/")
    assert (got / "a.txt").read_bytes() == b"changed\n"
    assert (got / "sub" / "b.bin").read_bytes() == (data / "sub" / "b.bin").read_bytes()

    def versions():
        out = {}
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for v in page.get("Versions", []):
                out[(v["Key"], v["VersionId"])] = v["Size"]
        return out

    before = versions()
    assert before, "restic wrote objects"
    for key, vid in before:
        head = s3.head_object(Bucket=bucket, Key=key, VersionId=vid)
        assert head["ObjectLockMode"] == "COMPLIANCE", key
    # Forget the first snapshot and prune: restic deletes what it no longer needs...
    r("forget", "--keep-last", "1", "--prune")
    after = versions()
    # ...but every version stays, whole, and the bucket cannot be emptied by version either.
    assert set(before) <= set(after), set(before) - set(after)
    key, vid = next(iter(before))
    with pytest.raises(Exception) as e:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=vid)
    assert "AccessDenied" in str(e.value)
    r("check")

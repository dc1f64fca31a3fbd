"""s3cmd (Debian package) with the config file shown in docs/clients.md."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conftest import doc_block, list_keys, run, sha256_file, unique_bucket, write_random_file

MiB = 1024 * 1024


class S3cmd:
    def __init__(self, server, workdir: Path):
        self.cfg = workdir / "s3cfg"
        self.cfg.write_text(server.from_doc(doc_block("s3cmd")))

    def __call__(self, *args, check=True, timeout=300):
        return run(["s3cmd", "-c", str(self.cfg), *[str(a) for a in args]],
                   check=check, timeout=timeout)

    def ls(self, uri: str) -> list[tuple[str, str]]:
        """[(size-or-DIR, uri)] from `s3cmd ls`."""
        out = []
        for line in self("ls", uri).stdout.splitlines():
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "DIR":
                out.append(("DIR", parts[-1]))
            else:
                # "2024-01-01 12:00  SIZE  s3://bucket/key"
                out.append((parts[2], parts[3]))
        return sorted(out)


@pytest.fixture
def s3cmd(server, tmp_path) -> S3cmd:
    return S3cmd(server, tmp_path)


def test_mb_put_ls_get_del_rb(s3cmd, s3, tmp_path):
    name = unique_bucket("s3cmd")
    s3cmd("mb", f"s3://{name}")
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    data = b"s3cmd says hello\n" * 123
    f = tmp_path / "hello.txt"
    f.write_bytes(data)
    s3cmd("put", f, f"s3://{name}/docs/hello.txt")
    s3cmd("put", f, f"s3://{name}/top.txt")

    assert s3cmd.ls(f"s3://{name}") == sorted(
        [("DIR", f"s3://{name}/docs/"), (str(len(data)), f"s3://{name}/top.txt")]
    )
    assert s3cmd.ls(f"s3://{name}/docs/") == [(str(len(data)), f"s3://{name}/docs/hello.txt")]
    rec = s3cmd("ls", "--recursive", f"s3://{name}").stdout
    assert f"s3://{name}/docs/hello.txt" in rec and f"s3://{name}/top.txt" in rec

    out = tmp_path / "back.txt"
    s3cmd("get", f"s3://{name}/docs/hello.txt", out)
    assert out.read_bytes() == data
    head = s3.head_object(Bucket=name, Key="docs/hello.txt")
    assert head["ETag"] == '"' + hashlib.md5(data).hexdigest() + '"'

    s3cmd("del", f"s3://{name}/docs/hello.txt")
    s3cmd("del", f"s3://{name}/top.txt")
    assert s3cmd.ls(f"s3://{name}") == []
    assert list_keys(s3, name) == {}
    s3cmd("rb", f"s3://{name}")
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_put_get_multipart(s3cmd, s3, bucket, tmp_path):
    # s3cmd uploads files over 15 MiB in 15 MiB parts.
    f = write_random_file(tmp_path / "big.bin", 32 * MiB + 17)
    s3cmd("put", f, f"s3://{bucket}/big.bin", timeout=600)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == 32 * MiB + 17
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]
    out = tmp_path / "big.back"
    s3cmd("get", f"s3://{bucket}/big.bin", out, timeout=600)
    assert sha256_file(out) == sha256_file(f)


def test_put_with_metadata_and_info(s3cmd, s3, bucket, tmp_path):
    f = tmp_path / "m.txt"
    f.write_bytes(b"meta")
    s3cmd("put", "--add-header=x-amz-meta-owner:alice", "--mime-type=text/plain",
          f, f"s3://{bucket}/m.txt")
    head = s3.head_object(Bucket=bucket, Key="m.txt")
    assert head["Metadata"].get("owner") == "alice"
    assert head["ContentType"].startswith("text/plain")
    info = s3cmd("info", f"s3://{bucket}/m.txt").stdout
    assert "File size: 4" in info, info


def test_get_missing_key_fails(s3cmd, bucket, tmp_path):
    p = s3cmd("get", f"s3://{bucket}/absent", tmp_path / "x", check=False)
    assert p.returncode != 0
    # s3cmd checks with HEAD first ("... does not exist") or reports the GET's 404.
    assert "404" in p.stderr or "does not exist" in p.stderr, p.stderr
    assert not (tmp_path / "x").exists() or (tmp_path / "x").stat().st_size == 0

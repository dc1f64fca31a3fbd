"""The aws CLI (v1, default checksum settings) against Coffre over HTTPS."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import (
    crc32_b64,
    list_keys,
    sha256_b64,
    sha256_file,
    unique_bucket,
    write_random_file,
)

MiB = 1024 * 1024


def ls_lines(p) -> list[str]:
    return [l for l in p.stdout.splitlines() if l.strip()]


# --------------------------------------------------------------------------
# aws s3 (high-level commands)
# --------------------------------------------------------------------------


def test_mb_ls_rb(aws):
    name = unique_bucket("cli")
    p = aws("s3", "mb", f"s3://{name}")
    assert f"make_bucket: {name}" in p.stdout
    listed = [l.split()[-1] for l in ls_lines(aws("s3", "ls"))]
    assert name in listed
    assert ls_lines(aws("s3", "ls", f"s3://{name}")) == []
    p = aws("s3", "rb", f"s3://{name}")
    assert f"remove_bucket: {name}" in p.stdout
    listed = [l.split()[-1] for l in ls_lines(aws("s3", "ls"))]
    assert name not in listed


def test_cp_small_roundtrip(aws, s3, bucket, tmp_path):
    src = tmp_path / "hello.txt"
    data = b"hello, coffre\n" * 37
    src.write_bytes(data)
    aws("s3", "cp", src, f"s3://{bucket}/dir/hello.txt")
    dst = tmp_path / "back.txt"
    aws("s3", "cp", f"s3://{bucket}/dir/hello.txt", dst)
    assert dst.read_bytes() == data
    head = s3.head_object(Bucket=bucket, Key="dir/hello.txt")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == '"' + hashlib.md5(data).hexdigest() + '"'


def test_cp_empty_file(aws, bucket, tmp_path):
    src = tmp_path / "empty"
    src.write_bytes(b"")
    aws("s3", "cp", src, f"s3://{bucket}/empty")
    dst = tmp_path / "empty.back"
    aws("s3", "cp", f"s3://{bucket}/empty", dst)
    assert dst.read_bytes() == b""


def test_cp_100mib_multipart_roundtrip(aws, s3, bucket, tmp_path):
    src = write_random_file(tmp_path / "big.bin", 100 * MiB)
    aws("s3", "cp", src, f"s3://{bucket}/big.bin", timeout=600)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == 100 * MiB
    # The CLI splits anything over 8 MiB into 8 MiB parts: a multipart ETag "<md5>-13".
    assert head["ETag"].strip('"').endswith("-13"), head["ETag"]
    dst = tmp_path / "big.back"
    aws("s3", "cp", f"s3://{bucket}/big.bin", dst, timeout=600)
    assert dst.stat().st_size == 100 * MiB
    assert sha256_file(dst) == sha256_file(src)


def _make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"alpha\n",
        "b.bin": bytes(range(256)) * 40,
        "sub/c.txt": b"charlie\n" * 100,
        "sub/deeper/d.txt": b"delta",
        "sub/deeper/e e.txt": b"name with a space",
        "z/empty": b"",
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


def test_sync_tree_then_noop_then_download(aws, s3, bucket, tmp_path):
    src = tmp_path / "src"
    files = _make_tree(src)
    p = aws("s3", "sync", src, f"s3://{bucket}/tree")
    uploads = [l for l in p.stdout.splitlines() if l.startswith("upload:")]
    assert len(uploads) == len(files), p.stdout

    assert list_keys(s3, bucket).keys() == {f"tree/{k}" for k in files}
    for k, data in files.items():
        assert list_keys(s3, bucket)[f"tree/{k}"][0] == len(data)

    # Nothing changed: a second sync must upload nothing.
    p = aws("s3", "sync", src, f"s3://{bucket}/tree")
    assert "upload:" not in p.stdout, p.stdout

    # And the tree comes back byte for byte.
    dst = tmp_path / "dst"
    aws("s3", "sync", f"s3://{bucket}/tree", dst)
    got = {
        str(p.relative_to(dst)): p.read_bytes() for p in dst.rglob("*") if p.is_file()
    }
    assert got == files


def test_ls_plain_and_recursive(aws, bucket, tmp_path):
    src = tmp_path / "src"
    files = _make_tree(src)
    aws("s3", "sync", src, f"s3://{bucket}")

    top = ls_lines(aws("s3", "ls", f"s3://{bucket}"))
    prefixes = sorted(l.split()[-1] for l in top if l.split()[0] == "PRE")
    objects = sorted(l.split()[-1] for l in top if l.split()[0] != "PRE")
    assert prefixes == ["sub/", "z/"]
    assert objects == ["a.txt", "b.bin"]

    sub = ls_lines(aws("s3", "ls", f"s3://{bucket}/sub/"))
    assert sorted(l.split()[-1] for l in sub if l.split()[0] == "PRE") == ["deeper/"]
    assert sorted(l.split()[-1] for l in sub if l.split()[0] != "PRE") == ["c.txt"]

    rec = ls_lines(aws("s3", "ls", "--recursive", f"s3://{bucket}"))
    # "2024-01-01 12:00:00     SIZE KEY" (key may contain spaces)
    got = {}
    for l in rec:
        _date, _time, size, key = l.split(None, 3)
        got[key] = int(size)
    assert got == {k: len(v) for k, v in files.items()}


def test_rm_recursive_then_rb(aws, s3, tmp_path):
    name = unique_bucket("cli")
    aws("s3", "mb", f"s3://{name}")
    files = _make_tree(tmp_path / "src")
    aws("s3", "sync", tmp_path / "src", f"s3://{name}")
    p = aws("s3", "rm", "--recursive", f"s3://{name}")
    assert len([l for l in p.stdout.splitlines() if l.startswith("delete:")]) == len(files)
    assert list_keys(s3, name) == {}
    aws("s3", "rb", f"s3://{name}")
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_rb_non_empty_bucket_fails(aws, s3, bucket, tmp_path):
    f = tmp_path / "x"
    f.write_bytes(b"x")
    aws("s3", "cp", f, f"s3://{bucket}/x")
    p = aws("s3", "rb", f"s3://{bucket}", check=False)
    assert p.returncode != 0
    assert "BucketNotEmpty" in p.stderr, p.stderr
    assert list_keys(s3, bucket).keys() == {"x"}


# --------------------------------------------------------------------------
# aws s3api
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "algorithm,field,expected",
    [("CRC32", "ChecksumCRC32", crc32_b64), ("SHA256", "ChecksumSHA256", sha256_b64)],
)
def test_put_object_checksum_and_head_checksum_mode(aws, bucket, tmp_path, algorithm, field, expected):
    data = b"checksummed payload " * 1000
    body = tmp_path / "body"
    body.write_bytes(data)
    put = aws.json(
        "s3api", "put-object", "--bucket", bucket, "--key", "obj",
        "--body", body, "--checksum-algorithm", algorithm,
    )
    assert put.get(field) == expected(data), put
    head = aws.json(
        "s3api", "head-object", "--bucket", bucket, "--key", "obj",
        "--checksum-mode", "ENABLED",
    )
    assert head.get(field) == expected(data), head
    assert head["ContentLength"] == len(data)


def test_list_objects_v2_prefix_delimiter(aws, s3, bucket):
    for k in ["a/1", "a/2", "a/b/3", "a/b/4", "c", "d/5"]:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    r = aws.json(
        "s3api", "list-objects-v2", "--no-paginate", "--bucket", bucket,
        "--prefix", "a/", "--delimiter", "/",
    )
    assert [o["Key"] for o in r.get("Contents", [])] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["a/b/"]
    assert r["KeyCount"] == 3

    r = aws.json("s3api", "list-objects-v2", "--bucket", bucket, "--delimiter", "/")
    assert [o["Key"] for o in r.get("Contents", [])] == ["c"]
    assert [p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["a/", "d/"]

    r = aws.json("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "a/b/")
    assert [o["Key"] for o in r.get("Contents", [])] == ["a/b/3", "a/b/4"]
    assert "CommonPrefixes" not in r

    # Pagination: the CLI follows continuation tokens; --page-size 2 forces several pages.
    r = aws.json("s3api", "list-objects-v2", "--bucket", bucket, "--page-size", "2")
    assert [o["Key"] for o in r.get("Contents", [])] == ["a/1", "a/2", "a/b/3", "a/b/4", "c", "d/5"]


def test_get_object_range(aws, s3, bucket, tmp_path):
    data = bytes(range(256)) * 4
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    out = tmp_path / "part"
    r = aws.json("s3api", "get-object", "--bucket", bucket, "--key", "r",
                 "--range", "bytes=10-19", out)
    assert out.read_bytes() == data[10:20]
    assert r["ContentRange"] == f"bytes 10-19/{len(data)}"
    assert r["ContentLength"] == 10

    out2 = tmp_path / "suffix"
    r = aws.json("s3api", "get-object", "--bucket", bucket, "--key", "r",
                 "--range", "bytes=-5", out2)
    assert out2.read_bytes() == data[-5:]
    assert r["ContentRange"] == f"bytes {len(data) - 5}-{len(data) - 1}/{len(data)}"


def test_copy_object(aws, s3, bucket, tmp_path):
    data = b"copy me " * 500
    s3.put_object(Bucket=bucket, Key="src", Body=data, Metadata={"colour": "blue"},
                  ContentType="text/plain")
    other = unique_bucket("cp")
    s3.create_bucket(Bucket=other)
    try:
        r = aws.json("s3api", "copy-object", "--bucket", other, "--key", "dst",
                     "--copy-source", f"{bucket}/src")
        assert r["CopyObjectResult"]["ETag"] == '"' + hashlib.md5(data).hexdigest() + '"'
        out = tmp_path / "dst"
        got = aws.json("s3api", "get-object", "--bucket", other, "--key", "dst", out)
        assert out.read_bytes() == data
        assert got["Metadata"] == {"colour": "blue"}
        assert got["ContentType"] == "text/plain"
        # The source is untouched.
        assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == data
    finally:
        from conftest import empty_and_delete_bucket

        empty_and_delete_bucket(s3, other)


def test_object_tagging(aws, s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"tagged")
    tagging = {"TagSet": [{"Key": "project", "Value": "coffre"}, {"Key": "tier", "Value": "gold"}]}
    aws("s3api", "put-object-tagging", "--bucket", bucket, "--key", "t",
        "--tagging", json.dumps(tagging))
    r = aws.json("s3api", "get-object-tagging", "--bucket", bucket, "--key", "t")
    assert sorted(r["TagSet"], key=lambda t: t["Key"]) == tagging["TagSet"]
    aws("s3api", "delete-object-tagging", "--bucket", bucket, "--key", "t")
    r = aws.json("s3api", "get-object-tagging", "--bucket", bucket, "--key", "t")
    assert r.get("TagSet", []) == []
    # The object itself is unaffected.
    assert s3.get_object(Bucket=bucket, Key="t")["Body"].read() == b"tagged"


def test_get_bucket_versioning_on_new_bucket(aws, bucket):
    r = aws.json("s3api", "get-bucket-versioning", "--bucket", bucket)
    # A bucket that never had versioning enabled has no Status at all.
    assert "Status" not in r, r


def test_list_object_versions_unversioned(aws, s3, bucket):
    s3.put_object(Bucket=bucket, Key="v", Body=b"one")
    s3.put_object(Bucket=bucket, Key="v", Body=b"two")
    s3.put_object(Bucket=bucket, Key="w", Body=b"three")
    r = aws.json("s3api", "list-object-versions", "--bucket", bucket)
    versions = r.get("Versions", [])
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions] == [
        ("v", "null", True),
        ("w", "null", True),
    ]
    assert versions[0]["ETag"] == '"' + hashlib.md5(b"two").hexdigest() + '"'
    assert r.get("DeleteMarkers", []) == []


def test_delete_objects(aws, s3, bucket):
    for k in ["k1", "k2", "k3"]:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    req = {"Objects": [{"Key": "k1"}, {"Key": "k3"}, {"Key": "never-existed"}]}
    r = aws.json("s3api", "delete-objects", "--bucket", bucket, "--delete", json.dumps(req))
    assert sorted(d["Key"] for d in r.get("Deleted", [])) == ["k1", "k3", "never-existed"]
    assert r.get("Errors", []) == []
    assert list_keys(s3, bucket).keys() == {"k2"}


def test_multipart_upload_low_level(aws, s3, bucket, tmp_path):
    p1 = write_random_file(tmp_path / "p1", 5 * MiB)
    p2 = write_random_file(tmp_path / "p2", 1 * MiB + 123)
    up = aws.json("s3api", "create-multipart-upload", "--bucket", bucket, "--key", "mp")
    upload_id = up["UploadId"]
    e1 = aws.json("s3api", "upload-part", "--bucket", bucket, "--key", "mp",
                  "--upload-id", upload_id, "--part-number", "1", "--body", p1)["ETag"]
    e2 = aws.json("s3api", "upload-part", "--bucket", bucket, "--key", "mp",
                  "--upload-id", upload_id, "--part-number", "2", "--body", p2)["ETag"]
    d1, d2 = p1.read_bytes(), p2.read_bytes()
    assert e1 == '"' + hashlib.md5(d1).hexdigest() + '"'
    assert e2 == '"' + hashlib.md5(d2).hexdigest() + '"'

    parts = aws.json("s3api", "list-parts", "--bucket", bucket, "--key", "mp",
                     "--upload-id", upload_id)
    assert [(p["PartNumber"], p["Size"]) for p in parts["Parts"]] == [(1, len(d1)), (2, len(d2))]
    # Not visible before completion.
    assert "mp" not in list_keys(s3, bucket)

    mpu = {"Parts": [{"ETag": e1, "PartNumber": 1}, {"ETag": e2, "PartNumber": 2}]}
    done = aws.json("s3api", "complete-multipart-upload", "--bucket", bucket, "--key", "mp",
                    "--upload-id", upload_id, "--multipart-upload", json.dumps(mpu))
    expected_etag = hashlib.md5(hashlib.md5(d1).digest() + hashlib.md5(d2).digest()).hexdigest()
    assert done["ETag"] == f'"{expected_etag}-2"'

    out = tmp_path / "mp.back"
    aws("s3api", "get-object", "--bucket", bucket, "--key", "mp", out)
    assert out.read_bytes() == d1 + d2
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_head_object_missing_key(aws, bucket):
    p = aws("s3api", "head-object", "--bucket", bucket, "--key", "no-such-key", check=False)
    # aws-cli v1 exits 255 on a service error (v2: 254).
    assert p.returncode in (254, 255), p
    assert "(404)" in p.stderr and "Not Found" in p.stderr, p.stderr


def test_get_object_missing_key_error_code(aws, bucket, tmp_path):
    p = aws("s3api", "get-object", "--bucket", bucket, "--key", "nope", tmp_path / "o", check=False)
    assert p.returncode in (254, 255)
    assert "NoSuchKey" in p.stderr, p.stderr


def test_list_and_abort_multipart_uploads(aws, s3, bucket):
    up = aws.json("s3api", "create-multipart-upload", "--bucket", bucket, "--key", "pending")
    r = aws.json("s3api", "list-multipart-uploads", "--bucket", bucket)
    assert [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])] == [
        ("pending", up["UploadId"])
    ]
    aws("s3api", "abort-multipart-upload", "--bucket", bucket, "--key", "pending",
        "--upload-id", up["UploadId"])
    r = aws.json("s3api", "list-multipart-uploads", "--bucket", bucket)
    assert r.get("Uploads", []) == []
    p = aws("s3api", "list-parts", "--bucket", bucket, "--key", "pending",
            "--upload-id", up["UploadId"], check=False)
    assert p.returncode != 0 and "NoSuchUpload" in p.stderr, p.stderr
    assert list_keys(s3, bucket) == {}


SPECIAL_KEYS = [
    "dir with space/file name.txt",
    "unicode/café-ñ-日本語-😀.txt",
    "plus+sign.txt",
    "percent%20literal.txt",
    "tilde~equals=amp&.txt",
    "semi;colon,comma.txt",
    "brackets[1](2){3}.txt",
    "quote'single.txt",
    "star*at@dollar$.txt",
    "hash#question?.txt",
    "a/b/c/d/e/deep.txt",
]


def test_special_character_keys(aws, s3, bucket, tmp_path):
    """Keys that stress SigV4 canonical-URI encoding and XML escaping in listings."""
    expected = {}
    for i, key in enumerate(SPECIAL_KEYS):
        f = tmp_path / f"f{i}"
        data = f"content of {key}\n".encode()
        f.write_bytes(data)
        aws("s3", "cp", f, f"s3://{bucket}/{key}")
        expected[key] = data
    r = aws.json("s3api", "list-objects-v2", "--bucket", bucket)
    assert sorted(o["Key"] for o in r["Contents"]) == sorted(SPECIAL_KEYS)
    for i, key in enumerate(SPECIAL_KEYS):
        out = tmp_path / f"out{i}"
        aws("s3", "cp", f"s3://{bucket}/{key}", out)
        assert out.read_bytes() == expected[key], key
        # And through boto3 (a different signer and URL encoder).
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == expected[key], key
    aws("s3", "rm", "--recursive", f"s3://{bucket}")
    assert list_keys(s3, bucket) == {}


def test_cp_stream_from_stdin(aws, s3, bucket):
    """`producer | aws s3 cp - s3://...`: unknown length, streamed (multipart above 8 MiB)."""
    data = (b"streamed line\n" * 800_000)  # ~10.7 MiB
    p = __import__("subprocess").run(
        aws.prefix + ["s3", "cp", "-", f"s3://{bucket}/stream.txt"],
        input=data, env=aws.env, capture_output=True, timeout=300,
    )
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    got = s3.get_object(Bucket=bucket, Key="stream.txt")["Body"].read()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()


def test_sync_delete_and_mv(aws, s3, bucket, tmp_path):
    src = tmp_path / "src"
    files = _make_tree(src)
    aws("s3", "sync", src, f"s3://{bucket}/t")
    (src / "a.txt").unlink()
    p = aws("s3", "sync", "--delete", src, f"s3://{bucket}/t")
    assert [l for l in p.stdout.splitlines() if l.startswith("delete:")] == [
        f"delete: s3://{bucket}/t/a.txt"
    ], p.stdout
    assert list_keys(s3, bucket).keys() == {f"t/{k}" for k in files if k != "a.txt"}
    aws("s3", "mv", f"s3://{bucket}/t/b.bin", f"s3://{bucket}/moved/b.bin")
    keys = list_keys(s3, bucket)
    assert "t/b.bin" not in keys
    assert keys["moved/b.bin"][0] == len(files["b.bin"])
    assert s3.get_object(Bucket=bucket, Key="moved/b.bin")["Body"].read() == files["b.bin"]


def test_readme_client_blocks_are_the_tested_ones():
    # Goal: the configurations the README shows are exactly the ones these tests run.
    import re
    from conftest import doc_block

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in ["aws-cli", "boto3", "rclone-conf", "rclone-cmd", "s3cmd"]:
        m = re.search(
            r"<!--\s*coffre-test:\s*" + re.escape(name) + r"\s*-->\s*\n```[^\n]*\n(.*?)\n```", readme, re.S
        )
        assert m, f"README.md lacks the {name} block"
        assert m.group(1) + "\n" == doc_block(name), f"README.md's {name} block differs from docs/clients.md"

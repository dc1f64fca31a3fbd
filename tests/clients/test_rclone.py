"""rclone (Debian package) with the remote configured as docs/clients.md shows."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from conftest import doc_block, list_keys, run, sha256_file, write_random_file

MiB = 1024 * 1024


class Rclone:
    def __init__(self, server, workdir: Path):
        self.conf = workdir / "rclone.conf"
        self.conf.write_text(server.from_doc(doc_block("rclone-conf")))
        toks = shlex.split(server.from_doc(doc_block("rclone-cmd")).strip())
        # Doc convention: `rclone <global flags> lsf coffre:my-bucket`.
        assert toks[0] == "rclone" and toks[-2:] == ["lsf", "coffre:my-bucket"], toks
        self.prefix = toks[:-2] + ["--config", str(self.conf)]
        self.remote = "coffre"

    def __call__(self, *args, check=True, timeout=300):
        return run(self.prefix + [str(a) for a in args], check=check, timeout=timeout)

    def lsf(self, path: str) -> list[str]:
        return sorted(l for l in self("lsf", "-R", "--files-only", path).stdout.splitlines() if l)


@pytest.fixture
def rclone(server, tmp_path) -> Rclone:
    return Rclone(server, tmp_path)


def _tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


FILES = {
    "one.txt": b"one\n",
    "two.bin": bytes(range(256)) * 100,
    "dir/three.txt": b"three\n" * 1000,
    "dir/sub/four.txt": b"four",
    "dir/sub/with space.txt": b"space",
    "empty": b"",
}


def test_copy_lsf_check(rclone, s3, bucket, tmp_path):
    src = tmp_path / "src"
    _tree(src, FILES)
    rclone("copy", src, f"coffre:{bucket}/data")
    assert rclone.lsf(f"coffre:{bucket}/data") == sorted(FILES)
    assert {k: v[0] for k, v in list_keys(s3, bucket).items()} == {
        f"data/{k}": len(v) for k, v in FILES.items()
    }
    p = rclone("check", src, f"coffre:{bucket}/data")
    assert "0 differences found" in p.stderr, p.stderr
    # Byte-for-byte, not only hashes.
    p = rclone("check", "--download", src, f"coffre:{bucket}/data")
    assert "0 differences found" in p.stderr, p.stderr

    dst = tmp_path / "dst"
    rclone("copy", f"coffre:{bucket}/data", dst)
    got = {str(p.relative_to(dst)): p.read_bytes() for p in dst.rglob("*") if p.is_file()}
    assert got == FILES


def test_sync_changes_then_check(rclone, bucket, tmp_path):
    src = tmp_path / "src"
    _tree(src, FILES)
    rclone("sync", src, f"coffre:{bucket}/mirror")
    assert rclone.lsf(f"coffre:{bucket}/mirror") == sorted(FILES)

    # Change one file, delete one, add one; sync must mirror exactly.
    (src / "one.txt").write_bytes(b"one, changed\n")
    (src / "dir" / "three.txt").unlink()
    (src / "dir" / "new.txt").write_bytes(b"new")
    rclone("sync", src, f"coffre:{bucket}/mirror")
    expected = sorted((set(FILES) - {"dir/three.txt"}) | {"dir/new.txt"})
    assert rclone.lsf(f"coffre:{bucket}/mirror") == expected
    p = rclone("check", src, f"coffre:{bucket}/mirror")
    assert "0 differences found" in p.stderr, p.stderr
    assert rclone("cat", f"coffre:{bucket}/mirror/one.txt").stdout == "one, changed\n"

    # A check against a diverged copy must report the difference.
    (src / "one.txt").write_bytes(b"diverged\n")
    p = rclone("check", src, f"coffre:{bucket}/mirror", check=False)
    assert p.returncode != 0
    assert "1 differences found" in p.stderr, p.stderr


def test_multipart_upload(rclone, bucket, tmp_path):
    """A file above rclone's upload cutoff goes multipart; bytes must survive."""
    src = tmp_path / "big"
    f = write_random_file(src / "big.bin", 23 * MiB)
    rclone("copy", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", src,
           f"coffre:{bucket}/big", timeout=600)
    p = rclone("check", "--download", src, f"coffre:{bucket}/big", timeout=600)
    assert "0 differences found" in p.stderr, p.stderr
    dst = tmp_path / "back"
    rclone("copy", f"coffre:{bucket}/big", dst, timeout=600)
    assert sha256_file(dst / "big.bin") == sha256_file(f)


def test_delete_and_purge(rclone, s3, bucket, tmp_path):
    src = tmp_path / "src"
    _tree(src, FILES)
    rclone("copy", src, f"coffre:{bucket}")
    rclone("delete", f"coffre:{bucket}/dir/sub/four.txt")
    assert rclone.lsf(f"coffre:{bucket}") == sorted(set(FILES) - {"dir/sub/four.txt"})
    rclone("delete", "--include", "*.txt", f"coffre:{bucket}")
    assert rclone.lsf(f"coffre:{bucket}") == ["empty", "two.bin"]
    rclone("delete", f"coffre:{bucket}")
    assert rclone.lsf(f"coffre:{bucket}") == []
    assert list_keys(s3, bucket) == {}


def test_mkdir_rmdir_bucket(rclone, s3):
    from conftest import unique_bucket

    name = unique_bucket("rc")
    rclone("mkdir", f"coffre:{name}")
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert f"{name}/" in rclone("lsf", "coffre:").stdout.splitlines()
    rclone("rmdir", f"coffre:{name}")
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_special_character_names(rclone, bucket, tmp_path):
    names = {
        "with space.txt": b"1",
        "unicode café 日本語.txt": b"2",
        "plus+percent%25.txt": b"3",
        "dir (copy)/semi;colon&amp=eq.txt": b"4",
        "dir (copy)/quote'bracket[1].txt": b"5",
    }
    src = tmp_path / "src"
    _tree(src, names)
    rclone("sync", src, f"coffre:{bucket}/special")
    assert rclone.lsf(f"coffre:{bucket}/special") == sorted(names)
    p = rclone("check", "--download", src, f"coffre:{bucket}/special")
    assert "0 differences found" in p.stderr, p.stderr

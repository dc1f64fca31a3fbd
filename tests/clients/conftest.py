"""Black-box tests: the real `coffre` binary driven by real third-party S3 clients.

One server per test session (HTTPS with a self-signed CA), started from
`$COFFRE_BIN` or `<repo>/target/debug/coffre`. Each test makes its own buckets.

The client configurations are read from docs/clients.md (blocks marked
`<!-- coffre-test: NAME -->`), with the documented example endpoint, keys and CA
path replaced by this server's, so the documentation is tested too.

Run: python3 -m pytest tests/clients -q   (tools: scripts/install-test-deps.sh)
"""

from __future__ import annotations

import sys
from pathlib import Path

# tests/coffre_server.py: starting and stopping the server, shared with tests/compat.
_TESTS_DIR = str(Path(__file__).resolve().parents[1])
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

import base64
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import uuid
import zlib
from dataclasses import dataclass

import pytest

import coffre_server
from coffre_server import empty_and_delete_bucket, fail_if_server_died, require_binary, serve

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "clients.md"

# Example values used in docs/clients.md, replaced by the tests' own.
DOC_ENDPOINT_HOSTPORT = "127.0.0.1:9000"
DOC_CA = "/var/lib/coffre/tls/ca.pem"
DOC_ACCESS_KEY = "YOUR_ACCESS_KEY"
DOC_SECRET_KEY = "YOUR_SECRET_KEY"
DOC_REGION = "us-east-1"

CMD_TIMEOUT_S = 120


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def unique_bucket(prefix: str = "t") -> str:
    """A valid, unique bucket name (lowercase, 3..63 chars)."""
    return f"{prefix}-{uuid.uuid4().hex[:20]}".lower()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_random_file(path: Path, size: int) -> Path:
    """Pseudo-random, incompressible content without holding it all in memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = os.urandom(32)
    with open(path, "wb") as f:
        remaining, counter = size, 0
        while remaining:
            block = hashlib.shake_256(seed + counter.to_bytes(8, "big")).digest(
                min(remaining, 1 << 20)
            )
            f.write(block)
            remaining -= len(block)
            counter += 1
    return path


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def client_env() -> dict:
    """The environment for a client process, without the caller's AWS_* / RCLONE_* /
    S3CMD_* settings (an inherited AWS_CA_BUNDLE, for one, breaks rclone's --ca-cert)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "RCLONE_", "S3CMD_"))
    }


def run(cmd, *, env=None, timeout=CMD_TIMEOUT_S, cwd=None, input=None, check=True):
    """Run a command with a timeout; on unexpected failure show everything."""
    try:
        p = subprocess.run(
            cmd,
            env=client_env() if env is None else env,
            cwd=cwd,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(
            f"command timed out after {timeout}s: {shlex.join(map(str, cmd))}\n"
            f"stdout: {e.stdout}\nstderr: {e.stderr}"
        )
    if check and p.returncode != 0:
        pytest.fail(
            f"command failed (exit {p.returncode}): {shlex.join(map(str, cmd))}\n"
            f"--- stdout ---\n{p.stdout}\n--- stderr ---\n{p.stderr}"
        )
    return p


# --------------------------------------------------------------------------
# docs/clients.md
# --------------------------------------------------------------------------


def doc_block(name: str) -> str:
    """The fenced code block that follows `<!-- coffre-test: NAME -->` in the doc."""
    text = DOC.read_text()
    m = re.search(
        r"<!--\s*coffre-test:\s*" + re.escape(name) + r"\s*-->\s*\n```[^\n]*\n(.*?)\n```",
        text,
        re.S,
    )
    if not m:
        raise AssertionError(f"docs/clients.md has no block marked coffre-test: {name}")
    return m.group(1) + "\n"


# --------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------


@dataclass
class Server(coffre_server.Server):
    """The shared server, plus what the documented client configurations need."""

    region: str = DOC_REGION

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def from_doc(self, text: str) -> str:
        """Substitute the doc's example values with this server's."""
        return (
            text.replace(DOC_ENDPOINT_HOSTPORT, self.host)
            .replace(DOC_CA, self.ca)
            .replace(DOC_ACCESS_KEY, self.access_key)
            .replace(DOC_SECRET_KEY, self.secret_key)
        )


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    require_binary()
    for tool in ("aws", "rclone", "s3cmd"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not installed: run scripts/install-test-deps.sh as root")
    yield from serve(tmp_path_factory, Server, "coffre")


@pytest.fixture(autouse=True)
def _server_still_alive(request):
    """A test that crashed the server fails, with the server's last log lines."""
    yield
    fail_if_server_died(request)


# --------------------------------------------------------------------------
# clients, configured exactly as docs/clients.md says
# --------------------------------------------------------------------------


class AwsCli:
    """`aws --endpoint-url ...` with the environment from docs/clients.md."""

    def __init__(self, server: Server, isolation_dir: Path):
        block = server.from_doc(doc_block("aws-cli"))
        self.env = client_env()
        # Isolate from any ~/.aws of the machine running the tests.
        self.env["AWS_CONFIG_FILE"] = str(isolation_dir / "aws-config-absent")
        self.env["AWS_SHARED_CREDENTIALS_FILE"] = str(isolation_dir / "aws-creds-absent")
        prefix = None
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("export "):
                k, _, v = line[len("export "):].partition("=")
                self.env[k.strip()] = shlex.split(v)[0] if v else ""
            elif line.startswith("aws "):
                toks = shlex.split(line)
                assert "--endpoint-url" in toks, line
                i = toks.index("--endpoint-url")
                prefix = toks[: i + 2]
        assert prefix is not None, "aws-cli block must show an `aws --endpoint-url` command"
        self.prefix = prefix

    def __call__(self, *args, check=True, timeout=CMD_TIMEOUT_S, cwd=None):
        return run(self.prefix + [str(a) for a in args], env=self.env, timeout=timeout,
                   cwd=cwd, check=check)

    def json(self, *args, timeout=CMD_TIMEOUT_S):
        import json

        p = self(*args, "--output", "json", timeout=timeout)
        return json.loads(p.stdout) if p.stdout.strip() else {}


@pytest.fixture(scope="session")
def aws(server, tmp_path_factory) -> AwsCli:
    return AwsCli(server, tmp_path_factory.mktemp("aws"))


@pytest.fixture(scope="session")
def s3(server):
    """The boto3 client from docs/clients.md."""
    ns: dict = {}
    exec(compile(server.from_doc(doc_block("boto3")), "docs/clients.md[boto3]", "exec"), ns)
    return ns["s3"]


@pytest.fixture
def bucket(s3) -> str:
    """A fresh empty bucket, emptied and removed after the test (best effort)."""
    name = unique_bucket()
    s3.create_bucket(Bucket=name)
    yield name
    empty_and_delete_bucket(s3, name)


def list_keys(s3, bucket: str) -> dict:
    """{key: (size, etag)} of every object in the bucket (all pages)."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            out[o["Key"]] = (o["Size"], o["ETag"])
    return out

"""Fixtures for the S3 conformance tests: the real `coffre` binary, driven by boto3.

The server is started the way tests/clients/conftest.py starts it: one server per
session, HTTPS with `--tls-self-signed`, root credentials from the environment, readiness
polled on the admin `/health` endpoint, SIGTERM at the end. Those fixtures are not
imported (that conftest also requires the aws CLI, rclone and s3cmd), so the few
lines needed here are written out.

Run: python3 -m pytest tests/compat -q
"""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique_bucket(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


@dataclass
class Server:
    proc: subprocess.Popen
    data_dir: Path
    log_path: Path
    port: int
    admin_port: int
    access_key: str
    secret_key: str
    region: str = REGION

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> str:
        return str(self.data_dir / "tls" / "ca.pem")

    def log_tail(self, n: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def client(self, access_key=None, secret_key=None, **cfg):
        conf = {"signature_version": "s3v4", "s3": {"addressing_style": "path"},
                "retries": {"max_attempts": 1, "mode": "standard"}}
        conf.update(cfg)
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=self.region,
            verify=self.ca,
            config=Config(**conf),
        )


def coffre_bin() -> Path:
    return Path(os.environ.get("COFFRE_BIN") or REPO / "target" / "debug" / "coffre")


def _health_ok(admin_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/health", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    binary = coffre_bin()
    # The binary may be rebuilt while we start: give it a moment to reappear.
    deadline = time.monotonic() + 120
    while not binary.exists() and time.monotonic() < deadline:
        time.sleep(1)
    if not binary.exists():
        pytest.fail(f"coffre binary not found at {binary}: build it or set COFFRE_BIN")

    base = tmp_path_factory.mktemp("coffre-compat")
    data_dir = base / "data"
    log_path = base / "server.log"
    port, admin_port = free_port(), free_port()
    while admin_port == port:
        admin_port = free_port()
    access_key = "CT" + secrets.token_hex(9).upper()
    secret_key = secrets.token_urlsafe(30)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFRE_")}
    env["COFFRE_ROOT_ACCESS_KEY"] = access_key
    env["COFFRE_ROOT_SECRET_KEY"] = secret_key
    env.setdefault("RUST_BACKTRACE", "1")
    cmd = [
        str(binary), "server",
        "--data-dir", str(data_dir),
        "--s3-listen", f"127.0.0.1:{port}",
        "--admin-listen", f"127.0.0.1:{admin_port}",
        "--tls-self-signed",
    ]
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    srv = Server(proc, data_dir, log_path, port, admin_port, access_key, secret_key)

    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            log.close()
            pytest.fail(f"coffre exited with {proc.returncode} before becoming ready:\n"
                        f"{shlex.join(cmd)}\n{srv.log_tail()}")
        if _health_ok(admin_port):
            break
        if time.monotonic() > deadline:
            _stop(proc)
            log.close()
            pytest.fail(f"coffre not healthy after {READY_TIMEOUT_S}s\n{srv.log_tail()}")
        time.sleep(0.1)  # readiness poll interval
    if not Path(srv.ca).is_file():
        _stop(proc)
        log.close()
        pytest.fail(f"--tls-self-signed did not write {srv.ca}")

    yield srv

    if proc.poll() is None:
        _stop(proc)
    log.close()
    if proc.returncode != 0:
        pytest.fail(f"coffre exited with status {proc.returncode}\n{srv.log_tail()}")


@pytest.fixture(autouse=True)
def _server_still_alive(request):
    """A test that crashed the server fails, with the server's last log lines."""
    yield
    if "server" in request.fixturenames:
        srv = request.getfixturevalue("server")
        if srv.proc.poll() is not None:
            pytest.fail(f"coffre died during this test (exit {srv.proc.returncode}):\n"
                        f"{srv.log_tail()}")


@pytest.fixture(scope="session")
def s3(server):
    return server.client()


def empty_and_delete_bucket(s3, name: str) -> None:
    try:
        for u in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=name, Key=u["Key"], UploadId=u["UploadId"])
    except Exception:
        pass
    try:
        while True:
            page = s3.list_objects(Bucket=name)
            objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if not objs:
                break
            s3.delete_objects(Bucket=name, Delete={"Objects": objs, "Quiet": True})
    except Exception:
        pass
    try:
        s3.delete_bucket(Bucket=name)
    except Exception:
        pass


@pytest.fixture
def new_bucket(s3):
    """A factory of fresh empty buckets, all removed after the test (best effort)."""
    made = []

    def make(name: str | None = None) -> str:
        name = name or unique_bucket()
        s3.create_bucket(Bucket=name)
        made.append(name)
        return name

    yield make
    for name in made:
        empty_and_delete_bucket(s3, name)


@pytest.fixture
def bucket(new_bucket) -> str:
    return new_bucket()

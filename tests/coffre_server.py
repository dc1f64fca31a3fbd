"""Start and stop the real `coffre` binary for the black-box test suites.

Shared by tests/clients/conftest.py and tests/compat/conftest.py (a plain module, not a
conftest: each conftest puts tests/ on sys.path and imports it). One server per test
session: HTTPS with `--tls-self-signed`, random root credentials from the environment
and nothing else from the caller's COFFRE_* settings, readiness polled on the admin
`/health` endpoint with a deadline, SIGTERM at the end and a failure on a non-zero exit.
Also the best-effort bucket cleanup both suites run after their tests.

Each suite adds its own preconditions and Server methods, then writes its fixture as:

    @pytest.fixture(scope="session")
    def server(tmp_path_factory):
        require_binary()
        yield from serve(tmp_path_factory, Server)
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30
REGION = "us-east-1"
# The tenant each test server gets at start-up; its admin is who the clients are.
TENANT = "tests"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def coffre_bin() -> Path:
    return Path(os.environ.get("COFFRE_BIN") or REPO / "target" / "debug" / "coffre")


def require_binary(wait_s: float = 0) -> Path:
    """The coffre binary; fails the session if it is missing. With `wait_s`, polls that
    long for it to appear (it may be being rebuilt while the tests start)."""
    binary = coffre_bin()
    deadline = time.monotonic() + wait_s
    while not binary.exists() and time.monotonic() < deadline:
        time.sleep(1)  # existence poll interval, bounded by the deadline
    if not binary.exists():
        pytest.fail(
            f"coffre binary not found at {binary}: build it (cargo build) or set COFFRE_BIN"
        )
    return binary


def health_ok(admin_port: int) -> bool:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{admin_port}/health", timeout=2
        ) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop(proc: subprocess.Popen) -> bool:
    """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_S.
    True if it exited on the SIGTERM."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)
        return False


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
    # The root operator's credentials: they administer the server but read no tenant data.
    # `access_key`/`secret_key` are those of the admin of tenant TENANT, made at start-up.
    root_access_key: str = ""
    root_secret_key: str = ""

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def admin_json(self, *args: str) -> dict:
        """`coffre admin --json ARGS` as root, parsed."""
        return json.loads(self.admin(*args).stdout)

    def admin(self, *args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Runs `coffre admin --json ARGS` against this server, as root unless `env` gives
        other credentials (COFFRE_ADMIN_TOKEN or COFFRE_ADMIN_ACCESS_KEY/SECRET_KEY)."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("COFFRE_")}
        full_env["COFFRE_ROOT_ACCESS_KEY"] = self.root_access_key
        full_env["COFFRE_ROOT_SECRET_KEY"] = self.root_secret_key
        full_env.update(env or {})
        return subprocess.run(
            [str(coffre_bin()), "admin", "--json", "--admin-url", self.admin_url, *args],
            env=full_env, capture_output=True, text=True, check=check, timeout=60,
        )

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


def serve(tmp_path_factory, server_cls=Server, base_name: str = "coffre", extra_env: dict | None = None):
    """The body of a session `server` fixture (`yield from serve(...)`): starts coffre,
    yields a `server_cls` once it is healthy, stops it at teardown. `extra_env`: COFFRE_*
    settings for this server only (a test that needs its own server with them)."""
    binary = coffre_bin()
    base = tmp_path_factory.mktemp(base_name)
    data_dir = base / "data"
    log_path = base / "server.log"
    port, admin_port = free_port(), free_port()
    while admin_port == port:
        admin_port = free_port()
    access_key = "CT" + secrets.token_hex(9).upper()
    secret_key = secrets.token_urlsafe(30)
    # Only the settings given here: no COFFRE_* (config file, region, data dir...) leaking
    # in from the environment of whoever runs the tests.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFRE_")}
    env["COFFRE_ROOT_ACCESS_KEY"] = access_key
    env["COFFRE_ROOT_SECRET_KEY"] = secret_key
    env.update(extra_env or {})
    env.setdefault("RUST_BACKTRACE", "1")
    cmd = [
        str(binary), "server",
        "--data-dir", str(data_dir),
        "--s3-listen", f"127.0.0.1:{port}",
        "--admin-listen", f"127.0.0.1:{admin_port}",
        "--tls-self-signed",
        # Quick checkpoints and access log delivery, so tests see them within seconds.
        "--audit-checkpoint-seconds", "1",
        "--access-log-flush-seconds", "1",
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        srv = server_cls(proc, data_dir, log_path, port, admin_port, access_key, secret_key)
        srv.root_access_key, srv.root_secret_key = access_key, secret_key
        try:
            _wait_ready(srv, cmd)
            created = json.loads(srv.admin("tenant", "create", TENANT, "--admin-user", "admin").stdout)
            srv.access_key = created["access_key_id"]
            srv.secret_key = created["secret_access_key"]
        except BaseException:
            if proc.poll() is None:
                stop(proc)
            raise

        yield srv

        exited_on_sigterm = proc.poll() is not None or stop(proc)
    if not exited_on_sigterm:
        pytest.fail(
            f"coffre did not exit within {STOP_TIMEOUT_S}s of SIGTERM\n{srv.log_tail()}"
        )
    if proc.returncode != 0:
        pytest.fail(f"coffre exited with status {proc.returncode}\n{srv.log_tail()}")
    # A panic that a client's retry hid is still a failed request.
    panics = [line for line in srv.log_path.read_text(errors="replace").splitlines() if "panicked at" in line]
    if panics:
        pytest.fail(f"coffre panicked: {panics[:3]}\n{srv.log_tail()}")


def _wait_ready(srv: Server, cmd: list) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if srv.proc.poll() is not None:
            pytest.fail(
                f"coffre exited with {srv.proc.returncode} before becoming ready:\n"
                f"{shlex.join(cmd)}\n{srv.log_tail()}"
            )
        if health_ok(srv.admin_port):
            break
        if time.monotonic() > deadline:
            pytest.fail(
                f"coffre not healthy after {READY_TIMEOUT_S}s: {shlex.join(cmd)}\n"
                f"{srv.log_tail()}"
            )
        # Readiness poll interval, not synchronisation on a guessed delay.
        time.sleep(0.1)
    if not Path(srv.ca).is_file():
        pytest.fail(f"--tls-self-signed did not write {srv.ca}")


def fail_if_server_died(request) -> None:
    """For an autouse fixture, after each test: a test that crashed the server fails,
    with the server's last log lines."""
    if "server" in request.fixturenames:
        srv = request.getfixturevalue("server")
        if srv.proc.poll() is not None:
            pytest.fail(
                f"coffre died during this test (exit {srv.proc.returncode}):\n{srv.log_tail()}"
            )


def empty_and_delete_bucket(s3, name: str) -> None:
    """Best effort: remove every version, object and multipart upload, then the bucket."""
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            objs = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if objs:
                s3.delete_objects(Bucket=name, Delete={"Objects": objs, "Quiet": True})
    except Exception:
        pass
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if objs:
                s3.delete_objects(Bucket=name, Delete={"Objects": objs, "Quiet": True})
    except Exception:
        pass
    try:
        for u in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=name, Key=u["Key"], UploadId=u["UploadId"])
    except Exception:
        pass
    try:
        s3.delete_bucket(Bucket=name)
    except Exception:
        pass

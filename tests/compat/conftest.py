"""Fixtures for the S3 conformance tests: the real `coffre` binary, driven by boto3.

The server is started by tests/coffre_server.py, the way tests/clients starts it: one
server per session, HTTPS with `--tls-self-signed`, root credentials from the environment,
readiness polled on the admin `/health` endpoint, SIGTERM at the end. The clients conftest
itself is not used (it also requires the aws CLI, rclone and s3cmd).

Run: python3 -m pytest tests/compat -q
"""

from __future__ import annotations

import sys
from pathlib import Path

# tests/coffre_server.py: starting and stopping the server, shared with tests/clients.
_TESTS_DIR = str(Path(__file__).resolve().parents[1])
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

import uuid
from dataclasses import dataclass

import boto3
import pytest
from botocore.config import Config

import coffre_server
from coffre_server import empty_and_delete_bucket, fail_if_server_died, require_binary, serve


def unique_bucket(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


@dataclass
class Server(coffre_server.Server):
    """The shared server, plus boto3 clients for it."""

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


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    # The binary may be rebuilt while we start: give it a moment to reappear.
    require_binary(wait_s=120)
    yield from serve(tmp_path_factory, Server, "coffre-compat")


@pytest.fixture(autouse=True)
def _server_still_alive(request):
    """A test that crashed the server fails, with the server's last log lines."""
    yield
    fail_if_server_died(request)


@pytest.fixture(scope="session")
def s3(server):
    return server.client()


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

"""A Coffre server for the benchmark scripts (imported by bench-report.py and cpu-per-op.py):
started on a fresh data directory on loopback, with the benchmark's root keys, waited for
until healthy, and a tenant whose keys the S3 client uses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / "target" / "release" / "coffre"
S3, ADMIN = "127.0.0.1:29500", "127.0.0.1:29501"
ROOT = {"COFFRE_ROOT_ACCESS_KEY": "benchroot", "COFFRE_ROOT_SECRET_KEY": "benchrootsecret123"}


def healthy() -> bool:
    try:
        with urllib.request.urlopen(f"http://{ADMIN}/health", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


class Server:
    def __init__(self, data: Path, *flags: str, binary: Path = BIN):
        self.binary = binary
        self.data = data
        self.flags = flags
        self.proc = None

    def start(self) -> float:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COFFRE_")} | ROOT
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [str(self.binary), "server", "--data-dir", str(self.data), "--s3-listen", S3, "--admin-listen", ADMIN, *self.flags],
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.data.parent / "server.log", "ab"))
        while not healthy():
            if self.proc.poll() is not None:
                sys.exit(f"server exited; see {self.data.parent / 'server.log'}")
            time.sleep(0.01)  # readiness poll
        return time.monotonic() - started

    def reset_peak_rss(self) -> bool:
        """Restarts the peak-RSS count from the current RSS (Linux: clear_refs 5)."""
        try:
            Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)


def tenant_keys(binary: Path = BIN) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFRE_")} | ROOT
    out = subprocess.run([str(binary), "admin", "--json", "--admin-url", f"http://{ADMIN}", "tenant", "create", "bench",
                          "--admin-user", "bench"], env=env, capture_output=True, text=True, check=True)
    created = json.loads(out.stdout)
    return {"AWS_ACCESS_KEY_ID": created["access_key_id"], "AWS_SECRET_ACCESS_KEY": created["secret_access_key"]}

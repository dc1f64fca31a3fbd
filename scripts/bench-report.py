#!/usr/bin/env python3
"""Regenerates docs/performance.md: builds the release binary, starts Coffre on a fresh data
directory (encryption, checksums, audit and fsync all on, plain HTTP, client on the same
machine), runs `coffre bench --limits --json` for each figure the performance targets name,
and writes the table of figures, ceilings and ratios.

    scripts/bench-report.py [--list-keys N] [--quick]

`--quick` uses fewer operations and 100,000 listed keys (about 5 minutes); the default lists
1,000,000 keys (populating them takes most of the run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
    def __init__(self, data: Path, *flags: str):
        self.data = data
        self.flags = flags
        self.proc = None

    def start(self) -> float:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COFFRE_")} | ROOT
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [str(BIN), "server", "--data-dir", str(self.data), "--s3-listen", S3, "--admin-listen", ADMIN, *self.flags],
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


def tenant_keys() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFRE_")} | ROOT
    out = subprocess.run([str(BIN), "admin", "--json", "--admin-url", f"http://{ADMIN}", "tenant", "create", "bench",
                          "--admin-user", "bench"], env=env, capture_output=True, text=True, check=True)
    created = json.loads(out.stdout)
    return {"AWS_ACCESS_KEY_ID": created["access_key_id"], "AWS_SECRET_ACCESS_KEY": created["secret_access_key"]}


def bench(keys: dict, data: Path, *args: str) -> dict:
    env = os.environ | keys
    out = subprocess.run([str(BIN), "bench", "--endpoint", f"http://{S3}", "--limits", "--data-dir", str(data),
                          "--json", *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"coffre bench {' '.join(args)} failed:\n{out.stderr}\n{out.stdout}")
    return json.loads(out.stdout)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--list-keys", type=int)
    a = p.parse_args()
    list_keys = a.list_keys or (100_000 if a.quick else 1_000_000)
    small_ops = "20000" if a.quick else "60000"
    subprocess.run(["cargo", "build", "--release", "--bin", "coffre"], cwd=REPO, check=True)
    work = REPO / "target" / "bench-report"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    rows = []

    def run(label, data, target, *args):
        r = bench(keys, data, *args)
        rows.append((label, target, r))
        return r

    durable = Server(work / "data")
    durable.start()
    keys = tenant_keys()
    put_large = run("PUT 64 MiB, 4 concurrent", durable.data, "≥ 70% of fsynced sequential write",
                    "--workload", "put", "--size", "64MiB", "--concurrency", "4", "--ops", "16")
    run("GET 64 MiB, 4 concurrent", durable.data, f"≥ 2× PUT ({2 * put_large['report']['mib_per_second']:.0f} MiB/s)",
        "--workload", "get", "--size", "64MiB", "--concurrency", "4", "--ops", "32", "--keys", "8")
    put_small = run("PUT 4 KiB, 64 concurrent", durable.data, "≥ 80% of fsync-off, ≥ 3× one-at-a-time fsync",
                    "--workload", "put", "--size", "4KiB", "--concurrency", "64", "--ops", small_ops)
    run("GET 4 KiB, 64 concurrent", durable.data, f"≥ 2× PUT ({2 * put_small['report']['ops_per_second']:.0f} ops/s)",
        "--workload", "get", "--size", "4KiB", "--concurrency", "64", "--ops", small_ops, "--keys", "5000")
    life_peak = durable.peak_rss_mib()
    # The target is the RSS during this load: the peak counts from its start (what the earlier
    # runs left allocated included), as well as over the server's whole life.
    during = durable.reset_peak_rss()
    mixed = run("mixed 1 MiB, 64 concurrent", durable.data, "server RSS ≤ 256 MiB",
                "--workload", "mixed", "--size", "1MiB", "--concurrency", "64", "--ops", "3000", "--keys", "500",
                "--prefix", "mixed/")
    mixed["rss_mib"] = durable.peak_rss_mib()
    mixed["rss_during"] = during
    mixed["rss_life_mib"] = max(life_peak, mixed["rss_mib"])
    run(f"LIST {list_keys:,} keys (full + delimiter)", durable.data, "≥ 100,000 keys/s",
        "--workload", "list", "--size", "0", "--keys", str(list_keys), "--concurrency", "64", "--ops", "4",
        "--prefix", "list/", "--bucket", "listing")
    # One folder's listing (keys list/000000000000..999) in the big bucket and in a small one.
    folder = ("--workload", "list", "--size", "0", "--concurrency", "1", "--ops", "300", "--prefix", "list/",
              "--list-prefix", "list/000000000")
    in_large = run(f"LIST one folder (1,000 keys, delimiter) of the {list_keys:,}-key bucket", durable.data,
                   "same cost as in a 1,000-key bucket (± 20%)",
                   *folder, "--bucket", "listing", "--keys", str(list_keys), "--populated")
    in_small = run("LIST one folder (1,000 keys, delimiter) of a 1,000-key bucket", durable.data,
                   "reference for the row above", *folder, "--bucket", "listing-small", "--keys", "1000")
    durable.stop()
    startup = durable.start()
    durable.stop()

    nosync = Server(work / "data-nosync", "--dangerous-skip-fsync")
    nosync.start()
    keys = tenant_keys()
    run("PUT 4 KiB, 64 concurrent, fsync OFF (benchmark-only)", nosync.data, "reference for the durable run",
        "--workload", "put", "--size", "4KiB", "--concurrency", "64", "--ops", small_ops)
    nosync.stop()

    limits = rows[0][2]["limits"]
    lines = [
        "# Performance",
        "",
        "Generated by `scripts/bench-report.py"
        + (" --quick" if a.quick else "") + "` on "
        + time.strftime("%Y-%m-%d") + f": {platform.machine()}, {limits['cores']} cores, "
        + "single node, client on the same machine, plain HTTP; encryption, checksums, audit and fsync on "
        + "unless a row says otherwise. Every figure comes from `coffre bench --limits --json` "
        + "(aws-sdk-s3 at default settings), the ceilings measured in the same run.",
        "",
        "## Ceilings (this machine, data directory's disk)",
        "",
        f"- sequential write + fsync: {limits['seq_write_fsync_mib_s']:.0f} MiB/s",
        f"- 4 KiB write + fsync: {limits['write_4k_fsync_ms']:.3f} ms ({1000 / limits['write_4k_fsync_ms']:.0f}/s one at a time)",
        f"- one core: AES-256-GCM {limits['aes_gcm_mib_s']:.0f} MiB/s, MD5 {limits['md5_mib_s']:.0f} MiB/s, "
        f"SHA-256 {limits['sha256_mib_s']:.0f} MiB/s",
        "",
        "## Figures",
        "",
        "| workload | ops/s | MiB/s | p50 ms | p99 ms | errors | ratios | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, target, r in rows:
        rep = r["report"]
        ratios = "; ".join(f"{v * 100:.0f}% {k}" for k, v in r.get("ratios", []))
        extra = ""
        if rep.get("keys_per_second"):
            extra = f"{rep['keys_per_second']:.0f} keys/s listed"
        if r.get("rss_during"):
            extra = (f"server peak RSS {r['rss_mib']:.0f} MiB during this run "
                     f"({r['rss_life_mib']:.0f} MiB over the server's whole life)")
        elif "rss_mib" in r:
            extra = f"server peak RSS {r['rss_mib']:.0f} MiB (whole life)"
        lines.append(f"| {label} | {rep['ops_per_second']:.0f} | {rep['mib_per_second']:.1f} | {rep['latency_ms_p50']:.2f} | "
                     f"{rep['latency_ms_p99']:.2f} | {rep['errors']} | {'; '.join(x for x in (ratios, extra) if x)} | {target} |")
    durable_put = rows[2][2]["report"]["ops_per_second"]
    nosync_put = rows[-1][2]["report"]["ops_per_second"]
    lines += [
        "",
        f"- Durable small PUTs are {durable_put / nosync_put * 100:.0f}% of the fsync-off rate and "
        f"{durable_put / (1000 / limits['write_4k_fsync_ms']):.1f}× the rate of writers each waiting for its own fsync.",
        f"- A delimiter listing of one folder (1,000 keys) takes {in_large['report']['latency_ms_p50']:.2f} ms (p50) "
        f"in the {list_keys:,}-key bucket and {in_small['report']['latency_ms_p50']:.2f} ms in a 1,000-key bucket: "
        f"{in_small['report']['ops_per_second'] / in_large['report']['ops_per_second']:.2f}× the time.",
        f"- Start-up with the objects above stored: {startup:.2f} s.",
        "",
        "Regenerate with `scripts/bench-report.py` (see its header for options).",
        "",
    ]
    # Hand-written analysis after the marker survives regeneration.
    doc = REPO / "docs" / "performance.md"
    marker = "<!-- analysis: kept by scripts/bench-report.py -->"
    kept = doc.read_text().split(marker, 1)[1] if doc.exists() and marker in doc.read_text() else ""
    doc.write_text("\n".join(lines) + "\n" + marker + kept)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Where a workload's CPU goes, per operation: the server's CPU by thread (runtime workers, the
metadata writer, the audit writer), the client's, the machine's idle share and the server's
context switches, for `coffre bench` runs against a fresh release server. Less noisy than
ops/s on a shared 2-core machine, so it shows what a change costs or saves; run the binaries
alternately and compare. What docs/audit.md quotes for the audit trail's cost.
   scripts/cpu-per-op.py BINARY [SERVER_FLAGS...]
   env: WORKLOADS (default "put get"), OPS (20000), SIZE (4KiB), CONCURRENCY (64). A get run
   includes its set-up writes (1000 objects) in its figures.
   e.g. for b in /tmp/coffre-before target/release/coffre; do scripts/cpu-per-op.py $b; done"""
import collections
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_server import S3, Server, tenant_keys

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
NAMED_THREADS = ("coffre-audit", "coffre-meta-wri")  # the rest are runtime and blocking-pool threads


def thread_cpu(pid: int) -> collections.Counter:
    """CPU seconds by thread kind, and voluntary + involuntary context switches ("switches")."""
    out = collections.Counter()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = open(f"/proc/{pid}/task/{tid}/stat").read()
            status = open(f"/proc/{pid}/task/{tid}/status").read()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        out[name if name in NAMED_THREADS else "runtime"] += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        out["switches"] += sum(int(line.split()[1]) for line in status.splitlines() if "ctxt_switches" in line)
    return out


def machine_idle_ticks() -> tuple[int, int]:
    ticks = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return ticks[3] + ticks[4], sum(ticks)


def main() -> None:
    binary, flags = Path(sys.argv[1]).resolve(), sys.argv[2:]
    ops = int(os.environ.get("OPS", "20000"))
    work = Path(tempfile.mkdtemp())
    server = Server(work / "data", *flags, binary=binary)
    server.start()
    try:
        env = os.environ | tenant_keys(binary)
        pid = server.proc.pid
        for workload in os.environ.get("WORKLOADS", "put get").split():
            before, client_before, idle_before = (
                thread_cpu(pid), resource.getrusage(resource.RUSAGE_CHILDREN), machine_idle_ticks())
            bench = subprocess.run(
                [str(binary), "bench", "--endpoint", f"http://{S3}", "--workload", workload,
                 "--size", os.environ.get("SIZE", "4KiB"), "--concurrency", os.environ.get("CONCURRENCY", "64"),
                 "--ops", str(ops), "--json"],
                capture_output=True, env=env, text=True, check=True)
            after, client_after, idle_after = (
                thread_cpu(pid), resource.getrusage(resource.RUSAGE_CHILDREN), machine_idle_ticks())
            report = json.loads(bench.stdout)["report"]
            per_op = {k: (after[k] - before[k]) / ops * 1e6 for k in after if k != "switches" and after[k] > before[k]}
            client = sum(getattr(client_after, f) - getattr(client_before, f) for f in ("ru_utime", "ru_stime"))
            idle = (idle_after[0] - idle_before[0]) / max(1, idle_after[1] - idle_before[1])
            threads = ", ".join(f"{k} {v:.0f}" for k, v in sorted(per_op.items()))
            print(f"{binary.name} {' '.join(flags)} {workload}: {report['ops_per_second']:.0f} ops/s; "
                  f"server CPU {sum(per_op.values()):.0f} us/op ({threads}); client {client / ops * 1e6:.0f} us/op; "
                  f"machine idle {idle:.0%}; server context switches {(after['switches'] - before['switches']) / ops:.2f}/op",
                  flush=True)
    finally:
        server.stop()
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

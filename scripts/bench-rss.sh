#!/usr/bin/env bash
# The server's peak RSS over the life of scripts/bench-report.py's durable server (its quick
# sizes), printed after each workload, to see which one sets the whole-life peak.
#   scripts/bench-rss.sh [BINARY]    (extra server settings through the environment, e.g.
#                                     MIMALLOC_PURGE_DELAY=0)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
binary="${1:-target/release/coffre}"
[ $# -gt 0 ] || cargo build --release --bin coffre
work="$(mktemp -d)"
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
start_server "$binary" "$work/data" "$work/server.log"
use_tenant bench
peak_mib() { awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$server_pid/status"; }
step() {
  local figures
  figures="$("$binary" bench --endpoint http://127.0.0.1:29400 "$@" | head -1)"
  echo "$* :: ${figures%%;*} :: peak RSS $(peak_mib) MiB"
}
step --workload put --size 64MiB --concurrency 4 --ops 16
step --workload get --size 64MiB --concurrency 4 --ops 32 --keys 8
step --workload put --size 4KiB --concurrency 64 --ops 20000
step --workload get --size 4KiB --concurrency 64 --ops 20000 --keys 5000
step --workload mixed --size 1MiB --concurrency 64 --ops 3000 --keys 500 --prefix mixed/

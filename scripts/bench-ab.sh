#!/usr/bin/env bash
# A/B comparison of two coffre binaries under the same `coffre bench` load, alternating ROUNDS
# times in one run so that machine noise hits both alike; prints each run's figures and the
# server's peak RSS.
#   scripts/bench-ab.sh BINARY_A BINARY_B ROUNDS -- BENCH_ARGS...
# Server flags for both sides go in SERVER_FLAGS, e.g. SERVER_FLAGS=--dangerous-skip-audit;
# bench flags for one side only in A_ARGS / B_ARGS (the same binary twice with B_ARGS=--versioned
# compares a versioned bucket with an unversioned one).
# e.g. scripts/bench-ab.sh /tmp/coffre-before target/release/coffre 3 -- --workload mixed --size 1MiB --concurrency 64 --ops 3000
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
a="$1" b="$2" rounds="$3"; shift 3; [ "${1:-}" = "--" ] && shift
work="$(mktemp -d)"
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
run() { # $1: label, $2: binary, then the bench arguments
  local label="$1" binary="$2" data="$work/data-$1"; shift 2
  # shellcheck disable=SC2086 # SERVER_FLAGS is a list of flags
  start_server "$binary" "$data" "$work/$label.log" ${SERVER_FLAGS:-}
  use_tenant bench
  local out rss
  out="$("$binary" bench --endpoint http://127.0.0.1:29400 --data-dir "$data" "$@" 2>&1 | tail -n 2 | tr '\n' ' ')"
  rss="$(awk '/VmHWM/ {print $2/1024 " MiB"}' "/proc/$server_pid/status")"
  echo "$label: $out; peak RSS $rss"
  kill "$server_pid"; wait "$server_pid" || true
  rm -rf "$data"
}
for _ in $(seq "$rounds"); do
  # shellcheck disable=SC2086 # A_ARGS and B_ARGS are lists of flags
  run A "$a" "$@" ${A_ARGS:-}
  # shellcheck disable=SC2086
  run B "$b" "$@" ${B_ARGS:-}
done

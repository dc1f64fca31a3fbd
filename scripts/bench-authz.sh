#!/usr/bin/env bash
# Measures what authorisation costs on the hot path: 4 KiB GETs from a bucket without a policy
# against a bucket with a 20-statement bucket policy, same server, same caller, alternating.
#   scripts/bench-authz.sh [OBJECTS] [CONCURRENCY] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
work="$(mktemp -d)"
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --bin coffre --example authz_cost
start_server target/release/coffre "$work/data" "$work/server.log"
use_tenant bench
COFFRE_BENCH_TENANT=bench target/release/examples/authz_cost http://127.0.0.1:29400 "${1:-3000}" "${2:-16}" "${3:-3}"

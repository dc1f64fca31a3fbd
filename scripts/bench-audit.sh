#!/usr/bin/env bash
# Measures what the audit trail costs: 4 KiB PUT and GET ops/s with the audit trail on (every
# record durable before its response) against the benchmark-only audit-off path, same build,
# same client, alternating ROUNDS times so that machine noise hits both alike.
#   scripts/bench-audit.sh [ROUNDS] [OBJECTS] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
rounds="${1:-3}" objects="${2:-3000}" concurrency="${3:-16}"
work="$(mktemp -d)"
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --bin coffre --example throughput
run() { # $1: label, $2...: extra server flags
  local label="$1" data="$work/data-$1"; shift
  start_server target/release/coffre "$data" "$work/$label.log" "$@"
  use_tenant bench
  echo "$label $(target/release/examples/throughput http://127.0.0.1:29400 4096 "$objects" "$concurrency" | tr '\n' ' ')"
  kill "$server_pid"; wait "$server_pid" || true
  rm -rf "$data"
}
for _ in $(seq "$rounds"); do
  run audit-on
  run audit-off --dangerous-skip-audit
  if [ -n "${BENCH_AUDIT_NOSYNC:-}" ]; then run nosync-audit-on --dangerous-skip-fsync; run nosync-audit-off --dangerous-skip-fsync --dangerous-skip-audit; fi
done

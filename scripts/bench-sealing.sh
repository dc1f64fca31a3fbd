#!/usr/bin/env bash
# Measures what sealing costs: the same server built normally and with the benchmark-only
# feature dangerous-bench-unsealed (same code path and layout, no AES-GCM), driven in turn by
# the same aws-sdk-s3 client, alternating ROUNDS times so that machine noise hits both alike.
#   scripts/bench-sealing.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-2}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --release --bin coffre --example throughput
cp target/release/coffre "$work/coffre-sealed"
cargo build --release --bin coffre --features coffre/dangerous-bench-unsealed
cp target/release/coffre "$work/coffre-unsealed"
cargo build --release --bin coffre   # leave the normal build in place

source scripts/bench-lib.sh
run() { # $1: binary, $2: label
  local data="$work/data-$2"
  start_server "$1" "$data" "$work/$2.log"
  use_tenant bench
  for spec in "67108864 8 4" "4096 3000 16"; do
    # shellcheck disable=SC2086
    echo "$2 $(target/release/examples/throughput http://127.0.0.1:29400 $spec | tr '\n' ' ')"
  done
  kill "$server_pid"; wait "$server_pid" || true
  rm -rf "$data"
}
for r in $(seq "$rounds"); do
  run "$work/coffre-sealed" sealed
  run "$work/coffre-unsealed" unsealed
done

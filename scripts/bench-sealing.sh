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

export AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret123
run() { # $1: binary, $2: label
  local data="$work/data-$2" pid
  COFFRE_ROOT_ACCESS_KEY=$AWS_ACCESS_KEY_ID COFFRE_ROOT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
    "$1" server --data-dir "$data" --s3-listen 127.0.0.1:29400 --admin-listen 127.0.0.1:29401 >"$work/$2.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:29401/health >/dev/null && break; sleep 0.1; done
  for spec in "67108864 8 4" "4096 3000 16"; do
    # shellcheck disable=SC2086
    echo "$2 $(target/release/examples/throughput http://127.0.0.1:29400 $spec | tr '\n' ' ')"
  done
  kill "$pid"; wait "$pid" || true
  rm -rf "$data"
}
for r in $(seq "$rounds"); do
  run "$work/coffre-sealed" sealed
  run "$work/coffre-unsealed" unsealed
done

#!/usr/bin/env bash
# The whole test suite, from a clean checkout on a fresh machine:
#   1. installs what the tests need (Debian and pip packages; idempotent),
#   2. checks formatting and lints,
#   3. builds once (dev profile, dependencies optimised) and runs the Rust unit tests and the
#      black-box tests that start the real `coffre` binary and drive it with aws-sdk-s3,
#   4. runs the client-tool tests (aws CLI over HTTPS, rclone, s3cmd, boto3, raw requests).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "install test dependencies"
scripts/install-test-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "Rust tests: unit, engine and black-box (real binary + aws-sdk-s3)"
cargo test --workspace

step "client-tool and conformance tests (aws CLI, rclone, s3cmd, boto3, raw malformed requests)"
# Two suites, two runs: each has its own conftest with its own server.
export COFFRE_BIN="$PWD/target/debug/coffre"
python3 -m pytest tests/compat -q -p no:cacheprovider
python3 -m pytest tests/clients -q -p no:cacheprovider

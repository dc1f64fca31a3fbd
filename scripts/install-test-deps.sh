#!/usr/bin/env bash
# Install the third-party S3 clients used by tests/clients (idempotent, no prompts).
#
#   Debian packages : rclone, s3cmd, softhsm2 (the PKCS#11 HSM of the key tests), curl
#                     (HTTP/2 requests), e2fsprogs and util-linux (the full-disk tests make and
#                     loop-mount a small ext4; the connection tests lower the fd limit with prlimit)
#   Python packages : awscli (v1), boto3, requests, pytest, moto[server] (another S3
#                     implementation, for `coffre bench` against other endpoints)
#
# Run as root. Packages already present are left alone; `apt-get update` runs only
# when a Debian package actually has to be installed.
set -euo pipefail

log() { printf '[install-test-deps] %s\n' "$*"; }

export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (apt-get install)" >&2
    exit 1
fi

PYTHON="${PYTHON:-python3}"

# --- Debian packages -------------------------------------------------------
apt_missing=()
for pkg in rclone s3cmd restic softhsm2 curl e2fsprogs util-linux; do
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        log "apt: $pkg already installed ($(dpkg-query -W -f='${Version}' "$pkg"))"
    else
        apt_missing+=("$pkg")
    fi
done
if [ "${#apt_missing[@]}" -gt 0 ]; then
    log "apt: installing ${apt_missing[*]}"
    log "apt: apt-get update"
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${apt_missing[@]}"
else
    log "apt: nothing to install"
fi

# --- Python packages -------------------------------------------------------
# module name to import : pip package name
pip_missing=()
for pair in awscli:awscli boto3:boto3 requests:requests pytest:pytest moto.server:moto[server]; do
    mod="${pair%%:*}"
    pkg="${pair##*:}"
    if "$PYTHON" -c "import $mod" >/dev/null 2>&1; then
        log "pip: $pkg already installed"
    else
        pip_missing+=("$pkg")
    fi
done
if [ "${#pip_missing[@]}" -gt 0 ]; then
    log "pip: installing ${pip_missing[*]}"
    "$PYTHON" -m pip install -q --disable-pip-version-check "${pip_missing[@]}"
else
    log "pip: nothing to install"
fi

# The aws CLI entry point must be on PATH too.
if ! command -v aws >/dev/null 2>&1; then
    log "pip: awscli importable but 'aws' not on PATH; reinstalling awscli"
    "$PYTHON" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps awscli
fi

log "versions:"
log "  $(aws --version 2>&1)"
log "  $(rclone version 2>/dev/null | head -n1)"
log "  $(s3cmd --version 2>&1)"
log "  boto3 $("$PYTHON" -c 'import boto3; print(boto3.__version__)')"
log "  pytest $("$PYTHON" -m pytest --version 2>&1 | head -n1)"
log "done"

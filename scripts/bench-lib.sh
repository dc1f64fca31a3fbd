# Shared by the benchmark scripts (sourced): start a release server on loopback, wait for its
# health, and give the S3 client the keys of a fresh tenant's admin (root is an operator and
# reads no tenant data).
#   start_server BINARY DATA_DIR LOG [FLAGS...] -> sets $server_pid; S3 on 127.0.0.1:29400, admin :29401
#   use_tenant NAME                     -> exports AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY

export COFFRE_ROOT_ACCESS_KEY=benchroot COFFRE_ROOT_SECRET_KEY=benchrootsecret123
export COFFRE_ADMIN_URL=http://127.0.0.1:29401

start_server() {
  local binary="$1" data="$2" log="$3"; shift 3
  "$binary" server --data-dir "$data" --s3-listen 127.0.0.1:29400 --admin-listen 127.0.0.1:29401 "$@" >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:29401/health >/dev/null && return 0; sleep 0.1; done
  echo "server did not become healthy; log:" >&2; cat "$log" >&2; return 1
}

use_tenant() {
  local created
  created="$(target/release/coffre admin --json tenant create "$1" --admin-user bench)"
  AWS_ACCESS_KEY_ID="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["access_key_id"])' <<<"$created")"
  AWS_SECRET_ACCESS_KEY="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["secret_access_key"])' <<<"$created")"
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
}

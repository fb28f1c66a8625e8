# Starts a single-node Garage (sqlite metadata, replication factor 1, region eu-central-1) on free
# loopback ports, with one key that may create buckets. Sourced by scripts/test.sh and
# scripts/bench-s3.sh, which define `free_port` and `wait_for`.
#
#   garage_start GARAGE_BIN DIR CAPACITY KEY_NAME
#
# Sets GARAGE_PID, GARAGE_ENDPOINT, GARAGE_KEY_ID and GARAGE_SECRET; returns non-zero on failure.
garage_start() {
  local bin=$1 dir=$2 capacity=$3 name=$4 rpc s3 admin
  rpc=$(free_port); s3=$(free_port); admin=$(free_port)
  mkdir -p "$dir"
  cat >"$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"

[s3_api]
s3_region = "eu-central-1"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin"
TOML
  local g=("$bin" -c "$dir/garage.toml")
  "${g[@]}" server >"$dir/garage.log" 2>&1 &
  GARAGE_PID=$!
  wait_for Garage "${g[@]}" status || return 1
  local node; node=$("${g[@]}" node id -q 2>/dev/null | cut -d@ -f1)
  "${g[@]}" layout assign -z dc1 -c "$capacity" "$node" >/dev/null || return 1
  "${g[@]}" layout apply --version 1 >/dev/null || return 1
  GARAGE_KEY_ID="GK$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
  GARAGE_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  "${g[@]}" key import --yes -n "$name" "$GARAGE_KEY_ID" "$GARAGE_SECRET" >/dev/null || return 1
  "${g[@]}" key allow --create-bucket "$GARAGE_KEY_ID" >/dev/null || return 1
  GARAGE_ENDPOINT="http://127.0.0.1:$s3"
}

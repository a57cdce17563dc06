# shellcheck shell=bash
# Sourced by the checks that need a running `dev` server. Defines
# start_dev_server NAME: builds the binary, starts `auth0-actix-api dev` on
# a free loopback port with a throw-away key file, waits for /readyz, and
# stops it on exit. Afterwards: $bin (the binary), $target (cargo's target
# directory), $work (a scratch directory, removed on exit), $base (the
# server's URL), and PORT and APP_DEV__KEY_FILE exported, so that
# `"$bin" token` mints tokens from that same server's issuer. NAME prefixes
# the error message.

# shellcheck source=scripts/lib/wait.sh
source "$(dirname "${BASH_SOURCE[0]}")/wait.sh"

start_dev_server() {
  local name=$1
  cargo build -q --locked
  # Wherever cargo puts its output (CARGO_TARGET_DIR), not only ./target.
  target=$(cargo metadata -q --no-deps --format-version 1 | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  bin=$target/debug/auth0-actix-api
  work=$(mktemp -d)
  PORT=$(free_port)
  export PORT APP_DEV__KEY_FILE="$work/issuer-key.pem" RUST_LOG=warn
  "$bin" dev >"$work/dev.out" 2>"$work/dev.err" &
  dev_pid=$!
  trap 'kill $dev_pid 2>/dev/null; wait $dev_pid 2>/dev/null; rm -rf "$work"' EXIT
  base=http://127.0.0.1:$PORT
  wait_for_url "$base/readyz" "$name: dev mode" "$work/dev.err"
}

#!/usr/bin/env bash
# Runs every example in examples/ against a real issuer on loopback and
# checks what it answers: each serves /api/public (200) and refuses
# /api/private without a token (401), accepts a real token, and the guards,
# optional authentication and custom bodies behave as the examples say.
#
# The issuer is this service's own dev mode (`auth0-actix-api dev`): it
# publishes discovery and JWKS on a free loopback port, and `token` mints
# tokens it signs. Each example gets AUTH0_ISSUER_BASE_URL pointing at it
# and a free PORT of its own. Touches nothing outside a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/wait.sh
source scripts/lib/wait.sh

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

cargo build -q --bin auth0-actix-api --examples
bin=target/debug/auth0-actix-api

issuer_port=$(free_port)
export APP_DEV__KEY_FILE="$work/issuer-key.pem" RUST_LOG=warn
PORT=$issuer_port "$bin" dev >"$work/issuer.out" 2>"$work/issuer.err" &
pids+=($!)
wait_for_url "http://127.0.0.1:$issuer_port/.well-known/jwks.json" "examples: the dev issuer" "$work/issuer.err"
audience=$(sed -n 's/^audience = "\(.*\)"$/\1/p' config/base.toml | tail -1)
token() { PORT=$issuer_port "$bin" token "$@"; }

checked=0
# expect EXAMPLE STATUS PATH [curl args...]: the example answers STATUS.
expect() {
  local example=$1 status=$2 path=$3
  shift 3
  local got
  got=$(curl -s -o "$work/body" -w '%{http_code}' "$@" "http://127.0.0.1:$port$path")
  if [ "$got" != "$status" ]; then
    echo "examples: $example: $path answered $got, expected $status: $(head -c 300 "$work/body")" >&2
    exit 1
  fi
  checked=$((checked + 1))
}
# body_has EXAMPLE TEXT: the last answer's body holds TEXT.
body_has() {
  grep -qF -- "$2" "$work/body" \
    || { echo "examples: $1: body lacks $2: $(head -c 300 "$work/body")" >&2; exit 1; }
}

start() {
  local example=$1
  port=$(free_port)
  AUTH0_ISSUER_BASE_URL="http://127.0.0.1:$issuer_port/" AUTH0_AUDIENCE="$audience" PORT=$port \
    "target/debug/examples/$example" >"$work/$example.out" 2>"$work/$example.err" &
  pids+=($!)
  wait_for_url "http://127.0.0.1:$port/api/public" "examples: $example" "$work/$example.err"
}

plain=$(token)
reader=$(token --scope read:messages)
bearer() { echo "Authorization: Bearer $1"; }

examples=(minimal roles_and_claims optional_auth custom_errors)
for file in examples/*.rs; do
  name=$(basename "$file" .rs)
  [[ " ${examples[*]} " == *" $name "* ]] \
    || { echo "examples: $name is not checked here; add it to scripts/examples-check.sh" >&2; exit 1; }
done

start minimal
expect minimal 200 /api/public
expect minimal 401 /api/private
expect minimal 200 /api/private -H "$(bearer "$plain")"
expect minimal 403 /api/private-scoped -H "$(bearer "$plain")"
expect minimal 200 /api/private-scoped -H "$(bearer "$reader")"

start roles_and_claims
admin=$(token --claim 'https://example.com/roles=["admin"]')
verified=$(token --claim email_verified=true --claim email=ada@example.com)
writer=$(token --scope "read:messages write:messages")
expect roles_and_claims 200 /api/public
expect roles_and_claims 401 /api/admin
expect roles_and_claims 403 /api/admin -H "$(bearer "$plain")"
body_has roles_and_claims '"error":"insufficient_scope"'
expect roles_and_claims 200 /api/admin -H "$(bearer "$admin")"
expect roles_and_claims 403 /api/me -H "$(bearer "$plain")"
expect roles_and_claims 200 /api/me -H "$(bearer "$verified")"
body_has roles_and_claims '"email":"ada@example.com"'
# A broken body without the permission: the guard answers before the body is read.
expect roles_and_claims 403 /api/messages -X POST -H "$(bearer "$reader")" \
  -H 'Content-Type: application/json' --data '{"text": '
expect roles_and_claims 400 /api/messages -X POST -H "$(bearer "$writer")" \
  -H 'Content-Type: application/json' --data '{"text": '
expect roles_and_claims 201 /api/messages -X POST -H "$(bearer "$writer")" \
  -H 'Content-Type: application/json' --data '{"text": "hi"}'

start optional_auth
expect optional_auth 200 /api/public
expect optional_auth 401 /api/private
expect optional_auth 200 /api/feed
body_has optional_auth '"feed":"public"'
expect optional_auth 200 /api/feed -H "$(bearer "$plain")"
body_has optional_auth '"feed":"personal"'
expect optional_auth 401 /api/feed -H "Authorization: Bearer not-a-token"

start custom_errors
expect custom_errors 200 /api/public
expect custom_errors 401 /api/private
body_has custom_errors '"error":"authentication_failed"'
expect custom_errors 403 /api/private-scoped -H "$(bearer "$plain")"
body_has custom_errors '"error":"insufficient_permissions"'
expect custom_errors 200 /api/private-scoped -H "$(bearer "$reader")"

echo "examples: ${#examples[@]} examples gave the $checked answers they promise"

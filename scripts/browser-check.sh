#!/usr/bin/env bash
# Opens /docs of a real `dev` server in headless Chromium (Debian's, driven by
# playwright-core, tests/browser/docs.mjs): the five /api routes are listed,
# "Authorize" takes a dev token, and "Try it out" on GET /api/private shows
# 200. Saves a screenshot to target/browser/docs.png.
# Installs Debian's chromium and the npm packages when missing; uses a free
# port and a throw-away key file; touches nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! [ -x /usr/bin/chromium ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi
# playwright-core never downloads a browser; the variable says so twice.
(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)

cargo build -q --locked
# Wherever cargo puts its output (CARGO_TARGET_DIR), not only ./target.
target=$(cargo metadata -q --no-deps --format-version 1 | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target/debug/auth0-actix-api
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PORT=$port APP_DEV__KEY_FILE="$work/issuer-key.pem" RUST_LOG=warn
"$bin" dev >"$work/dev.out" 2>"$work/dev.err" &
dev_pid=$!
trap 'kill $dev_pid 2>/dev/null; wait $dev_pid 2>/dev/null; rm -rf "$work"' EXIT
base=http://127.0.0.1:$port
for _ in $(seq 1 100); do
  curl -sf "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf "$base/readyz" >/dev/null || { echo "browser-check: dev mode did not get ready" >&2; cat "$work/dev.err" >&2; exit 1; }

mkdir -p "$target/browser"
TOKEN=$("$bin" token --scope read:messages) BASE_URL=$base SCREENSHOT=$target/browser/docs.png \
  timeout 120 node tests/browser/docs.mjs

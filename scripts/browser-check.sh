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

# shellcheck source=scripts/lib/dev-server.sh
source scripts/lib/dev-server.sh
start_dev_server browser-check

mkdir -p "$target/browser"
TOKEN=$("$bin" token --scope read:messages) BASE_URL=$base SCREENSHOT=$target/browser/docs.png \
  timeout 120 node tests/browser/docs.mjs

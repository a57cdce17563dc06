#!/usr/bin/env bash
# Soak test: the release binary against a local tenant (discovery and JWKS
# on loopback) at a fixed rate of mixed traffic for SECONDS, while the
# tenant rotates its keys and goes down and up again, and, when the binary
# has the Redis DPoP replay store (issue 14), Redis restarts once. Every
# answer is checked against the one it should be; resident memory and open
# descriptors must not grow more than 10 % after warm-up. Prints one summary
# line and exits non-zero on any failure. docs/soak.md explains the method.
#
#   scripts/soak.sh [SECONDS]      (default 600; SOAK_RATE=40 req/s, SOAK_REDIS=auto|on|off)
#
# Only 127.0.0.1 is contacted. The driver is scripts/soak.py (Python 3 and
# `cryptography`, installed here when missing); it stops by itself, and the
# `timeout` below bounds it even if it hangs.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
case $seconds in '' | *[!0-9]*) echo "usage: scripts/soak.sh [SECONDS]" >&2; exit 2 ;; esac
python3 -c 'import cryptography' 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore cryptography
cargo build -q --release --locked --bin auth0-actix-api
# The driver needs a few seconds around the run for start-up, the Redis
# probe and shutdown; five minutes more is a generous bound.
exec timeout --kill-after=30 $((seconds + 300)) \
  python3 scripts/soak.py --binary target/release/auth0-actix-api --seconds "$seconds"

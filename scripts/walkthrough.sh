#!/usr/bin/env bash
# Runs the README's walkthrough verbatim against a real `cargo run -- dev`,
# so the README cannot rot. Each command in the walkthrough block that ends
# with `# NNN` must print output ending in that HTTP status (curl's
# -w ' -> %{http_code}'); the others just have to succeed.
# Uses a free port and a throw-away key file; touches nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

readme=README.md
block=$(awk '/<!-- walkthrough:begin -->/{on=1; next} /<!-- walkthrough:end -->/{on=0} on' "$readme" \
  | awk '/^```/{fence=!fence; next} fence')
[ -n "$block" ] || { echo "walkthrough: no walkthrough block in $readme" >&2; exit 1; }

# shellcheck source=scripts/lib/wait.sh
source scripts/lib/wait.sh
work=$(mktemp -d)
port=$(free_port)
export PORT=$port APP_DEV__KEY_FILE="$work/issuer-key.pem" RUST_LOG=warn
cargo build -q
cargo run -q -- dev >"$work/dev.out" 2>"$work/dev.err" &
dev_pid=$!
trap 'kill $dev_pid 2>/dev/null; wait $dev_pid 2>/dev/null; rm -rf "$work"' EXIT
wait_for_url "http://127.0.0.1:$port/readyz" "walkthrough: dev mode" "$work/dev.err"

checked=0
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  # The walkthrough says API=http://127.0.0.1:8080; here it is our free port.
  line=${line//127.0.0.1:8080/127.0.0.1:$port}
  expected=$(sed -n 's/.*#[[:space:]]*\([0-9][0-9][0-9]\)[[:space:]]*$/\1/p' <<<"$line")
  if [ -n "$expected" ]; then
    got=$(eval "$line")
    got=${got: -3}
    if [ "$got" != "$expected" ]; then
      echo "walkthrough: expected $expected, got '$got' from: ${line:0:120}" >&2
      exit 1
    fi
    checked=$((checked + 1))
  else
    eval "$line" >/dev/null
  fi
done <<<"$block"
[ "$checked" -gt 0 ] || { echo "walkthrough: no command with an expected status" >&2; exit 1; }
echo "walkthrough: $checked commands gave the statuses the README promises"

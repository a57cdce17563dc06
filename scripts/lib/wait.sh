# shellcheck shell=bash
# Sourced by the checks that start servers on loopback.
#
# free_port: prints a TCP port on 127.0.0.1 that is free now.
# wait_for_url URL WHAT LOG: polls URL for up to 20 s until it answers
#   2xx; otherwise says "WHAT did not get ready", prints LOG (the server's
#   stderr) and exits 1.

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_url() {
  local url=$1 what=$2 log=$3
  for _ in $(seq 1 100); do
    curl -sf "$url" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "$what did not get ready" >&2
  cat "$log" >&2
  exit 1
}

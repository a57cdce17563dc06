#!/usr/bin/env bash
# Load test: the release binary in `dev` mode on one core (one worker),
# driven by wrk on the other core, over loopback only. Prints requests per
# second and p50/p99 latency per scenario, each scenario's throughput as a
# ratio of /api/public in the same run, and the server's resident memory.
#
#   scripts/load.sh [SECONDS_PER_SCENARIO]      (default 10; CONNS=64 by default)
#
# Installs wrk from Debian when it is missing. Every wrk run is bounded by
# its duration; the server is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10}
conns=${CONNS:-64}
command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q --no-install-recommends wrk; }
command -v taskset >/dev/null || { apt-get update -q && apt-get install -y -q --no-install-recommends util-linux; }
cargo build -q --release --bin auth0-actix-api
bin=target/release/auth0-actix-api

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PORT=$port APP_DEV__KEY_FILE="$work/key.pem" RUST_LOG=warn APP_APPLICATION__WORKERS=1
taskset -c 0 "$bin" dev >"$work/dev.out" 2>"$work/dev.err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do grep -q '^curl' "$work/dev.out" 2>/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$port"

# Tokens: 1,000 distinct ones with read:messages, one without, a forged one
# (a valid header and payload under another token's signature), garbage.
"$bin" token --count 1000 --scope read:messages >"$work/tokens.txt"
one=$(head -n 1 "$work/tokens.txt")
other=$(sed -n 2p "$work/tokens.txt")
noscope=$("$bin" token)
forged="${one%.*}.${other##*.}"

# A wrk script that sends the tokens of a file in turn and prints a result line.
cat >"$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
cat >"$work/rotate.lua" <<LUA
local tokens = {}
local i = 0
init = function(args)
  for line in io.lines("$work/tokens.txt") do tokens[#tokens + 1] = line end
end
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/api/private", { ["Authorization"] = "Bearer " .. tokens[i] })
end
$(cat "$work/report.lua")
LUA

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$pid/status"; }

# run NAME PATH [HEADER] [SCRIPT] [CONNECTIONS]: one bounded wrk run on core 1.
run() {
  local name=$1 path=$2 header=${3:-} script=${4:-$work/report.lua} c=${5:-$conns}
  local args=(-t1 "-c$c" "-d${duration}s" --latency -s "$script")
  [ -n "$header" ] && args+=(-H "$header")
  taskset -c 1 wrk "${args[@]}" "$base$path" | awk -v n="$name" '/^RESULT/ {print n, $2, $3, $4, $5}'
}

idle=$(rss_kb)
results=()
results+=("$(run public /api/public) $(rss_kb)")
results+=("$(run private_one_token /api/private "Authorization: Bearer $one") $(rss_kb)")
results+=("$(run private_1000_tokens /api/private "" "$work/rotate.lua") $(rss_kb)")
results+=("$(run bad_signature /api/private "Authorization: Bearer $forged") $(rss_kb)")
results+=("$(run missing_token /api/private) $(rss_kb)")
results+=("$(run scoped_without_permission /api/private-scoped "Authorization: Bearer $noscope") $(rss_kb)")

# Bad input must not hurt good clients: valid clients alone, then the same
# valid clients while as many connections send garbage.
half=$((conns / 2))
clean=$(run valid_alone /api/private "" "$work/rotate.lua" "$half")
run garbage /api/private "Authorization: Bearer garbage.garbage.garbage" "" "$half" >"$work/garbage.txt" &
mixed=$(run valid_with_garbage /api/private "" "$work/rotate.lua" "$half")
wait $!
results+=("$clean $(rss_kb)" "$mixed $(rss_kb)" "$(cat "$work/garbage.txt") $(rss_kb)")

public_rps=$(awk '{print $2}' <<<"${results[0]}")
printf '\n%s s per scenario, %s connections, server: 1 worker on core 0, wrk on core 1\n\n' "$duration" "$conns"
printf '| %-26s | %10s | %8s | %8s | %9s | %7s | %7s |\n' scenario req/s "p50 ms" "p99 ms" "vs public" errors "RSS MB"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..28})" "------------" "----------" "----------" "-----------" "---------" "---------"
for line in "${results[@]}"; do
  read -r name rps p50 p99 errors rss <<<"$line"
  awk -v n="$name" -v r="$rps" -v a="$p50" -v b="$p99" -v e="$errors" -v m="$rss" -v p="$public_rps" \
    'BEGIN { printf "| %-26s | %10.0f | %8.2f | %8.2f | %8.0f%% | %7d | %7.1f |\n", n, r, a, b, 100 * r / p, e, m / 1024 }'
done
clean_p99=$(awk '{print $4}' <<<"$clean")
mixed_p99=$(awk '{print $4}' <<<"$mixed")
awk -v c="$clean_p99" -v m="$mixed_p99" 'BEGIN { printf "\nvalid-token p99 with 50%% garbage vs alone: %.2fx\n", m / c }'
printf 'resident memory: idle %.1f MB, peak %.1f MB\n' "$(awk -v k="$idle" 'BEGIN{print k/1024}')" "$(awk -v k="$(hwm_kb)" 'BEGIN{print k/1024}')"

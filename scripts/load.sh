#!/usr/bin/env bash
# Load test: the release binary in `dev` mode on one core (one worker),
# driven by wrk on the other core, over loopback only. Prints requests per
# second and p50/p99 latency per scenario, each scenario's throughput as a
# ratio of /api/public in the same run, the server CPU time per request (the
# same ratio, measured in a way the machine's noise disturbs less), and the
# server's resident memory.
#
#   scripts/load.sh [SECONDS_PER_RUN]     (default 10; CONNS=64, ROUNDS=5 by default)
#
# Installs wrk from Debian when it is missing. Every wrk run is bounded by
# its duration; the server is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10}
conns=${CONNS:-64}
rounds=${ROUNDS:-5}
command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q --no-install-recommends wrk; }
command -v taskset >/dev/null || { apt-get update -q && apt-get install -y -q --no-install-recommends util-linux; }
cargo build -q --release --bin auth0-actix-api
bin=target/release/auth0-actix-api

work=$(mktemp -d)
# shellcheck source=scripts/lib/wait.sh
source scripts/lib/wait.sh
port=$(free_port)
port_nocache=$(free_port)
export APP_DEV__KEY_FILE="$work/key.pem" RUST_LOG=warn APP_APPLICATION__WORKERS=1
"$bin" token >/dev/null  # creates the key before two servers race for it
PORT=$port taskset -c 0 "$bin" dev >"$work/dev.out" 2>"$work/dev.err" &
pid=$!
# The same server with the verified-token cache off: every request pays its
# signature check, which is what the "distinct tokens" target is about.
PORT=$port_nocache APP_VALIDATION__VERIFIED_CACHE_ENTRIES=0 taskset -c 0 "$bin" dev >"$work/dev2.out" 2>&1 &
pid2=$!
trap 'kill $pid $pid2 2>/dev/null; wait $pid $pid2 2>/dev/null; rm -rf "$work"' EXIT
base="http://127.0.0.1:$port"
wait_for_url "$base/readyz" "load: dev mode" "$work/dev.err"
wait_for_url "http://127.0.0.1:$port_nocache/readyz" "load: dev mode without the token cache" "$work/dev2.out"

# Tokens: 1,000 distinct ones with read:messages (for each server's issuer
# URL, which names its port), one without, a forged one (a valid header and
# payload under another token's signature), garbage.
PORT=$port "$bin" token --count 1000 --scope read:messages >"$work/tokens.txt"
PORT=$port_nocache "$bin" token --count 1000 --scope read:messages >"$work/tokens2.txt"
one=$(head -n 1 "$work/tokens.txt")
noscope=$(PORT=$port "$bin" token)
# The forged token goes to the uncached server, like the distinct valid
# tokens it is compared with: both pay exactly one signature check there.
one2=$(head -n 1 "$work/tokens2.txt")
other2=$(sed -n 2p "$work/tokens2.txt")
forged="${one2%.*}.${other2##*.}"

# A wrk script that prints one parseable result line.
cat >"$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
LUA
# wrk scripts that send the tokens of a file in turn. The requests are
# formatted once, up front: formatting each one in Lua made wrk, not the
# server, the bottleneck of these scenarios.
for f in tokens tokens2; do
  cat >"$work/rotate_$f.lua" <<LUA
local requests = {}
local i = 0
init = function(args)
  for line in io.lines("$work/$f.txt") do
    requests[#requests + 1] = wrk.format("GET", "/api/private", { ["Authorization"] = "Bearer " .. line })
  end
end
request = function()
  i = i % #requests + 1
  return requests[i]
end
$(cat "$work/report.lua")
LUA
done

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/${1:-$pid}/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/${1:-$pid}/status"; }
# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick_us=$((1000000 / $(getconf CLK_TCK)))

# run NAME URL [HEADER] [SCRIPT] [CONNECTIONS] [SERVER_PID]: one bounded wrk
# run on core 1; appends "rps p50 p99 errors rss cpu_us_per_request busy%"
# to $work/res.NAME. The CPU cost per request is the server's CPU time over
# the run divided by the requests served: on a shared machine it drifts far
# less than throughput does, since time the host takes away is not counted.
# "busy" is that CPU time over the run's duration: under 100 %, the server
# was not what limited the run's throughput.
run() {
  local name=$1 url=$2 header=${3:-} script=${4:-$work/report.lua} c=${5:-$conns} server=${6:-$pid}
  local args=(-t1 "-c$c" "-d${duration}s" --latency -s "$script")
  [ -n "$header" ] && args+=(-H "$header")
  local before after
  before=$(cpu_ticks "$server")
  taskset -c 1 wrk "${args[@]}" "$url" >"$work/out.$name"
  after=$(cpu_ticks "$server")
  awk -v m="$(rss_kb "$server")" -v t=$((after - before)) -v u="$tick_us" -v d="$duration" \
    '/^RESULT/ {print $2, $3, $4, $5, m, t * u / $6, t * u / (d * 10000)}' "$work/out.$name" >>"$work/res.$name"
}

# One function per step of a round. Each refusal sits next to the valid case
# it is compared with, and /api/public carrying the repeated token's header
# sits next to both: it shows what the header alone costs, before any auth.
scenarios=(public public_with_token_header private_one_token scoped_without_permission missing_token private_1000_tokens private_1000_tokens_uncached bad_signature)
step_public() { run public "$base/api/public"; }
step_public_with_token_header() { run public_with_token_header "$base/api/public" "Authorization: Bearer $one"; }
step_private_one_token() { run private_one_token "$base/api/private" "Authorization: Bearer $one"; }
step_scoped_without_permission() { run scoped_without_permission "$base/api/private-scoped" "Authorization: Bearer $noscope"; }
step_missing_token() { run missing_token "$base/api/private"; }
step_private_1000_tokens() { run private_1000_tokens "$base/api/private" "" "$work/rotate_tokens.lua"; }
step_private_1000_tokens_uncached() {
  run private_1000_tokens_uncached "http://127.0.0.1:$port_nocache/api/private" "" "$work/rotate_tokens2.lua" "$conns" "$pid2"
}
step_bad_signature() {
  run bad_signature "http://127.0.0.1:$port_nocache/api/private" "Authorization: Bearer $forged" "" "$conns" "$pid2"
}
# Bad input must not hurt good clients: valid clients alone, then the same
# valid clients while as many connections send garbage (uncached server, so
# valid requests pay their signature check).
step_garbage_mix() {
  local half=$((conns / 2))
  run valid_alone "http://127.0.0.1:$port_nocache/api/private" "" "$work/rotate_tokens2.lua" "$half" "$pid2"
  run garbage "http://127.0.0.1:$port_nocache/api/private" "Authorization: Bearer garbage.garbage.garbage" "" "$half" "$pid2" &
  run valid_with_garbage "http://127.0.0.1:$port_nocache/api/private" "" "$work/rotate_tokens2.lua" "$half" "$pid2"
  wait $!
}
steps=("${scenarios[@]}" garbage_mix)
idle=$(rss_kb)
# Rounds interleave the scenarios, and each figure is the median of its
# rounds: on a shared machine, throughput drifts over minutes. Every other
# round runs backwards, so that within two rounds each pair of neighbours
# has run in both orders and a steady drift cancels out of their ratio.
for round in $(seq 1 "$rounds"); do
  order=("${steps[@]}")
  if [ $((round % 2)) -eq 0 ]; then
    order=()
    for ((k = ${#steps[@]} - 1; k >= 0; k--)); do order+=("${steps[k]}"); done
  fi
  for step in "${order[@]}"; do "step_$step"; done
done

# median FILE COLUMN
median() { awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}'; }
# paired FILE_A FILE_B COLUMN: the median over rounds of A/B, each round's
# figures divided by the same round's, so that drift between rounds cancels.
paired() { paste -d' ' "$1" "$2" | awk -v c="$3" '{n = NF / 2; print $c / $(c + n)}' | sort -g | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}'; }
printf '\n%s rounds of %s s per scenario, %s connections (garbage mix: %s + %s); server: 1 worker on core 0, wrk on core 1\n' \
  "$rounds" "$duration" "$conns" "$((conns / 2))" "$((conns / 2))"
printf 'figures are medians over rounds; ratios are medians of each round'"'"'s own ratio to /api/public\n\n'
printf '| %-30s | %9s | %7s | %7s | %9s | %9s | %9s | %6s | %7s |\n' scenario req/s "p50 ms" "p99 ms" "vs public" "CPU us/req" "vs public" "busy" "RSS MB"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' "--------------------------------" "-----------" "---------" "---------" "-----------" "-----------" "-----------" "--------" "---------"
for name in "${scenarios[@]}" valid_alone valid_with_garbage garbage; do
  f="$work/res.$name"
  awk -v n="$name" -v r="$(median "$f" 1)" -v a="$(median "$f" 2)" -v b="$(median "$f" 3)" -v m="$(median "$f" 5)" \
    -v u="$(median "$f" 6)" -v busy="$(median "$f" 7)" -v rr="$(paired "$f" "$work/res.public" 1)" -v ur="$(paired "$work/res.public" "$f" 6)" '
    BEGIN {
      # Two wrk runs share the server in the garbage mix, so neither run owns the CPU time spent.
      shared = (n == "valid_with_garbage" || n == "garbage")
      cpu = shared ? sprintf("%9s", "shared") : sprintf("%9.1f", u)
      ratio = shared ? sprintf("%9s", "-") : sprintf("%8.0f%%", 100 * ur)
      printf "| %-30s | %9.0f | %7.2f | %7.2f | %8.0f%% | %s | %s | %5.0f%% | %7.1f |\n", n, r, a, b, 100 * rr, cpu, ratio, busy, m / 1024
    }'
done
printf '\nthroughput of refusals vs the valid case they pair with (paired by round; 1.00 or more: no slower):\n'
printf '  scope refused vs repeated valid token: %.2f\n' "$(paired "$work/res.scoped_without_permission" "$work/res.private_one_token" 1)"
printf '  no token vs repeated valid token:      %.2f\n' "$(paired "$work/res.missing_token" "$work/res.private_one_token" 1)"
printf '  bad signature vs distinct valid (both uncached): %.2f\n' "$(paired "$work/res.bad_signature" "$work/res.private_1000_tokens_uncached" 1)"
printf 'throughput of the repeated valid token vs /api/public with the same header (the auth work alone): %.2f\n' \
  "$(paired "$work/res.private_one_token" "$work/res.public_with_token_header" 1)"
printf 'valid-token p99 with 50%% garbage beside it vs alone (paired by round): %.2fx\n' \
  "$(paired "$work/res.valid_with_garbage" "$work/res.valid_alone" 3)"
printf 'resident memory: idle %.1f MB; peak %.1f MB (cached server), %.1f MB (uncached server)\n' \
  "$(awk -v k="$idle" 'BEGIN{print k/1024}')" "$(awk -v k="$(hwm_kb "$pid")" 'BEGIN{print k/1024}')" \
  "$(awk -v k="$(hwm_kb "$pid2")" 'BEGIN{print k/1024}')"
echo "CPU us/req: the server's CPU time over a run divided by the requests it served; its 'vs public' is public's cost over the scenario's."
echo "busy: the server's CPU time over the run's length; under 100 %, something other than the server (the host, or wrk) limited the run."

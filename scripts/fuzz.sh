#!/usr/bin/env bash
# Fuzzing: builds the cargo-fuzz (libFuzzer) targets in fuzz/ and runs each
# for SECONDS_PER_TARGET, starting from the committed seeds in
# fuzz/corpus/<target>/. Fails on any crash, leak, timeout or failed
# assertion, and prints the executions of every target. docs/fuzzing.md
# says what each target covers and how to reproduce a crash.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]    (default 30)
#
# FUZZ_TARGETS="token htu" runs only those; FUZZ_RUNS=N stops each target
# after N executions instead (SECONDS_PER_TARGET still bounds it).
# New inputs go to fuzz/corpus-run/<target>/ (git-ignored), so the seeds
# stay a handful of files and later runs start where earlier ones stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

per_target=${1:-30}
case $per_target in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2; exit 2 ;; esac
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
# cargo-fuzz compiles with -Zsanitizer=address, a nightly-only rustc flag;
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept it (there is no other
# toolchain here). `-a` adds debug assertions and overflow checks, so an
# overflow is a crash rather than a wrapped number.
export RUSTC_BOOTSTRAP=1
flags=(--debug-assertions)

cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo fuzz build "${flags[@]}"
targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
runs=()
[ -n "${FUZZ_RUNS:-}" ] && runs=("-runs=$FUZZ_RUNS")

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
total=0
failed=()
for target in $targets; do
  mkdir -p "fuzz/corpus-run/$target"
  # The first corpus directory receives new inputs; the seeds are read only.
  # -timeout: an input that takes 10 s is a bug (a denial of service) too.
  if cargo fuzz run "${flags[@]}" "$target" "fuzz/corpus-run/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$per_target" -timeout=10 -print_final_stats=1 "${runs[@]}" \
    >"$logs/$target.log" 2>&1; then
    status=ok
  else
    status=CRASHED
    failed+=("$target")
    # The crash report: the panic or sanitizer message and the artifact path.
    grep -v '^#' "$logs/$target.log" | tail -n 40 >&2
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$target.log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$target.log" | tail -n 1)
  corpus=$(find "fuzz/corpus-run/$target" -type f | wc -l)
  total=$((total + ${execs:-0}))
  printf 'fuzz: %-11s %s, %12s executions, %7s/s, corpus %s inputs\n' \
    "$target" "$status" "${execs:-?}" "${rate:-?}" "$corpus"
done
printf 'fuzz: %s executions in all, %s crashed target(s)%s\n' \
  "$total" "${#failed[@]}" "${failed:+: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]

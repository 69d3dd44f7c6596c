#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/, one crate for all of them) for
# SECONDS each (default 60) and prints one line per target: executions,
# executions per second, and the result.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Installs what it needs when missing: the nightly toolchain (rustup) and
# cargo-fuzz (cargo install). All targets are built once, into one target
# directory (fuzz/target), then each runs from a scratch copy of its seed
# corpus (fuzz/corpus/TARGET), so the committed seeds only change by hand.
# A crash, leak, timeout or out-of-memory stops the run with exit 1; the
# input that caused it is saved as fuzz/corpus/TARGET/regression-SHA1, a
# seed the normal test suite then runs, so fix the bug and commit it.
#
# Environment: FUZZ_SANITIZER (default none: the code is safe Rust, and
# uninstrumented builds run several times faster; `address` for the few
# unsafe blocks), FUZZ_RSS_MB (memory limit per target, default 2048) and
# FUZZ_TARGET_DIR (build directory, default fuzz/target).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
sanitizer=${FUZZ_SANITIZER:-none}
rss=${FUZZ_RSS_MB:-2048}

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

fuzz=(cargo +nightly fuzz)
opts=(--fuzz-dir fuzz -O -s "$sanitizer")
if [ -n "${FUZZ_TARGET_DIR:-}" ]; then
  opts+=(--target-dir "$FUZZ_TARGET_DIR")
fi
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir fuzz)
fi

start=$(date +%s)
# One build of every target: the dependencies compile once.
"${fuzz[@]}" build "${opts[@]}"
built=$(date +%s)
echo "fuzz: built ${#targets[@]} targets in $((built - start)) s" >&2

scratch=$(mktemp -d "${TMPDIR:-/tmp}/measured-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
failed=0
printf '%-20s %12s %10s  %s\n' target execs exec/s result
for t in "${targets[@]}"; do
  work="$scratch/$t"
  mkdir -p "$work/corpus" "$work/artifacts"
  [ -d "fuzz/corpus/$t" ] && cp -r "fuzz/corpus/$t/." "$work/corpus/"
  log="$work/log"
  rc=0
  "${fuzz[@]}" run "${opts[@]}" "$t" "$work/corpus" -- \
    -max_total_time="$secs" -rss_limit_mb="$rss" -timeout=20 -max_len=1048576 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  result=ok
  if [ "$rc" -ne 0 ]; then
    result="FAILED (exit $rc)"
    failed=1
    for a in "$work"/artifacts/*; do
      [ -f "$a" ] || continue
      seed="fuzz/corpus/$t/regression-$(sha1sum "$a" | cut -c1-16)"
      mkdir -p "fuzz/corpus/$t"
      cp "$a" "$seed"
      result="$result: $(basename "$a") saved as $seed"
    done
    tail -n 40 "$log" >&2
  fi
  rate=$(( ${execs:-0} / (secs > 0 ? secs : 1) ))
  printf '%-20s %12s %10s  %s\n' "$t" "${execs:-0}" "$rate" "$result"
done
echo "fuzz: ${#targets[@]} targets, ${secs} s each, $(( $(date +%s) - start )) s in all" >&2
exit "$failed"

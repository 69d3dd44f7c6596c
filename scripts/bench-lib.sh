# Shared helpers for scripts/bench.d/*.sh (sourced, not run).
# Each bench file times ours and the peer on the same input in one run and
# calls `row NAME OURS_SECONDS PEER_SECONDS`.

# best_of N CMD...: the fastest wall time in seconds of N runs of CMD.
best_of() {
  local n=$1; shift
  local best="" t0 t1 t
  for _ in $(seq "$n"); do
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || { echo "bench: command failed: $*" >&2; return 1; }
    t1=$(date +%s.%N)
    t=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
  done
  printf '%.3f' "$best"
}

# row NAME OURS PEER: one result line, `name  ours  peer  ratio`.
row() {
  local ratio
  ratio=$(echo "scale=3; $2 / $3" | bc -l)
  printf '%-40s %9ss %9ss %7s\n' "$1" "$2" "$3" "$ratio"
}

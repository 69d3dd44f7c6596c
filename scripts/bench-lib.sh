# shellcheck shell=bash
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

# alternate N NAME OURS_CMD PEER_CMD: N interleaved rounds of ours then the
# peer, then `row NAME best_ours best_peer`: for short runs whose time drifts
# with the machine's load, so that both sides meet the same conditions.
alternate() {
  local n=$1 name=$2 ours=$3 peer=$4 bo="" bp="" t
  for _ in $(seq "$n"); do
    t=$(best_of 1 "$ours") || return 1
    if [ -z "$bo" ] || [ "$(echo "$t < $bo" | bc -l)" = 1 ]; then bo=$t; fi
    t=$(best_of 1 "$peer") || return 1
    if [ -z "$bp" ] || [ "$(echo "$t < $bp" | bc -l)" = 1 ]; then bp=$t; fi
  done
  row "$name" "$bo" "$bp"
}

# duel N NAME OURS_OUT OURS_CMD PEER_OUT PEER_CMD: N interleaved rounds of
# ours then the peer, each writing fresh outputs (the previous ones removed
# and flushed untimed first; *_OUT are space-separated paths without spaces,
# files or directories), then `row NAME best_ours best_peer`. Used where
# both tools write a large file: on this VM, freeing and re-touching page
# cache memory costs differ from run to run, so timing the two back to back
# under the same conditions is the fair comparison. Commands are strings
# (eval'd), so quote paths inside them.
duel() {
  local n=$1 name=$2 ours_out=$3 ours_cmd=$4 peer_out=$5 peer_cmd=$6
  local bo="" bp="" t
  for _ in $(seq "$n"); do
    # shellcheck disable=SC2086  # lists of paths
    rm -rf $ours_out $peer_out; sync
    t=$(best_of 1 eval "$ours_cmd") || return 1
    if [ -z "$bo" ] || [ "$(echo "$t < $bo" | bc -l)" = 1 ]; then bo=$t; fi
    # shellcheck disable=SC2086
    rm -rf $ours_out $peer_out; sync
    t=$(best_of 1 eval "$peer_cmd") || return 1
    if [ -z "$bp" ] || [ "$(echo "$t < $bp" | bc -l)" = 1 ]; then bp=$t; fi
  done
  row "$name" "$bo" "$bp"
}

# shellcheck shell=bash
# tcg: parse + replay the shared event-log corpus, and one-read multi-bank hashing.
# Sourced by scripts/bench.sh (provides best_of, row, alternate, $MEASURED, $BENCH_DIR).

tcg_logs=$(ls "${SHARED_DIR:-../shared}"/testdata/eventlogs/*/*.bin 2>/dev/null || ls /work/shared/testdata/eventlogs/*/*.bin)

# shellcheck disable=SC2086  # one word per log file
tcg_ours() { "$MEASURED" log replay $tcg_logs >/dev/null; }
tcg_peer() { for f in $tcg_logs; do tpm2_eventlog "$f" >/dev/null 2>&1; done; }
row "log replay corpus" "$(best_of 3 tcg_ours)" "$(best_of 3 tcg_peer)"

# One process per log, as a fleet's collector runs it: start-up counts. The
# reference rows are floors both pay, a process that does nothing per log:
# /bin/true (dynamically linked, as tpm2_eventlog is) and busybox's true
# (statically linked, as measured is). tpm2_eventlog's time varies more
# from run to run than ours, so each row takes interleaved rounds of ours
# and the peer (alternate) and compares the best of each.
# shellcheck disable=SC2086
tcg_each_ours() { for f in $tcg_logs; do "$MEASURED" log replay "$f" >/dev/null; done; }
tcg_each_true() { for f in $tcg_logs; do /bin/true "$f"; done; }
tcg_busybox=$(command -v busybox)
tcg_each_static_true() { for f in $tcg_logs; do "$tcg_busybox" true "$f"; done; }
alternate 9 "log replay corpus, a process per log" tcg_each_ours tcg_peer
alternate 9 "  reference: /bin/true per log" tcg_each_true tcg_peer
alternate 9 "  reference: static true per log" tcg_each_static_true tcg_peer

tcg_big="$BENCH_DIR/tcg-1GiB.bin"
[ -f "$tcg_big" ] || head -c 1073741824 /dev/urandom >"$tcg_big"
tcg_hash_ours() { "$MEASURED" log hash --alg sha1,sha256,sha384 "$tcg_big" >/dev/null; }
tcg_hash_peer() { sha1sum "$tcg_big" >/dev/null; sha256sum "$tcg_big" >/dev/null; sha384sum "$tcg_big" >/dev/null; }
row "hash 1GiB sha1+256+384" "$(best_of 3 tcg_hash_ours)" "$(best_of 3 tcg_hash_peer)"

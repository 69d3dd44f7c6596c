# shellcheck shell=bash
# linear: every parser is linear. `measured log replay` of a 16 MiB event
# log against the same of a 1 MiB log built the same way; the "peer" column
# is the 1 MiB run, so the ratio is the growth for 16x the bytes (target:
# at most 16). The logs are a real crypto-agile log's header and events
# repeated, with runs of all-zero events between them: the shape that made
# the end-of-log padding test quadratic.
# Sourced by scripts/bench.sh with $MEASURED, $BENCH_DIR and bench-lib.sh helpers.

lin_seed=$(ls "${SHARED_DIR:-../shared}"/testdata/eventlogs/go-tpm-tools/debian-10.bin 2>/dev/null ||
  ls /work/shared/testdata/eventlogs/go-tpm-tools/debian-10.bin)
lin_make() { # lin_make MIB OUT
  python3 - "$lin_seed" "$1" "$2" <<'PY'
import struct, sys
seed, mib, out = open(sys.argv[1], 'rb').read(), int(sys.argv[2]), sys.argv[3]
head_len = 32 + struct.unpack_from('<I', seed, 28)[0]
head, body = seed[:head_len], seed[head_len:]
zero_event = bytes(16)  # PCR 0, type 0, no digests, no data
unit = body + zero_event * 4096
with open(out, 'wb') as f:
    f.write(head)
    n = len(head)
    while n + len(unit) <= mib << 20:
        f.write(unit)
        n += len(unit)
    f.write(body)  # real events last: the zeros before them are events
PY
}
lin_small="$BENCH_DIR/linear-1MiB.bin"
lin_big="$BENCH_DIR/linear-16MiB.bin"
lin_make 1 "$lin_small"
lin_make 16 "$lin_big"
lin_1() { "$MEASURED" log replay "$lin_small" >/dev/null; }
lin_16() { "$MEASURED" log replay "$lin_big" >/dev/null; }
row "log replay 16MiB (peer: 1MiB), <= 16" "$(best_of 3 lin_16)" "$(best_of 3 lin_1)"

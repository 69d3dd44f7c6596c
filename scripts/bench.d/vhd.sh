# VHD conversion against qemu-img on the same input (sourced by bench.sh).
# Input: a 4 GiB sparse raw image holding 1 GiB of data in 256 scattered
# 4 MiB pieces (deterministic offsets, so every run converts alike).
vhd_in="$BENCH_DIR/vhd-in.raw"
truncate -s 4G "$vhd_in"
head -c $((4 << 20)) /dev/urandom > "$BENCH_DIR/vhd-piece"
for i in $(seq 0 255); do
  dd if="$BENCH_DIR/vhd-piece" of="$vhd_in" bs=1M seek=$((i * 16 + (i % 5) * 3)) \
     conv=notrunc status=none
done
rm -f "$BENCH_DIR/vhd-piece"

ours=$(best_of 3 "$MEASURED" vhd convert "$vhd_in" "$BENCH_DIR/ours.vhd")
peer=$(best_of 3 qemu-img convert -f raw -O vpc "$vhd_in" "$BENCH_DIR/peer.vhd")
row "vhd: raw -> dynamic VHD (4G, 1G data)" "$ours" "$peer"

ours=$(best_of 3 "$MEASURED" vhd convert "$BENCH_DIR/ours.vhd" "$BENCH_DIR/ours.raw")
peer=$(best_of 3 qemu-img convert -f vpc -O raw "$BENCH_DIR/ours.vhd" "$BENCH_DIR/peer.raw")
row "vhd: dynamic VHD -> raw (4G, 1G data)" "$ours" "$peer"
cmp "$BENCH_DIR/ours.raw" "$BENCH_DIR/peer.raw" || echo "bench: vhd outputs differ" >&2
rm -f "$vhd_in" "$BENCH_DIR"/ours.* "$BENCH_DIR"/peer.*

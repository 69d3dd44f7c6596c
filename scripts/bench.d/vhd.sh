# shellcheck shell=bash
# VHD convert: raw -> dynamic VHD and VHD -> raw, ours vs qemu-img, on a
# 4 GiB sparse file holding 1 GiB of random data in 64 scattered 16 MiB runs.
vhd_raw="$BENCH_DIR/vhd-in.raw"
truncate -s 4G "$vhd_raw"
for i in $(seq 0 63); do
  dd if=/dev/urandom of="$vhd_raw" bs=1M count=16 seek=$((i * 64 + (i % 7) * 3)) conv=notrunc status=none
done
sync
row "vhd raw->dynamic (4G, 1G data)" \
  "$(best_of 3 "$MEASURED" vhd convert "$vhd_raw" "$BENCH_DIR/ours.vhd" --profile tap)" \
  "$(best_of 3 qemu-img convert -f raw -O vpc "$vhd_raw" "$BENCH_DIR/peer.vhd")"
row "vhd dynamic->raw (4G, 1G data)" \
  "$(best_of 3 "$MEASURED" vhd convert "$BENCH_DIR/peer.vhd" "$BENCH_DIR/ours.raw" --to raw)" \
  "$(best_of 3 qemu-img convert -f vpc -O raw "$BENCH_DIR/peer.vhd" "$BENCH_DIR/peer.raw")"
rm -f "$vhd_raw" "$BENCH_DIR"/ours.vhd "$BENCH_DIR"/peer.vhd "$BENCH_DIR"/ours.raw "$BENCH_DIR"/peer.raw

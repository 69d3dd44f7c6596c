# shellcheck shell=bash
# shellcheck disable=SC2016  # duel takes command strings, expanded when run
# VHD convert: raw -> dynamic VHD and VHD -> raw, ours vs qemu-img, on a
# 4 GiB sparse file holding 1 GiB of random data in 64 scattered 16 MiB runs,
# each tool writing a fresh output file (see `duel` in bench-lib.sh).
vhd_raw="$BENCH_DIR/vhd-in.raw"
truncate -s 4G "$vhd_raw"
for i in $(seq 0 63); do
  dd if=/dev/urandom of="$vhd_raw" bs=1M count=16 seek=$((i * 64 + (i % 7) * 3)) conv=notrunc status=none
done
sync
duel 5 "vhd raw->dynamic (4G, 1G data)" \
  "$BENCH_DIR/ours.vhd" '"$MEASURED" vhd convert "$vhd_raw" "$BENCH_DIR/ours.vhd" --profile tap' \
  "$BENCH_DIR/peer.vhd" 'qemu-img convert -f raw -O vpc "$vhd_raw" "$BENCH_DIR/peer.vhd"'
qemu-img convert -f raw -O vpc "$vhd_raw" "$BENCH_DIR/in.vhd"
duel 5 "vhd dynamic->raw (4G, 1G data)" \
  "$BENCH_DIR/ours.raw" '"$MEASURED" vhd convert "$BENCH_DIR/in.vhd" "$BENCH_DIR/ours.raw" --to raw' \
  "$BENCH_DIR/peer.raw" 'qemu-img convert -f vpc -O raw "$BENCH_DIR/in.vhd" "$BENCH_DIR/peer.raw"'
# Reference, not a target: the same 1 GiB of data copied file to file by the
# kernel alone (cp uses copy_file_range) vs qemu-img's VHD -> raw. Writing a
# gigabyte into fresh page cache is the floor both converters stand on.
dd if="$vhd_raw" of="$BENCH_DIR/data.bin" bs=16M count=64 status=none
sync
duel 5 "floor: cp 1G of data (vs VHD -> raw)" \
  "$BENCH_DIR/cp.bin" 'cp "$BENCH_DIR/data.bin" "$BENCH_DIR/cp.bin"' \
  "$BENCH_DIR/peer.raw" 'qemu-img convert -f vpc -O raw "$BENCH_DIR/in.vhd" "$BENCH_DIR/peer.raw"'
rm -f "$BENCH_DIR"/data.bin "$BENCH_DIR"/cp.bin
rm -f "$vhd_raw" "$BENCH_DIR"/ours.vhd "$BENCH_DIR"/peer.vhd "$BENCH_DIR"/in.vhd "$BENCH_DIR"/ours.raw "$BENCH_DIR"/peer.raw

# shellcheck shell=bash disable=SC2154  # $root comes from scripts/bench.sh
# ext4 build from a ~300 MB rootfs tree: ours vs `mke2fs -t ext4 -d`.
# Sourced by scripts/bench.sh ($root, $BENCH_DIR, best_of, row are set).
# The tree is unpacked from Debian packages. Both sides end with the image
# on disk: mke2fs fsyncs, so ours is followed by `sync FILE`.
extfs_bench() {
  local tree="$BENCH_DIR/extfs-tree" debs="$BENCH_DIR/extfs-debs"
  mkdir -p "$tree" "$debs"
  (cd "$debs" && apt-get download -q \
     libllvm15 gcc-12 cpp-12 libgcc-12-dev python3.11-minimal libpython3.11-stdlib \
     perl-modules-5.36 libperl5.36 vim-runtime libicu72 libgl1-mesa-dri \
     busybox-static coreutils >/dev/null 2>&1) || true
  local deb
  for deb in "$debs"/*.deb; do
    [ -e "$deb" ] || { echo "extfs bench: no .deb downloaded (apt-get download failed)" >&2; return 1; }
    dpkg-deb -x "$deb" "$tree"
    [ "$(du -sm "$tree" | cut -f1)" -ge 300 ] && break
  done
  # Same size for both: what mke2fs would need plus room (ours measures
  # its own minimum; the peer gets the same byte count).
  local mb size
  mb=$(du -sm "$tree" | cut -f1)
  size=$(( (mb * 14 / 10 + 64) * 1024 * 1024 ))
  local t_ours t_peer
  t_ours=$(best_of 3 sh -c "SOURCE_DATE_EPOCH=0 '$MEASURED' fs build '$tree' '$BENCH_DIR/extfs-ours.img' --type ext4 --size $size && sync '$BENCH_DIR/extfs-ours.img'")
  t_peer=$(best_of 3 sh -c "rm -f '$BENCH_DIR/extfs-peer.img' && mke2fs -q -F -t ext4 -d '$tree' '$BENCH_DIR/extfs-peer.img' $((size / 1024))k")
  e2fsck -fn "$BENCH_DIR/extfs-ours.img" >/dev/null 2>&1 || { echo "extfs bench: our image fails e2fsck" >&2; return 1; }
  row "extfs: ext4 build ${mb}MB tree" "$t_ours" "$t_peer"
}
extfs_bench

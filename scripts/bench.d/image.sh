# shellcheck shell=bash
# Bench: the OE case of `measured image build` (ext3 core-image-minimal-like
# rootfs + Debian cloud kernel + a few modules -> 256 MiB dynamic VHD) against
# the equivalent shell pipeline on the same inputs: resize2fs to fill the
# disk, debugfs -w edits, qemu-img convert -O vpc.
# Each run writes fresh outputs (see `duel` in bench-lib.sh).
# Sourced by scripts/bench.sh: uses $MEASURED, $BENCH_DIR and duel.

bench_image() {
  local repo d rel kernel mods
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  bash "$repo/ci/fetch-testdata.sh" >/dev/null
  d="$BENCH_DIR/image"
  rm -rf "$d" && mkdir -p "$d/tree/bin" "$d/tree/sbin" "$d/tree/etc" "$d/tree/dev" "$d/tree/proc" "$d/tree/sys"
  local ks=("$repo"/target/testdata/debian/root/boot/vmlinuz-*)
  kernel=${ks[0]}
  rel=${kernel##*/vmlinuz-}
  cp "$repo/target/testdata/debian/root/bin/busybox" "$d/tree/bin/busybox"
  ln -s busybox "$d/tree/bin/sh"
  ln -s ../bin/busybox "$d/tree/sbin/init"
  ln -s ../bin/busybox "$d/tree/sbin/getty"
  printf '::sysinit:/etc/init.d/rcS\nttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt102\n' >"$d/tree/etc/inittab"
  printf '/dev/root / auto defaults 1 1\n' >"$d/tree/etc/fstab"
  mke2fs -q -F -t ext3 -d "$d/tree" "$d/core-image-minimal.ext3" 16M
  mods="$d/modules/$rel"
  for m in kernel/drivers/block/virtio_blk.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko; do
    mkdir -p "$mods/$(dirname "$m")"
    cp "$repo/target/testdata/debian/root/lib/modules/$rel/$m" "$mods/$m"
  done
  cat >"$d/svc.toml" <<SPEC
name = "oe"
rootfs = "core-image-minimal.ext3"
kernel = "$kernel"
modules = "$mods"
initramfs = "never"
disk_size_mib = 256
format = "vhd-qemu"
SPEC

  # The peer: what the blog's manual recipe does, rootless.
  printf 'c0::respawn:/sbin/getty -L 115200 hvc0 vt100\n::sysinit:/etc/init.d/rcS\n' >"$d/inittab.new"
  printf '/dev/xvda / ext3 defaults,errors=remount-ro 0 1\n' >"$d/fstab.new"
  {
    echo "mkdir boot"
    echo "write $kernel boot/vmlinuz-$rel"
    echo "symlink boot/vmlinuz vmlinuz-$rel"
    echo "symlink vmlinuz boot/vmlinuz-$rel"
    echo "mkdir lib"; echo "mkdir lib/modules"; echo "mkdir lib/modules/$rel"
    echo "mkdir lib/modules/$rel/kernel"; echo "mkdir lib/modules/$rel/kernel/drivers"
    echo "mkdir lib/modules/$rel/kernel/drivers/block"; echo "mkdir lib/modules/$rel/kernel/drivers/virtio"
    for m in kernel/drivers/block/virtio_blk.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko; do
      echo "write $mods/$m lib/modules/$rel/$m"
    done
    echo "rm etc/inittab"; echo "write $d/inittab.new etc/inittab"
    echo "rm etc/fstab"; echo "write $d/fstab.new etc/fstab"
  } >"$d/debugfs.cmds"
  cat >"$d/peer.sh" <<PEER
set -e
cp "$d/core-image-minimal.ext3" "$d/peer.img"
truncate -s 256M "$d/peer.img"
resize2fs -f "$d/peer.img" >/dev/null 2>&1
debugfs -w -f "$d/debugfs.cmds" "$d/peer.img" >/dev/null 2>&1
qemu-img convert -f raw -O vpc -o subformat=dynamic "$d/peer.img" "$d/peer.vhd"
PEER

  # shellcheck disable=SC2016  # duel takes command strings
  duel 5 "image build (OE ext3 -> 256M vhd)" \
    "$d/bundle" '"$MEASURED" image build "$d/svc.toml" -o "$d/bundle"' \
    "$d/peer.img $d/peer.vhd" 'bash "$d/peer.sh"'
}
bench_image

#!/usr/bin/env bash
# Builds the Debian 12 rootfs the distribution tests boot, once, into
# target/testdata/debian12:
#   root/      mmdebstrap --variant=minbase bookworm (merged /usr, systemd),
#              plus what a service VM needs to boot and be reached: systemd as
#              init, udev, kmod, iproute2, a static busybox for the initramfs;
#              root may log in without a password; systemd-networkd brings up
#              any en*/eth* interface with DHCP; a leftover /etc/inittab (as a
#              sysvinit -> systemd switch leaves it)
#   root.tar   the same tree as a tar archive (owners, xattrs/ACLs, devices)
#   root.ext4  the same tree as an ext4 image (mke2fs -d)
# Times later than $epoch are clamped to it (as reproducible builds do), so
# the three forms carry the same times. Idempotent and safe to run from
# several tests at once (flock).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=target/testdata/debian12
epoch=1700000000
mkdir -p target/testdata
exec 9>target/testdata/.debian12.lock
flock 9
if [ -f "$dest/.complete" ]; then exit 0; fi
rm -rf "$dest"
mkdir -p "$dest"
# The hooks run in mmdebstrap's own shell, which sets $1 to the new root.
# shellcheck disable=SC2016
SOURCE_DATE_EPOCH=$epoch mmdebstrap --quiet --variant=minbase \
  --include=systemd-sysv,udev,kmod,iproute2,busybox-static \
  --customize-hook='chroot "$1" passwd -q -d root' \
  --customize-hook='echo svc > "$1/etc/hostname"' \
  --customize-hook='mkdir -p "$1/etc/systemd/network" && printf "[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n" > "$1/etc/systemd/network/80-dhcp.network"' \
  --customize-hook='systemctl --root="$1" --quiet enable systemd-networkd' \
  --customize-hook='printf "# left behind by sysvinit\nid:2:initdefault:\n" > "$1/etc/inittab"' \
  bookworm "$dest/root"
find "$dest/root" -newermt "@$epoch" -exec touch -h -d "@$epoch" {} +
tar --numeric-owner --xattrs --xattrs-include='*' --format=posix \
  -C "$dest/root" -cf "$dest/root.tar" .
mke2fs -q -F -t ext4 -d "$dest/root" "$dest/root.ext4" 600M
touch "$dest/.complete"

#!/usr/bin/env bash
# The main job on the shipped example: fetch Debian's busybox-static and cloud
# kernel (apt-get download, via ci/fetch-testdata.sh), lay out a tiny rootfs,
# then `measured build examples/service-vm.toml`: a bootable VHD, VM
# definitions, predicted PCR17/18/19 and a sealing policy in out/svc/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -e /boot/tboot.gz ] || ! command -v apt-get >/dev/null; then
  echo "example: needs Debian's tboot package (/boot/tboot.gz); run as root: apt-get install tboot" >&2
fi
[ -e /boot/tboot.gz ] || { [ "$(id -u)" = 0 ] && apt-get install -y -qq --no-install-recommends tboot; }
bash ci/fetch-testdata.sh
deb=target/testdata/debian/root
release=$(basename "$(ls -d "$deb"/lib/modules/*/ | head -n 1)")
# Stable names for the spec: the kernel and its modules without the version.
ln -sfn "vmlinuz-$release" "$deb/boot/vmlinuz"
ln -sfn "$release" "$deb/lib/modules/current"
root=target/example-rootfs
rm -rf "$root" && mkdir -p "$root"/{bin,sbin,etc,dev,proc,sys,tmp,root}
cp "$deb/bin/busybox" "$root/bin/"
ln -s busybox "$root/bin/sh"
ln -s ../bin/busybox "$root/sbin/init"
ln -s ../bin/busybox "$root/sbin/getty"
echo 'root::0:0:root:/root:/bin/sh' > "$root/etc/passwd"
printf '::sysinit:/bin/mount -a\nttyS0::respawn:/sbin/getty -L ttyS0 115200 vt100\n' > "$root/etc/inittab"
: "${SOURCE_DATE_EPOCH:=1700000000}"
export SOURCE_DATE_EPOCH
exec cargo run --release -q -p measured -- build examples/service-vm.toml "$@"

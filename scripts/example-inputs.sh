#!/usr/bin/env bash
# Prepares the inputs examples/service-vm.toml names: Debian's busybox-static
# and cloud kernel (via ci/fetch-testdata.sh), stable links to the kernel and
# its modules, and a tiny busybox rootfs in target/example-rootfs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -e /boot/tboot.gz ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq --no-install-recommends tboot
  else
    echo "example: needs Debian's tboot (/boot/tboot.gz): sudo apt-get install tboot" >&2
    exit 1
  fi
fi
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

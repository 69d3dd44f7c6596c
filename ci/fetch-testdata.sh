#!/usr/bin/env bash
# Fetches the Debian packages the image boot test needs (busybox-static and
# the cloud kernel with its modules) into target/testdata/debian, unpacked.
# Then the Debian 12 rootfs (ci/debian-rootfs.sh).
# Idempotent: a complete cache is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=target/testdata/debian
if [ ! -f "$dest/.complete" ]; then
(
rm -rf "$dest" && mkdir -p "$dest/debs" "$dest/root"
cd "$dest/debs"
# linux-image-cloud-amd64 is a metapackage: resolve the versioned image it depends on.
kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kpkg" ] || { echo "fetch-testdata: cannot resolve linux-image-cloud-amd64" >&2; exit 1; }
apt-get download busybox-static "$kpkg"
for d in *.deb; do dpkg-deb -x "$d" ../root; done
cd ..
ls root/boot/vmlinuz-* root/bin/busybox >/dev/null
touch .complete
)
fi
# The Debian 12 minbase rootfs the distribution boot test uses.
bash ci/debian-rootfs.sh

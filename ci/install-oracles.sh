#!/usr/bin/env bash
# Installs the independent tools the test suite checks us against.
# Idempotent: does nothing when every tool is already present.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have vhdiinfo            || need+=(libvhdi-utils)
have e2fsck              || need+=(e2fsprogs)
have debugfs             || need+=(e2fsprogs)
have lcp2_mlehash        || need+=(tboot)
have tpm2_eventlog       || need+=(tpm2-tools)
have swtpm               || need+=(swtpm)
have swtpm_ioctl         || need+=(swtpm-tools)
have swtpm_setup         || need+=(swtpm-tools)
have virt-xml-validate   || need+=(libvirt-clients)
have xmllint             || need+=(libxml2-utils)
have busybox             || need+=(busybox-static)
have cpio                || need+=(cpio)
have script              || need+=(bsdutils)
have systemctl           || need+=(systemd)
have hyperfine           || need+=(hyperfine)
[ -x /usr/bin/time ] || need+=(time)
have openssl             || need+=(openssl)
have bc                  || need+=(bc)
have shellcheck          || need+=(shellcheck)
have bzip2               || need+=(bzip2)
have xz                  || need+=(xz-utils)
have zstd                || need+=(zstd)
have cc                  || need+=(gcc)
[ -e /usr/include/xen/libxlutil.h ] || [ -e /usr/include/libxlutil.h ] || need+=(libxen-dev)
have qemu-system-x86_64  || need_qemu=1

export DEBIAN_FRONTEND=noninteractive
if [ ${#need[@]} -gt 0 ] || [ -n "${need_qemu:-}" ]; then
  apt-get update -qq
fi
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if [ -n "${need_qemu:-}" ]; then
  # The machine's qemu-utils comes from bookworm-backports; Debian 12's own
  # qemu-system-x86 refuses to install beside it, so take it from there too.
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo 'deb http://deb.debian.org/debian bookworm-backports main' \
      > /etc/apt/sources.list.d/measured-backports.list
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86
fi

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
have readelf             || need+=(binutils)
have strace              || need+=(strace)
[ -x /usr/bin/time ] || need+=(time)
have openssl             || need+=(openssl)
have bc                  || need+=(bc)
have shellcheck          || need+=(shellcheck)
have man                 || need+=(man-db)
have groff               || need+=(groff-base)
python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
[ -e /usr/lib/python3/dist-packages/gpg/__init__.py ] || need+=(python3-gpg)
/usr/bin/python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
have bzip2               || need+=(bzip2)
have xz                  || need+=(xz-utils)
have zstd                || need+=(zstd)
have cc                  || need+=(gcc)
# The tboot releases ci/build-tboot.sh builds are 32-bit: gcc -m32, make, zstd.
dpkg -s gcc-multilib >/dev/null 2>&1 || need+=(gcc-multilib)
have make                || need+=(make)
[ -e /usr/include/xen/libxlutil.h ] || [ -e /usr/include/libxlutil.h ] || need+=(libxen-dev)
have depmod              || need+=(kmod)
have mmdebstrap          || need+=(mmdebstrap)
have setfacl             || need+=(acl)
have setfattr            || need+=(attr)
have sfdisk              || need+=(fdisk)
have python3             || need+=(python3)
have qemu-system-x86_64  || need_qemu=1
# bitbake (the OE class test) refuses to run without this locale.
locale -a 2>/dev/null | grep -qix 'en_US.utf-\?8' || need_locale=1
[ -z "${need_locale:-}" ] || need+=(locales)

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
if [ -n "${need_locale:-}" ]; then
  sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen
  grep -q '^en_US.UTF-8 UTF-8' /etc/locale.gen || echo 'en_US.UTF-8 UTF-8' >> /etc/locale.gen
  locale-gen
fi

# Keylime from PyPI (pinned, ci/keylime-requirements.txt) in its own venv: the
# Keylime test runs Keylime's own code. About 30 s on a fresh machine.
keylime_venv=/opt/measured-keylime
keylime_req="$(dirname "$0")/keylime-requirements.txt"
keylime_stamp="$keylime_venv/.complete-$(sha256sum "$keylime_req" | cut -c1-16)"
if [ ! -e "$keylime_stamp" ]; then
  rm -rf "$keylime_venv"
  /usr/bin/python3 -m venv "$keylime_venv"
  site=$("$keylime_venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  ln -s /usr/lib/python3/dist-packages/gpg "$site/gpg"
  "$keylime_venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$keylime_req"
  "$keylime_venv/bin/python" -c 'from keylime.tpm.tpm_main import Tpm; from keylime.cli import policies'
  touch "$keylime_stamp"
fi

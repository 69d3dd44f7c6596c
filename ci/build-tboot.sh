#!/usr/bin/env bash
# Builds the hypervisor part (tboot/) of every tboot source release in
# shared/tboot-src into target/testdata/tboot/VERSION/{tboot.gz,tboot-syms}: real
# tboot images of several releases, for the DRTM tests. Idempotent: a
# release already built (its .complete marker) is left alone; concurrent
# callers (test binaries) wait on one lock.
#
# The old releases' last Makefile step re-links the linked ELF, which current
# binutils refuses ("cannot use executable file as input to a link"); for
# them we take the first-stage ELF and strip it, which is what tboot's own
# Makefile does from 1.10.0 on. Stripping drops symbols only: the loaded
# image, hence the MLE hash, is the linker's.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
dest=$repo/target/testdata/tboot

src=""
for d in "${MEASURED_SHARED:-}" "$repo/../shared" "$repo/../../shared" /work/shared; do
  if [ -n "$d" ] && [ -d "$d/tboot-src" ]; then src=$d/tboot-src; break; fi
done
[ -n "$src" ] || { echo "build-tboot: no shared/tboot-src found" >&2; exit 1; }

mkdir -p "$dest"
exec 9>"$dest/.lock"
flock 9

jobs=$(nproc 2>/dev/null || echo 2)
for tarball in "$src"/tboot-*.tar.zst; do
  v=$(basename "$tarball" .tar.zst); v=${v#tboot-}
  out=$dest/$v
  [ -f "$out/.complete" ] && continue
  rm -rf "$out" && mkdir -p "$out/src"
  # Only what the hypervisor build reads: tboot/, the shared headers, Config.mk.
  tar --zstd -xf "$tarball" -C "$out/src" --strip-components=1 \
    "tboot-$v/tboot" "tboot-$v/include" "tboot-$v/Config.mk"
  t0=$(date +%s)
  # Old releases' -Werror trips on gcc 12 warnings; the last step may fail (see above).
  if ! make -s -C "$out/src/tboot" -j"$jobs" CFLAGS_WARN= build >"$out/build.log" 2>&1; then
    if ! [ -f "$out/src/tboot/.tboot.0" ] || ! grep -q "cannot use executable file" "$out/build.log"; then
      cat "$out/build.log" >&2
      echo "build-tboot: tboot $v failed to build" >&2
      exit 1
    fi
    strip "$out/src/tboot/.tboot.0" -o "$out/src/tboot/tboot"
    gzip -n -f -9 <"$out/src/tboot/tboot" >"$out/src/tboot/tboot.gz"
  fi
  cp "$out/src/tboot/tboot.gz" "$out/src/tboot/tboot-syms" "$out/"
  rm -rf "$out/src"
  echo "build-tboot: tboot $v built in $(($(date +%s) - t0)) s" >&2
  touch "$out/.complete"
done

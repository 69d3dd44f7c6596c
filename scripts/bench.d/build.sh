# shellcheck shell=bash disable=SC2154  # $root comes from scripts/bench.sh
# `measured build`: a rerun with nothing changed against a clean build of
# the same spec (target ratio < 0.1), on a ~64 MiB rootfs with a launch
# section (prediction and policy included). Sourced by scripts/bench.sh
# with $MEASURED, $BENCH_DIR and the bench-lib.sh helpers.
build_bench() {
  local d="$BENCH_DIR/build"
  rm -rf "$d" && mkdir -p "$d/rootfs/etc" "$d/rootfs/usr/share/data"
  printf 'ttyS0::respawn:/sbin/getty ttyS0\n' >"$d/rootfs/etc/inittab"
  local i
  for i in $(seq 64); do
    head -c $((1 << 20)) /dev/urandom >"$d/rootfs/usr/share/data/blob$i"
  done
  # A bzImage header (HdrS, protocol 2.15, version string) on 8 MiB.
  python3 - "$d/bzImage" <<'PY'
import sys
b = bytearray(8 << 20)
b[0x202:0x206] = b"HdrS"
b[0x206:0x208] = (0x020F).to_bytes(2, "little")
b[0x20E:0x210] = (0x100).to_bytes(2, "little")
v = b"6.1.0-bench (b@b) #1\0"
b[0x300:0x300 + len(v)] = v
open(sys.argv[1], "wb").write(b)
PY
  cat >"$d/spec.toml" <<TOML
name = "bench"
rootfs = "rootfs"
kernel = "bzImage"
disk_size_mib = 160
initramfs = "never"

[launch]
platform = "$root/examples/launch/platform.toml"
sinit = "$root/examples/launch/sinit-synthetic.bin"
tboot = "/boot/tboot.gz"
tboot_cmdline = "logging=serial,memory extpol=embedded"

[[launch.modules]]
file = "bundle:kernel"
cmdline = "console=hvc0 root=/dev/xvda rw"
TOML
  local t_clean t_rerun
  t_clean=$(best_of 3 sh -c "rm -rf '$d/out' && '$MEASURED' build '$d/spec.toml' --out '$d/out/bench'")
  "$MEASURED" build "$d/spec.toml" --out "$d/out/bench" >/dev/null
  t_rerun=$(best_of 5 "$MEASURED" build "$d/spec.toml" --out "$d/out/bench")
  row "build: rerun, nothing changed / clean" "$t_rerun" "$t_clean"
}
build_bench

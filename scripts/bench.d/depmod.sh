# shellcheck shell=bash disable=SC2154  # $root comes from scripts/bench.sh
# Module index of the Debian cloud kernel's 1100+ modules: the kmod crate
# (its `depmod` example: BASEDIR RELEASE, like `depmod -b`) vs kmod's own
# `depmod -b`, each on its own copy of the tree; the files must come out
# byte-equal. Sourced by scripts/bench.sh ($root, $RELEASE_DIR, $BENCH_DIR, best_of, row).
depmod_bench() {
  bash "$root/ci/fetch-testdata.sh" >/dev/null
  cargo build --release -q --manifest-path "$root/Cargo.toml" -p kmod --example depmod
  local ours="$RELEASE_DIR/examples/depmod" rel n
  rel=$(basename "$(readlink -f "$root/target/testdata/debian/root/lib/modules/current" 2>/dev/null || ls -d "$root"/target/testdata/debian/root/lib/modules/[0-9]*)")
  local a="$BENCH_DIR/depmod-ours" b="$BENCH_DIR/depmod-peer"
  mkdir -p "$a/lib/modules" "$b/lib/modules"
  cp -a "$root/target/testdata/debian/root/lib/modules/$rel" "$a/lib/modules/"
  cp -a "$root/target/testdata/debian/root/lib/modules/$rel" "$b/lib/modules/"
  n=$(find "$a/lib/modules/$rel" -name '*.ko*' | wc -l)
  local t_ours t_peer f
  t_ours=$(best_of 3 "$ours" "$a" "$rel")
  t_peer=$(best_of 3 depmod -b "$b" "$rel")
  for f in "$b/lib/modules/$rel"/modules.*; do
    cmp -s "$f" "$a/lib/modules/$rel/$(basename "$f")" \
      || { echo "depmod bench: $(basename "$f") differs from depmod's" >&2; return 1; }
  done
  row "depmod: index $n Debian modules" "$t_ours" "$t_peer"
}
depmod_bench

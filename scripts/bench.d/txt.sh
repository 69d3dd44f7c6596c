# shellcheck shell=bash
# Row 7: `measured drtm predict` over a 100 MiB kernel + initrd against
# coreutils hashing the same files, both banks in one read vs one tool per bank.
# Sourced by scripts/bench.sh with $MEASURED, $BENCH_DIR and bench-lib.sh helpers.

txt_dir="$BENCH_DIR/txt"
mkdir -p "$txt_dir"
head -c $((40 << 20)) /dev/urandom >"$txt_dir/vmlinuz"
head -c $((60 << 20)) /dev/urandom >"$txt_dir/initrd"

txt_profile() { # $1 = extpol, $2... = banks
  local extpol=$1; shift
  local banks="" nv="" b
  for b in "$@"; do
    banks="$banks\"$b\","
    case $b in
      sha1) nv="$nv$b = \"$(printf nv | sha1sum | cut -c1-40)\"\n" ;;
      sha256) nv="$nv$b = \"$(printf nv | sha256sum | cut -c1-64)\"\n" ;;
    esac
  done
  printf 'tpm = "2.0"\nbanks = [%s]\nextpol = %s\nbiosac_reg_data = "%s"\n[nv_info_digests]\n%b[sinit_pubkey_digests]\n%b' \
    "${banks%,}" "$extpol" "$(printf '00%.0s' $(seq 32))" "$nv" "$nv"
}
txt_profile '{ fixed = "sha256" }' sha256 >"$txt_dir/fixed.toml"
txt_profile '"embedded"' sha1 sha256 >"$txt_dir/embedded.toml"

# No real SINIT ships in Debian: a layout-valid synthetic one times the same work.
"$MEASURED" drtm synth-acm -o "$txt_dir/sinit.bin"

txt_predict() {
  "$MEASURED" drtm predict --profile "$1" --acm "$txt_dir/sinit.bin" --tboot /boot/tboot.gz \
    --module "$txt_dir/vmlinuz:console=hvc0" --module "$txt_dir/initrd"
}

ours=$(best_of 3 txt_predict "$txt_dir/fixed.toml")
peer=$(best_of 3 sha256sum "$txt_dir/vmlinuz" "$txt_dir/initrd")
row "drtm predict 100MiB (sha256)" "$ours" "$peer"

ours=$(best_of 3 txt_predict "$txt_dir/embedded.toml")
peer=$(best_of 3 sh -c "sha1sum '$txt_dir/vmlinuz' '$txt_dir/initrd' && sha256sum '$txt_dir/vmlinuz' '$txt_dir/initrd'")
row "drtm predict 100MiB (sha1+sha256)" "$ours" "$peer"
